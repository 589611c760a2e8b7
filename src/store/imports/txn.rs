//! The transaction one import reads and writes in: it claims each batch's ids (an id
//! given twice in a file is refused, across batches too), reads and locks the batch's
//! invoices, and writes their changes: on SQLite batch by batch, on PostgreSQL staged by
//! `COPY` batch by batch and written all at once when the import commits. Its temporary
//! tables are `tables`'; its record and refused rows are the parent module's.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{import, invoice, invoice_event};
use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QueryResult,
    QuerySelect, QueryTrait, Statement, TransactionTrait,
};

use super::{count, tables};
use crate::domain::{Invoice, InvoiceEvent, Origin};
use crate::store::changes::{
    apply_staged_changes, copy_staged_changes, stage_changes, write_changes,
};
use crate::store::convert::{self, ByPosition};
use crate::store::lists::is_one_of;
use crate::store::session::{CopyRows, ImportConn, PgTxn};
use crate::store::{Change, Store, StoreResult, advisory_xact_lock, values_rows, wire_chunks};

/// Key of the PostgreSQL advisory lock that queues imports one behind the other: two
/// imports locking overlapping invoices in different orders would deadlock.
const IMPORT_LOCK_KEY: i64 = 0x0043_5356_494d_5054; // "CSVIMPT"

/// The transaction one import reads and writes in.
pub struct ImportTxn {
    store: Store,
    /// Also where an applied import's record and refused rows are written (see the parent
    /// module), so that they commit with its changes.
    pub(super) txn: ImportConn,
    /// Whether rows read are locked for writing (an import that applies), or only read
    /// (a dry run, which must not hold up anyone).
    applying: bool,
    /// PostgreSQL: how many changes are staged, to be written when the import commits.
    staged: i64,
    /// PostgreSQL: the changes staged since the last [`ImportTxn::flush`], as rows to
    /// copy: a batch's changes go in one `COPY`, without the batch's changes kept.
    pending: CopyRows,
    /// PostgreSQL: whose the staged changes are (one origin per import).
    staged_by: Option<Origin>,
    /// PostgreSQL, an import that applies: where each invoice of the last batch staged
    /// lies in its table (its `ctid`, which stays put while the import holds the row
    /// locked). The staged changes carry it, so that they are written in the table's
    /// order (see `changes::apply_staged_changes`).
    tids: HashMap<String, String>,
}

/// What an import's transaction knows of a batch's ids (see [`ImportTxn::stage`]).
pub struct Staged {
    /// The ids the import had seen in an earlier batch, with the line each was first on.
    pub earlier: HashMap<String, u64>,
    /// The batch's invoices, by id: locked until the transaction ends when the import
    /// applies. An unknown id has none.
    pub invoices: HashMap<String, Invoice>,
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
                tables::create(&txn).await?;
                if applying {
                    advisory_xact_lock(&txn, IMPORT_LOCK_KEY).await?;
                }
                ImportConn::Pg(txn)
            }
            _ => {
                let txn = self.db.begin().await?;
                tables::create(&txn).await?;
                // Why the write lock is taken up front: SQLite has no row locks, and its
                // transactions begin deferred. One that reads, then writes, asks for the
                // write lock only at its first write; in WAL mode, if another writer has
                // committed since its reads began, it cannot have it at all (SQLITE_BUSY
                // at once, whatever the busy timeout), and an import would fail half-way,
                // batches after it began. A write before any read (one that matches no
                // row) takes the lock now, waiting its turn under the busy timeout; from
                // then on no one else commits, so the invoices a batch reads stay as read
                // until the import commits, as PostgreSQL's `FOR UPDATE` keeps them (see
                // `Store::find_locked`). A dry run writes nothing and takes no lock.
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
            staged: 0,
            pending: CopyRows::default(),
            staged_by: None,
            tids: HashMap::new(),
        })
    }
}

impl ImportTxn {
    /// Records that the import has seen these ids, each given once with the line it is
    /// on, and reads their invoices.
    pub async fn stage(&mut self, rows: &[(&str, u64)]) -> StoreResult<Staged> {
        let mut staged = Staged {
            earlier: HashMap::new(),
            invoices: HashMap::with_capacity(rows.len()),
        };
        self.tids.clear();
        if rows.is_empty() {
            return Ok(staged);
        }
        match &self.txn {
            ImportConn::Pg(pg) => {
                self.tids = Self::stage_copied(pg, self.applying, rows, &mut staged).await?;
            }
            ImportConn::Orm(_) => {
                self.claim(rows, &mut staged.earlier).await?;
                let ids: Vec<String> = rows.iter().map(|(id, _)| (*id).to_owned()).collect();
                let query =
                    invoice::Entity::find().filter(is_one_of(self.store.backend(), "id", ids));
                read_invoices(&self.txn, query, &mut staged.invoices).await?;
            }
        }
        Ok(staged)
    }

