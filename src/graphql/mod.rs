//! The GraphQL API: schema, resolvers, loaders and the error boundary. The only module
//! that knows async-graphql; it calls the service and never the store.

mod error;
mod imports;
mod limits;
mod loaders;
mod mutation;
mod query;
mod scalars;
mod subscription;
mod types;

use async_graphql::{Context, MergedObject, Schema};
use chrono::NaiveDate;

use crate::auth::{Principal, TokenKeys};
use crate::service::{AppError, Gateway};

pub use imports::DOWNLOAD_LINK_TTL;
pub use limits::QueryLimits;
pub use subscription::SubscriptionRoot;

/// Deepest query accepted. GraphiQL's introspection query nests `ofType` deeply (about
/// 13 levels), so the bound must sit above it.
const MAX_DEPTH: usize = 20;

/// Reads: invoices, accounts, status totals and the CSV import history. Every field
/// needs a bearer token.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(query::InvoiceQuery, imports::ImportQuery);

/// Changes to invoices, accounts, and CSV imports. Administrators only.
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(mutation::InvoiceMutation, imports::ImportMutation);

pub type GatewaySchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// What every resolver of one request shares: who is calling, and the day that decides
/// overdue (fixed once per request, so every field of a response agrees).
pub struct RequestContext {
    pub principal: Option<Principal>,
    pub today: NaiveDate,
}

pub fn build_schema(gateway: Gateway, keys: TokenKeys, limits: QueryLimits) -> GatewaySchema {
    let builder = Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot,
    )
    .data(gateway)
    .data(keys)
    // One extension (codes and query limits): each one costs every field of a response.
    .extension(error::ErrorCodes { limits })
    // Bounds on nesting (account → invoices → account …), on aliases and on the query's
    // size; complexity limits come with the rest of the hardening of request limits.
    .limit_depth(MAX_DEPTH);
    let builder = if limits.introspection {
        builder
    } else {
        builder.disable_introspection()
    };
    let builder = if limits.suggestions {
        builder
    } else {
        builder.disable_suggestions()
    };
    builder.finish()
}

/// The SDL of the schema, as committed in `schema.graphql`.
pub fn sdl() -> String {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot,
    )
    .finish()
    .sdl()
}

/// Attaches a request's principal, date and loaders.
pub fn prepare(
    request: async_graphql::Request,
    gateway: &Gateway,
    principal: Option<Principal>,
) -> async_graphql::Request {
    request
        .data(RequestContext {
            principal,
            today: gateway.today(),
        })
        .data(loaders::new_loaders(gateway.clone()))
        .data(imports::UploadsTaken::default())
}

/// Attaches a subscription's principal, date and loaders. A subscription lives for
/// hours, so its loaders batch but never cache: each change reads fresh relations.
pub fn prepare_subscription(
    request: async_graphql::Request,
    gateway: &Gateway,
    principal: Principal,
) -> async_graphql::Request {
    let loaders = loaders::new_loaders(gateway.clone());
    loaders.enable_all_cache(false);
    request
        .data(RequestContext {
            principal: Some(principal),
            today: gateway.today(),
        })
        .data(loaders)
}

/// The caller, or `UNAUTHENTICATED`.
fn principal<'a>(ctx: &Context<'a>) -> Result<&'a Principal, AppError> {
    ctx.data_unchecked::<RequestContext>()
        .principal
        .as_ref()
        .ok_or_else(|| AppError::Unauthenticated("a bearer token is required".into()))
}
