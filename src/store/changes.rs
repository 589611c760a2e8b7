//! Changing an invoice: the row and its event, in one transaction, decided under the
//! row's lock.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use entity::{invoice, invoice_event};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction,
    DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
    TransactionTrait, Value,
};

use super::session::{CopyRows, PgTxn};
use super::{Store, StoreResult, convert};
use crate::domain::{Applied, Invoice, InvoiceStatus, Origin, Outcome, Refusal};

/// A decided change: the invoice as it was, and what becomes of it.
#[derive(Clone, Debug)]
pub struct Change {
    pub invoice: Invoice,
    pub outcome: Outcome,
}

impl Change {
    fn resolved_at(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.outcome.resolves {
            Some(at)
        } else if self.outcome.reopens {
            None
        } else {
            self.invoice.resolved_at
        }
    }

    /// The invoice once the change is written at `at`.
    pub fn applied(&self, at: DateTime<Utc>) -> Invoice {
        let outcome = &self.outcome;
        Invoice {
            stored_status: outcome.stored_status,
            payment_link: outcome.payment_link.clone(),
            observation: outcome.observation.clone(),
            due_date: outcome.due_date,
            updated_at: at,
            resolved_at: self.resolved_at(at),
            version: self.invoice.version + 1,
            ..self.invoice.clone()
        }
    }

    /// What the change stores in the invoice's row, in the order of [`STORED_FIELDS`].
    fn stored_fields(&self, at: DateTime<Utc>) -> [Value; 6] {
        let outcome = &self.outcome;
        [
            self.invoice.id.clone().into(),
            outcome.stored_status.as_str().into(),
            outcome.payment_link.clone().into(),
            outcome.observation.clone().into(),
            outcome.due_date.into(),
            self.resolved_at(at).into(),
        ]
    }

    fn event(&self, origin: &Origin, at: DateTime<Utc>) -> invoice_event::ActiveModel {
        let outcome = &self.outcome;
        let status = |s: Option<InvoiceStatus>| s.map(|s| s.as_str().to_owned());
        let (link_from, link_to) = outcome.link_change.clone().unzip();
        let (observation_from, observation_to) = outcome.observation_change.clone().unzip();
        let (due_from, due_to) = outcome.due_date_change.unzip();
        let (status_from, status_to) = outcome.status_change.unzip();
        invoice_event::ActiveModel {
            invoice_id: Set(self.invoice.id.clone()),
            status_from: Set(status(status_from)),
            status_to: Set(status(status_to)),
            payment_link_from: Set(link_from.flatten()),
            payment_link_to: Set(link_to.flatten()),
            observation_from: Set(observation_from.flatten()),
            observation_to: Set(observation_to.flatten()),
            due_date_from: Set(due_from),
            due_date_to: Set(due_to),
            reason: Set(outcome.reason.clone()),
            actor: Set(origin.actor.clone()),
            source: Set(origin.source.as_str().to_owned()),
            import_id: Set(origin.import_id.clone()),
            occurred_at: Set(at),
            ..Default::default()
        }
    }
}

