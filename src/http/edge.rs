//! What every request goes through first: an id (the client's `x-request-id` when it is
//! sane, else a fresh one) echoed in the response and carried by every log line of the
//! request through its span; panics caught and answered as a 500 `INTERNAL` error that
//! names the id, logged once; refusals that axum writes as plain text (a path that is
//! not UTF-8, a WebSocket route without an upgrade, a method a route does not take)
//! rewritten as JSON `{"errors": [...]}` with a code; the request's body read within its
//! deadline and drained after an early answer (`body`; a client sending it a byte at a
//! time is answered 408 and its connection closed); an access log line; and the HTTP
//! metrics.

use super::errors;
use crate::domain::Code;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tracing::Instrument;

use super::AppState;
use crate::telemetry;

const REQUEST_ID: &str = "x-request-id";

/// The client's request id if it is short and plain, else a new one.
fn request_id(headers: &HeaderMap) -> Arc<str> {
    headers
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| {
            (1..=64).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map_or_else(
            || uuid::Uuid::new_v4().simple().to_string().into(),
            Into::into,
        )
}

pub(super) async fn edge(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let id = request_id(request.headers());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |path| path.as_str())
        .to_owned();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = request.uri().path(),
        trace_id = tracing::field::Empty,
        otel.name = tracing::field::Empty,
        otel.kind = "server",
        http.response.status_code = tracing::field::Empty,
    );
    if telemetry::traces::enabled() {
        span.record("otel.name", format!("{} {route}", request.method()));
        telemetry::traces::continue_trace(&span, request.headers());
    }
    let started = Instant::now();
    let (request, body) = super::body::guard(request, state.body_timeout);
    let served = telemetry::serve_request(id.clone(), next.run(request))
        .instrument(span.clone())
        .await;
    let mut response = match served {
        _ if body.late.load(Ordering::Relaxed) => too_slow(state.body_timeout),
        Ok(response) => as_json_error(response).await,
        Err(panic) => {
            tracing::error!(parent: &span, panic = %panic, "the request panicked; answered 500 INTERNAL");
            internal_error(&id)
        }
    };
    if body.abandoned.load(Ordering::Relaxed) {
        // The rest of the body is being drained; the connection is not worth keeping.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let elapsed = started.elapsed();
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let status = response.status().as_u16();
    // Numbers as i64: OpenTelemetry has no unsigned attributes.
    span.record("http.response.status_code", i64::from(status));
    state.metrics.http_request(&route, status, elapsed);
    tracing::info!(
        parent: &span,
        status,
        elapsed_ms = elapsed.as_secs_f64() * 1000.0,
        "served"
    );
    response
}

/// A refusal without a JSON body, as a GraphQL-shaped error with the same status and
/// headers (such as `Allow`); its text, when it has one, as the message.
async fn as_json_error(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.contains("json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let message = match std::str::from_utf8(&text).map(str::trim) {
        Ok(text) if !text.is_empty() => text.to_owned(),
        _ => status
            .canonical_reason()
            .unwrap_or("refused")
            .to_lowercase(),
    };
    // The body is replaced; the status and headers (`Allow`, say) stay as they were.
    let code = errors::code_of_status(status);
    let body =
        json!({ "errors": [{ "message": message, "extensions": { "code": code.as_str() } }] });
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, axum::body::Body::from(body.to_string()))
}

/// 408, and the connection closed: the rest of its body is not worth waiting for.
fn too_slow(timeout: Duration) -> Response {
    let mut response = super::error_response(
        Code::RequestTimeout,
        &format!(
            "the request body did not arrive within {} seconds",
            timeout.as_secs()
        ),
    );
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

fn internal_error(id: &str) -> Response {
    let body = json!({ "errors": [{
        "message": "internal error",
        "extensions": { "code": Code::Internal.as_str(), "requestId": id },
    }] });
    (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_request_id_is_kept_only_when_plain() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(REQUEST_ID, HeaderValue::from_static(value));
            request_id(&headers)
        };
        assert_eq!(&*with("req-42_a.b:c"), "req-42_a.b:c");
        assert_eq!(with("bad id\" injected").len(), 32);
        assert_eq!(with("").len(), 32);
        assert_eq!(request_id(&HeaderMap::new()).len(), 32);
        let long: &'static str = Box::leak("x".repeat(65).into_boxed_str());
        assert_ne!(&*with(long), long);
    }
}
