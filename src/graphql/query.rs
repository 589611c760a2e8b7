//! `QueryRoot`: listing, counting and totalling invoices, and reading one invoice or
//! account. Every field needs a token; customers see their own account only.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::{Context, ID, Lookahead, Object, SimpleObject};

use super::error::GqlResult;
use super::limits::{COUNT_PRICE, page_cost};
use super::loaders::{HistoryKey, Loaders, OpenBalanceKey};
use super::scalars::{Date, Decimal};
use super::types::{Account, Invoice, InvoiceOrder, InvoiceStatus};
use super::{RequestContext, principal};
use crate::domain::{self, InvoiceFilter, check_id};
use crate::service::{AppError, InvoicePage, UseCases};

#[derive(Default)]
pub struct InvoiceQuery;

/// The arguments of an invoice listing, shared by `Query.invoices` and
/// `Account.invoices`.
pub(super) struct InvoiceArgs {
    pub status: Option<InvoiceStatus>,
    pub order_id: Option<String>,
    pub account_id: Option<ID>,
    pub due_from: Option<Date>,
    pub due_to: Option<Date>,
    pub order_by: Option<InvoiceOrder>,
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
}

pub(super) fn invoice_filter(
    status: Option<InvoiceStatus>,
    order_id: Option<String>,
    account_id: Option<ID>,
    due_from: Option<Date>,
    due_to: Option<Date>,
) -> GqlResult<InvoiceFilter> {
    Ok(InvoiceFilter::listing(
        status.map(Into::into),
        order_id,
        account_id.map(|id| id.0),
        due_from.map(|d| d.0),
        due_to.map(|d| d.0),
    )?)
}

impl InvoiceArgs {
    pub(super) async fn run(self, ctx: &Context<'_>) -> GqlResult<InvoiceConnection> {
        let who = principal(ctx)?;
        let gateway = ctx.data_unchecked::<UseCases>();
        let filter = invoice_filter(
            self.status,
            self.order_id,
            self.account_id,
            self.due_from,
            self.due_to,
        )?;
        let order: domain::InvoiceOrder = self.order_by.unwrap_or_default().into();
        let page = gateway.page_request(
            order,
            self.first,
            self.after.as_deref(),
            self.last,
            self.before.as_deref(),
        )?;
        let today = ctx.data_unchecked::<RequestContext>().today;
        let wanted = Wanted::of(&ctx.look_ahead());
        let mut page = gateway.invoices(who, &filter, order, &page, today).await?;
        let nodes = with_relations(ctx, std::mem::take(&mut page.invoices), wanted).await?;
        Ok(InvoiceConnection {
            page,
            nodes,
            filter,
        })
    }
}

/// What a listing's selection asks of each of its invoices (under `nodes` or
/// `edges.node`), found by looking ahead before the page is read.
#[derive(Clone, Copy, Debug, Default)]
struct Wanted {
    account: bool,
    open_balance: bool,
    order: bool,
    history: bool,
}

impl Wanted {
    fn of(listing: &Lookahead<'_>) -> Wanted {
        let mut wanted = Wanted::default();
        for invoice in [listing.field("nodes"), listing.field("edges").field("node")] {
            let account = invoice.field("account");
            wanted.account |= account.exists();
            wanted.open_balance |=
                account.field("openBalance").exists() || account.field("availableCredit").exists();
            wanted.order |= invoice.field("order").exists();
            wanted.history |= invoice.field("history").exists();
        }
        wanted
    }
}

