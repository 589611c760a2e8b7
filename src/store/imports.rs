//! CSV imports in the database: the transaction an import applies in, and its record
//! and refused rows, which outlive that transaction (a rejected import rolls back its
//! changes but keeps its report).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{import, import_error, invoice, invoice_event};
use sea_orm::sea_query::{Alias, Expr, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr,
    EntityTrait, ExecResult, QueryFilter, QueryOrder, QueryResult, QuerySelect, Statement,
    TransactionTrait,
};

use super::changes::{STAGED_CHANGES, copy_changes, write_changes};
use super::convert::{self, ByPosition};
use super::events::Commit;
use super::session::{CopyRows, PgTxn};
use super::{Change, Store, StoreError, StoreResult, wire_chunks};
use crate::domain::{
    Code, ImportCounts, ImportState, Invoice, InvoiceEvent, InvoiceImport, Origin, RowError,
};

/// Key of the PostgreSQL advisory lock that queues imports one behind the other: two
/// imports locking overlapping invoices in different orders would deadlock.
const IMPORT_LOCK_KEY: i64 = 0x0043_5356_494d_5054; // "CSVIMPT"

/// The transaction one import reads and writes in.
pub struct ImportTxn {
    store: Store,
    txn: ImportConn,
    /// Whether rows read are locked for writing (an import that applies), or only read
    /// (a dry run, which must not hold up anyone).
    applying: bool,
}

/// The connection an import's transaction runs on: on PostgreSQL one that can `COPY`
/// (batches go whole, see `session`); on SQLite, SeaORM's.
enum ImportConn {
    Orm(DatabaseTransaction),
    Pg(PgTxn),
}

/// What an import's transaction knows of a batch's ids (see [`ImportTxn::stage`]).
pub struct Staged {
    /// The ids the import had seen in an earlier batch, with the line each was first on.
    pub earlier: HashMap<String, u64>,
    /// The batch's invoices, by id: locked until the transaction ends when the import
    /// applies. An unknown id has none.
    pub invoices: HashMap<String, Invoice>,
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store {
    /// Begins an import's transaction. An applying import waits for any other applying
    /// import to finish; on SQLite it takes the database's write lock now, so that it
    /// never fails half-way for want of it.
    pub async fn begin_import(&self, applying: bool) -> StoreResult<ImportTxn> {
        let txn = match self.db.get_database_backend() {
            DbBackend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                let txn = PgTxn::begin(pool, self.statements.clone()).await?;
                // After five runs of a prepared statement PostgreSQL may switch to a
                // generic plan, blind to how few rows a batch holds: with batches of ids
                // bound as parameters, one scanned the whole invoice table (measured:
                // 50 ms a batch at 100,000 invoices). The batches' temporary tables
                // change size from batch to batch too; each run is planned for them.
                txn.execute_unprepared("SET LOCAL plan_cache_mode = force_custom_plan")
                    .await?;
                // The ids this import has seen (see `stage`), this batch's, and the
                // changes being written (see `changes::copy_changes`).
                txn.execute_unprepared(
                    "CREATE TEMP TABLE import_seen (invoice_id text PRIMARY KEY, line bigint NOT NULL) \
                     ON COMMIT DROP",
                )
                .await?;
                txn.execute_unprepared(
                    "CREATE TEMP TABLE import_batch (invoice_id text NOT NULL, line bigint NOT NULL) \
                     ON COMMIT DROP",
                )
                .await?;
                txn.execute_unprepared(STAGED_CHANGES).await?;
                if applying {
                    super::advisory_xact_lock(&txn, IMPORT_LOCK_KEY).await?;
                }
                ImportConn::Pg(txn)
            }
            _ => {
                let txn = self.db.begin().await?;
                txn.execute_unprepared(
                    "CREATE TEMP TABLE import_seen (invoice_id TEXT PRIMARY KEY, line INTEGER NOT NULL)",
                )
                .await?;
                if applying {
                    import::Entity::update_many()
                        .col_expr(import::Column::Id, Expr::col(import::Column::Id))
                        .filter(import::Column::Id.eq(""))
                        .exec(&txn)
                        .await?;
                }
                ImportConn::Orm(txn)
            }
        };
        Ok(ImportTxn {
            store: self.clone(),
            txn,
            applying,
        })
    }

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

impl ImportTxn {
    /// Records that the import has seen these ids, each given once with the line it is
    /// on, and reads their invoices.
    pub async fn stage(&self, rows: &[(&str, u64)]) -> StoreResult<Staged> {
        let mut staged = Staged {
            earlier: HashMap::new(),
            invoices: HashMap::with_capacity(rows.len()),
        };
        if rows.is_empty() {
            return Ok(staged);
        }
        match &self.txn {
            ImportConn::Pg(pg) => self.stage_copied(pg, rows, &mut staged).await?,
            ImportConn::Orm(_) => {
                self.claim(rows, &mut staged.earlier).await?;
                let ids: Vec<&str> = rows.iter().map(|(id, _)| *id).collect();
                for ids in wire_chunks(&ids, |id| id.len() + 8) {
                    let query = invoice::Entity::find()
                        .filter(invoice::Column::Id.is_in(ids.iter().copied()));
                    self.read_invoices(query, &mut staged.invoices).await?;
                }
            }
        }
        Ok(staged)
    }

