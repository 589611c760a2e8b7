//! What every request goes through first: an id (the client's `x-request-id` when it is
//! sane, else a fresh one) echoed in the response and carried by every log line of the
//! request through its span; panics caught and answered as a 500 `INTERNAL` error that
//! names the id, logged once; an access log line; and the HTTP metrics.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
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
    );
    let started = Instant::now();
    let served = telemetry::serve_request(id.clone(), next.run(request))
        .instrument(span.clone())
        .await;
    let mut response = served.unwrap_or_else(|panic| {
        tracing::error!(parent: &span, panic = %panic, "the request panicked; answered 500 INTERNAL");
        internal_error(&id)
    });
    let elapsed = started.elapsed();
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let status = response.status().as_u16();
    state.metrics.http_request(&route, status, elapsed);
    tracing::info!(
        parent: &span,
        status,
        elapsed_ms = elapsed.as_secs_f64() * 1000.0,
        "served"
    );
    response
}

fn internal_error(id: &str) -> Response {
    let body = json!({ "errors": [{
        "message": "internal error",
        "extensions": { "code": "INTERNAL", "requestId": id },
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
