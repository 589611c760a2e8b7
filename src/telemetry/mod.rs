//! What operators see: log lines on standard error (text, or JSON with
//! `CREDIT_GATEWAY_LOG_FORMAT=json`) that carry the id of the request they belong to,
//! panics caught and logged once with that id, the Prometheus metrics (`metrics`), and
//! OpenTelemetry traces when an OTLP endpoint is configured (`traces`).

mod metrics;
pub mod traces;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, Once};

use futures_util::FutureExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub use metrics::{CONTENT_TYPE as METRICS_CONTENT_TYPE, Gauges, Metrics};

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line, with the fields of the request it belongs to
    /// (`request_id`, `method`, `path`) and of its GraphQL operation, for log collectors.
    Json,
}

/// Sets up logging (filtered by `RUST_LOG`, default `info`), trace export (when the
/// `OTEL_*` variables ask for it) and the panic hook.
pub fn init(format: LogFormat) -> Result<(), String> {
    install_panic_hook();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A second call (tests start many gateways in one process) keeps the first setup.
    let _ = match traces::layer()? {
        // Each layer has its own filter: `RUST_LOG` quiets log lines, not the spans
        // exported.
        Some(traces) => tracing_subscriber::registry()
            .with(log_lines(format).with_filter(filter))
            .with(traces)
            .try_init(),
        // Without traces, as before: one global filter, and spans `RUST_LOG` leaves out
        // are never even created.
        None => tracing_subscriber::registry()
            .with(filter)
            .with(log_lines(format))
            .try_init(),
    };
    Ok(())
}

/// The layer writing log lines to standard error, in `format`.
fn log_lines<S>(format: LogFormat) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.boxed(),
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
    }
}

/// The request being served on this task: its id, and the panic it raised, if any.
struct RequestScope {
    id: Arc<str>,
    panic: Mutex<Option<String>>,
}

tokio::task_local! {
    static REQUEST: RequestScope;
}

/// The id of the request this task is serving, if any.
pub fn request_id() -> Option<Arc<str>> {
    REQUEST.try_with(|request| request.id.clone()).ok()
}

/// Runs `future` as the request `id`: [`request_id`] names it meanwhile, and a panic
/// inside it is caught and returned as its description (message and source location)
/// instead of unwinding further. The panic hook stays silent for such a panic, so the
/// caller logs it exactly once, with the request's id.
///
/// Built of combinators rather than written as an `async fn`: an `async fn` holds its
/// argument and the future it awaits in separate places, so a WebSocket connection
/// served inside it, idle for hours, kept three copies of its state (8 KB where one is
/// 2.7; benches/README.md, 2026-12-06, fourth session).
pub fn serve_request<F: Future>(
    id: Arc<str>,
    future: F,
) -> impl Future<Output = Result<F::Output, String>> {
    let scope = RequestScope {
        id,
        panic: Mutex::new(None),
    };
    let caught = AssertUnwindSafe(future)
        .catch_unwind()
        .map(|caught| caught.map_err(|payload| panic_description(payload.as_ref())));
    REQUEST.scope(scope, caught)
}

/// The description of a panic caught inside [`serve_request`] (by the request itself,
/// for a part of it that must not end the rest): message and source location, as the
/// panic hook noted them.
pub fn panic_description(payload: &(dyn std::any::Any + Send)) -> String {
    REQUEST
        .try_with(|request| lock(&request.panic).take())
        .ok()
        .flatten()
        .unwrap_or_else(|| payload_message(payload).to_owned())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn payload_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message")
}

/// Inside a request, a panic is noted for [`serve_request`] (or [`panic_description`])
/// to log; anywhere else the default hook prints it as usual.
pub fn install_panic_hook() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let description = match info.location() {
                Some(at) => format!("{} at {at}", payload_message(info.payload())),
                None => payload_message(info.payload()).to_owned(),
            };
            let noted = REQUEST
                .try_with(|request| *lock(&request.panic) = Some(description))
                .is_ok();
            if !noted {
                default(info);
            }
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_in_a_request_is_caught_and_described_with_its_location() {
        install_panic_hook();
        let caught = serve_request("req-1".into(), async {
            assert_eq!(request_id().as_deref(), Some("req-1"));
            if request_id().is_some() {
                panic!("boom {}", 42);
            }
        })
        .await;
        let description = caught.expect_err("the panic is caught");
        assert!(
            description.starts_with("boom 42 at src/telemetry/mod.rs:"),
            "{description}"
        );
        assert_eq!(request_id(), None, "outside the request, no id");
        let fine = serve_request("req-2".into(), async { 7 }).await;
        assert_eq!(fine, Ok(7));
    }

    #[test]
    fn a_served_future_holds_one_copy_of_the_future_it_serves() {
        let state = [7u8; 4096];
        let future = async move { std::hint::black_box(&state).len() };
        let inner = std::mem::size_of_val(&future);
        let served = serve_request("req-3".into(), future);
        let outer = std::mem::size_of_val(&served);
        assert!(outer < inner + 256, "{outer} bytes around {inner}");
    }
}
