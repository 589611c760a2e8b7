//! One try at a delivery: what the receiver answered, and how fast.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_attempts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub delivery_id: String,
    pub attempted_at: DateTimeUtc,
    /// The HTTP status, when an answer came.
    pub status_code: Option<i32>,
    pub duration_ms: i64,
    /// The start of the answer's body (at most 1 KiB).
    #[sea_orm(column_type = "Text", nullable)]
    pub response: Option<String>,
    /// Why no answer came (refused, timed out, connection failed).
    pub error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
