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

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{SubsecRound, Utc};
use tokio::sync::mpsc;

use super::{AppError, UseCases};
use crate::auth::Principal;
use crate::csv_io::{FileProblem, ImportFile};
use crate::domain::{
    ChangeSource, Code, ImportCounts, ImportRow, ImportState, InvoiceImport, Origin, RowError,
    check_id, check_not_stale, decide,
};
use crate::store::{Change, ImportTxn, Staged, Store, StoreError};

/// Rows decided and written together. Many: on PostgreSQL a batch goes to the database
/// in two `COPY`s, and each waits out a delayed acknowledgement at its end (about 40 ms,
/// see `store::session`); at 20,000 rows that is a few percent of the import, against
/// half of it at 1,000 (measured). A batch in memory is a few tens of megabytes.
pub const BATCH_ROWS: usize = 20_000;

/// Times the bookkeeping of a finished import is retried while SQLite is locked by
/// another import (each attempt waits out SQLite's own busy timeout first).
const BUSY_RETRIES: u32 = 120;

/// How often a running import shows a sign of life to other instances.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// A running import not seen for this long has lost its process.
const HEARTBEAT_LOST: chrono::Duration = chrono::Duration::seconds(60);

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

/// Imports running in this process, with their live counts.
#[derive(Default)]
pub(super) struct RunningImports(Mutex<HashMap<String, Arc<Progress>>>);

#[derive(Default)]
struct Progress {
    total: AtomicU64,
    read: AtomicU64,
    changed: AtomicU64,
    unchanged: AtomicU64,
    refused: AtomicU64,
}

impl Progress {
    fn counts(&self) -> ImportCounts {
        ImportCounts {
            read: self.read.load(Ordering::Relaxed),
            changed: self.changed.load(Ordering::Relaxed),
            unchanged: self.unchanged.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }

    fn add(&self, batch: &Batch, read: u64) {
        self.read.fetch_add(read, Ordering::Relaxed);
        self.changed
            .fetch_add(batch.changes.len() as u64, Ordering::Relaxed);
        self.unchanged.fetch_add(batch.unchanged, Ordering::Relaxed);
        self.refused
            .fetch_add(batch.errors.len() as u64, Ordering::Relaxed);
    }
}

/// A background task that ends when this is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An import registered as running in this process, until dropped.
struct Registered(UseCases, String);

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut running) = self.0.running_imports().0.lock() {
            running.remove(&self.1);
        }
    }
}

impl RunningImports {
    pub(super) fn len(&self) -> usize {
        self.0.lock().expect("not poisoned").len()
    }

    fn progress(&self, id: &str) -> Option<Arc<Progress>> {
        self.0.lock().expect("not poisoned").get(id).cloned()
    }
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
        let progress = Arc::new(Progress::default());
        self.running_imports()
            .0
            .lock()
            .expect("not poisoned")
            .insert(record.id.clone(), progress.clone());
        tracing::info!(import.id = %record.id, import.dry_run = options.dry_run, "import started");

