//! Integrations' API keys.

use chrono::{DateTime, Utc};
use entity::api_key;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::{Store, StoreError, StoreResult};
use crate::domain::{ApiKey, ApiKeyRole};

use api_key::Column as C;

fn to_domain(row: api_key::Model) -> StoreResult<(ApiKey, String)> {
    let role = ApiKeyRole::parse(&row.role)
        .ok_or_else(|| StoreError::Corrupt(format!("API key role `{}`", row.role)))?;
    let key = ApiKey {
        id: row.id,
        name: row.name,
        role,
        app_key: row.app_key,
        created_at: row.created_at,
        created_by: row.created_by,
        last_used_at: row.last_used_at,
        revoked_at: row.revoked_at,
    };
    Ok((key, row.token_digest))
}

impl Store {
    pub async fn insert_api_key(&self, key: &ApiKey, token_digest: &str) -> StoreResult<()> {
        api_key::Entity::insert(api_key::ActiveModel {
            id: Set(key.id.clone()),
            name: Set(key.name.clone()),
            role: Set(key.role.as_str().to_owned()),
            app_key: Set(key.app_key.clone()),
            token_digest: Set(token_digest.to_owned()),
            created_at: Set(key.created_at),
            created_by: Set(key.created_by.clone()),
            last_used_at: Set(None),
            revoked_at: Set(None),
        })
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }

    /// The keys not revoked, oldest first.
    pub async fn live_api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        api_key::Entity::find()
            .filter(C::RevokedAt.is_null())
            .order_by_asc(C::CreatedAt)
            .order_by_asc(C::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| to_domain(row).map(|(key, _)| key))
            .collect()
    }

    /// The live key with this public half, and its token's digest.
    pub async fn live_api_key(&self, app_key: &str) -> StoreResult<Option<(ApiKey, String)>> {
        api_key::Entity::find()
            .filter(C::AppKey.eq(app_key))
            .filter(C::RevokedAt.is_null())
            .one(&self.db)
            .await?
            .map(to_domain)
            .transpose()
    }

    /// Revokes a live key; `None` when there is no live key with this id.
    pub async fn revoke_api_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<Option<ApiKey>> {
        let revoked = api_key::Entity::update_many()
            .col_expr(C::RevokedAt, Expr::value(at))
            .filter(C::Id.eq(id))
            .filter(C::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        if revoked.rows_affected == 0 {
            return Ok(None);
        }
        api_key::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(|row| to_domain(row).map(|(key, _)| key))
            .transpose()
    }

    /// Records a use of the key, unless one at or after `since` is recorded already.
    pub async fn touch_api_key(
        &self,
        id: &str,
        at: DateTime<Utc>,
        since: DateTime<Utc>,
    ) -> StoreResult<()> {
        api_key::Entity::update_many()
            .col_expr(C::LastUsedAt, Expr::value(at))
            .filter(C::Id.eq(id))
            .filter(C::LastUsedAt.is_null().or(C::LastUsedAt.lt(since)))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}
