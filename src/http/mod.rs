//! The HTTP edge (axum): routes, bearer-token extraction, GraphQL over WebSocket
//! (`ws`) and over `multipart/mixed` (`multipart`) for subscriptions, GraphiQL and health
//! checks, and the browser screens (`console`). The only module that knows axum; it hands
//! GraphQL requests to the schema and nothing else.

mod body;
mod console;
mod edge;
mod errors;
mod export;
mod hygiene;
mod listener;
mod media;
mod multipart;
mod rest;
mod upload;
mod ws;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde_json::json;

use self::errors::HttpError;
use crate::auth::{Principal, TokenError, TokenKeys};
use crate::domain::Code;
use crate::graphql::{self, GatewaySchema};
use crate::service::{AppError, UseCases};
use crate::telemetry::{Gauges, METRICS_CONTENT_TYPE, Metrics};

pub use console::DemoSignIn;
pub use listener::{ConnectionLimits, fit_connections, serve};
pub use rest::invoice_json;
pub use ws::WsSettings;

/// Largest request body accepted on `/graphql`.
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// What every handler shares, behind one `Arc`: axum clones the state for each request,
/// and each WebSocket connection keeps a clone for its whole life.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct Shared {
    pub gateway: UseCases,
    pub schema: GatewaySchema,
    pub keys: TokenKeys,
    /// Headers GraphiQL starts with: the demo admin token in `--demo` mode, else none.
    pub graphiql_headers: serde_json::Value,
    /// The console's one-click sign-in, in `--demo` mode.
    pub demo_sign_in: Option<DemoSignIn>,
    pub ws: WsSettings,
    /// Origins allowed to call from a browser (CORS); none by default.
    pub cors_origins: Vec<HeaderValue>,
    pub metrics: Arc<Metrics>,
    /// Serve `/metrics`.
    pub serve_metrics: bool,
    /// Time for a request's body to arrive (uploads have their own bound).
    pub body_timeout: std::time::Duration,
}

pub fn router(state: AppState) -> Router {
    let cors = cors(&state.cors_origins);
    let serve_metrics = state.serve_metrics;
    let router = Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/graphql/ws", get(ws::upgrade))
        .route("/graphiql/{file}", get(graphiql_asset))
        .route(crate::service::EXPORT_PATH, get(export::export_invoices))
        .route(
            crate::service::EXPORT_XLSX_PATH,
            get(export::export_invoices_xlsx),
        )
        .route("/export/aging.csv", get(export::export_aging_csv))
        .route("/export/aging.xlsx", get(export::export_aging_xlsx))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .merge(rest::routes())
        .merge(console::routes());
    let router = if serve_metrics {
        router.route("/metrics", get(metrics))
    } else {
        router
    };
    let router = router
        .fallback(|| async { error_response(Code::NotFound, "no such route") })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            edge::edge,
        ))
        .with_state(state);
    match cors {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

/// Cross-origin access for the configured origins only: their pages may send the
/// headers the API reads (the token, JSON, the preflight header) and read the answers.
/// No origin configured, no CORS headers: browsers keep other sites' pages out.
fn cors(origins: &[HeaderValue]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{HeaderName, Method};
    if origins.is_empty() {
        return None;
    }
    Some(
        tower_http::cors::CorsLayer::new()
            .allow_origin(origins.to_vec())
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("apollo-require-preflight"),
                HeaderName::from_static("x-apollo-operation-name"),
                HeaderName::from_static(APP_KEY),
                HeaderName::from_static(APP_TOKEN),
            ])
            .expose_headers([header::CONTENT_DISPOSITION])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

/// A GraphQL-shaped refusal, for failures before the schema runs; its code decides its
/// status.
fn error_response(code: Code, message: &str) -> Response {
    HttpError::new(code, message).graphql()
}

/// The token of an `Authorization` value `Bearer <token>`.
fn bearer(value: &str) -> Option<&str> {
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
}

/// The caller named by the `Authorization` header, and until when its token is accepted:
/// none without the header, an error for a header that does not carry a valid bearer
/// token.
async fn caller(
    headers: &HeaderMap,
    keys: &TokenKeys,
) -> Result<Option<(Principal, DateTime<Utc>)>, TokenError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| TokenError::Invalid)?;
    keys.verify_bearer(bearer(text).ok_or(TokenError::Invalid)?)
        .await
        .map(Some)
}

