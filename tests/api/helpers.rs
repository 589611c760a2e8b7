//! The test harness: a real gateway on port 0 over a fresh database (a temp-dir SQLite
//! file, or a PostgreSQL database created for the test and dropped after it), spoken to
//! over real HTTP.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use async_graphql::extensions::ExtensionFactory;

use chrono::{Duration, NaiveDate, SubsecRound, Utc};
use credit_gateway::app::{self, Running};
use credit_gateway::auth::Principal;
use credit_gateway::config::Config;
use credit_gateway::domain::{
    Account, AccountStatus, ChangeSource, DocumentType, InvoiceStatus, Money, Order,
};
use credit_gateway::store::NewInvoice;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};

pub use crate::proxy::Proxy;

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn(TestApp)` once per backend: `NAME::sqlite` and
/// `NAME::postgres`. The PostgreSQL run is skipped, with a notice, when no server is
/// reachable, unless `CREDIT_GATEWAY_REQUIRE_PG=1` (CI) makes that a failure.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        $crate::on_both_backends!(config |_| {}; $($name),+);
    };
    // Each gateway with its test settings changed by `$tweak` first.
    (config $tweak:expr; $($name:ident),+ $(,)?) => {$(
        mod $name {
            use $crate::helpers::{Backend, TestApp};

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = TestApp::with(Backend::Sqlite).config($tweak).spawn();
                super::$name(app.await.expect("SQLite always runs")).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) = TestApp::with(Backend::Postgres).config($tweak).spawn().await {
                    super::$name(app).await;
                }
            }
        }
    )+};
}

/// An HTTP client for the tests. reqwest is built with TLS but no crypto provider (the
/// gateway's webhooks install ring's), so the tests install it too.
pub fn http_client() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

pub fn pg_admin_url() -> String {
    std::env::var("CREDIT_GATEWAY_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn pg_required() -> bool {
    std::env::var("CREDIT_GATEWAY_REQUIRE_PG").is_ok_and(|v| v == "1")
}

/// Why PostgreSQL is unreachable, once a test has found out: later tests skip at once
/// instead of each waiting for a connection timeout.
static PG_DOWN: OnceLock<String> = OnceLock::new();

/// Said once per test binary, straight to stderr so that the test harness's capture
/// does not swallow it.
fn announce_pg_skipped(reason: &str) {
    PG_DOWN.get_or_init(|| {
        let _ = writeln!(
            std::io::stderr(),
            "\n*** PostgreSQL is NOT reachable at {} ({reason}): every `::postgres` test is SKIPPED (passes without running).\n*** Start it, or set CREDIT_GATEWAY_TEST_PG; CI sets CREDIT_GATEWAY_REQUIRE_PG=1 to make this a failure.\n",
            pg_admin_url()
        );
        reason.to_owned()
    });
}

pub const SECRET: &str = "test-secret";

/// Every log line of this test process, as JSON objects (one per line), from the first
/// call on: tests that check what the gateway logs look for their request id in it.
pub fn captured_logs() -> String {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    let logs = LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_env_filter("info")
            .with_writer(move || LogSink(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        logs
    });
    String::from_utf8_lossy(&logs.lock().unwrap()).into_owned()
}

struct LogSink(Arc<Mutex<Vec<u8>>>);

impl Write for LogSink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub struct TestApp {
    pub running: Running,
    pub base: String,
    pub backend: Backend,
    pub client: reqwest::Client,
    pub config: Config,
    _dir: tempfile::TempDir,
    pg_database: Option<String>,
}

pub fn test_config(database_url: String) -> Config {
    Config {
        database_url,
        db_max_connections: 5,
        secret: Some(SECRET.into()),
        time_zone: chrono_tz::UTC,
        default_page_size: 20,
        max_page_size: 100,
        allow_http_links: false,
        import_max_bytes: 10 * 1024 * 1024,
        import_max_rows: 100_000,
        import_wait_seconds: 30,
        cors_origins: String::new(),
        max_query_bytes: 32 * 1024,
        max_aliases: 30,
        max_depth: 20,
        max_complexity: 10_000,
        throttle_capacity: 50_000,
        throttle_per_second: 10_000,
        persisted_queries_bytes: 4 * 1024 * 1024,
        metrics: true,
        log_format: credit_gateway::telemetry::LogFormat::Text,
        introspection: true,
        suggestions: true,
        // Tests sweep explicitly, so that no background sweep races their fixtures.
        sweeper: false,
        ws_init_timeout: 10,
        ws_keepalive: 15,
        federation: false,
        // Every listing a plan answers is also run through the executor, and a plan
        // that answers differently fails the request: the differential test of the
        // plans is the whole suite.
        plans: credit_gateway::graphql::Plans::Checked,
        oidc: Default::default(),
        header_timeout: 10,
        body_timeout: 30,
        max_connections: 10_000,
        max_subscriptions_per_caller: 100,
        // The tests' receivers listen on 127.0.0.1. Delivery runs in the webhook tests
        // only: its rounds would count among the statements other tests measure.
        webhook_allow_hosts: "127.0.0.1".into(),
        webhook_concurrency: 4,
        webhook_rate: 0,
        webhooks: false,
        reminder_days: 3,
    }
}

/// How to start a test gateway: `TestApp::with(backend)`, then any of `.demo()`,
/// `.config(|c| …)` and `.extension(…)`, then `.spawn()`.
pub struct Spawn {
    backend: Backend,
    demo: bool,
    tweak: Box<dyn FnOnce(&mut Config)>,
    extension: Option<Arc<dyn ExtensionFactory>>,
}

impl Spawn {
    /// Loads the demo store, as `serve --demo` does.
    pub fn demo(mut self) -> Spawn {
        self.demo = true;
        self
    }

    /// Changes the test settings with `tweak`.
    pub fn config(mut self, tweak: impl FnOnce(&mut Config) + 'static) -> Spawn {
        self.tweak = Box::new(tweak);
        self
    }

    /// Adds one more GraphQL extension.
    pub fn extension(mut self, extension: Arc<dyn ExtensionFactory>) -> Spawn {
        self.extension = Some(extension);
        self
    }

    /// Starts the gateway; `None` when PostgreSQL is asked for, down, and not required.
    pub async fn spawn(self) -> Option<TestApp> {
        let Spawn {
            backend,
            demo,
            tweak,
            extension,
        } = self;
        let dir = tempfile::tempdir().expect("temp dir");
        let (url, pg_database) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display()),
                None,
            ),
            Backend::Postgres if PG_DOWN.get().is_some() && !pg_required() => return None,
            Backend::Postgres => {
                let name = format!("cg_test_{}", uuid::Uuid::new_v4().simple());
                match create_pg_database(&name).await {
                    Ok(url) => (url, Some(name)),
                    Err(e) if !pg_required() => {
                        announce_pg_skipped(&e);
                        return None;
                    }
                    Err(e) => {
                        panic!("PostgreSQL is required (CREDIT_GATEWAY_REQUIRE_PG=1) but: {e}")
                    }
                }
            }
        };
        let mut config = test_config(url);
        tweak(&mut config);
        let running = app::start_extended(&config, "127.0.0.1:0", demo, extension)
            .await
            .expect("gateway starts");
        Some(TestApp {
            base: format!("http://{}", running.addr),
            running,
            backend,
            client: http_client().build().unwrap(),
            config,

            _dir: dir,
            pg_database,
        })
    }
}

impl TestApp {
    /// A gateway with the test settings.
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        TestApp::with(backend).spawn().await
    }

    /// A gateway to start with options (see [`Spawn`]).
    pub fn with(backend: Backend) -> Spawn {
        Spawn {
            backend,
            demo: false,
            tweak: Box::new(|_| {}),
            extension: None,
        }
    }

    pub fn admin(&self) -> String {
        self.running.keys.mint(
            &Principal::Admin {
                subject: "test-admin".into(),
            },
            Duration::hours(1),
        )
    }

    pub fn customer(&self, account_id: &str) -> String {
        self.running.keys.mint(
            &Principal::Customer {
                subject: format!("test-customer-{account_id}"),
                account_id: account_id.into(),
            },
            Duration::hours(1),
        )
    }

    pub fn statements(&self) -> u64 {
        self.running.store.statements_executed()
    }

    /// POSTs a GraphQL request and returns the whole JSON response.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.base))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        response.json().await.expect("a JSON body")
    }

    /// Uploads a CSV to `importInvoicesCsv` as a GraphQL multipart request; returns the
    /// HTTP status and the JSON body.
    pub async fn upload_csv(
        &self,
        token: Option<&str>,
        file_name: &str,
        bytes: Vec<u8>,
        options: Value,
    ) -> (u16, Value) {
        let operations = json!({
            "query": IMPORT,
            "variables": { "input": {
                "file": null,
                "dryRun": options["dryRun"].as_bool().unwrap_or(false),
                "applyValidRows": options["applyValidRows"].as_bool().unwrap_or(false),
            } },
        });
        let form = reqwest::multipart::Form::new()
            .text("operations", operations.to_string())
            .text("map", r#"{"0": ["variables.input.file"]}"#)
            .part(
                "0",
                reqwest::multipart::Part::bytes(bytes)
                    .file_name(file_name.to_owned())
                    .mime_str("text/csv")
                    .unwrap(),
            );
        let response = self.post_multipart(token, form).await;
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON body"))
    }

    /// POSTs a GraphQL multipart request (an upload), with the preflight header browsers
    /// and Apollo's upload link send.
    pub async fn post_multipart(
        &self,
        token: Option<&str>,
        form: reqwest::multipart::Form,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.base))
            .header("apollo-require-preflight", "true")
            .multipart(form);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request sent")
    }

    /// `upload_csv` as an admin, returning the import (asserting no error of any kind).
    pub async fn import_csv(&self, bytes: Vec<u8>, options: Value) -> Value {
        let (status, body) = self
            .upload_csv(Some(&self.admin()), "invoices.csv", bytes, options)
            .await;
        assert_eq!(status, 200, "{body:#}");
        assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
        let payload = &body["data"]["importInvoicesCsv"];
        assert_eq!(payload["userErrors"], json!([]), "{body:#}");
        payload["import"].clone()
    }

    /// GETs `/export/invoices.csv` with these query parameters.
    pub async fn export(&self, token: Option<&str>, query: &str) -> reqwest::Response {
        let mut request = self
            .client
            .get(format!("{}/export/invoices.csv?{query}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request sent")
    }

    /// GETs a path of this gateway (such as a download link).
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request sent")
    }

    /// `gql` as an admin, asserting that no error came back.
    pub async fn admin_data(&self, query: &str, variables: Value) -> Value {
        let body = self.gql(Some(&self.admin()), query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
        body["data"].clone()
    }

    pub async fn insert(&self, accounts: &[Account], orders: &[Order], invoices: &[NewInvoice]) {
        self.running
            .store
            .insert_all(accounts, orders, invoices, "test", ChangeSource::Seed)
            .await
            .expect("fixtures insert");
    }

    /// Two accounts, MINE and THEIRS, with an order (O-MINE 10.00, O-THEIRS 20.00) and an
    /// open invoice each (I-MINE, I-THEIRS, due in 5 days): what scope tests start from.
    pub async fn insert_mine_and_theirs(&self) {
        let due = self.today() + Duration::days(5);
        self.insert(
            &[account("MINE"), account("THEIRS")],
            &[
                order("O-MINE", "MINE", "10.00"),
                order("O-THEIRS", "THEIRS", "20.00"),
            ],
            &[
                invoice("I-MINE", "MINE", "O-MINE", "10.00", due),
                invoice("I-THEIRS", "THEIRS", "O-THEIRS", "20.00", due),
            ],
        )
        .await;
    }

    /// One account with one order and its invoices: the store most tests start from.
    pub async fn insert_order(
        &self,
        account_id: &str,
        order_id: &str,
        order_value: &str,
        invoices: &[NewInvoice],
    ) {
        let order = order(order_id, account_id, order_value);
        self.insert(&[account(account_id)], &[order], invoices)
            .await;
    }

    /// One invoice, with its account and an order of its value.
    pub async fn insert_invoice(&self, invoice: NewInvoice) {
        let value = invoice.value.to_display_string();
        let order = order(&invoice.order_id, &invoice.account_id, &value);
        self.insert(&[account(&invoice.account_id)], &[order], &[invoice])
            .await;
    }

    pub fn today(&self) -> NaiveDate {
        self.running.gateway.today()
    }

    /// The gateway's binary, on this test's database and secret, logging warnings only.
    pub fn binary(&self) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_credit-gateway"));
        command
            .env("CREDIT_GATEWAY_SECRET", SECRET)
            .env("RUST_LOG", "warn")
            .env("DATABASE_URL", &self.config.database_url);
        command
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(name) = self.pg_database.take() {
            // Drop runs outside async: a short-lived runtime on its own thread drops it.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(async {
                    let db = Database::connect(pg_admin_url()).await.ok()?;
                    db.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await
                        .ok()
                })
            })
            .join();
        }
    }
}

pub async fn create_pg_database(name: &str) -> Result<String, String> {
    let admin = pg_admin_url();
    let db = tokio::time::timeout(std::time::Duration::from_secs(5), Database::connect(&admin))
        .await
        .map_err(|_| "connection timed out".to_string())?
        .map_err(|e| e.to_string())?;
    db.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .map_err(|e| e.to_string())?;
    let _ = db.close().await;
    let base = admin
        .rsplit_once('/')
        .map(|(base, _)| base)
        .unwrap_or(&admin);
    Ok(format!("{base}/{name}"))
}

/// The URL a `serve` process announces on the first line of its standard output (the
/// rest is left unread).
pub fn announced_url(stdout: std::process::ChildStdout) -> String {
    use std::io::BufRead;
    let first = std::io::BufReader::new(stdout)
        .lines()
        .next()
        .expect("a first line")
        .expect("text");
    first
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .expect("the address on stdout")
        .to_owned()
}

/// The import mutation, with every field of its report.
pub const IMPORT: &str = "mutation($input: ImportInvoicesCsvInput!) { importInvoicesCsv(input: $input) { \
    import { id fileName actor state dryRun applyValidRows rowsTotal rowsRead rowsChanged rowsUnchanged rowsRefused problem \
             errors(first: 1000) { line column code message } } \
    userErrors { field message code } } }";

// ---- fixtures ----

pub fn money(text: &str) -> Money {
    Money::parse(text).unwrap()
}

pub fn account(id: &str) -> Account {
    let now = Utc::now().trunc_subsecs(6);
    Account {
        id: id.into(),
        document: "00000000000".into(),
        document_type: DocumentType::Cpf,
        name: format!("Holder of {id}"),
        email: format!("{}@example.com", id.to_lowercase()),
        currency: "BRL".into(),
        credit_limit: money("1000.00"),
        tolerance: money("0.10"),
        status: AccountStatus::Open,
        created_at: now,
        updated_at: now,
        version: 1,
    }
}

pub fn order(id: &str, account_id: &str, value: &str) -> Order {
    Order {
        id: id.into(),
        account_id: account_id.into(),
        value: money(value),
        currency: "BRL".into(),
        created_at: Utc::now().trunc_subsecs(6),
    }
}

/// An open invoice; set `later_statuses` for paid or cancelled ones.
pub fn invoice(
    id: &str,
    account_id: &str,
    order_id: &str,
    value: &str,
    due_date: NaiveDate,
) -> NewInvoice {
    NewInvoice {
        id: id.into(),
        friendly_id: format!("F{}", id.replace('-', "")),
        account_id: account_id.into(),
        order_id: order_id.into(),
        installment: 1,
        number_of_installments: 1,
        value: money(value),
        currency: "BRL".into(),
        due_date,
        payment_link: None,
        observation: None,
        created_at: Utc::now().trunc_subsecs(6),
        later_statuses: vec![],
    }
}

pub fn with_status(mut new: NewInvoice, status: InvoiceStatus) -> NewInvoice {
    new.later_statuses
        .push((status, Utc::now().trunc_subsecs(6)));
    new
}

/// The `extensions.code` of every error in a response.
pub fn error_codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    e["extensions"]["code"]
                        .as_str()
                        .unwrap_or("<none>")
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// LibreOffice (`soffice`), when the machine has it; CI sets
/// `CREDIT_GATEWAY_REQUIRE_SOFFICE=1` to make its absence a failure.
pub fn soffice() -> Option<std::path::PathBuf> {
    let found = ["soffice", "libreoffice"].iter().find_map(|name| {
        std::process::Command::new("which")
            .arg(name)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().into())
    });
    if found.is_none() {
        assert!(
            std::env::var("CREDIT_GATEWAY_REQUIRE_SOFFICE").as_deref() != Ok("1"),
            "CREDIT_GATEWAY_REQUIRE_SOFFICE is set but LibreOffice is not installed"
        );
        eprintln!("*** LibreOffice is not installed: the spreadsheet check is SKIPPED");
    }
    found
}
