//! The course of one import, as its background task runs it: the file is checked, then
//! read on a blocking thread in batches; each batch is decided row by row by the rules of
//! `domain::import` against the invoices as they are now, and written in the import's
//! one transaction; at the end the record and the refused rows go to the history. What a
//! row means is not decided here.

use std::fs::File;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use tokio::sync::mpsc;
use tracing::Instrument;

use super::registry::Progress;
use super::spill::ErrorSpill;
use super::{BATCH_ROWS, ImportOptions, ImportReport};
use crate::csv_io::{Column, FileProblem, ImportFile, Limits};
use crate::domain::{
    BatchClaims, ChangeSource, ImportRow, ImportState, InvoiceImport, Origin, RowError, RowVerdict,
    decide_row, settle_stale_row,
};
use crate::service::UseCases;
use crate::store::{Change, ImportTxn, Staged, StoreError};
use crate::xlsx_io::{as_template_csv, column_letter};

/// Times the bookkeeping of a finished import is retried while SQLite is locked by
/// another import (each attempt waits out SQLite's own busy timeout first).
const BUSY_RETRIES: u32 = 120;

/// Changes written at a time while a batch is decided, so that a batch's changes (each
/// with its invoice as read) are never all held at once (benches/README.md, the import's
/// memory).
const WRITE_CHUNK: usize = 1000;

/// What became of a batch of rows.
#[derive(Default)]
pub(super) struct Batch {
    pub(super) changed: u64,
    pub(super) unchanged: u64,
    pub(super) errors: Vec<RowError>,
}

/// Why an import stopped on the gateway's side.
#[derive(Debug, thiserror::Error)]
pub(super) enum ImportFault {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("reader task: {0}")]
    Task(String),
}

/// Rows read from a file: a batch of rows (each typed or refused), or the file's problem.
type Rows = Result<Vec<Result<ImportRow, RowError>>, FileProblem>;

