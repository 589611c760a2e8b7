//! One CSV import: who, when, what file, how it went, and its counts. Refused rows are in
//! `import_errors`.
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
    /// Last sign of life of a running import (PostgreSQL), so that other instances can
    /// tell an import still running from one whose process died.
    pub heartbeat_at: Option<DateTimeUtc>,
    pub dry_run: bool,
    pub apply_valid_rows: bool,
    /// `RUNNING`, `APPLIED`, `REJECTED`, `CHECKED` or `FAILED`.
    pub state: String,
    pub rows_total: Option<i64>,
    pub rows_read: i64,
    pub rows_changed: i64,
    pub rows_unchanged: i64,
    pub rows_refused: i64,
    /// What was wrong with the file as a whole, or why the import failed.
    pub problem: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
