//! The GraphQL object types: invoices, accounts, orders, history events, and the enums
//! they use. Each wraps a domain record; relations resolve through the request's loaders.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::RequestContext;
use super::connection::{InvoiceArgs, InvoiceConnection, InvoiceOrder};
use super::error::GqlResult;
use super::limits::{HISTORY_PRICE, page_cost};
use super::loaders::{AccountKey, HistoryKey, Loaders, OpenBalanceKey, OrderKey};
use super::scalars::{Date, Decimal};
use crate::domain;
use crate::service::AppError;

/// The status of an invoice. `OVERDUE` is also a fact of time: an open invoice whose due
/// date has passed (in the store's time zone) reads as `OVERDUE` at once, everywhere.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::domain::InvoiceStatus")]
pub enum InvoiceStatus {
    /// Awaiting payment, not yet due.
    Open,
    /// Settled.
    Paid,
    /// Will never be paid.
    Cancelled,
    /// Awaiting payment past its due date.
    Overdue,
}

/// Whether a credit account may still buy on credit.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::domain::AccountStatus")]
pub enum AccountStatus {
    /// The account may buy on credit.
    Open,
    /// The account may no longer buy on credit.
    Closed,
}

/// The kind of tax document that identifies an account holder.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::domain::DocumentType")]
pub enum DocumentType {
    /// Brazilian individual taxpayer registry.
    Cpf,
    /// Brazilian company registry.
    Cnpj,
    /// Any other document.
    Other,
}

/// The path an invoice change came through.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::domain::ChangeSource")]
pub enum ChangeSource {
    /// A GraphQL mutation.
    Graphql,
    /// A CSV import.
    CsvImport,
    /// The Customer Credit compatible REST API.
    Rest,
    /// The background task that persists overdue invoices.
    Sweeper,
    /// Demo or synthetic data loaded by the gateway.
    Seed,
}

fn loaders<'a>(ctx: &Context<'a>) -> &'a Loaders {
    ctx.data_unchecked::<Loaders>()
}

/// One installment of a billed order, shared rather than copied (a page hands the same
/// record to `nodes` and `edges`), with the relations its page already loaded.
#[derive(Clone)]
pub struct Invoice {
    record: Arc<domain::Invoice>,
    /// The account, when the page loaded it; otherwise the loaders find it.
    account: Option<Arc<domain::Account>>,
    /// The order (`Some(None)`: looked for, not found), when the page loaded it.
    order: Option<Option<Arc<domain::Order>>>,
}

impl Invoice {
    /// An invoice whose relations its resolvers load (through the request's loaders).
    pub fn new(record: domain::Invoice) -> Invoice {
        Invoice {
            record: Arc::new(record),
            account: None,
            order: None,
        }
    }

    /// An invoice already shared (a loader's).
    pub(super) fn shared(record: Arc<domain::Invoice>) -> Invoice {
        Invoice {
            record,
            account: None,
            order: None,
        }
    }

    /// An invoice of a page, with the relations the page loaded for all its invoices.
    pub(super) fn with_relations(
        record: domain::Invoice,
        account: Option<Arc<domain::Account>>,
        order: Option<Option<Arc<domain::Order>>>,
    ) -> Invoice {
        Invoice {
            record: Arc::new(record),
            account,
            order,
        }
    }

    pub(super) fn record(&self) -> &domain::Invoice {
        &self.record
    }

    /// The account, when the page loaded it.
    pub(super) fn loaded_account(&self) -> Option<&Arc<domain::Account>> {
        self.account.as_ref()
    }

    /// The order, when the page looked for it (`Some(None)`: not found).
    pub(super) fn loaded_order(&self) -> Option<Option<&Arc<domain::Order>>> {
        self.order.as_ref().map(Option::as_ref)
    }
}

/// One installment of a billed order: what the customer owes, until when, and how to pay.
#[Object]
impl Invoice {
    /// Transaction id and two-digit installment, e.g. `A424887D0F2D45028FE5C96E9B0E1A2D-01`.
    async fn id(&self) -> ID {
        ID(self.record.id.clone())
    }

    /// A short id to read over the phone, e.g. `u8KFsGDk-1`.
    async fn friendly_id(&self) -> &str {
        &self.record.friendly_id
    }

    /// The status today: an open invoice past its due date is `OVERDUE`.
    async fn status(&self, ctx: &Context<'_>) -> InvoiceStatus {
        self.record
            .status_on(ctx.data_unchecked::<RequestContext>().today)
            .into()
    }

    /// The amount of this installment.
    async fn value(&self) -> Decimal {
        self.record.value.into()
    }

    /// ISO 4217 currency code, e.g. `BRL`.
    async fn currency(&self) -> &str {
        &self.record.currency
    }

    /// When payment is due (after any postponement).
    async fn due_date(&self) -> Date {
        Date(self.record.due_date)
    }

