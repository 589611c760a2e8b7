//! What a row of an imported CSV means for an invoice: the change it asks for, what
//! becomes of it ([`decide_row`]), that each invoice has one row in a file
//! ([`BatchClaims`]), and whether a row from an older export may still apply (DESIGN
//! section 8). The import's pipeline (`service::imports`) reads rows and the database
//! around these rules; the rules themselves are all here.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use chrono::{DateTime, NaiveDate, Utc};

use super::{
    ChangeRequest, ChangeSource, Code, Id, Invoice, InvoiceEvent, InvoiceStatus, LinkPolicy,
    Outcome, Refusal, RefusalCode, decide,
};

/// One row of an import, typed. A field is `None` when its column is not in the file, so
/// a file may carry only the columns it means to apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportRow {
    /// The line of the file where the row starts (the header is line 1).
    pub line: u64,
    pub invoice_id: Id,
    pub status: Option<InvoiceStatus>,
    /// `Some(None)`: the cell is empty, which clears the link.
    pub payment_link: Option<Option<String>>,
    pub observation: Option<Option<String>>,
    /// The invoice's version when the file was exported.
    pub version: Option<i32>,
}

/// Why one row was refused: where (line and column) and what, for people and programs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    /// The template column at fault (`Status`, `Payment Link`, …), when one is.
    pub column: Option<String>,
    pub code: Code,
    pub message: String,
}

impl RowError {
    pub fn new(
        line: u64,
        column: Option<&'static str>,
        code: Code,
        message: impl Into<String>,
    ) -> RowError {
        RowError {
            line,
            column: column.map(str::to_owned),
            code,
            message: message.into(),
        }
    }

    /// A refusal of the change a row asked for, placed in the column it concerns.
    pub fn refused(line: u64, refusal: Refusal) -> RowError {
        let column = match refusal.field {
            Some("id") => Some("Invoice ID"),
            Some("status" | "reason") => Some("Status"),
            Some("paymentLink") => Some("Payment Link"),
            Some("observation") => Some("Observation"),
            Some("expectedVersion") => Some("Version"),
            _ => None,
        };
        let message = match refusal.code {
            RefusalCode::ReasonRequired => {
                "reopening a paid invoice needs a reason: use the changeInvoice mutation".into()
            }
            _ => refusal.message,
        };
        RowError::new(line, column, refusal.code.into(), message)
    }
}

/// Where an import stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportState {
    /// Still reading and applying rows.
    Running,
    /// Its changes are committed (with `apply_valid_rows`, those of the valid rows).
    Applied,
    /// Some rows were refused, so nothing was applied.
    Rejected,
    /// A dry run: checked, nothing applied.
    Checked,
    /// The file as a whole was refused, or the import failed; nothing was applied.
    Failed,
    /// Its process stopped before it finished; nothing was applied.
    Interrupted,
}

impl ImportState {
    pub const ALL: [ImportState; 6] = [
        ImportState::Running,
        ImportState::Applied,
        ImportState::Rejected,
        ImportState::Checked,
        ImportState::Failed,
        ImportState::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ImportState::Running => "RUNNING",
            ImportState::Applied => "APPLIED",
            ImportState::Rejected => "REJECTED",
            ImportState::Checked => "CHECKED",
            ImportState::Failed => "FAILED",
            ImportState::Interrupted => "INTERRUPTED",
        }
    }

    pub fn parse(text: &str) -> Option<ImportState> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// How far an import got: rows read so far, and what became of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportCounts {
    pub read: u64,
    pub changed: u64,
    pub unchanged: u64,
    pub refused: u64,
}

/// One import, as its history lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvoiceImport {
    pub id: String,
    pub file_name: String,
    pub actor: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub dry_run: bool,
    pub apply_valid_rows: bool,
    pub state: ImportState,
    /// Data rows in the file, once it has been checked.
    pub rows_total: Option<u64>,
    /// When the import last showed a sign of life (running imports, on PostgreSQL).
    pub heartbeat_at: Option<DateTime<Utc>>,
    pub counts: ImportCounts,
    /// What was wrong with the file as a whole, or why the import failed.
    pub problem: Option<String>,
}

fn unpaid(status: InvoiceStatus) -> bool {
    matches!(status, InvoiceStatus::Open | InvoiceStatus::Overdue)
}