/// The distinct values of `key` over `invoices`.
fn distinct(invoices: &[domain::Invoice], key: fn(&domain::Invoice) -> &String) -> Vec<String> {
    let mut ids: Vec<String> = invoices.iter().map(|i| key(i).clone()).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The page's invoices with the relations `wanted` names, each loaded in one statement
/// for the whole page, whatever its size, and none for relations the query does not
/// ask for. Accounts and orders travel with the invoices (no per-invoice lookup);
/// open balances and histories go into the request's loaders, where their resolvers
/// find them.
async fn with_relations(
    ctx: &Context<'_>,
    invoices: Vec<domain::Invoice>,
    wanted: Wanted,
) -> GqlResult<Vec<Invoice>> {
    let gateway = ctx.data_unchecked::<UseCases>();
    let loaders = ctx.data_unchecked::<Loaders>();
    let accounts = async {
        if !wanted.account {
            return Ok(vec![]);
        }
        gateway
            .accounts_by_id(&distinct(&invoices, |i| &i.account_id))
            .await
    };
    let orders = async {
        if !wanted.order {
            return Ok(vec![]);
        }
        gateway
            .orders_by_id(&distinct(&invoices, |i| &i.order_id))
            .await
    };
    let balances = async {
        if wanted.open_balance {
            let ids = invoices
                .iter()
                .map(|i| OpenBalanceKey(i.account_id.clone()));
            loaders.load_many(ids).await?;
        }
        Ok::<_, AppError>(())
    };
    let histories = async {
        if wanted.history {
            let ids = invoices.iter().map(|i| HistoryKey(i.id.clone()));
            loaders.load_many(ids).await?;
        }
        Ok(())
    };
    let (accounts, orders, (), ()) =
        async_graphql::futures_util::try_join!(accounts, orders, balances, histories)?;
    let accounts: HashMap<String, Arc<domain::Account>> = accounts
        .into_iter()
        .map(|a| (a.id.clone(), Arc::new(a)))
        .collect();
    let orders: HashMap<String, Arc<domain::Order>> = orders
        .into_iter()
        .map(|o| (o.id.clone(), Arc::new(o)))
        .collect();
    Ok(invoices
        .into_iter()
        .map(|invoice| {
            let account = accounts.get(&invoice.account_id).cloned();
            let order = wanted.order.then(|| orders.get(&invoice.order_id).cloned());
            Invoice::with_relations(invoice, account, order)
        })
        .collect())
}

/// A page of invoices.
pub struct InvoiceConnection {
    /// The page's position in the list (its invoices are in `nodes`).
    page: InvoicePage,
    nodes: Vec<Invoice>,
    filter: InvoiceFilter,
}

/// An invoice and its position in the list.
#[derive(SimpleObject)]
pub struct InvoiceEdge {
    /// Opaque position of this invoice; pass it as `after` or `before`.
    cursor: String,
    /// The invoice.
    node: Invoice,
}

/// Where a page sits in the whole list.
#[derive(SimpleObject)]
pub struct PageInfo {
    /// Whether more invoices follow this page.
    has_next_page: bool,
    /// Whether invoices precede this page.
    has_previous_page: bool,
    /// The cursor of the first invoice of the page.
    start_cursor: Option<String>,
    /// The cursor of the last invoice of the page.
    end_cursor: Option<String>,
}

/// A page of invoices, with the size of the whole filtered list.
#[Object]
impl InvoiceConnection {
    /// The invoices of this page with their cursors.
    async fn edges(&self) -> Vec<InvoiceEdge> {
        self.nodes
            .iter()
            .map(|node| InvoiceEdge {
                cursor: self.page.cursor_of(node.record()),
                node: node.clone(),
            })
            .collect()
    }

    /// The invoices of this page.
    async fn nodes(&self) -> Vec<Invoice> {
        self.nodes.clone()
    }

    /// How to fetch the neighbouring pages.
    async fn page_info(&self) -> PageInfo {
        let cursor = |node: &Invoice| self.page.cursor_of(node.record());
        PageInfo {
            has_next_page: self.page.has_next_page,
            has_previous_page: self.page.has_previous_page,
            start_cursor: self.nodes.first().map(cursor),
            end_cursor: self.nodes.last().map(cursor),
        }
    }

    /// How many invoices match the filter in all (not just this page).
    #[graphql(complexity = "COUNT_PRICE")]
    async fn total_count(&self, ctx: &Context<'_>) -> GqlResult<u64> {
        let gateway = ctx.data_unchecked::<UseCases>();
        let today = ctx.data_unchecked::<RequestContext>().today;
        gateway
            .count_invoices(principal(ctx)?, &self.filter, today)
            .await
    }
}

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
        check_id(&id)?;
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
        check_id(&id)?;
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
