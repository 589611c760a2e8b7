//! Bulk settlement by CSV: an import checks the whole file first, then reads it in
//! batches, decides every row with the same rule as the mutations (`domain::decide`), and
//! writes the changes and their events in one transaction, so that a file applies fully
//! or not at all (unless the caller asks for the valid rows only). Memory stays flat
//! whatever the file's size: rows stream from the file through a bounded channel, refused
//! rows spill to a temporary file, and the ids already seen (to refuse an id given twice)
//! are kept by the transaction, in a temporary table.
//!
//! An import runs as a background task: the caller waits for it up to a bound, then gets
//! it as `RUNNING` and follows its progress by id.
//!
//! Here are the use cases; the rest is one job a file: `registry` (which imports run, their
//! live counts and heartbeats), `pipeline` (the import's course: reading, deciding,
//! writing, recording) and `spill` (refused rows kept in a temporary file). What a row
//! means is `domain::import`'s.

mod pipeline;
mod registry;
mod spill;

use std::fs::File;
use std::time::Duration;

use chrono::{SubsecRound, Utc};

pub(super) use registry::RunningImports;

use super::{AppError, UseCases};
use crate::auth::Principal;
use crate::csv_io::FileProblem;
use crate::domain::{Id, ImportCounts, ImportState, InvoiceImport, RowError};

/// Rows decided and written together. A batch goes to PostgreSQL in two `COPY`s, which
/// cost a round trip each now that the sockets do without Nagle's algorithm
/// (`store::nodelay`; before, each also waited out a delayed acknowledgement, and
/// batches had to be 20,000 rows). A batch's data is most of the import's heap: its
/// peak was 27 MB at 20,000 rows a batch (heaptrack, 200,000 rows) and is 8 MB at 5,000
/// (a million), the import taking no longer (benches/README.md, the import's memory).
pub const BATCH_ROWS: usize = 5_000;

/// What the caller asks of an import.
#[derive(Clone, Copy, Debug, Default)]
pub struct ImportOptions {
    /// Check everything and report what would change; change nothing.
    pub dry_run: bool,
    /// Apply the valid rows even when others are refused (default: all or nothing).
    pub apply_valid_rows: bool,
}

/// An import as reported to its caller: the record, and the file's problem if the file
/// as a whole was refused.
#[derive(Clone, Debug)]
pub struct ImportReport {
    pub import: InvoiceImport,
    pub problem: Option<FileProblem>,
}

/// A file name as shown in the history: no control characters, at most 255 characters.
fn shown_name(name: &str) -> String {
    let name: String = name.chars().filter(|c| !c.is_control()).take(255).collect();
    if name.trim().is_empty() {
        "upload.csv".into()
    } else {
        name
    }
}

impl UseCases {
    /// Imports a CSV file on behalf of `who` (admins only). Waits for the import up to
    /// `wait` (`None`: to its end); an import still running then is reported as
    /// `RUNNING` and goes on.
    pub async fn import_invoices(
        &self,
        who: &Principal,
        file: File,
        file_name: &str,
        options: ImportOptions,
        wait: Option<Duration>,
    ) -> Result<ImportReport, AppError> {
        who.require_admin("import invoices")?;
        let started_at = Utc::now().trunc_subsecs(6);
        let record = InvoiceImport {
            id: uuid::Uuid::new_v4().to_string(),
            file_name: shown_name(file_name),
            actor: who.subject().to_owned(),
            started_at,
            finished_at: None,
            dry_run: options.dry_run,
            apply_valid_rows: options.apply_valid_rows,
            state: ImportState::Running,
            rows_total: None,
            heartbeat_at: Some(started_at),
            counts: ImportCounts::default(),
            problem: None,
        };
        self.store.record_import(&record).await?;
        let progress = self.register_import(&record.id);
        tracing::info!(import.id = %record.id, import.dry_run = options.dry_run, "import started");

        let gateway = self.clone();
        let id = record.id.clone();
        // The import may outlive the request; its log lines still carry the request's id.
        let task = tokio::spawn(tracing::Instrument::in_current_span(async move {
            let _running = gateway.unregister_on_drop(&record.id);
            let _alive = gateway.keep_alive(&record.id, progress.clone());
            gateway.run_import(record, file, &progress).await
        }));
        let finished = match wait {
            None => Some(task.await),
            // Zero: answer at once, however quick the import.
            Some(wait) if wait.is_zero() => None,
            Some(wait) => tokio::time::timeout(wait, task).await.ok(),
        };
        match finished {
            Some(Ok(report)) => Ok(report),
            Some(Err(e)) => Err(AppError::Internal(format!("import task failed: {e}"))),
            None => Ok(ImportReport {
                import: self.import_by_id(&id).await?.ok_or_else(|| {
                    AppError::Internal(format!("import {id} vanished while running"))
                })?,
                problem: None,
            }),
        }
    }

    /// One import, with live counts while it runs in this process. Admins only.
    pub async fn invoice_import(
        &self,
        who: &Principal,
        id: &Id,
    ) -> Result<Option<InvoiceImport>, AppError> {
        if !who.is_admin() {
            return Ok(None);
        }
        self.import_by_id(id).await
    }

    async fn import_by_id(&self, id: &str) -> Result<Option<InvoiceImport>, AppError> {
        Ok(self.store.import(id).await?.map(|r| self.live(r)))
    }

    /// Imports newest first (admins only; customers see none).
    pub async fn invoice_imports(
        &self,
        who: &Principal,
        after: Option<&Id>,
        limit: u64,
    ) -> Result<Vec<InvoiceImport>, AppError> {
        if !who.is_admin() {
            return Ok(vec![]);
        }
        let after = match after {
            None => None,
            Some(id) => match self.store.import(id).await? {
                Some(after) => Some((after.started_at, after.id)),
                None => return Ok(vec![]),
            },
        };
        let imports = self.store.imports(after, limit).await?;
        Ok(imports.into_iter().map(|r| self.live(r)).collect())
    }

    /// Refused rows of an import, in line order after `after_line` (all when `None`,
    /// the file's own problem at line 0 included).
    pub async fn import_errors(
        &self,
        import_id: &str,
        after_line: Option<u64>,
        limit: u64,
    ) -> Result<Vec<RowError>, AppError> {
        Ok(self
            .store
            .import_errors(import_id, after_line, limit)
            .await?)
    }
}
