//! Exports: any filter of the `invoices` query, as CSV or as a workbook (`.xlsx`). One
//! statement reads the rows (a consistent snapshot); a task turns them into chunks of the
//! file and hands them over a bounded channel, so memory holds a few chunks however many
//! rows there are, and a slow client slows the reading instead of filling memory. A CSV
//! streams from its first row; a workbook is written row by row to a temporary file
//! (constant memory) and streams once its last row is in (a zip is whole or nothing).

use tokio::sync::mpsc;

use super::{AppError, UseCases};
use crate::auth::Principal;
use crate::csv_io::InvoiceCsvWriter;
use crate::domain::{FilterText, Invoice, InvoiceFilter};
use crate::xlsx_io::InvoiceWorkbook;

/// How long an export waits for a client that takes no data before giving up.
const STALLED: std::time::Duration = std::time::Duration::from_secs(60);

/// Bytes gathered before a chunk is handed over.
const CHUNK_BYTES: usize = 64 * 1024;

/// The chunks of an export, in order. A chunk that is an error ends the export early
/// (the database failed mid-way): the transport must abort the response, so that a
/// truncated file is never mistaken for a whole one.
pub type ExportChunks = mpsc::Receiver<Result<Vec<u8>, AppError>>;

/// The query string of `/export/invoices.csv`: the listing filter's text, the CSV
/// delimiter and a download link's token. `invoiceExportUrl` writes it and the HTTP edge
/// reads it, so both use these names.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportQuery {
    #[serde(flatten)]
    pub filter: FilterText,
    /// `comma` (the default) or `semicolon`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Any other parameter, to refuse by name.
    #[serde(flatten, skip_serializing)]
    pub unknown: std::collections::BTreeMap<String, String>,
}

/// The path of CSV exports.
pub const EXPORT_PATH: &str = "/export/invoices.csv";
/// The path of workbook exports (the same query parameters, and the same download links'
/// tokens, as [`EXPORT_PATH`]; `delimiter` has no meaning there).
pub const EXPORT_XLSX_PATH: &str = "/export/invoices.xlsx";

impl ExportQuery {
    /// The link that opens the export of `filter` with `delimiter` and `token`.
    pub fn link(filter: &InvoiceFilter, delimiter: u8, token: String) -> String {
        let query = ExportQuery {
            filter: FilterText::of(filter),
            delimiter: (delimiter == b';').then(|| "semicolon".to_owned()),
            token: Some(token),
            unknown: Default::default(),
        };
        // Strings and absent options only: the encoding cannot fail.
        let text = serde_urlencoded::to_string(&query).unwrap_or_default();
        format!("{EXPORT_PATH}?{text}")
    }

    /// The filter, checked; the delimiter's byte; or what is wrong, naming the parameter.
    pub fn read(&self) -> Result<(InvoiceFilter, u8), String> {
        if let Some(name) = self.unknown.keys().next() {
            let shown: String = name.chars().take(40).collect();
            return Err(format!("unknown parameter `{}`", shown.escape_debug()));
        }
        let filter = self.filter.read().map_err(|e| e.to_string())?;
        let delimiter = match self.delimiter.as_deref() {
            None | Some("comma") => b',',
            Some("semicolon") => b';',
            Some(_) => return Err("`delimiter` must be comma or semicolon".into()),
        };
        Ok((filter, delimiter))
    }
}

/// What a download link from `invoiceExportUrl` is for: its filter and delimiter, in one
/// canonical text. The link's token carries it, and opens that export alone: a link for
/// one account's open invoices cannot be edited into every invoice of every account.
pub fn export_link_binding(filter: &InvoiceFilter, delimiter: u8) -> String {
    serde_json::json!([
        filter.status.map(|status| status.as_str()),
        filter.order_id,
        filter.account_id,
        filter.due_from.map(|date| date.to_string()),
        filter.due_to.map(|date| date.to_string()),
        char::from(delimiter).to_string(),
    ])
    .to_string()
}

/// Bytes written into an export's channel, a chunk at a time, from a blocking thread (the
/// workbook writer's output). A client gone fails the write.
struct ChunkWriter {
    tx: mpsc::Sender<Result<Vec<u8>, AppError>>,
    buffer: Vec<u8>,
    /// The runtime, to wait on the channel with a timeout from the blocking thread.
    runtime: tokio::runtime::Handle,
}

