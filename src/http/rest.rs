//! The REST API that existing Customer Credit integrations already call, under
//! `/api/creditcontrol`. Same tokens, same rules, same change path (source `REST`) as
//! GraphQL. Unlike the original, every failure answers a JSON body
//! `{"error": {"code", "message", "field"}}` with a 4xx or 5xx status, never an empty 200.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{AppState, principal};
use crate::auth::Principal;
use crate::domain::{
    ChangeRequest, ChangeSource, Cursor, Invoice, InvoiceFilter, InvoiceOrder, InvoiceStatus,
    PageDirection, PageRequest, Refusal, RefusalCode, check_id,
};
use crate::service::AppError;

pub fn routes() -> Router<AppState> {
    let invoice = "/api/creditcontrol/accounts/{account_id}/invoices/{invoice_id}";
    Router::new()
        .route(invoice, get(read).put(change).delete(cancel))
        .route(&format!("{invoice}/payments"), post(pay))
        .route(&format!("{invoice}/postponement"), put(postpone))
        .route("/api/creditcontrol/invoices", get(search))
        .route(
            "/api/creditcontrol/{*rest}",
            axum::routing::any(no_such_call),
        )
        .method_not_allowed_fallback(method_not_allowed)
}

async fn no_such_call() -> Failure {
    Failure(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "no such Customer Credit call".into(),
        None,
    )
}

async fn method_not_allowed() -> Failure {
    Failure(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "this path does not take that method".into(),
        None,
    )
}

/// An error answer.
struct Failure(StatusCode, &'static str, String, Option<&'static str>);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let Failure(status, code, message, field) = self;
        (
            status,
            axum::Json(json!({ "error": { "code": code, "message": message, "field": field } })),
        )
            .into_response()
    }
}

impl From<AppError> for Failure {
    fn from(error: AppError) -> Failure {
        if let AppError::Internal(detail) = &error {
            tracing::error!(error.detail = %detail, "internal error");
        }
        Failure(
            super::status_of(&error),
            error.code(),
            error.public_message(),
            None,
        )
    }
}

impl From<Refusal> for Failure {
    fn from(refusal: Refusal) -> Failure {
        let status = match refusal.code {
            RefusalCode::NotFound => StatusCode::NOT_FOUND,
            RefusalCode::VersionConflict | RefusalCode::AlreadyExists => StatusCode::CONFLICT,
            RefusalCode::InvalidId
            | RefusalCode::InvalidInput
            | RefusalCode::InvalidPaymentLink
            | RefusalCode::TooLong
            | RefusalCode::InvalidFile
            | RefusalCode::InvalidHeader
            | RefusalCode::MalformedRow => StatusCode::BAD_REQUEST,
            RefusalCode::FileTooLarge | RefusalCode::TooManyRows => StatusCode::PAYLOAD_TOO_LARGE,
            RefusalCode::InvalidTransition
            | RefusalCode::ReasonRequired
            | RefusalCode::InvalidDueDate => StatusCode::UNPROCESSABLE_ENTITY,
        };
        Failure(
            status,
            refusal.code.as_str(),
            refusal.message,
            refusal.field,
        )
    }
}

fn bad_request(message: impl Into<String>, field: Option<&'static str>) -> Failure {
    Failure(
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
        message.into(),
        field,
    )
}

/// An invoice with the Customer Credit API's field names. Money is a decimal string, so
/// that no client rounds it through a float.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InvoiceJson {
    id: String,
    friendly_id: String,
    credit_account_id: String,
    order_id: String,
    status: &'static str,
    value: String,
    currency: String,
    installment: i32,
    number_of_installments: i32,
    original_due_date: String,
    due_date: String,
    payment_link: Option<String>,
    observation: Option<String>,
    created_at: String,
    updated_at: String,
    resolved_at: Option<String>,
    version: i32,
}

