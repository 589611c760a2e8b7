//! The temporary tables of an import's transaction, each defined here and only here.
//! They live as long as the transaction: PostgreSQL drops them at its end (`ON COMMIT
//! DROP`, and a rollback undoes their creation); SQLite keeps a temporary table for the
//! connection's life, so an import drops its own before it commits (a rollback undoes
//! the creation there too).

use sea_orm::{ConnectionTrait, DbBackend};

use crate::store::StoreResult;

/// Every id the import has seen, with the line it was first on: how an id given twice
/// in a file is found across batches without keeping the file's ids in memory (see
/// `ImportTxn::stage`).
const IMPORT_SEEN_PG: &str = "CREATE TEMP TABLE import_seen \
     (invoice_id text PRIMARY KEY, line bigint NOT NULL) ON COMMIT DROP";

/// [`IMPORT_SEEN_PG`] on SQLite.
const IMPORT_SEEN_SQLITE: &str =
    "CREATE TEMP TABLE import_seen (invoice_id TEXT PRIMARY KEY, line INTEGER NOT NULL)";

/// A batch's ids with their lines, copied in whole, then claimed in `import_seen` by one
/// statement (PostgreSQL only).
const IMPORT_BATCH: &str = "CREATE TEMP TABLE import_batch \
     (invoice_id text NOT NULL, line bigint NOT NULL) ON COMMIT DROP";

/// The table `changes::stage_changes` stages the import's changes in until it commits
/// (PostgreSQL only): a change's position in the file, where its invoice lies (`ctid`)
/// and when it was decided, then
/// `changes::STORED_FIELDS` and `changes::EVENT_FIELDS` (keep them in step) under the
/// invoice's and the event's column names.
const STAGED_CHANGES: &str = "CREATE TEMP TABLE staged_changes (\
     n bigint NOT NULL, tid tid NOT NULL, at timestamptz NOT NULL, id text NOT NULL, status text NOT NULL, payment_link text, \
     observation text, due_date date NOT NULL, resolved_at timestamptz, \
     status_from text, status_to text, payment_link_from text, payment_link_to text, \
     observation_from text, observation_to text, due_date_from date, due_date_to date, \
     reason text) ON COMMIT DROP";

/// Creates the import's temporary tables in `txn`.
pub(super) async fn create(txn: &impl ConnectionTrait) -> StoreResult<()> {
    let tables: &[&str] = match txn.get_database_backend() {
        DbBackend::Postgres => &[IMPORT_SEEN_PG, IMPORT_BATCH, STAGED_CHANGES],
        _ => &[IMPORT_SEEN_SQLITE],
    };
    for table in tables {
        txn.execute_unprepared(table).await?;
    }
    Ok(())
}

/// Drops the tables PostgreSQL would not drop at commit (SQLite's), before `txn` commits.
pub(super) async fn drop_before_commit(txn: &impl ConnectionTrait) -> StoreResult<()> {
    if txn.get_database_backend() != DbBackend::Postgres {
        txn.execute_unprepared("DROP TABLE temp.import_seen")
            .await?;
    }
    Ok(())
}
