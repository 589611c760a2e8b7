//! What the domain's unit tests build on: one day and one invoice, written once.

use chrono::{Duration, NaiveDate, TimeZone, Utc};

use super::{Invoice, InvoiceStatus, Money};

/// The tests' today.
pub(crate) fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 24).expect("a date")
}

/// Invoice `I-1` of 10.00 BRL, stored as `stored`, due `due_in` days from [`today`],
/// at `version`.
pub(crate) fn invoice(stored: InvoiceStatus, due_in: i64, version: i32) -> Invoice {
    let at = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("an instant");
    Invoice {
        id: "I-1".into(),
        friendly_id: "abcdefgh-1".into(),
        account_id: "A".into(),
        order_id: "O".into(),
        installment: 1,
        number_of_installments: 1,
        value: Money::parse("10.00").expect("money"),
        currency: "BRL".into(),
        original_due_date: today() + Duration::days(due_in),
        due_date: today() + Duration::days(due_in),
        stored_status: stored,
        payment_link: None,
        observation: None,
        created_at: at,
        updated_at: at,
        resolved_at: None,
        version,
    }
}
