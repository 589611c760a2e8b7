//! The event table as a feed: announcing commits that wrote events, and reading the
//! status changes that became visible between two snapshots (see `domain::feed` for why
//! positions are snapshots and not a `seq`).
//!
//! Announcing is a wake-up only, never the data: in-process through a `watch` channel, and
//! across instances through PostgreSQL's `NOTIFY`, which is delivered at commit (so a
//! rolled-back change is never announced) and lost while a listener is disconnected (so
//! readers always go back to the table).

use std::collections::HashMap;

use entity::{invoice, invoice_event};
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait, FromQueryResult,
    QueryFilter, RuntimeErr, Statement, Value,
};

use super::convert::{self, ByPosition};
use super::lists::{is_one_of, list, one_of};
use super::{Store, StoreError, StoreResult};
use crate::domain::{FeedEvent, FeedFilter, Snapshot};

/// The PostgreSQL channel that commits with events are announced on.
const CHANNEL: &str = "credit_gateway_events";

fn listener_error(e: sea_orm::sqlx::Error) -> StoreError {
    StoreError::Db(DbErr::Conn(RuntimeErr::Internal(e.to_string())))
}

/// A PostgreSQL connection that hears the commits of every instance.
pub struct CommitListener(PgListener);

impl CommitListener {
    /// Waits for the next announced commit, or for the connection to come back after it
    /// was lost (notifications sent meanwhile are gone: the caller must re-read).
    pub async fn wait(&mut self) -> StoreResult<()> {
        self.0.try_recv().await.map_err(listener_error)?;
        Ok(())
    }
}

/// A transaction: SeaORM's, or one of our own (`session`).
pub(super) trait Commit: ConnectionTrait {
    async fn commit(self) -> StoreResult<()>;
}

impl Commit for DatabaseTransaction {
    async fn commit(self) -> StoreResult<()> {
        Ok(DatabaseTransaction::commit(self).await?)
    }
}

impl Store {
    /// Commits `txn`, a transaction that wrote invoice events, and announces it: to this
    /// process's feed at once, and on PostgreSQL to every instance (the `NOTIFY` is sent
    /// inside the transaction, so it is delivered only if the commit succeeds).
    pub(super) async fn commit_announcing(&self, txn: impl Commit) -> StoreResult<()> {
        if txn.get_database_backend() == DbBackend::Postgres {
            txn.execute_unprepared(&format!("NOTIFY {CHANNEL}")).await?;
        }
        txn.commit().await?;
        self.committed.send_modify(|n| *n = n.wrapping_add(1));
        Ok(())
    }

    /// Changes whenever this process commits events.
    pub fn commits(&self) -> tokio::sync::watch::Receiver<u64> {
        self.committed.subscribe()
    }

    /// On PostgreSQL, a connection listening for every instance's commits (it holds one
    /// connection of the pool for as long as it lives).
    pub async fn commit_listener(&self) -> StoreResult<Option<CommitListener>> {
        if self.db.get_database_backend() != DbBackend::Postgres {
            return Ok(None);
        }
        let pool = self.db.get_postgres_connection_pool();
        let mut listener = PgListener::connect_with(pool)
            .await
            .map_err(listener_error)?;
        listener.listen(CHANNEL).await.map_err(listener_error)?;
        Ok(Some(CommitListener(listener)))
    }

    /// Which writers have finished, now: on PostgreSQL the current snapshot, on SQLite
    /// (one writer at a time) one past the highest committed `seq`.
    pub async fn feed_snapshot(&self) -> StoreResult<Snapshot> {
        let backend = self.db.get_database_backend();
        let sql = match backend {
            DbBackend::Postgres => "SELECT pg_current_snapshot()::text AS s",
            _ => "SELECT COALESCE(MAX(seq), 0) + 1 AS s FROM invoice_events",
        };
        let row = self
            .db
            .query_one_raw(Statement::from_string(backend, sql))
            .await?
            .ok_or_else(|| StoreError::Corrupt("no snapshot row".into()))?;
        match backend {
            DbBackend::Postgres => {
                let text: String = row.try_get("", "s")?;
                Snapshot::parse(&text)
                    .map_err(|_| StoreError::Corrupt(format!("unreadable snapshot {text}")))
            }
            _ => Ok(Snapshot::before(row.try_get::<i64>("", "s")?)),
        }
    }

