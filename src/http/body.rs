//! Request bodies, between the client and the handlers: read by a task of their own, so
//! that two things hold whatever a handler does with the body.
//!
//! - A deadline: a body (uploads excepted) must arrive within the body timeout, however
//!   slowly it trickles; past it the handler's read fails and the request is answered 408.
//! - A lingering close: a handler that answers before the body is in (413 for a body over
//!   its limit, 401 for an upload without a token) drops the body; the task then goes on
//!   reading and discarding it for a while, as nginx's lingering close does, so that a
//!   client still sending reads the answer instead of a broken pipe.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::header;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How long, and how much, a body no handler wants is still read before the connection
/// is closed under it.
const LINGER: Duration = Duration::from_secs(10);
const LINGER_BYTES: u64 = 1 << 30;

/// The request with its body read by a task (an empty body is left alone), and the flag
/// that says the body missed its deadline.
pub(super) fn guard(request: Request, timeout: Duration) -> (Request, Arc<AtomicBool>) {
    let late = Arc::new(AtomicBool::new(false));
    if request.body().is_end_stream() {
        return (request, late);
    }
    // Uploads are read only for admins, and cut off after 30 seconds without data
    // instead (`upload`): a large file may take minutes.
    let upload = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/")
        });
    let deadline = (!upload).then(|| Instant::now() + timeout);
    let (parts, body) = request.into_parts();
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(forward(body, tx, deadline, late.clone()));
    let chunks = futures_util::stream::unfold(rx, |mut rx| async move {
        let chunk = rx.recv().await?;
        Some((chunk, rx))
    });
    (Request::from_parts(parts, Body::from_stream(chunks)), late)
}

/// Hands the body's chunks to the handler until it ends, misses `deadline` (the handler
/// then reads an error, and `late` is set), or the handler stops reading (the rest is
/// then drained, within [`LINGER`] and [`LINGER_BYTES`]).
async fn forward(
    body: Body,
    tx: mpsc::Sender<Result<Bytes, axum::Error>>,
    deadline: Option<Instant>,
    late: Arc<AtomicBool>,
) {
    let mut data = body.into_data_stream();
    loop {
        let next = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, data.next()).await,
            None => Ok(data.next().await),
        };
        let chunk = match next {
            Ok(Some(chunk)) => chunk,
            Ok(None) => return,
            Err(_) => {
                late.store(true, Ordering::Relaxed);
                let _ = tx
                    .send(Err(axum::Error::new("request body timed out")))
                    .await;
                return;
            }
        };
        let failed = chunk.is_err();
        if tx.send(chunk).await.is_err() {
            break;
        }
        if failed {
            return;
        }
    }
    // The handler has answered without the rest of the body.
    let until = Instant::now() + LINGER;
    let mut drained = 0_u64;
    while drained < LINGER_BYTES {
        match tokio::time::timeout_at(until, data.next()).await {
            Ok(Some(Ok(chunk))) => drained += chunk.len() as u64,
            _ => return,
        }
    }
}