impl ImportRow {
    /// The change this row asks of `invoice`. Open and Overdue are one unpaid state here:
    /// an export says `Open` for an invoice that is overdue by the time the file comes
    /// back, and that row asks for no status change.
    pub fn request(&self, invoice: &Invoice, today: NaiveDate) -> ChangeRequest {
        let status = self
            .status
            .filter(|wanted| !(unpaid(*wanted) && unpaid(invoice.status_on(today))));
        ChangeRequest {
            status,
            payment_link: self.payment_link.clone(),
            observation: self.observation.clone(),
            ..ChangeRequest::default()
        }
    }
}

/// Whether a row exported at `row_version` may change `invoice` now. A row from the
/// current version may; so may a row without a version (a file written by hand or by
/// another system). A row from an older export may only when every change since was the
/// invoice becoming overdue: anything else (paid, cancelled, a new link, a note) would be
/// undone by applying it. `history` is the invoice's events, oldest first: each change
/// bumps the version by one and writes one event.
pub fn check_not_stale(
    row_version: Option<i32>,
    invoice: &Invoice,
    history: &[InvoiceEvent],
) -> Result<(), Refusal> {
    let Some(exported) = row_version else {
        return Ok(());
    };
    let conflict = |message: String| Refusal {
        code: RefusalCode::VersionConflict,
        field: Some("expectedVersion"),
        message,
    };
    if exported > invoice.version {
        return Err(conflict(format!(
            "the file says version {exported} but the invoice is at version {}: \
             was this file exported from another database?",
            invoice.version
        )));
    }
    let since = usize::try_from(invoice.version - exported).unwrap_or(0);
    let became_overdue = |event: &InvoiceEvent| {
        event.status_from == Some(InvoiceStatus::Open)
            && event.status_to == Some(InvoiceStatus::Overdue)
            && event.payment_link_from.is_none()
            && event.payment_link_to.is_none()
            && event.observation_from.is_none()
            && event.observation_to.is_none()
            && event.due_date_to.is_none()
    };
    let recent = &history[history.len().saturating_sub(since)..];
    if recent.len() == since && recent.iter().all(became_overdue) {
        Ok(())
    } else {
        Err(conflict(format!(
            "the invoice changed after this file was exported (version {exported} in the \
             file, {} now): export again and redo this row",
            invoice.version
        )))
    }
}

/// Each invoice once in a file: the first row naming an invoice claims it, and a later row
/// naming it again is refused, pointing at the first. A file is read in batches; this
/// holds one batch's claims, while the claims of earlier batches are remembered by the
/// import's transaction (so that memory does not grow with the file) and come back as
/// `earlier` in [`BatchClaims::check`].
#[derive(Debug, Default)]
pub struct BatchClaims<'a> {
    /// Each id of the batch with the line of its first row, in line order.
    claims: Vec<(&'a str, u64)>,
    /// The line of each repeated row, with the line of the batch's first row of its id.
    repeats: HashMap<u64, u64>,
}

