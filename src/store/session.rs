//! A PostgreSQL transaction of our own, on a connection of the pool, for what SeaORM's
//! transactions cannot do: `COPY … FROM STDIN`. It runs SeaORM's statements too (it is a
//! `ConnectionTrait`), so code that reads and writes through it is the same code as
//! through a `DatabaseTransaction`; [`ImportConn`] is either, whichever the backend
//! offers, for code that copies where it can.
//!
//! Why `COPY`: bulk rows as statement parameters must go a few kilobytes per statement
//! (see `store::WIRE_BUDGET`); `COPY` streams them instead, the server answering once at
//! the end.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use chrono::SecondsFormat;
use futures_util::StreamExt;
use sea_orm::sqlx::{self, AssertSqlSafe, PgPool, Postgres};
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr,
    Statement, Value,
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::Mutex;

use super::events::Commit;
use super::{StoreResult, observe};

/// A transaction on one pooled connection; rolled back if dropped uncommitted.
pub(super) struct PgTxn {
    txn: Mutex<sqlx::Transaction<'static, Postgres>>,
    statements: Arc<AtomicU64>,
}

fn failed(e: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(e)))
}

impl PgTxn {
    pub(super) async fn begin(pool: &PgPool, statements: Arc<AtomicU64>) -> StoreResult<PgTxn> {
        let txn = pool
            .begin()
            .await
            .map_err(|e| DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e))))?;
        Ok(PgTxn {
            txn: Mutex::new(txn),
            statements,
        })
    }

    /// Runs `COPY <target> FROM STDIN` with `rows` as its data. Answers the rows copied.
    pub(super) async fn copy_in(&self, target: &str, rows: &CopyRows) -> StoreResult<u64> {
        let sql = format!("COPY {target} FROM STDIN");
        observe(
            &self.statements,
            &Statement::from_string(DbBackend::Postgres, sql.as_str()),
        );
        let mut txn = self.txn.lock().await;
        let started = Instant::now();
        let copied = Self::copy_chunks(&mut txn, &sql, rows).await;
        traced(&sql, started, &copied);
        // sqlx keeps a connection's buffers at the largest size they ever grew to, and
        // the connection goes back to the pool with them: give back the chunk-sized
        // one now (to sqlx's 8 KiB default), success or not. Once per `COPY`, so cheap.
        sqlx::Connection::shrink_buffers(&mut **txn);
        copied
    }

    /// Sends `rows` in chunks of [`COPY_CHUNK`] bytes, then ends the copy.
    async fn copy_chunks(
        txn: &mut sqlx::Transaction<'static, Postgres>,
        sql: &str,
        rows: &CopyRows,
    ) -> StoreResult<u64> {
        let mut copy = txn.copy_in_raw(sql).await.map_err(failed)?;
        for chunk in rows.chunks() {
            // Each `send` is written whole into the connection's write buffer, then
            // flushed: a whole batch in one `send` grew that buffer to the batch's size
            // (MiBs), and every pooled connection that ever copied one kept it.
            if let Err(e) = copy.send(chunk).await {
                // The connection is unusable until the copy ends; the transaction is lost
                // either way, so only the first error matters.
                let _ = copy.abort(e.to_string()).await;
                return Err(failed(e).into());
            }
        }
        Ok(copy.finish().await.map_err(failed)?)
    }

    pub(super) async fn rollback(self) -> StoreResult<()> {
        Ok(self.txn.into_inner().rollback().await.map_err(failed)?)
    }

    /// Runs a query and hands `each` its rows one by one as they arrive, none kept: a
    /// batch of an import reads thousands of invoices, and collected (20,000 then), they
    /// and their vector's growth were the largest part of the import's heap
    /// (benches/README.md, the import's memory).
    pub(super) async fn for_each_row(
        &self,
        stmt: Statement,
        mut each: impl FnMut(QueryResult) -> StoreResult<()>,
    ) -> StoreResult<()> {
        observe(&self.statements, &stmt);
        let mut txn = self.txn.lock().await;
        let started = Instant::now();
        let mut rows = Self::query(&stmt).fetch(&mut **txn);
        let mut read = Ok(());
        while let Some(row) = rows.next().await {
            match row {
                Ok(row) => each(QueryResult::from(row))?,
                Err(e) => {
                    read = Err(e);
                    break;
                }
            }
        }
        traced(&stmt.sql, started, &read);
        Ok(read.map_err(failed)?)
    }

    fn query(stmt: &Statement) -> sqlx::query::Query<'_, Postgres, SqlxValues> {
        let values = stmt.values.clone().unwrap_or(sea_orm::Values(Vec::new()));
        sqlx::query_with(AssertSqlSafe(stmt.sql.as_str()), SqlxValues(values))
    }
}

impl Commit for PgTxn {
    async fn commit(self) -> StoreResult<()> {
        Ok(self.txn.into_inner().commit().await.map_err(failed)?)
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for PgTxn {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        observe(&self.statements, &stmt);
        let mut txn = self.txn.lock().await;
        let started = Instant::now();
        let done = Self::query(&stmt).execute(&mut **txn).await;
        traced(&stmt.sql, started, &done);
        done.map(ExecResult::from).map_err(failed)
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        observe(
            &self.statements,
            &Statement::from_string(DbBackend::Postgres, sql),
        );
        let mut txn = self.txn.lock().await;
        let started = Instant::now();
        let done = sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut **txn).await;
        traced(sql, started, &done);
        done.map(ExecResult::from).map_err(failed)
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        observe(&self.statements, &stmt);
        let mut txn = self.txn.lock().await;
        let started = Instant::now();
        let row = Self::query(&stmt).fetch_optional(&mut **txn).await;
        traced(&stmt.sql, started, &row);
        row.map(|row| row.map(QueryResult::from)).map_err(failed)
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        observe(&self.statements, &stmt);
        let mut txn = self.txn.lock().await;
        let started = Instant::now();
        let rows = Self::query(&stmt).fetch_all(&mut **txn).await;
        traced(&stmt.sql, started, &rows);
        rows.map(|rows| rows.into_iter().map(QueryResult::from).collect())
            .map_err(failed)
    }
}

