//! The two listings, `GET /invoices` and `GET /accounts/{creditAccountId}/invoices`:
//! their query strings read strictly (an unknown or repeated parameter is refused, never
//! ignored), positions `from`..`to`, and a summary of everything the filters match.

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::value::RawValue;

use super::json::{InvoiceJson, number, to_json};
use super::{AccountPath, Caller, Failure, bad_request};
use crate::auth::Principal;
use crate::domain::{Code, Id, InvoiceFilter, InvoiceStatus, Money, StatusTotal, check_no_control};
use crate::http::AppState;
use crate::http::errors::HttpError;

/// A query's parameters, each one of `known` and named once: a misspelt filter is
/// refused, never silently ignored.
pub(super) fn parameters(
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

fn id_parameter(name: &'static str, text: String) -> Result<Id, Failure> {
    Id::parse(text).map_err(|e| bad_request(e.to_string(), Some(name)))
}

/// A search: the filter, and the positions asked for (1-based, inclusive).
struct Search {
    filter: InvoiceFilter,
    from: u64,
    to: u64,
}

impl Search {
    fn parse(query: Option<&str>, known: &[&'static str]) -> Result<Search, Failure> {
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
                "friendlyId" => filter.friendly_id = Some(id_parameter(name, value)?.into_string()),
                "observation" => {
                    // What no stored observation holds (PostgreSQL cannot even compare a
                    // NUL) is refused as it is when written.
                    check_no_control(&value, "observation")
                        .map_err(|refusal| bad_request(refusal.message, Some("observation")))?;
                    filter.observation = Some(value);
                }
                "creditAccountId" => filter.account_id = Some(id_parameter(name, value)?),
                "orderId" => filter.order_id = Some(id_parameter(name, value)?),
                "op" => {
                    filter.any = match value.trim().to_ascii_lowercase().as_str() {
                        "and" => false,
                        "or" => true,
                        _ => return Err(bad_request("`op` must be and or or", Some("op"))),
                    }
                }
                _ => {
                    return Err(bad_request(
                        format!("this call does not take `{name}`"),
                        Some(name),
                    ));
                }
            }
        }
        let ranges = [
            (
                matches!((filter.due_from, filter.due_to), (Some(f), Some(t)) if f > t),
                "dueDateFrom",
                "dueDateTo",
            ),
            (
                matches!((filter.created_from, filter.created_to), (Some(f), Some(t)) if f > t),
                "createdDateFrom",
                "createdDateTo",
            ),
        ];
        for (reversed, name, other) in ranges {
            if reversed {
                return Err(bad_request(
                    format!("`{name}` is after `{other}`"),
                    Some(name),
                ));
            }
        }
        let from = from.unwrap_or(1);
        let to = match to {
            Some(to) if to < from => {
                return Err(bad_request(
                    format!("`to` ({to}) is before `from` ({from})"),
                    Some("to"),
                ));
            }
            Some(to) => to.min(from.saturating_add(MAX_RANGE - 1)),
            None => from.saturating_add(DEFAULT_RANGE - 1),
        };
        Ok(Search { filter, from, to })
    }
}

/// How many invoices a search answers when `to` is absent.
pub const DEFAULT_RANGE: u64 = 50;
/// The most invoices one search answers (a wider `from`..`to` is cut to this): above the
/// spec's own example of `from=1&to=300`.
pub const MAX_RANGE: u64 = 1000;

#[derive(Serialize)]
struct SearchAnswer {
    data: Vec<InvoiceJson>,
    summary: Summary,
}

/// `summary` of every invoice the search covers, not just the page: how many, and the
/// value still to be paid (open and overdue), paid, and cancelled.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    total: Box<RawValue>,
    count: i64,
    total_paid: Box<RawValue>,
    total_cancelled: Box<RawValue>,
}

fn summary(totals: &[StatusTotal]) -> Summary {
    let value_of = |wanted: &[InvoiceStatus]| {
        totals
            .iter()
            .filter(|t| wanted.contains(&t.status))
            .map(|t| t.value)
            .sum::<Decimal>()
    };
    Summary {
        total: number(value_of(&[InvoiceStatus::Open, InvoiceStatus::Overdue])),
        count: totals.iter().map(|t| t.count).sum(),
        total_paid: number(value_of(&[InvoiceStatus::Paid])),
        total_cancelled: number(value_of(&[InvoiceStatus::Cancelled])),
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
pub(super) async fn search(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    Caller(who): Caller,
) -> Result<Response, Failure> {
    let search = Search::parse(query.as_deref(), SEARCH_PARAMETERS)?;
    answer_search(&state, &who, search).await
}

/// `GET /api/creditcontrol/accounts/{creditAccountId}/invoices`: a search within one
/// account (the same positions and filters, but `creditAccountId`, which the path names).
pub(super) async fn account_invoices(
    State(state): State<AppState>,
    AccountPath(account_id): AccountPath,
    RawQuery(query): RawQuery,
    Caller(who): Caller,
) -> Result<Response, Failure> {
    let known: Vec<&'static str> = SEARCH_PARAMETERS
        .iter()
        .copied()
        .filter(|name| *name != "creditAccountId")
        .collect();
    let mut search = Search::parse(query.as_deref(), &known)?;
    let account_id = id_parameter("creditAccountId", account_id)?;
    if state.gateway.account(&who, &account_id).await?.is_none() {
        return Err(Failure(
            HttpError::new(Code::NotFound, format!("no credit account `{account_id}`"))
                .on("creditAccountId"),
        ));
    }
    // The path's account is a condition of its own: `op=or` joins only the filters.
    search.filter.confined_to = Some(account_id.into_string());
    answer_search(&state, &who, search).await
}