fn to_json(invoice: Invoice, today: chrono::NaiveDate) -> InvoiceJson {
    InvoiceJson {
        status: invoice.status_on(today).customer_credit_name(),
        value: invoice.value.to_string(),
        original_due_date: invoice.original_due_date.to_string(),
        due_date: invoice.due_date.to_string(),
        created_at: invoice.created_at.to_rfc3339(),
        updated_at: invoice.updated_at.to_rfc3339(),
        resolved_at: invoice.resolved_at.map(|t| t.to_rfc3339()),
        id: invoice.id,
        friendly_id: invoice.friendly_id,
        credit_account_id: invoice.account_id,
        order_id: invoice.order_id,
        currency: invoice.currency,
        installment: invoice.installment,
        number_of_installments: invoice.number_of_installments,
        payment_link: invoice.payment_link,
        observation: invoice.observation,
        version: invoice.version,
    }
}

fn caller(state: &AppState, headers: &HeaderMap) -> Result<Principal, Failure> {
    match principal(headers, &state.keys) {
        Ok(Some(who)) => Ok(who),
        Ok(None) => Err(Failure(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "a bearer token is required".into(),
            None,
        )),
        Err(e) => Err(Failure(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            e.message().into(),
            None,
        )),
    }
}

/// The invoice named by the path, visible to `who` and of the path's account.
async fn located(
    state: &AppState,
    who: &Principal,
    account_id: &str,
    invoice_id: &str,
) -> Result<Invoice, Failure> {
    for (id, field) in [(account_id, "creditAccountId"), (invoice_id, "invoiceId")] {
        check_id(id).map_err(|e| bad_request(e.to_string(), Some(field)))?;
    }
    match state.gateway.invoice(who, invoice_id).await? {
        Some(invoice) if invoice.account_id == account_id => Ok(invoice),
        _ => Err(Refusal::not_found(invoice_id).into()),
    }
}

async fn apply(
    state: &AppState,
    headers: &HeaderMap,
    ids: InvoicePath,
    request: ChangeRequest,
) -> Result<Response, Failure> {
    let who = caller(state, headers)?;
    let InvoicePath(account_id, invoice_id) = ids;
    located(state, &who, &account_id, &invoice_id).await?;
    let applied = state
        .gateway
        .change_invoice(&who, &invoice_id, request, ChangeSource::Rest)
        .await??;
    Ok(axum::Json(to_json(applied.invoice, state.gateway.today())).into_response())
}

/// The request body, within axum's default size limit.
type Body = Result<Bytes, BytesRejection>;

fn parse_body<T: for<'de> Deserialize<'de>>(body: Body) -> Result<T, Failure> {
    let body = body.map_err(|e| Failure(e.status(), "BAD_REQUEST", e.body_text(), None))?;
    serde_json::from_slice(&body)
        .map_err(|e| bad_request(format!("the body is not the expected JSON: {e}"), None))
}

/// `{creditAccountId}/invoices/{invoiceId}` from the path; a malformed path answers JSON.
struct InvoicePath(String, String);

impl<S: Send + Sync> FromRequestParts<S> for InvoicePath {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Failure> {
        let Path((account, invoice)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|e| bad_request(e.body_text(), None))?;
        Ok(InvoicePath(account, invoice))
    }
}

async fn read(
    State(state): State<AppState>,
    headers: HeaderMap,
    ids: InvoicePath,
) -> Result<Response, Failure> {
    let who = caller(&state, &headers)?;
    let invoice = located(&state, &who, &ids.0, &ids.1).await?;
    Ok(axum::Json(to_json(invoice, state.gateway.today())).into_response())
}

/// `PUT` Change invoice: `{status, observation, paymentLink}`, each optional; `null`
/// clears the observation or the link.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ChangeBody {
    status: Option<String>,
    #[serde(default, deserialize_with = "present")]
    observation: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    payment_link: Option<Option<String>>,
    reason: Option<String>,
    expected_version: Option<i32>,
}

/// Tells a field set to `null` (`Some(None)`) from an absent one (`None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

async fn change(
    State(state): State<AppState>,
    headers: HeaderMap,
    ids: InvoicePath,
    body: Body,
) -> Result<Response, Failure> {
    caller(&state, &headers)?;
    let body: ChangeBody = parse_body(body)?;
    let status = match body.status.as_deref() {
        None => None,
        Some(text) => match text.trim().to_lowercase().as_str() {
            "opened" | "open" | "paid" | "cancelled" | "canceled" => {
                InvoiceStatus::parse_loose(text).ok()
            }
            _ => {
                return Err(bad_request(
                    format!(
                        "`{text}` is not a status: use Opened, Open, Paid, Cancelled or Canceled"
                    ),
                    Some("status"),
                ));
            }
        },
    };
    let request = ChangeRequest {
        status,
        observation: body.observation,
        payment_link: body.payment_link,
        reason: body.reason,
        expected_version: body.expected_version,
        ..Default::default()
    };
    apply(&state, &headers, ids, request).await
}