/// The connection an import's transaction runs on: on PostgreSQL one that can `COPY`
/// (batches go whole, see above); on SQLite, SeaORM's.
pub(super) enum ImportConn {
    Orm(DatabaseTransaction),
    Pg(PgTxn),
}

impl ImportConn {
    pub(super) async fn rollback(self) -> StoreResult<()> {
        match self {
            ImportConn::Orm(txn) => Ok(txn.rollback().await?),
            ImportConn::Pg(txn) => txn.rollback().await,
        }
    }
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

/// Rows in `COPY`'s text format: one line a row, tab between fields, `\N` for NULL, and
/// backslash escapes for the backslash, tab and line breaks inside a value.
#[derive(Default)]
pub(super) struct CopyRows(Vec<u8>);

/// Most bytes of rows sent in one `CopyData` message (see [`PgTxn::copy_in`]). The server
/// does not care where messages split the data, even inside a row.
const COPY_CHUNK: usize = 64 * 1024;

impl CopyRows {
    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The rows in pieces of at most [`COPY_CHUNK`] bytes.
    fn chunks(&self) -> std::slice::Chunks<'_, u8> {
        self.0.chunks(COPY_CHUNK)
    }

    /// Appends a row of values (strings, numbers, dates and times, any of them NULL).
    pub(super) fn push(&mut self, values: impl IntoIterator<Item = Value>) -> Result<(), DbErr> {
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.0.push(b'\t');
            }
            let text = match value {
                Value::String(Some(s)) => s,
                Value::Int(Some(n)) => n.to_string(),
                Value::BigInt(Some(n)) => n.to_string(),
                Value::ChronoDate(Some(d)) => d.to_string(),
                Value::ChronoDateTimeUtc(Some(t)) => t.to_rfc3339_opts(SecondsFormat::Micros, true),
                Value::String(None)
                | Value::Int(None)
                | Value::BigInt(None)
                | Value::ChronoDate(None)
                | Value::ChronoDateTimeUtc(None) => {
                    self.0.extend_from_slice(b"\\N");
                    continue;
                }
                other => return Err(DbErr::Type(format!("no COPY text for {other:?}"))),
            };
            self.escaped(&text);
        }
        self.0.push(b'\n');
        Ok(())
    }

    fn escaped(&mut self, text: &str) {
        for &byte in text.as_bytes() {
            match byte {
                b'\\' => self.0.extend_from_slice(b"\\\\"),
                b'\t' => self.0.extend_from_slice(b"\\t"),
                b'\n' => self.0.extend_from_slice(b"\\n"),
                b'\r' => self.0.extend_from_slice(b"\\r"),
                other => self.0.push(other),
            }
        }
    }
}

/// The span of a statement of this connection (see `telemetry::traces::statement`).
fn traced<T, E>(sql: &str, started: Instant, outcome: &Result<T, E>) {
    crate::telemetry::traces::statement("postgresql", sql, started.elapsed(), outcome.is_err());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(values: Vec<Value>) -> String {
        let mut rows = CopyRows::default();
        rows.push(values).unwrap();
        String::from_utf8(rows.0).unwrap()
    }

    #[test]
    fn copy_text_escapes_what_would_end_a_field_or_row_and_marks_nulls() {
        assert_eq!(
            text(vec![
                "a\tb\nc\rd\\e \\N".into(),
                Value::String(None),
                7i64.into(),
                Value::ChronoDate(None),
            ]),
            "a\\tb\\nc\\rd\\\\e \\\\N\t\\N\t7\t\\N\n"
        );
    }

    #[test]
    fn copy_text_writes_dates_and_utc_times_as_postgresql_reads_them() {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let at = day.and_hms_micro_opt(9, 5, 7, 120).unwrap().and_utc();
        assert_eq!(
            text(vec![day.into(), at.into()]),
            "2026-11-24\t2026-11-24T09:05:07.000120Z\n"
        );
    }

    #[test]
    fn copy_rows_go_in_bounded_chunks_that_add_up_to_the_rows() {
        let mut rows = CopyRows::default();
        for n in 0..20_000 {
            rows.push([format!("INV-{n:08}").into(), i64::from(n).into()])
                .unwrap();
        }
        assert!(rows.0.len() > 3 * COPY_CHUNK, "a batch of several chunks");
        let chunks: Vec<&[u8]> = rows.chunks().collect();
        assert!(
            chunks
                .iter()
                .all(|c| !c.is_empty() && c.len() <= COPY_CHUNK)
        );
        assert_eq!(chunks.concat(), rows.0);
    }

    #[test]
    fn copy_text_refuses_a_type_it_does_not_know() {
        let mut rows = CopyRows::default();
        assert!(rows.push([Value::Bool(Some(true))]).is_err());
    }
}
