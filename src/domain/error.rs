//! What the domain refuses, with a stable code for each refusal.

use super::Code;

/// A rule of the domain that an input breaks. Every variant is the caller's fault: the
/// domain has no I/O, so it cannot fail on its own.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("{0}")]
    InvalidMoney(String),
    #[error("unknown {kind} `{value}`")]
    UnknownValue { kind: &'static str, value: String },
    #[error("the cursor is malformed or belongs to another listing")]
    InvalidCursor,
    #[error("{0}")]
    InvalidPage(String),
    #[error("{0}")]
    InvalidFilter(String),
    #[error("`{0}` is not a valid id: 1 to 128 printable characters, no spaces")]
    InvalidId(String),
}

impl DomainError {
    /// A stable, machine-readable code for clients.
    pub fn code(&self) -> Code {
        match self {
            DomainError::InvalidMoney(_) => Code::InvalidMoney,
            DomainError::UnknownValue { .. } => Code::InvalidValue,
            DomainError::InvalidCursor => Code::InvalidCursor,
            DomainError::InvalidPage(_) => Code::InvalidPage,
            DomainError::InvalidFilter(_) => Code::InvalidFilter,
            DomainError::InvalidId(_) => Code::InvalidId,
        }
    }
}
