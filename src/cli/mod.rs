//! The command line: `serve` (the default), `migrate`, `seed`, `import`, `export` (in
//! `files.rs`), `token`, `schema`, `api-key` (in `keys.rs`) and `webhook` (in `webhooks.rs`).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use std::path::PathBuf;

use crate::auth::{Principal, TokenKeys};
use crate::config::Config;
use crate::domain::{FilterText, Id};
use crate::service::{ImportOptions, SeedScale, UseCases};

mod files;
mod keys;
mod webhooks;

use self::files::{bar_style, export, import};
use self::keys::{ApiKeyCommand, api_key};
use self::webhooks::{WebhookCommand, webhook};

/// A GraphQL gateway for customer-credit invoices.
#[derive(Debug, Parser)]
#[command(name = "credit-gateway", version, about)]
pub struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Migrate the database, then serve the API (the default command).
    Serve {
        /// Fill an empty database with a demo store and print ready-made tokens.
        #[arg(long)]
        demo: bool,
        /// Address to listen on.
        #[arg(long, env = "CREDIT_GATEWAY_BIND", default_value = "127.0.0.1:8000")]
        bind: String,
    },
    /// Create or update the database schema, then exit.
    Migrate,
    /// Print a bearer token signed with the configured secret.
    Token {
        /// A token for an administrator.
        #[arg(long, conflicts_with = "account", required_unless_present = "account")]
        admin: bool,
        /// A token for the customer of this credit account.
        #[arg(long)]
        account: Option<String>,
        /// The token's subject (recorded as the actor of changes).
        #[arg(long)]
        subject: Option<String>,
        /// Hours until the token expires (at most ten years).
        #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(i64).range(1..=87_600))]
        ttl_hours: i64,
    },
    /// Apply a CSV file of the invoice template (like `importInvoicesCsv`, as an admin).
    Import {
        /// The CSV file (`-` for standard input).
        file: PathBuf,
        /// Check every row and report what would change; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Apply the valid rows even if others are refused (default: all or nothing).
        #[arg(long)]
        apply_valid_rows: bool,
    },
    /// Write the invoices of a filter as CSV or as a workbook (the import template).
    Export {
        /// `csv`, or `xlsx` for a workbook (header frozen and filtered, dates as dates,
        /// ids as text, the status as a list).
        #[arg(long, default_value = "csv", value_parser = ["csv", "xlsx"])]
        format: String,
        /// Only invoices with this status (OPEN, PAID, CANCELLED, OVERDUE).
        #[arg(long)]
        status: Option<String>,
        /// Only the invoices of this order.
        #[arg(long)]
        order_id: Option<String>,
        /// Only the invoices of this account.
        #[arg(long)]
        account_id: Option<String>,
        /// Only invoices due on or after this date (YYYY-MM-DD).
        #[arg(long)]
        due_from: Option<String>,
        /// Only invoices due on or before this date (YYYY-MM-DD).
        #[arg(long)]
        due_to: Option<String>,
        /// Separate cells with `;` (for spreadsheets in comma-decimal locales).
        #[arg(long)]
        semicolon: bool,
        /// Write to this file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Fill an empty database with a synthetic store (for benchmarks).
    Seed {
        /// Accounts to create.
        #[arg(long, default_value_t = 100_000)]
        accounts: u64,
        /// Orders to create (billed ones get one to three installments each).
        #[arg(long, default_value_t = 1_000_000)]
        orders: u64,
        /// Invoices to create.
        #[arg(long, default_value_t = 1_000_000)]
        invoices: u64,
    },
    /// Print the GraphQL schema (SDL); with `CREDIT_GATEWAY_FEDERATION=true`, the
    /// subgraph's SDL, with its federation directives, as `_service` answers it.
    Schema,
    /// Create or revoke an integration's key pair for `X-VTEX-API-AppKey` and
    /// `X-VTEX-API-AppToken`.
    #[command(name = "api-key", subcommand)]
    ApiKey(ApiKeyCommand),
    /// Register, list, rotate or delete webhook endpoints.
    #[command(subcommand)]
    Webhook(WebhookCommand),
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = crate::telemetry::init(cli.config.log_format) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(execute(cli));
    // The spans still buffered go out before the process ends.
    crate::telemetry::traces::flush();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(cli: Cli) -> Result<(), crate::app::StartError> {
    let config = cli.config;
    match cli.command.unwrap_or(Command::Serve {
        demo: false,
        bind: default_bind(),
    }) {
        Command::Serve { demo, bind } => serve(&config, &bind, demo).await,
        Command::Migrate => {
            crate::app::open_store(&config).await?;
            eprintln!("migrated {}", redact(&config.database_url));
            Ok(())
        }
        Command::Token {
            admin,
            account,
            subject,
            ttl_hours,
        } => {
            let keys = TokenKeys::new(&config.resolve_secret()?);
            let principal = match (admin, account) {
                (true, _) => Principal::Admin {
                    subject: subject.unwrap_or_else(|| "admin".into()),
                },
                (false, Some(account_id)) if Id::parse(account_id.as_str()).is_err() => {
                    return Err(format!("`{account_id}` is not an account id").into());
                }
                (false, Some(account_id)) => Principal::Customer {
                    subject: subject.unwrap_or_else(|| format!("customer:{account_id}")),
                    account_id,
                },
                (false, None) => return Err("give --admin or --account ID".into()),
            };
            println!(
                "{}",
                keys.mint(&principal, chrono::Duration::hours(ttl_hours))
            );
            Ok(())
        }
        Command::Schema => {
            print!("{}", crate::graphql::sdl(config.federation));
            Ok(())
        }
        Command::ApiKey(command) => api_key(&config, command).await,
        Command::Webhook(command) => webhook(&config, command).await,
        Command::Seed {
            accounts,
            orders,
            invoices,
        } => {
            let gateway = open_gateway(&config).await?;
            let started = std::time::Instant::now();
            let scale = SeedScale {
                accounts,
                orders,
                invoices,
            };
            let bar = indicatif::ProgressBar::new(invoices).with_style(bar_style("invoices"));
            gateway
                .seed(scale, |written| bar.set_position(written))
                .await
                .map_err(|e| e.public_message())?;
            bar.finish_and_clear();
            eprintln!(
                "seeded {invoices} invoices in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Import {
            file,
            dry_run,
            apply_valid_rows,
        } => {
            let options = ImportOptions {
                dry_run,
                apply_valid_rows,
            };
            import(&config, &file, options).await
        }
        Command::Export {
            format,
            status,
            order_id,
            account_id,
            due_from,
            due_to,
            semicolon,
            output,
        } => {
            let filter = FilterText {
                status,
                order_id,
                account_id,
                due_from,
                due_to,
            }
            .read()?;
            let form = match (format.as_str(), semicolon) {
                ("xlsx", true) => return Err("--semicolon is for CSV only".into()),
                ("xlsx", false) => None,
                (_, true) => Some(b';'),
                (_, false) => Some(b','),
            };
            export(&config, filter, form, output).await
        }
    }
}

/// The administrator a command runs as: `cli:` and the system user.
fn operator() -> Principal {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    Principal::Admin {
        subject: format!("cli:{user}"),
    }
}

async fn open_gateway(config: &Config) -> Result<UseCases, crate::app::StartError> {
    let store = crate::app::open_store(config).await?;
    // The command line hands out no cursors: any secret seals them.
    Ok(crate::app::gateway(
        store,
        config,
        &crate::auth::random_secret(),
    ))
}

fn default_bind() -> String {
    std::env::var("CREDIT_GATEWAY_BIND").unwrap_or_else(|_| "127.0.0.1:8000".into())
}

/// The database URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{}{user}{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// `println!` that ignores a closed standard output (`serve | head -3`): the gateway
/// serves on whether or not anyone reads its announcement.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// The signals that stop `serve`: Ctrl-C, and SIGTERM (what Docker, Kubernetes and
/// systemd send to stop a service).
struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn listen() -> std::io::Result<StopSignals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(StopSignals {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(StopSignals {})
    }

    /// The next of them.
    async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn serve(config: &Config, bind: &str, demo: bool) -> Result<(), crate::app::StartError> {
    let mut running = crate::app::start(config, bind, demo).await?;
    // Ctrl-C is listened for before the gateway says it is up, so that a signal right
    // after the announcement stops it cleanly rather than abruptly.
    let mut signals = StopSignals::listen()?;
    let url = format!("http://{}", running.addr);
    say!(
        "credit-gateway listening on {url} ({})",
        redact(&config.database_url)
    );
    say!("  Console (admins):        {url}/console");
    say!("  My Credits (customers):  {url}/my-credits");
    say!("  GraphiQL:                {url}/graphql");
    if let Some(tokens) = &running.demo_tokens {
        say!("  Demo data is loaded: the pages sign in as the demo admin or customer in one");
        say!("  click, and GraphiQL starts with the admin token below.");
        say!("  Admin token:\n    {}", tokens.admin);
        say!(
            "  Customer token (account {}):\n    {}",
            tokens.customer_account,
            tokens.customer
        );
        say!("  Try: curl -s {url}/graphql -H 'content-type: application/json' \\");
        say!(
            "         -H 'authorization: Bearer <token>' -d '{{\"query\":\"{{ invoices {{ totalCount }} }}\"}}'"
        );
    }
    let stopped = tokio::select! {
        result = running.serving() => { result?; false }
        _ = signals.next() => true,
    };
    if stopped {
        tracing::info!("shutting down");
        // A second signal ends at once, whatever is still in flight.
        tokio::select! {
            result = running.stop() => result?,
            _ = signals.next() => tracing::warn!("stopped before the requests in flight finished"),
        }
    }
    Ok(())
}
