//! `GET /export/invoices.csv` and `GET /export/invoices.xlsx`: the exports, for admins, as
//! CSV (streamed) or as a workbook. They take the filters of the `invoices` query as query
//! parameters, and a bearer token either in the `Authorization` header or, for a
//! browser's download button, as the `token` parameter of a link from the
//! `invoiceExportUrl` query (a five-minute token that opens the export of its own filter
//! and nothing else, in either form).

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use super::errors::HttpError;
use super::{AppState, caller};
use crate::auth::Principal;
use crate::domain::Code;
use crate::service::{ExportQuery, export_link_binding};

fn bad_request(message: &str) -> HttpError {
    HttpError::new(Code::BadRequest, message)
}

/// Who asks: the link's token (and the export it opens), or the bearer token.
async fn caller_of(
    query: &ExportQuery,
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(Principal, Option<String>), HttpError> {
    let unauthenticated = |message: &str| HttpError::new(Code::Unauthenticated, message);
    // An empty `token=` is no token: the `Authorization` header decides.
    let who = match query.token.as_deref().filter(|t| !t.is_empty()) {
        Some(token) => state
            .keys
            .verify_download(token)
            .map(|(who, opens)| Some((who, Some(opens)))),
        None => caller(headers, &state.keys)
            .await
            .map(|who| who.map(|(who, _)| (who, None))),
    };
    match who {
        Ok(Some(who)) => Ok(who),
        Ok(None) => Err(unauthenticated(
            "a bearer token or a download link's token is required",
        )),
        Err(e) => Err(unauthenticated(e.message())),
    }
}

/// The file an export writes.
#[derive(Clone, Copy)]
enum Form {
    Csv,
    Workbook,
}

impl Form {
    /// Its extension and content type.
    fn file(self) -> (&'static str, &'static str) {
        match self {
            Form::Csv => ("csv", "text/csv; charset=utf-8"),
            Form::Workbook => (
                "xlsx",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ),
        }
    }
}

pub(super) async fn export_invoices(
    state: State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> Response {
    export(state, headers, query, Form::Csv).await
}

pub(super) async fn export_invoices_xlsx(
    state: State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> Response {
    export(state, headers, query, Form::Workbook).await
}

async fn export(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ExportQuery>, QueryRejection>,
    form: Form,
) -> Response {
    let Query(query) = match query {
        Ok(query) => query,
        Err(e) => {
            return bad_request(&format!("bad query parameters: {}", e.body_text())).graphql();
        }
    };
    let started = async {
        let (who, opens) = caller_of(&query, &state, &headers).await?;
        let (filter, delimiter) = query.read().map_err(|e| bad_request(&e))?;
        if opens.is_some_and(|opens| opens != export_link_binding(&filter, delimiter)) {
            return Err(HttpError::new(
                Code::Forbidden,
                "this download link opens the export it was made for, with its filters \
                 unchanged: ask invoiceExportUrl for a link to this one",
            ));
        }
        match form {
            Form::Csv => state.gateway.export_invoices(&who, filter, delimiter),
            Form::Workbook => state.gateway.export_invoices_xlsx(&who, filter),
        }
        .map_err(HttpError::from)
    }
    .await;
    let chunks = match started {
        Ok(chunks) => chunks,
        Err(refused) => return refused.graphql(),
    };
    // An error chunk becomes a body error: the connection is cut, so the client sees a
    // failed download rather than a file that looks complete.
    let body = futures_util::stream::unfold(chunks, |mut chunks| async move {
        let item = match chunks.recv().await? {
            Ok(bytes) => Ok(Bytes::from(bytes)),
            Err(_) => Err(std::io::Error::other("the export failed mid-way")),
        };
        Some((item, chunks))
    });
    let (extension, content_type) = form.file();
    let file_name = format!("invoices-{}.{extension}", state.gateway.today());
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// The query string of `/export/aging.csv` and `/export/aging.xlsx`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct AgingQuery {
    /// `YYYY-MM-DD`; today when absent.
    as_of: Option<String>,
    account_id: Option<String>,
}

pub(super) async fn export_aging_csv(
    state: State<AppState>,
    headers: HeaderMap,
    query: Result<Query<AgingQuery>, QueryRejection>,
) -> Response {
    export_aging(state, headers, query, Form::Csv).await
}

pub(super) async fn export_aging_xlsx(
    state: State<AppState>,
    headers: HeaderMap,
    query: Result<Query<AgingQuery>, QueryRejection>,
) -> Response {
    export_aging(state, headers, query, Form::Workbook).await
}

/// The receivables aging report as a file, for any caller with a token (scoped like the
/// `receivablesAging` query: a customer's is its own account's).
async fn export_aging(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<AgingQuery>, QueryRejection>,
    form: Form,
) -> Response {
    let answer = async {
        let Query(query) =
            query.map_err(|e| bad_request(&format!("bad query parameters: {}", e.body_text())))?;
        let as_of = query
            .as_of
            .map(|text| {
                crate::domain::parse_date(&text)
                    .ok_or_else(|| bad_request("`asOf` must be a date, YYYY-MM-DD"))
            })
            .transpose()?;
        let account = query
            .account_id
            .map(|id| {
                crate::domain::Id::parse(id)
                    .map_err(|e| HttpError::from(crate::service::AppError::from(e)))
            })
            .transpose()?;
        let who = super::principal(&state, &headers)
            .await
            .map_err(HttpError::from)?
            .ok_or_else(|| HttpError::new(Code::Unauthenticated, "a bearer token is required"))?;
        let report = state
            .gateway
            .receivables_aging(&who, as_of, account.as_ref())
            .await
            .map_err(HttpError::from)?;
        let bytes = match form {
            Form::Csv => crate::xlsx_io::aging_csv(&report),
            Form::Workbook => crate::xlsx_io::aging_workbook(&report).map_err(|e| {
                HttpError::from(crate::service::AppError::Internal(format!(
                    "aging workbook: {e}"
                )))
            })?,
        };
        let (extension, content_type) = form.file();
        Ok::<Response, HttpError>(
            (
                [
                    (header::CONTENT_TYPE, content_type.to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!(
                            "attachment; filename=\"aging-{}.{extension}\"",
                            report.as_of
                        ),
                    ),
                    (header::CACHE_CONTROL, "no-store".to_owned()),
                ],
                bytes,
            )
                .into_response(),
        )
    };
    answer.await.unwrap_or_else(|refused| refused.graphql())
}
