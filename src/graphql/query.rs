//! `QueryRoot`: listing, counting and totalling invoices, and reading one invoice or
//! account. Every field needs a token; customers see their own account only.

use async_graphql::{Context, ID, Object, SimpleObject};

use super::connection::{InvoiceArgs, InvoiceConnection, InvoiceOrder, invoice_filter};
use super::error::GqlResult;
use super::limits::{COUNT_PRICE, page_cost};
use super::scalars::{Date, Decimal};
use super::types::{Account, Invoice, InvoiceStatus};
use super::{RequestContext, principal};
use crate::domain::{self, Id};
use crate::service::UseCases;

#[derive(Default)]
pub struct InvoiceQuery;

/// An amount in one currency.
#[derive(SimpleObject, Clone, Debug)]
pub struct MoneyAmount {
    /// The amount.
    amount: Decimal,
    /// ISO 4217 currency code.
    currency: String,
}

/// The number and value of the invoices of one status.
#[derive(SimpleObject, Clone, Debug)]
pub struct InvoiceStatusTotal {
    /// The status (as shown today: overdue-by-date counts as `OVERDUE`).
    status: InvoiceStatus,
    /// How many invoices have it.
    count: i64,
    /// Their summed value, one entry per currency (empty when the count is zero).
    value: Vec<MoneyAmount>,
}

/// Reads: invoices, accounts and status totals. Every field needs a bearer token.
#[Object]
impl InvoiceQuery {
    /// Invoices, filtered, sorted and paged by cursor. Customers see their own account's
    /// invoices only.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "page_cost(first, last, child_complexity, __field)")]
    async fn invoices(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only invoices in this status (as shown today).")] status: Option<
            InvoiceStatus,
        >,
        #[graphql(desc = "Only invoices of this order.")] order_id: Option<String>,
        #[graphql(desc = "Only invoices of this credit account.")] account_id: Option<ID>,
        #[graphql(desc = "Only invoices due on or after this date.")] due_from: Option<Date>,
        #[graphql(desc = "Only invoices due on or before this date.")] due_to: Option<Date>,
        #[graphql(desc = "Sort order; by default by due date, ascending.")] order_by: Option<
            InvoiceOrder,
        >,
        #[graphql(desc = "Page forward: at most this many invoices (capped; see the README).")]
        first: Option<i32>,
        #[graphql(desc = "Page forward: the invoices after this cursor.")] after: Option<String>,
        #[graphql(desc = "Page backward: at most this many invoices (capped).")] last: Option<i32>,
        #[graphql(desc = "Page backward: the invoices before this cursor.")] before: Option<String>,
    ) -> GqlResult<InvoiceConnection> {
        InvoiceArgs {
            status,
            order_id,
            account_id,
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

    /// One invoice by id; null when it does not exist or belongs to another customer.
    async fn invoice(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The invoice id, e.g. `A424887D0F2D45028FE5C96E9B0E1A2D-01`.")] id: ID,
    ) -> GqlResult<Option<Invoice>> {
        let who = principal(ctx)?;
        let id = Id::parse(id.0)?;
        let gateway = ctx.data_unchecked::<UseCases>();
        Ok(gateway.invoice(who, &id).await?.map(Invoice::new))
    }

    /// One credit account by id; null when it does not exist or is another customer's.
    async fn account(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account id, e.g. `11111111111_CPF`.")] id: ID,
    ) -> GqlResult<Option<Account>> {
        let who = principal(ctx)?;
        let id = Id::parse(id.0)?;
        let gateway = ctx.data_unchecked::<UseCases>();
        Ok(gateway.account(who, &id).await?.map(|a| Account(a.into())))
    }

    /// For a filter, the count and value of each of the four statuses: the badges and
    /// totals of the status tabs. Always four entries, in the order OPEN, PAID, CANCELLED,
    /// OVERDUE, covering the whole filter.
    #[graphql(complexity = "COUNT_PRICE")]
    async fn invoice_status_totals(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only invoices of this order.")] order_id: Option<String>,
        #[graphql(desc = "Only invoices of this credit account.")] account_id: Option<ID>,
        #[graphql(desc = "Only invoices due on or after this date.")] due_from: Option<Date>,
        #[graphql(desc = "Only invoices due on or before this date.")] due_to: Option<Date>,
    ) -> GqlResult<Vec<InvoiceStatusTotal>> {
        let who = principal(ctx)?;
        let filter = invoice_filter(None, order_id, account_id, due_from, due_to)?;
        let totals = ctx
            .data_unchecked::<UseCases>()
            .status_totals(who, &filter, ctx.data_unchecked::<RequestContext>().today)
            .await?;
        Ok(domain::InvoiceStatus::ALL
            .into_iter()
            .map(|status| {
                let rows = totals.iter().filter(|t| t.status == status);
                InvoiceStatusTotal {
                    status: status.into(),
                    count: rows.clone().map(|t| t.count).sum(),
                    value: rows
                        .map(|t| MoneyAmount {
                            amount: Decimal(t.value),
                            currency: t.currency.clone(),
                        })
                        .collect(),
                }
            })
            .collect())
    }

    /// The calling principal's view: the store's current date (which decides overdue).
    async fn today(&self, ctx: &Context<'_>) -> GqlResult<Date> {
        principal(ctx)?;
        Ok(Date(ctx.data_unchecked::<RequestContext>().today))
    }

    /// A cursor for "now" in the feed of status changes. Read it together with the data
    /// a screen shows, then subscribe with `invoiceStatusChanged(after: ...)`: every change
    /// committed after this point arrives, even one made before the subscription started.
    async fn status_change_cursor(&self, ctx: &Context<'_>) -> GqlResult<String> {
        let who = principal(ctx)?;
        Ok(ctx
            .data_unchecked::<UseCases>()
            .status_change_cursor(who)
            .await?)
    }
}
