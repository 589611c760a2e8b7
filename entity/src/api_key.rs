//! An integration's key pair for the Customer Credit API's `X-VTEX-API-AppKey` and
//! `X-VTEX-API-AppToken` headers.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    /// `admin` or `read_only`.
    pub role: String,
    /// The public half of the pair, sent as `X-VTEX-API-AppKey`.
    #[sea_orm(unique)]
    pub app_key: String,
    /// The SHA-256 digest of the token, in lowercase hex: the token itself is never kept.
    pub token_digest: String,
    pub created_at: DateTimeUtc,
    /// The subject of the administrator who created it.
    pub created_by: String,
    pub last_used_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
