//! Refused rows on their way to the history: kept in a temporary file while the import
//! runs, since a rejected import rolls back its transaction but keeps its report, and
//! there may be more of them than memory should hold.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};

use super::BATCH_ROWS;
use super::pipeline::ImportFault;
use crate::domain::{Code, RowError};
use crate::store::{ImportTxn, Store};

/// Refused rows, kept in a temporary file until the import's transaction has ended
/// (they must outlive a rollback), then stored in batches.
pub(super) struct ErrorSpill {
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
    pub(super) fn new() -> std::io::Result<ErrorSpill> {
        Ok(ErrorSpill {
            file: BufWriter::new(tempfile::tempfile()?),
            count: 0,
        })
    }

    pub(super) fn push(&mut self, error: &RowError) {
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
    pub(super) async fn store(
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
