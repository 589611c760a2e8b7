//! Invoice listings as Relay connections: the arguments and filter a listing takes, its
//! order, the page of invoices with the relations its selection asks for, and the
//! connection, edge and page-info types. `Query.invoices` and `Account.invoices` both
//! answer through `InvoiceArgs::run`; this module reads through the service and the
//! request's loaders, never the store.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, InputObject, Lookahead, Object, SimpleObject};
use chrono::NaiveDate;

use super::error::GqlResult;
use super::limits::COUNT_PRICE;
use super::loaders::{HistoryKey, Loaders, OpenBalanceKey};
use super::scalars::Date;
use super::types::{Invoice, InvoiceStatus};
use super::{RequestContext, principal};
use crate::auth::Principal;
use crate::domain::{self, InvoiceFilter};
use crate::service::{AppError, InvoicePage, Relations, UseCases};

/// What a list of invoices is sorted by. The invoice id always breaks ties, so the order
/// is stable and pages never overlap.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Default)]
#[graphql(remote = "crate::domain::SortField")]
pub enum InvoiceSortField {
    /// Due date.
    #[default]
    DueDate,
    /// When the invoice was created.
    CreatedAt,
    /// Invoice value (currencies are not converted).
    Value,
}

/// Ascending or descending.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Default)]
#[graphql(remote = "crate::domain::SortDirection")]
pub enum SortDirection {
    /// Smallest first.
    #[default]
    Asc,
    /// Largest first.
    Desc,
}

/// The order of a list of invoices.
#[derive(InputObject, Clone, Copy, Debug, Default)]
pub struct InvoiceOrder {
    /// What to sort by.
    #[graphql(default)]
    pub field: InvoiceSortField,
    /// Which way.
    #[graphql(default)]
    pub direction: SortDirection,
}

impl From<InvoiceOrder> for domain::InvoiceOrder {
    fn from(order: InvoiceOrder) -> domain::InvoiceOrder {
        domain::InvoiceOrder {
            field: order.field.into(),
            direction: order.direction.into(),
        }
    }
}

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
        let loaders = ctx.data_unchecked::<Loaders>();
        let today = ctx.data_unchecked::<RequestContext>().today;
        self.read(gateway, loaders, who, today, Wanted::of(&ctx.look_ahead()))
            .await
    }

    /// The page these arguments ask `who` for, on `today`, with the relations `wanted`
    /// names: what `run` answers, and what a precompiled plan (`plan`) reads.
    pub(super) async fn read(
        self,
        gateway: &UseCases,
        loaders: &Loaders,
        who: &Principal,
        today: NaiveDate,
        wanted: Wanted,
    ) -> GqlResult<InvoiceConnection> {
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
        let with = Relations {
            accounts: wanted.account,
            orders: wanted.order,
        };
        let mut page = gateway
            .invoices(who, &filter, order, &page, today, with)
            .await?;
        let nodes = with_relations(loaders, &mut page, wanted).await?;
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
pub(super) struct Wanted {
    pub account: bool,
    pub open_balance: bool,
    pub order: bool,
    pub history: bool,
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

/// The page's invoices with the relations `wanted` names: accounts and orders were read
/// with the page, in its one statement; open balances and histories go into the
/// request's loaders (one statement each for the whole page, whatever its size), where
/// their resolvers find them. None is read that the query does not ask for.
async fn with_relations(
    loaders: &Loaders,
    page: &mut InvoicePage,
    wanted: Wanted,
) -> GqlResult<Vec<Invoice>> {
    let rows = std::mem::take(&mut page.rows);
    let balances = async {
        if wanted.open_balance {
            let ids = rows
                .iter()
                .map(|row| OpenBalanceKey(row.invoice.account_id.clone()));
            loaders.load_many(ids).await?;
        }
        Ok::<_, AppError>(())
    };
    let histories = async {
        if wanted.history {
            let ids = rows.iter().map(|row| HistoryKey(row.invoice.id.clone()));
            loaders.load_many(ids).await?;
        }
        Ok(())
    };
    async_graphql::futures_util::try_join!(balances, histories)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let order = wanted.order.then(|| row.order.map(Arc::new));
            Invoice::with_relations(row.invoice, row.account.map(Arc::new), order)
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
// Shareable in a federated supergraph: other subgraphs' Relay connections have it too.
#[derive(SimpleObject)]
#[graphql(shareable)]
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

impl InvoiceConnection {
    /// The page's position in the list.
    pub(super) fn page(&self) -> &InvoicePage {
        &self.page
    }

    /// The page's invoices.
    pub(super) fn invoices(&self) -> &[Invoice] {
        &self.nodes
    }
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
