//! The command line: `serve` (the default), `migrate`, `token` and `schema`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::auth::{Principal, TokenKeys};
use crate::config::Config;

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
    /// Print the GraphQL schema (SDL).
    Schema,
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    crate::telemetry::init();
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
                (false, Some(account_id)) if crate::domain::check_id(&account_id).is_err() => {
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
    }
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

async fn serve(config: &Config, bind: &str, demo: bool) -> Result<(), crate::app::StartError> {
    let running = crate::app::start(config, bind, demo).await?;
    let url = format!("http://{}", running.addr);
    println!(
        "credit-gateway listening on {url} ({})",
        redact(&config.database_url)
    );
    println!("  GraphiQL:  {url}/graphql");
    if let Some(tokens) = &running.demo_tokens {
        println!("  Demo data is loaded; GraphiQL starts with the admin token below.");
        println!("  Admin token:\n    {}", tokens.admin);
        println!(
            "  Customer token (account {}):\n    {}",
            tokens.customer_account, tokens.customer
        );
        println!("  Try: curl -s {url}/graphql -H 'content-type: application/json' \\");
        println!(
            "         -H 'authorization: Bearer <token>' -d '{{\"query\":\"{{ invoices {{ totalCount }} }}\"}}'"
        );
    }
    tokio::select! {
        result = running.wait() => result?,
        _ = tokio::signal::ctrl_c() => eprintln!("shutting down"),
    }
    Ok(())
}
