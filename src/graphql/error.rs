//! The GraphQL boundary of errors: every `AppError` becomes a top-level error with
//! `extensions.code`; internal ones are logged here, once, and reach the client as a
//! generic message.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{
    ErrorExtensions, Response, ServerError, ServerResult, ValidationResult, Variables,
};

use super::limits::QueryLimits;
use crate::service::AppError;

impl From<AppError> for async_graphql::Error {
    fn from(error: AppError) -> async_graphql::Error {
        if let AppError::Internal(detail) = &error {
            tracing::error!(error.detail = %detail, "internal error");
        }
        async_graphql::Error::new(error.public_message())
            .extend_with(|_, ext| ext.set("code", error.code()))
    }
}

/// A `Result` whose error converts with its code.
pub type GqlResult<T> = Result<T, AppError>;

/// Gives every error that async-graphql raises itself a code, as clients expect of all
/// errors: `GRAPHQL_PARSE_FAILED`, `GRAPHQL_VALIDATION_FAILED`, or `BAD_USER_INPUT` for
/// arguments that fail to coerce while executing. Our own errors already carry theirs.
///
/// It also runs the query limits when the query is parsed, so that the schema has one
/// extension, not two: async-graphql passes every field of every response through each
/// extension's `resolve` hook (a boxed future per field and extension, even for an
/// extension that does not use the hook), which the reference read's profile showed as
/// the largest single cost of resolving a page (benches/README.md).
#[derive(Clone, Copy)]
pub struct ErrorCodes {
    pub limits: QueryLimits,
}

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

fn with_default_code(mut error: ServerError, code: &str) -> ServerError {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_none() {
        extensions.set("code", code);
    }
    error
}

#[async_graphql::async_trait::async_trait]
impl Extension for ErrorCodes {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        self.limits
            .parse_query(ctx, query, variables, next)
            .await
            .map_err(|e| with_default_code(e, "GRAPHQL_PARSE_FAILED"))
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|e| with_default_code(e, "GRAPHQL_VALIDATION_FAILED"))
                .collect()
        })
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        response.errors = std::mem::take(&mut response.errors)
            .into_iter()
            .map(|e| with_default_code(e, "BAD_USER_INPUT"))
            .collect();
        response
    }
}
