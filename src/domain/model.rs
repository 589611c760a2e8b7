//! The domain's records, as the rest of the gateway sees them (the store converts its rows
//! into these).

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use super::{AccountStatus, ChangeSource, DocumentType, Id, InvoiceStatus, Money};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub document: String,
    pub document_type: DocumentType,
    pub name: String,
    pub email: String,
    pub currency: String,
    pub credit_limit: Money,
    /// A fraction: 0.30 lets the account spend 30 % over its limit.
    pub tolerance: Money,
    pub status: AccountStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Increments on every write.
    pub version: i32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    pub id: String,
    pub account_id: String,
    pub value: Money,
    pub currency: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invoice {
    pub id: String,
    pub friendly_id: String,
    pub account_id: String,
    pub order_id: String,
    pub installment: i32,
    pub number_of_installments: i32,
    pub value: Money,
    pub currency: String,
    pub original_due_date: NaiveDate,
    pub due_date: NaiveDate,
    /// The persisted status; see [`Invoice::status_on`] for the one clients see.
    pub stored_status: InvoiceStatus,
    pub payment_link: Option<String>,
    pub observation: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub version: i32,
}

impl Invoice {
    /// The status on `today`, overdue-by-date included.
    pub fn status_on(&self, today: NaiveDate) -> InvoiceStatus {
        self.stored_status.effective(self.due_date, today)
    }
}

/// One recorded change of an invoice. A field pair is present when that field changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvoiceEvent {
    pub seq: i64,
    pub invoice_id: String,
    pub status_from: Option<InvoiceStatus>,
    pub status_to: Option<InvoiceStatus>,
    pub payment_link_from: Option<String>,
    pub payment_link_to: Option<String>,
    pub observation_from: Option<String>,
    pub observation_to: Option<String>,
    pub due_date_from: Option<NaiveDate>,
    pub due_date_to: Option<NaiveDate>,
    pub reason: Option<String>,
    pub actor: String,
    pub source: ChangeSource,
    pub import_id: Option<String>,
    pub occurred_at: DateTime<Utc>,
}

/// Which invoices a listing, a count or a total covers. `None` means "any".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InvoiceFilter {
    /// The status as clients see it: `OPEN` excludes, and `OVERDUE` includes, open
    /// invoices past their due date.
    pub status: Option<InvoiceStatus>,
    pub order_id: Option<Id>,
    pub account_id: Option<Id>,
    pub due_from: Option<NaiveDate>,
    pub due_to: Option<NaiveDate>,
    /// Only invoices still to be paid, open or overdue (the Customer Credit API's
    /// `Opened`, which knows no overdue).
    pub unpaid: bool,
    /// Created at or after this instant.
    pub created_from: Option<DateTime<Utc>>,
    /// Created at or before this instant.
    pub created_to: Option<DateTime<Utc>>,
    /// Exactly this value.
    pub value: Option<Money>,
    pub friendly_id: Option<String>,
    /// Exactly this observation.
    pub observation: Option<String>,
    /// The criteria above joined by OR (the Customer Credit API's `op=or`) rather than AND.
    pub any: bool,
    /// The one account the listing is confined to (a customer's own, set by the
    /// service; or the account a REST path names): joined by AND, whatever `any` says.
    pub confined_to: Option<String>,
}

/// The listing filter as text, as an edge receives it: a query string (an export link)
/// or the command line. Its field names are the query parameters' names, so that the
/// link written by one edge is read by another with the same words.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FilterText {
    /// `OPEN`, `PAID`, `CANCELLED` or `OVERDUE`, in any case (and their usual translations).
    pub status: Option<String>,
    pub order_id: Option<String>,
    pub account_id: Option<String>,
    /// `YYYY-MM-DD`.
    pub due_from: Option<String>,
    /// `YYYY-MM-DD`.
    pub due_to: Option<String>,
}

impl FilterText {
    /// The text of a filter, to be read back by [`FilterText::read`].
    pub fn of(filter: &InvoiceFilter) -> FilterText {
        FilterText {
            status: filter.status.map(|s| s.as_str().to_owned()),
            order_id: filter.order_id.as_ref().map(Id::to_string),
            account_id: filter.account_id.as_ref().map(Id::to_string),
            due_from: filter.due_from.map(|d| d.to_string()),
            due_to: filter.due_to.map(|d| d.to_string()),
        }
    }

    /// The filter this text names, every part checked.
    pub fn read(&self) -> Result<InvoiceFilter, super::DomainError> {
        use super::DomainError;
        let date = |name: &str, text: &Option<String>| {
            text.as_deref()
                .map(|t| {
                    super::parse_date(t).ok_or_else(|| {
                        DomainError::InvalidFilter(format!("`{name}` must be a date, YYYY-MM-DD"))
                    })
                })
                .transpose()
        };
        InvoiceFilter::listing(
            self.status
                .as_deref()
                .map(InvoiceStatus::parse_loose)
                .transpose()?,
            self.order_id.clone(),
            self.account_id.clone(),
            date("dueFrom", &self.due_from)?,
            date("dueTo", &self.due_to)?,
        )
    }
}

impl InvoiceFilter {
    /// The filter of a listing (the `invoices` query, an export), its ids parsed and its
    /// range checked: the one door from an edge's parameters to a filter.
    pub fn listing(
        status: Option<InvoiceStatus>,
        order_id: Option<String>,
        account_id: Option<String>,
        due_from: Option<NaiveDate>,
        due_to: Option<NaiveDate>,
    ) -> Result<InvoiceFilter, super::DomainError> {
        let filter = InvoiceFilter {
            status,
            order_id: order_id.map(Id::parse).transpose()?,
            account_id: account_id.map(Id::parse).transpose()?,
            due_from,
            due_to,
            ..Default::default()
        };
        filter.check()?;
        Ok(filter)
    }

    pub fn check(&self) -> Result<(), super::DomainError> {
        match (self.due_from, self.due_to) {
            (Some(from), Some(to)) if from > to => Err(super::DomainError::InvalidFilter(format!(
                "dueFrom ({from}) is after dueTo ({to})"
            ))),
            _ => match (self.created_from, self.created_to) {
                (Some(from), Some(to)) if from > to => {
                    Err(super::DomainError::InvalidFilter(format!(
                        "createdDateFrom ({}) is after createdDateTo ({})",
                        from.to_rfc3339(),
                        to.to_rfc3339()
                    )))
                }
                _ => Ok(()),
            },
        }
    }
}

/// The number and value of the invoices of one status and currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusTotal {
    pub status: InvoiceStatus,
    pub currency: String,
    pub count: i64,
    pub value: Decimal,
}

/// A friendly id: eight random letters and digits, a dash, and the installment number
/// (`u8KFsGDk-1`), short enough to read over the phone.
pub fn new_friendly_id(installment: i32) -> String {
    use rand::Rng;
    use rand::distr::Alphanumeric;
    let code: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(8)
        .map(char::from)
        .collect();
    format!("{code}-{installment}")
}
