//! Which imports are running, and how far they got: the imports of this process with
//! their live counts, a heartbeat that shows other instances an import is alive, and the
//! reading of a stored `RUNNING` record as interrupted once no process runs it. It knows
//! nothing of what an import does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;

use super::UseCases;
use super::pipeline::Batch;
use crate::domain::{ImportCounts, ImportState, InvoiceImport};

/// How often a running import shows a sign of life to other instances.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// A running import not seen for this long has lost its process.
const HEARTBEAT_LOST: chrono::Duration = chrono::Duration::seconds(60);

/// Imports running in this process, with their live counts.
#[derive(Default)]
pub(in crate::service) struct RunningImports(Mutex<HashMap<String, Arc<Progress>>>);

/// The live counts of a running import.
#[derive(Default)]
pub(super) struct Progress {
    total: AtomicU64,
    read: AtomicU64,
    changed: AtomicU64,
    unchanged: AtomicU64,
    refused: AtomicU64,
}

impl Progress {
    pub(super) fn counts(&self) -> ImportCounts {
        ImportCounts {
            read: self.read.load(Ordering::Relaxed),
            changed: self.changed.load(Ordering::Relaxed),
            unchanged: self.unchanged.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }

    /// Data rows in the file, once it has been checked.
    pub(super) fn set_total(&self, rows: u64) {
        self.total.store(rows, Ordering::Relaxed);
    }

    /// Rows refused so far.
    pub(super) fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    pub(super) fn add(&self, batch: &Batch, read: u64) {
        self.read.fetch_add(read, Ordering::Relaxed);
        self.changed.fetch_add(batch.changed, Ordering::Relaxed);
        self.unchanged.fetch_add(batch.unchanged, Ordering::Relaxed);
        self.refused
            .fetch_add(batch.errors.len() as u64, Ordering::Relaxed);
    }
}

/// A background task that ends when this is dropped.
pub(super) struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An import registered as running in this process, until dropped.
pub(super) struct Registered(UseCases, String);

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut running) = self.0.running_imports().0.lock() {
            running.remove(&self.1);
        }
    }
}

impl RunningImports {
    pub(in crate::service) fn len(&self) -> usize {
        self.0.lock().expect("not poisoned").len()
    }

    fn progress(&self, id: &str) -> Option<Arc<Progress>> {
        self.0.lock().expect("not poisoned").get(id).cloned()
    }
}

impl UseCases {
    /// Registers import `id` as running in this process, with counts from zero.
    pub(super) fn register_import(&self, id: &str) -> Arc<Progress> {
        let progress = Arc::new(Progress::default());
        self.running_imports()
            .0
            .lock()
            .expect("not poisoned")
            .insert(id.to_owned(), progress.clone());
        progress
    }

    /// Unregisters import `id` when the returned guard is dropped, however its task ends
    /// (a panic included).
    pub(super) fn unregister_on_drop(&self, id: &str) -> Registered {
        Registered(self.clone(), id.to_owned())
    }

    /// A stored record with the live counts of this process, or marked interrupted when
    /// no process runs it any more.
    pub(super) fn live(&self, mut record: InvoiceImport) -> InvoiceImport {
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
    pub(super) fn keep_alive(&self, id: &str, progress: Arc<Progress>) -> Option<AbortOnDrop> {
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
}
