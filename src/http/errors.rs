//! The edge's refusals: one type, [`HttpError`], rendered GraphQL-shaped (`{"errors":
//! [{"message", "extensions": {"code"}}]}`, on `/graphql` and the routes beside it) or
//! REST-shaped (`{"error": {"code", "message", "field"}}`, on the Customer Credit API),
//! and [`status_of`], the one table from codes to HTTP statuses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::domain::Code;
use crate::service::AppError;

/// The HTTP status a refusal with `code` is answered with, wherever it is answered.
pub(crate) fn status_of(code: Code) -> StatusCode {
    match code {
        Code::BadRequest
        | Code::GraphqlParseFailed
        | Code::GraphqlValidationFailed
        | Code::BadUserInput
        | Code::QueryTooLarge
        | Code::QueryTooDeep
        | Code::QueryTooComplex
        | Code::TooManyAliases
        | Code::TooManyOperations
        | Code::PersistedQueryHashMismatch
        | Code::PersistedQueryNotSupported
        | Code::PreflightRequired
        | Code::InvalidUploadMap
        | Code::TooManyFiles
        | Code::InvalidMoney
        | Code::InvalidValue
        | Code::InvalidCursor
        | Code::InvalidPage
        | Code::InvalidFilter
        | Code::InvalidId
        | Code::InvalidPaymentLink
        | Code::TooLong
        | Code::InvalidInput
        | Code::InvalidFile
        | Code::InvalidHeader
        | Code::MalformedRow
        | Code::MissingValue
        | Code::InvalidStatus
        | Code::InvalidVersion
        | Code::DuplicateRow => StatusCode::BAD_REQUEST,
        // Apollo's persisted-query link reads this one from a 200 and sends the query.
        Code::PersistedQueryNotFound => StatusCode::OK,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::Forbidden => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        Code::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        Code::VersionConflict | Code::AlreadyExists => StatusCode::CONFLICT,
        Code::PayloadTooLarge | Code::FileTooLarge | Code::TooManyRows => {
            StatusCode::PAYLOAD_TOO_LARGE
        }
        Code::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Code::InvalidTransition | Code::ReasonRequired | Code::InvalidDueDate => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Code::UpgradeRequired => StatusCode::UPGRADE_REQUIRED,
        Code::Throttled | Code::TooManySubscriptions | Code::Busy => StatusCode::TOO_MANY_REQUESTS,
        Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        Code::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// The code of a refusal that came with a status only (a framework's plain-text
/// rejection): the code whose status it is, else `BAD_REQUEST` or `INTERNAL`.
pub(crate) fn code_of_status(status: StatusCode) -> Code {
    match status {
        StatusCode::UNAUTHORIZED => Code::Unauthenticated,
        StatusCode::FORBIDDEN => Code::Forbidden,
        StatusCode::NOT_FOUND => Code::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => Code::MethodNotAllowed,
        StatusCode::REQUEST_TIMEOUT => Code::RequestTimeout,
        StatusCode::PAYLOAD_TOO_LARGE => Code::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => Code::UnsupportedMediaType,
        StatusCode::UPGRADE_REQUIRED => Code::UpgradeRequired,
        StatusCode::TOO_MANY_REQUESTS => Code::Throttled,
        status if status.is_server_error() => Code::Internal,
        _ => Code::BadRequest,
    }
}

/// A refusal of the edge: its code (which decides its status), a message for people,
/// and, on REST, the parameter or field at fault.
#[derive(Clone, Debug)]
pub(crate) struct HttpError {
    pub code: Code,
    pub message: String,
    pub field: Option<&'static str>,
}

impl HttpError {
    pub fn new(code: Code, message: impl Into<String>) -> HttpError {
        HttpError {
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn on(mut self, field: &'static str) -> HttpError {
        self.field = Some(field);
        self
    }

    /// GraphQL-shaped: `{"errors": [{"message", "extensions": {"code"}}]}`.
    pub fn graphql(self) -> Response {
        let body = json!({
            "errors": [{ "message": self.message, "extensions": { "code": self.code.as_str() } }]
        });
        (status_of(self.code), axum::Json(body)).into_response()
    }

    /// REST-shaped: `{"error": {"code", "message", "field"}}`.
    pub fn rest(self) -> Response {
        let body = json!({
            "error": { "code": self.code.as_str(), "message": self.message, "field": self.field }
        });
        (status_of(self.code), axum::Json(body)).into_response()
    }
}

impl From<AppError> for HttpError {
    /// A use case's failure; an internal one is logged here, once, and answered with a
    /// generic message.
    fn from(error: AppError) -> HttpError {
        if let AppError::Internal(detail) = &error {
            tracing::error!(error.detail = %detail, "internal error");
        }
        HttpError::new(error.code(), error.public_message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_status() {
        let expected = [
            (Code::BadRequest, 400),
            (Code::GraphqlParseFailed, 400),
            (Code::PersistedQueryNotFound, 200),
            (Code::Unauthenticated, 401),
            (Code::Forbidden, 403),
            (Code::NotFound, 404),
            (Code::MethodNotAllowed, 405),
            (Code::RequestTimeout, 408),
            (Code::VersionConflict, 409),
            (Code::PayloadTooLarge, 413),
            (Code::FileTooLarge, 413),
            (Code::UnsupportedMediaType, 415),
            (Code::InvalidTransition, 422),
            (Code::UpgradeRequired, 426),
            (Code::Throttled, 429),
            (Code::TooManySubscriptions, 429),
            (Code::Internal, 500),
            (Code::ServiceUnavailable, 503),
        ];
        for (code, status) in expected {
            assert_eq!(status_of(code).as_u16(), status, "{}", code.as_str());
        }
        // A client's fault is a 4xx, the gateway's a 5xx; only the persisted-query miss
        // is answered 200, as Apollo's link expects.
        for code in Code::ALL {
            let status = status_of(*code);
            match code {
                Code::Internal | Code::ServiceUnavailable => assert!(status.is_server_error()),
                Code::PersistedQueryNotFound => assert_eq!(status, StatusCode::OK),
                _ => assert!(status.is_client_error(), "{}", code.as_str()),
            }
        }
    }
}
