//! Single sign-on: tokens of an OpenID Connect provider, verified against the keys its
//! discovery document points to. The provider here is a small HTTP server of the test's
//! own (discovery document and key set, counting fetches, able to rotate keys and go
//! down); the test signs tokens with its private keys (test-only keys, in
//! `tests/fixtures/oidc`). The real provider (npm `oidc-provider`, with the console's
//! sign-in in a browser) is `.ci/oidc/`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::ws_client::WsClient;

const AUDIENCE: &str = "https://credit-gateway.test/";

/// A signing key of the provider's, with its id.
struct Key {
    kid: &'static str,
    algorithm: Algorithm,
    encoding: EncodingKey,
}

impl Key {
    fn load(kid: &'static str) -> Key {
        let der = std::fs::read(format!(
            "{}/tests/fixtures/oidc/{kid}.der",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("test key");
        let (algorithm, encoding) = if kid.starts_with("rsa") {
            (Algorithm::RS256, EncodingKey::from_rsa_der(&der))
        } else {
            (Algorithm::ES256, EncodingKey::from_ec_der(&der))
        };
        Key {
            kid,
            algorithm,
            encoding,
        }
    }

    fn public(&self) -> Jwk {
        let mut jwk = Jwk::from_encoding_key(&self.encoding, self.algorithm).unwrap();
        jwk.common.key_id = Some(self.kid.into());
        jwk
    }

    /// A token with these claims, signed by this key under `kid`.
    fn sign_as(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(self.algorithm);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_as(self.kid, claims)
    }
}

/// The provider's HTTP side: what it publishes, and how often its keys were fetched.
#[derive(Default)]
struct Published {
    issuer: Mutex<String>,
    keys: Mutex<Vec<Jwk>>,
    key_fetches: AtomicUsize,
    down: AtomicBool,
}

async fn discovery(State(published): State<Arc<Published>>) -> Response {
    if published.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let issuer = published.issuer.lock().unwrap().clone();
    Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/jwks"),
        "authorization_endpoint": format!("{issuer}/auth"),
        "token_endpoint": format!("{issuer}/token"),
    }))
    .into_response()
}

async fn jwks(State(published): State<Arc<Published>>) -> Response {
    if published.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    published.key_fetches.fetch_add(1, Ordering::SeqCst);
    let keys = published.keys.lock().unwrap().clone();
    Json(JwkSet { keys }).into_response()
}

async fn provider(keys: &[&Key]) -> (String, Arc<Published>) {
    let published = Arc::new(Published::default());
    *published.keys.lock().unwrap() = keys.iter().map(|k| k.public()).collect();
    let router = axum::Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .with_state(published.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    *published.issuer.lock().unwrap() = issuer.clone();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (issuer, published)
}

fn claims(issuer: &str, extra: Value) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "iss": issuer, "aud": AUDIENCE, "sub": "someone", "iat": now, "exp": now + 600,
    });
    for (name, value) in extra.as_object().unwrap() {
        claims[name] = value.clone();
    }
    claims
}

async fn gateway(backend: Backend, issuer: &str) -> Option<TestApp> {
    let issuer = issuer.to_owned();
    TestApp::with(backend)
        .config(move |c| {
            c.oidc.oidc_issuer = Some(issuer);
            c.oidc.oidc_audience = Some(AUDIENCE.into());
            c.oidc.oidc_role_claim = "realm_access.roles".into();
            c.oidc.oidc_account_claim = "account_id".into();
            c.oidc.oidc_admin_role = "credit-admin".into();
            c.oidc.oidc_clock_skew_seconds = 5;
        })
        .spawn()
        .await
}

const READ: &str = "{ invoices { totalCount nodes { id } } \
    theirs: invoice(id: \"I-THEIRS\") { id } }";

/// The answer's data, or the first error's code and message.
async fn read(app: &TestApp, token: &str) -> Result<Value, (String, String)> {
    let body = app.gql(Some(token), READ, json!({})).await;
    match body["errors"].as_array().and_then(|e| e.first()) {
        None => Ok(body["data"].clone()),
        Some(error) => Err((
            error["extensions"]["code"]
                .as_str()
                .unwrap_or_default()
                .into(),
            error["message"].as_str().unwrap_or_default().into(),
        )),
    }
}