    /// The due date the invoice was created with.
    async fn original_due_date(&self) -> Date {
        Date(self.record.original_due_date)
    }

    /// This installment's number, from 1.
    async fn installment(&self) -> i32 {
        self.record.installment
    }

    /// How many installments the order was split into.
    async fn number_of_installments(&self) -> i32 {
        self.record.number_of_installments
    }

    /// Where the customer pays (an absolute https URL); when present, "My Credits" shows a
    /// PAY button.
    async fn payment_link(&self) -> Option<&str> {
        self.record.payment_link.as_deref()
    }

    /// A free-text note from the back office.
    async fn observation(&self) -> Option<&str> {
        self.record.observation.as_deref()
    }

    /// The id of the order this invoice bills.
    async fn order_id(&self) -> &str {
        &self.record.order_id
    }

    /// The order this invoice bills.
    async fn order(&self, ctx: &Context<'_>) -> GqlResult<Option<Order>> {
        if let Some(order) = &self.order {
            return Ok(order.clone().map(Order));
        }
        Ok(loaders(ctx)
            .load_one(OrderKey(self.record.order_id.clone()))
            .await?
            .map(Order))
    }

    /// The id of the credit account that owes this invoice.
    async fn account_id(&self) -> ID {
        ID(self.record.account_id.clone())
    }

    /// The credit account that owes this invoice.
    async fn account(&self, ctx: &Context<'_>) -> GqlResult<Account> {
        if let Some(account) = &self.account {
            return Ok(Account(account.clone()));
        }
        loaders(ctx)
            .load_one(AccountKey(self.record.account_id.clone()))
            .await?
            .map(Account)
            .ok_or_else(|| AppError::Internal(format!("invoice {} has no account", self.record.id)))
    }

    /// When the invoice was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.record.created_at
    }

    /// When the invoice last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.record.updated_at
    }

    /// When the invoice became `PAID` or `CANCELLED`; null while unpaid.
    async fn resolved_at(&self) -> Option<DateTime<Utc>> {
        self.record.resolved_at
    }

    /// Increments on every change. Send it back as `expectedVersion` to refuse a change
    /// if someone else changed the invoice first.
    async fn version(&self) -> i32 {
        self.record.version
    }

    /// Every recorded change of this invoice, oldest first.
    #[graphql(complexity = "HISTORY_PRICE * child_complexity + 1")]
    async fn history(&self, ctx: &Context<'_>) -> GqlResult<Vec<InvoiceEvent>> {
        let events = loaders(ctx)
            .load_one(HistoryKey(self.record.id.clone()))
            .await?;
        Ok(events
            .unwrap_or_default()
            .into_iter()
            .map(InvoiceEvent)
            .collect())
    }
}

/// A customer's credit account.
pub struct Account(pub Arc<domain::Account>);

impl Account {
    async fn open_balance_of(&self, ctx: &Context<'_>) -> GqlResult<rust_decimal::Decimal> {
        let sum = loaders(ctx)
            .load_one(OpenBalanceKey(self.0.id.clone()))
            .await?;
        Ok(sum.unwrap_or_default())
    }
}

/// A customer's credit account: its limit and what it currently owes.
#[Object]
impl Account {
    /// The account id, e.g. `11111111111_CPF` or a UUID.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// The holder's document number.
    async fn document(&self) -> &str {
        &self.0.document
    }

    /// The kind of document.
    async fn document_type(&self) -> DocumentType {
        self.0.document_type.into()
    }

    /// The holder's name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The holder's e-mail address.
    async fn email(&self) -> &str {
        &self.0.email
    }

    /// The currency of the credit limit.
    async fn currency(&self) -> &str {
        &self.0.currency
    }

    /// How much the account may owe at once.
    async fn credit_limit(&self) -> Decimal {
        self.0.credit_limit.into()
    }

    /// How far over the limit the account may go, as a fraction (`0.30` is 30 %).
    async fn tolerance(&self) -> Decimal {
        self.0.tolerance.into()
    }

    /// Whether the account may still buy on credit.
    async fn status(&self) -> AccountStatus {
        self.0.status.into()
    }

    /// When the account was opened.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When the account last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// Increments on every write of the account; send it back as `expectedVersion` to
    /// `upsertAccount` to refuse the write if someone else changed the account first.
    async fn version(&self) -> i32 {
        self.0.version
    }

    /// The sum of the account's `OPEN` and `OVERDUE` invoices.
    async fn open_balance(&self, ctx: &Context<'_>) -> GqlResult<Decimal> {
        Ok(Decimal(self.open_balance_of(ctx).await?))
    }

    /// `creditLimit - openBalance`; negative when the account is over its limit.
    async fn available_credit(&self, ctx: &Context<'_>) -> GqlResult<Decimal> {
        let open = self.open_balance_of(ctx).await?;
        Ok(Decimal(self.0.credit_limit.amount() - open))
    }

