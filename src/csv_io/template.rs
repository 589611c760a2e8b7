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

/// Characters after which a spreadsheet may start a new cell: the delimiters of every
/// locale (a comma export opened where `;` separates, and the reverse), tabs, and line
/// breaks (a quoted cell read by a program that ignores quotes).
const CELL_BREAKS: [char; 5] = [',', ';', '\t', '\r', '\n'];

/// Whether a spreadsheet would run text starting here as a formula: a formula character,
/// after any apostrophes, spaces (some spreadsheets trim spaces first) and double quotes
/// (a reader splitting on the other delimiter may take one for the start of a quoted
/// cell).
fn is_formula_start(text: &str) -> bool {
    text.trim_start_matches(['\'', ' ', '"'])
        .starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// Where a spreadsheet might start a cell inside this text: its start, and after every
/// cell break.
fn cell_starts(text: &str) -> impl Iterator<Item = usize> + '_ {
    std::iter::once(0).chain(
        text.char_indices()
            .filter(|(_, c)| CELL_BREAKS.contains(c))
            .map(|(at, c)| at + c.len_utf8()),
    )
}

/// Text a spreadsheet shows as text and never executes, however it splits the line: every
/// place a cell might start with a formula gets an apostrophe. So does a place that
/// already looks escaped (apostrophes before a formula start), so that [`restore`] gives
/// back exactly what was written.
pub fn neutralise(text: &str) -> Cow<'_, str> {
    let mut marks = cell_starts(text)
        .filter(|&at| is_formula_start(&text[at..]))
        .peekable();
    if marks.peek().is_none() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 4);
    let mut copied = 0;
    for at in marks {
        out.push_str(&text[copied..at]);
        out.push('\'');
        copied = at;
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// The text of a cell written by [`neutralise`]: each apostrophe it added is taken off.
pub fn restore(cell: &str) -> Cow<'_, str> {
    let mut marks = cell_starts(cell)
        .filter(|&at| cell[at..].starts_with('\'') && is_formula_start(&cell[at + 1..]))
        .peekable();
    if marks.peek().is_none() {
        return Cow::Borrowed(cell);
    }
    let mut out = String::with_capacity(cell.len());
    let mut copied = 0;
    for at in marks {
        out.push_str(&cell[copied..at]);
        copied = at + 1;
    }
    out.push_str(&cell[copied..]);
    Cow::Owned(out)
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
            "=1+1", "+55 11", "-3", "@SUM(A1)", "\tx", "\rx", "'=x", "''@y", " =1", "' =1",
        ] {
            let cell = neutralise(text);
            assert!(cell.starts_with('\''), "{text:?} became {cell:?}");
            assert_eq!(restore(&cell), text);
        }
        for text in ["plain", "'quoted'", "", "a=b", "1250.50", "a; b", "x,'y"] {
            assert_eq!(neutralise(text), text);
            assert_eq!(restore(text), text);
        }
    }

    #[test]
    fn a_formula_after_any_delimiter_is_neutralised_too() {
        for (text, cell) in [
            ("Pago;=1+2", "Pago;'=1+2"),
            ("X;=cmd|'/Ccalc'!A0", "X;'=cmd|'/Ccalc'!A0"),
            ("ok,=1+2", "ok,'=1+2"),
            ("a\t@x", "a\t'@x"),
            ("line\n-1", "line\n'-1"),
            ("a;\t=1", "a;'\t'=1"),
            ("=a;;+b,'=c", "'=a;;'+b,''=c"),
            ("já;=ç", "já;'=ç"),
            ("a;\"=1+2", "a;'\"=1+2"),
        ] {
            assert_eq!(neutralise(text), cell, "{text:?}");
            assert_eq!(restore(cell), text, "{cell:?}");
        }
    }

    #[test]
    fn restore_undoes_neutralise_for_any_text() {
        let alphabet = [
            'a', '=', '+', '-', '@', '\'', ' ', ',', ';', '\t', '\r', '\n', 'ç',
        ];
        // Every text of up to four characters from the alphabet.
        let mut texts = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = texts
                .iter()
                .flat_map(|t| alphabet.iter().map(move |c| format!("{t}{c}")))
                .collect();
            texts.extend(longer);
            texts.dedup();
        }
        for text in &texts {
            let cell = neutralise(text);
            assert_eq!(restore(&cell), text.as_str(), "{text:?} -> {cell:?}");
            for at in cell_starts(&cell) {
                assert!(
                    !cell[at..].starts_with(['=', '+', '-', '@']),
                    "{text:?} -> {cell:?}: a formula at {at}"
                );
            }
        }
    }
}