/// The caller a request's credentials name: an API key pair (VTEX's
/// `X-VTEX-API-AppKey` and `X-VTEX-API-AppToken` headers) or else a bearer token; none
/// without either. Refused credentials are `Unauthenticated`, whichever kind they are.
async fn principal(state: &AppState, headers: &HeaderMap) -> Result<Option<Principal>, AppError> {
    let text = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or_default());
    match (text(APP_KEY), text(APP_TOKEN)) {
        (None, None) => caller(headers, &state.keys)
            .await
            .map(|found| found.map(|(principal, _)| principal))
            .map_err(|e| AppError::Unauthenticated(e.message().into())),
        (Some(app_key), Some(app_token)) => state
            .gateway
            .authenticate_api_key(app_key, app_token)
            .await
            .map(Some),
        _ => Err(AppError::Unauthenticated(format!(
            "send both {APP_KEY} and {APP_TOKEN}"
        ))),
    }
}

/// VTEX's API key headers.
const APP_KEY: &str = "x-vtex-api-appkey";
const APP_TOKEN: &str = "x-vtex-api-apptoken";

/// The answer to refused credentials, or to a store that could not check them.
fn refused(error: AppError) -> Response {
    HttpError::from(error).graphql()
}

/// How a GraphQL request arrived.
struct Arrival<'a> {
    headers: &'a HeaderMap,
    address: Option<IpAddr>,
    over_get: bool,
    /// The caller, when the edge has already read its credentials (an upload's, checked
    /// before its body): not looked up twice.
    known: Option<Principal>,
}

async fn execute(
    state: &AppState,
    arrival: Arrival<'_>,
    request: async_graphql::Request,
) -> Response {
    let principal = match arrival.known {
        Some(who) => Some(who),
        None => match principal(state, arrival.headers).await {
            Ok(who) => who,
            Err(e) => return refused(e),
        },
    };
    let caller = graphql::Caller {
        principal,
        address: arrival.address,
        over_get: arrival.over_get,
    };
    let request = graphql::prepare(request, &state.gateway, caller);
    let response = state.schema.execute(request).await;
    media::render(response, media::Media::negotiate(arrival.headers))
}

/// The peer's address (axum's `ConnectInfo`, absent when the router is served without it).
fn peer(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip())
}

pub(super) fn too_large(limit: u64) -> Response {
    error_response(
        Code::PayloadTooLarge,
        &format!("the request body exceeds {limit} bytes"),
    )
}

async fn graphql_post(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if hygiene::forgeable(&parts.headers) {
        return error_response(
            Code::PreflightRequired,
            "this request could be a cross-site request forgery: send JSON \
             (content-type: application/json), or add the header \
             `apollo-require-preflight: true`",
        );
    }
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let multipart = content_type.as_deref().is_some_and(|t| {
        t.trim_start()
            .to_ascii_lowercase()
            .starts_with("multipart/")
    });
    let mut known = None;
    let parsed = if multipart {
        // Uploads are imports, for admins only: anyone else is answered before a byte
        // of the body is read.
        match principal(&state, &parts.headers).await {
            Ok(Some(who)) if who.is_admin() => known = Some(who),
            Ok(Some(_)) => {
                return error_response(Code::Forbidden, "only administrators upload files");
            }
            Ok(None) => {
                return error_response(
                    Code::Unauthenticated,
                    "a bearer token is required to upload a file",
                );
            }
            Err(e) => return refused(e),
        }
        let max_file = state.gateway.settings().import_limits.max_bytes;
        match upload::receive(content_type, body, max_file).await {
            Ok(parsed) => parsed,
            Err(refusal) => return refusal,
        }
    } else {
        let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
            return too_large(MAX_BODY_BYTES as u64);
        };
        async_graphql::http::receive_body(
            content_type,
            bytes.as_ref(),
            async_graphql::http::MultipartOptions::default(),
        )
        .await
    };
    match parsed {
        Ok(request)
            if request.query.trim().is_empty()
                && !request.extensions.contains_key("persistedQuery") =>
        {
            error_response(Code::BadRequest, "the request has no query")
        }
        Ok(request) if multipart::wanted(&parts.headers) => {
            multipart::subscribe(&state, &parts.headers, request).await
        }
        Ok(request) => {
            let arrival = Arrival {
                headers: &parts.headers,
                address: peer(&parts.extensions),
                over_get: false,
                known,
            };
            execute(&state, arrival, request).await
        }
        Err(async_graphql::ParseRequestError::PayloadTooLarge) => error_response(
            Code::FileTooLarge,
            &format!(
                "the uploaded file exceeds the import limit of {} bytes",
                state.gateway.settings().import_limits.max_bytes
            ),
        ),
        Err(e) => error_response(Code::BadRequest, &parse_error_message(&e)),
    }
}