impl<'a> BatchClaims<'a> {
    /// The claims of a batch of rows, in file order.
    pub fn of(rows: impl IntoIterator<Item = &'a ImportRow>) -> BatchClaims<'a> {
        let mut first_lines: HashMap<&str, u64> = HashMap::new();
        let mut batch = BatchClaims::default();
        for row in rows {
            match first_lines.entry(&row.invoice_id) {
                Entry::Occupied(first) => {
                    batch.repeats.insert(row.line, *first.get());
                }
                Entry::Vacant(slot) => {
                    slot.insert(row.line);
                    batch.claims.push((&row.invoice_id, row.line));
                }
            }
        }
        batch
    }

    /// Each id the batch names, once, with the line of its first row: what the import
    /// must remember (and check against the earlier batches).
    pub fn claims(&self) -> &[(&'a str, u64)] {
        &self.claims
    }

    /// Refuses `row` when an earlier row named its invoice: a row of an earlier batch
    /// (`earlier`: ids with the line they were first on), else an earlier row of this one.
    pub fn check(&self, row: &ImportRow, earlier: &HashMap<String, u64>) -> Result<(), RowError> {
        let first = match earlier.get(row.invoice_id.as_str()) {
            Some(line) => Some(*line),
            None => self.repeats.get(&row.line).copied(),
        };
        match first {
            None => Ok(()),
            Some(first) => Err(RowError::new(
                row.line,
                Some("Invoice ID"),
                Code::DuplicateRow,
                format!(
                    "invoice `{}` is already on line {first}: give each invoice one row",
                    row.invoice_id
                ),
            )),
        }
    }
}

/// What becomes of one row of an import (see [`decide_row`]), with the invoice it
/// concerns.
#[derive(Clone, Debug)]
pub enum RowVerdict {
    /// The invoice already is as the row says: nothing to write.
    Unchanged,
    /// The change to write.
    Change(Invoice, Outcome),
    /// The row is from another version of the invoice: whatever it asks (`decided`, even
    /// what the rules now refuse, such as making a since-paid invoice overdue again),
    /// the first question is whether the invoice changed under it. Settled by
    /// [`settle_stale_row`] once the invoice's history is read.
    Stale(Invoice, Result<Outcome, Refusal>),
    /// The row is refused.
    Refused(RowError),
}

/// Decides one row of an import against its invoice as it is now (`None`: no invoice has
/// the row's id), with the same rule as every change (`decide`). The verdict keeps the
/// invoice (an import reads a million of them: none is copied).
pub fn decide_row(
    row: &ImportRow,
    invoice: Option<Invoice>,
    today: NaiveDate,
    links: LinkPolicy,
) -> RowVerdict {
    let Some(invoice) = invoice else {
        return RowVerdict::Refused(RowError::new(
            row.line,
            Some("Invoice ID"),
            Code::NotFound,
            format!("no invoice `{}`", row.invoice_id),
        ));
    };
    let request = row.request(&invoice, today);
    match decide(&invoice, request, today, ChangeSource::CsvImport, links) {
        Ok(outcome) if outcome.is_noop() => RowVerdict::Unchanged,
        decided if row.version.is_some_and(|v| v != invoice.version) => {
            RowVerdict::Stale(invoice, decided)
        }
        Ok(outcome) => RowVerdict::Change(invoice, outcome),
        Err(refusal) => RowVerdict::Refused(RowError::refused(row.line, refusal)),
    }
}

/// The end of a [`RowVerdict::Stale`] row: its change, when the invoice's `history`
/// (oldest first) shows nothing since the row's version that it would undo.
pub fn settle_stale_row(
    row: &ImportRow,
    invoice: &Invoice,
    history: &[InvoiceEvent],
    decided: Result<Outcome, Refusal>,
) -> Result<Outcome, RowError> {
    check_not_stale(row.version, invoice, history)
        .and(decided)
        .map_err(|refusal| RowError::refused(row.line, refusal))
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::domain::ChangeSource;

    use crate::domain::fixtures::{invoice, today};

    fn event(from: InvoiceStatus, to: InvoiceStatus) -> InvoiceEvent {
        InvoiceEvent {
            seq: 1,
            invoice_id: "I-1".into(),
            status_from: Some(from),
            status_to: Some(to),
            payment_link_from: None,
            payment_link_to: None,
            observation_from: None,
            observation_to: None,
            due_date_from: None,
            due_date_to: None,
            reason: None,
            actor: "sweeper".into(),
            source: ChangeSource::Sweeper,
            import_id: None,
            occurred_at: Utc::now(),
        }
    }

    fn row(status: InvoiceStatus) -> ImportRow {
        ImportRow {
            line: 2,
            invoice_id: Id::parse("I-1").unwrap(),
            status: Some(status),
            payment_link: None,
            observation: None,
            version: Some(1),
        }
    }

    #[test]
    fn open_and_overdue_are_one_unpaid_state() {
        let overdue = invoice(InvoiceStatus::Open, -3, 1);
        assert_eq!(
            row(InvoiceStatus::Open).request(&overdue, today()).status,
            None
        );
        let open = invoice(InvoiceStatus::Open, 3, 1);
        assert_eq!(
            row(InvoiceStatus::Overdue).request(&open, today()).status,
            None
        );
        assert_eq!(
            row(InvoiceStatus::Paid).request(&overdue, today()).status,
            Some(InvoiceStatus::Paid)
        );
        let paid = invoice(InvoiceStatus::Paid, 3, 2);
        assert_eq!(
            row(InvoiceStatus::Open).request(&paid, today()).status,
            Some(InvoiceStatus::Open)
        );
    }

    #[test]
    fn a_row_of_the_current_version_or_without_one_applies() {
        let current = invoice(InvoiceStatus::Open, 3, 4);
        let history = vec![event(InvoiceStatus::Open, InvoiceStatus::Paid); 4];
        assert!(check_not_stale(Some(4), &current, &history).is_ok());
        assert!(check_not_stale(None, &current, &history).is_ok());
    }

    #[test]
    fn a_stale_row_applies_only_over_becoming_overdue() {
        let overdue = invoice(InvoiceStatus::Overdue, -1, 2);
        let swept = vec![
            event(InvoiceStatus::Open, InvoiceStatus::Open),
            event(InvoiceStatus::Open, InvoiceStatus::Overdue),
        ];
        assert!(check_not_stale(Some(1), &overdue, &swept).is_ok());

        let paid = vec![
            event(InvoiceStatus::Open, InvoiceStatus::Open),
            event(InvoiceStatus::Open, InvoiceStatus::Paid),
        ];
        let refused = check_not_stale(Some(1), &overdue, &paid).unwrap_err();
        assert_eq!(refused.code, RefusalCode::VersionConflict);

        let mut linked = event(InvoiceStatus::Open, InvoiceStatus::Overdue);
        linked.payment_link_to = Some("https://pay.example/1".into());
        assert!(check_not_stale(Some(1), &overdue, &[swept[0].clone(), linked]).is_err());
    }

    #[test]
    fn a_row_from_the_future_or_with_missing_history_conflicts() {
        let current = invoice(InvoiceStatus::Open, 3, 2);
        assert!(check_not_stale(Some(3), &current, &[]).is_err());
        assert!(check_not_stale(Some(1), &current, &[]).is_err());
    }

    fn row_at(line: u64, id: &str) -> ImportRow {
        ImportRow {
            line,
            invoice_id: Id::parse(id).unwrap(),
            ..row(InvoiceStatus::Paid)
        }
    }

    #[test]
    fn a_second_row_for_an_invoice_is_refused_pointing_at_the_first() {
        let rows = [row_at(2, "I-1"), row_at(3, "I-2"), row_at(4, "I-1")];

        let batch = BatchClaims::of(&rows);

        assert_eq!(batch.claims(), [("I-1", 2), ("I-2", 3)]);
        let none = HashMap::new();
        assert!(batch.check(&rows[0], &none).is_ok());
        assert!(batch.check(&rows[1], &none).is_ok());
        let refused = batch.check(&rows[2], &none).unwrap_err();
        assert_eq!(
            (refused.line, refused.column.as_deref(), refused.code),
            (4, Some("Invoice ID"), Code::DuplicateRow)
        );
        assert!(refused.message.contains("already on line 2"));
    }

    #[test]
    fn a_row_naming_an_invoice_of_an_earlier_batch_points_at_that_batch() {
        let rows = [row_at(20_002, "I-1"), row_at(20_003, "I-1")];
        let earlier = HashMap::from([("I-1".to_owned(), 7)]);

        let batch = BatchClaims::of(&rows);

        assert_eq!(batch.claims(), [("I-1", 20_002)]);
        for row in &rows {
            let refused = batch.check(row, &earlier).unwrap_err();
            assert!(refused.message.contains("already on line 7"), "{refused:?}");
        }
    }

    #[test]
    fn a_row_is_decided_by_the_rules_of_every_change() {
        let links = LinkPolicy::default();
        let open = invoice(InvoiceStatus::Open, 3, 1);
        let paid = invoice(InvoiceStatus::Paid, 3, 1);

        let unknown = decide_row(&row(InvoiceStatus::Paid), None, today(), links);
        let same = decide_row(
            &row(InvoiceStatus::Open),
            Some(open.clone()),
            today(),
            links,
        );
        let pays = decide_row(&row(InvoiceStatus::Paid), Some(open), today(), links);
        let reopened = decide_row(&row(InvoiceStatus::Open), Some(paid), today(), links);

        assert!(matches!(unknown, RowVerdict::Refused(e) if e.code == Code::NotFound));
        assert!(matches!(same, RowVerdict::Unchanged));
        assert!(matches!(pays, RowVerdict::Change(_, outcome) if outcome.resolves));
        assert!(matches!(
            reopened,
            RowVerdict::Refused(e) if e.column.as_deref() == Some("Status")
        ));
    }

    #[test]
    fn a_row_from_another_version_waits_for_the_invoices_history() {
        let links = LinkPolicy::default();
        let overdue = invoice(InvoiceStatus::Overdue, -1, 2);
        let paid_row = row(InvoiceStatus::Paid);

        let RowVerdict::Stale(_, decided) =
            decide_row(&paid_row, Some(overdue.clone()), today(), links)
        else {
            panic!("a row of version 1 against version 2 is stale");
        };

        let swept = [event(InvoiceStatus::Open, InvoiceStatus::Overdue)];
        let settled = settle_stale_row(&paid_row, &overdue, &swept, decided.clone());
        assert!(settled.is_ok_and(|outcome| outcome.resolves));
        let paid = [event(InvoiceStatus::Open, InvoiceStatus::Paid)];
        let refused = settle_stale_row(&paid_row, &overdue, &paid, decided).unwrap_err();
        assert_eq!(
            (refused.line, refused.code),
            (2, Code::from(RefusalCode::VersionConflict))
        );
    }
}
