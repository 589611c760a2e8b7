//! CSV imports and exports over GraphQL: `importInvoicesCsv` (a multipart upload), the
//! import history, and signed download links for exports (a browser's download cannot
//! send an `Authorization` header).

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject, Upload};
use chrono::{DateTime, Utc};

use super::connection::invoice_filter;
use super::error::GqlResult;
use super::error::UserError;
use super::limits::page_cost;
use super::principal;
use super::scalars::Date;
use super::types::InvoiceStatus;
use crate::auth::TokenKeys;
use crate::domain::{self, Id, Refusal, RowError};
use crate::service::{AppError, ExportQuery, ImportOptions, UseCases, export_link_binding};

/// The uploads of one request that an import has taken.
#[derive(Default)]
pub struct UploadsTaken(std::sync::Mutex<std::collections::HashSet<usize>>);

/// Most refused rows one `errors` page returns.
const MAX_ERRORS_PAGE: i32 = 1000;

/// How long a download link from `invoiceExportUrl` stays valid.
pub const DOWNLOAD_LINK_TTL: chrono::Duration = chrono::Duration::minutes(5);

/// Where an import stands.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::domain::ImportState")]
pub enum ImportState {
    /// Still reading and applying rows: follow it with `invoiceImport(id)`.
    Running,
    /// Its changes are committed (with `applyValidRows`, those of the valid rows).
    Applied,
    /// Some rows were refused, so nothing was applied: see `errors`.
    Rejected,
    /// A dry run: every row was checked, nothing was applied.
    Checked,
    /// The file as a whole was refused (see `problem`), or the import failed; nothing
    /// was applied.
    Failed,
    /// The gateway running it stopped before it finished; nothing was applied.
    Interrupted,
}

pub struct InvoiceImport(pub domain::InvoiceImport);

fn int(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// One CSV import: who ran it, on what file, how it went, and every refused row.
#[Object]
impl InvoiceImport {
    /// The import's id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// The uploaded file's name.
    async fn file_name(&self) -> &str {
        &self.0.file_name
    }
    /// Who ran it (the token's subject).
    async fn actor(&self) -> &str {
        &self.0.actor
    }
    /// When it started.
    async fn started_at(&self) -> DateTime<Utc> {
        self.0.started_at
    }
    /// When it finished; null while it runs.
    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.finished_at
    }
    /// Whether it only checked the file (`dryRun`).
    async fn dry_run(&self) -> bool {
        self.0.dry_run
    }
    /// Whether valid rows apply even when others are refused.
    async fn apply_valid_rows(&self) -> bool {
        self.0.apply_valid_rows
    }
    /// Where it stands.
    async fn state(&self) -> ImportState {
        self.0.state.into()
    }
    /// Data rows in the file (blank rows not counted), once the file has been checked.
    async fn rows_total(&self) -> Option<i32> {
        self.0.rows_total.map(int)
    }
    /// Rows read so far.
    async fn rows_read(&self) -> i32 {
        int(self.0.counts.read)
    }
    /// Rows that change their invoice. For a dry run or a rejected import: the rows that
    /// would have.
    async fn rows_changed(&self) -> i32 {
        int(self.0.counts.changed)
    }
    /// Rows that ask for what the invoice already is (re-importing a file changes
    /// nothing the second time).
    async fn rows_unchanged(&self) -> i32 {
        int(self.0.counts.unchanged)
    }
    /// Rows refused; each is in `errors`.
    async fn rows_refused(&self) -> i32 {
        int(self.0.counts.refused)
    }
    /// What was wrong with the file as a whole, or why the import failed.
    async fn problem(&self) -> Option<&str> {
        self.0.problem.as_deref()
    }
    /// The refused rows in line order (listed once the import has finished), a page at
    /// a time: up to `first` (at most 1000) after line `afterLine`.
    #[graphql(complexity = "page_cost(Some(first), None, child_complexity, __field)")]
    async fn errors(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 100, desc = "How many refused rows, at most 1000.")] first: i32,
        #[graphql(desc = "Only rows after this line (omit it for all, the file's own \
                          problem at line 0 included).")]
        after_line: Option<i32>,
    ) -> GqlResult<Vec<ImportRowError>> {
        let gateway = ctx.data_unchecked::<UseCases>();
        let limit = first.clamp(0, MAX_ERRORS_PAGE) as u64;
        // A negative line means "from the start", like no line at all.
        let after = after_line.and_then(|line| u64::try_from(line).ok());
        let errors = gateway.import_errors(&self.0.id, after, limit).await?;
        Ok(errors.into_iter().map(ImportRowError::from).collect())
    }
}

