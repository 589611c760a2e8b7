//! Webhooks as rules, with no I/O: which event type an invoice event is, how a message is
//! signed (the Standard Webhooks specification), when a failed delivery is tried again,
//! and which destinations may be called.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{InvoiceEvent, InvoiceStatus};

/// What a webhook tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    InvoiceCreated,
    InvoicePaid,
    InvoiceCancelled,
    InvoiceOverdue,
    InvoiceReopened,
    /// The payment link, the observation or the due date changed.
    InvoiceChanged,
    /// A reminder some days before the due date.
    InvoiceDueSoon,
    ImportFinished,
    /// Another endpoint was disabled (given up after days of failures, or `410 Gone`).
    EndpointDisabled,
}

impl EventType {
    pub const ALL: [EventType; 9] = [
        EventType::InvoiceCreated,
        EventType::InvoicePaid,
        EventType::InvoiceCancelled,
        EventType::InvoiceOverdue,
        EventType::InvoiceReopened,
        EventType::InvoiceChanged,
        EventType::InvoiceDueSoon,
        EventType::ImportFinished,
        EventType::EndpointDisabled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::InvoiceCreated => "invoice.created",
            EventType::InvoicePaid => "invoice.paid",
            EventType::InvoiceCancelled => "invoice.cancelled",
            EventType::InvoiceOverdue => "invoice.overdue",
            EventType::InvoiceReopened => "invoice.reopened",
            EventType::InvoiceChanged => "invoice.changed",
            EventType::InvoiceDueSoon => "invoice.due_soon",
            EventType::ImportFinished => "import.finished",
            EventType::EndpointDisabled => "webhook_endpoint.disabled",
        }
    }

    pub fn parse(text: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == text)
    }

    /// The type of an invoice's recorded change: its new status when the status moved,
    /// else `invoice.changed` (link, observation or due date). `None` for an event that
    /// changed nothing a receiver is told of.
    pub fn of(event: &InvoiceEvent) -> Option<EventType> {
        use InvoiceStatus::*;
        match (event.status_from, event.status_to) {
            (None, Some(_)) => Some(EventType::InvoiceCreated),
            (Some(from), Some(to)) if from != to => Some(match to {
                Paid => EventType::InvoicePaid,
                Cancelled => EventType::InvoiceCancelled,
                Overdue => EventType::InvoiceOverdue,
                Open => EventType::InvoiceReopened,
            }),
            _ => {
                let changed = event.payment_link_from != event.payment_link_to
                    || event.observation_from != event.observation_to
                    || event.due_date_from != event.due_date_to;
                changed.then_some(EventType::InvoiceChanged)
            }
        }
    }
}

/// A URL that receives webhooks, as admins see it (its secret is never shown again).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: String,
    pub url: String,
    pub description: Option<String>,
    pub event_types: Vec<EventType>,
    pub enabled: bool,
    /// Why it is disabled: by an admin, or after failing for days.
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryState {
    /// Not taken yet: tried again at `next_attempt_at`.
    Pending,
    /// Waiting behind an earlier delivery of the same invoice (an invoice's messages go
    /// out one at a time, in commit order): pending once that one is settled.
    Queued,
    /// The endpoint answered 2xx.
    Delivered,
    /// Given up (after days of failures, or a 410): a person may send it again.
    Failed,
}

