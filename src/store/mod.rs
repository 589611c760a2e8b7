//! The database: connection, migrations, and every SQL statement the gateway runs,
//! through SeaORM. This module turns rows into domain records and back; nothing outside
//! it (and `entity`, `migration`) knows SeaORM.

mod aging;
mod api_keys;
mod changes;
mod convert;
mod events;
mod imports;
mod invoices;
mod lists;
mod nodelay;
mod session;
mod webhooks;
mod write;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::telemetry::traces;

use migration::MigratorTrait;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection,
    DatabaseTransaction, DbBackend, DbErr, EntityTrait, QueryFilter, QuerySelect, Statement,
    TransactionTrait,
};

pub use changes::{Change, MAX_CHANGES_PER_WRITE};
pub use events::CommitListener;
pub use imports::{ImportTxn, Staged};
pub use invoices::{Listed, Relations};
pub use webhooks::{AttemptOutcome, EndpointState, FanOutPlace};
pub use write::NewInvoice;

/// Why a store operation failed. Both are faults of the gateway's side, never the caller's.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    /// A row holds a value the domain does not accept (written by something else).
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether the database could not be reached, or (SQLite) stayed locked by another
    /// writer, such as a long import, past the busy timeout: worth retrying, not a fault.
    pub fn is_unavailable(&self) -> bool {
        use sea_orm::RuntimeErr;
        use sea_orm::sqlx::Error as Sqlx;
        match self {
            StoreError::Db(DbErr::Conn(_) | DbErr::ConnectionAcquire(_)) => true,
            // The connection broke under a statement: the server went away mid-flight.
            StoreError::Db(
                DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)),
            ) if matches!(
                e.as_ref(),
                Sqlx::Io(_)
                    | Sqlx::Tls(_)
                    | Sqlx::Protocol(_)
                    | Sqlx::PoolTimedOut
                    | Sqlx::PoolClosed
                    | Sqlx::WorkerCrashed
            ) =>
            {
                true
            }
            StoreError::Db(e) => e.to_string().contains("database is locked"),
            StoreError::Corrupt(_) => false,
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// See [`Store::pool_status`].
#[derive(Clone, Copy, Debug)]
pub struct PoolStatus {
    pub connections: u32,
    pub idle: u32,
    pub max: u32,
}

/// A pool of connections to the gateway's database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    statements: Arc<AtomicU64>,
    /// Bumped after every commit that wrote invoice events (see `events`).
    committed: Arc<tokio::sync::watch::Sender<u64>>,
}

/// Key of the PostgreSQL advisory lock that migrations are applied under.
const MIGRATION_LOCK_KEY: i64 = 0x0043_474d_4947_5254; // "CGMIGRT"

