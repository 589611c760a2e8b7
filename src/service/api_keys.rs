//! Integrations' API keys: created and revoked by administrators, presented as VTEX's
//! `X-VTEX-API-AppKey` and `X-VTEX-API-AppToken` headers. Only a digest of the token
//! is kept, and the token is shown once, when the key is created.

use chrono::{SubsecRound, Utc};

use super::{AppError, UseCases};
use crate::auth::{API_KEY_SUBJECT, Principal, new_key_pair, same_digest, token_digest};
use crate::domain::{ApiKey, ApiKeyRole, Id, MAX_KEY_NAME, Refusal, RefusalCode};

/// A new key and its token, which nothing can show again.
pub struct NewApiKey {
    pub key: ApiKey,
    pub app_token: String,
}

/// How often a key's last use is written, at most.
const LAST_USED_GRAIN: chrono::Duration = chrono::Duration::minutes(1);

/// Compared with when the app key is unknown, so that an unknown key and a wrong token
/// take the same work.
const NO_DIGEST: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn administrators_only(who: &Principal) -> Result<(), AppError> {
    if who.manages_api_keys() {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "only administrators, signed in with a bearer token, manage API keys".into(),
        ))
    }
}

impl UseCases {
    pub async fn create_api_key(
        &self,
        who: &Principal,
        name: &str,
        role: ApiKeyRole,
    ) -> Result<Result<NewApiKey, Refusal>, AppError> {
        administrators_only(who)?;
        let name = name.trim();
        if name.is_empty() || name.chars().any(char::is_control) {
            return Ok(Err(Refusal::of(
                RefusalCode::InvalidInput,
                "name",
                "the name must be a non-blank line of text",
            )));
        }
        if name.chars().count() > MAX_KEY_NAME {
            return Ok(Err(Refusal::of(
                RefusalCode::TooLong,
                "name",
                format!("the name is longer than {MAX_KEY_NAME} characters"),
            )));
        }
        let (app_key, app_token) = new_key_pair();
        let key = ApiKey {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_owned(),
            role,
            app_key,
            created_at: Utc::now().trunc_subsecs(6),
            created_by: who.subject().to_owned(),
            last_used_at: None,
            revoked_at: None,
        };
        self.store
            .insert_api_key(&key, &token_digest(&app_token))
            .await?;
        tracing::info!(
            api_key.id = %key.id,
            api_key.role = key.role.as_str(),
            actor.subject = who.subject(),
            "API key created"
        );
        Ok(Ok(NewApiKey { key, app_token }))
    }

    /// Revokes a key: from now on, on every instance, its pair is refused.
    pub async fn revoke_api_key(
        &self,
        who: &Principal,
        id: &Id,
    ) -> Result<Result<ApiKey, Refusal>, AppError> {
        administrators_only(who)?;
        let revoked = self
            .store
            .revoke_api_key(id, Utc::now().trunc_subsecs(6))
            .await?;
        Ok(revoked.ok_or_else(|| {
            Refusal::of(
                RefusalCode::NotFound,
                "id",
                format!("no live API key `{id}`"),
            )
        }))
    }

    /// The keys not revoked, oldest first.
    pub async fn api_keys(&self, who: &Principal) -> Result<Vec<ApiKey>, AppError> {
        administrators_only(who)?;
        Ok(self.store.live_api_keys().await?)
    }

    /// The principal of a live key pair. The token is compared by digest in constant
    /// time, and an unknown app key costs the same comparison as a wrong token.
    pub async fn authenticate_api_key(
        &self,
        app_key: &str,
        app_token: &str,
    ) -> Result<Principal, AppError> {
        let refused = || AppError::Unauthenticated("the app key and token are not valid".into());
        // A malformed app key is no key: it costs the same comparison as an unknown one.
        let found = match Id::parse(app_key) {
            Ok(app_key) => self.store.live_api_key(&app_key).await?,
            Err(_) => None,
        };
        let presented = token_digest(app_token);
        let (key, digest) = match &found {
            Some((key, digest)) => (Some(key), digest.as_str()),
            None => (None, NO_DIGEST),
        };
        let matches = same_digest(&presented, digest);
        let Some(key) = key.filter(|_| matches) else {
            return Err(refused());
        };
        let now = Utc::now().trunc_subsecs(6);
        if key.last_used_at.is_none_or(|t| now - t >= LAST_USED_GRAIN) {
            // Best effort: a busy database (SQLite during an import) delays the record of
            // a use, never the request.
            if let Err(e) = self
                .store
                .touch_api_key(&key.id, now, now - LAST_USED_GRAIN)
                .await
            {
                tracing::warn!(api_key.id = %key.id, error.detail = %e, "could not record an API key's use");
            }
        }
        let subject = format!("{API_KEY_SUBJECT}{}", key.id);
        Ok(match key.role {
            ApiKeyRole::Admin => Principal::Admin { subject },
            ApiKeyRole::ReadOnly => Principal::Reader { subject },
        })
    }
}
