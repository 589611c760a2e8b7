//! The fixed columns (DESIGN section 8), how each is written, and the guard against
//! spreadsheet formulas.

use std::borrow::Cow;

use crate::domain::InvoiceStatus;

/// A column of the invoice template, in the order exports write them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    InvoiceId,
    FriendlyId,
    AccountId,
    OrderId,
    Installment,
    Value,
    Currency,
    DueDate,
    Status,
    PaymentLink,
    Observation,
    Version,
}

impl Column {
    pub const ALL: [Column; 12] = [
        Column::InvoiceId,
        Column::FriendlyId,
        Column::AccountId,
        Column::OrderId,
        Column::Installment,
        Column::Value,
        Column::Currency,
        Column::DueDate,
        Column::Status,
        Column::PaymentLink,
        Column::Observation,
        Column::Version,
    ];

    /// The columns an import applies; every other column is read-only and ignored.
    pub const APPLIED: [Column; 3] = [Column::Status, Column::PaymentLink, Column::Observation];

    pub fn header(self) -> &'static str {
        match self {
            Column::InvoiceId => "Invoice ID",
            Column::FriendlyId => "Friendly ID",
            Column::AccountId => "Account ID",
            Column::OrderId => "Order ID",
            Column::Installment => "Installment",
            Column::Value => "Value",
            Column::Currency => "Currency",
            Column::DueDate => "Due Date",
            Column::Status => "Status",
            Column::PaymentLink => "Payment Link",
            Column::Observation => "Observation",
            Column::Version => "Version",
        }
    }

    /// The column a header cell names, ignoring case, spaces, `_` and `-`
    /// (`invoice_id`, `INVOICE ID` and ` Invoice Id ` all name `Invoice ID`).
    pub fn named(header: &str) -> Option<Column> {
        let key = squash(header);
        Column::ALL
            .into_iter()
            .find(|column| squash(column.header()) == key)
    }
}

fn squash(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// How exports write a status: the way people type it in a spreadsheet.
pub fn status_label(status: InvoiceStatus) -> &'static str {
    match status {
        InvoiceStatus::Open => "Open",
        InvoiceStatus::Paid => "Paid",
        InvoiceStatus::Cancelled => "Cancelled",
        InvoiceStatus::Overdue => "Overdue",
    }
}

/// Whether a spreadsheet would run a cell with this text as a formula.
fn is_formula_start(text: &str) -> bool {
    text.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// A cell a spreadsheet shows as text and never executes: text that would start a formula
/// gets a leading apostrophe. So does text that already looks escaped (apostrophes before
/// a formula start), so that [`restore`] gives back exactly what was written.
pub fn neutralise(text: &str) -> Cow<'_, str> {
    if is_formula_start(text.trim_start_matches('\'')) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// The text of a cell written by [`neutralise`].
pub fn restore(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if is_formula_start(rest.trim_start_matches('\'')) => rest,
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_match_whatever_their_case_and_spacing() {
        assert_eq!(Column::named("Invoice ID"), Some(Column::InvoiceId));
        assert_eq!(Column::named("  invoice_id "), Some(Column::InvoiceId));
        assert_eq!(Column::named("PAYMENT-LINK"), Some(Column::PaymentLink));
        assert_eq!(Column::named("DueDate"), Some(Column::DueDate));
        assert_eq!(Column::named("Invoice"), None);
    }

    #[test]
    fn formulas_are_neutralised_and_restored_exactly() {
        for text in [
            "=1+1", "+55 11", "-3", "@SUM(A1)", "\tx", "\rx", "'=x", "''@y",
        ] {
            let cell = neutralise(text);
            assert!(cell.starts_with('\''), "{text:?} became {cell:?}");
            assert_eq!(restore(&cell), text);
        }
        for text in ["plain", "'quoted'", "", "a=b", "1250.50"] {
            assert_eq!(neutralise(text), text);
            assert_eq!(restore(text), text);
        }
    }
}
