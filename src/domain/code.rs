//! Every code a client can be answered with, in one enum: each code's text is written
//! here and nowhere else.
//!
//! Which error where:
//! - a rule of the domain that an input breaks is a [`DomainError`](super::DomainError)
//!   (a malformed id, money, cursor, filter);
//! - a change the rules refuse is a [`Refusal`](super::Refusal), with its field: GraphQL
//!   answers it in `userErrors`, REST as a 4xx;
//! - a refused row or file of an import is a [`RowError`](super::RowError), kept in the
//!   import's report;
//! - a use case that cannot run (credentials, rights, the database) is the service's
//!   `AppError`;
//! - a request refused before any use case runs (its size, its shape, its budget) is
//!   answered by the edge that read it.
//!
//! Each carries a [`Code`]; `http::errors::status_of` is the one table from codes to HTTP
//! statuses.

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $text:literal,)*) => {
        /// A stable, machine-readable code (`extensions.code` in GraphQL, `error.code` in
        /// REST, `code` of an import's refused row).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Code {
            $($(#[$doc])* $name,)*
        }

        impl Code {
            /// Every code.
            pub const ALL: &[Code] = &[$(Code::$name,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$name => $text,)*
                }
            }

            /// The code of this text, if it is one.
            pub fn parse(text: &str) -> Option<Code> {
                match text {
                    $($text => Some(Code::$name),)*
                    _ => None,
                }
            }
        }
    };
}

codes! {
    // The request, before any use case runs.
    /// The request is malformed: not JSON, no query, a bad parameter.
    BadRequest = "BAD_REQUEST",
    /// The GraphQL document does not parse.
    GraphqlParseFailed = "GRAPHQL_PARSE_FAILED",
    /// The GraphQL document does not validate against the schema.
    GraphqlValidationFailed = "GRAPHQL_VALIDATION_FAILED",
    /// An argument failed to coerce while executing.
    BadUserInput = "BAD_USER_INPUT",
    QueryTooLarge = "QUERY_TOO_LARGE",
    QueryTooDeep = "QUERY_TOO_DEEP",
    QueryTooComplex = "QUERY_TOO_COMPLEX",
    TooManyAliases = "TOO_MANY_ALIASES",
    TooManyOperations = "TOO_MANY_OPERATIONS",
    PersistedQueryNotFound = "PERSISTED_QUERY_NOT_FOUND",
    PersistedQueryNotSupported = "PERSISTED_QUERY_NOT_SUPPORTED",
    PersistedQueryHashMismatch = "PERSISTED_QUERY_HASH_MISMATCH",
    /// A request a browser could send cross-site without asking first.
    PreflightRequired = "PREFLIGHT_REQUIRED",
    MethodNotAllowed = "METHOD_NOT_ALLOWED",
    UnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE",
    UpgradeRequired = "UPGRADE_REQUIRED",
    RequestTimeout = "REQUEST_TIMEOUT",
    PayloadTooLarge = "PAYLOAD_TOO_LARGE",
    InvalidUploadMap = "INVALID_UPLOAD_MAP",
    TooManyFiles = "TOO_MANY_FILES",
    /// The caller's query budget is spent; retry later.
    Throttled = "THROTTLED",
    TooManySubscriptions = "TOO_MANY_SUBSCRIPTIONS",

    // Credentials and rights.
    Unauthenticated = "UNAUTHENTICATED",
    Forbidden = "FORBIDDEN",

    // Inputs the domain refuses.
    InvalidMoney = "INVALID_MONEY",
    InvalidValue = "INVALID_VALUE",
    InvalidCursor = "INVALID_CURSOR",
    InvalidPage = "INVALID_PAGE",
    InvalidFilter = "INVALID_FILTER",
    InvalidId = "INVALID_ID",

    // Changes the rules refuse (GraphQL `userErrors`).
    NotFound = "NOT_FOUND",
    InvalidTransition = "INVALID_TRANSITION",
    ReasonRequired = "REASON_REQUIRED",
    VersionConflict = "VERSION_CONFLICT",
    InvalidPaymentLink = "INVALID_PAYMENT_LINK",
    TooLong = "TOO_LONG",
    InvalidDueDate = "INVALID_DUE_DATE",
    InvalidInput = "INVALID_INPUT",
    AlreadyExists = "ALREADY_EXISTS",

    // Import files and their rows.
    InvalidFile = "INVALID_FILE",
    InvalidHeader = "INVALID_HEADER",
    FileTooLarge = "FILE_TOO_LARGE",
    TooManyRows = "TOO_MANY_ROWS",
    MalformedRow = "MALFORMED_ROW",
    MissingValue = "MISSING_VALUE",
    InvalidStatus = "INVALID_STATUS",
    InvalidVersion = "INVALID_VERSION",
    DuplicateRow = "DUPLICATE_ROW",

    // The gateway's side.
    ServiceUnavailable = "SERVICE_UNAVAILABLE",
    Busy = "BUSY",
    Internal = "INTERNAL",
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_reads_back_and_is_written_once() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            assert_eq!(Code::parse(code.as_str()), Some(*code));
            assert!(seen.insert(code.as_str()), "{} twice", code.as_str());
        }
        assert_eq!(Code::parse("SETTLED"), None);
    }
}
