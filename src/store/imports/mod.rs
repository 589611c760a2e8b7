//! CSV imports in the database: each import's record and refused rows (its history),
//! which outlive the import's transaction (a rejected import rolls back its changes but
//! keeps its report), and that transaction itself (`txn`), with its temporary tables
//! (`tables`).

mod tables;
mod txn;

use chrono::{DateTime, Utc};
use entity::{import, import_error};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

pub use txn::{ImportTxn, Staged};

use super::{Store, StoreError, StoreResult, wire_chunks};
use crate::domain::{Code, ImportCounts, ImportState, InvoiceImport, RowError};

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store {
    /// Records an import as it starts, so that its history shows it while it runs.
    pub async fn record_import(&self, record: &InvoiceImport) -> StoreResult<()> {
        import::Entity::insert(import::ActiveModel {
            id: Set(record.id.clone()),
            file_name: Set(record.file_name.clone()),
            actor: Set(record.actor.clone()),
            started_at: Set(record.started_at),
            finished_at: Set(record.finished_at),
            heartbeat_at: Set(record.heartbeat_at),
            dry_run: Set(record.dry_run),
            apply_valid_rows: Set(record.apply_valid_rows),
            state: Set(record.state.as_str().to_owned()),
            rows_total: Set(record.rows_total.map(count)),
            rows_read: Set(count(record.counts.read)),
            rows_changed: Set(count(record.counts.changed)),
            rows_unchanged: Set(count(record.counts.unchanged)),
            rows_refused: Set(count(record.counts.refused)),
            problem: Set(record.problem.clone()),
        })
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }

    /// Updates an import's state, counts and problem, in `txn` when given (so that an
    /// applied import's record commits with its changes).
    pub async fn update_import(
        &self,
        record: &InvoiceImport,
        txn: Option<&ImportTxn>,
    ) -> StoreResult<()> {
        let update = import::Entity::update_many()
            .col_expr(import::Column::State, Expr::value(record.state.as_str()))
            .col_expr(import::Column::FinishedAt, Expr::value(record.finished_at))
            .col_expr(import::Column::HeartbeatAt, Expr::value(Utc::now()))
            .col_expr(
                import::Column::RowsTotal,
                Expr::value(record.rows_total.map(count)),
            )
            .col_expr(
                import::Column::RowsRead,
                Expr::value(count(record.counts.read)),
            )
            .col_expr(
                import::Column::RowsChanged,
                Expr::value(count(record.counts.changed)),
            )
            .col_expr(
                import::Column::RowsUnchanged,
                Expr::value(count(record.counts.unchanged)),
            )
            .col_expr(
                import::Column::RowsRefused,
                Expr::value(count(record.counts.refused)),
            )
            .col_expr(import::Column::Problem, Expr::value(record.problem.clone()))
            .filter(import::Column::Id.eq(record.id.as_str()));
        match txn {
            Some(txn) => update.exec(&txn.txn).await?,
            None => update.exec(&self.db).await?,
        };
        Ok(())
    }

    /// Stores refused rows of an import (at most [`super::MAX_CHANGES_PER_WRITE`] at a time).
    pub async fn record_import_errors(
        &self,
        import_id: &str,
        errors: &[RowError],
        txn: Option<&ImportTxn>,
    ) -> StoreResult<()> {
        let size = |e: &RowError| import_id.len() + e.message.len() + 60;
        for errors in wire_chunks(errors, size) {
            let insert = import_error::Entity::insert_many(errors.iter().map(|e| {
                import_error::ActiveModel {
                    import_id: Set(import_id.to_owned()),
                    line: Set(count(e.line)),
                    column: Set(e.column.clone()),
                    code: Set(e.code.as_str().to_owned()),
                    message: Set(e.message.clone()),
                }
            }))
            .on_conflict(
                OnConflict::columns([import_error::Column::ImportId, import_error::Column::Line])
                    .do_nothing()
                    .to_owned(),
            );
            match txn {
                Some(txn) => insert.exec_without_returning(&txn.txn).await?,
                None => insert.exec_without_returning(&self.db).await?,
            };
        }
        Ok(())
    }

    pub async fn import(&self, id: &str) -> StoreResult<Option<InvoiceImport>> {
        import::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(import_record)
            .transpose()
    }

    /// Imports newest first, after the one started at `after` (a keyset on start time
    /// and id).
    pub async fn imports(
        &self,
        after: Option<(DateTime<Utc>, String)>,
        limit: u64,
    ) -> StoreResult<Vec<InvoiceImport>> {
        use import::Column as C;
        let mut query = import::Entity::find();
        if let Some((started, id)) = after {
            query = query.filter(
                sea_orm::Condition::any().add(C::StartedAt.lt(started)).add(
                    sea_orm::Condition::all()
                        .add(C::StartedAt.eq(started))
                        .add(C::Id.lt(id)),
                ),
            );
        }
        query
            .order_by_desc(C::StartedAt)
            .order_by_desc(C::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(import_record)
            .collect()
    }

    /// Refused rows of an import in line order, after line `after`.
    pub async fn import_errors(
        &self,
        import_id: &str,
        after: Option<u64>,
        limit: u64,
    ) -> StoreResult<Vec<RowError>> {
        let mut query =
            import_error::Entity::find().filter(import_error::Column::ImportId.eq(import_id));
        if let Some(after) = after {
            query = query.filter(import_error::Column::Line.gt(count(after)));
        }
        let rows = query
            .order_by_asc(import_error::Column::Line)
            .limit(limit)
            .all(&self.db)
            .await?;
        rows.into_iter()
            .map(|row| {
                Ok(RowError {
                    line: u64::try_from(row.line).unwrap_or(0),
                    code: Code::parse(&row.code).ok_or_else(|| {
                        StoreError::Corrupt(format!("import error code `{}`", row.code))
                    })?,
                    column: row.column,
                    message: row.message,
                })
            })
            .collect()
    }

    /// Marks the sign of life of a running import (PostgreSQL only: on SQLite the import
    /// holds the write lock, and only this process can be running it).
    pub async fn import_heartbeat(&self, id: &str, counts: ImportCounts) -> StoreResult<()> {
        if self.db.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        import::Entity::update_many()
            .col_expr(import::Column::HeartbeatAt, Expr::value(Utc::now()))
            .col_expr(import::Column::RowsRead, Expr::value(count(counts.read)))
            .filter(import::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Imports that finished after `(after, after_id)` (a keyset on finish time and id)
    /// and at most at `before`, oldest first.
    pub async fn finished_imports(
        &self,
        (after, after_id): (DateTime<Utc>, &str),
        before: DateTime<Utc>,
        limit: u64,
    ) -> StoreResult<Vec<InvoiceImport>> {
        use import::Column as C;
        import::Entity::find()
            .filter(C::FinishedAt.lte(before))
            .filter(
                sea_orm::Condition::any().add(C::FinishedAt.gt(after)).add(
                    sea_orm::Condition::all()
                        .add(C::FinishedAt.eq(after))
                        .add(C::Id.gt(after_id)),
                ),
            )
            .order_by_asc(C::FinishedAt)
            .order_by_asc(C::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(import_record)
            .collect()
    }

    /// Whether other processes may be running imports (several gateways share PostgreSQL).
    pub fn is_shared(&self) -> bool {
        self.db.get_database_backend() == DbBackend::Postgres
    }
}

fn import_record(row: import::Model) -> StoreResult<InvoiceImport> {
    let state = ImportState::parse(&row.state)
        .ok_or_else(|| StoreError::Corrupt(format!("import {}: state {}", row.id, row.state)))?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(InvoiceImport {
        id: row.id,
        file_name: row.file_name,
        actor: row.actor,
        started_at: row.started_at,
        finished_at: row.finished_at,
        dry_run: row.dry_run,
        apply_valid_rows: row.apply_valid_rows,
        state,
        rows_total: row.rows_total.map(n),
        heartbeat_at: row.heartbeat_at,
        counts: ImportCounts {
            read: n(row.rows_read),
            changed: n(row.rows_changed),
            unchanged: n(row.rows_unchanged),
            refused: n(row.rows_refused),
        },
        problem: row.problem,
    })
}