impl Store {
    /// Connects, and on SQLite turns on write-ahead logging so readers never wait for the
    /// writer.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Store> {
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .max_connections(max_connections)
            .min_connections(1)
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(5))
            // A connection holds what it has accumulated (its buffers, its cache of
            // prepared statements, and on PostgreSQL the server process's own caches)
            // for as long as it lives: these bound that, and let a burst's extra
            // connections go once it has passed. (sqlx's defaults are 10 and 30 minutes.)
            .idle_timeout(Duration::from_secs(2 * 60))
            .max_lifetime(Duration::from_secs(15 * 60))
            // Statements bind their values (one text, one cached statement); PostgreSQL
            // would switch a statement run five times to a generic plan blind to those
            // values, which on a skewed `invoice_events` (one import's huge transaction)
            // picked a plan a thousand times slower. Plan each execution for its values.
            // (A statement with nothing bound has one plan, made once per connection: a
            // listing writes values from small closed sets into its text for that,
            // invoices.rs.)
            .map_sqlx_postgres_opts(|pg| pg.options([("plan_cache_mode", "force_custom_plan")]))
            .map_sqlx_postgres_pool_opts(|pool| {
                pool.after_connect(|conn, _| Box::pin(nodelay::set_nodelay(conn)))
            })
            .sqlx_logging(false);
        let mut db = Database::connect(options).await?;
        let statements = Arc::new(AtomicU64::new(0));
        let counter = statements.clone();
        db.set_metric_callback(move |info| {
            observe(&counter, info.statement);
            let system = system_name(info.statement.db_backend);
            traces::statement(system, &info.statement.sql, info.elapsed, info.failed);
        });
        if db.get_database_backend() == DbBackend::Sqlite {
            db.execute_unprepared("PRAGMA journal_mode = WAL").await?;
        }
        Ok(Store {
            db,
            statements,
            committed: Arc::new(tokio::sync::watch::Sender::new(0)),
        })
    }

    /// Brings the schema up to date. On PostgreSQL, instances starting together (a
    /// deploy) take turns: each migrates under a transaction-level advisory lock, so the
    /// first applies what is pending and the others find nothing left to do. Without it,
    /// they raced each other's `CREATE TABLE`s and all but one failed to start.
    pub async fn migrate(&self) -> StoreResult<()> {
        if self.db.get_database_backend() != DbBackend::Postgres {
            migration::Migrator::up(&self.db, None).await?;
            return Ok(());
        }
        let txn = self.db.begin().await?;
        advisory_xact_lock(&txn, MIGRATION_LOCK_KEY).await?;
        migration::Migrator::up(&txn, None).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Statements executed since the pool opened (tests and metrics read it).
    pub fn statements_executed(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    pub fn backend_name(&self) -> &'static str {
        match self.db.get_database_backend() {
            DbBackend::Postgres => "postgres",
            DbBackend::Sqlite => "sqlite",
            _ => "other",
        }
    }

    /// Reads the row whose `id_column` is `id` inside `txn`, locked until the transaction
    /// ends, so that writers of the same row queue and each sees the one before it.
    /// PostgreSQL locks the row (`FOR UPDATE`); SQLite locks the whole database, so a
    /// no-op write as the transaction's first statement takes its write lock now (waiting
    /// its turn), and the read after it sees the latest commit.
    async fn find_locked<E: EntityTrait>(
        &self,
        txn: &DatabaseTransaction,
        id_column: E::Column,
        id: &str,
    ) -> StoreResult<Option<E::Model>> {
        let find = E::find().filter(id_column.eq(id));
        Ok(match self.db.get_database_backend() {
            DbBackend::Sqlite => {
                E::update_many()
                    .col_expr(id_column, Expr::col(id_column))
                    .filter(id_column.eq(id))
                    .exec(txn)
                    .await?;
                find.one(txn).await?
            }
            _ => find.lock_exclusive().one(txn).await?,
        })
    }

    /// The pool's connections: open, idle among them, and the most it opens.
    pub fn pool_status(&self) -> PoolStatus {
        let (connections, idle, max) = match self.db.get_database_backend() {
            DbBackend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            _ => {
                let pool = self.db.get_sqlite_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
        };
        PoolStatus {
            connections,
            idle: u32::try_from(idle).unwrap_or(u32::MAX),
            max,
        }
    }

    /// Round-trips one trivial statement.
    pub async fn ping(&self) -> StoreResult<()> {
        self.db.ping().await?;
        Ok(())
    }
}

/// The log target of every statement executed, at `debug` level:
/// `RUST_LOG=credit_gateway::sql=debug` prints each as one JSON object,
/// `{"sql": "...", "params": ["OPEN", "2026-11-24", 51]}`, with the parameter values as
/// bound. The reference benchmark replays them through `pgbench` (benches/reference.sh).
pub const SQL_LOG: &str = "credit_gateway::sql";

/// Waits for PostgreSQL's advisory lock `key`, then holds it until `txn` ends.
async fn advisory_xact_lock(txn: &impl ConnectionTrait, key: i64) -> StoreResult<()> {
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1)",
        [key.into()],
    ))
    .await?;
    Ok(())
}

/// The database's name in OpenTelemetry's conventions (`db.system.name`).
fn system_name(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "postgresql",
        _ => "sqlite",
    }
}

