//! `credit-gateway api-key create|revoke`: key pairs for integrations, from scripts.

use clap::Subcommand;

use super::{open_gateway, operator};
use crate::config::Config;
use crate::domain::Id;

#[derive(Debug, Subcommand)]
pub(super) enum ApiKeyCommand {
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
pub(super) enum KeyRole {
    /// Reads and changes every invoice.
    Admin,
    /// Reads every invoice, changes none.
    ReadOnly,
}
pub(super) async fn api_key(
    config: &Config,
    command: ApiKeyCommand,
) -> Result<(), crate::app::StartError> {
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
