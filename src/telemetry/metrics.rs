//! Prometheus metrics, kept in memory and rendered in the text exposition format at
//! `/metrics`: HTTP requests by route and status, GraphQL operations by name, type and
//! outcome, a latency histogram for each, and gauges read when scraped (database pool,
//! subscriptions, running imports).

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Distinct operation names kept as labels, and the longest kept. Clients choose the
/// names, so past this many, or longer, they are counted as `other`: the metrics cannot
/// grow without bound.
const MAX_OPERATION_NAMES: usize = 200;
const MAX_OPERATION_NAME_BYTES: usize = 100;

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// (route, status) → requests.
    http: BTreeMap<(String, u16), u64>,
    http_latency: BTreeMap<String, Histogram>,
    /// (operation, type, outcome) → operations.
    graphql: BTreeMap<(String, &'static str, String), u64>,
    graphql_latency: BTreeMap<String, Histogram>,
    operation_names: HashSet<String>,
}

#[derive(Default)]
struct Histogram {
    /// Observations at or under each bound of `BUCKETS` (not cumulative here).
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(bucket) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            self.buckets[bucket] += 1;
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// Values read from the running gateway when the metrics are scraped.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gauges {
    pub pool_connections: u32,
    pub pool_idle: u32,
    pub pool_max: u32,
    pub subscriptions: usize,
    pub imports_running: usize,
}

impl Metrics {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// One HTTP request answered. `route` is the route's pattern (`/graphql`,
    /// `/api/creditcontrol/accounts/{account_id}/…`), never the raw path.
    pub fn http_request(&self, route: &str, status: u16, elapsed: Duration) {
        let mut inner = self.inner();
        *inner.http.entry((route.to_owned(), status)).or_default() += 1;
        inner
            .http_latency
            .entry(route.to_owned())
            .or_default()
            .observe(elapsed);
    }

    /// One GraphQL query or mutation finished: `outcome` is `ok` or the code of its first
    /// error.
    pub fn graphql_operation(
        &self,
        name: Option<&str>,
        kind: &'static str,
        outcome: &str,
        elapsed: Duration,
    ) {
        let mut inner = self.inner();
        let name = match name {
            None => "anonymous".to_owned(),
            Some(name) if name.len() > MAX_OPERATION_NAME_BYTES => "other".to_owned(),
            Some(name) if inner.operation_names.contains(name) => name.to_owned(),
            Some(name) if inner.operation_names.len() < MAX_OPERATION_NAMES => {
                inner.operation_names.insert(name.to_owned());
                name.to_owned()
            }
            Some(_) => "other".to_owned(),
        };
        *inner
            .graphql
            .entry((name.clone(), kind, outcome.to_owned()))
            .or_default() += 1;
        inner
            .graphql_latency
            .entry(name)
            .or_default()
            .observe(elapsed);
    }

