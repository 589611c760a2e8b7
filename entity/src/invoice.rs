//! One installment of a billed order.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invoices")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub friendly_id: String,
    pub account_id: String,
    pub order_id: String,
    pub installment: i32,
    pub number_of_installments: i32,
    pub value_units: i64,
    pub currency: String,
    pub original_due_date: Date,
    pub due_date: Date,
    /// The persisted status; an `OPEN` row past its due date reads as `OVERDUE`.
    pub status: String,
    pub payment_link: Option<String>,
    pub observation: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub resolved_at: Option<DateTimeUtc>,
    pub version: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