    /// The account's invoices, with the same filters, order and paging as `Query.invoices`.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "page_cost(first, last, child_complexity, __field)")]
    async fn invoices(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only invoices in this status (as shown today).")] status: Option<
            InvoiceStatus,
        >,
        #[graphql(desc = "Only invoices of this order.")] order_id: Option<String>,
        #[graphql(desc = "Only invoices due on or after this date.")] due_from: Option<Date>,
        #[graphql(desc = "Only invoices due on or before this date.")] due_to: Option<Date>,
        #[graphql(desc = "Sort order; by default by due date, ascending.")] order_by: Option<
            InvoiceOrder,
        >,
        #[graphql(desc = "Page forward: at most this many invoices.")] first: Option<i32>,
        #[graphql(desc = "Page forward: the invoices after this cursor.")] after: Option<String>,
        #[graphql(desc = "Page backward: at most this many invoices.")] last: Option<i32>,
        #[graphql(desc = "Page backward: the invoices before this cursor.")] before: Option<String>,
    ) -> GqlResult<InvoiceConnection> {
        InvoiceArgs {
            status,
            order_id,
            account_id: Some(ID(self.0.id.clone())),
            due_from,
            due_to,
            order_by,
            first,
            after,
            last,
            before,
        }
        .run(ctx)
        .await
    }
}

/// An order billed on credit.
pub struct Order(pub Arc<domain::Order>);

/// An order billed on credit; each of its installments is an invoice.
#[Object]
impl Order {
    /// The order id from the order system, e.g. `1375060513100-01`.
    async fn id(&self) -> &str {
        &self.0.id
    }

    /// The credit account that placed the order.
    async fn account_id(&self) -> ID {
        ID(self.0.account_id.clone())
    }

    /// The order's total value.
    async fn value(&self) -> Decimal {
        self.0.value.into()
    }

    /// ISO 4217 currency code.
    async fn currency(&self) -> &str {
        &self.0.currency
    }

    /// When the order was registered.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A text field's change: what it was and what it became (null means empty).
#[derive(SimpleObject, Clone, Debug)]
pub struct TextChange {
    /// The value before the change.
    pub from: Option<String>,
    /// The value after the change.
    pub to: Option<String>,
}

fn text_change(from: &Option<String>, to: &Option<String>) -> Option<TextChange> {
    (from.is_some() || to.is_some()).then(|| TextChange {
        from: from.clone(),
        to: to.clone(),
    })
}

/// A due date's change.
#[derive(SimpleObject, Clone, Debug)]
pub struct DateChange {
    /// The due date before the change.
    pub from: Date,
    /// The due date after the change.
    pub to: Date,
}

/// One recorded change of an invoice.
pub struct InvoiceEvent(pub domain::InvoiceEvent);

/// One recorded change of an invoice: who made it, when, through what, and what changed.
/// A change field is null when that part of the invoice did not change.
#[Object]
impl InvoiceEvent {
    /// The event's position in the global, increasing event sequence.
    async fn cursor(&self) -> String {
        self.0.seq.to_string()
    }

    /// The invoice that changed.
    async fn invoice_id(&self) -> ID {
        ID(self.0.invoice_id.clone())
    }

    /// The status before the change; null when the invoice was created by this event or
    /// its status did not change.
    async fn previous_status(&self) -> Option<InvoiceStatus> {
        self.0.status_from.map(Into::into)
    }

    /// The status after the change; null when the status did not change.
    async fn status(&self) -> Option<InvoiceStatus> {
        self.0.status_to.map(Into::into)
    }

    /// The payment link's change, if it changed.
    async fn payment_link_change(&self) -> Option<TextChange> {
        text_change(&self.0.payment_link_from, &self.0.payment_link_to)
    }

    /// The observation's change, if it changed.
    async fn observation_change(&self) -> Option<TextChange> {
        text_change(&self.0.observation_from, &self.0.observation_to)
    }

    /// The due date's change, if it changed.
    async fn due_date_change(&self) -> Option<DateChange> {
        match (self.0.due_date_from, self.0.due_date_to) {
            (Some(from), Some(to)) => Some(DateChange {
                from: Date(from),
                to: Date(to),
            }),
            _ => None,
        }
    }

    /// Why the change was made, when a reason was required or given.
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }

    /// Who made the change: the subject of the caller's token.
    async fn actor(&self) -> &str {
        &self.0.actor
    }

    /// The path the change came through.
    async fn source(&self) -> ChangeSource {
        self.0.source.into()
    }

    /// The CSV import that made the change, if one did.
    async fn import_id(&self) -> Option<ID> {
        self.0.import_id.clone().map(ID)
    }

    /// When the change was committed.
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }
}