    /// The status changes (creations included) written by transactions visible in `to`
    /// and not in `from`, with `seq` above `after_seq`, that `filter` wants: at most
    /// `limit`, in `seq` order, each with its invoice as it is now.
    pub async fn read_feed(
        &self,
        from: &Snapshot,
        to: &Snapshot,
        after_seq: i64,
        filter: &FeedFilter,
        limit: u64,
    ) -> StoreResult<Vec<FeedEvent>> {
        let backend = self.db.get_database_backend();
        let mut events = Vec::new();
        for (sql, values) in feed_statements(backend, from, to, after_seq, filter, limit) {
            let rows = self
                .db
                .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
                .await?;
            for row in &rows {
                let txid: i64 = row.try_get("", "txid")?;
                let event = convert::event(invoice_event::Model::from_query_result(row, "")?)?;
                events.push((txid, event));
            }
        }
        events.sort_unstable_by_key(|(_, e)| e.seq);
        events.truncate(limit as usize);
        let mut ids: Vec<String> = events.iter().map(|(_, e)| e.invoice_id.clone()).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut invoices = HashMap::new();
        if !ids.is_empty() {
            for ByPosition(row) in invoice::Entity::find()
                .filter(is_one_of(backend, "id", ids))
                .into_model::<ByPosition<invoice::Model>>()
                .all(&self.db)
                .await?
            {
                invoices.insert(row.id.clone(), convert::invoice(row)?);
            }
        }
        events
            .into_iter()
            .map(|(txid, event)| {
                let invoice = invoices.get(&event.invoice_id).cloned().ok_or_else(|| {
                    StoreError::Corrupt(format!("event {} has no invoice", event.seq))
                })?;
                Ok(FeedEvent {
                    txid,
                    event,
                    invoice,
                })
            })
            .collect()
    }
}

/// The statements that read a page of the feed (see [`Store::read_feed`]), with their
/// values. Two at most, however many transactions finished: one for those that finished
/// out of order (the in-progress list of `from`) and one for the range of newer ones.
/// Each reads an ordered scan of the `(txid, seq)` index: a single statement with an `OR`
/// would sort every remaining event of a large import on every page.
///
/// Every value is bound, none is written into the text, so the text depends only on
/// which parts a read has: a handful of forms, each prepared once per connection. With
/// the values written in, every read was a statement of its own, which sqlx kept in each
/// connection's cache (and PostgreSQL in the server process) until a hundred newer ones
/// pushed it out. Only `limit` is written: it is the reader's page size, a constant, and
/// the planner should see it.
fn feed_statements(
    backend: DbBackend,
    from: &Snapshot,
    to: &Snapshot,
    after_seq: i64,
    filter: &FeedFilter,
    limit: u64,
) -> Vec<(String, Vec<Value>)> {
    let postgres = backend == DbBackend::Postgres;
    // On SQLite a snapshot is a high-water mark of `seq` (see `domain::feed`).
    let txid = if postgres { "e.txid" } else { "e.seq" };
    let columns = if postgres {
        "e.*"
    } else {
        "e.*, e.seq AS txid"
    };
    // How each statement ends: the page after `after_seq` of the events `filter` wants.
    let page = |params: &mut Params| {
        let mut sql = format!("e.seq > {}", params.bind(after_seq));
        if !filter.every_change {
            sql.push_str(
                " AND e.status_to IS NOT NULL \
                 AND (e.status_from IS NULL OR e.status_from <> e.status_to)",
            );
        }
        if let Some(account) = &filter.account_id {
            sql += &format!(
                " AND e.invoice_id IN (SELECT id FROM invoices WHERE account_id = {})",
                params.bind(account.clone())
            );
        }
        if !filter.statuses.is_empty() {
            let statuses: Vec<String> = filter
                .statuses
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect();
            sql += " AND ";
            sql += &params.one_of("e.status_to", statuses);
        }
        sql + &format!(" ORDER BY e.seq LIMIT {limit}")
    };
    let diff = from.diff(to);
    let mut statements = Vec::new();
    if !diff.finished.is_empty() {
        let mut params = Params::new(backend);
        let sql = if postgres {
            // Each finished transaction's events in `seq` order, stopped at a page
            // (LATERAL): an index probe per transaction, merged by the outer sort.
            let finished = params.bind(diff.finished);
            format!(
                "SELECT e.* FROM unnest({finished}::bigint[]) AS f(txid) \
                 CROSS JOIN LATERAL (SELECT * FROM invoice_events e \
                 WHERE e.txid = f.txid AND {}) e \
                 ORDER BY e.seq LIMIT {limit}",
                page(&mut params)
            )
        } else {
            // SQLite's transactions are their events' `seq`: a key lookup each.
            let finished = params.one_of("e.seq", diff.finished);
            format!(
                "SELECT {columns} FROM invoice_events e WHERE {finished} AND {}",
                page(&mut params)
            )
        };
        statements.push((sql, params.values));
    }
    if diff.from < diff.to {
        // No lower bound on `seq` here beyond `after_seq`: a transaction at or above
        // `from` may have been running when `from` was taken (PostgreSQL's `xmax` is one
        // past the latest *completed* id) and hold events below any `seq` seen.
        let mut params = Params::new(backend);
        let mut range = format!(
            "{txid} >= {} AND {txid} < {}",
            params.bind(diff.from),
            params.bind(diff.to)
        );
        if !diff.still_running.is_empty() {
            range += &format!(" AND NOT {}", params.one_of(txid, diff.still_running));
        }
        let sql = format!(
            "SELECT {columns} FROM invoice_events e WHERE {range} AND {}",
            page(&mut params)
        );
        statements.push((sql, params.values));
    }
    statements
}

