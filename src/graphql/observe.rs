//! What each GraphQL query or mutation leaves behind for operators: a tracing span
//! (`graphql` with the operation's name and type, inside the HTTP request's span), and
//! its count, outcome and latency in the metrics.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
    NextRequest,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Request, Response, ServerResult, Variables};
use tracing::Instrument;

use super::limits::selected_operation;
use crate::telemetry::Metrics;

pub(super) struct Observe(pub(super) Arc<Metrics>);

impl ExtensionFactory for Observe {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestObserver {
            metrics: self.0.clone(),
            requested: Mutex::new(None),
            operation: Mutex::new(None),
        })
    }
}

struct RequestObserver {
    metrics: Arc<Metrics>,
    /// The operation name the request gave.
    requested: Mutex<Option<String>>,
    /// The operation that runs: its name and type, once parsed.
    operation: Mutex<Option<(Option<String>, &'static str)>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[async_graphql::async_trait::async_trait]
impl Extension for RequestObserver {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let started = Instant::now();
        let response = next.run(ctx).await;
        let (name, kind) = lock(&self.operation).take().unwrap_or((None, "unknown"));
        let outcome = response
            .errors
            .first()
            .and_then(|error| error.extensions.as_ref()?.get("code"))
            .map_or_else(
                || "ok".to_owned(),
                |code| match code {
                    async_graphql::Value::String(code) => code.clone(),
                    other => other.to_string(),
                },
            );
        self.metrics
            .graphql_operation(name.as_deref(), kind, &outcome, started.elapsed());
        response
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        lock(&self.requested).clone_from(&request.operation_name);
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let requested = lock(&self.requested).clone();
        if let Some((name, operation)) = selected_operation(&document, requested.as_deref()) {
            let kind = match operation.ty {
                OperationType::Query => "query",
                OperationType::Mutation => "mutation",
                OperationType::Subscription => "subscription",
            };
            *lock(&self.operation) = Some((name.map(str::to_owned), kind));
        }
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let (name, kind) = lock(&self.operation).clone().unwrap_or((None, "unknown"));
        let span = tracing::info_span!(
            "graphql",
            operation.name = name.as_deref().unwrap_or("anonymous"),
            operation.r#type = kind,
        );
        next.run(ctx, operation_name).instrument(span).await
    }
}
