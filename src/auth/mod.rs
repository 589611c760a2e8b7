//! Bearer tokens and the principals they name.
//!
//! The gateway's own tokens are HS256 JWTs with `sub`, `role` (`admin` or `customer`),
//! `accountId` (for customers) and `exp`, signed with its secret: this module mints and
//! verifies them. With single sign-on configured, RS256 and ES256 tokens of an OpenID
//! Connect provider are accepted too (`oidc`). It knows nothing of the server's HTTP: the
//! transport hands it the token text.

mod oidc;

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Who is calling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// Back office and integrations: sees and changes every invoice.
    Admin { subject: String },
    /// A customer: sees its own account's invoices only.
    Customer { subject: String, account_id: String },
    /// An integration with a read-only API key: sees every invoice, changes none.
    Reader { subject: String },
}

impl Principal {
    pub fn subject(&self) -> &str {
        match self {
            Principal::Admin { subject }
            | Principal::Customer { subject, .. }
            | Principal::Reader { subject } => subject,
        }
    }

    /// An administrator: changes, creates and imports invoices, and sees the back
    /// office's own records (imports).
    pub fn is_admin(&self) -> bool {
        matches!(self, Principal::Admin { .. })
    }

    /// Ok for an administrator; else why not, for `FORBIDDEN`: "only administrators
    /// {what}".
    pub fn require_admin(&self, what: &str) -> Result<(), Forbidden> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(Forbidden(format!("only administrators {what}")))
        }
    }

    /// Ok for a caller who sees every account (an administrator or a read-only key);
    /// else why not.
    pub fn require_every_account(&self, what: &str) -> Result<(), Forbidden> {
        match self.account_scope() {
            None => Ok(()),
            Some(_) => Err(Forbidden(format!("only administrators {what}"))),
        }
    }

    /// An administrator in person, not an integration's API key: only they manage keys,
    /// so that a leaked key cannot mint itself a successor.
    pub fn manages_api_keys(&self) -> bool {
        self.is_admin() && !self.subject().starts_with(API_KEY_SUBJECT)
    }

    /// One text per principal, for what is counted per caller (budgets, subscriptions):
    /// the same subject as an admin and as a customer of two accounts are three callers.
    pub fn key(&self) -> String {
        match self {
            Principal::Admin { subject } => format!("admin:{subject}"),
            Principal::Reader { subject } => format!("reader:{subject}"),
            Principal::Customer {
                subject,
                account_id,
            } => format!("customer:{account_id}:{subject}"),
        }
    }

    /// The one account a customer may see; `None` for admins, who see all.
    pub fn account_scope(&self) -> Option<&str> {
        match self {
            Principal::Admin { .. } | Principal::Reader { .. } => None,
            Principal::Customer { account_id, .. } => Some(account_id),
        }
    }
}

/// A right the caller lacks: the message says which.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forbidden(pub String);

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Role {
    Admin,
    Customer,
    /// Read-only: download links minted for a read-only API key.
    Reader,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    role: Role,
    #[serde(rename = "accountId", default, skip_serializing_if = "Option::is_none")]
    account_id: Option<String>,
    exp: i64,
    #[serde(default)]
    iat: i64,
    /// A narrowed token: `download` tokens (in export links, so in browser history and
    /// proxy logs) open CSV exports and nothing else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    /// What a download token opens: one export's filter (`service::export_link_binding`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    opens: Option<String>,
}

const DOWNLOAD_SCOPE: &str = "download";

/// Seconds a token of ours is still accepted after its `exp`, for clocks that disagree.
const CLOCK_SKEW_SECONDS: u64 = 30;

/// Why a presented token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenError {
    Expired,
    Invalid,
    /// A provider's token that names neither the administrator role nor an account.
    NoRole,
}

impl TokenError {
    pub fn message(self) -> &'static str {
        match self {
            TokenError::Expired => "the bearer token has expired",
            TokenError::Invalid => "the bearer token is not valid for this gateway",
            TokenError::NoRole => {
                "the bearer token names neither the administrator role nor a credit account"
            }
        }
    }
}

pub use oidc::{Endpoints, Oidc};

/// Mints and verifies tokens with one secret, and verifies an OpenID Connect provider's.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    oidc: Option<Arc<Oidc>>,
}

