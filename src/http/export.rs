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
fn caller_of(
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
        None => caller(headers, &state.keys).map(|who| who.map(|(who, _)| (who, None))),
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
    let started = (|| {
        let (who, opens) = caller_of(&query, &state, &headers)?;
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
    })();
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
    let (extension, content_type) = match form {
        Form::Csv => ("csv", "text/csv; charset=utf-8"),
        Form::Workbook => (
            "xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
    };
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