impl ChunkWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK_BYTES));
        // A client that takes no data for a long while is given up, as for CSV.
        let sent = self
            .runtime
            .block_on(tokio::time::timeout(STALLED, self.tx.send(Ok(chunk))));
        match sent {
            Ok(Ok(())) => Ok(()),
            _ => Err(std::io::Error::other(
                "the export's client is gone or stalled",
            )),
        }
    }
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK_BYTES {
            self.send()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

impl UseCases {
    /// Who may export, and a place among the exports streaming at once.
    fn start_export(
        &self,
        who: &Principal,
        filter: &InvoiceFilter,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, AppError> {
        who.require_every_account("export invoices")?;
        filter.check()?;
        self.exports.clone().try_acquire_owned().map_err(|_| {
            AppError::Busy("too many exports are streaming; try again in a moment".into())
        })
    }

    /// Starts exporting the invoices `filter` covers as a workbook (admins only).
    pub fn export_invoices_xlsx(
        &self,
        who: &Principal,
        filter: InvoiceFilter,
    ) -> Result<ExportChunks, AppError> {
        let permit = self.start_export(who, &filter)?;
        let (tx, rx) = mpsc::channel(4);
        let (rows_tx, mut rows) = mpsc::channel::<Invoice>(1024);
        let gateway = self.clone();
        let today = self.today();
        // The workbook is written on a blocking thread (its rows go to a temporary file);
        // the rows come from the database on this task.
        let out = tx.clone();
        let runtime = tokio::runtime::Handle::current();
        let writer = tokio::task::spawn_blocking(move || -> Result<u64, String> {
            let mut book = InvoiceWorkbook::new().map_err(|e| e.to_string())?;
            while let Some(invoice) = rows.blocking_recv() {
                book.write(&invoice, today).map_err(|e| e.to_string())?;
            }
            let written = u64::from(book.rows() - 1);
            let mut chunks = ChunkWriter {
                tx: out,
                buffer: Vec::with_capacity(CHUNK_BYTES),
                runtime,
            };
            book.finish(&mut chunks).map_err(|e| e.to_string())?;
            std::io::Write::flush(&mut chunks).map_err(|e| e.to_string())?;
            Ok(written)
        });
        let task = async move {
            let _permit = permit;
            let read = async {
                let stream = gateway.store.stream_invoices(&filter, today).await?;
                let mut stream = std::pin::pin!(stream);
                while let Some(invoice) = futures_util::StreamExt::next(&mut stream).await {
                    if rows_tx.send(invoice?).await.is_err() {
                        break;
                    }
                }
                Ok::<(), crate::store::StoreError>(())
            };
            if let Err(e) = read.await {
                tracing::error!(error = %e, "workbook export failed");
                writer.abort();
                let _ = tx.send(Err(e.into())).await;
                return;
            }
            drop(rows_tx);
            match writer.await {
                Ok(Ok(rows)) => tracing::info!(export.rows = rows, "workbook export finished"),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "workbook export stopped");
                    let _ = tx
                        .send(Err(AppError::Internal(format!("the workbook failed: {e}"))))
                        .await;
                }
                // The body must fail, not end as if the file were whole.
                Err(e) => {
                    tracing::error!(error = %e, "workbook export task failed");
                    let _ = tx
                        .send(Err(AppError::Internal("the workbook failed".into())))
                        .await;
                }
            }
        };
        tokio::spawn(tracing::Instrument::in_current_span(task));
        Ok(rx)
    }

    /// Starts exporting the invoices `filter` covers (admins only). `delimiter` is the
    /// CSV delimiter (`,` by default; `;` suits spreadsheets in comma-decimal locales).
    pub fn export_invoices(
        &self,
        who: &Principal,
        filter: InvoiceFilter,
        delimiter: u8,
    ) -> Result<ExportChunks, AppError> {
        let permit = self.start_export(who, &filter)?;
        let (tx, rx) = mpsc::channel(4);
        let gateway = self.clone();
        // The export streams from a task of its own; its log lines still belong to the
        // request that started it (and carry its id).
        let task = async move {
            let _permit = permit;
            let today = gateway.today();
            let mut csv = InvoiceCsvWriter::new(delimiter);
            // The header goes at once: the download starts before the first row is read.
            if tx.send(Ok(csv.take())).await.is_err() {
                return;
            }
            let rows = match gateway.store.stream_invoices(&filter, today).await {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::error!(error = %e, "export failed to start");
                    let _ = tx.send(Err(e.into())).await;
                    return;
                }
            };
            let mut rows = std::pin::pin!(rows);
            let mut exported = 0_u64;
            while let Some(invoice) = futures_util::StreamExt::next(&mut rows).await {
                match invoice {
                    Ok(invoice) => csv.write(&invoice, today),
                    Err(e) => {
                        tracing::error!(error = %e, export.rows = exported, "export failed");
                        let _ = tx.send(Err(e.into())).await;
                        return;
                    }
                }
                exported += 1;
                // A client gone, or one that takes no data for a long while: stop reading
                // and give the connection back.
                if csv.buffered() >= CHUNK_BYTES {
                    let sent = tokio::time::timeout(STALLED, tx.send(Ok(csv.take()))).await;
                    if !matches!(sent, Ok(Ok(()))) {
                        tracing::warn!(export.rows = exported, "export abandoned by its client");
                        return;
                    }
                }
            }
            let _ = tx.send(Ok(csv.take())).await;
            tracing::info!(export.rows = exported, "export finished");
        };
        tokio::spawn(tracing::Instrument::in_current_span(task));
        Ok(rx)
    }
}
