//! A customer's credit account.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub document: String,
    pub document_type: String,
    pub name: String,
    pub email: String,
    pub currency: String,
    pub credit_limit_units: i64,
    /// Ten-thousandths, like money: 3000 is 0.30.
    pub tolerance_units: i64,
    pub status: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Increments on every write of the account.
    pub version: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