/// A refused row of an import, or the problem of the file as a whole (line 0 when it is
/// not about one line).
#[derive(SimpleObject)]
pub struct ImportRowError {
    /// The line of the file where the row starts; the header is line 1.
    line: i32,
    /// The template column at fault (`Status`, `Payment Link`, `Version`, …), when one is.
    column: Option<String>,
    /// What is wrong, for programs: `NOT_FOUND`, `INVALID_STATUS`, `INVALID_TRANSITION`,
    /// `INVALID_PAYMENT_LINK`, `VERSION_CONFLICT`, `DUPLICATE_ROW`, `MISSING_VALUE`, ….
    code: String,
    /// What is wrong, for people.
    message: String,
}

impl From<RowError> for ImportRowError {
    fn from(e: RowError) -> ImportRowError {
        ImportRowError {
            line: int(e.line),
            column: e.column,
            code: e.code.as_str().to_owned(),
            message: e.message,
        }
    }
}

/// A CSV file of the invoice template to apply.
#[derive(InputObject)]
pub struct ImportInvoicesCsvInput {
    /// The file (a GraphQL multipart upload). UTF-8 with or without BOM, or
    /// Windows-1252; comma, semicolon or tab; columns in any order.
    file: Upload,
    /// Check every row and report what would change; change nothing.
    #[graphql(default)]
    dry_run: bool,
    /// Apply the valid rows even if others are refused. By default an import is all or
    /// nothing: one refused row and nothing applies.
    #[graphql(default)]
    apply_valid_rows: bool,
}

/// The result of `importInvoicesCsv`.
#[derive(SimpleObject)]
pub struct ImportInvoicesCsvPayload {
    /// The import, finished or still `RUNNING`; null when the upload itself was refused.
    import: Option<InvoiceImport>,
    /// Why the file as a whole was refused (bad headers, not CSV, too big, too many
    /// rows); empty otherwise. Refused rows are in `import.errors`.
    user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct ImportMutation;

#[Object]
impl ImportMutation {
    /// Applies a CSV of the invoice template: `Status`, `Payment Link` and `Observation`
    /// of each row, keyed by `Invoice ID`, through the same rules as the other mutations.
    /// Waits for the import up to a bound (`CREDIT_GATEWAY_IMPORT_WAIT_SECONDS`); a
    /// larger file comes back `RUNNING` and goes on in the background. Admins only.
    async fn import_invoices_csv(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The file and how to apply it.")] input: ImportInvoicesCsvInput,
    ) -> GqlResult<ImportInvoicesCsvPayload> {
        let who = principal(ctx)?;
        let gateway = ctx.data_unchecked::<UseCases>();
        let refused = |message: &str| {
            Ok(ImportInvoicesCsvPayload {
                import: None,
                user_errors: vec![UserError::from(Refusal {
                    code: domain::RefusalCode::InvalidFile,
                    field: Some("file"),
                    message: message.to_owned(),
                })],
            })
        };
        // `Upload::value` panics on an index with no file behind it (a JSON request that
        // names `#__graphql_file__:0`, or a map pointing past the files sent).
        let Some(upload) = ctx.query_env.uploads.get(input.file.0) else {
            return refused("no file was uploaded: send the CSV as a GraphQL multipart request");
        };
        // Two imports of one upload would share its read position.
        let taken = ctx.data_opt::<UploadsTaken>();
        if taken.is_some_and(|t| !t.0.lock().expect("not poisoned").insert(input.file.0)) {
            return refused("this file is already being imported by this request");
        }
        let upload = upload
            .try_clone()
            .map_err(|e| AppError::Internal(format!("upload unreadable: {e}")))?;
        let options = ImportOptions {
            dry_run: input.dry_run,
            apply_valid_rows: input.apply_valid_rows,
        };
        let wait = gateway.settings().import_wait;
        let report = gateway
            .import_invoices(who, upload.content, &upload.filename, options, Some(wait))
            .await?;
        let user_errors = report
            .problem
            .map(|problem| {
                UserError::from(Refusal {
                    code: problem.code(),
                    field: Some("file"),
                    message: problem.to_string(),
                })
            })
            .into_iter()
            .collect();
        Ok(ImportInvoicesCsvPayload {
            import: Some(InvoiceImport(report.import)),
            user_errors,
        })
    }
}

/// The separator of an exported CSV.
#[derive(Enum, Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum CsvDelimiter {
    /// `,` (RFC 4180).
    #[default]
    Comma,
    /// `;`, what spreadsheets expect where the decimal separator is a comma.
    Semicolon,
}