/// Writes decided changes inside `txn`, whose rows it must already hold locked: each
/// invoice's new state with `version + 1`, and one event each. Two statements however many
/// changes (up to [`MAX_CHANGES_PER_WRITE`]): one `UPDATE … FROM (VALUES …)` and one
/// multi-row `INSERT`.
pub(super) async fn write_changes(
    txn: &DatabaseTransaction,
    changes: &[Change],
    origin: &Origin,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    assert!(changes.len() <= MAX_CHANGES_PER_WRITE, "the caller batches");
    if changes.is_empty() {
        return Ok(());
    }
    let backend = txn.get_database_backend();
    let mut values: Vec<Value> = Vec::with_capacity(1 + changes.len() * STORED_FIELDS.len());
    values.push(at.into());
    for change in changes {
        values.extend(change.stored_fields(at));
    }
    let rows = super::values_rows(backend, changes.len(), STORED_FIELDS.len(), 2);
    let updated_at = match backend {
        DbBackend::Postgres => "$1",
        _ => "?",
    };
    // VALUES columns are named column1, column2, … on both backends.
    let sql = format!(
        "UPDATE invoices SET status = v.column2, payment_link = v.column3, \
         observation = v.column4, due_date = v.column5, resolved_at = v.column6, \
         updated_at = {updated_at}, version = invoices.version + 1 \
         FROM (VALUES {rows}) AS v WHERE invoices.id = v.column1"
    );
    txn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    invoice_event::Entity::insert_many(changes.iter().map(|change| change.event(origin, at)))
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

/// The invoice's columns a change writes (besides `updated_at` and `version`), in the
/// order of [`Change::stored_fields`].
const STORED_FIELDS: [&str; 6] = [
    "id",
    "status",
    "payment_link",
    "observation",
    "due_date",
    "resolved_at",
];

/// The event's columns that differ from one change to the next (the actor, source,
/// import and time are the same for all the changes of a write).
const EVENT_FIELDS: [invoice_event::Column; 9] = [
    invoice_event::Column::StatusFrom,
    invoice_event::Column::StatusTo,
    invoice_event::Column::PaymentLinkFrom,
    invoice_event::Column::PaymentLinkTo,
    invoice_event::Column::ObservationFrom,
    invoice_event::Column::ObservationTo,
    invoice_event::Column::DueDateFrom,
    invoice_event::Column::DueDateTo,
    invoice_event::Column::Reason,
];

/// Stages decided changes for [`apply_staged_changes`], on PostgreSQL and for any number
/// of them: they go to `rows`, to be copied to `staged_changes` (see `imports::tables`)
/// by [`copy_staged_changes`], numbered on from `first` (their order in the file, which
/// their events keep), each with where its invoice lies (`tids`, by id: the rows are
/// locked) and the time it was decided at (its events' `occurred_at` and the invoices'
/// `updated_at`). Nothing is written to the invoices yet.
pub(super) fn stage_changes(
    rows: &mut CopyRows,
    changes: &[Change],
    tids: &HashMap<String, String>,
    first: i64,
    origin: &Origin,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    for (n, change) in (first..).zip(changes) {
        let id = &change.invoice.id;
        let tid = tids
            .get(id)
            .ok_or_else(|| DbErr::Custom(format!("invoice {id} was staged unread")))?;
        let event = change.event(origin, at);
        let fields = change.stored_fields(at).into_iter();
        let event_fields = EVENT_FIELDS.iter().map(|c| event.get(*c).into_value());
        rows.push(
            [n.into(), tid.as_str().into(), at.into()]
                .into_iter()
                .chain(fields)
                .chain(event_fields.map(|v| v.unwrap_or(Value::String(None)))),
        )?;
    }
    Ok(())
}

/// Copies the rows [`stage_changes`] made to `staged_changes`.
pub(super) async fn copy_staged_changes(txn: &PgTxn, rows: &CopyRows) -> StoreResult<()> {
    txn.copy_in(
        &format!(
            "staged_changes (n, tid, at, {}, {})",
            STORED_FIELDS.join(", "),
            event_columns()
        ),
        rows,
    )
    .await?;
    Ok(())
}

/// Writes the `staged` changes [`copy_staged_changes`] copied, as [`write_changes`]
/// would have: one `INSERT … SELECT` of their events, in file order, then one `UPDATE …
/// FROM` of the invoices. One pass over the changes, not one per batch: the per-batch
/// statements cost PostgreSQL more than the whole set at once. How they run is measured
/// too (1,000,000 rows, 699,597 changes; benches/README.md, the import):
/// - the update in the table's order: joined on the id, PostgreSQL hashed the invoices
///   and updated them in the file's order, a random walk over the table (50 s). Walking
///   the changes sorted by where their rows lie, each looked up by its key, took 25 s.
///   Only a nested loop keeps that order, so the other joins are off for the statement;
/// - both statements sort the changes (by position, by `tid`): given room for that in
///   memory (their `work_mem`; one import runs at a time), not on disk, the update took
///   25 s instead of 28 and the insert 20 instead of 21 (one run each);
/// - the events go in first: their insert took 21 s before the update as after it.
pub(super) async fn apply_staged_changes(
    txn: &PgTxn,
    origin: &Origin,
    staged: i64,
) -> StoreResult<()> {
    let event_columns = event_columns();
    txn.execute_unprepared("SET LOCAL work_mem = '256MB'")
        .await?;
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!(
            "INSERT INTO invoice_events (invoice_id, {event_columns}, actor, source, import_id, \
             occurred_at) SELECT id, {event_columns}, $1, $2, $3, at FROM staged_changes ORDER BY n"
        ),
        [
            origin.actor.clone().into(),
            origin.source.as_str().into(),
            origin.import_id.clone().into(),
        ],
    ))
    .await?;
    txn.execute_unprepared("SET LOCAL enable_hashjoin = off")
        .await?;
    txn.execute_unprepared("SET LOCAL enable_mergejoin = off")
        .await?;
    // The id too: a row whose `tid` were not its own (it cannot be: the import holds it
    // locked) would be left out and counted below, never another invoice written.
    let updated = txn
        .execute_unprepared(
            "UPDATE invoices SET status = c.status, payment_link = c.payment_link, \
             observation = c.observation, due_date = c.due_date, resolved_at = c.resolved_at, \
             updated_at = c.at, version = invoices.version + 1 \
             FROM (SELECT tid, id, status, payment_link, observation, due_date, resolved_at, at \
             FROM staged_changes ORDER BY tid) c \
             WHERE invoices.ctid = c.tid AND invoices.id = c.id",
        )
        .await?
        .rows_affected();
    for setting in ["enable_hashjoin", "enable_mergejoin", "work_mem"] {
        txn.execute_unprepared(&format!("SET LOCAL {setting} TO DEFAULT"))
            .await?;
    }
    if i64::try_from(updated) != Ok(staged) {
        return Err(DbErr::Custom(format!(
            "{staged} staged changes updated {updated} invoices"
        ))
        .into());
    }
    Ok(())
}

