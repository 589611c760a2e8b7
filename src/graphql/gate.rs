//! The schema's one extension, which every request passes: persisted queries resolved,
//! the limits and the caller's budget checked (`limits`, `throttle`), every error given a
//! code (`error`), the cost reported in `extensions.cost`, a `graphql` tracing span per
//! operation, listings with a precompiled plan answered through it (`plan`), and each
//! query or mutation counted in the metrics. A subscription pays its
//! cost again for every change it delivers: one that finds its caller's budget spent is
//! held back until the budget refills (its changes wait in the event table meanwhile).
//!
//! One extension, not one per concern: async-graphql passes every field of every
//! response through each extension's `resolve` hook (a boxed future per field and
//! extension, even for an extension that does not use the hook), which the reference
//! read's profile showed as a large share of resolving a page (`benches/README.md`).

use crate::domain::Code;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
    NextRequest, NextSubscribe, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{
    Request, Response, ServerError, ServerResult, ValidationResult, Value, Variables,
};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use tracing::Instrument;

use super::RequestContext;
use super::documents::{DocumentKey, Documents, Prepared};
use super::error::with_default_code;
use super::limits::{QueryLimits, selected_operation};
use super::loaders::Loaders;
use super::persisted::PersistedQueries;
use super::plan::{Plan, Plans};
use super::throttle::{Admission, Throttle};
use crate::service::UseCases;
use crate::telemetry::Metrics;

/// What outlives a request: the limits, the budgets, the persisted queries, the
/// documents seen before, the metrics.
pub(super) struct Gate {
    limits: QueryLimits,
    throttle: Arc<Throttle>,
    persisted: Arc<PersistedQueries>,
    documents: Arc<Documents>,
    metrics: Arc<Metrics>,
}

impl Gate {
    pub(super) fn new(limits: QueryLimits, metrics: Arc<Metrics>) -> Gate {
        super::limits::price_unsized_pages_at(limits.default_page_size);
        Gate {
            limits,
            throttle: Arc::new(Throttle::new(limits.budget)),
            persisted: Arc::new(PersistedQueries::new(
                limits.persisted_queries_bytes,
                limits.max_query_bytes,
            )),
            documents: Arc::new(Documents::new()),
            metrics,
        }
    }
}

impl ExtensionFactory for Gate {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestGate {
            limits: self.limits,
            throttle: self.throttle.clone(),
            persisted: self.persisted.clone(),
            documents: self.documents.clone(),
            metrics: self.metrics.clone(),
            seen: Arc::default(),
        })
    }
}

/// One request's pass through the gate.
struct RequestGate {
    limits: QueryLimits,
    throttle: Arc<Throttle>,
    persisted: Arc<PersistedQueries>,
    documents: Arc<Documents>,
    metrics: Arc<Metrics>,
    /// Shared with a subscription's stream, which outlives the hooks' borrows.
    seen: Arc<Mutex<Seen>>,
}

/// What the gate learns of a request as it goes.
#[derive(Default)]
struct Seen {
    /// The operation that runs, once parsed: its name and type.
    operation: Option<(Option<String>, &'static str)>,
    /// What it cost, once admitted.
    cost: Option<Value>,
    /// Who pays, and how much: what each change a subscription delivers costs again.
    price: Option<(String, u64)>,
    /// Where the validation of the document with its variables is remembered.
    validation: Option<(DocumentKey, String)>,
    /// Representations its `_entities` fields resolve (federation): each is priced.
    representations: usize,
    /// The operation's precompiled plan, with the variables it binds.
    plan: Option<(Arc<Plan>, Variables)>,
}

fn lock(seen: &Mutex<Seen>) -> std::sync::MutexGuard<'_, Seen> {
    seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl RequestGate {
    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        lock(&self.seen)
    }

    /// The request's document, parsed (here, once, so that its expansion is bounded
    /// before async-graphql walks it) and judged by the limits.
    fn prepare(&self, request: &Request, over_get: bool) -> ServerResult<Prepared> {
        let document = async_graphql::parser::parse_query(&request.query)
            .map_err(|e| with_default_code(e.into(), Code::GraphqlParseFailed))?;
        let selected = selected_operation(&document, request.operation_name.as_deref());
        self.limits
            .check_document(&document, selected.map(|(_, op)| op), over_get)?;
        let plan = match (self.limits.plans, selected) {
            (Plans::Off, _) | (_, None) => None,
            (_, Some((_, operation))) => Plan::of(operation),
        };
        let operation = selected.map(|(name, operation)| {
            let kind = match operation.ty {
                OperationType::Query => "query",
                OperationType::Mutation => "mutation",
                OperationType::Subscription => "subscription",
            };
            (name.map(str::to_owned), kind)
        });
        Ok(Prepared {
            document,
            operation,
            plan,
        })
    }
}

/// Spends `cost` from `caller`'s budget, waiting for room as long as it takes.
async fn pay(throttle: &Throttle, caller: &str, cost: u64) {
    while let Admission::Refused { retry_after } = throttle.admit(caller, cost, Instant::now()) {
        tokio::time::sleep(retry_after.max(std::time::Duration::from_millis(10))).await;
    }
}

fn with_codes(errors: Vec<ServerError>, code: Code) -> Vec<ServerError> {
    errors
        .into_iter()
        .map(|e| with_default_code(e, code))
        .collect()
}

