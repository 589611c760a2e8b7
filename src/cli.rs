//! The command line: `serve` (the default), `migrate`, `import`, `export`, `token` and
//! `schema`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use std::path::PathBuf;
use std::time::Duration;

use crate::auth::{Principal, TokenKeys};
use crate::config::Config;
use crate::domain::{FilterText, Id, ImportState, InvoiceFilter};
use crate::service::{ImportOptions, SeedScale, UseCases};

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
    /// Write the invoices of a filter as CSV (the import template).
    Export {
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
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Create or revoke an integration's key pair for `X-VTEX-API-AppKey` and
    /// `X-VTEX-API-AppToken`.
    #[command(name = "api-key", subcommand)]
    ApiKey(ApiKeyCommand),
}

#[derive(Debug, Subcommand)]
enum ApiKeyCommand {
    /// Create a key pair; print its appKey, then its appToken, one per line (the token is
    /// shown this once).
    Create {
        /// What the key is for.
        #[arg(long)]
        name: String,
        /// What the key may do.
        #[arg(long, value_enum)]
        role: KeyRole,
    },
    /// Revoke a key by its id: its pair is refused from the next request on.
    Revoke {
        /// The key's id (as `apiKeys` lists it).
        id: String,
    },
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum KeyRole {
    /// Reads and changes every invoice.
    Admin,
    /// Reads every invoice, changes none.
    ReadOnly,
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    crate::telemetry::init(cli.config.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cli)) {
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
            print!("{}", crate::graphql::sdl());
            Ok(())
        }
        Command::ApiKey(command) => api_key(&config, command).await,
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
            let delimiter = if semicolon { b';' } else { b',' };
            export(&config, filter, delimiter, output).await
        }
    }
}

async fn api_key(config: &Config, command: ApiKeyCommand) -> Result<(), crate::app::StartError> {
    let gateway = open_gateway(config).await?;
    let refused = |refusal: crate::domain::Refusal| refusal.message;
    match command {
        ApiKeyCommand::Create { name, role } => {
            let role = match role {
                KeyRole::Admin => crate::domain::ApiKeyRole::Admin,
                KeyRole::ReadOnly => crate::domain::ApiKeyRole::ReadOnly,
            };
            let new = gateway
                .create_api_key(&operator(), &name, role)
                .await
                .map_err(|e| e.public_message())?
                .map_err(refused)?;
            eprintln!("created API key {} ({})", new.key.id, new.key.name);
            println!("{}\n{}", new.key.app_key, new.app_token);
        }
        ApiKeyCommand::Revoke { id } => {
            let id = Id::parse(id).map_err(|e| e.to_string())?;
            let key = gateway
                .revoke_api_key(&operator(), &id)
                .await
                .map_err(|e| e.public_message())?
                .map_err(refused)?;
            eprintln!("revoked API key {} ({})", key.id, key.name);
        }
    }
    Ok(())
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

async fn import(
    config: &Config,
    path: &std::path::Path,
    options: ImportOptions,
) -> Result<(), crate::app::StartError> {
    let file = open_seekable(path)?;
    let gateway = open_gateway(config).await?;
    let who = operator();
    let name = path
        .file_name()
        .map_or_else(|| "import.csv".into(), |n| n.to_string_lossy().into_owned());
    let tick = Duration::from_millis(200);
    let mut report = gateway
        .import_invoices(&who, file, &name, options, Some(tick))
        .await
        .map_err(|e| e.public_message())?;
    let bar = import_progress();
    let id = Id::parse(report.import.id.as_str())?;
    while report.import.state == ImportState::Running {
        draw_import(&bar, &report.import);
        tokio::time::sleep(tick).await;
        report.import = gateway
            .invoice_import(&who, &id)
            .await
            .map_err(|e| e.public_message())?
            .ok_or("the import vanished")?;
    }
    bar.finish_and_clear();
    let import = &report.import;
    let c = import.counts;
    eprintln!(
        "import {}: {} ({} rows read, {} changed, {} unchanged, {} refused)",
        import.id,
        import.state.as_str(),
        c.read,
        c.changed,
        c.unchanged,
        c.refused
    );
    if let Some(problem) = &import.problem {
        eprintln!("  {problem}");
    }
    const SHOWN: u64 = 50;
    // The file's own problem (line 0) is printed above already.
    for e in gateway
        .import_errors(&import.id, Some(0), SHOWN)
        .await
        .map_err(|e| e.public_message())?
    {
        let column = e.column.map(|c| format!(", {c}")).unwrap_or_default();
        eprintln!(
            "  line {}{column}: {} ({})",
            e.line,
            e.message,
            e.code.as_str()
        );
    }
    if c.refused > SHOWN {
        eprintln!(
            "  … and {} more (query invoiceImport(id: \"{}\") {{ errors }})",
            c.refused - SHOWN,
            import.id
        );
    }
    match import.state {
        ImportState::Applied | ImportState::Checked if c.refused == 0 => Ok(()),
        ImportState::Applied => Err("some rows were refused (the others were applied)".into()),
        ImportState::Checked => Err("rows would be refused (dry run: nothing was applied)".into()),
        ImportState::Rejected => Err("rows were refused, so nothing was applied".into()),
        _ => Err("the import failed; nothing was applied".into()),
    }
}

/// The file to import, readable twice (the import checks it, then reads it): a regular
/// file as it is; standard input (`-`) or a pipe copied to a temporary file first.
fn open_seekable(path: &std::path::Path) -> Result<std::fs::File, crate::app::StartError> {
    let cannot = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    let mut source: Box<dyn std::io::Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(path).map_err(cannot)?;
        if file.metadata().map_err(cannot)?.is_file() {
            return Ok(file);
        }
        Box::new(file)
    };
    let mut copy = tempfile::tempfile().map_err(cannot)?;
    std::io::copy(&mut source, &mut copy).map_err(cannot)?;
    Ok(copy)
}