/// Counts a statement about to run, and logs it (see [`SQL_LOG`]).
fn observe(statements: &AtomicU64, statement: &Statement) {
    statements.fetch_add(1, Ordering::Relaxed);
    // Formatted only when the target is enabled.
    tracing::debug!(target: SQL_LOG, "{}", statement_json(statement));
}

fn statement_json(statement: &sea_orm::Statement) -> serde_json::Value {
    use sea_orm::Value as V;
    use sea_orm::sea_query::{PostgresQueryBuilder, QueryBuilder};
    use serde_json::Value as J;
    let param = |value: &V| match value {
        V::Bool(v) => v.map_or(J::Null, J::from),
        V::Int(v) => v.map_or(J::Null, J::from),
        V::BigInt(v) => v.map_or(J::Null, J::from),
        V::BigUnsigned(v) => v.map_or(J::Null, J::from),
        V::String(v) => v.as_deref().map_or(J::Null, J::from),
        V::ChronoDate(v) => v.map_or(J::Null, |d| J::from(d.to_string())),
        V::ChronoDateTimeUtc(v) => v.map_or(J::Null, |t| J::from(t.to_rfc3339())),
        // Anything else as the SQL literal PostgreSQL would read.
        other => J::from(PostgresQueryBuilder.value_to_string(other)),
    };
    let params: Vec<J> = statement
        .values
        .iter()
        .flat_map(|values| values.0.iter().map(param))
        .collect();
    serde_json::json!({ "sql": statement.sql, "params": params })
}

/// `VALUES` rows of `columns` placeholders each, numbered from `first` on PostgreSQL
/// (`($1, $2), ($3, $4)`) and anonymous on SQLite (`(?, ?), (?, ?)`).
pub(crate) fn values_rows(backend: DbBackend, rows: usize, columns: usize, first: usize) -> String {
    let mut sql = String::with_capacity(rows * columns * 5);
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            match backend {
                DbBackend::Postgres => {
                    sql.push('$');
                    sql.push_str(&(first + row * columns + column).to_string());
                }
                _ => sql.push('?'),
            }
        }
        sql.push(')');
    }
    sql
}

/// Bytes of parameters one statement carries at most. Where a connection's socket keeps
/// Nagle's algorithm (sqlx leaves it on; [`nodelay`] turns it off where it can find the
/// socket, not through a proxy), a statement larger than the socket's send buffer (16 KiB
/// to start with on Linux) goes out in two writes, and the second waits for the server's
/// delayed acknowledgement: 40 ms a statement (measured: 50 ms per 1,000-id batch against
/// 8 ms of server time). Batches therefore go in statements that fit in one write.
const WIRE_BUDGET: usize = 12 * 1024;

/// Splits `items` into runs whose estimated parameter bytes (`size` each) fit in
/// [`WIRE_BUDGET`], at most [`MAX_CHANGES_PER_WRITE`] items a run, and at least one.
pub(crate) fn wire_chunks<'a, T>(
    items: &'a [T],
    size: impl Fn(&T) -> usize + 'a,
) -> impl Iterator<Item = &'a [T]> + 'a {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut bytes = 0;
        let mut n = 0;
        while n < rest.len() && n < MAX_CHANGES_PER_WRITE {
            bytes += size(&rest[n]);
            if bytes > WIRE_BUDGET && n > 0 {
                break;
            }
            n += 1;
        }
        let (run, tail) = rest.split_at(n);
        rest = tail;
        Some(run)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_chunks_fit_the_budget_and_keep_every_item_once() {
        let items: Vec<usize> = vec![100; 500];
        let runs: Vec<&[usize]> = wire_chunks(&items, |n| *n).collect();
        assert!(runs.iter().all(|r| r.iter().sum::<usize>() <= WIRE_BUDGET));
        assert_eq!(runs.iter().map(|r| r.len()).sum::<usize>(), 500);
        let huge = [WIRE_BUDGET * 2, 1];
        let runs: Vec<&[usize]> = wire_chunks(&huge, |n| *n).collect();
        assert_eq!(
            runs,
            vec![&huge[..1], &huge[1..]],
            "an oversized item goes alone"
        );
    }
}
