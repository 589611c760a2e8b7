//! One CSV import: who, when, what file, and what it did.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "imports")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub file_name: String,
    pub actor: String,
    pub started_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
    pub dry_run: bool,
    pub rows_read: i64,
    pub rows_changed: i64,
    pub rows_unchanged: i64,
    pub rows_refused: i64,
    /// The refused rows, as a JSON array of `{line, column, code, message}`.
    pub errors: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