/// A bar of `things` done out of all, with the rate and the time left.
fn bar_style(things: &str) -> indicatif::ProgressStyle {
    let template =
        format!("[{{bar:30}}] {{human_pos}}/{{human_len}} {things}, {{rate}}, {{eta}} left");
    indicatif::ProgressStyle::with_template(&template)
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .with_key(
            "rate",
            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0}/s", state.per_sec());
            },
        )
        .progress_chars("#>-")
}

/// The import's progress on standard error (indicatif draws only on a terminal): a
/// spinner while the file is checked, then rows read, with rate and time left.
fn import_progress() -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner().with_message("checking the file…");
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn draw_import(bar: &indicatif::ProgressBar, import: &crate::domain::InvoiceImport) {
    if let (Some(total), None) = (import.rows_total, bar.length()) {
        bar.set_length(total);
        bar.set_style(bar_style("rows"));
    }
    bar.set_position(import.counts.read);
}

async fn export(
    config: &Config,
    filter: InvoiceFilter,
    delimiter: u8,
    output: Option<PathBuf>,
) -> Result<(), crate::app::StartError> {
    use tokio::io::AsyncWriteExt;

    let gateway = open_gateway(config).await?;
    let mut chunks = gateway
        .export_invoices(&operator(), filter, delimiter)
        .map_err(|e| e.public_message())?;
    let mut out: Box<dyn tokio::io::AsyncWrite + Unpin + Send> = match &output {
        Some(path) => Box::new(
            tokio::fs::File::create(path)
                .await
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?,
        ),
        None => Box::new(tokio::io::stdout()),
    };
    while let Some(chunk) = chunks.recv().await {
        let chunk = chunk.map_err(|e| e.public_message())?;
        out.write_all(&chunk).await?;
    }
    out.flush().await?;
    Ok(())
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

async fn serve(config: &Config, bind: &str, demo: bool) -> Result<(), crate::app::StartError> {
    let running = crate::app::start(config, bind, demo).await?;
    // Ctrl-C is listened for before the gateway says it is up, so that a signal right
    // after the announcement stops it cleanly rather than abruptly.
    // SIGTERM too: what Docker, Kubernetes and systemd send to stop a service.
    #[cfg(unix)]
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    #[cfg(unix)]
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let url = format!("http://{}", running.addr);
    say!(
        "credit-gateway listening on {url} ({})",
        redact(&config.database_url)
    );
    say!("  GraphiQL:  {url}/graphql");
    if let Some(tokens) = &running.demo_tokens {
        say!("  Demo data is loaded; GraphiQL starts with the admin token below.");
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
    #[cfg(unix)]
    let stop = async {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    };
    #[cfg(not(unix))]
    let stop = tokio::signal::ctrl_c();
    tokio::select! {
        result = running.wait() => result?,
        _ = stop => tracing::info!("shutting down"),
    }
    Ok(())
}