fn refused(outcome: Result<Value, (String, String)>, why: &str) -> String {
    match outcome {
        Err((code, message)) if code == "UNAUTHENTICATED" => message,
        other => panic!("{why}: expected UNAUTHENTICATED, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_tokens_sqlite() {
    provider_tokens(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_tokens_postgres() {
    provider_tokens(Backend::Postgres).await;
}

/// Sign-in by role and by account, every refusal the issue names, a rotated key, a
/// flood of unknown keys and the provider down, in the order a real provider meets them.
async fn provider_tokens(backend: Backend) {
    let (rsa, ec, rotated, stranger) = (
        Key::load("rsa-1"),
        Key::load("ec-1"),
        Key::load("ec-2"),
        Key::load("ec-other"),
    );
    let (issuer, published) = provider(&[&rsa, &ec]).await;
    let Some(app) = gateway(backend, &issuer).await else {
        return;
    };
    app.insert_mine_and_theirs().await;

    // An administrator by role (ES256), a customer by account (RS256).
    let admin = ec.sign(&claims(
        &issuer,
        json!({ "sub": "ops", "realm_access": { "roles": ["viewer", "credit-admin"] } }),
    ));
    let data = read(&app, &admin).await.expect("the admin's token works");
    assert_eq!(data["invoices"]["totalCount"], 2);
    assert_eq!(data["theirs"]["id"], "I-THEIRS");
    let customer = rsa.sign(&claims(
        &issuer,
        json!({ "sub": "ana", "account_id": "MINE", "realm_access": { "roles": ["viewer"] } }),
    ));
    let data = read(&app, &customer)
        .await
        .expect("the customer's token works");
    assert_eq!(data["invoices"]["nodes"], json!([{ "id": "I-MINE" }]));
    assert!(
        data["theirs"].is_null(),
        "another account's invoice: {data}"
    );
    // The gateway's own tokens keep working beside the provider's.
    assert!(read(&app, &app.admin()).await.is_ok());

    // What a provider's token must not be.
    let now = chrono::Utc::now().timestamp();
    let admin_claims = |extra: Value| {
        let mut claims = claims(
            &issuer,
            json!({ "realm_access": { "roles": ["credit-admin"] } }),
        );
        for (name, value) in extra.as_object().unwrap() {
            claims[name] = value.clone();
        }
        claims
    };
    let wrong_audience = ec.sign(&admin_claims(json!({ "aud": "https://other.test/" })));
    refused(read(&app, &wrong_audience).await, "another audience");
    let other_issuer = ec.sign(&admin_claims(json!({ "iss": "http://127.0.0.1:9" })));
    refused(read(&app, &other_issuer).await, "another issuer");
    let expired = ec.sign(&admin_claims(json!({ "exp": now - 60 })));
    let message = refused(read(&app, &expired).await, "expired");
    assert!(message.contains("expired"), "{message}");
    let within_skew = ec.sign(&admin_claims(json!({ "exp": now - 1 })));
    assert!(
        read(&app, &within_skew).await.is_ok(),
        "within the clock skew"
    );
    // A WebSocket serves such a token too, and closes when the skew ends (not at `exp`).
    // Signed now, past its `exp` by a second: four seconds of the skew left.
    let past_exp = chrono::Utc::now().timestamp() - 1;
    let within_skew = ec.sign(&admin_claims(json!({ "exp": past_exp })));
    let mut socket = WsClient::connect(&app).await;
    socket.init(&within_skew).await;
    socket
        .subscribe("q", "{ invoices { totalCount } }", json!({}))
        .await;
    let answer = socket.recv_message().await;
    assert_eq!(answer["type"], "next", "served within the skew: {answer}");
    assert_eq!(socket.recv_message().await["type"], "complete");
    assert_eq!(
        socket.closed_with().await.0,
        4403,
        "closed when the skew ends"
    );
    let not_yet = ec.sign(&admin_claims(json!({ "nbf": now + 600 })));
    refused(read(&app, &not_yet).await, "not valid yet");
    let no_role = ec.sign(&claims(
        &issuer,
        json!({ "realm_access": { "roles": ["viewer"] } }),
    ));
    let message = refused(read(&app, &no_role).await, "no role, no account");
    assert!(message.contains("neither"), "{message}");
    // The key decides the algorithm: an EC key's id on an RS256 signature is refused.
    let confused = rsa.sign_as("ec-1", &admin_claims(json!({})));
    refused(read(&app, &confused).await, "algorithm of another key");
    let unsigned = format!("{}.", admin.rsplit_once('.').unwrap().0);
    refused(read(&app, &unsigned).await, "no signature");

    // The provider rotates to a new key: its first token makes the gateway fetch the
    // keys again (once the refresh interval since the last fetch has passed).
    published.keys.lock().unwrap().push(rotated.public());
    tokio::time::sleep(std::time::Duration::from_millis(5_500)).await;
    let fetches = published.key_fetches.load(Ordering::SeqCst);
    let with_rotated = rotated.sign(&admin_claims(json!({})));
    assert!(read(&app, &with_rotated).await.is_ok(), "a rotated key");
    assert_eq!(published.key_fetches.load(Ordering::SeqCst), fetches + 1);

    // Made-up key ids cost the provider at most one fetch per interval.
    let fetches = published.key_fetches.load(Ordering::SeqCst);
    for n in 0..20 {
        let forged = stranger.sign_as(&format!("made-up-{n}"), &admin_claims(json!({})));
        refused(read(&app, &forged).await, "an unknown key");
    }
    assert!(published.key_fetches.load(Ordering::SeqCst) <= fetches + 1);

    // The provider goes down: the keys held keep working, unknown ones are refused
    // (answered, not waited on).
    published.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(std::time::Duration::from_millis(5_500)).await;
    let forged = stranger.sign_as("ec-other", &admin_claims(json!({})));
    refused(read(&app, &forged).await, "an unknown key, provider down");
    assert!(
        read(&app, &admin).await.is_ok(),
        "a held key, provider down"
    );
    assert!(read(&app, &with_rotated).await.is_ok());
}
