//! One HTTP POST to a receiver, made safe to point at the internet: no redirects, no
//! proxies, connect and total timeouts, at most [`MAX_RESPONSE_EXCERPT`] bytes of the
//! answer read, and every address checked as it is connected to (a resolver of our own
//! refuses private, loopback and reserved addresses the allow-list does not cover, so a
//! DNS name cannot smuggle one in; literal addresses are checked before sending).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::domain::{AllowList, MAX_RESPONSE_EXCERPT};

/// What a receiver did with one message.
#[derive(Clone, Debug)]
pub struct Sent {
    pub status: Option<u16>,
    /// Its `Retry-After`, in seconds, when it gave one.
    pub retry_after: Option<Duration>,
    pub excerpt: Option<String>,
    /// Why there is no answer: refused before connecting, timed out, connection failed.
    pub error: Option<String>,
    pub duration: Duration,
}

/// Resolves names with the system's resolver, keeping only the addresses `allow` permits.
struct Guarded {
    allow: Arc<AllowList>,
}

impl Resolve for Guarded {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| allow.permits(&host, a.ip()))
                .collect();
            if kept.is_empty() {
                return Err(format!(
                    "`{host}` resolves only to addresses not allowed \
                     (private, loopback or reserved, and not in CREDIT_GATEWAY_WEBHOOK_ALLOW_HOSTS)"
                )
                .into());
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    allow: Arc<AllowList>,
}

impl Sender {
    pub fn new(allow: AllowList, connect: Duration, total: Duration) -> Sender {
        // reqwest is built without a default TLS provider: ring, the one the tree has.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let allow = Arc::new(allow);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(connect)
            .timeout(total)
            .user_agent(concat!(
                "credit-gateway-webhooks/",
                env!("CARGO_PKG_VERSION")
            ))
            .dns_resolver(Guarded {
                allow: allow.clone(),
            })
            .build()
            .expect("a client with these settings builds");
        Sender { client, allow }
    }

    pub fn allow_list(&self) -> &AllowList {
        &self.allow
    }

    /// POSTs `body` (JSON) with `headers` to `url`.
    pub async fn send(&self, url: &str, headers: &[(&'static str, String)], body: String) -> Sent {
        let start = Instant::now();
        let failed = |error: String| Sent {
            status: None,
            retry_after: None,
            excerpt: None,
            error: Some(error),
            duration: start.elapsed(),
        };
        // Checks the scheme, and a literal address (a name's are checked as resolved).
        let parsed = match crate::domain::check_url(url, &self.allow) {
            Ok(parsed) => parsed,
            Err(e) => return failed(e),
        };
        let mut request = self
            .client
            .post(parsed)
            .header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let mut response = match request.body(body).send().await {
            Ok(response) => response,
            Err(e) => return failed(describe(&e)),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let mut excerpt = Vec::new();
        while excerpt.len() < MAX_RESPONSE_EXCERPT {
            match response.chunk().await {
                Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
                _ => break,
            }
        }
        excerpt.truncate(MAX_RESPONSE_EXCERPT);
        Sent {
            status: Some(status),
            retry_after,
            // NUL is no character PostgreSQL stores in text.
            excerpt: Some(String::from_utf8_lossy(&excerpt).replace('\0', "\u{fffd}")),
            error: None,
            duration: start.elapsed(),
        }
    }
}

/// An error of the client, in words (with its cause: "connection refused", the resolver's
/// refusal).
fn describe(error: &reqwest::Error) -> String {
    use std::error::Error;
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    let mut cause = String::new();
    let mut source = error.source();
    while let Some(e) = source {
        cause = e.to_string();
        source = e.source();
    }
    if cause.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {cause}")
    }
}
