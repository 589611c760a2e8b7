//! Invoices and money as the Customer Credit API writes them.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::domain::{Invoice, InvoiceStatus};

/// An invoice as the Customer Credit API writes it. Money is a JSON number written from
/// the decimal's own digits, never through a float. An overdue invoice is `Opened` (the
/// API's statuses know no overdue) with `overdue: true`; `currency` and `version` are
/// ours.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct InvoiceJson {
    id: String,
    friendly_id: String,
    status: &'static str,
    overdue: bool,
    value: Box<RawValue>,
    currency: String,
    account_id: String,
    credit_account_id: String,
    /// Credit applied to the invoice: always zero, as partial credits are not kept.
    credit_value: Box<RawValue>,
    created_at: String,
    updated_at: String,
    resolved_at: Option<String>,
    payment_link: Option<String>,
    original_due_date: String,
    due_date: String,
    installment: i32,
    number_of_installments: i32,
    order_id: String,
    transaction_id: String,
    observation: Option<String>,
    version: i32,
}

/// A decimal as a JSON number, digit for digit.
pub(super) fn number(value: Decimal) -> Box<RawValue> {
    // A normalized decimal prints as `-?digits(.digits)?`: always a JSON number.
    RawValue::from_string(value.normalize().to_string()).expect("a decimal is a JSON number")
}

fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The payment transaction an installment belongs to: its id without the `-NN`
/// installment suffix (`A424…1A2D-01` belongs to `A424…1A2D`).
fn transaction_id(invoice_id: &str) -> &str {
    match invoice_id.rsplit_once('-') {
        Some((transaction, installment))
            if !transaction.is_empty()
                && !installment.is_empty()
                && installment.bytes().all(|b| b.is_ascii_digit()) =>
        {
            transaction
        }
        _ => invoice_id,
    }
}

pub(super) fn to_json(invoice: Invoice, today: NaiveDate) -> InvoiceJson {
    let shown = invoice.status_on(today);
    InvoiceJson {
        status: match shown {
            InvoiceStatus::Overdue => InvoiceStatus::Open,
            other => other,
        }
        .customer_credit_name(),
        overdue: shown == InvoiceStatus::Overdue,
        value: number(invoice.value.amount()),
        credit_value: number(Decimal::ZERO),
        original_due_date: invoice.original_due_date.to_string(),
        due_date: invoice.due_date.to_string(),
        created_at: instant(invoice.created_at),
        updated_at: instant(invoice.updated_at),
        resolved_at: invoice.resolved_at.map(instant),
        transaction_id: transaction_id(&invoice.id).to_owned(),
        id: invoice.id,
        friendly_id: invoice.friendly_id,
        account_id: invoice.account_id.clone(),
        credit_account_id: invoice.account_id,
        order_id: invoice.order_id,
        currency: invoice.currency,
        installment: invoice.installment,
        number_of_installments: invoice.number_of_installments,
        payment_link: invoice.payment_link,
        observation: invoice.observation,
        version: invoice.version,
    }
}