    /// Everything, in Prometheus's text format.
    pub fn render(&self, gauges: Gauges) -> String {
        let inner = self.inner();
        let mut out = String::new();
        header(
            &mut out,
            "http_requests_total",
            "counter",
            "HTTP requests answered, by route and status.",
        );
        for ((route, status), count) in &inner.http {
            let labels = format!("route=\"{}\",status=\"{status}\"", escape(route));
            let _ = writeln!(out, "http_requests_total{{{labels}}} {count}");
        }
        header(
            &mut out,
            "http_request_duration_seconds",
            "histogram",
            "Time to answer an HTTP request (to its headers, for streamed answers), by route.",
        );
        for (route, histogram) in &inner.http_latency {
            let labels = format!("route=\"{}\"", escape(route));
            write_histogram(
                &mut out,
                "http_request_duration_seconds",
                &labels,
                histogram,
            );
        }
        header(
            &mut out,
            "graphql_operations_total",
            "counter",
            "GraphQL queries and mutations, by operation name, type and outcome (`ok` or \
             the first error's code).",
        );
        for ((name, kind, outcome), count) in &inner.graphql {
            let labels = format!(
                "operation=\"{}\",type=\"{kind}\",outcome=\"{}\"",
                escape(name),
                escape(outcome)
            );
            let _ = writeln!(out, "graphql_operations_total{{{labels}}} {count}");
        }
        header(
            &mut out,
            "graphql_operation_duration_seconds",
            "histogram",
            "Time to run a GraphQL query or mutation, parsing included, by operation name.",
        );
        for (name, histogram) in &inner.graphql_latency {
            let labels = format!("operation=\"{}\"", escape(name));
            write_histogram(
                &mut out,
                "graphql_operation_duration_seconds",
                &labels,
                histogram,
            );
        }
        let in_use = gauges.pool_connections.saturating_sub(gauges.pool_idle);
        header(
            &mut out,
            "db_pool_connections",
            "gauge",
            "Open database connections, by state.",
        );
        let _ = writeln!(out, "db_pool_connections{{state=\"in_use\"}} {in_use}");
        let _ = writeln!(
            out,
            "db_pool_connections{{state=\"idle\"}} {}",
            gauges.pool_idle
        );
        gauge(
            &mut out,
            "db_pool_max_connections",
            "Most database connections the pool opens.",
            gauges.pool_max,
        );
        gauge(
            &mut out,
            "graphql_subscriptions_active",
            "Live `invoiceStatusChanged` subscriptions (WebSocket and multipart HTTP).",
            gauges.subscriptions,
        );
        gauge(
            &mut out,
            "csv_imports_running",
            "CSV imports running in this process.",
            gauges.imports_running,
        );
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    header(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

fn write_histogram(out: &mut String, name: &str, labels: &str, histogram: &Histogram) {
    let mut cumulative = 0;
    for (bound, count) in BUCKETS.iter().zip(histogram.buckets) {
        cumulative += count;
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
    }
    let _ = writeln!(
        out,
        "{name}_bucket{{{labels},le=\"+Inf\"}} {}",
        histogram.count
    );
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", histogram.sum);
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", histogram.count);
}

/// A label value as Prometheus reads it: backslash, double quote and newline escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_counters_labelled() {
        let metrics = Metrics::default();
        let ms = Duration::from_millis;
        metrics.http_request("/graphql", 200, ms(3));
        metrics.http_request("/graphql", 200, ms(30));
        metrics.http_request("/graphql", 429, ms(20_000));
        let text = metrics.render(Gauges::default());
        assert!(text.contains("http_requests_total{route=\"/graphql\",status=\"200\"} 2\n"));
        assert!(text.contains("http_requests_total{route=\"/graphql\",status=\"429\"} 1\n"));
        assert!(
            text.contains(
                "http_request_duration_seconds_bucket{route=\"/graphql\",le=\"0.005\"} 1\n"
            )
        );
        assert!(
            text.contains(
                "http_request_duration_seconds_bucket{route=\"/graphql\",le=\"0.05\"} 2\n"
            )
        );
        assert!(
            text.contains("http_request_duration_seconds_bucket{route=\"/graphql\",le=\"10\"} 2\n")
        );
        assert!(
            text.contains(
                "http_request_duration_seconds_bucket{route=\"/graphql\",le=\"+Inf\"} 3\n"
            )
        );
        assert!(text.contains("http_request_duration_seconds_count{route=\"/graphql\"} 3\n"));
    }

    #[test]
    fn operation_names_are_bounded() {
        let metrics = Metrics::default();
        for n in 0..MAX_OPERATION_NAMES + 50 {
            let name = format!("Op{n}");
            metrics.graphql_operation(Some(&name), "query", "ok", Duration::ZERO);
        }
        metrics.graphql_operation(Some("Op0"), "query", "ok", Duration::ZERO);
        metrics.graphql_operation(
            None,
            "mutation",
            crate::domain::Code::Throttled.as_str(),
            Duration::ZERO,
        );
        let long = "L".repeat(MAX_OPERATION_NAME_BYTES + 1);
        let fresh = Metrics::default();
        fresh.graphql_operation(Some(&long), "query", "ok", Duration::ZERO);
        assert!(!fresh.render(Gauges::default()).contains(&long));
        let text = metrics.render(Gauges::default());
        assert!(text.contains("operation=\"Op0\",type=\"query\",outcome=\"ok\"} 2\n"));
        assert!(text.contains("operation=\"other\",type=\"query\",outcome=\"ok\"} 50\n"));
        assert!(
            text.contains("operation=\"anonymous\",type=\"mutation\",outcome=\"THROTTLED\"} 1\n")
        );
        let labelled = text
            .lines()
            .filter(|l| l.starts_with("graphql_operations_total{"))
            .count();
        assert_eq!(labelled, MAX_OPERATION_NAMES + 2);
    }
}
