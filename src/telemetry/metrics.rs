//! Prometheus metrics, kept in memory by `prometheus-client` and rendered in the text
//! exposition format (version 0.0.4) at `/metrics`: HTTP requests by route and status,
//! GraphQL operations by name, type and outcome, a latency histogram for each, and gauges
//! read when scraped (database pool, subscriptions, running imports). What stays ours is
//! the bound on operation names, which clients choose.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, prometheus_text};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The media type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Distinct operation names kept as labels, and the longest kept. Clients choose the
/// names, so past this many, or longer, they are counted as `other`: the metrics cannot
/// grow without bound.
const MAX_OPERATION_NAMES: usize = 200;
const MAX_OPERATION_NAME_BYTES: usize = 100;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    operation: String,
    r#type: &'static str,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Operation {
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Delivery {
    endpoint: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct State {
    state: &'static str,
}

type Latencies<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency() -> Histogram {
    Histogram::new(BUCKETS)
}

pub struct Metrics {
    registry: Registry,
    http: Family<RouteStatus, Counter>,
    http_latency: Latencies<Route>,
    graphql: Family<Outcome, Counter>,
    graphql_latency: Latencies<Operation>,
    pool_connections: Family<State, Gauge>,
    pool_max: Gauge,
    subscriptions: Gauge,
    imports_running: Gauge,
    webhook_deliveries: Family<Delivery, Counter>,
    webhooks_pending: Gauge,
    webhooks_oldest: Gauge<f64, std::sync::atomic::AtomicU64>,
    operation_names: Mutex<HashSet<String>>,
}

/// Values read from the running gateway when the metrics are scraped.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gauges {
    pub pool_connections: u32,
    pub pool_idle: u32,
    pub pool_max: u32,
    pub subscriptions: usize,
    pub imports_running: usize,
    /// Webhook deliveries not yet taken by their receivers (none when unknown).
    pub webhooks_pending: Option<u64>,
    /// How long the oldest of them has waited, in seconds.
    pub webhooks_oldest_pending_seconds: Option<f64>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let metrics = Metrics {
            registry: Registry::default(),
            http: Family::default(),
            http_latency: Family::new_with_constructor(latency),
            graphql: Family::default(),
            graphql_latency: Family::new_with_constructor(latency),
            pool_connections: Family::default(),
            pool_max: Gauge::default(),
            subscriptions: Gauge::default(),
            imports_running: Gauge::default(),
            webhook_deliveries: Family::default(),
            webhooks_pending: Gauge::default(),
            webhooks_oldest: Gauge::default(),
            operation_names: Mutex::default(),
        };
        metrics.registered()
    }
}

impl Metrics {
    /// Registers every metric with its help text (the library ends each with a period).
    fn registered(mut self) -> Metrics {
        let registry = &mut self.registry;
        registry.register(
            "http_requests",
            "HTTP requests answered, by route and status",
            self.http.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request (to its headers, for streamed answers), by route",
            self.http_latency.clone(),
        );
        registry.register(
            "graphql_operations",
            "GraphQL queries and mutations, by operation name, type and outcome (`ok` or \
             the first error's code)",
            self.graphql.clone(),
        );
        registry.register(
            "graphql_operation_duration_seconds",
            "Time to run a GraphQL query or mutation, parsing included, by operation name",
            self.graphql_latency.clone(),
        );
        registry.register(
            "db_pool_connections",
            "Open database connections, by state",
            self.pool_connections.clone(),
        );
        registry.register(
            "db_pool_max_connections",
            "Most database connections the pool opens",
            self.pool_max.clone(),
        );
        registry.register(
            "graphql_subscriptions_active",
            "Live `invoiceStatusChanged` subscriptions (WebSocket and multipart HTTP)",
            self.subscriptions.clone(),
        );
        registry.register(
            "csv_imports_running",
            "CSV imports running in this process",
            self.imports_running.clone(),
        );
        registry.register(
            "webhook_deliveries",
            "Webhook delivery attempts by this process, by endpoint and outcome (`delivered`, \
             `retry` or `gave_up`)",
            self.webhook_deliveries.clone(),
        );
        registry.register(
            "webhook_deliveries_pending",
            "Webhook deliveries not yet taken by their receivers, on every instance",
            self.webhooks_pending.clone(),
        );
        registry.register(
            "webhook_oldest_pending_seconds",
            "How long the oldest pending webhook delivery has waited",
            self.webhooks_oldest.clone(),
        );
        self
    }

    /// One webhook delivery attempt: `outcome` is `delivered`, `retry` or `gave_up`.
    pub fn webhook_attempt(&self, endpoint: &str, outcome: &'static str) {
        self.webhook_deliveries
            .get_or_create(&Delivery {
                endpoint: endpoint.to_owned(),
                outcome,
            })
            .inc();
    }

    /// One HTTP request answered. `route` is the route's pattern (`/graphql`,
    /// `/api/creditcontrol/accounts/{account_id}/…`), never the raw path.
    pub fn http_request(&self, route: &str, status: u16, elapsed: Duration) {
        let route = route.to_owned();
        self.http_latency
            .get_or_create(&Route {
                route: route.clone(),
            })
            .observe(elapsed.as_secs_f64());
        self.http
            .get_or_create(&RouteStatus { route, status })
            .inc();
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
        let operation = self.operation_label(name);
        self.graphql_latency
            .get_or_create(&Operation {
                operation: operation.clone(),
            })
            .observe(elapsed.as_secs_f64());
        self.graphql
            .get_or_create(&Outcome {
                operation,
                r#type: kind,
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// The label for an operation name: the name itself while fewer than
    /// [`MAX_OPERATION_NAMES`] are known and it is short enough, else `other`.
    fn operation_label(&self, name: Option<&str>) -> String {
        let Some(name) = name else {
            return "anonymous".to_owned();
        };
        if name.len() > MAX_OPERATION_NAME_BYTES {
            return "other".to_owned();
        }
        let mut known = self
            .operation_names
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if known.contains(name) {
            name.to_owned()
        } else if known.len() < MAX_OPERATION_NAMES {
            known.insert(name.to_owned());
            name.to_owned()
        } else {
            "other".to_owned()
        }
    }

    /// Everything, in Prometheus's text format ([`CONTENT_TYPE`]).
    pub fn render(&self, gauges: Gauges) -> String {
        let in_use = gauges.pool_connections.saturating_sub(gauges.pool_idle);
        for (state, value) in [("in_use", in_use), ("idle", gauges.pool_idle)] {
            self.pool_connections
                .get_or_create(&State { state })
                .set(value.into());
        }
        self.pool_max.set(gauges.pool_max.into());
        self.subscriptions.set(count(gauges.subscriptions));
        self.imports_running.set(count(gauges.imports_running));
        if let Some(pending) = gauges.webhooks_pending {
            self.webhooks_pending
                .set(i64::try_from(pending).unwrap_or(i64::MAX));
        }
        if let Some(oldest) = gauges.webhooks_oldest_pending_seconds {
            self.webhooks_oldest.set(oldest);
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
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
