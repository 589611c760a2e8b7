//! What a row of an imported CSV means for an invoice: the change it asks for, and
//! whether a row from an older export may still apply (DESIGN section 8).

use chrono::{DateTime, NaiveDate, Utc};

use super::{ChangeRequest, Invoice, InvoiceEvent, InvoiceStatus, Refusal, RefusalCode};

/// One row of an import, typed. A field is `None` when its column is not in the file, so
/// a file may carry only the columns it means to apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportRow {
    /// The line of the file where the row starts (the header is line 1).
    pub line: u64,
    pub invoice_id: String,
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
    pub code: super::Code,
    pub message: String,
}

impl RowError {
    pub fn new(
        line: u64,
        column: Option<&'static str>,
        code: super::Code,
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

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};

    use super::*;
    use crate::domain::{ChangeSource, Money};

    fn today() -> NaiveDate {
        "2026-11-24".parse().unwrap()
    }

    fn invoice(stored: InvoiceStatus, due_in: i64, version: i32) -> Invoice {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        Invoice {
            id: "I-1".into(),
            friendly_id: "abcdefgh-1".into(),
            account_id: "A".into(),
            order_id: "O".into(),
            installment: 1,
            number_of_installments: 1,
            value: Money::parse("10.00").unwrap(),
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
            invoice_id: "I-1".into(),
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
}
