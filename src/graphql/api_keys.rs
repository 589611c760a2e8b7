//! Integrations' API keys over GraphQL: `createApiKey` (the token is shown this once),
//! `revokeApiKey` and `apiKeys`. Administrators only.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::error::GqlResult;
use super::error::UserError;
use super::principal;
use crate::domain::{self, Id, Refusal};
use crate::service::UseCases;

/// What a key may do.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::domain::ApiKeyRole")]
pub enum ApiKeyRole {
    /// Reads and changes every invoice, as an administrator.
    Admin,
    /// Reads every invoice; every change is refused with 403 (`FORBIDDEN`).
    ReadOnly,
}

pub struct ApiKey(domain::ApiKey);

/// An integration's key pair for the Customer Credit REST API (`X-VTEX-API-AppKey` and
/// `X-VTEX-API-AppToken`), also accepted on `/graphql`. Its token is never shown again.
#[Object]
impl ApiKey {
    /// The key's id, for `revokeApiKey`.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// What the key is for, as its creator named it.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// What the key may do.
    async fn role(&self) -> ApiKeyRole {
        self.0.role.into()
    }

    /// The public half of the pair, sent as `X-VTEX-API-AppKey`.
    async fn app_key(&self) -> &str {
        &self.0.app_key
    }

    /// When the key was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// Who created it (the administrator's subject).
    async fn created_by(&self) -> &str {
        &self.0.created_by
    }

    /// When the key was last used, to the minute; null if never.
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_used_at
    }

    /// When the key was revoked; null while it is live.
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
}

#[derive(Default)]
pub struct ApiKeyQuery;

#[Object]
impl ApiKeyQuery {
    /// The live API keys, oldest first, without their tokens (administrators only).
    async fn api_keys(&self, ctx: &Context<'_>) -> GqlResult<Vec<ApiKey>> {
        let keys = ctx
            .data_unchecked::<UseCases>()
            .api_keys(principal(ctx)?)
            .await?;
        Ok(keys.into_iter().map(ApiKey).collect())
    }
}

/// A new key pair.
#[derive(InputObject)]
pub struct CreateApiKeyInput {
    /// What the key is for (the integration's name): 1 to 100 characters.
    name: String,
    /// What the key may do.
    role: ApiKeyRole,
}

/// The new key and, this once, its pair.
#[derive(SimpleObject)]
pub struct CreateApiKeyPayload {
    /// The key; null when it was refused.
    api_key: Option<ApiKey>,
    /// Send as `X-VTEX-API-AppKey`; null when refused.
    app_key: Option<String>,
    /// Send as `X-VTEX-API-AppToken`: shown this once and never again (only a digest is
    /// kept); null when refused.
    app_token: Option<String>,
    /// Why the key was not created; empty when it was.
    user_errors: Vec<UserError>,
}

/// The key to revoke.
#[derive(InputObject)]
pub struct RevokeApiKeyInput {
    /// The key's id (`ApiKey.id`).
    id: ID,
}

/// The revoked key.
#[derive(SimpleObject)]
pub struct RevokeApiKeyPayload {
    /// The key, now revoked; null when refused.
    api_key: Option<ApiKey>,
    /// Why nothing was revoked; empty when the key was.
    user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct ApiKeyMutation;

#[Object]
impl ApiKeyMutation {
    /// Creates a key pair for an integration (administrators only). The token is in this
    /// answer and nowhere else: store it now.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new key.")] input: CreateApiKeyInput,
    ) -> GqlResult<CreateApiKeyPayload> {
        let created = ctx
            .data_unchecked::<UseCases>()
            .create_api_key(principal(ctx)?, &input.name, input.role.into())
            .await?;
        Ok(match created {
            Ok(new) => CreateApiKeyPayload {
                app_key: Some(new.key.app_key.clone()),
                app_token: Some(new.app_token),
                api_key: Some(ApiKey(new.key)),
                user_errors: vec![],
            },
            Err(refusal) => CreateApiKeyPayload {
                api_key: None,
                app_key: None,
                app_token: None,
                user_errors: vec![refusal.into()],
            },
        })
    }

    /// Revokes a key: every instance refuses its pair from the next request on
    /// (administrators only).
    async fn revoke_api_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The key to revoke.")] input: RevokeApiKeyInput,
    ) -> GqlResult<RevokeApiKeyPayload> {
        let who = principal(ctx)?;
        let revoked = match Id::parse(input.id.0) {
            Ok(id) => {
                ctx.data_unchecked::<UseCases>()
                    .revoke_api_key(who, &id)
                    .await?
            }
            Err(e) => Err(Refusal::invalid_id(e)),
        };
        Ok(match revoked {
            Ok(key) => RevokeApiKeyPayload {
                api_key: Some(ApiKey(key)),
                user_errors: vec![],
            },
            Err(refusal) => RevokeApiKeyPayload {
                api_key: None,
                user_errors: vec![refusal.into()],
            },
        })
    }
}