impl DeliveryState {
    /// Not settled yet: the deliveries that count as the endpoint's backlog.
    pub const OUTSTANDING: [DeliveryState; 2] = [DeliveryState::Pending, DeliveryState::Queued];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Queued => "queued",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<DeliveryState> {
        [
            DeliveryState::Pending,
            DeliveryState::Queued,
            DeliveryState::Delivered,
            DeliveryState::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// One message for one endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookDelivery {
    pub id: String,
    pub endpoint_id: String,
    /// The `webhook-id`: the same on every attempt, for the receiver to dedupe on.
    pub message_id: String,
    pub event_type: String,
    pub invoice_id: Option<String>,
    pub seq: i64,
    /// The body, JSON.
    pub payload: String,
    pub state: DeliveryState,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// When it left the queue behind an earlier delivery of its invoice (`None`: pending
    /// from its creation).
    pub pending_since: Option<DateTime<Utc>>,
}

impl WebhookDelivery {
    /// Since when it has been tried: its days of retries count from then.
    pub fn tried_since(&self) -> DateTime<Utc> {
        self.pending_since.unwrap_or(self.created_at)
    }
}

/// One try at a delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookAttempt {
    pub delivery_id: String,
    pub attempted_at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub duration_ms: i64,
    /// The start of the answer (at most [`MAX_RESPONSE_EXCERPT`] bytes).
    pub response: Option<String>,
    pub error: Option<String>,
}

/// The most of an answer's body that is read and kept.
pub const MAX_RESPONSE_EXCERPT: usize = 1024;

/// A signing secret as the Standard Webhooks specification writes it: `whsec_` and the
/// base64 of 24 to 64 random bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(String);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(…)")
    }
}

impl SigningSecret {
    const PREFIX: &'static str = "whsec_";

    /// A fresh secret of 32 random bytes.
    pub fn generate() -> SigningSecret {
        let bytes: [u8; 32] = rand::random();
        SigningSecret(format!("{}{}", Self::PREFIX, STANDARD.encode(bytes)))
    }

    /// A stored secret, checked.
    pub fn parse(text: &str) -> Option<SigningSecret> {
        let key = STANDARD.decode(text.strip_prefix(Self::PREFIX)?).ok()?;
        (24..=64)
            .contains(&key.len())
            .then(|| SigningSecret(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn key(&self) -> Vec<u8> {
        STANDARD
            .decode(&self.0[Self::PREFIX.len()..])
            .expect("checked when made")
    }

    /// The `v1,` signature of a message: HMAC-SHA256 over `{id}.{timestamp}.{body}`.
    pub fn sign(&self, message_id: &str, timestamp: i64, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key()).expect("any key length");
        mac.update(format!("{message_id}.{timestamp}.").as_bytes());
        mac.update(body.as_bytes());
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// The `webhook-signature` header: one signature per secret that signs (two during a
/// rotation's grace period), separated by a space.
pub fn signature_header(
    secrets: &[&SigningSecret],
    message_id: &str,
    timestamp: i64,
    body: &str,
) -> String {
    secrets
        .iter()
        .map(|secret| secret.sign(message_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// How long a delivery is tried before it is given up, and its endpoint disabled.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(3 * 24 * 3600);

/// The wait before try `attempt + 1` after `attempt` failed ones: 5 s, doubling, at most
/// 6 h, each spread over ±20% by `jitter` (in [0, 1)) so that endpoints that failed
/// together do not retry together. About 20 tries fit in three days.
pub fn retry_delay(attempt: u32, jitter: f64) -> Duration {
    let base = 5.0 * 2f64.powi(attempt.saturating_sub(1).min(20) as i32);
    let capped = base.min(6.0 * 3600.0);
    Duration::from_secs_f64(capped * (0.8 + 0.4 * jitter.clamp(0.0, 1.0)))
}

/// Hosts and ranges that may be called although private or loopback
/// (`CREDIT_GATEWAY_WEBHOOK_ALLOW_HOSTS`), and over plain `http`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList {
    hosts: Vec<String>,
    ranges: Vec<(IpAddr, u8)>,
}

impl AllowList {
    /// Reads a comma-separated list of host names, addresses and CIDR ranges.
    pub fn parse(text: &str) -> Result<AllowList, String> {
        let mut list = AllowList::default();
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            if let Some((address, bits)) = item.split_once('/') {
                let address: IpAddr = address
                    .parse()
                    .map_err(|_| format!("`{item}` is not a CIDR range"))?;
                let max = if address.is_ipv4() { 32 } else { 128 };
                let bits: u8 = bits
                    .parse()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| format!("`{item}` is not a CIDR range"))?;
                list.ranges.push((address, bits));
            } else if let Ok(address) = item.parse::<IpAddr>() {
                list.ranges
                    .push((address, if address.is_ipv4() { 32 } else { 128 }));
            } else {
                list.hosts.push(item.to_ascii_lowercase());
            }
        }
        Ok(list)
    }

    /// Whether the URL's host is named by the list (its name, or its literal address).
    pub fn names_host(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        match host.parse::<IpAddr>() {
            Ok(ip) => self.covers(ip),
            Err(_) => self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)),
        }
    }

    /// Whether the address is in one of the list's ranges.
    pub fn covers(&self, ip: IpAddr) -> bool {
        self.ranges
            .iter()
            .any(|(net, bits)| in_range(ip, *net, *bits))
    }

    /// Whether a connection to `ip`, resolved from `host`, may be made: a public address,
    /// or one the list covers (by range, or because it names the host).
    pub fn permits(&self, host: &str, ip: IpAddr) -> bool {
        is_public(ip) || self.covers(ip) || (self.names_host(host) && !ip.is_unspecified())
    }
}

fn in_range(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// Whether an address is on the public internet: not private, loopback, link-local,
/// shared (CGNAT), documentation, multicast, unspecified or reserved.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            // Global unicast (2000::/3) only, and none of its ranges that reach IPv4 or
            // nothing: Teredo (2001::/32), documentation (2001:db8::/32), 6to4
            // (2002::/16). NAT64 (64:ff9b::/96), IPv4-compatible (::/96), site-local,
            // unique-local and link-local all fall outside 2000::/3.
            let [first, second, ..] = v6.segments();
            (first & 0xe000) == 0x2000
                && !(first == 0x2001 && (second == 0 || second == 0x0db8))
                && first != 0x2002
        }
    }
}

