//! Wiring: configuration → store → service → schema → router → a listening server. Used
//! by `serve` and by the integration tests, which start real servers on port 0.

use std::net::SocketAddr;
use std::sync::Arc;

use async_graphql::extensions::ExtensionFactory;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::auth::{Principal, TokenKeys};
use crate::config::Config;
use crate::domain::Seal;
use crate::graphql;
use crate::http::{self, AppState};
use crate::service::{Settings, UseCases, seed_demo};
use crate::store::Store;
use crate::telemetry::{self, Metrics};

pub type StartError = Box<dyn std::error::Error + Send + Sync>;

/// A server running in the background.
pub struct Running {
    pub addr: SocketAddr,
    pub gateway: UseCases,
    /// The database the gateway's use cases run on, for what wires around them (tests
    /// write fixtures through it).
    pub store: Store,
    pub keys: TokenKeys,
    /// The tokens printed in `--demo` mode.
    pub demo_tokens: Option<DemoTokens>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    sweeper: Option<tokio::task::JoinHandle<()>>,
    webhooks: Option<crate::webhooks::Delivering>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(task) = self.sweeper.take() {
            task.abort();
        }
        if let Some(webhooks) = self.webhooks.take() {
            webhooks.abort();
        }
        self.gateway.events().stop();
    }
}

pub struct DemoTokens {
    pub admin: String,
    pub customer_account: &'static str,
    pub customer: String,
}

impl Running {
    /// Stops accepting connections and waits for in-flight requests.
    pub async fn stop(mut self) -> std::io::Result<()> {
        self.halt().await
    }

