//! A due-date reminder sent: one per invoice and due date (a postponed invoice is
//! reminded again).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_reminders")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub invoice_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub due_date: Date,
    pub sent_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