#[async_graphql::async_trait::async_trait]
impl Extension for RequestGate {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let started = Instant::now();
        let mut response = next.run(ctx).await;
        response.errors = with_codes(std::mem::take(&mut response.errors), Code::BadRequest);
        let (name, kind) = self.seen().operation.take().unwrap_or((None, "unknown"));
        let outcome = match response
            .errors
            .first()
            .and_then(|error| error.extensions.as_ref()?.get("code"))
        {
            Some(Value::String(code)) => code.as_str(),
            _ => "ok",
        };
        self.metrics
            .graphql_operation(name.as_deref(), kind, outcome, started.elapsed());
        response
    }

    /// Everything that can be judged from the text: persisted queries resolved, then
    /// the text's size, then the parsed document (`prepare`), unless the same document
    /// was prepared before (`documents`).
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        self.persisted.resolve(&mut request)?;
        self.limits.check_text(&request.query)?;
        QueryLimits::check_uploads(&request)?;
        let caller = request
            .data
            .get(&std::any::TypeId::of::<RequestContext>())
            .and_then(|data| data.downcast_ref::<RequestContext>());
        let over_get = caller.is_some_and(|caller| caller.over_get);
        let authenticated = caller.is_some_and(|c| c.principal.is_some());
        let key = authenticated
            .then(|| DocumentKey::of(&request.query, request.operation_name.as_deref(), over_get))
            .flatten();
        let prepared = match key.as_ref().and_then(|key| self.documents.prepared(key)) {
            Some(prepared) => prepared,
            None => {
                let prepared = self.prepare(&request, over_get)?;
                if let Some(key) = &key {
                    self.documents.keep_prepared(key.clone(), prepared.clone());
                }
                prepared
            }
        };
        let asks = if self.limits.federation {
            super::federation::asks(&prepared.document, &request.variables)
        } else {
            Default::default()
        };
        if asks.service && !self.limits.introspection && !authenticated {
            return Err(super::limits::refuse(
                Code::Unauthenticated,
                "with introspection off, `_service` answers callers with a bearer token only"
                    .into(),
            ));
        }
        {
            let mut seen = self.seen();
            seen.representations = asks.representations;
            if let Some((name, kind)) = prepared.operation {
                // Clients choose names: only an authenticated caller's name becomes a
                // metrics label, so strangers cannot take the labels.
                seen.operation = Some((name.filter(|_| authenticated), kind));
            }
            seen.validation =
                key.and_then(|key| Documents::validation_key(key, &request.variables));
            seen.plan = prepared
                .plan
                .clone()
                .map(|plan| (plan, request.variables.clone()));
        }
        request.set_parsed_query(prepared.document);
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables)
            .await
            .map_err(|e| with_default_code(e, Code::GraphqlParseFailed))
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let key = self.seen().validation.take();
        let result = match key.as_ref().and_then(|key| self.documents.validated(key)) {
            Some(result) => result,
            None => {
                let result = next
                    .run(ctx)
                    .await
                    .map_err(|errors| with_codes(errors, Code::GraphqlValidationFailed))?;
                if let Some(key) = key {
                    self.documents.keep_validated(key, result);
                }
                result
            }
        };
        // `_entities` is priced once per representation, as a page once per item: its
        // selection is what each of them costs (validation priced it once).
        let mut result = result;
        let representations = self.seen().representations;
        if representations > 1 {
            result.complexity = result.complexity.saturating_mul(representations);
        }
        let caller = ctx
            .data_opt::<RequestContext>()
            .map_or_else(|| "anonymous".to_owned(), RequestContext::throttle_key);
        let cost = self
            .limits
            .admit(&result, &self.throttle, &caller)
            .map_err(|refusal| vec![refusal])?;
        let mut seen = self.seen();
        seen.cost = Some(cost);
        seen.price = Some((caller, result.complexity as u64));
        Ok(result)
    }

    /// Each change delivered is paid for as if it had been queried, errors and all (a
    /// field that fails does not stop its siblings from resolving).
    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        let (throttle, seen) = (self.throttle.clone(), self.seen.clone());
        next.run(ctx, stream)
            .then(move |response| {
                let (throttle, seen) = (throttle.clone(), seen.clone());
                async move {
                    let price = lock(&seen).price.clone();
                    if let Some((caller, cost)) = price {
                        pay(&throttle, &caller, cost).await;
                    }
                    response
                }
            })
            .boxed()
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let (name, kind) = self.seen().operation.clone().unwrap_or((None, "unknown"));
        let span = tracing::info_span!(
            "graphql",
            operation.name = name.as_deref().unwrap_or("anonymous"),
            operation.r#type = kind,
            otel.name = tracing::field::Empty,
        );
        if crate::telemetry::traces::enabled() {
            span.record(
                "otel.name",
                format!("{kind} {}", name.as_deref().unwrap_or("anonymous")),
            );
        }
        let plan = self.seen().plan.take();
        let run = async {
            let Some((plan, variables)) = plan else {
                return next.run(ctx, operation_name).await;
            };
            let answer = || async {
                plan.run(
                    &variables,
                    ctx.data_opt::<RequestContext>()?,
                    ctx.data_opt::<UseCases>()?,
                    ctx.data_opt::<Loaders>()?,
                )
                .await
            };
            if self.limits.plans == Plans::Checked {
                let response = next.run(ctx, operation_name).await;
                return match answer().await {
                    Some(planned) => super::plan::check(response, &planned),
                    None => response,
                };
            }
            match answer().await {
                Some(planned) => planned,
                None => next.run(ctx, operation_name).await,
            }
        };
        let mut response = run.instrument(span).await;
        response.errors = with_codes(std::mem::take(&mut response.errors), Code::BadUserInput)
            .into_iter()
            .map(super::federation::explain)
            .collect();
        if let Some(cost) = self.seen().cost.take() {
            response.extensions.insert("cost".into(), cost);
        }
        response
    }
}
