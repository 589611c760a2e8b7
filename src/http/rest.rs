//! The REST API that existing Customer Credit integrations already call, under
//! `/api/creditcontrol`. Same tokens, same rules, same change path (source `REST`) as
//! GraphQL. Unlike the original, every failure answers a JSON body
//! `{"error": {"code", "message", "field"}}` with a 4xx or 5xx status, never an empty 200.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_json::value::RawValue;

use super::{AppState, principal};
use crate::auth::Principal;
use crate::domain::{
    ChangeRequest, ChangeSource, Invoice, InvoiceFilter, InvoiceStatus, Money, Refusal,
    RefusalCode, StatusTotal, check_id,
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

/// An invoice as the Customer Credit API writes it. Money is a JSON number written from
/// the decimal's own digits, never through a float. An overdue invoice is `Opened` (the
/// API's statuses know no overdue) with `overdue: true`; `currency` and `version` are
/// ours.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InvoiceJson {
    id: String,
    friendly_id: String,
    status: &'static str,
    overdue: bool,
    value: Box<RawValue>,
    currency: String,
    account_id: String,
    credit_account_id: String,
    /// Credit applied to the invoice: always zero, as partial credits are not kept.
    credit_value: Box<RawValue>,
    created_at: String,
    updated_at: String,
    resolved_at: Option<String>,
    payment_link: Option<String>,
    original_due_date: String,
    due_date: String,
    installment: i32,
    number_of_installments: i32,
    order_id: String,
    transaction_id: String,
    observation: Option<String>,
    version: i32,
}

/// A decimal as a JSON number, digit for digit.
fn number(value: Decimal) -> Box<RawValue> {
    // A normalized decimal prints as `-?digits(.digits)?`: always a JSON number.
    RawValue::from_string(value.normalize().to_string()).expect("a decimal is a JSON number")
}

fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The payment transaction an installment belongs to: its id without the `-NN`
/// installment suffix (`A424…1A2D-01` belongs to `A424…1A2D`).
fn transaction_id(invoice_id: &str) -> &str {
    match invoice_id.rsplit_once('-') {
        Some((transaction, installment))
            if !transaction.is_empty()
                && !installment.is_empty()
                && installment.bytes().all(|b| b.is_ascii_digit()) =>
        {
            transaction
        }
        _ => invoice_id,
    }
}

