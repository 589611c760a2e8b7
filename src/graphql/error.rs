//! The GraphQL boundary of errors: every `AppError` becomes a top-level error with
//! `extensions.code`; internal ones are logged here, once, and reach the client as a
//! generic message with the request's id.

use async_graphql::{ErrorExtensions, ServerError};

use crate::domain::Code;
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
            ext.set("code", error.code().as_str());
            if let Some(id) = &request_id {
                ext.set("requestId", id.as_ref());
            }
        })
    }
}

/// A `Result` whose error converts with its code.
pub type GqlResult<T> = Result<T, AppError>;

/// `error` with `code` unless it already has one: async-graphql's own errors get
/// `GRAPHQL_PARSE_FAILED`, `GRAPHQL_VALIDATION_FAILED`, `BAD_USER_INPUT` (arguments that
/// fail to coerce while executing) or `BAD_REQUEST` (an `operationName` the document
/// does not hold, say), as clients expect of every error (see `gate`).
pub(super) fn with_default_code(mut error: ServerError, code: Code) -> ServerError {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_none() {
        extensions.set("code", code.as_str());
    }
    error
}