#[derive(Default)]
pub struct ImportQuery;

#[Object]
impl ImportQuery {
    /// One import, by id. Admins only (null for customers).
    async fn invoice_import(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The import's id.")] id: ID,
    ) -> GqlResult<Option<InvoiceImport>> {
        let who = principal(ctx)?;
        let gateway = ctx.data_unchecked::<UseCases>();
        let id = Id::parse(id.0)?;
        Ok(gateway.invoice_import(who, &id).await?.map(InvoiceImport))
    }

    /// The import history, newest first: up to `first` (at most 100) imports, after the
    /// import `after`. Admins only (empty for customers).
    #[graphql(complexity = "page_cost(Some(first), None, child_complexity, __field)")]
    async fn invoice_imports(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20, desc = "How many imports, at most 100.")] first: i32,
        #[graphql(desc = "Only imports older than the import with this id.")] after: Option<ID>,
    ) -> GqlResult<Vec<InvoiceImport>> {
        let who = principal(ctx)?;
        let gateway = ctx.data_unchecked::<UseCases>();
        let limit = first.clamp(0, 100) as u64;
        let after = after.map(|id| Id::parse(id.0)).transpose()?;
        let imports = gateway.invoice_imports(who, after.as_ref(), limit).await?;
        Ok(imports.into_iter().map(InvoiceImport).collect())
    }

    /// A link that downloads the invoices of this filter as CSV (the import template),
    /// valid for five minutes; point a download button at it. Admins only.
    #[allow(clippy::too_many_arguments)]
    async fn invoice_export_url(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only invoices with this status.")] status: Option<InvoiceStatus>,
        #[graphql(desc = "Only the invoices of this order.")] order_id: Option<String>,
        #[graphql(desc = "Only the invoices of this account.")] account_id: Option<ID>,
        #[graphql(desc = "Only invoices due on or after this date.")] due_from: Option<Date>,
        #[graphql(desc = "Only invoices due on or before this date.")] due_to: Option<Date>,
        #[graphql(default, desc = "The CSV delimiter.")] delimiter: CsvDelimiter,
    ) -> GqlResult<String> {
        let who = principal(ctx)?;
        let filter = invoice_filter(status, order_id, account_id, due_from, due_to)?;
        who.require_every_account("export invoices")
            .map_err(AppError::from)?;
        let delimiter_byte = match delimiter {
            CsvDelimiter::Comma => b',',
            CsvDelimiter::Semicolon => b';',
        };
        let token = ctx.data_unchecked::<TokenKeys>().mint_download(
            who,
            DOWNLOAD_LINK_TTL,
            &export_link_binding(&filter, delimiter_byte),
        );
        Ok(ExportQuery::link(&filter, delimiter_byte, token))
    }
}