impl TokenKeys {
    pub fn new(secret: &str) -> TokenKeys {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = CLOCK_SKEW_SECONDS;
        // A token not valid yet (`nbf` in the future, past the leeway) is refused.
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        TokenKeys {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            oidc: None,
        }
    }

    /// These keys, accepting `oidc`'s tokens as well.
    pub fn with_oidc(self, oidc: Option<Arc<Oidc>>) -> TokenKeys {
        TokenKeys { oidc, ..self }
    }

    /// The single sign-on provider, if one is configured.
    pub fn oidc(&self) -> Option<&Arc<Oidc>> {
        self.oidc.as_ref()
    }

    /// The principal of a bearer token, ours or the provider's, and until when the gateway
    /// accepts it (see [`accepted_until`]). The token's algorithm says whose it is: HS256
    /// ours, RS256 and ES256 the provider's.
    pub async fn verify_bearer(
        &self,
        token: &str,
    ) -> Result<(Principal, chrono::DateTime<chrono::Utc>), TokenError> {
        // Without a provider, only ours: its own check refuses any other algorithm.
        let Some(oidc) = &self.oidc else {
            return self.verify_until(token);
        };
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        match header.alg {
            Algorithm::HS256 => self.verify_until(token),
            Algorithm::RS256 | Algorithm::ES256 => oidc.verify(token, &header).await,
            _ => Err(TokenError::Invalid),
        }
    }

    /// A token for `principal`, valid for `ttl`.
    pub fn mint(&self, principal: &Principal, ttl: chrono::Duration) -> String {
        self.mint_scoped(principal, ttl, None, None)
    }

    /// A token for a download link: it opens the one CSV export `opens` names (see
    /// `service::export_link_binding`) and nothing else.
    pub fn mint_download(
        &self,
        principal: &Principal,
        ttl: chrono::Duration,
        opens: &str,
    ) -> String {
        self.mint_scoped(principal, ttl, Some(DOWNLOAD_SCOPE), Some(opens))
    }

    fn mint_scoped(
        &self,
        principal: &Principal,
        ttl: chrono::Duration,
        scope: Option<&str>,
        opens: Option<&str>,
    ) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: principal.subject().to_owned(),
            role: match principal {
                Principal::Admin { .. } => Role::Admin,
                Principal::Customer { .. } => Role::Customer,
                Principal::Reader { .. } => Role::Reader,
            },
            account_id: principal.account_scope().map(str::to_owned),
            exp: now + ttl.num_seconds(),
            iat: now,
            scope: scope.map(str::to_owned),
            opens: opens.map(str::to_owned),
        };
        // HS256 over serializable claims cannot fail.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing does not fail")
    }

    /// The principal of a bearer token (never a download token).
    pub fn verify(&self, token: &str) -> Result<Principal, TokenError> {
        self.verify_until(token).map(|(principal, _)| principal)
    }

    /// The principal, and until when the token is accepted (a WebSocket closes then).
    pub fn verify_until(
        &self,
        token: &str,
    ) -> Result<(Principal, chrono::DateTime<chrono::Utc>), TokenError> {
        self.verify_scoped(token, None)
            .map(|(principal, expires, _)| (principal, expires))
    }

    /// The principal of a download token from an export link, and the export it opens.
    pub fn verify_download(&self, token: &str) -> Result<(Principal, String), TokenError> {
        match self.verify_scoped(token, Some(DOWNLOAD_SCOPE))? {
            (principal, _, Some(opens)) => Ok((principal, opens)),
            (_, _, None) => Err(TokenError::Invalid),
        }
    }

    fn verify_scoped(
        &self,
        token: &str,
        scope: Option<&str>,
    ) -> Result<(Principal, chrono::DateTime<chrono::Utc>, Option<String>), TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        let Claims {
            sub,
            role,
            account_id,
            exp,
            scope: token_scope,
            opens,
            ..
        } = data.claims;
        if token_scope.as_deref() != scope {
            return Err(TokenError::Invalid);
        }
        let expires = accepted_until(exp, self.validation.leeway)?;
        let principal = match (role, account_id) {
            (Role::Admin, _) => Principal::Admin { subject: sub },
            (Role::Reader, _) => Principal::Reader { subject: sub },
            (Role::Customer, Some(account_id)) if !account_id.is_empty() => Principal::Customer {
                subject: sub,
                account_id,
            },
            (Role::Customer, _) => return Err(TokenError::Invalid),
        };
        Ok((principal, expires, opens))
    }
}

