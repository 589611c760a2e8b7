//! Changing an invoice: the row and its event, in one transaction, decided under the
//! row's lock.

use chrono::{DateTime, NaiveDate, Utc};
use entity::{invoice, invoice_event};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};

use super::{Store, StoreResult, convert};
use crate::domain::{Invoice, InvoiceStatus, Origin, Outcome, Refusal};

/// An invoice after a change, and whether anything was written.
#[derive(Clone, Debug)]
pub struct Applied {
    pub invoice: Invoice,
    pub changed: bool,
}

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
        let resolved_at = if outcome.resolves {
            Some(at)
        } else if outcome.reopens {
            None
        } else {
            invoice.resolved_at
        };
        invoice::Entity::update_many()
            .col_expr(
                invoice::Column::Status,
                Expr::value(outcome.stored_status.as_str()),
            )
            .col_expr(
                invoice::Column::PaymentLink,
                Expr::value(outcome.payment_link.clone()),
            )
            .col_expr(
                invoice::Column::Observation,
                Expr::value(outcome.observation.clone()),
            )
            .col_expr(invoice::Column::DueDate, Expr::value(outcome.due_date))
            .col_expr(invoice::Column::UpdatedAt, Expr::value(at))
            .col_expr(invoice::Column::ResolvedAt, Expr::value(resolved_at))
            .col_expr(
                invoice::Column::Version,
                Expr::col(invoice::Column::Version).add(1),
            )
            .filter(invoice::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        let status = |s: Option<crate::domain::InvoiceStatus>| s.map(|s| s.as_str().to_owned());
        let (link_from, link_to) = outcome.link_change.clone().unzip();
        let (observation_from, observation_to) = outcome.observation_change.clone().unzip();
        let (due_from, due_to) = outcome.due_date_change.unzip();
        let (status_from, status_to) = outcome.status_change.unzip();
        invoice_event::Entity::insert(invoice_event::ActiveModel {
            invoice_id: Set(invoice.id.clone()),
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
        })
        .exec_without_returning(&txn)
        .await?;
        self.commit_announcing(txn).await?;
        let invoice = Invoice {
            stored_status: outcome.stored_status,
            payment_link: outcome.payment_link,
            observation: outcome.observation,
            due_date: outcome.due_date,
            updated_at: at,
            resolved_at,
            version: invoice.version + 1,
            ..invoice
        };
        Ok(Ok(Applied {
            invoice,
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