fn to(status: InvoiceStatus) -> ChangeRequest {
    ChangeRequest {
        status: Some(status),
        ..Default::default()
    }
}

async fn cancel(
    State(state): State<AppState>,
    headers: HeaderMap,
    ids: InvoicePath,
) -> Result<Response, Failure> {
    apply(&state, &headers, ids, to(InvoiceStatus::Cancelled)).await
}

async fn pay(
    State(state): State<AppState>,
    headers: HeaderMap,
    ids: InvoicePath,
) -> Result<Response, Failure> {
    apply(&state, &headers, ids, to(InvoiceStatus::Paid)).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PostponeBody {
    due_days: i64,
}

/// `PUT .../postponement` `{dueDays}`: moves the due date that many days later; an
/// overdue invoice moved to today or later is open again.
async fn postpone(
    State(state): State<AppState>,
    headers: HeaderMap,
    ids: InvoicePath,
    body: Body,
) -> Result<Response, Failure> {
    caller(&state, &headers)?;
    let body: PostponeBody = parse_body(body)?;
    if !(1..=366).contains(&body.due_days) {
        return Err(bad_request(
            "dueDays must be between 1 and 366",
            Some("dueDays"),
        ));
    }
    let request = ChangeRequest {
        postpone_days: Some(body.due_days),
        ..Default::default()
    };
    apply(&state, &headers, ids, request).await
}

/// Query of `GET /api/creditcontrol/invoices`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchQuery {
    status: Option<String>,
    /// Due on or after (`YYYY-MM-DD`).
    from: Option<String>,
    /// Due on or before.
    to: Option<String>,
    credit_account_id: Option<String>,
    order_id: Option<String>,
    per_page: Option<i32>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
}

fn date(text: Option<String>, field: &'static str) -> Result<Option<chrono::NaiveDate>, Failure> {
    text.map(|t| {
        crate::domain::parse_date(&t)
            .ok_or_else(|| bad_request(format!("`{t}` is not a date: use YYYY-MM-DD"), Some(field)))
    })
    .transpose()
}

async fn search(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Failure> {
    let Query(query) = query.map_err(|e| bad_request(e.body_text(), None))?;
    let who = caller(&state, &headers)?;
    let filter = InvoiceFilter {
        status: query
            .status
            .map(|s| {
                InvoiceStatus::parse_loose(&s)
                    .map_err(|e| bad_request(e.to_string(), Some("status")))
            })
            .transpose()?,
        order_id: query.order_id,
        account_id: query.credit_account_id,
        due_from: date(query.from, "from")?,
        due_to: date(query.to, "to")?,
    };
    for id in [&filter.order_id, &filter.account_id].into_iter().flatten() {
        check_id(id).map_err(|e| bad_request(e.to_string(), None))?;
    }
    let order = InvoiceOrder::default();
    let page: PageRequest =
        state
            .gateway
            .page_request(order, query.per_page, query.cursor.as_deref(), None, None)?;
    debug_assert_eq!(page.direction, PageDirection::Forward);
    let today = state.gateway.today();
    let found = state
        .gateway
        .invoices(&who, &filter, order, &page, today)
        .await?;
    let total = state.gateway.count_invoices(&who, &filter, today).await?;
    let next = found
        .has_next_page
        .then(|| {
            found
                .invoices
                .last()
                .map(|i| Cursor::of(order.field, i).encode())
        })
        .flatten();
    let data: Vec<InvoiceJson> = found
        .invoices
        .into_iter()
        .map(|i| to_json(i, today))
        .collect();
    Ok(axum::Json(json!({
        "data": data,
        "paging": { "total": total, "perPage": page.size, "nextCursor": next },
    }))
    .into_response())
}