/// The last moment a token whose `exp` is `exp` is accepted: `exp` plus the `leeway` its
/// check allows for clock skew. A WebSocket or a streamed subscription closes then, not
/// at `exp`: a token in its leeway passes the check, and closing at `exp` ended its
/// socket the moment it opened while the same token still worked over HTTP.
fn accepted_until(exp: i64, leeway: u64) -> Result<chrono::DateTime<chrono::Utc>, TokenError> {
    let leeway = i64::try_from(leeway).map_err(|_| TokenError::Invalid)?;
    exp.checked_add(leeway)
        .and_then(|until| chrono::DateTime::from_timestamp(until, 0))
        .ok_or(TokenError::Invalid)
}

/// The subject of a principal authenticated by an API key: this, then the key's id.
pub const API_KEY_SUBJECT: &str = "api-key:";

/// A new API key pair: the public `appKey` and the secret `appToken` (256 random bits).
pub fn new_key_pair() -> (String, String) {
    use rand::distr::Alphanumeric;
    let random = |n| -> String {
        rand::rng()
            .sample_iter(&Alphanumeric)
            .take(n)
            .map(char::from)
            .collect()
    };
    (format!("cgk-{}", random(24)), random(64))
}

/// What is stored of an API token: its SHA-256 digest in hex. The token is 64 random
/// characters, so a fast digest is enough: there is nothing to guess.
pub fn token_digest(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// Whether two digests are the same, in time that does not depend on where they differ.
pub fn same_digest(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// 32 random bytes, hex-encoded: a secret for development.
pub fn random_secret() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_token_verifies_to_its_principal() {
        let keys = TokenKeys::new("s3cret");
        let customer = Principal::Customer {
            subject: "ana".into(),
            account_id: "acc-1".into(),
        };
        let token = keys.mint(&customer, chrono::Duration::hours(1));
        assert_eq!(keys.verify(&token), Ok(customer));
    }

    #[test]
    fn foreign_and_expired_tokens_are_refused() {
        let admin = Principal::Admin {
            subject: "ops".into(),
        };
        let foreign = TokenKeys::new("other").mint(&admin, chrono::Duration::hours(1));
        let keys = TokenKeys::new("s3cret");
        assert_eq!(keys.verify(&foreign), Err(TokenError::Invalid));
        let expired = keys.mint(&admin, chrono::Duration::hours(-1));
        assert_eq!(keys.verify(&expired), Err(TokenError::Expired));
        assert_eq!(keys.verify("not.a.token"), Err(TokenError::Invalid));
    }

    #[test]
    fn a_token_not_valid_yet_is_refused() {
        let keys = TokenKeys::new("s3cret");
        let now = chrono::Utc::now().timestamp();
        let claims = |nbf: i64| serde_json::json!({ "sub": "ops", "role": "admin", "exp": now + 3600, "nbf": nbf });
        let sign = |claims: serde_json::Value| {
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding).unwrap()
        };
        assert_eq!(
            keys.verify(&sign(claims(now + 600))),
            Err(TokenError::Invalid)
        );
        assert!(keys.verify(&sign(claims(now - 60))).is_ok());
    }

    #[test]
    fn download_tokens_open_downloads_only() {
        let keys = TokenKeys::new("s3cret");
        let admin = Principal::Admin {
            subject: "ops".into(),
        };
        let link = keys.mint_download(&admin, chrono::Duration::minutes(5), "[\"OPEN\"]");
        assert_eq!(keys.verify(&link), Err(TokenError::Invalid));
        assert_eq!(
            keys.verify_download(&link),
            Ok((admin.clone(), "[\"OPEN\"]".to_owned()))
        );
        let bearer = keys.mint(&admin, chrono::Duration::minutes(5));
        assert_eq!(keys.verify_download(&bearer), Err(TokenError::Invalid));
    }
}