/// A statement's values, and their placeholders numbered as they are added: `$1`, `$2`, …
/// on PostgreSQL and `?1`, `?2`, … on SQLite, so that a value can be bound before the
/// text that comes ahead of it is written.
struct Params {
    backend: DbBackend,
    values: Vec<Value>,
}

impl Params {
    fn new(backend: DbBackend) -> Params {
        Params {
            backend,
            values: Vec::new(),
        }
    }

    /// Adds `value`; answers its placeholder.
    fn bind(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        let n = self.values.len();
        match self.backend {
            DbBackend::Postgres => format!("${n}"),
            _ => format!("?{n}"),
        }
    }

    /// Adds `items` as one list; answers the condition that `expr` is one of them.
    fn one_of<T>(&mut self, expr: &str, items: Vec<T>) -> String
    where
        Vec<T>: Into<Value>,
        T: Into<serde_json::Value>,
    {
        let placeholder = self.bind(list(self.backend, items));
        one_of(self.backend, expr, &placeholder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::InvoiceStatus;

    fn snapshot(xmin: i64, xmax: i64, in_progress: &[i64]) -> Snapshot {
        Snapshot {
            xmin,
            xmax,
            in_progress: in_progress.to_vec(),
        }
    }

    #[test]
    fn feed_statements_have_one_text_whatever_the_positions_and_lists() {
        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            let first = feed_statements(
                backend,
                &snapshot(900_001, 900_010, &[900_002, 900_005]),
                &snapshot(900_020, 900_030, &[900_025]),
                900_003,
                &FeedFilter {
                    account_id: Some("ACC-1".into()),
                    statuses: vec![InvoiceStatus::Paid],
                    every_change: false,
                },
                500,
            );
            let second = feed_statements(
                backend,
                &snapshot(700_001, 700_100, &[700_002, 700_005, 700_007]),
                &snapshot(700_200, 700_300, &[700_250, 700_260]),
                700_004,
                &FeedFilter {
                    account_id: Some("ACC-2".into()),
                    statuses: vec![InvoiceStatus::Paid, InvoiceStatus::Overdue],
                    every_change: false,
                },
                500,
            );
            assert_eq!(first.len(), 2, "{backend:?}: finished, then the range");
            let texts = |statements: &[(String, Vec<Value>)]| -> Vec<String> {
                statements.iter().map(|(sql, _)| sql.clone()).collect()
            };
            assert_eq!(texts(&first), texts(&second), "{backend:?}");
            for (sql, values) in &first {
                assert!(!sql.contains("900") && !sql.contains("PAID"), "{sql}");
                assert!(!values.is_empty());
            }
        }
    }
}
