//! The append-only audit trail and outbox of invoice changes.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invoice_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    pub invoice_id: String,
    pub status_from: Option<String>,
    pub status_to: Option<String>,
    pub payment_link_from: Option<String>,
    pub payment_link_to: Option<String>,
    pub observation_from: Option<String>,
    pub observation_to: Option<String>,
    pub due_date_from: Option<Date>,
    pub due_date_to: Option<Date>,
    pub reason: Option<String>,
    pub actor: String,
    pub source: String,
    pub import_id: Option<String>,
    pub occurred_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
