//! The application's error: every way a use case can fail, each with a stable code.
//!
//! Deliberately not `Display`: async-graphql turns any `Display` error into a client
//! message, which would leak internals. The GraphQL boundary converts this type
//! explicitly (see `graphql::error`).

use crate::auth::Forbidden;
use crate::domain::{Code, DomainError};
use crate::store::StoreError;

#[derive(Clone, Debug)]
pub enum AppError {
    /// No valid credentials.
    Unauthenticated(String),
    /// Valid credentials, not enough rights.
    Forbidden(String),
    /// The input breaks a domain rule.
    Invalid(DomainError),
    /// The database cannot be reached right now.
    Unavailable,
    /// Too much of this work is under way; retry in a moment.
    Busy(String),
    /// The caller already holds this many live subscriptions, the most it may.
    TooManySubscriptions(usize),
    /// Anything else: a fault of the gateway. The text is logged, never shown.
    Internal(String),
}

impl AppError {
    pub fn code(&self) -> Code {
        match self {
            AppError::Unauthenticated(_) => Code::Unauthenticated,
            AppError::Forbidden(_) => Code::Forbidden,
            AppError::Invalid(e) => e.code(),
            AppError::Unavailable => Code::ServiceUnavailable,
            AppError::Busy(_) => Code::Busy,
            AppError::TooManySubscriptions(_) => Code::TooManySubscriptions,
            AppError::Internal(_) => Code::Internal,
        }
    }

    /// The message for the client; internal details are replaced by a generic text.
    pub fn public_message(&self) -> String {
        match self {
            AppError::Unauthenticated(m) | AppError::Forbidden(m) | AppError::Busy(m) => m.clone(),
            AppError::Invalid(e) => e.to_string(),
            AppError::Unavailable => "the database is unavailable; try again shortly".into(),
            AppError::TooManySubscriptions(max) => format!(
                "you hold {max} live subscriptions, on all your connections together: the \
                 most allowed; complete one first"
            ),
            AppError::Internal(_) => "internal error".into(),
        }
    }

    /// Whether the caller can fix it (as opposed to the gateway or its database).
    pub fn is_client_fault(&self) -> bool {
        matches!(
            self,
            AppError::Unauthenticated(_)
                | AppError::Forbidden(_)
                | AppError::Invalid(_)
                | AppError::TooManySubscriptions(_)
        )
    }
}

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> AppError {
        AppError::Invalid(e)
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> AppError {
        if e.is_unavailable() {
            AppError::Unavailable
        } else {
            AppError::Internal(e.to_string())
        }
    }
}

impl From<Forbidden> for AppError {
    fn from(Forbidden(message): Forbidden) -> AppError {
        AppError::Forbidden(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_details_never_reach_the_message() {
        let e = AppError::Internal("relation \"invoices\" does not exist".into());
        assert_eq!(e.code(), Code::Internal);
        assert_eq!(e.public_message(), "internal error");
        assert!(!e.is_client_fault());
    }

    #[test]
    fn domain_refusals_keep_their_code() {
        let e = AppError::from(DomainError::InvalidCursor);
        assert_eq!(e.code(), Code::InvalidCursor);
        assert!(e.is_client_fault());
        assert_eq!(AppError::Unavailable.code(), Code::ServiceUnavailable);
    }
}
