//! Integrations' API keys: what an administrator sees of one (never its token).

use chrono::{DateTime, Utc};

/// What a key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiKeyRole {
    /// Reads and changes every invoice, as an administrator.
    Admin,
    /// Reads every invoice; every change is refused.
    ReadOnly,
}

impl ApiKeyRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiKeyRole::Admin => "admin",
            ApiKeyRole::ReadOnly => "read_only",
        }
    }

    pub fn parse(text: &str) -> Option<ApiKeyRole> {
        match text {
            "admin" => Some(ApiKeyRole::Admin),
            "read_only" => Some(ApiKeyRole::ReadOnly),
            _ => None,
        }
    }
}

/// One key pair, as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub role: ApiKeyRole,
    /// The public half, sent as `X-VTEX-API-AppKey`.
    pub app_key: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    /// Within a minute: the time is written at most once a minute per key.
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The longest key name, in characters.
pub const MAX_KEY_NAME: usize = 100;
