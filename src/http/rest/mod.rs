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
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;

use self::json::to_json;
use self::search::{account_invoices, parameters, search};
use super::errors::HttpError;
use super::{AppState, principal};
use crate::auth::Principal;
use crate::domain::{ChangeRequest, ChangeSource, Code, Id, Invoice, InvoiceStatus, Refusal};
use crate::service::AppError;

pub fn routes() -> Router<AppState> {
    let invoice = "/api/creditcontrol/accounts/{account_id}/invoices/{invoice_id}";
    Router::new()
        .route(
            invoice,
            get(read).put(change).delete(|state, ids, none, who| {
                settle(state, ids, none, who, InvoiceStatus::Cancelled)
            }),
        )
        .route(
            &format!("{invoice}/payments"),
            post(|state, ids, none, who| settle(state, ids, none, who, InvoiceStatus::Paid)),
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

/// An invoice as the Customer Credit API shows it (webhook payloads carry the same).
pub fn invoice_json(invoice: &Invoice, today: chrono::NaiveDate) -> serde_json::Value {
    serde_json::to_value(to_json(invoice.clone(), today)).expect("an invoice serializes")
}

async fn no_such_call() -> Failure {
    Failure(HttpError::new(
        Code::NotFound,
        "no such Customer Credit call",
    ))
}

async fn method_not_allowed() -> Failure {
    Failure(HttpError::new(
        Code::MethodNotAllowed,
        "this path does not take that method",
    ))
}

/// A refused call, answered REST-shaped: `{"error": {"code", "message", "field"}}`.
struct Failure(HttpError);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        self.0.rest()
    }
}

impl From<AppError> for Failure {
    fn from(error: AppError) -> Failure {
        Failure(error.into())
    }
}

impl From<Refusal> for Failure {
    fn from(refusal: Refusal) -> Failure {
        Failure(HttpError {
            code: refusal.code.into(),
            message: refusal.message,
            field: refusal.field,
        })
    }
}

fn bad_request(message: impl Into<String>, field: Option<&'static str>) -> Failure {
    Failure(HttpError {
        code: Code::BadRequest,
        message: message.into(),
        field,
    })
}

/// The authenticated caller: a bearer token or an API key pair, else 401.
struct Caller(Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Failure> {
        match principal(state, &parts.headers).await {
            Ok(Some(who)) => Ok(Caller(who)),
            Ok(None) => Err(Failure(HttpError::new(
                Code::Unauthenticated,
                "a bearer token, or the X-VTEX-API-AppKey and X-VTEX-API-AppToken pair, is \
                 required",
            ))),
            Err(e) => Err(e.into()),
        }
    }
}

/// A call that takes no query parameters: any is refused, named (400).
struct NoParameters;

impl<S: Send + Sync> FromRequestParts<S> for NoParameters {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Failure> {
        parameters(parts.uri.query(), &[])?;
        Ok(NoParameters)
    }
}

/// `PUT` Change invoice's one parameter, the spec's optional `friendlyId`.
struct FriendlyId(Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for FriendlyId {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Failure> {
        let mut given = parameters(parts.uri.query(), &["friendlyId"])?;
        Ok(FriendlyId(given.pop().map(|(_, value)| value)))
    }
}

/// The invoice named by the path, visible to `who` and of the path's account, and its id
/// as parsed from the path.
async fn located(
    state: &AppState,
    who: &Principal,
    path: &InvoicePath,
) -> Result<(Id, Invoice), Failure> {
    let parse =
        |text: &str, field| Id::parse(text).map_err(|e| bad_request(e.to_string(), Some(field)));
    let account_id = parse(&path.0, "creditAccountId")?;
    let invoice_id = parse(&path.1, "invoiceId")?;
    match state.gateway.invoice(who, &invoice_id).await? {
        Some(invoice) if account_id == *invoice.account_id => Ok((invoice_id, invoice)),
        _ => Err(Refusal::not_found(&invoice_id).into()),
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
    // Rights first: a read-only key learns nothing of which invoices exist by changing.
    who.require_admin("change invoices")
        .map_err(AppError::from)?;
    let (invoice_id, invoice) = located(state, &who, &ids).await?;
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
    let body = body.map_err(|e| {
        let code = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Code::PayloadTooLarge
        } else {
            Code::BadRequest
        };
        Failure(HttpError::new(code, e.body_text()))
    })?;
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
    ids: InvoicePath,
    _: NoParameters,
    Caller(who): Caller,
) -> Result<Response, Failure> {
    let (_, invoice) = located(&state, &who, &ids).await?;
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
    ids: InvoicePath,
    FriendlyId(friendly_id): FriendlyId,
    Caller(who): Caller,
    body: Body,
) -> Result<Response, Failure> {
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
    ids: InvoicePath,
    _: NoParameters,
    Caller(who): Caller,
    status: InvoiceStatus,
) -> Result<Response, Failure> {
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
    ids: InvoicePath,
    _: NoParameters,
    Caller(who): Caller,
    body: Body,
) -> Result<Response, Failure> {
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
