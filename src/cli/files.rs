//! `credit-gateway import FILE` and `export`: CSV files in and out, with progress on a
//! terminal.

use std::path::PathBuf;
use std::time::Duration;

use super::{open_gateway, operator};
use crate::config::Config;
use crate::domain::{Id, ImportState, InvoiceFilter};
use crate::service::ImportOptions;

pub(super) async fn import(
    config: &Config,
    path: &std::path::Path,
    options: ImportOptions,
) -> Result<(), crate::app::StartError> {
    let file = open_seekable(path)?;
    let gateway = open_gateway(config).await?;
    let who = operator();
    let name = path
        .file_name()
        .map_or_else(|| "import.csv".into(), |n| n.to_string_lossy().into_owned());
    let tick = Duration::from_millis(200);
    let mut report = gateway
        .import_invoices(&who, file, &name, options, Some(tick))
        .await
        .map_err(|e| e.public_message())?;
    let bar = import_progress();
    let id = Id::parse(report.import.id.as_str())?;
    while report.import.state == ImportState::Running {
        draw_import(&bar, &report.import);
        tokio::time::sleep(tick).await;
        report.import = gateway
            .invoice_import(&who, &id)
            .await
            .map_err(|e| e.public_message())?
            .ok_or("the import vanished")?;
    }
    bar.finish_and_clear();
    let import = &report.import;
    let c = import.counts;
    eprintln!(
        "import {}: {} ({} rows read, {} changed, {} unchanged, {} refused)",
        import.id,
        import.state.as_str(),
        c.read,
        c.changed,
        c.unchanged,
        c.refused
    );
    if let Some(problem) = &import.problem {
        eprintln!("  {problem}");
    }
    const SHOWN: u64 = 50;
    // The file's own problem (line 0) is printed above already.
    for e in gateway
        .import_errors(&import.id, Some(0), SHOWN)
        .await
        .map_err(|e| e.public_message())?
    {
        let column = e.column.map(|c| format!(", {c}")).unwrap_or_default();
        eprintln!(
            "  line {}{column}: {} ({})",
            e.line,
            e.message,
            e.code.as_str()
        );
    }
    if c.refused > SHOWN {
        eprintln!(
            "  … and {} more (query invoiceImport(id: \"{}\") {{ errors }})",
            c.refused - SHOWN,
            import.id
        );
    }
    match import.state {
        ImportState::Applied | ImportState::Checked if c.refused == 0 => Ok(()),
        ImportState::Applied => Err("some rows were refused (the others were applied)".into()),
        ImportState::Checked => Err("rows would be refused (dry run: nothing was applied)".into()),
        ImportState::Rejected => Err("rows were refused, so nothing was applied".into()),
        _ => Err("the import failed; nothing was applied".into()),
    }
}

/// The file to import, readable twice (the import checks it, then reads it): a regular
/// file as it is; standard input (`-`) or a pipe copied to a temporary file first.
fn open_seekable(path: &std::path::Path) -> Result<std::fs::File, crate::app::StartError> {
    let cannot = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    let mut source: Box<dyn std::io::Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(path).map_err(cannot)?;
        if file.metadata().map_err(cannot)?.is_file() {
            return Ok(file);
        }
        Box::new(file)
    };
    let mut copy = tempfile::tempfile().map_err(cannot)?;
    std::io::copy(&mut source, &mut copy).map_err(cannot)?;
    Ok(copy)
}

/// A bar of `things` done out of all, with the rate and the time left.
pub(super) fn bar_style(things: &str) -> indicatif::ProgressStyle {
    let template =
        format!("[{{bar:30}}] {{human_pos}}/{{human_len}} {things}, {{rate}}, {{eta}} left");
    indicatif::ProgressStyle::with_template(&template)
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .with_key(
            "rate",
            |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0}/s", state.per_sec());
            },
        )
        .progress_chars("#>-")
}

/// The import's progress on standard error (indicatif draws only on a terminal): a
/// spinner while the file is checked, then rows read, with rate and time left.
fn import_progress() -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner().with_message("checking the file…");
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn draw_import(bar: &indicatif::ProgressBar, import: &crate::domain::InvoiceImport) {
    if let (Some(total), None) = (import.rows_total, bar.length()) {
        bar.set_length(total);
        bar.set_style(bar_style("rows"));
    }
    bar.set_position(import.counts.read);
}

/// Writes the export of `filter`: CSV with `delimiter`, or a workbook when it is `None`.
pub(super) async fn export(
    config: &Config,
    filter: InvoiceFilter,
    delimiter: Option<u8>,
    output: Option<PathBuf>,
) -> Result<(), crate::app::StartError> {
    use tokio::io::AsyncWriteExt;

    let gateway = open_gateway(config).await?;
    let mut chunks = match delimiter {
        Some(delimiter) => gateway.export_invoices(&operator(), filter, delimiter),
        None => gateway.export_invoices_xlsx(&operator(), filter),
    }
    .map_err(|e| e.public_message())?;
    let mut out: Box<dyn tokio::io::AsyncWrite + Unpin + Send> = match &output {
        Some(path) => Box::new(
            tokio::fs::File::create(path)
                .await
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?,
        ),
        None => Box::new(tokio::io::stdout()),
    };
    while let Some(chunk) = chunks.recv().await {
        let chunk = chunk.map_err(|e| e.public_message())?;
        out.write_all(&chunk).await?;
    }
    out.flush().await?;
    Ok(())
}
