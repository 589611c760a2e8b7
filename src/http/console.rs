//! The browser screens: `/console` (admins' Invoices screen) and `/my-credits` (a
//! customer's own invoices), one React app built from `console/` (TypeScript, Apollo
//! Client, typed operations from `schema.graphql`) into `src/http/console/` and embedded
//! here, so the gateway serves them with no Node.js at run time and no network beyond
//! itself (and the identity provider's token endpoint, with single sign-on). They talk
//! to the public GraphQL API only; the page carries nothing but its configuration: in
//! `--demo` mode, the demo tokens behind its one-click sign-in; with single sign-on, the
//! provider's endpoints, the console's client id and the claims that name a role.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::{AppState, error_response};
use crate::domain::Code;

const INDEX: &str = include_str!("console/index.html");
const APP_JS: &[u8] = include_bytes!("console/app.js");
const APP_CSS: &[u8] = include_bytes!("console/app.css");

/// What the pages may load and connect to: this origin only, and with single sign-on
/// the provider's token endpoint (`{SSO}`). The configuration is an inert JSON script
/// element, so no inline script needs allowing.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
                      connect-src 'self' ws: wss:{SSO}; img-src 'self' data:; \
                      frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The tokens a demo page signs in with, one click each.
#[derive(Clone, Debug)]
pub struct DemoSignIn {
    pub admin: String,
    pub customer: String,
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(page))
        .route("/console/", get(page))
        .route("/my-credits", get(page))
        .route("/console/assets/{file}", get(asset))
}

async fn page(State(state): State<AppState>) -> Response {
    let demo = state
        .demo_sign_in
        .as_ref()
        .map(|demo| json!({ "admin": demo.admin, "customer": demo.customer }));
    let (sso, token_origin) = match sso(&state) {
        Some((sso, origin)) => (Some(sso), format!(" {origin}")),
        None => (None, String::new()),
    };
    // The configuration lands inside a <script> element: escape `<` so that no value
    // can close it.
    let config = json!({ "demo": demo, "sso": sso })
        .to_string()
        .replace('<', "\\u003c");
    let policy = POLICY.replace("{SSO}", &token_origin);
    let html = INDEX.replace("{{CONFIG_JSON}}", &config);
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, policy.as_str()),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        html,
    )
        .into_response()
}

/// The page's single sign-on settings and the token endpoint's origin: with an issuer
/// and the console's client id, once the provider's discovery document was read (the
/// page never waits for it).
fn sso(state: &AppState) -> Option<(serde_json::Value, String)> {
    let oidc = state.keys.oidc()?;
    let client_id = oidc.client_id()?;
    let endpoints = oidc.endpoints()?;
    let origin = url::Url::parse(&endpoints.token)
        .ok()?
        .origin()
        .ascii_serialization();
    let (role_claim, account_claim, admin_role) = oidc.claims();
    let sso = json!({
        "issuer": oidc.issuer(),
        "clientId": client_id,
        "audience": oidc.audience(),
        "authorizationEndpoint": endpoints.authorization,
        "tokenEndpoint": endpoints.token,
        "roleClaim": role_claim,
        "accountClaim": account_claim,
        "adminRole": admin_role,
    });
    Some((sso, origin))
}

async fn asset(Path(file): Path<String>) -> Response {
    let (body, content_type): (&'static [u8], &str) = match file.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        _ => return error_response(Code::NotFound, "no such asset"),
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            // The names are fixed, not hashed: never kept, so a new build is seen at once.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        body,
    )
        .into_response()
}
