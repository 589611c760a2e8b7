//! The GraphQL boundary of errors: every `AppError` becomes a top-level error with
//! `extensions.code`; internal ones are logged here, once, and reach the client as a
//! generic message.

use async_graphql::ErrorExtensions;

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