fn to_json(invoice: Invoice, today: NaiveDate) -> InvoiceJson {
    let shown = invoice.status_on(today);
    InvoiceJson {
        status: match shown {
            InvoiceStatus::Overdue => InvoiceStatus::Open,
            other => other,
        }
        .customer_credit_name(),
        overdue: shown == InvoiceStatus::Overdue,
        value: number(invoice.value.amount()),
        credit_value: number(Decimal::ZERO),
        original_due_date: invoice.original_due_date.to_string(),
        due_date: invoice.due_date.to_string(),
        created_at: instant(invoice.created_at),
        updated_at: instant(invoice.updated_at),
        resolved_at: invoice.resolved_at.map(instant),
        transaction_id: transaction_id(&invoice.id).to_owned(),
        id: invoice.id,
        friendly_id: invoice.friendly_id,
        account_id: invoice.account_id.clone(),
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
    RawQuery(query): RawQuery,
) -> Result<Response, Failure> {
    parameters(query.as_deref(), &[])?;
    let who = caller(&state, &headers).await?;
    apply(&state, who, ids, None, to(InvoiceStatus::Cancelled)).await
}

async fn pay(
    State(state): State<AppState>,
    headers: HeaderMap,
    ids: InvoicePath,
    RawQuery(query): RawQuery,
) -> Result<Response, Failure> {
    parameters(query.as_deref(), &[])?;
    let who = caller(&state, &headers).await?;
    apply(&state, who, ids, None, to(InvoiceStatus::Paid)).await
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

/// A query's parameters, each one of `known` and named once: a misspelt filter is
/// refused, never silently ignored.
fn parameters(
    query: Option<&str>,
    known: &[&'static str],
) -> Result<Vec<(&'static str, String)>, Failure> {
    let mut found: Vec<(&'static str, String)> = Vec::new();
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let Some(&name) = known.iter().find(|k| **k == name) else {
            let shown: String = name.chars().take(40).collect();
            return Err(bad_request(
                format!(
                    "unknown parameter `{}`: this call takes {}",
                    shown.escape_debug(),
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
                None,
            ));
        };
        if found.iter().any(|(seen, _)| *seen == name) {
            return Err(bad_request(format!("`{name}` is given twice"), Some(name)));
        }
        found.push((name, value.into_owned()));
    }
    Ok(found)
}

/// Positions and filters of a search, as the Customer Credit API names them.
const SEARCH_PARAMETERS: &[&str] = &[
    "from",
    "to",
    "createdDateFrom",
    "createdDateTo",
    "createDateTo",
    "dueDateFrom",
    "dueDateTo",
    "value",
    "status",
    "friendlyId",
    "observation",
    "creditAccountId",
    "orderId",
    "op",
];

/// A date or an instant (ISO 8601): a date alone is the whole UTC day, so `to` takes
/// its last instant.
fn instant_bound(name: &'static str, text: &str, end: bool) -> Result<DateTime<Utc>, Failure> {
    if let Some(date) = crate::domain::parse_date(text) {
        let day = if end {
            date.and_hms_micro_opt(23, 59, 59, 999_999)
        } else {
            date.and_hms_opt(0, 0, 0)
        };
        if let Some(at) = day {
            return Ok(at.and_utc());
        }
    }
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| {
            bad_request(
                format!("`{name}` must be a date (YYYY-MM-DD) or an ISO 8601 instant"),
                Some(name),
            )
        })
}

/// A due date bound: a date, or the date of an ISO 8601 instant.
fn date_bound(name: &'static str, text: &str) -> Result<NaiveDate, Failure> {
    crate::domain::parse_date(text)
        .or_else(|| {
            DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|at| at.date_naive())
                .filter(|d| crate::domain::is_storable_date(*d))
        })
        .ok_or_else(|| {
            bad_request(
                format!("`{name}` must be a date (YYYY-MM-DD) or an ISO 8601 instant"),
                Some(name),
            )
        })
}

/// A position in a listing: 1 to `i64::MAX`, what both backends take as an offset.
fn position(name: &'static str, text: &str) -> Result<u64, Failure> {
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 1)
        .map(i64::unsigned_abs)
        .ok_or_else(|| {
            bad_request(
                format!("`{name}` must be a whole number from 1 to {}", i64::MAX),
                Some(name),
            )
        })
}

fn id_parameter(name: &'static str, text: String) -> Result<String, Failure> {
    check_id(&text).map_err(|e| bad_request(e.to_string(), Some(name)))?;
    Ok(text)
}

/// A search: the filter, and the positions asked for (1-based, inclusive).
struct Search {
    filter: InvoiceFilter,
    from: u64,
    to: u64,
}

impl Search {
    fn parse(query: Option<&str>, known: &[&'static str], page: Paging) -> Result<Search, Failure> {
        let mut filter = InvoiceFilter::default();
        let (mut from, mut to) = (None, None);
        for (name, value) in parameters(query, known)? {
            match name {
                "from" => from = Some(position(name, &value)?),
                "to" => to = Some(position(name, &value)?),
                "createdDateFrom" => {
                    filter.created_from = Some(instant_bound(name, &value, false)?)
                }
                "createdDateTo" | "createDateTo" => {
                    if filter.created_to.is_some() {
                        return Err(bad_request(
                            "`createdDateTo` is given twice",
                            Some("createdDateTo"),
                        ));
                    }
                    filter.created_to = Some(instant_bound(name, &value, true)?);
                }
                "dueDateFrom" => filter.due_from = Some(date_bound(name, &value)?),
                "dueDateTo" => filter.due_to = Some(date_bound(name, &value)?),
                "value" => {
                    filter.value = Some(
                        Money::parse(&value)
                            .map_err(|e| bad_request(format!("`value`: {e}"), Some("value")))?,
                    )
                }
                "status" => match value.trim().to_ascii_lowercase().as_str() {
                    "opened" | "open" => filter.unpaid = true,
                    "overdue" => filter.status = Some(InvoiceStatus::Overdue),
                    "paid" => filter.status = Some(InvoiceStatus::Paid),
                    "cancelled" | "canceled" => filter.status = Some(InvoiceStatus::Cancelled),
                    _ => {
                        return Err(bad_request(
                            "`status` must be Opened, Paid, Cancelled or Overdue",
                            Some("status"),
                        ));
                    }
                },
                "friendlyId" => filter.friendly_id = Some(id_parameter(name, value)?),
                "observation" => filter.observation = Some(value),
                "creditAccountId" => filter.account_id = Some(id_parameter(name, value)?),
                "orderId" => filter.order_id = Some(id_parameter(name, value)?),
                "op" => {
                    filter.any = match value.trim().to_ascii_lowercase().as_str() {
                        "and" => false,
                        "or" => true,
                        _ => return Err(bad_request("`op` must be and or or", Some("op"))),
                    }
                }
                _ => unreachable!("`parameters` returns only known names"),
            }
        }
        filter
            .check()
            .map_err(|e| bad_request(e.to_string(), None))?;
        let from = from.unwrap_or(1);
        let to = match to {
            Some(to) if to < from => {
                return Err(bad_request(
                    format!("`to` ({to}) is before `from` ({from})"),
                    Some("to"),
                ));
            }
            Some(to) => to.min(from.saturating_add(page.max - 1)),
            None => from.saturating_add(page.default - 1),
        };
        Ok(Search { filter, from, to })
    }
}

/// How many invoices a search answers when `to` is absent, and at most.
#[derive(Clone, Copy)]
struct Paging {
    default: u64,
    max: u64,
}

fn paging(state: &AppState) -> Paging {
    let settings = state.gateway.settings();
    Paging {
        default: settings.default_page_size.max(1),
        max: settings.max_page_size.max(1),
    }
}

#[derive(Serialize)]
struct SearchAnswer {
    data: Vec<InvoiceJson>,
    summary: Summary,
}

/// `summary`: count and value of every invoice the search covers, not just the page.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    total: Box<RawValue>,
    count: i64,
    total_paid: Box<RawValue>,
    total_cancelled: Box<RawValue>,
}

fn summary(totals: &[StatusTotal]) -> Summary {
    let value_of = |wanted: Option<InvoiceStatus>| {
        totals
            .iter()
            .filter(|t| wanted.is_none_or(|w| t.status == w))
            .map(|t| t.value)
            .sum::<Decimal>()
    };
    Summary {
        total: number(value_of(None)),
        count: totals.iter().map(|t| t.count).sum(),
        total_paid: number(value_of(Some(InvoiceStatus::Paid))),
        total_cancelled: number(value_of(Some(InvoiceStatus::Cancelled))),
    }
}

async fn answer_search(
    state: &AppState,
    who: &Principal,
    search: Search,
) -> Result<Response, Failure> {
    let today = state.gateway.today();
    let Search { filter, from, to } = search;
    let found = state
        .gateway
        .invoices_at(who, &filter, from - 1, to - from + 1, today)
        .await?;
    let totals = state.gateway.status_totals(who, &filter, today).await?;
    // Serialized as it is: through `serde_json::Value`, the raw numbers would be floats.
    let answer = SearchAnswer {
        data: found.into_iter().map(|i| to_json(i, today)).collect(),
        summary: summary(&totals),
    };
    Ok(axum::Json(answer).into_response())
}

/// `GET /api/creditcontrol/invoices`: positions `from`..`to` of the invoices the filters
/// cover, oldest first, and a summary of them all.
async fn search(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Failure> {
    let who = caller(&state, &headers).await?;
    let search = Search::parse(query.as_deref(), SEARCH_PARAMETERS, paging(&state))?;
    answer_search(&state, &who, search).await
}

/// `GET /api/creditcontrol/accounts/{creditAccountId}/invoices`: a search within one
/// account (the same positions and filters, but `creditAccountId`, which the path names).
async fn account_invoices(
    State(state): State<AppState>,
    headers: HeaderMap,
    AccountPath(account_id): AccountPath,
    RawQuery(query): RawQuery,
) -> Result<Response, Failure> {
    let who = caller(&state, &headers).await?;
    let known: Vec<&'static str> = SEARCH_PARAMETERS
        .iter()
        .copied()
        .filter(|name| *name != "creditAccountId")
        .collect();
    let mut search = Search::parse(query.as_deref(), &known, paging(&state))?;
    check_id(&account_id).map_err(|e| bad_request(e.to_string(), Some("creditAccountId")))?;
    if state.gateway.account(&who, &account_id).await?.is_none() {
        return Err(Failure(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("no credit account `{account_id}`"),
            Some("creditAccountId"),
        ));
    }
    // The path's account is a condition of its own: `op=or` joins only the filters.
    search.filter.confined_to = Some(account_id);
    answer_search(&state, &who, search).await
}