    /// PostgreSQL's [`ImportTxn::stage`]: the batch goes by `COPY` to `import_batch`,
    /// one statement claims its ids (and, only when some were claimed before, one finds
    /// their first lines), and one reads their invoices (locked, with where each lies,
    /// when the import applies). Answers where each lies.
    async fn stage_copied(
        pg: &PgTxn,
        applying: bool,
        rows: &[(&str, u64)],
        staged: &mut Staged,
    ) -> StoreResult<HashMap<String, String>> {
        let mut batch = CopyRows::default();
        for (id, line) in rows {
            batch.push([(*id).into(), count(*line).into()])?;
        }
        pg.execute_unprepared("TRUNCATE import_batch").await?;
        pg.copy_in("import_batch (invoice_id, line)", &batch)
            .await?;
        let claimed = pg
            .execute_unprepared(
                "INSERT INTO import_seen SELECT invoice_id, line FROM import_batch \
                 ON CONFLICT (invoice_id) DO NOTHING",
            )
            .await?
            .rows_affected();
        // Rare: some ids were seen in an earlier batch. A batch names each id once, and
        // no two rows share a line, so theirs are the claims on another line. Only then
        // is `import_seen` searched: joining every batch to it cost more with each batch
        // (a scan of all the ids seen so far; benches/README.md, the import).
        if claimed < rows.len() as u64 {
            let claims = pg
                .query_all_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT s.invoice_id, s.line FROM import_batch b \
                     JOIN import_seen s USING (invoice_id) WHERE s.line <> b.line",
                ))
                .await?;
            first_lines(claims, &mut staged.earlier)?;
        }
        let batch_ids = Query::select()
            .column(Alias::new("invoice_id"))
            .from(Alias::new("import_batch"))
            .to_owned();
        let query = invoice::Entity::find().filter(invoice::Column::Id.in_subquery(batch_ids));
        let mut tids = HashMap::new();
        if !applying {
            read_invoices(pg, query, &mut staged.invoices).await?;
            return Ok(tids);
        }
        let query = query
            .lock_exclusive()
            .expr(Expr::cust("invoices.ctid::text"))
            .build(DbBackend::Postgres);
        let tid_at = ByPosition::<invoice::Model>::COLUMNS;
        pg.for_each_row(query, |row| {
            let invoice = convert::invoice(ByPosition::<invoice::Model>::at(&row, 0)?)?;
            tids.insert(invoice.id.clone(), row.try_get_by_index(tid_at)?);
            staged.invoices.insert(invoice.id.clone(), invoice);
            Ok(())
        })
        .await?;
        Ok(tids)
    }

    /// The events of these invoices, oldest first, by invoice.
    pub async fn histories(&self, ids: &[&str]) -> StoreResult<HashMap<String, Vec<InvoiceEvent>>> {
        let rows = invoice_event::Entity::find()
            .filter(is_one_of(
                self.store.backend(),
                "invoice_id",
                ids.iter().map(|id| (*id).to_owned()).collect(),
            ))
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
                values_rows(backend, rows.len(), 2, 1)
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
                values_rows(backend, 1, repeated.len(), 1)
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

    /// Writes decided changes (their rows were read by the last [`ImportTxn::stage`]). On
    /// PostgreSQL they are staged, sent by [`ImportTxn::flush`] and written all at once
    /// by [`ImportTxn::write_staged`].
    pub async fn write(
        &mut self,
        changes: &[Change],
        origin: &Origin,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        debug_assert!(self.applying, "a dry run writes nothing");
        let txn = match &self.txn {
            ImportConn::Pg(_) => {
                stage_changes(
                    &mut self.pending,
                    changes,
                    &self.tids,
                    self.staged,
                    origin,
                    at,
                )?;
                self.staged += i64::try_from(changes.len()).unwrap_or(i64::MAX);
                self.staged_by.get_or_insert_with(|| origin.clone());
                return Ok(());
            }
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

    /// Sends the changes [`ImportTxn::write`] staged since the last flush, in one `COPY`
    /// (PostgreSQL; SQLite's are written already). Once a batch: a `COPY` is a round
    /// trip, and on a socket that keeps Nagle's algorithm it also waits out a delayed
    /// acknowledgement at its end (see `store::nodelay`).
    pub async fn flush(&mut self) -> StoreResult<()> {
        if let ImportConn::Pg(pg) = &self.txn
            && !self.pending.is_empty()
        {
            copy_staged_changes(pg, &self.pending).await?;
            self.pending = CopyRows::default();
        }
        Ok(())
    }

    /// Writes the changes [`ImportTxn::write`] staged (PostgreSQL; SQLite's are written
    /// already). Before the import's record is updated in this transaction: the record's
    /// row, once updated, stays locked until the commit, and other instances' heartbeats
    /// of it would wait out the whole write.
    pub async fn write_staged(&mut self) -> StoreResult<()> {
        self.flush().await?;
        if let (ImportConn::Pg(pg), Some(origin)) = (&self.txn, self.staged_by.take()) {
            apply_staged_changes(pg, &origin, self.staged).await?;
        }
        Ok(())
    }

    pub async fn commit(self) -> StoreResult<()> {
        debug_assert!(self.staged_by.is_none(), "staged changes left unwritten");
        tables::drop_before_commit(&self.txn).await?;
        // Subscribers hear of the import's status changes once they are committed.
        self.store.commit_announcing(self.txn).await
    }

    pub async fn rollback(self) -> StoreResult<()> {
        self.txn.rollback().await
    }
}

/// Reads the invoices `query` selects into `invoices`, unlocked: SQLite has no row
/// locks (an applying import holds the database's write lock instead), and a dry run
/// must not hold up anyone.
async fn read_invoices(
    conn: &impl ConnectionTrait,
    query: sea_orm::Select<invoice::Entity>,
    invoices: &mut HashMap<String, Invoice>,
) -> StoreResult<()> {
    for ByPosition(row) in query.into_model().all(conn).await? {
        let invoice = convert::invoice(row)?;
        invoices.insert(invoice.id.clone(), invoice);
    }
    Ok(())
}

/// Rows of `(invoice_id, line)` from `import_seen`, into `earlier`.
fn first_lines(rows: Vec<QueryResult>, earlier: &mut HashMap<String, u64>) -> StoreResult<()> {
    for row in rows {
        let line: i64 = row.try_get_by_index(1)?;
        earlier.insert(row.try_get_by_index(0)?, u64::try_from(line).unwrap_or(0));
    }
    Ok(())
}
