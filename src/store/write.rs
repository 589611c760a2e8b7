//! Inserts of accounts, orders and invoices, each invoice with the event that records its
//! creation, in one transaction per batch.

use chrono::{DateTime, NaiveDate, Utc};
use entity::{account, invoice, invoice_event, order};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait, PaginatorTrait, TransactionTrait};

use super::{Store, StoreResult};
use crate::domain::{Account, ChangeSource, InvoiceStatus, Money, Order};

/// An invoice to create, with the status history it already has (demo data and imports
/// from other systems may start past `OPEN`).
#[derive(Clone, Debug)]
pub struct NewInvoice {
    pub id: String,
    pub friendly_id: String,
    pub account_id: String,
    pub order_id: String,
    pub installment: i32,
    pub number_of_installments: i32,
    pub value: Money,
    pub currency: String,
    pub due_date: NaiveDate,
    pub payment_link: Option<String>,
    pub observation: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Statuses it went through after `OPEN`, with when.
    pub later_statuses: Vec<(InvoiceStatus, DateTime<Utc>)>,
}

fn event(
    invoice_id: &str,
    from: Option<InvoiceStatus>,
    to: InvoiceStatus,
    actor: &str,
    source: ChangeSource,
    at: DateTime<Utc>,
) -> invoice_event::ActiveModel {
    invoice_event::ActiveModel {
        invoice_id: Set(invoice_id.to_owned()),
        status_from: Set(from.map(|s| s.as_str().to_owned())),
        status_to: Set(Some(to.as_str().to_owned())),
        payment_link_from: Set(None),
        payment_link_to: Set(None),
        observation_from: Set(None),
        observation_to: Set(None),
        due_date_from: Set(None),
        due_date_to: Set(None),
        reason: Set(None),
        actor: Set(actor.to_owned()),
        source: Set(source.as_str().to_owned()),
        import_id: Set(None),
        occurred_at: Set(at),
        ..Default::default()
    }
}

impl Store {
    pub async fn has_accounts(&self) -> StoreResult<bool> {
        Ok(account::Entity::find().count(&self.db).await? > 0)
    }

    /// Inserts accounts, orders and invoices (with their history) in one transaction.
    pub async fn insert_all(
        &self,
        accounts: &[Account],
        orders: &[Order],
        invoices: &[NewInvoice],
        actor: &str,
        source: ChangeSource,
    ) -> StoreResult<()> {
        let txn = self.db.begin().await?;
        for a in accounts {
            insert_account(&txn, a).await?;
        }
        for o in orders {
            order::Entity::insert(order::ActiveModel {
                id: Set(o.id.clone()),
                account_id: Set(o.account_id.clone()),
                value_units: Set(o.value.units()),
                currency: Set(o.currency.clone()),
                created_at: Set(o.created_at),
            })
            .exec_without_returning(&txn)
            .await?;
        }
        for i in invoices {
            insert_invoice(&txn, i, actor, source).await?;
        }
        txn.commit().await?;
        Ok(())
    }
}

async fn insert_account(db: &impl ConnectionTrait, a: &Account) -> StoreResult<()> {
    account::Entity::insert(account::ActiveModel {
        id: Set(a.id.clone()),
        document: Set(a.document.clone()),
        document_type: Set(a.document_type.as_str().to_owned()),
        name: Set(a.name.clone()),
        email: Set(a.email.clone()),
        currency: Set(a.currency.clone()),
        credit_limit_units: Set(a.credit_limit.units()),
        tolerance_units: Set(a.tolerance.units()),
        status: Set(a.status.as_str().to_owned()),
        created_at: Set(a.created_at),
        updated_at: Set(a.updated_at),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

async fn insert_invoice(
    db: &impl ConnectionTrait,
    new: &NewInvoice,
    actor: &str,
    source: ChangeSource,
) -> StoreResult<()> {
    let mut events = vec![event(
        &new.id,
        None,
        InvoiceStatus::Open,
        actor,
        source,
        new.created_at,
    )];
    let mut status = InvoiceStatus::Open;
    let mut updated_at = new.created_at;
    let mut resolved_at = None;
    for &(next, at) in &new.later_statuses {
        events.push(event(&new.id, Some(status), next, actor, source, at));
        status = next;
        updated_at = at;
        if matches!(next, InvoiceStatus::Paid | InvoiceStatus::Cancelled) {
            resolved_at = Some(at);
        }
    }
    invoice::Entity::insert(invoice::ActiveModel {
        id: Set(new.id.clone()),
        friendly_id: Set(new.friendly_id.clone()),
        account_id: Set(new.account_id.clone()),
        order_id: Set(new.order_id.clone()),
        installment: Set(new.installment),
        number_of_installments: Set(new.number_of_installments),
        value_units: Set(new.value.units()),
        currency: Set(new.currency.clone()),
        original_due_date: Set(new.due_date),
        due_date: Set(new.due_date),
        status: Set(status.as_str().to_owned()),
        payment_link: Set(new.payment_link.clone()),
        observation: Set(new.observation.clone()),
        created_at: Set(new.created_at),
        updated_at: Set(updated_at),
        resolved_at: Set(resolved_at),
        // Version counts changes: one per recorded event.
        version: Set(events.len() as i32),
    })
    .exec_without_returning(db)
    .await?;
    invoice_event::Entity::insert_many(events)
        .exec_without_returning(db)
        .await?;
    Ok(())
}
