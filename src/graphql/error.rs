//! The GraphQL boundary of errors: every `AppError` becomes a top-level error with
//! `extensions.code`; internal ones are logged here, once, and reach the client as a
//! generic message with the request's id. A domain `Refusal` (the caller's to fix)
//! becomes a `UserError` in a mutation's `userErrors` instead.

use async_graphql::{Enum, ErrorExtensions, ServerError, SimpleObject};

use crate::domain::{Code, Refusal};
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

/// Why a mutation was refused; the invoice is unchanged.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::domain::RefusalCode")]
pub enum UserErrorCode {
    /// Nothing has this id: no invoice (or not yours), account or API key.
    NotFound,
    /// The id is malformed.
    InvalidId,
    /// The status rules do not allow this change.
    InvalidTransition,
    /// Reopening a paid invoice needs a `reason`.
    ReasonRequired,
    /// The invoice changed since the `expectedVersion` you sent: reload it.
    VersionConflict,
    /// The payment link is not an absolute https URL.
    InvalidPaymentLink,
    /// A text is longer than allowed.
    TooLong,
    /// The due date does not allow this status.
    InvalidDueDate,
    /// An input value is malformed or out of range (see `field`).
    InvalidInput,
    /// Something with this id already exists.
    AlreadyExists,
    /// The uploaded file is not a CSV the import can read (see `message`).
    InvalidFile,
    /// The CSV's header lacks `Invoice ID` or every column an import applies, or names
    /// a column twice.
    InvalidHeader,
    /// The uploaded file is larger than the import limit.
    FileTooLarge,
    /// The CSV has more rows than the import limit.
    TooManyRows,
    /// A row of the CSV cannot be read as cells of the template (more cells than a
    /// spreadsheet holds, say); `message` names its line.
    MalformedRow,
}

/// A refusal of a mutation, the caller's to fix.
#[derive(SimpleObject, Clone, Debug)]
pub struct UserError {
    /// The path to the input field at fault, e.g. `["input", "paymentLink"]`.
    field: Option<Vec<String>>,
    /// What is wrong, for people.
    message: String,
    /// What is wrong, for programs.
    code: UserErrorCode,
}

impl From<Refusal> for UserError {
    fn from(refusal: Refusal) -> UserError {
        UserError {
            field: refusal
                .field
                .map(|f| vec!["input".to_owned(), f.to_owned()]),
            message: refusal.message,
            code: refusal.code.into(),
        }
    }
}
