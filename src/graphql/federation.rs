//! Apollo Federation 2 (`CREDIT_GATEWAY_FEDERATION=true`): the schema as a subgraph of a
//! company's supergraph. `Invoice`, `Account` and `Order` are entities keyed by `id`, so
//! another subgraph can extend them and reference ours; async-graphql answers `_service`
//! (our SDL with the federation directives) and `_entities` from the resolvers below.
//!
//! `_entities` resolves its representations at once, so each kind's lookups gather in
//! one batched load per request, as a page's relations do. The caller's scope applies as
//! in `invoice(id)` and `account(id)`: another customer's entity is null. The gate prices
//! `_entities` once per representation (`asks`), as a page is priced once per item, and
//! keeps `_service` for callers with a token when introspection is off.

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Context, ID, Object, Result as GqlResult, ServerError, Variables};

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

/// What a request asks of the subgraph's own fields (async-graphql answers them itself,
/// so no resolver of ours prices or guards them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct SubgraphAsks {
    /// Representations in its `_entities` fields, all together.
    pub representations: usize,
    /// It selects `_service`.
    pub service: bool,
}

/// What `document`'s root selections ask of `_entities` and `_service`, with these
/// variables (a variable's list counts its items). Before validation: fragments are
/// followed only a few levels deep, so a cycle cannot hold it.
pub(super) fn asks(document: &ExecutableDocument, variables: &Variables) -> SubgraphAsks {
    let mut asks = SubgraphAsks::default();
    for (_, operation) in document.operations.iter() {
        walk(
            document,
            &operation.node.selection_set.node,
            variables,
            &mut asks,
            0,
        );
    }
    asks
}

fn walk(
    document: &ExecutableDocument,
    set: &SelectionSet,
    variables: &Variables,
    asks: &mut SubgraphAsks,
    depth: usize,
) {
    if depth > 4 {
        return;
    }
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => match field.node.name.node.as_str() {
                "_service" => asks.service = true,
                "_entities" => {
                    for (name, value) in &field.node.arguments {
                        if name.node == "representations" {
                            asks.representations += items(&value.node, variables);
                        }
                    }
                }
                _ => {}
            },
            Selection::InlineFragment(inline) => {
                walk(
                    document,
                    &inline.node.selection_set.node,
                    variables,
                    asks,
                    depth + 1,
                );
            }
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                    walk(
                        document,
                        &fragment.node.selection_set.node,
                        variables,
                        asks,
                        depth + 1,
                    );
                }
            }
        }
    }
}

/// The items of a list argument, written out or in a variable.
fn items(value: &async_graphql_value::Value, variables: &Variables) -> usize {
    use async_graphql_value::{ConstValue, Value};
    match value {
        Value::List(items) => items.len(),
        Value::Variable(name) => match variables.get(name) {
            Some(ConstValue::List(items)) => items.len(),
            _ => 0,
        },
        _ => 0,
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
