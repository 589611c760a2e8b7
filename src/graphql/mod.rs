//! The GraphQL API: schema, resolvers, loaders and the error boundary. The only module
//! that knows async-graphql; it calls the service and never the store.

mod aging;
mod api_keys;
mod connection;
mod documents;
mod error;
mod federation;
mod gate;
mod imports;
mod limits;
mod loaders;
mod mutation;
mod persisted;
mod plan;
mod query;
mod scalars;
mod subscription;
mod throttle;
mod types;
mod webhooks;

use std::net::IpAddr;
use std::sync::Arc;

use async_graphql::extensions::ExtensionFactory;
use async_graphql::{Context, MergedObject, ObjectType, Schema, SchemaBuilder};
use chrono::NaiveDate;
use futures_util::stream::{BoxStream, StreamExt};

use crate::auth::{Principal, TokenKeys};
use crate::service::{AppError, UseCases};
use crate::telemetry::Metrics;

pub use imports::DOWNLOAD_LINK_TTL;
pub use limits::QueryLimits;
pub use plan::Plans;
pub use subscription::SubscriptionRoot;
pub use throttle::Budget;

/// The two query roots, of the same parts: the plain one, and the federation
/// subgraph's, which adds the entity resolvers (one root cannot nest the other: both
/// are named `Query`).
macro_rules! query_roots {
    ($($part:ty),+ $(,)?) => {
        /// Reads: invoices, accounts, status totals and the CSV import history. Every field
        /// needs a bearer token.
        #[derive(MergedObject, Default)]
        #[graphql(name = "Query")]
        pub struct QueryRoot($($part),+);

        /// `QueryRoot` with the entity resolvers of a federation subgraph.
        #[derive(MergedObject, Default)]
        #[graphql(name = "Query")]
        pub struct FederatedQueryRoot($($part),+, federation::Entities);
    };
}

query_roots!(
    query::InvoiceQuery,
    aging::AgingQuery,
    imports::ImportQuery,
    api_keys::ApiKeyQuery,
    webhooks::WebhookQuery,
);

/// Changes to invoices, accounts, and CSV imports. Administrators only.
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    mutation::InvoiceMutation,
    imports::ImportMutation,
    api_keys::ApiKeyMutation,
    webhooks::WebhookMutation,
);

/// The schema: the plain API, or the same as an Apollo Federation subgraph
/// (`CREDIT_GATEWAY_FEDERATION`), whose root adds the entity resolvers.
#[derive(Clone)]
pub enum GatewaySchema {
    Plain(Schema<QueryRoot, MutationRoot, SubscriptionRoot>),
    Federated(Schema<FederatedQueryRoot, MutationRoot, SubscriptionRoot>),
}

impl GatewaySchema {
    pub async fn execute(&self, request: async_graphql::Request) -> async_graphql::Response {
        match self {
            GatewaySchema::Plain(schema) => schema.execute(request).await,
            GatewaySchema::Federated(schema) => schema.execute(request).await,
        }
    }

    pub fn execute_stream(
        &self,
        request: async_graphql::Request,
    ) -> BoxStream<'static, async_graphql::Response> {
        match self {
            GatewaySchema::Plain(schema) => schema.execute_stream(request).boxed(),
            GatewaySchema::Federated(schema) => schema.execute_stream(request).boxed(),
        }
    }
}

/// What every resolver of one request shares: who is calling, and the day that decides
/// overdue (fixed once per request, so every field of a response agrees).
pub struct RequestContext {
    pub principal: Option<Principal>,
    pub today: NaiveDate,
    /// Where the request came from (the throttle's key for callers without a token).
    pub address: Option<IpAddr>,
    /// The request came as `GET`: it may not run a mutation.
    pub over_get: bool,
}

impl RequestContext {
    /// The caller, or `UNAUTHENTICATED`.
    fn caller(&self) -> Result<&Principal, AppError> {
        self.principal
            .as_ref()
            .ok_or_else(|| AppError::Unauthenticated("a bearer token is required".into()))
    }

