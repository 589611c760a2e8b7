//! Rows to domain records. A row that breaks a domain rule is a corrupt row, reported as a
//! store error rather than shown to clients.

use entity::{account, invoice, invoice_event, order};

use super::{StoreError, StoreResult};
use crate::domain::{
    Account, AccountStatus, ChangeSource, DocumentType, Invoice, InvoiceEvent, InvoiceStatus,
    Money, Order,
};

fn corrupt(what: &str, id: &str) -> impl FnOnce(crate::domain::DomainError) -> StoreError {
    let context = format!("{what} {id}");
    move |e| StoreError::Corrupt(format!("{context}: {e}"))
}

fn money(units: i64) -> Money {
    Money::from_units(units)
}

pub(super) fn account(row: account::Model) -> StoreResult<Account> {
    Ok(Account {
        document_type: DocumentType::parse(&row.document_type)
            .map_err(corrupt("account", &row.id))?,
        status: AccountStatus::parse(&row.status).map_err(corrupt("account", &row.id))?,
        credit_limit: money(row.credit_limit_units),
        tolerance: money(row.tolerance_units),
        id: row.id,
        document: row.document,
        name: row.name,
        email: row.email,
        currency: row.currency,
        created_at: row.created_at,
        updated_at: row.updated_at,
        version: row.version,
    })
}

pub(super) fn order(row: order::Model) -> Order {
    Order {
        id: row.id,
        account_id: row.account_id,
        value: money(row.value_units),
        currency: row.currency,
        created_at: row.created_at,
    }
}

pub(super) fn invoice(row: invoice::Model) -> StoreResult<Invoice> {
    Ok(Invoice {
        stored_status: InvoiceStatus::parse(&row.status).map_err(corrupt("invoice", &row.id))?,
        value: money(row.value_units),
        id: row.id,
        friendly_id: row.friendly_id,
        account_id: row.account_id,
        order_id: row.order_id,
        installment: row.installment,
        number_of_installments: row.number_of_installments,
        currency: row.currency,
        original_due_date: row.original_due_date,
        due_date: row.due_date,
        payment_link: row.payment_link,
        observation: row.observation,
        created_at: row.created_at,
        updated_at: row.updated_at,
        resolved_at: row.resolved_at,
        version: row.version,
    })
}

pub(super) fn event(row: invoice_event::Model) -> StoreResult<InvoiceEvent> {
    let status = |text: Option<String>| {
        text.map(|t| InvoiceStatus::parse(&t))
            .transpose()
            .map_err(corrupt("event of invoice", &row.invoice_id))
    };
    Ok(InvoiceEvent {
        status_from: status(row.status_from.clone())?,
        status_to: status(row.status_to.clone())?,
        source: ChangeSource::parse(&row.source).map_err(corrupt("event", &row.invoice_id))?,
        seq: row.seq,
        invoice_id: row.invoice_id,
        payment_link_from: row.payment_link_from,
        payment_link_to: row.payment_link_to,
        observation_from: row.observation_from,
        observation_to: row.observation_to,
        due_date_from: row.due_date_from,
        due_date_to: row.due_date_to,
        reason: row.reason,
        actor: row.actor,
        import_id: row.import_id,
        occurred_at: row.occurred_at,
    })
}
