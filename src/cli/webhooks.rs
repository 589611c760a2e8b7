//! `credit-gateway webhook create|list|rotate|delete`: webhook endpoints, from scripts.

use clap::Subcommand;

use super::{open_gateway, operator};
use crate::config::Config;
use crate::domain::{Id, Refusal};

#[derive(Debug, Subcommand)]
pub(super) enum WebhookCommand {
    /// Register an endpoint; print its id, then its signing secret, one per line (the
    /// secret is shown this once).
    Create {
        /// Where deliveries are POSTed (https; http only for allow-listed hosts).
        #[arg(long)]
        url: String,
        /// The event types it receives, comma-separated (`invoice.paid,invoice.cancelled`).
        #[arg(long, value_delimiter = ',', required = true)]
        events: Vec<String>,
        /// What it is for.
        #[arg(long)]
        description: Option<String>,
    },
    /// List the endpoints: id, enabled, event types and URL, one per line.
    List,
    /// A new signing secret (printed this once); the previous one signs too for 24 hours.
    Rotate {
        /// The endpoint's id.
        id: String,
    },
    /// Delete an endpoint with its deliveries.
    Delete {
        /// The endpoint's id.
        id: String,
    },
}

pub(super) async fn webhook(
    config: &Config,
    command: WebhookCommand,
) -> Result<(), crate::app::StartError> {
    let gateway = open_gateway(config).await?;
    let who = operator();
    let refused = |refusal: Refusal| refusal.message;
    let id = |text: String| Id::parse(text).map_err(|e| e.to_string());
    match command {
        WebhookCommand::Create {
            url,
            events,
            description,
        } => {
            let new = gateway
                .create_webhook_endpoint(&who, &url, &events, description)
                .await
                .map_err(|e| e.public_message())?
                .map_err(refused)?;
            eprintln!(
                "registered webhook endpoint {} ({})",
                new.endpoint.id, new.endpoint.url
            );
            println!("{}\n{}", new.endpoint.id, new.secret.as_str());
        }
        WebhookCommand::List => {
            for endpoint in gateway
                .webhook_endpoints(&who)
                .await
                .map_err(|e| e.public_message())?
            {
                let types: Vec<&str> = endpoint.event_types.iter().map(|t| t.as_str()).collect();
                let state = if endpoint.enabled {
                    "enabled"
                } else {
                    "disabled"
                };
                println!(
                    "{}\t{state}\t{}\t{}",
                    endpoint.id,
                    types.join(","),
                    endpoint.url
                );
            }
        }
        WebhookCommand::Rotate { id: text } => {
            let rotated = gateway
                .rotate_webhook_secret(&who, &id(text)?)
                .await
                .map_err(|e| e.public_message())?
                .map_err(refused)?;
            eprintln!("rotated the secret of {}", rotated.endpoint.id);
            println!("{}", rotated.secret.as_str());
        }
        WebhookCommand::Delete { id: text } => {
            let endpoint = id(text)?;
            gateway
                .delete_webhook_endpoint(&who, &endpoint)
                .await
                .map_err(|e| e.public_message())?
                .map_err(refused)?;
            eprintln!("deleted webhook endpoint {endpoint}");
        }
    }
    Ok(())
}
