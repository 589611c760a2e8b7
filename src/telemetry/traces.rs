//! OpenTelemetry traces: our `tracing` spans (the HTTP request, the GraphQL operation,
//! import batches, webhook deliveries, subscription catch-ups) and one span per SQL
//! statement, exported over OTLP/HTTP when the standard `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, with `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_EXPORTER_OTLP_HEADERS` as the SDK reads them.
//! Unset (or `OTEL_SDK_DISABLED=true`, `OTEL_TRACES_EXPORTER=none`), nothing here runs
//! beyond one check of a flag.
//!
//! W3C trace context: a request's `traceparent` makes its span a child of the caller's;
//! webhook deliveries send theirs. Spans carry names and shapes, never values: the
//! operation's name and type, the statement's SQL with its placeholders.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use opentelemetry::KeyValue;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer, TracerProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;

const SCOPE: &str = "credit-gateway";
/// Longest statement text a span carries.
const MAX_STATEMENT_CHARS: usize = 2_000;

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();
/// The provider's tracer, for the statements' spans (made once, not per statement).
static TRACER: OnceLock<opentelemetry_sdk::trace::Tracer> = OnceLock::new();

/// Whether spans are being exported.
pub fn enabled() -> bool {
    PROVIDER.get().is_some()
}

/// Whether the environment asks for traces.
fn wanted() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|value| !value.trim().is_empty());
    let is = |name: &str, value: &str| {
        std::env::var(name).is_ok_and(|v| v.trim().eq_ignore_ascii_case(value))
    };
    (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
        && !is("OTEL_SDK_DISABLED", "true")
        && !is("OTEL_TRACES_EXPORTER", "none")
}

/// The layer that exports our spans, when the environment asks for traces: the
/// gateway's own spans at `info` and above, whatever `RUST_LOG` says of log lines.
pub(super) fn layer<S>() -> Result<Option<impl Layer<S>>, String>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    if !wanted() || enabled() {
        return Ok(None);
    }
    // reqwest is built without a default TLS provider: ring, the one the tree has.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|e| format!("the OTLP exporter: {e}"))?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(SCOPE);
    }
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build();
    let tracer = provider.tracer(SCOPE);
    let _ = TRACER.set(tracer.clone());
    let _ = PROVIDER.set(provider);
    Ok(Some(
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_tracked_inactivity(false)
            .with_filter(Targets::new().with_target("credit_gateway", tracing::Level::INFO)),
    ))
}

/// Sends the spans still buffered (at shutdown).
pub fn flush() {
    if let Some(provider) = PROVIDER.get() {
        let _ = provider.shutdown_with_timeout(Duration::from_secs(5));
    }
}

/// Makes `span` continue the trace of an incoming `traceparent` (if valid), and records
/// its trace id in the span's `trace_id` field, so that log lines name it.
pub fn continue_trace(span: &tracing::Span, headers: &axum::http::HeaderMap) {
    let parent = TraceContextPropagator::new().extract(&HeaderText(headers));
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
    let trace_id = span.context().span().span_context().trace_id();
    span.record("trace_id", tracing::field::display(trace_id));
}

/// The `traceparent` of the current span, for a request we send (a webhook).
pub fn traceparent() -> Option<String> {
    if !enabled() {
        return None;
    }
    let mut fields = HashMap::new();
    TraceContextPropagator::new().inject_context(
        &tracing::Span::current().context(),
        &mut FieldMap(&mut fields),
    );
    fields.remove("traceparent")
}

/// A span for one SQL statement that just ran for `elapsed`, under the current span (none
/// outside any span): named by its verb, carrying its text with placeholders (never the values bound).
pub fn statement(system: &'static str, sql: &str, elapsed: Duration, failed: bool) {
    let Some(tracer) = TRACER.get() else {
        return;
    };
    let parent = tracing::Span::current().context();
    // A statement outside any span (a background loop's poll) is not worth a trace.
    if !parent.has_active_span() {
        return;
    }
    let end = SystemTime::now();
    let verb = sql
        .split_whitespace()
        .next()
        .unwrap_or("SQL")
        .to_ascii_uppercase();
    let text: String = sql.chars().take(MAX_STATEMENT_CHARS).collect();
    let builder = tracer
        .span_builder(verb)
        .with_kind(SpanKind::Client)
        .with_start_time(end.checked_sub(elapsed).unwrap_or(end))
        .with_attributes([
            KeyValue::new("db.system.name", system),
            KeyValue::new("db.query.text", text),
        ]);
    let mut span = tracer.build_with_context(builder, &parent);
    if failed {
        span.set_status(Status::error("the statement failed"));
    }
    span.end_with_timestamp(end);
}

struct HeaderText<'a>(&'a axum::http::HeaderMap);

impl Extractor for HeaderText<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}

struct FieldMap<'a>(&'a mut HashMap<String, String>);

impl Injector for FieldMap<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}
