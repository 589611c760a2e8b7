//! A URL that receives signed webhooks, and its place in the event feed.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub url: String,
    pub description: Option<String>,
    /// The event types it receives, as a JSON array of strings.
    pub event_types: String,
    pub enabled: bool,
    /// Why it was disabled: by an admin, or after failing for days.
    pub disabled_reason: Option<String>,
    /// The signing secret, `whsec_…` (never shown after creation).
    pub secret: String,
    /// The secret before the last rotation, which still signs until `previous_secret_until`.
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<DateTimeUtc>,
    /// Its place in the event feed (`domain::FeedPosition` as text).
    #[sea_orm(column_type = "Text")]
    pub position: String,
    /// The last finished import considered for `import.finished`: `finished_at|id`.
    pub imports_after: String,
    /// The instance delivering it, until `lease_until`.
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