    /// PostgreSQL's [`ImportTxn::stage`]: the batch goes by `COPY` to `import_batch`,
    /// then one statement claims its ids and one reads their invoices.
    async fn stage_copied(
        &self,
        pg: &PgTxn,
        rows: &[(&str, u64)],
        staged: &mut Staged,
    ) -> StoreResult<()> {
        let mut batch = CopyRows::default();
        for (id, line) in rows {
            batch.push([(*id).into(), count(*line).into()])?;
        }
        pg.execute_unprepared("TRUNCATE import_batch").await?;
        pg.copy_in("import_batch (invoice_id, line)", &batch)
            .await?;
        // The statement's reads see `import_seen` as it was before its own insert: what
        // they find are the ids seen in earlier batches.
        let claims = pg
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                "WITH claimed AS (INSERT INTO import_seen SELECT invoice_id, line FROM import_batch \
                 ON CONFLICT (invoice_id) DO NOTHING) \
                 SELECT s.invoice_id, s.line FROM import_batch b JOIN import_seen s USING (invoice_id)",
            ))
            .await?;
        first_lines(claims, &mut staged.earlier)?;
        let batch_ids = Query::select()
            .column(Alias::new("invoice_id"))
            .from(Alias::new("import_batch"))
            .to_owned();
        let query = invoice::Entity::find().filter(invoice::Column::Id.in_subquery(batch_ids));
        self.read_invoices(query, &mut staged.invoices).await
    }

    /// Reads the invoices `query` selects into `invoices`, locking them when the import
    /// applies.
    async fn read_invoices(
        &self,
        query: sea_orm::Select<invoice::Entity>,
        invoices: &mut HashMap<String, Invoice>,
    ) -> StoreResult<()> {
        let query = if self.applying && self.txn.get_database_backend() == DbBackend::Postgres {
            query.lock_exclusive()
        } else {
            query
        };
        for ByPosition(row) in query.into_model().all(&self.txn).await? {
            let invoice = convert::invoice(row)?;
            invoices.insert(invoice.id.clone(), invoice);
        }
        Ok(())
    }

    /// The events of these invoices, oldest first, by invoice.
    pub async fn histories(&self, ids: &[&str]) -> StoreResult<HashMap<String, Vec<InvoiceEvent>>> {
        let rows = invoice_event::Entity::find()
            .filter(invoice_event::Column::InvoiceId.is_in(ids.iter().copied()))
            .order_by_asc(invoice_event::Column::Seq)
            .all(&self.txn)
            .await?;
        let mut histories: HashMap<String, Vec<InvoiceEvent>> = HashMap::new();
        for row in rows {
            let event = convert::event(row)?;
            histories
                .entry(event.invoice_id.clone())
                .or_default()
                .push(event);
        }
        Ok(histories)
    }

    /// SQLite's claim of [`ImportTxn::stage`]: records that the import has seen these
    /// ids, and puts in `earlier` those it had seen already, with the line they were
    /// first on.
    async fn claim(
        &self,
        rows: &[(&str, u64)],
        earlier: &mut HashMap<String, u64>,
    ) -> StoreResult<()> {
        let backend = self.txn.get_database_backend();
        for rows in wire_chunks(rows, |(id, _)| id.len() + 16) {
            let sql = format!(
                "INSERT INTO import_seen (invoice_id, line) VALUES {} \
                 ON CONFLICT (invoice_id) DO NOTHING RETURNING invoice_id",
                super::values_rows(backend, rows.len(), 2, 1)
            );
            let values = rows
                .iter()
                .flat_map(|(id, line)| [(*id).into(), count(*line).into()]);
            let claimed: std::collections::HashSet<String> = self
                .txn
                .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
                .await?
                .into_iter()
                .map(|row| row.try_get_by_index::<String>(0))
                .collect::<Result<_, _>>()?;
            let repeated: Vec<&str> = rows
                .iter()
                .map(|(id, _)| *id)
                .filter(|id| !claimed.contains(*id))
                .collect();
            if repeated.is_empty() {
                continue;
            }
            let sql = format!(
                "SELECT invoice_id, line FROM import_seen WHERE invoice_id IN {}",
                super::values_rows(backend, 1, repeated.len(), 1)
            );
            let values = repeated.iter().map(|id| (*id).into());
            let seen = self
                .txn
                .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
                .await?;
            first_lines(seen, earlier)?;
        }
        Ok(())
    }

    /// Writes decided changes (their rows were read by [`ImportTxn::stage`]).
    pub async fn write(
        &self,
        changes: &[Change],
        origin: &Origin,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        debug_assert!(self.applying, "a dry run writes nothing");
        let txn = match &self.txn {
            ImportConn::Pg(pg) => return copy_changes(pg, changes, origin, at).await,
            ImportConn::Orm(txn) => txn,
        };
        let size = |change: &Change| {
            let text = |t: &Option<String>| t.as_ref().map_or(0, String::len);
            let (i, o) = (&change.invoice, &change.outcome);
            // The update's row and the event's, both carrying the id, links and notes.
            2 * i.id.len()
                + text(&o.payment_link)
                + text(&o.observation)
                + 2 * (text(&i.payment_link) + text(&i.observation))
                + origin.actor.len()
                + 160
        };
        for batch in wire_chunks(changes, size) {
            write_changes(txn, batch, origin, at).await?;
        }
        Ok(())
    }

    pub async fn commit(self) -> StoreResult<()> {
        // PostgreSQL drops the tables at commit; SQLite would keep them on the connection.
        if let ImportConn::Orm(txn) = &self.txn {
            txn.execute_unprepared("DROP TABLE temp.import_seen")
                .await?;
        }
        // Subscribers hear of the import's status changes once they are committed.
        self.store.commit_announcing(self.txn).await
    }

    pub async fn rollback(self) -> StoreResult<()> {
        match self.txn {
            ImportConn::Orm(txn) => Ok(txn.rollback().await?),
            ImportConn::Pg(txn) => txn.rollback().await,
        }
    }
}