    /// What [`Running::stop`] does, for an owner that keeps the value: subscriptions and
    /// the background work end too (the sweeper at once; webhook delivery once its sends
    /// in flight are recorded, giving its endpoints up to other instances), the store
    /// stays open.
    pub async fn halt(&mut self) -> std::io::Result<()> {
        if let Some(task) = self.sweeper.take() {
            task.abort();
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // Subscriptions end now rather than hold the stop for the server's whole grace.
        self.gateway.events().stop();
        if let Some(webhooks) = self.webhooks.take() {
            webhooks.stop().await;
        }
        self.finish().await
    }

    /// Waits until the server stops by itself (it does not, short of an I/O error). May be
    /// abandoned for [`Running::stop`], which then waits for the requests in flight.
    pub async fn serving(&mut self) -> std::io::Result<()> {
        self.finish().await
    }

    async fn finish(&mut self) -> std::io::Result<()> {
        let Some(task) = self.task.as_mut() else {
            return Ok(());
        };
        let result = task.await.unwrap_or_else(|e| Err(std::io::Error::other(e)));
        self.task = None;
        result
    }
}

/// Connects to the database and migrates it.
pub async fn open_store(config: &Config) -> Result<Store, StartError> {
    let store = Store::connect(&config.database_url, config.db_max_connections).await?;
    store.migrate().await?;
    Ok(store)
}

/// The use cases over `store`; `secret` (the token secret) also seals the cursors they
/// hand out.
pub fn gateway(store: Store, config: &Config, secret: &str) -> UseCases {
    UseCases::new(
        store,
        Settings {
            time_zone: config.time_zone,
            default_page_size: config.default_page_size,
            max_page_size: config.max_page_size,
            allow_http_links: config.allow_http_links,
            import_limits: crate::csv_io::Limits {
                max_bytes: config.import_max_bytes,
                max_rows: config.import_max_rows,
            },
            import_wait: std::time::Duration::from_secs(config.import_wait_seconds),
            // Exports hold a connection each while they stream: at most half the pool.
            max_exports: (config.db_max_connections as usize / 2).max(1),
            cursor_seal: Seal::new(secret.as_bytes(), "subscription cursor"),
            max_subscriptions_per_caller: config.max_subscriptions_per_caller,
            webhook_allow: webhook_allow_list(config),
        },
    )
}

/// `CREDIT_GATEWAY_WEBHOOK_ALLOW_HOSTS`, read (`start` refuses a malformed one first).
fn webhook_allow_list(config: &Config) -> crate::domain::AllowList {
    crate::domain::AllowList::parse(&config.webhook_allow_hosts).unwrap_or_default()
}

/// Delivers webhooks in the background (every instance may; leases share the work).
fn spawn_webhooks(
    store: &Store,
    gateway: &UseCases,
    config: &Config,
    metrics: Arc<Metrics>,
) -> crate::webhooks::Delivering {
    let settings = crate::webhooks::Settings {
        sender: crate::webhooks::Sender::new(
            webhook_allow_list(config),
            std::time::Duration::from_secs(5),
            crate::webhooks::SEND_TIMEOUT,
        ),
        concurrency: config.webhook_concurrency,
        rate: config.webhook_rate,
        reminder_days: config.reminder_days,
        metrics,
        today: {
            let gateway = gateway.clone();
            Arc::new(move || gateway.today())
        },
    };
    let today = gateway.clone();
    let render: crate::webhooks::RenderInvoice =
        Arc::new(move |invoice| http::invoice_json(invoice, today.today()));
    crate::webhooks::Dispatcher::new(store.clone(), settings, render).spawn()
}

/// Migrates, optionally seeds the demo store, binds `bind` and serves in the background.
pub async fn start(config: &Config, bind: &str, demo: bool) -> Result<Running, StartError> {
    start_extended(config, bind, demo, None).await
}

/// [`start`], with one more async-graphql extension around every GraphQL request: for
/// a program embedding the gateway (its own tracing, say; the tests inject faults).
pub async fn start_extended(
    config: &Config,
    bind: &str,
    demo: bool,
    extension: Option<Arc<dyn ExtensionFactory>>,
) -> Result<Running, StartError> {
    telemetry::install_panic_hook();
    if config.throttle_capacity != 0 && config.throttle_capacity < config.max_complexity as u64 {
        return Err(format!(
            "CREDIT_GATEWAY_THROTTLE_CAPACITY ({}) must be at least CREDIT_GATEWAY_MAX_COMPLEXITY ({}), \
             or 0 to turn throttling off: a request at the complexity limit must fit in a budget",
            config.throttle_capacity, config.max_complexity
        )
        .into());
    }
    crate::domain::AllowList::parse(&config.webhook_allow_hosts)
        .map_err(|e| format!("CREDIT_GATEWAY_WEBHOOK_ALLOW_HOSTS: {e}"))?;
    let secret = config.resolve_secret()?;
    let store = open_store(config).await?;
    let gateway = gateway(store.clone(), config, &secret);
    let oidc = crate::auth::Oidc::from_config(&config.oidc)?;
    if let Some(oidc) = &oidc {
        oidc.prefetch();
    }
    let keys = TokenKeys::new(&secret).with_oidc(oidc);
    let demo_tokens = if demo {
        if seed_demo(&gateway)
            .await
            .map_err(|e| format!("demo seeding failed: {}", e.public_message()))?
        {
            tracing::info!("seeded the demo store");
        }
        let ttl = chrono::Duration::days(30);
        let account = crate::service::DEMO_CUSTOMER_ACCOUNT;
        Some(DemoTokens {
            admin: keys.mint(
                &Principal::Admin {
                    subject: "demo-admin".into(),
                },
                ttl,
            ),
            customer_account: account,
            customer: keys.mint(
                &Principal::Customer {
                    subject: "demo-customer".into(),
                    account_id: account.into(),
                },
                ttl,
            ),
        })
    } else {
        None
    };
    let graphiql_headers = match &demo_tokens {
        Some(tokens) => serde_json::json!({ "Authorization": format!("Bearer {}", tokens.admin) }),
        None => serde_json::json!({}),
    };
    let metrics = Arc::new(Metrics::default());
    let limits = graphql::QueryLimits {
        default_page_size: config.default_page_size,
        max_query_bytes: config.max_query_bytes,
        max_aliases: config.max_aliases,
        max_depth: config.max_depth,
        max_complexity: config.max_complexity,
        budget: graphql::Budget {
            capacity: config.throttle_capacity,
            per_second: config.throttle_per_second,
        },
        persisted_queries_bytes: config.persisted_queries_bytes,
        introspection: config.introspection,
        suggestions: config.suggestions,
        federation: config.federation,
        plans: config.plans,
    };
    let state = AppState::new(http::Shared {
        schema: graphql::build_schema(
            gateway.clone(),
            keys.clone(),
            limits,
            metrics.clone(),
            extension,
        ),
        metrics: metrics.clone(),
        serve_metrics: config.metrics,
        gateway: gateway.clone(),
        keys: keys.clone(),
        graphiql_headers,
        demo_sign_in: demo_tokens.as_ref().map(|tokens| http::DemoSignIn {
            admin: tokens.admin.clone(),
            customer: tokens.customer.clone(),
        }),
        cors_origins: config
            .cors_origins
            .split(',')
            .map(str::trim)
            .filter(|origin| !origin.is_empty())
            .map(|origin| {
                axum::http::HeaderValue::from_str(origin).map_err(|_| {
                    format!("CREDIT_GATEWAY_CORS_ORIGINS: `{origin}` is not an origin")
                })
            })
            .collect::<Result<_, _>>()?,
        body_timeout: std::time::Duration::from_secs(config.body_timeout.max(1)),
        ws: http::WsSettings {
            init_timeout: std::time::Duration::from_secs(config.ws_init_timeout),
            keepalive: std::time::Duration::from_secs(config.ws_keepalive.max(1)),
        },
    });
    let listener = TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let limits = http::ConnectionLimits {
        header_timeout: std::time::Duration::from_secs(config.header_timeout.max(1)),
        max_connections: http::fit_connections(config.max_connections),
    };
    let task = tokio::spawn(http::serve(listener, http::router(state), limits, async {
        let _ = rx.await;
    }));
    let sweeper = config.sweeper.then(|| gateway.spawn_sweeper());
    let webhooks = config
        .webhooks
        .then(|| spawn_webhooks(&store, &gateway, config, metrics.clone()));
    tracing::info!(http.addr = %addr, db.backend = store.backend_name(), "listening");
    Ok(Running {
        addr,
        gateway,
        store,
        keys,
        demo_tokens,
        shutdown: Some(tx),
        task: Some(task),
        sweeper,
        webhooks,
    })
}
