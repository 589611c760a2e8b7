//! Apollo Federation 2 (`CREDIT_GATEWAY_FEDERATION=true`): the schema as a subgraph of a
//! company's supergraph. `Invoice`, `Account` and `Order` are entities keyed by `id`, so
//! another subgraph can extend them and reference ours; async-graphql answers `_service`
//! (our SDL with the federation directives) and `_entities` from the resolvers below.
//!
//! `_entities` resolves its representations at once, so each kind's lookups gather in
//! one batched load per request, as a page's relations do. The caller's scope applies as
//! in `invoice(id)` and `account(id)`: another customer's entity is null.

use async_graphql::{Context, ID, Object, Result as GqlResult, ServerError};

use super::loaders::{AccountKey, InvoiceKey, Loaders, OrderKey};
use super::types::{Account, Invoice, Order};
use crate::service::visible;

/// How the supergraph's router finds our entities by key. Only the subgraph's root
/// (`FederatedQueryRoot`) has them: async-graphql adds `_service` and `_entities` to any
/// root with entity resolvers.
#[derive(Default)]
pub struct Entities;

#[Object]
impl Entities {
    #[graphql(entity)]
    async fn invoice_entity(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Invoice>> {
        let who = super::principal(ctx)?;
        let found = loaders(ctx).load_one(InvoiceKey(id.0)).await?;
        Ok(found
            .filter(|invoice| visible(who, &invoice.account_id))
            .map(Invoice::shared))
    }

    #[graphql(entity)]
    async fn account_entity(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Account>> {
        let who = super::principal(ctx)?;
        if !visible(who, &id) {
            return Ok(None);
        }
        Ok(loaders(ctx).load_one(AccountKey(id.0)).await?.map(Account))
    }

    #[graphql(entity)]
    async fn order_entity(&self, ctx: &Context<'_>, id: String) -> GqlResult<Option<Order>> {
        let who = super::principal(ctx)?;
        let found = loaders(ctx).load_one(OrderKey(id)).await?;
        Ok(found
            .filter(|order| visible(who, &order.account_id))
            .map(Order))
    }
}

/// async-graphql's answer to a representation no resolver takes (no `id`, another
/// `__typename`, not an object), said so that the router's author can fix it. (An id
/// that names nothing is a null, not an error.)
pub(super) fn explain(mut error: ServerError) -> ServerError {
    if error.message == "Entity not found." {
        error.message = "each representation must be an object with `__typename` Invoice, \
                         Account or Order and its `id`"
            .into();
    }
    error
}

fn loaders<'a>(ctx: &Context<'a>) -> &'a Loaders {
    ctx.data_unchecked::<Loaders>()
}
