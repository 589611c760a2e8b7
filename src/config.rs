//! Every setting of the gateway: its command-line flag, its environment variable and its
//! default. The README's configuration table mirrors this file.

use std::path::PathBuf;

use chrono_tz::Tz;

use crate::graphql::Plans;
use crate::telemetry::LogFormat;

/// Settings shared by every command.
#[derive(Clone, Debug, clap::Args)]
pub struct Config {
    /// Database URL: `sqlite://FILE?mode=rwc` or `postgres://USER@HOST/DB`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://credit-gateway.db?mode=rwc",
        global = true
    )]
    pub database_url: String,

    /// Most database connections the gateway opens.
    #[arg(
        long,
        env = "CREDIT_GATEWAY_DB_MAX_CONNECTIONS",
        default_value_t = 10,
        global = true
    )]
    pub db_max_connections: u32,

    /// Secret that signs and verifies bearer tokens (HS256). Without it, a random secret
    /// is kept in `.credit-gateway-secret` in the working directory (development only).
    #[arg(
        long,
        env = "CREDIT_GATEWAY_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub secret: Option<String>,

    /// The store's time zone (IANA name): it decides the day on which an invoice becomes
    /// overdue.
    #[arg(
        long,
        env = "CREDIT_GATEWAY_TIME_ZONE",
        default_value = "UTC",
        global = true
    )]
    pub time_zone: Tz,

    /// Rows in a page of invoices when the client gives neither `first` nor `last`.
    #[arg(
        long,
        env = "CREDIT_GATEWAY_DEFAULT_PAGE_SIZE",
        default_value_t = 20,
        global = true
    )]
    pub default_page_size: u64,

    /// Hard cap on `first` and `last`.
    #[arg(
        long,
        env = "CREDIT_GATEWAY_MAX_PAGE_SIZE",
        default_value_t = 100,
        global = true
    )]
    pub max_page_size: u64,

    /// Accept `http://` payment links as well as `https://` (development only: a PAY
    /// button should never send a customer over plain HTTP).
    #[arg(
        long,
        env = "CREDIT_GATEWAY_ALLOW_HTTP_LINKS",
        default_value_t = false,
        global = true
    )]
    pub allow_http_links: bool,

    /// Largest CSV file an import takes, in bytes (uploads are cut off at this size).
    #[arg(
        long,
        env = "CREDIT_GATEWAY_IMPORT_MAX_BYTES",
        default_value_t = 512 * 1024 * 1024,
        global = true
    )]
    pub import_max_bytes: u64,

    /// Most data rows a CSV import takes.
    #[arg(
        long,
        env = "CREDIT_GATEWAY_IMPORT_MAX_ROWS",
        default_value_t = 2_000_000,
        global = true
    )]
    pub import_max_rows: u64,

    /// Seconds `importInvoicesCsv` waits for an import before answering with it still
    /// `RUNNING` (it goes on in the background; follow it with `invoiceImport(id)`).
    #[arg(
        long,
        env = "CREDIT_GATEWAY_IMPORT_WAIT_SECONDS",
        default_value_t = 20,
        global = true
    )]
    pub import_wait_seconds: u64,

    /// Largest GraphQL query text accepted, in bytes.
    #[arg(
        long,
        env = "CREDIT_GATEWAY_MAX_QUERY_BYTES",
        default_value_t = 32 * 1024,
        global = true
    )]
    pub max_query_bytes: usize,

    /// Most aliases one GraphQL request may use.
    #[arg(
        long,
        env = "CREDIT_GATEWAY_MAX_ALIASES",
        default_value_t = 30,
        global = true
    )]
    pub max_aliases: usize,

    /// Deepest nesting of fields one GraphQL request may use. GraphiQL's own
    /// introspection query nests about 13 levels.
    #[arg(
        long,
        env = "CREDIT_GATEWAY_MAX_DEPTH",
        default_value_t = 20,
        global = true
    )]
    pub max_depth: usize,

    /// Most complexity points one GraphQL request may cost: each field costs a point, once
    /// per item of every page it is in (`invoices(first: 50)` multiplies what it holds by
    /// 50; a page without `first`/`last` is priced at 20 items, an invoice's `history` at
    /// 10 changes).
    #[arg(
        long,
        env = "CREDIT_GATEWAY_MAX_COMPLEXITY",
        default_value_t = 10_000,
        global = true
    )]
    pub max_complexity: usize,

    /// Complexity points each caller (token subject, or address without a token) may
    /// spend at once: a leaky bucket that refills at `CREDIT_GATEWAY_THROTTLE_PER_SECOND`.
    /// A request that finds it spent is refused with `THROTTLED` and `Retry-After`. 0
    /// turns throttling off. Kept per gateway instance.
    #[arg(
        long,
        env = "CREDIT_GATEWAY_THROTTLE_CAPACITY",
        default_value_t = 50_000,
        global = true
    )]
    pub throttle_capacity: u64,

    /// Complexity points a second that each caller's budget refills.
    #[arg(
        long,
        env = "CREDIT_GATEWAY_THROTTLE_PER_SECOND",
        default_value_t = 10_000,
        global = true
    )]
    pub throttle_per_second: u64,

    /// Memory for Apollo's automatic persisted queries, in bytes: each query's text plus
    /// about 192 bytes of bookkeeping (least recently used first out). 0 turns persisted
    /// queries off.
    #[arg(
        long,
        env = "CREDIT_GATEWAY_PERSISTED_QUERIES_BYTES",
        default_value_t = 4 * 1024 * 1024,
        global = true
    )]
    pub persisted_queries_bytes: usize,

    /// Webhook destinations that may be private or loopback, and so may be called over
    /// plain `http`: comma-separated host names, addresses and CIDR ranges
    /// (`127.0.0.1,10.0.0.0/8`). Empty: public `https` URLs only.
    #[arg(
        long,
        env = "CREDIT_GATEWAY_WEBHOOK_ALLOW_HOSTS",
        default_value = "",
        global = true
    )]
    pub webhook_allow_hosts: String,

    /// Webhook deliveries in flight at once, per endpoint.
    #[arg(
        long,
        env = "CREDIT_GATEWAY_WEBHOOK_CONCURRENCY",
        default_value_t = 4,
        global = true
    )]
    pub webhook_concurrency: usize,

    /// Webhook sends a second per endpoint at most, evenly spaced; 0 leaves them unpaced.
    #[arg(
        long,
        env = "CREDIT_GATEWAY_WEBHOOK_RATE",
        default_value_t = 0,
        global = true
    )]
    pub webhook_rate: u32,

    /// `invoice.due_soon` webhooks go out this many days before an open invoice's due
    /// date.
    #[arg(
        long,
        env = "CREDIT_GATEWAY_REMINDER_DAYS",
        default_value_t = 3,
        global = true
    )]
    pub reminder_days: u32,

    /// Deliver webhooks from this process (every instance may; each endpoint is
    /// delivered by one at a time).
    #[arg(long, env = "CREDIT_GATEWAY_WEBHOOKS", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub webhooks: bool,

    /// Serve Prometheus metrics at `/metrics`.
    #[arg(long, env = "CREDIT_GATEWAY_METRICS", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub metrics: bool,

    /// Log lines as `text` or `json` (one object per line, with the request id).
    #[arg(
        long,
        env = "CREDIT_GATEWAY_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text,
        global = true
    )]
    pub log_format: LogFormat,

    /// Answer introspection (`__schema`, `__type`): GraphiQL and code generators need it;
    /// a production deployment may turn it off.
    #[arg(long, env = "CREDIT_GATEWAY_INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub introspection: bool,

    /// Suggest field and argument names in errors ("Did you mean …?"), which also
    /// reveals the schema.
    #[arg(long, env = "CREDIT_GATEWAY_SUGGESTIONS", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub suggestions: bool,

    /// Origins whose pages may call the API from a browser (CORS), comma-separated, such
    /// as `https://backoffice.example.com`. Empty (the default): no cross-origin calls.
    #[arg(
        long,
        env = "CREDIT_GATEWAY_CORS_ORIGINS",
        default_value = "",
        global = true
    )]
    pub cors_origins: String,

    /// Run the overdue sweeper in `serve` (at start-up and after each midnight).
    #[arg(long, env = "CREDIT_GATEWAY_SWEEPER", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub sweeper: bool,

    /// Seconds a client has to send a request's headers; also how long a kept-alive
    /// connection may sit idle between requests before it is closed.
    #[arg(
        long,
        env = "CREDIT_GATEWAY_HEADER_TIMEOUT",
        default_value_t = 10,
        global = true
    )]
    pub header_timeout: u64,

    /// Seconds a client has to send a request's body, however slowly it trickles (uploads
    /// excepted: they are cut off after 30 seconds without data instead).
    #[arg(
        long,
        env = "CREDIT_GATEWAY_BODY_TIMEOUT",
        default_value_t = 30,
        global = true
    )]
    pub body_timeout: u64,

    /// Most connections open at once, WebSockets included; more wait to be accepted.
    /// Lowered at start to half the process's descriptor limit (itself raised as far as
    /// the system allows).
    #[arg(
        long,
        env = "CREDIT_GATEWAY_MAX_CONNECTIONS",
        default_value_t = 10_000,
        global = true
    )]
    pub max_connections: usize,

    /// Live subscriptions one caller (token subject) may hold on one gateway instance,
    /// over all its WebSockets and HTTP streams together; one more is refused with
    /// `TOO_MANY_SUBSCRIPTIONS`.
    #[arg(
        long,
        env = "CREDIT_GATEWAY_MAX_SUBSCRIPTIONS_PER_CALLER",
        default_value_t = 100,
        global = true
    )]
    pub max_subscriptions_per_caller: usize,

    /// Seconds a WebSocket may stay open without a `connection_init` before it is closed
    /// (code 4408).
    #[arg(
        long,
        env = "CREDIT_GATEWAY_WS_INIT_TIMEOUT",
        default_value_t = 10,
        global = true
    )]
    pub ws_init_timeout: u64,

    /// Seconds between the keep-alive messages the gateway sends on an idle WebSocket
    /// (`ping` in graphql-transport-ws, `ka` in the legacy graphql-ws protocol).
    #[arg(
        long,
        env = "CREDIT_GATEWAY_WS_KEEPALIVE",
        default_value_t = 15,
        global = true
    )]
    pub ws_keepalive: u64,

    /// Serve the schema as an Apollo Federation 2 subgraph: `_service` and `_entities`,
    /// with `Invoice`, `Account` and `Order` as entities keyed by `id`.
    #[arg(long, env = "CREDIT_GATEWAY_FEDERATION", default_value_t = false, action = clap::ArgAction::Set, global = true)]
    pub federation: bool,

    /// How invoice listings with a precompiled plan are answered: `on` (through the
    /// plan), `off` (through async-graphql's executor, as every other request), or
    /// `checked` (through both, sending the executor's answer and refusing to answer when
    /// the plan's differs: for tests and diagnosis, at twice the cost).
    #[arg(
        long,
        env = "CREDIT_GATEWAY_PLANS",
        value_enum,
        default_value_t = Plans::On,
        global = true
    )]
    pub plans: Plans,

    /// Single sign-on: bearer tokens issued by an OpenID Connect provider.
    #[command(flatten)]
    pub oidc: OidcConfig,
}

