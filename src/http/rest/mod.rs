//! The REST API that existing Customer Credit integrations already call, under
//! `/api/creditcontrol`. Same tokens, same rules, same change path (source `REST`) as
//! GraphQL. Unlike the original, every failure answers a JSON body
//! `{"error": {"code", "message", "field"}}` with a 4xx or 5xx status, never an empty 200.
//!
//! `search` reads the query string of the two listings; `json` writes invoices as the
//! spec's document shows them.

mod json;
mod search;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::json;

use self::json::to_json;
use self::search::{account_invoices, parameters, search};
use super::{AppState, principal};
use crate::auth::Principal;
use crate::domain::{
    ChangeRequest, ChangeSource, Invoice, InvoiceStatus, Refusal, RefusalCode, check_id,
};
use crate::service::AppError;

pub fn routes() -> Router<AppState> {
    let invoice = "/api/creditcontrol/accounts/{account_id}/invoices/{invoice_id}";
    Router::new()
        .route(
            invoice,
            get(read).put(change).delete(|state, headers, ids, query| {
                settle(state, headers, ids, query, InvoiceStatus::Cancelled)
            }),
        )
        .route(
            &format!("{invoice}/payments"),
            post(|state, headers, ids, query| {
                settle(state, headers, ids, query, InvoiceStatus::Paid)
            }),
        )
        .route(&format!("{invoice}/postponement"), put(postpone))
        .route("/api/creditcontrol/invoices", get(search))
        .route(
            "/api/creditcontrol/accounts/{account_id}/invoices",
            get(account_invoices),
        )
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

async fn caller(state: &AppState, headers: &HeaderMap) -> Result<Principal, Failure> {
    match principal(state, headers).await {
        Ok(Some(who)) => Ok(who),
        Ok(None) => Err(Failure(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "a bearer token, or the X-VTEX-API-AppKey and X-VTEX-API-AppToken pair, is required"
                .into(),
            None,
        )),
        Err(e) => Err(e.into()),
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

/// Changes the invoice the path names (and `friendlyId`, when given).
async fn apply(
    state: &AppState,
    who: Principal,
    ids: InvoicePath,
    friendly_id: Option<String>,
    request: ChangeRequest,
) -> Result<Response, Failure> {
    let InvoicePath(account_id, invoice_id) = ids;
    let invoice = located(state, &who, &account_id, &invoice_id).await?;
    if friendly_id.is_some_and(|asked| asked != invoice.friendly_id) {
        return Err(Refusal::not_found(&invoice_id).into());
    }
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

/// `{creditAccountId}` from the path.
struct AccountPath(String);

impl<S: Send + Sync> FromRequestParts<S> for AccountPath {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Failure> {
        let Path(account) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| bad_request(e.body_text(), None))?;
        Ok(AccountPath(account))
    }
}

async fn read(
    State(state): State<AppState>,
    headers: HeaderMap,
    ids: InvoicePath,
    RawQuery(query): RawQuery,
) -> Result<Response, Failure> {
    parameters(query.as_deref(), &[])?;
    let who = caller(&state, &headers).await?;
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

/// `PUT` Change invoice, with the spec's optional `friendlyId`: when given, it must be the
/// invoice's.
async fn change(
    State(state): State<AppState>,
    headers: HeaderMap,
    ids: InvoicePath,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, Failure> {
    let friendly_id = parameters(query.as_deref(), &["friendlyId"])?
        .pop()
        .map(|(_, value)| value);
    let who = caller(&state, &headers).await?;
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
    apply(&state, who, ids, friendly_id, request).await
}

/// `DELETE` (cancel) and `POST .../payments` (mark paid): the invoice to `status`.
async fn settle(
    State(state): State<AppState>,
    headers: HeaderMap,
    ids: InvoicePath,
    RawQuery(query): RawQuery,
    status: InvoiceStatus,
) -> Result<Response, Failure> {
    parameters(query.as_deref(), &[])?;
    let who = caller(&state, &headers).await?;
    let request = ChangeRequest {
        status: Some(status),
        ..Default::default()
    };
    apply(&state, who, ids, None, request).await
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
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, Failure> {
    parameters(query.as_deref(), &[])?;
    let who = caller(&state, &headers).await?;
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
    apply(&state, who, ids, None, request).await
}