impl UseCases {
    /// Runs an import to its end and records how it went. Never fails: a fault is
    /// recorded as a failed import (and logged), with nothing applied.
    pub(super) async fn run_import(
        &self,
        mut record: InvoiceImport,
        file: File,
        progress: &Progress,
    ) -> ImportReport {
        let mut spill = match ErrorSpill::new() {
            Ok(spill) => spill,
            Err(e) => return self.fail(record, &format!("no temporary file: {e}")).await,
        };
        let outcome = self
            .apply_file(&mut record, file, progress, &mut spill)
            .await;
        let problem = match outcome {
            Ok(problem) => problem,
            Err(e) => return self.fail(record, &format!("{e}")).await,
        };
        if let Some(problem) = &problem {
            record.state = ImportState::Failed;
            record.problem = Some(problem.to_string());
            spill.push(&RowError::new(
                problem.line(),
                None,
                problem.code().into(),
                problem.to_string(),
            ));
        }
        if record.state != ImportState::Applied {
            // An applied import stored its refused rows and its record with its changes.
            // Any other stores them now: refused rows first, so that a finished import
            // always lists them all.
            record.finished_at = Some(Utc::now().trunc_subsecs(6));
            let mut attempts = 0;
            loop {
                let stored = async {
                    spill.store(&self.store, &record.id, None).await?;
                    self.store.update_import(&record, None).await?;
                    Ok::<_, ImportFault>(())
                };
                match stored.await {
                    Ok(()) => break,
                    // SQLite, with another import holding the write lock: wait for it.
                    Err(ImportFault::Store(e)) if e.is_unavailable() && attempts < BUSY_RETRIES => {
                        attempts += 1;
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    Err(e) => return self.fail(record, &format!("{e}")).await,
                }
            }
        }
        tracing::info!(
            import.id = %record.id,
            import.state = record.state.as_str(),
            import.rows = record.counts.read,
            import.changed = record.counts.changed,
            import.refused = record.counts.refused,
            "import finished"
        );
        ImportReport {
            import: record,
            problem,
        }
    }

    async fn fail(&self, mut record: InvoiceImport, why: &str) -> ImportReport {
        tracing::error!(import.id = %record.id, error = why, "import failed");
        record.state = ImportState::Failed;
        record.finished_at = Some(Utc::now().trunc_subsecs(6));
        record.problem =
            Some("the import failed on the gateway's side; nothing was applied".into());
        if let Err(e) = self.store.update_import(&record, None).await {
            tracing::error!(import.id = %record.id, error = %e, "import failure not recorded");
        }
        ImportReport {
            import: record,
            problem: None,
        }
    }

    /// Checks the file, then reads, decides and (unless it is a dry run) writes every
    /// row; commits when the import applies. Returns the file's problem, if it has one.
    async fn apply_file(
        &self,
        record: &mut InvoiceImport,
        file: File,
        progress: &Progress,
        spill: &mut ErrorSpill,
    ) -> Result<Option<FileProblem>, ImportFault> {
        let limits = self.settings().import_limits;
        let checked = tokio::task::spawn_blocking(move || open_import(file, limits))
            .await
            .map_err(|e| ImportFault::Task(e.to_string()))?;
        let (checked, sheet) = match checked {
            Ok(checked) => checked,
            Err(problem) => return Ok(Some(problem)),
        };
        record.rows_total = Some(checked.rows());
        progress.set_total(checked.rows());
        let mut batches = read_batches(checked);

        let options = ImportOptions {
            dry_run: record.dry_run,
            apply_valid_rows: record.apply_valid_rows,
        };
        let mut txn = self.store.begin_import(!options.dry_run).await?;
        let origin = Origin {
            actor: record.actor.clone(),
            source: ChangeSource::CsvImport,
            import_id: Some(record.id.clone()),
        };
        while let Some(rows) = batches.recv().await {
            let rows = match rows {
                Ok(rows) => rows,
                Err(problem) => {
                    txn.rollback().await?;
                    return Ok(Some(problem));
                }
            };
            let read = rows.len() as u64;
            let span = tracing::info_span!(
                "import batch",
                import.id = %record.id,
                // Numbers as i64: OpenTelemetry has no unsigned attributes.
                import.rows = i64::try_from(read).unwrap_or(i64::MAX),
                import.changes = tracing::field::Empty,
            );
            // An all-or-nothing import that has refused a row only checks the rest (what
            // it wrote before is rolled back at its end, with everything else).
            let writing = (!options.dry_run
                && (options.apply_valid_rows || progress.refused() == 0))
                .then(|| (&origin, Utc::now().trunc_subsecs(6)));
            let batch = self
                .decide_batch(&mut txn, rows, writing)
                .instrument(span.clone())
                .await?;
            span.record(
                "import.changes",
                i64::try_from(batch.changed).unwrap_or(i64::MAX),
            );
            progress.add(&batch, read);
            for error in &batch.errors {
                match &sheet {
                    Some(sheet) => spill.push(&in_sheet(error, sheet)),
                    None => spill.push(error),
                }
            }
        }
        record.counts = progress.counts();
        record.state = if options.dry_run {
            ImportState::Checked
        } else if record.counts.refused > 0 && !options.apply_valid_rows {
            ImportState::Rejected
        } else {
            ImportState::Applied
        };
        if record.state == ImportState::Applied {
            txn.write_staged().await?;
            record.finished_at = Some(Utc::now().trunc_subsecs(6));
            // The record commits with the changes: history never shows an import
            // applied that is not, or the reverse.
            spill.store(&self.store, &record.id, Some(&txn)).await?;
            self.store.update_import(record, Some(&txn)).await?;
            txn.commit().await?;
        } else {
            txn.rollback().await?;
        }
        Ok(None)
    }

    /// Decides a batch of rows against the invoices as they are now (locked when the
    /// import applies), and writes its changes when the import writes (`writing`: by
    /// whom, and when).
    async fn decide_batch(
        &self,
        txn: &mut ImportTxn,
        rows: Vec<Result<ImportRow, RowError>>,
        writing: Option<(&Origin, DateTime<Utc>)>,
    ) -> Result<Batch, StoreError> {
        let mut batch = Batch::default();
        let mut typed = Vec::with_capacity(rows.len());
        for row in rows {
            match row {
                Ok(row) => typed.push(row),
                Err(error) => batch.errors.push(error),
            }
        }
        // Each id once in this batch, then once in the whole file: the transaction keeps
        // the ids it has seen (a temporary table), so memory does not grow with the file.
        let claims = BatchClaims::of(&typed);
        let Staged {
            earlier,
            mut invoices,
        } = txn.stage(claims.claims()).await?;
        let (today, links) = (self.today(), self.link_policy());
        let mut changes = Vec::with_capacity(WRITE_CHUNK);
        let mut stale = Vec::new();
        for row in &typed {
            if let Err(duplicate) = claims.check(row, &earlier) {
                batch.errors.push(duplicate);
                continue;
            }
            // Each id is decided once (a repeat was refused above): its invoice moves
            // into the verdict.
            let invoice = invoices.remove(row.invoice_id.as_str());
            match decide_row(row, invoice, today, links) {
                RowVerdict::Unchanged => batch.unchanged += 1,
                RowVerdict::Change(invoice, outcome) => {
                    changes.push(Change { invoice, outcome });
                    if changes.len() == WRITE_CHUNK {
                        batch.changed += write_chunk(txn, &mut changes, writing).await?;
                    }
                }
                RowVerdict::Stale(invoice, decided) => stale.push((row, invoice, decided)),
                RowVerdict::Refused(error) => batch.errors.push(error),
            }
        }
        // Rows from an older export: rare, so their histories are read only for them.
        if !stale.is_empty() {
            let ids: Vec<&str> = stale.iter().map(|(r, ..)| r.invoice_id.as_str()).collect();
            let histories = txn.histories(&ids).await?;
            for (row, invoice, decided) in stale {
                let history = histories
                    .get(row.invoice_id.as_str())
                    .map_or(&[][..], Vec::as_slice);
                match settle_stale_row(row, &invoice, history, decided) {
                    Ok(outcome) => changes.push(Change { invoice, outcome }),
                    Err(error) => batch.errors.push(error),
                }
            }
        }
        batch.changed += write_chunk(txn, &mut changes, writing).await?;
        if writing.is_some() {
            txn.flush().await?;
        }
        batch.errors.sort_by_key(|e| e.line);
        Ok(batch)
    }
}

/// Writes `changes` when the import writes (`writing`), and empties them. Answers how
/// many there were.
async fn write_chunk(
    txn: &mut ImportTxn,
    changes: &mut Vec<Change>,
    writing: Option<(&Origin, DateTime<Utc>)>,
) -> Result<u64, StoreError> {
    if let Some((origin, at)) = writing {
        txn.write(changes, origin, at).await?;
    }
    let written = changes.len() as u64;
    changes.clear();
    Ok(written)
}

/// Rows of a checked file in batches, read on a blocking thread; at most a few batches
/// are in flight, so reading never runs far ahead of the database.
fn read_batches(file: ImportFile) -> mpsc::Receiver<Rows> {
    let (tx, rx) = mpsc::channel(2);
    tokio::task::spawn_blocking(move || {
        let mut rows = match file.into_rows() {
            Ok(rows) => rows,
            Err(problem) => {
                let _ = tx.blocking_send(Err(problem));
                return;
            }
        };
        let mut batch = Vec::with_capacity(BATCH_ROWS);
        while let Some(row) = rows.next_row() {
            match row {
                Ok(row) => batch.push(row),
                Err(problem) => {
                    let _ = tx.blocking_send(Err(problem));
                    return;
                }
            }
            if batch.len() == BATCH_ROWS {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_ROWS));
                if tx.blocking_send(Ok(full)).is_err() {
                    return;
                }
            }
        }
        if !batch.is_empty() {
            let _ = tx.blocking_send(Ok(batch));
        }
    });
    rx
}