/// Rows of `(invoice_id, line)` from `import_seen`, into `earlier`.
fn first_lines(rows: Vec<QueryResult>, earlier: &mut HashMap<String, u64>) -> StoreResult<()> {
    for row in rows {
        let line: i64 = row.try_get_by_index(1)?;
        earlier.insert(row.try_get_by_index(0)?, u64::try_from(line).unwrap_or(0));
    }
    Ok(())
}

impl Commit for ImportConn {
    async fn commit(self) -> StoreResult<()> {
        match self {
            ImportConn::Orm(txn) => Commit::commit(txn).await,
            ImportConn::Pg(txn) => txn.commit().await,
        }
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for ImportConn {
    fn get_database_backend(&self) -> DbBackend {
        match self {
            ImportConn::Orm(txn) => txn.get_database_backend(),
            ImportConn::Pg(txn) => txn.get_database_backend(),
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self {
            ImportConn::Orm(txn) => txn.execute_raw(stmt).await,
            ImportConn::Pg(txn) => txn.execute_raw(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match self {
            ImportConn::Orm(txn) => txn.execute_unprepared(sql).await,
            ImportConn::Pg(txn) => txn.execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self {
            ImportConn::Orm(txn) => txn.query_one_raw(stmt).await,
            ImportConn::Pg(txn) => txn.query_one_raw(stmt).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self {
            ImportConn::Orm(txn) => txn.query_all_raw(stmt).await,
            ImportConn::Pg(txn) => txn.query_all_raw(stmt).await,
        }
    }
}
