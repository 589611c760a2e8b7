//! Single sign-on: bearer tokens issued by an OpenID Connect provider, verified against
//! the public keys it publishes (RS256 and ES256).
//!
//! The keys come from the issuer's discovery document (`jwks_uri`) and are kept in
//! memory. A token whose key id (`kid`) is not among them makes us fetch them again, at
//! most once per `REFRESH_INTERVAL`, in a task of its own (a caller that goes away does
//! not cancel it) that gives up after `FETCH_TIMEOUT`: a rotated key is picked up on its
//! first token, a flood of made-up key ids costs the provider one request pair per
//! interval, and a provider that is down leaves the kept keys working while unknown ones
//! are refused within that time. Kept keys older than `KEYS_MAX_AGE` are refetched in
//! the background (one task at a time), so a key the provider withdrew stops working.
//!
//! Provider subjects are prefixed `oidc:` (in the history, budgets and subscription
//! counts), so that no provider account can pass for one of the gateway's own subjects
//! (`sweeper`, `api-key:…`, a shared-secret token's).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{Principal, TokenError};
use crate::config::OidcConfig;

/// Least time between two fetches of the provider's keys.
const REFRESH_INTERVAL: Duration = Duration::from_secs(5);
/// Longest a fetch of the discovery document and the keys may take, both together.
const FETCH_TIMEOUT: Duration = Duration::from_secs(3);
/// What a provider's `sub` is prefixed with in the principal's subject.
pub const SUBJECT_PREFIX: &str = "oidc:";
/// Kept keys older than this are fetched again (in the background).
const KEYS_MAX_AGE: Duration = Duration::from_secs(3600);
/// Largest discovery document or key set read.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// What the console needs to send a browser through the provider's sign-in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    pub authorization: String,
    pub token: String,
}

/// The accepted provider, its rules for turning claims into a principal, and its keys.
pub struct Oidc {
    issuer: String,
    audience: String,
    role_claim: String,
    account_claim: String,
    admin_role: String,
    clock_skew: u64,
    client_id: Option<String>,
    http: reqwest::Client,
    keys: RwLock<Keys>,
    /// Held while fetching, so that concurrent unknown keys cause one fetch; holds when
    /// the last fetch started.
    fetching: tokio::sync::Mutex<Option<Instant>>,
    /// A background refetch of old keys is under way (at most one).
    refetching_old: AtomicBool,
    /// The issuer is plain HTTP on loopback (tests): only then may the other URLs be.
    loopback: bool,
}

#[derive(Default)]
struct Keys {
    by_id: Arc<HashMap<String, (Algorithm, DecodingKey)>>,
    endpoints: Option<Endpoints>,
    fetched: Option<Instant>,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
}