/// Why a URL cannot be an endpoint, checked when it is registered (the address it
/// resolves to is checked again at every connection).
pub fn check_url(text: &str, allow: &AllowList) -> Result<url::Url, String> {
    let url = url::Url::parse(text).map_err(|e| format!("not an absolute URL: {e}"))?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or("the URL has no host")?
        .to_owned();
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL may not carry a user name or password".into());
    }
    match url.scheme() {
        "https" => {}
        "http" if allow.names_host(&host) => {}
        "http" => {
            return Err(format!(
                "only https URLs are accepted (http only for hosts in \
                 CREDIT_GATEWAY_WEBHOOK_ALLOW_HOSTS, which `{host}` is not)"
            ));
        }
        other => return Err(format!("`{other}` URLs are not accepted: use https")),
    }
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>()
        && !allow.permits(&host, ip)
    {
        return Err(format!(
            "`{ip}` is a private, loopback or reserved address not in \
             CREDIT_GATEWAY_WEBHOOK_ALLOW_HOSTS"
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ChangeSource;

    fn event(from: Option<InvoiceStatus>, to: Option<InvoiceStatus>) -> InvoiceEvent {
        InvoiceEvent {
            seq: 1,
            invoice_id: "I".into(),
            status_from: from,
            status_to: to,
            payment_link_from: None,
            payment_link_to: None,
            observation_from: None,
            observation_to: None,
            due_date_from: None,
            due_date_to: None,
            reason: None,
            actor: "a".into(),
            source: ChangeSource::Graphql,
            import_id: None,
            occurred_at: Utc::now(),
        }
    }

    #[test]
    fn each_change_has_its_type() {
        use InvoiceStatus::*;
        let of = |from, to| EventType::of(&event(from, to));
        assert_eq!(of(None, Some(Open)), Some(EventType::InvoiceCreated));
        assert_eq!(of(Some(Open), Some(Paid)), Some(EventType::InvoicePaid));
        assert_eq!(of(Some(Overdue), Some(Paid)), Some(EventType::InvoicePaid));
        assert_eq!(
            of(Some(Open), Some(Cancelled)),
            Some(EventType::InvoiceCancelled)
        );
        assert_eq!(
            of(Some(Open), Some(Overdue)),
            Some(EventType::InvoiceOverdue)
        );
        assert_eq!(of(Some(Paid), Some(Open)), Some(EventType::InvoiceReopened));
        assert_eq!(of(Some(Open), Some(Open)), None, "nothing changed");
        let mut linked = event(Some(Open), Some(Open));
        linked.payment_link_to = Some("https://pay.example.com".into());
        assert_eq!(EventType::of(&linked), Some(EventType::InvoiceChanged));
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(EventType::parse("invoice.unknown"), None);
    }

    #[test]
    fn signatures_follow_the_standard_webhooks_example() {
        // The specification's own example.
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(
            SigningSecret::parse("whsec_c2hvcnQ=").is_none(),
            "too short"
        );
        assert!(SigningSecret::parse("nope").is_none());
        let fresh = SigningSecret::generate();
        assert!(SigningSecret::parse(fresh.as_str()).is_some());
        let two = signature_header(&[&fresh, &secret], "m", 1, "b");
        assert_eq!(two.split(' ').count(), 2);
    }

    #[test]
    fn retries_back_off_with_jitter_and_fit_in_three_days() {
        assert_eq!(retry_delay(1, 0.5), Duration::from_secs(5));
        assert_eq!(retry_delay(2, 0.5), Duration::from_secs(10));
        assert!(retry_delay(1, 0.0) < retry_delay(1, 0.99));
        assert_eq!(retry_delay(40, 0.5), Duration::from_secs(6 * 3600));
        let tries = (1..)
            .scan(Duration::ZERO, |total, n| {
                *total += retry_delay(n, 0.5);
                (*total < GIVE_UP_AFTER).then_some(n)
            })
            .count();
        assert!((15..30).contains(&tries), "{tries} tries in three days");
    }

    #[test]
    fn destinations_are_public_https_unless_allowed() {
        let none = AllowList::default();
        assert!(check_url("https://hooks.example.com/in", &none).is_ok());
        assert!(check_url("http://hooks.example.com/in", &none).is_err());
        assert!(check_url("ftp://hooks.example.com/in", &none).is_err());
        assert!(check_url("https://user:pw@hooks.example.com/", &none).is_err());
        for private in [
            "https://127.0.0.1/",
            "https://10.1.2.3/",
            "https://169.254.169.254/",
            "https://[::1]/",
            "https://[fd00::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://[64:ff9b::a00:5]/",
            "https://[::a00:5]/",
            "https://[2002:a00:5::1]/",
            "https://[2001:0:a00:5::1]/",
            "https://[fec0::1]/",
            "https://2130706433/",
        ] {
            assert!(check_url(private, &none).is_err(), "{private}");
        }
        let allow = AllowList::parse("127.0.0.1, localhost, 10.0.0.0/8").unwrap();
        assert!(check_url("http://127.0.0.1:9000/in", &allow).is_ok());
        assert!(check_url("http://localhost:9000/in", &allow).is_ok());
        assert!(check_url("https://10.9.8.7/", &allow).is_ok());
        assert!(
            check_url("http://127.0.0.2:9000/in", &allow).is_err(),
            "not listed"
        );
        assert!(allow.permits("localhost", "127.0.0.1".parse().unwrap()));
        assert!(!allow.permits("evil.example.com", "127.0.0.2".parse().unwrap()));
        assert!(allow.permits("hooks.example.com", "93.184.216.34".parse().unwrap()));
        assert!(allow.permits("hooks.example.com", "2606:4700::1111".parse().unwrap()));
        assert!(AllowList::parse("10.0.0.0/33").is_err());
    }
}
