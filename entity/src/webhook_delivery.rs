//! One message for one endpoint: sent until the endpoint takes it, or given up.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub endpoint_id: String,
    /// The `webhook-id` the receiver dedupes on: the same on every attempt.
    pub message_id: String,
    pub event_type: String,
    /// The invoice it is about: deliveries of one invoice go out in order.
    pub invoice_id: Option<String>,
    /// The event's sequence (its order).
    pub seq: i64,
    /// The signed body, JSON.
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    /// `pending`, `queued` (behind an earlier delivery of its invoice), `delivered` or
    /// `failed` (given up).
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub delivered_at: Option<DateTimeUtc>,
    /// When it left the queue (null: pending from its creation).
    pub pending_since: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