    /// Whose budget the request spends: the token's subject, or without a token, the
    /// caller's address.
    fn throttle_key(&self) -> String {
        match (&self.principal, self.address) {
            (Some(principal), _) => principal.key(),
            (None, Some(address)) => format!("anonymous:{address}"),
            (None, None) => "anonymous".into(),
        }
    }
}

/// Who sends a request, from where, and how.
pub struct Caller {
    pub principal: Option<Principal>,
    pub address: Option<IpAddr>,
    pub over_get: bool,
}

/// The schema with its limits, persisted queries and metrics, as a federation subgraph
/// when the limits say so; `extra` is one more extension around every request, for an
/// embedding program (tests inject faults with it).
pub fn build_schema(
    gateway: UseCases,
    keys: TokenKeys,
    limits: QueryLimits,
    metrics: Arc<Metrics>,
    extra: Option<Arc<dyn ExtensionFactory>>,
) -> GatewaySchema {
    let parts = (gateway, keys, limits, metrics, extra);
    if limits.federation {
        let root = FederatedQueryRoot::default();
        GatewaySchema::Federated(finish(
            Schema::build(root, MutationRoot::default(), SubscriptionRoot),
            parts,
        ))
    } else {
        GatewaySchema::Plain(finish(
            Schema::build(
                QueryRoot::default(),
                MutationRoot::default(),
                SubscriptionRoot,
            ),
            parts,
        ))
    }
}

type Parts = (
    UseCases,
    TokenKeys,
    QueryLimits,
    Arc<Metrics>,
    Option<Arc<dyn ExtensionFactory>>,
);

fn finish<Q: ObjectType + 'static>(
    builder: SchemaBuilder<Q, MutationRoot, SubscriptionRoot>,
    (gateway, keys, limits, metrics, extra): Parts,
) -> Schema<Q, MutationRoot, SubscriptionRoot> {
    // An embedding program's extension may watch every field resolve, which a plan skips.
    let limits = match extra {
        Some(_) => QueryLimits {
            plans: Plans::Off,
            ..limits
        },
        None => limits,
    };
    let builder = builder
        .data(gateway)
        .data(keys)
        .extension(gate::Gate::new(limits, metrics));
    let builder = match extra {
        Some(extra) => builder.extension(Extra(extra)),
        None => builder,
    };
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

struct Extra(Arc<dyn ExtensionFactory>);

impl ExtensionFactory for Extra {
    fn create(&self) -> Arc<dyn async_graphql::extensions::Extension> {
        self.0.create()
    }
}

/// The SDL of the schema, as committed in `schema.graphql`; with `federation`, the
/// subgraph's, as `_service` answers it (for `rover supergraph compose`).
pub fn sdl(federation: bool) -> String {
    if federation {
        let options = async_graphql::SDLExportOptions::new()
            .federation()
            .compose_directive();
        let root = FederatedQueryRoot::default();
        return Schema::build(root, MutationRoot::default(), SubscriptionRoot)
            .finish()
            .sdl_with_options(options);
    }
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
    gateway: &UseCases,
    caller: Caller,
) -> async_graphql::Request {
    request
        .data(RequestContext {
            principal: caller.principal,
            today: gateway.today(),
            address: caller.address,
            over_get: caller.over_get,
        })
        .data(loaders::new_loaders(gateway.clone()))
        .data(imports::UploadsTaken::default())
}

/// Attaches a subscription's principal, date and loaders. A subscription lives for
/// hours, so its loaders batch but never cache: each change reads fresh relations.
pub fn prepare_subscription(
    request: async_graphql::Request,
    gateway: &UseCases,
    principal: Principal,
) -> async_graphql::Request {
    let loaders = loaders::new_loaders(gateway.clone());
    loaders.enable_all_cache(false);
    request
        .data(RequestContext {
            principal: Some(principal),
            today: gateway.today(),
            address: None,
            over_get: false,
        })
        .data(loaders)
}

/// The caller, or `UNAUTHENTICATED`.
fn principal<'a>(ctx: &Context<'a>) -> Result<&'a Principal, AppError> {
    ctx.data_unchecked::<RequestContext>().caller()
}
