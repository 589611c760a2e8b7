//! The GraphQL boundary of errors: every `AppError` becomes a top-level error with
//! `extensions.code`; internal ones are logged here, once, and reach the client as a
//! generic message with the request's id.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextRequest,
    NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{
    ErrorExtensions, Response, ServerError, ServerResult, ValidationResult, Variables,
};

use crate::service::AppError;

impl From<AppError> for async_graphql::Error {
    fn from(error: AppError) -> async_graphql::Error {
        let internal = matches!(error, AppError::Internal(_));
        if let AppError::Internal(detail) = &error {
            tracing::error!(error.detail = %detail, "internal error");
        }
        // An internal error names its request, whose log lines say what happened.
        let request_id = internal.then(crate::telemetry::request_id).flatten();
        async_graphql::Error::new(error.public_message()).extend_with(|_, ext| {
            ext.set("code", error.code());
            if let Some(id) = &request_id {
                ext.set("requestId", id.as_ref());
            }
        })
    }
}

/// A `Result` whose error converts with its code.
pub type GqlResult<T> = Result<T, AppError>;

/// Gives every error that async-graphql raises itself a code, as clients expect of all
/// errors: `GRAPHQL_PARSE_FAILED`, `GRAPHQL_VALIDATION_FAILED`, or `BAD_USER_INPUT` for
/// arguments that fail to coerce while executing; anything else (an `operationName` the
/// document does not hold, say) `BAD_REQUEST`. Our own errors already carry theirs.
pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodes)
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
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        response.errors = std::mem::take(&mut response.errors)
            .into_iter()
            .map(|e| with_default_code(e, "BAD_REQUEST"))
            .collect();
        response
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
