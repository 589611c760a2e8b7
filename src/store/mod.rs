//! The database: connection, migrations, and every SQL statement the gateway runs,
//! through SeaORM. This module turns rows into domain records and back; nothing outside
//! it (and `entity`, `migration`) knows SeaORM.

mod changes;
mod convert;
mod events;
mod invoices;
mod write;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use migration::MigratorTrait;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection,
    DatabaseTransaction, DbBackend, DbErr, EntityTrait, QueryFilter, QuerySelect,
};

pub use changes::Applied;
pub use events::CommitListener;
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
    /// Whether the database could not be reached (as opposed to refusing a statement).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Db(DbErr::Conn(_) | DbErr::ConnectionAcquire(_))
        )
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A pool of connections to the gateway's database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    statements: Arc<AtomicU64>,
    /// Bumped after every commit that wrote invoice events (see `events`).
    committed: Arc<tokio::sync::watch::Sender<u64>>,
}

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
            .sqlx_logging(false);
        let mut db = Database::connect(options).await?;
        let statements = Arc::new(AtomicU64::new(0));
        let counter = statements.clone();
        db.set_metric_callback(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
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

    pub async fn migrate(&self) -> StoreResult<()> {
        migration::Migrator::up(&self.db, None).await?;
        Ok(())
    }

    /// Statements executed since the pool opened (tests and metrics read it).
    pub fn statements_executed(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
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

    /// Round-trips one trivial statement.
    pub async fn ping(&self) -> StoreResult<()> {
        self.db.ping().await?;
        Ok(())
    }
}