        let gateway = self.clone();
        let id = record.id.clone();
        // The import may outlive the request; its log lines still carry the request's id.
        let task = tokio::spawn(tracing::Instrument::in_current_span(async move {
            // Unregisters the import however its task ends, a panic included.
            let _running = Registered(gateway.clone(), record.id.clone());
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
        id: &str,
    ) -> Result<Option<InvoiceImport>, AppError> {
        if !who.is_admin() {
            return Ok(None);
        }
        check_id(id)?;
        self.import_by_id(id).await
    }

    async fn import_by_id(&self, id: &str) -> Result<Option<InvoiceImport>, AppError> {
        Ok(self.store.import(id).await?.map(|r| self.live(r)))
    }

    /// Imports newest first (admins only; customers see none).
    pub async fn invoice_imports(
        &self,
        who: &Principal,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<InvoiceImport>, AppError> {
        if !who.is_admin() {
            return Ok(vec![]);
        }
        let after = match after {
            None => None,
            Some(id) => match self.store.import(check_id(id)?).await? {
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

    /// A stored record with the live counts of this process, or marked interrupted when
    /// no process runs it any more.
    fn live(&self, mut record: InvoiceImport) -> InvoiceImport {
        if record.state != ImportState::Running {
            return record;
        }
        if let Some(progress) = self.running_imports().progress(&record.id) {
            record.counts = progress.counts();
            record.rows_total = match progress.total.load(Ordering::Relaxed) {
                0 => record.rows_total,
                total => Some(total),
            };
            return record;
        }
        // Not running here. On PostgreSQL another instance may run it: its heartbeat
        // tells. On SQLite another process (the `import` command) may, on the same file;
        // an import older than this process whose record is still RUNNING has lost its.
        let lost = if self.store.is_shared() {
            let seen = record.heartbeat_at.unwrap_or(record.started_at);
            Utc::now() - seen > HEARTBEAT_LOST
        } else {
            record.started_at < self.started_at()
        };
        if lost {
            record.state = ImportState::Interrupted;
        }
        record
    }

    /// On PostgreSQL, where other instances read the history, marks a sign of life of
    /// the import every few seconds, whatever it is doing (a batch may wait on a row
    /// lock for long), until the returned guard is dropped.
    fn keep_alive(&self, id: &str, progress: Arc<Progress>) -> Option<AbortOnDrop> {
        if !self.store.is_shared() {
            return None;
        }
        let (store, id) = (self.store.clone(), id.to_owned());
        Some(AbortOnDrop(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(HEARTBEAT);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                // A missed sign of life costs nothing but a late one; the import goes on.
                if let Err(e) = store.import_heartbeat(&id, progress.counts()).await {
                    tracing::warn!(import.id = %id, error = %e, "import heartbeat failed");
                }
            }
        })))
    }

    /// Runs an import to its end and records how it went. Never fails: a fault is
    /// recorded as a failed import (and logged), with nothing applied.
    async fn run_import(
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
            let line = match problem {
                FileProblem::Malformed { line, .. } | FileProblem::TooManyCells { line, .. } => {
                    *line
                }
                _ => 0,
            };
            record.state = ImportState::Failed;
            record.problem = Some(problem.to_string());
            spill.push(&RowError::new(
                line,
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
        let checked = tokio::task::spawn_blocking(move || ImportFile::open(file, limits))
            .await
            .map_err(|e| ImportFault::Task(e.to_string()))?;
        let checked = match checked {
            Ok(checked) => checked,
            Err(problem) => return Ok(Some(problem)),
        };
        record.rows_total = Some(checked.rows());
        progress.total.store(checked.rows(), Ordering::Relaxed);
        let mut batches = read_batches(checked);

        let options = ImportOptions {
            dry_run: record.dry_run,
            apply_valid_rows: record.apply_valid_rows,
        };
        let txn = self.store.begin_import(!options.dry_run).await?;
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
            let batch = self.decide_batch(&txn, rows).await?;
            progress.add(&batch, read);
            for error in &batch.errors {
                spill.push(error);
            }
            // An all-or-nothing import that has refused a row only checks the rest.
            let applying = !options.dry_run
                && (options.apply_valid_rows || progress.refused.load(Ordering::Relaxed) == 0);
            if applying {
                let now = Utc::now().trunc_subsecs(6);
                txn.write(&batch.changes, &origin, now).await?;
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
    /// import applies).
    async fn decide_batch(
        &self,
        txn: &ImportTxn,
        rows: Vec<Result<ImportRow, RowError>>,
    ) -> Result<Batch, StoreError> {
        let mut batch = Batch::default();
        // Each id once in this batch, then once in the whole file: the transaction keeps
        // the ids it has seen (a temporary table), so memory does not grow with the file.
        let mut first_lines: HashMap<&str, u64> = HashMap::new();
        let mut repeats = HashMap::new();
        for row in &rows {
            match row {
                Err(error) => batch.errors.push(error.clone()),
                Ok(row) => match first_lines.entry(&row.invoice_id) {
                    Entry::Occupied(first) => {
                        repeats.insert(row.line, *first.get());
                    }
                    Entry::Vacant(slot) => {
                        slot.insert(row.line);
                    }
                },
            }
        }
        let claims: Vec<(&str, u64)> = first_lines.iter().map(|(id, line)| (*id, *line)).collect();
        let Staged { earlier, invoices } = txn.stage(&claims).await?;
        let mut valid = Vec::with_capacity(rows.len());
        for row in rows.iter().filter_map(|r| r.as_ref().ok()) {
            let first = match earlier.get(&row.invoice_id) {
                Some(line) => Some(*line),
                None => repeats.get(&row.line).copied(),
            };
            match first {
                Some(first) => batch.errors.push(RowError::new(
                    row.line,
                    Some("Invoice ID"),
                    Code::DuplicateRow,
                    format!(
                        "invoice `{}` is already on line {first}: give each invoice one row",
                        row.invoice_id
                    ),
                )),
                None => valid.push(row.clone()),
            }
        }
        let (today, links) = (self.today(), self.link_policy());
        let mut stale = Vec::new();
        for row in valid {
            let Some(invoice) = invoices.get(&row.invoice_id) else {
                batch.errors.push(RowError::new(
                    row.line,
                    Some("Invoice ID"),
                    Code::NotFound,
                    format!("no invoice `{}`", row.invoice_id),
                ));
                continue;
            };
            let request = row.request(invoice, today);
            let decided =
                decide(invoice, request, today, ChangeSource::CsvImport, links).map(|outcome| {
                    Change {
                        invoice: invoice.clone(),
                        outcome,
                    }
                });
            match decided {
                Ok(change) if change.outcome.is_noop() => batch.unchanged += 1,
                // A row from another version: whatever it asks (even what the rules now
                // refuse, such as making a since-paid invoice overdue again), the first
                // question is whether the invoice changed under it.
                decided if row.version.is_some_and(|v| v != invoice.version) => {
                    stale.push((row, invoice.clone(), decided));
                }
                Ok(change) => batch.changes.push(change),
                Err(refusal) => batch.errors.push(RowError::refused(row.line, refusal)),
            }
        }
        // Rows from an older export: rare, so their histories are read only for them.
        if !stale.is_empty() {
            let ids: Vec<&str> = stale.iter().map(|(r, ..)| r.invoice_id.as_str()).collect();
            let histories = txn.histories(&ids).await?;
            for (row, invoice, decided) in stale {
                let history = histories
                    .get(&row.invoice_id)
                    .map_or(&[][..], Vec::as_slice);
                match check_not_stale(row.version, &invoice, history).and(decided) {
                    Ok(change) => batch.changes.push(change),
                    Err(refusal) => batch.errors.push(RowError::refused(row.line, refusal)),
                }
            }
        }
        batch.errors.sort_by_key(|e| e.line);
        Ok(batch)
    }
}

/// What became of a batch of rows.
#[derive(Default)]
struct Batch {
    changes: Vec<Change>,
    unchanged: u64,
    errors: Vec<RowError>,
}

/// Why an import stopped on the gateway's side.
#[derive(Debug, thiserror::Error)]
enum ImportFault {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("reader task: {0}")]
    Task(String),
}

/// Rows of a checked file in batches, read on a blocking thread; at most a few batches
/// are in flight, so reading never runs far ahead of the database.
fn read_batches(
    file: ImportFile,
) -> mpsc::Receiver<Result<Vec<Result<ImportRow, RowError>>, FileProblem>> {
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

/// Refused rows, kept in a temporary file until the import's transaction has ended
/// (they must outlive a rollback), then stored in batches.
struct ErrorSpill {
    file: BufWriter<File>,
    count: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SpilledError {
    line: u64,
    column: Option<String>,
    code: String,
    message: String,
}

impl ErrorSpill {
    fn new() -> std::io::Result<ErrorSpill> {
        Ok(ErrorSpill {
            file: BufWriter::new(tempfile::tempfile()?),
            count: 0,
        })
    }

    fn push(&mut self, error: &RowError) {
        let spilled = SpilledError {
            line: error.line,
            column: error.column.clone(),
            code: error.code.as_str().to_owned(),
            message: error.message.clone(),
        };
        // A write error shows when the spill is read back.
        let _ = serde_json::to_writer(&mut self.file, &spilled);
        let _ = self.file.write_all(b"\n");
        self.count += 1;
    }

    /// Stores the spilled rows, in `txn` when given. Storing again after a failure is
    /// safe: rows already stored are skipped.
    async fn store(
        &mut self,
        store: &Store,
        import_id: &str,
        txn: Option<&ImportTxn>,
    ) -> Result<(), ImportFault> {
        if self.count == 0 {
            return Ok(());
        }
        let io = |e: std::io::Error| ImportFault::Task(format!("error spill: {e}"));
        self.file.flush().map_err(io)?;
        let mut file = self.file.get_ref().try_clone().map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        let mut lines = BufReader::new(file).lines();
        let mut batch = Vec::with_capacity(BATCH_ROWS);
        loop {
            let line = lines.next().transpose().map_err(io)?;
            if let Some(line) = &line {
                let e: SpilledError = serde_json::from_str(line)
                    .map_err(|e| ImportFault::Task(format!("error spill: {e}")))?;
                batch.push(RowError {
                    line: e.line,
                    column: e.column,
                    code: Code::parse(&e.code).ok_or_else(|| {
                        ImportFault::Task(format!("error spill: code `{}`", e.code))
                    })?,
                    message: e.message,
                });
            }
            if batch.len() == BATCH_ROWS || (line.is_none() && !batch.is_empty()) {
                store.record_import_errors(import_id, &batch, txn).await?;
                batch.clear();
            }
            if line.is_none() {
                return Ok(());
            }
        }
    }
}