/// [`EVENT_FIELDS`]' column names, comma-separated.
fn event_columns() -> String {
    EVENT_FIELDS
        .map(|c| sea_orm::Iden::to_string(&c))
        .join(", ")
}

/// Most changes one [`write_changes`] takes: 6 parameters a row in the update and 15 in
/// the insert stay under SQLite's 32,766 and PostgreSQL's 65,535.
pub const MAX_CHANGES_PER_WRITE: usize = 1000;

impl Store {
    /// Changes one invoice in one transaction: locks its row, reads it, lets `decide`
    /// rule on it, and writes the row and its event. Writers of the same invoice queue on
    /// the lock, so each decides on the state it actually replaces and no update is lost.
    /// A refusal (or an unknown id) writes nothing; so does a change with nothing to do.
    pub async fn change_invoice<F>(
        &self,
        id: &str,
        decide: F,
        origin: &Origin,
        at: DateTime<Utc>,
    ) -> StoreResult<Result<Applied, Refusal>>
    where
        F: FnOnce(&Invoice) -> Result<Outcome, Refusal>,
    {
        let txn = self.db.begin().await?;
        let row = self
            .find_locked::<invoice::Entity>(&txn, invoice::Column::Id, id)
            .await?;
        let Some(row) = row else {
            txn.rollback().await?;
            return Ok(Err(Refusal::not_found(id)));
        };
        let invoice = convert::invoice(row)?;
        let outcome = match decide(&invoice) {
            Ok(outcome) if !outcome.is_noop() => outcome,
            other => {
                txn.rollback().await?;
                return Ok(other.map(|_| Applied {
                    invoice,
                    changed: false,
                }));
            }
        };
        let change = Change { invoice, outcome };
        write_changes(&txn, std::slice::from_ref(&change), origin, at).await?;
        self.commit_announcing(txn).await?;
        Ok(Ok(Applied {
            invoice: change.applied(at),
            changed: true,
        }))
    }

    /// Ids of invoices stored `OPEN` with a due date before `today`, in id order after
    /// `after`: what the sweeper persists as overdue.
    pub async fn open_past_due(
        &self,
        today: NaiveDate,
        after: &str,
        limit: u64,
    ) -> StoreResult<Vec<String>> {
        Ok(invoice::Entity::find()
            .select_only()
            .column(invoice::Column::Id)
            .filter(invoice::Column::Status.eq(InvoiceStatus::Open.as_str()))
            .filter(invoice::Column::DueDate.lt(today))
            .filter(invoice::Column::Id.gt(after))
            .order_by_asc(invoice::Column::Id)
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?)
    }
}
