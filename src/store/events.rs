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
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait,
    FromQueryResult, QueryFilter, RuntimeErr, Statement, Value,
};

use super::convert::{self, ByPosition};
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
        let postgres = backend == DbBackend::Postgres;
        // On SQLite a snapshot is a high-water mark of `seq` (see `domain::feed`).
        let txid = if postgres { "e.txid" } else { "e.seq" };
        let list = |ids: &[i64]| ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        // Two statements at most, however many transactions finished: one for those that
        // finished out of order (the in-progress list of `from`) and one for the range of
        // newer ones. Each reads an ordered scan of the `(txid, seq)` index: a single
        // statement with an `OR` would sort every remaining event of a large import on
        // every page.
        let diff = from.diff(to);
        let mut segments: Vec<Segment> = Vec::new();
        if !diff.finished.is_empty() {
            segments.push(Segment::Finished(list(&diff.finished)));
        }
        if diff.from < diff.to {
            // No lower bound on `seq` here beyond `after_seq`: a transaction at or above
            // `from` may have been running when `from` was taken (PostgreSQL's `xmax` is
            // one past the latest *completed* id) and hold events below any `seq` seen.
            let mut range = format!("{txid} >= {} AND {txid} < {}", diff.from, diff.to);
            if !diff.still_running.is_empty() {
                range += &format!(" AND {txid} NOT IN ({})", list(&diff.still_running));
            }
            segments.push(Segment::Range(range));
        }
        // Every number in the statements comes from a checked snapshot or our own code;
        // the one text value, the account id, is bound.
        let mut wanted = String::from(
            " AND e.status_to IS NOT NULL \
             AND (e.status_from IS NULL OR e.status_from <> e.status_to)",
        );
        let mut values = Vec::new();
        if let Some(account) = &filter.account_id {
            let placeholder = if postgres { "$1" } else { "?" };
            wanted += &format!(
                " AND e.invoice_id IN (SELECT id FROM invoices WHERE account_id = {placeholder})"
            );
            values.push(Value::from(account.clone()));
        }
        if !filter.statuses.is_empty() {
            let statuses: Vec<String> = filter
                .statuses
                .iter()
                .map(|s| format!("'{}'", s.as_str()))
                .collect();
            wanted += &format!(" AND e.status_to IN ({})", statuses.join(","));
        }
        let columns = if postgres {
            "e.*"
        } else {
            "e.*, e.seq AS txid"
        };
        let mut events = Vec::new();
        for segment in segments {
            let sql = match segment {
                // Each finished transaction's events in `seq` order, stopped at a page
                // (LATERAL): an index probe per transaction, merged by the outer sort.
                Segment::Finished(ids) if postgres => format!(
                    "SELECT e.* FROM unnest(ARRAY[{ids}]::bigint[]) AS f(txid) \
                     CROSS JOIN LATERAL (SELECT * FROM invoice_events e \
                     WHERE e.txid = f.txid AND e.seq > {after_seq}{wanted} \
                     ORDER BY e.seq LIMIT {limit}) e \
                     ORDER BY e.seq LIMIT {limit}"
                ),
                // SQLite's transactions are their events' `seq`: a key lookup each.
                Segment::Finished(ids) => format!(
                    "SELECT {columns} FROM invoice_events e \
                     WHERE e.seq IN ({ids}) AND e.seq > {after_seq}{wanted} \
                     ORDER BY e.seq LIMIT {limit}"
                ),
                Segment::Range(range) => format!(
                    "SELECT {columns} FROM invoice_events e \
                     WHERE {range} AND e.seq > {after_seq}{wanted} \
                     ORDER BY e.seq LIMIT {limit}"
                ),
            };
            let rows = self
                .db
                .query_all_raw(Statement::from_sql_and_values(backend, sql, values.clone()))
                .await?;
            for row in &rows {
                let txid: i64 = row.try_get("", "txid")?;
                let event = convert::event(invoice_event::Model::from_query_result(row, "")?)?;
                events.push((txid, event));
            }
        }
        events.sort_unstable_by_key(|(_, e)| e.seq);
        events.truncate(limit as usize);
        let mut ids: Vec<&str> = events.iter().map(|(_, e)| e.invoice_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut invoices = HashMap::new();
        for ByPosition(row) in invoice::Entity::find()
            .filter(invoice::Column::Id.is_in(ids))
            .into_model::<ByPosition<invoice::Model>>()
            .all(&self.db)
            .await?
        {
            invoices.insert(row.id.clone(), convert::invoice(row)?);
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

/// A part of the feed read by one statement.
enum Segment {
    /// The events of these transactions (a comma-separated list of ids).
    Finished(String),
    /// The events of the transactions this condition selects.
    Range(String),
}
