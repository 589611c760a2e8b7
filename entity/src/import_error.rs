//! One refused row of a CSV import.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "import_errors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub import_id: String,
    /// The line of the file where the row starts (the header is line 1).
    #[sea_orm(primary_key, auto_increment = false)]
    pub line: i64,
    /// The template column at fault, when one is.
    pub column: Option<String>,
    pub code: String,
    pub message: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