/// Single sign-on settings. Without an issuer, only the gateway's own shared-secret
/// tokens are accepted; with one, its tokens too (the shared-secret ones keep working).
#[derive(Clone, Debug, clap::Args)]
pub struct OidcConfig {
    /// The OpenID Connect provider whose tokens are accepted, exactly as its discovery
    /// document spells `issuer` (e.g. `https://login.example.com/realms/store`). Must be
    /// `https://`, except on a loopback address.
    #[arg(long, env = "CREDIT_GATEWAY_OIDC_ISSUER", global = true)]
    pub oidc_issuer: Option<String>,

    /// The audience (`aud`) a token must name to be accepted here; required with an issuer.
    #[arg(long, env = "CREDIT_GATEWAY_OIDC_AUDIENCE", global = true)]
    pub oidc_audience: Option<String>,

    /// The claim holding the caller's roles: a string or an array of strings; a dotted
    /// path reaches into objects (`realm_access.roles`).
    #[arg(
        long,
        env = "CREDIT_GATEWAY_OIDC_ROLE_CLAIM",
        default_value = "roles",
        global = true
    )]
    pub oidc_role_claim: String,

    /// The claim holding a customer's credit account id (dotted paths as for roles).
    #[arg(
        long,
        env = "CREDIT_GATEWAY_OIDC_ACCOUNT_CLAIM",
        default_value = "account_id",
        global = true
    )]
    pub oidc_account_claim: String,

    /// The role that makes the caller an administrator. A token without it that names an
    /// account is that account's customer; a token with neither is refused.
    #[arg(
        long,
        env = "CREDIT_GATEWAY_OIDC_ADMIN_ROLE",
        default_value = "admin",
        global = true
    )]
    pub oidc_admin_role: String,

    /// Seconds of clock difference allowed when checking `exp` and `nbf`.
    #[arg(
        long,
        env = "CREDIT_GATEWAY_OIDC_CLOCK_SKEW_SECONDS",
        default_value_t = 60,
        global = true
    )]
    pub oidc_clock_skew_seconds: u64,

    /// The console's client id at the provider (a public client using the authorization
    /// code flow with PKCE, redirecting to `/console` and `/my-credits`). With it, the
    /// console offers "Sign in with SSO".
    #[arg(long, env = "CREDIT_GATEWAY_OIDC_CLIENT_ID", global = true)]
    pub oidc_client_id: Option<String>,
}