/// A workbook's column letters, by template column (`Status` → `C`), and its blank rows
/// above the header (added to line numbers, so that they are the sheet's rows).
struct Sheet {
    letters: std::collections::HashMap<&'static str, String>,
    above: u64,
}

/// The uploaded file, checked: a workbook is read as the CSV of its sheet (its size was
/// checked as uploaded, not as unpacked), and its column letters kept for messages.
fn open_import(file: File, limits: Limits) -> Result<(ImportFile, Option<Sheet>), FileProblem> {
    let (file, above) = as_template_csv(file, limits)?;
    let Some(above) = above else {
        return Ok((ImportFile::open(file, limits)?, None));
    };
    let unpacked = Limits {
        max_bytes: u64::MAX,
        ..limits
    };
    let checked = ImportFile::open(file, unpacked).map_err(|problem| match problem {
        FileProblem::Malformed { line, message } => FileProblem::Malformed {
            line: line + u64::from(above),
            message,
        },
        other => other,
    })?;
    let letters = Column::ALL
        .into_iter()
        .filter_map(|c| Some((c.header(), column_letter(checked.position(c)?))))
        .collect();
    Ok((
        checked,
        Some(Sheet {
            letters,
            above: u64::from(above),
        }),
    ))
}

/// A row's error as a workbook's user finds it: the sheet's row, and the column with its
/// letter, `Status (C)`.
fn in_sheet(error: &RowError, sheet: &Sheet) -> RowError {
    let mut error = error.clone();
    error.line += sheet.above;
    if let Some(column) = &error.column
        && let Some(letter) = sheet.letters.get(column.as_str())
    {
        error.column = Some(format!("{column} ({letter})"));
    }
    error
}