impl Oidc {
    /// The provider of `config`, or `None` without an issuer; an error for settings that
    /// cannot work (no audience, a plain-HTTP issuer beyond loopback).
    pub fn from_config(config: &OidcConfig) -> Result<Option<Arc<Oidc>>, String> {
        let Some(issuer) = config.oidc_issuer.as_deref().map(str::trim) else {
            return Ok(None);
        };
        if issuer.is_empty() {
            return Ok(None);
        }
        check_url(issuer, true).map_err(|e| format!("CREDIT_GATEWAY_OIDC_ISSUER: {e}"))?;
        let loopback = check_url(issuer, false).is_err();
        let audience = config
            .oidc_audience
            .as_deref()
            .map(str::trim)
            .filter(|audience| !audience.is_empty())
            .ok_or(
                "CREDIT_GATEWAY_OIDC_AUDIENCE is required with CREDIT_GATEWAY_OIDC_ISSUER: \
                 the audience (`aud`) this gateway's tokens name",
            )?;
        for (name, value) in [
            ("CREDIT_GATEWAY_OIDC_ROLE_CLAIM", &config.oidc_role_claim),
            (
                "CREDIT_GATEWAY_OIDC_ACCOUNT_CLAIM",
                &config.oidc_account_claim,
            ),
            ("CREDIT_GATEWAY_OIDC_ADMIN_ROLE", &config.oidc_admin_role),
        ] {
            if value.trim().is_empty() {
                return Err(format!("{name} must not be empty"));
            }
        }
        // reqwest is built without a default TLS provider: ring, the one the tree has.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(FETCH_TIMEOUT)
            .timeout(FETCH_TIMEOUT)
            .user_agent(concat!("credit-gateway/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("the OpenID Connect client: {e}"))?;
        Ok(Some(Arc::new(Oidc {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            role_claim: config.oidc_role_claim.trim().to_owned(),
            account_claim: config.oidc_account_claim.trim().to_owned(),
            admin_role: config.oidc_admin_role.trim().to_owned(),
            clock_skew: config.oidc_clock_skew_seconds,
            client_id: config
                .oidc_client_id
                .as_deref()
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .map(str::to_owned),
            http,
            keys: RwLock::default(),
            fetching: tokio::sync::Mutex::new(None),
            refetching_old: AtomicBool::new(false),
            loopback,
        })))
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// The claim names the console reads a signed-in caller's role and account from.
    pub fn claims(&self) -> (&str, &str, &str) {
        (&self.role_claim, &self.account_claim, &self.admin_role)
    }

    /// The provider's sign-in endpoints, once its discovery document was read; never
    /// waits (a page that asks before then starts the fetch, and has them next time).
    pub fn endpoints(self: &Arc<Self>) -> Option<Endpoints> {
        let endpoints = self.read_keys().endpoints.clone();
        if endpoints.is_none() {
            self.prefetch();
        }
        endpoints
    }

    /// Starts fetching the keys in the background, so the first token finds them.
    pub fn prefetch(self: &Arc<Self>) {
        let oidc = self.clone();
        tokio::spawn(async move { oidc.refresh_now().await });
    }

    /// The principal of a token this provider signed (its header already read), and
    /// until when it is accepted (its `exp` plus the clock skew allowed).
    pub async fn verify(
        self: &Arc<Self>,
        token: &str,
        header: &Header,
    ) -> Result<(Principal, chrono::DateTime<chrono::Utc>), TokenError> {
        let kid = header.kid.as_deref().ok_or(TokenError::Invalid)?;
        let (algorithm, key) = match self.key(kid) {
            Some(found) => found,
            None => {
                // In a task of its own: a caller that goes away does not cancel the fetch
                // (which has used up the interval either way).
                let oidc = self.clone();
                let _ = tokio::spawn(async move { oidc.refresh_now().await }).await;
                self.key(kid).ok_or(TokenError::Invalid)?
            }
        };
        // The key decides the algorithm, never the token (no RS256 key read as HS256).
        if header.alg != algorithm {
            return Err(TokenError::Invalid);
        }
        let mut validation = Validation::new(algorithm);
        validation.leeway = self.clock_skew;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?
            .claims;
        self.principal(&claims)
    }

    /// Who the claims name: an administrator when the roles hold the admin role, else
    /// the customer of the account claim; refused with neither.
    fn principal(
        &self,
        claims: &Map<String, Value>,
    ) -> Result<(Principal, chrono::DateTime<chrono::Utc>), TokenError> {
        let subject = match claims.get("sub") {
            Some(Value::String(sub)) if !sub.is_empty() => format!("{SUBJECT_PREFIX}{sub}"),
            _ => return Err(TokenError::Invalid),
        };
        let exp = claims.get("exp").and_then(Value::as_i64);
        let expires = super::accepted_until(exp.ok_or(TokenError::Invalid)?, self.clock_skew)?;
        let is_admin = match claim(claims, &self.role_claim) {
            Some(Value::String(role)) => role == &self.admin_role,
            Some(Value::Array(roles)) => roles
                .iter()
                .any(|role| role.as_str() == Some(&self.admin_role)),
            _ => false,
        };
        if is_admin {
            return Ok((Principal::Admin { subject }, expires));
        }
        let account_id = match claim(claims, &self.account_claim) {
            Some(Value::String(account)) if !account.trim().is_empty() => account.clone(),
            Some(Value::Number(account)) => account.to_string(),
            _ => return Err(TokenError::NoRole),
        };
        Ok((
            Principal::Customer {
                subject,
                account_id,
            },
            expires,
        ))
    }

    fn read_keys(&self) -> std::sync::RwLockReadGuard<'_, Keys> {
        self.keys
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The kept key `kid`; starts a background refetch when the kept keys are old (one at
    /// a time, however many requests see them old).
    fn key(self: &Arc<Self>, kid: &str) -> Option<(Algorithm, DecodingKey)> {
        let keys = self.read_keys();
        let old = keys.fetched.is_some_and(|at| at.elapsed() > KEYS_MAX_AGE);
        if old
            && self
                .refetching_old
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            let oidc = self.clone();
            tokio::spawn(async move {
                oidc.refresh_now().await;
                oidc.refetching_old.store(false, Ordering::Release);
            });
        }
        keys.by_id.get(kid).cloned()
    }

    /// Fetches the discovery document and the keys, unless a fetch started less than
    /// `REFRESH_INTERVAL` ago (or is running: this waits for it). A failure keeps what is
    /// kept, and is logged.
    async fn refresh_now(&self) {
        let mut last = self.fetching.lock().await;
        if last.is_some_and(|at| at.elapsed() < REFRESH_INTERVAL) {
            return;
        }
        *last = Some(Instant::now());
        let fetched = tokio::time::timeout(FETCH_TIMEOUT, self.fetch())
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {FETCH_TIMEOUT:?}")));
        match fetched {
            Ok((by_id, endpoints)) => {
                tracing::info!(
                    oidc.issuer = %self.issuer,
                    oidc.keys = by_id.len(),
                    "fetched the OpenID Connect provider's keys"
                );
                let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
                *keys = Keys {
                    by_id: Arc::new(by_id),
                    endpoints,
                    fetched: Some(Instant::now()),
                };
            }
            Err(e) => tracing::warn!(
                oidc.issuer = %self.issuer,
                error = %e,
                "could not fetch the OpenID Connect provider's keys; keeping the ones held"
            ),
        }
    }

    async fn fetch(
        &self,
    ) -> Result<(HashMap<String, (Algorithm, DecodingKey)>, Option<Endpoints>), String> {
        let discovery_url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let discovery: Discovery = self.get_json(&discovery_url).await?;
        if discovery.issuer != self.issuer {
            return Err(format!(
                "the discovery document names the issuer `{}`, not `{}`",
                discovery.issuer, self.issuer
            ));
        }
        check_url(&discovery.jwks_uri, self.loopback).map_err(|e| format!("jwks_uri: {e}"))?;
        let set: JwkSet = self.get_json(&discovery.jwks_uri).await?;
        let endpoints = match (discovery.authorization_endpoint, discovery.token_endpoint) {
            (Some(authorization), Some(token))
                if check_url(&authorization, self.loopback).is_ok()
                    && check_url(&token, self.loopback).is_ok() =>
            {
                Some(Endpoints {
                    authorization,
                    token,
                })
            }
            _ => None,
        };
        Ok((verification_keys(&set), endpoints))
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let mut response = self
            .http
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: status {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(format!("GET {url}: larger than {MAX_DOCUMENT_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| format!("GET {url}: not the expected JSON: {e}"))
    }
}

/// The signing keys of a key set we verify with: RSA keys for RS256 and P-256 keys for
/// ES256, each with a key id and not marked for encryption. Others (symmetric keys
/// above all: a public "secret" would let anyone sign) are skipped.
fn verification_keys(set: &JwkSet) -> HashMap<String, (Algorithm, DecodingKey)> {
    set.keys
        .iter()
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            if jwk.common.public_key_use == Some(PublicKeyUse::Encryption) {
                return None;
            }
            let algorithm = match (&jwk.algorithm, jwk.common.key_algorithm) {
                (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
                (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES256))
                    if ec.curve == EllipticCurve::P256 =>
                {
                    Algorithm::ES256
                }
                _ => return None,
            };
            let key = DecodingKey::from_jwk(jwk).ok()?;
            Some((kid, (algorithm, key)))
        })
        .collect()
}

/// The value at a dotted path of the claims (`realm_access.roles`); a claim whose own
/// name holds a dot is found too.
fn claim<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(path) {
        return Some(value);
    }
    let mut parts = path.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// `https://`, or with `loopback_http`, `http://` on a loopback address (a provider
/// started by tests: only a loopback issuer's other URLs may be plain HTTP, so that a
/// remote provider's discovery document cannot send us to our own loopback).
fn check_url(text: &str, loopback_http: bool) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if loopback && loopback_http => Ok(()),
        _ => Err(format!(
            "`{text}` must be an https:// URL (plain http:// is allowed on loopback addresses only)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn oidc() -> Arc<Oidc> {
        let config = OidcConfig {
            oidc_issuer: Some("https://login.example.com/".into()),
            oidc_audience: Some("credit-gateway".into()),
            oidc_role_claim: "realm_access.roles".into(),
            oidc_account_claim: "account_id".into(),
            oidc_admin_role: "credit-admin".into(),
            ..OidcConfig::default()
        };
        Oidc::from_config(&config).unwrap().unwrap()
    }

    fn claims(value: Value) -> Map<String, Value> {
        let mut claims = value.as_object().unwrap().clone();
        claims.insert("exp".into(), json!(4_000_000_000_i64));
        claims
    }

    #[test]
    fn the_issuer_must_be_https_except_on_loopback() {
        assert!(check_url("https://login.example.com", false).is_ok());
        assert!(check_url("http://127.0.0.1:8080", true).is_ok());
        assert!(check_url("http://127.8.0.1", true).is_ok());
        assert!(check_url("http://[::1]:9000/realms/x", true).is_ok());
        assert!(check_url("http://localhost:3000", true).is_ok());
        // A remote (https) issuer's documents may not point at our loopback in clear.
        assert!(check_url("http://127.0.0.1:2379/v2/keys", false).is_err());
        for refused in [
            "http://login.example.com",
            "http://10.0.0.1",
            "ftp://127.0.0.1",
            "login.example.com",
        ] {
            assert!(check_url(refused, true).is_err(), "{refused}");
        }
        let config = |issuer: &str, audience: Option<&str>| OidcConfig {
            oidc_issuer: Some(issuer.into()),
            oidc_audience: audience.map(str::to_owned),
            ..OidcConfig::default()
        };
        let error = |c| Oidc::from_config(&c).err().unwrap();
        assert!(error(config("http://example.com", Some("a"))).contains("https://"));
        assert!(error(config("https://example.com", None)).contains("AUDIENCE"));
        assert!(Oidc::from_config(&OidcConfig::default()).unwrap().is_none());
    }

    #[test]
    fn roles_and_accounts_name_the_principal() {
        let oidc = oidc();
        let admin = claims(
            json!({ "sub": "ops", "realm_access": { "roles": ["viewer", "credit-admin"] }, "account_id": "A" }),
        );
        assert_eq!(
            oidc.principal(&admin).unwrap().0,
            Principal::Admin {
                subject: "oidc:ops".into()
            }
        );
        let customer = claims(
            json!({ "sub": "ana", "realm_access": { "roles": ["viewer"] }, "account_id": "A" }),
        );
        assert_eq!(
            oidc.principal(&customer).unwrap().0,
            Principal::Customer {
                subject: "oidc:ana".into(),
                account_id: "A".into()
            }
        );
        let neither = claims(json!({ "sub": "bob", "realm_access": { "roles": "viewer" } }));
        assert_eq!(oidc.principal(&neither), Err(TokenError::NoRole));
        let blank = claims(json!({ "sub": "bob", "account_id": " " }));
        assert_eq!(oidc.principal(&blank), Err(TokenError::NoRole));
        let no_subject = claims(json!({ "account_id": "A" }));
        assert_eq!(oidc.principal(&no_subject), Err(TokenError::Invalid));
    }

    #[test]
    fn only_signing_keys_of_the_two_algorithms_are_kept() {
        let set: JwkSet = serde_json::from_value(json!({ "keys": [
            { "kty": "RSA", "kid": "rsa", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB" },
              { "kty": "RSA", "kid": "rsa-enc", "use": "enc", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB" },
              { "kty": "EC", "kid": "ec", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" },
              { "kty": "oct", "kid": "secret", "k": "c2VjcmV0" },
              { "kty": "RSA", "n": "sXch", "e": "AQAB" } ] }))
        .unwrap();
        let mut kept: Vec<_> = verification_keys(&set)
            .into_iter()
            .map(|(kid, (alg, _))| (kid, alg))
            .collect();
        kept.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            kept,
            [
                ("ec".to_owned(), Algorithm::ES256),
                ("rsa".to_owned(), Algorithm::RS256)
            ]
        );
    }
}
