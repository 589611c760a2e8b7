//! Subscriptions over HTTP: `multipart/mixed` responses, as Apollo Client's `HttpLink`
//! asks for them (`Accept: multipart/mixed; boundary="graphql"; subscriptionSpec="1.0"`).
//!
//! Each part is `{"payload": <GraphQL response>}`, with `{}` as a heartbeat, as Apollo's
//! multipart subscription protocol has it (async-graphql's own helper leaves out the
//! `payload` wrapper). The stream ends when the operation does, or when the token
//! stops being accepted (`auth::TokenKeys::verify_bearer`). The token comes in the
//! `Authorization` header, as for any HTTP request.

use crate::domain::Code;
use std::convert::Infallible;

use axum::body::Body;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::Utc;
use futures_util::StreamExt;
use serde_json::json;

use super::{AppState, caller, error_response};
use crate::graphql;

const END: &[u8] = b"--graphql--\r\n";

/// Whether the client asks for a multipart subscription response.
pub(super) fn wanted(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(async_graphql::http::is_accept_multipart_mixed)
}

fn part(body: &serde_json::Value) -> Bytes {
    Bytes::from(format!(
        "--graphql\r\nContent-Type: application/json\r\n\r\n{body}\r\n"
    ))
}

pub(super) async fn subscribe(
    state: &AppState,
    headers: &HeaderMap,
    request: async_graphql::Request,
) -> Response {
    let (principal, expires) = match caller(headers, &state.keys).await {
        Ok(Some(caller)) => caller,
        Ok(None) => {
            return error_response(Code::Unauthenticated, "a bearer token is required");
        }
        Err(e) => return error_response(Code::Unauthenticated, e.message()),
    };
    let request = graphql::prepare_subscription(request, &state.gateway, principal);
    let responses = state.schema.execute_stream(request);
    let expiry = tokio::time::Instant::now()
        + (expires - Utc::now())
            .to_std()
            .unwrap_or(std::time::Duration::ZERO);
    let heartbeat = tokio::time::interval(state.ws.keepalive);
    let parts =
        futures_util::stream::unfold(Some((responses, heartbeat)), move |state| async move {
            let (mut responses, mut heartbeat) = state?;
            let next = tokio::select! {
                response = responses.next() => response.map(|r| part(&json!({ "payload": r }))),
                _ = heartbeat.tick() => Some(part(&json!({}))),
                _ = tokio::time::sleep_until(expiry) => None,
            };
            Some(match next {
                Some(bytes) => (bytes, Some((responses, heartbeat))),
                None => (Bytes::from_static(END), None),
            })
        });
    (
        [(
            header::CONTENT_TYPE,
            "multipart/mixed; boundary=\"graphql\"; subscriptionSpec=\"1.0\"",
        )],
        Body::from_stream(parts.map(Ok::<_, Infallible>)),
    )
        .into_response()
}