fn parse_error_message(error: &async_graphql::ParseRequestError) -> String {
    use async_graphql::ParseRequestError as E;
    match error {
        E::InvalidRequest(_) => {
            "the body is not a GraphQL request: send JSON {\"query\": ...}".into()
        }
        E::InvalidFilesMap(_)
        | E::InvalidMultipart(_)
        | E::MissingOperatorsPart
        | E::MissingMapPart
        | E::NotUpload
        | E::MissingFiles => "the multipart body is not a valid GraphQL upload".into(),
        E::PayloadTooLarge => "the request is too large".into(),
        E::UnsupportedBatch => "batched requests are not supported".into(),
        _ => "the request body could not be read".into(),
    }
}

/// Browsers get GraphiQL; other clients run a query (never a mutation) from the query
/// string.
async fn graphql_get(State(state): State<AppState>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let (headers, uri) = (&parts.headers, &parts.uri);
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let query = uri.query().unwrap_or_default();
    if wants_html && query.is_empty() {
        return graphiql_page(&state);
    }
    // GraphQL over HTTP names the operation `operationName`; async-graphql reads
    // `operation_name`.
    let spelled;
    let query = match query
        .split('&')
        .find_map(|pair| pair.strip_prefix("operationName="))
    {
        Some(name) if !query.split('&').any(|p| p.starts_with("operation_name=")) => {
            spelled = format!("{query}&operation_name={name}");
            spelled.as_str()
        }
        _ => query,
    };
    match async_graphql::http::parse_query_string(query) {
        Ok(request) => {
            let arrival = Arrival {
                headers,
                address: peer(&parts.extensions),
                over_get: true,
                known: None,
            };
            let mut response = execute(&state, arrival, request).await;
            // Every answer is the caller's own (its token decides what it sees): no
            // shared cache may keep one for others, and a browser's cache keys it by
            // the token.
            let headers = response.headers_mut();
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
            // The media type follows `Accept`, too.
            headers.append(
                header::VARY,
                HeaderValue::from_static("Authorization, Accept"),
            );
            response
        }
        Err(_) => error_response(
            Code::BadRequest,
            "the query string is not a GraphQL request: pass ?query=...",
        ),
    }
}

const GRAPHIQL_HTML: &str = include_str!("graphiql/index.html");

fn graphiql_page(state: &AppState) -> Response {
    // The headers land inside a <script>: escape `<` so no value can close it.
    let headers = state.graphiql_headers.to_string().replace('<', "\\u003c");
    let page = GRAPHIQL_HTML
        .replace("{{ENDPOINT}}", "/graphql")
        .replace("{{HEADERS_JSON}}", &headers);
    Html(page).into_response()
}

async fn graphiql_asset(Path(file): Path<String>) -> Response {
    let (body, content_type): (&'static [u8], &str) = match file.as_str() {
        "graphiql.min.js" => (
            include_bytes!("graphiql/graphiql.min.js"),
            "text/javascript",
        ),
        "graphiql.min.css" => (include_bytes!("graphiql/graphiql.min.css"), "text/css"),
        "react.production.min.js" => (
            include_bytes!("graphiql/react.production.min.js"),
            "text/javascript",
        ),
        "react-dom.production.min.js" => (
            include_bytes!("graphiql/react-dom.production.min.js"),
            "text/javascript",
        ),
        _ => return error_response(Code::NotFound, "no such asset"),
    };
    Response::builder()
        .header(
            header::CONTENT_TYPE,
            HeaderValue::from_str(content_type).expect("static header"),
        )
        .header(header::CACHE_CONTROL, "public, max-age=86400")
        .body(Body::from(body))
        .expect("static response")
}

/// Prometheus metrics (text exposition format).
async fn metrics(State(state): State<AppState>) -> Response {
    let gateway = &state.gateway;
    let pool = gateway.pool_status();
    // A database that does not answer leaves the backlog out, not the whole scrape.
    let backlog = gateway.webhook_backlog().await.ok();
    let gauges = Gauges {
        pool_connections: pool.connections,
        pool_idle: pool.idle,
        pool_max: pool.max,
        subscriptions: gateway.events().subscribers(),
        imports_running: gateway.imports_running(),
        webhooks_pending: backlog.map(|b| b.0),
        webhooks_oldest_pending_seconds: backlog.map(|b| b.1),
    };
    (
        [(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)],
        state.metrics.render(gauges),
    )
        .into_response()
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.gateway.ping().await {
        Ok(()) => (StatusCode::OK, axum::Json(json!({ "ready": true }))).into_response(),
        Err(e) => {
            tracing::warn!(error = ?e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({ "ready": false })),
            )
                .into_response()
        }
    }
}
