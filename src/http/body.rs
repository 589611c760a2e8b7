//! Request bodies, between the client and the handlers, so that two things hold whatever
//! a handler does with the body.
//!
//! - A deadline: a body (uploads excepted) must arrive within the body timeout, however
//!   slowly it trickles; past it the handler's read fails and the request is answered 408.
//! - A lingering close: a handler that answers before the body is in (413 for a body over
//!   its limit, 401 for an upload without a token) drops the body; the rest is then read
//!   and discarded for a while by a task, as nginx's lingering close does, so that a
//!   client still sending reads the answer instead of a broken pipe. A client that asked
//!   `Expect: 100-continue` and was never told to go on sends nothing more: no drain.
//!
//! The body is read where the handler reads it (no task, no copy, and `100 Continue`
//! only when a handler wants the body); a task exists only for a drain, bounded in time.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, BodyDataStream, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::header;
use futures_util::{Stream, StreamExt};
use tokio::time::{Instant, Sleep};

/// How long, and how much, a body no handler wants is still read before the connection
/// is closed under it.
const LINGER: Duration = Duration::from_secs(10);
const LINGER_BYTES: u64 = 1 << 30;

/// What became of a request's body.
#[derive(Default)]
pub(super) struct BodyFate {
    /// It missed its deadline.
    pub(super) late: AtomicBool,
    /// The handler left some of it unread (it is being drained).
    pub(super) abandoned: AtomicBool,
}

/// The request with its body guarded (an empty body is left alone), and what becomes of
/// the body.
pub(super) fn guard(request: Request, timeout: Duration) -> (Request, Arc<BodyFate>) {
    let fate = Arc::new(BodyFate::default());
    if request.body().is_end_stream() {
        return (request, fate);
    }
    let headers = request.headers();
    // Uploads are read only for admins, and cut off after 30 seconds without data
    // instead (`upload`): a large file may take minutes.
    let upload = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/")
        });
    let expects_continue = headers
        .get(header::EXPECT)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let (parts, body) = request.into_parts();
    let guarded = Guarded {
        data: Some(body.into_data_stream()),
        deadline: (!upload).then(|| Box::pin(tokio::time::sleep(timeout))),
        polled: false,
        ended: false,
        expects_continue,
        fate: fate.clone(),
    };
    (Request::from_parts(parts, Body::from_stream(guarded)), fate)
}

/// A body read within its deadline, drained when dropped unread.
struct Guarded {
    /// `None` once handed to a drain.
    data: Option<BodyDataStream>,
    deadline: Option<Pin<Box<Sleep>>>,
    /// Read at least once: a client waiting on `100-continue` has been told to send.
    polled: bool,
    /// Read to its end, or failed: nothing to drain.
    ended: bool,
    expects_continue: bool,
    fate: Arc<BodyFate>,
}

impl Stream for Guarded {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        this.polled = true;
        let Some(data) = this.data.as_mut() else {
            return Poll::Ready(None);
        };
        if let Poll::Ready(next) = data.poll_next_unpin(cx) {
            this.ended = !matches!(next, Some(Ok(_)));
            return Poll::Ready(next);
        }
        if let Some(deadline) = this.deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            this.ended = true;
            this.fate.late.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(axum::Error::new("request body timed out"))));
        }
        Poll::Pending
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        let told_to_send = self.polled || !self.expects_continue;
        let Some(mut data) = self.data.take() else {
            return;
        };
        if self.ended || !told_to_send {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        self.fate.abandoned.store(true, Ordering::Relaxed);
        runtime.spawn(async move {
            let until = Instant::now() + LINGER;
            let mut drained = 0_u64;
            while drained < LINGER_BYTES {
                match tokio::time::timeout_at(until, data.next()).await {
                    Ok(Some(Ok(chunk))) => drained += chunk.len() as u64,
                    _ => return,
                }
            }
        });
    }
}