impl Default for OidcConfig {
    /// No issuer; the other settings at their command-line defaults.
    fn default() -> Self {
        OidcConfig {
            oidc_issuer: None,
            oidc_audience: None,
            oidc_role_claim: "roles".into(),
            oidc_account_claim: "account_id".into(),
            oidc_admin_role: "admin".into(),
            oidc_clock_skew_seconds: 60,
            oidc_client_id: None,
        }
    }
}

/// Where the development secret lives when `CREDIT_GATEWAY_SECRET` is not set.
pub const DEV_SECRET_FILE: &str = ".credit-gateway-secret";

impl Config {
    /// The token secret: the configured one, or the development secret file's, created
    /// with fresh random bytes the first time.
    pub fn resolve_secret(&self) -> std::io::Result<String> {
        if let Some(secret) = &self.secret {
            return Ok(secret.clone());
        }
        let path = PathBuf::from(DEV_SECRET_FILE);
        match std::fs::read_to_string(&path) {
            Ok(secret) if !secret.trim().is_empty() => Ok(secret.trim().to_owned()),
            _ => {
                let secret = crate::auth::random_secret();
                std::fs::write(&path, &secret)?;
                tracing::warn!(
                    secret.file = %path.display(),
                    "CREDIT_GATEWAY_SECRET is not set: using a development secret kept in a local file"
                );
                Ok(secret)
            }
        }
    }
}
