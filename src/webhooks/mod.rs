//! Webhook delivery, driven from the event table. Each round, an instance leases the
//! enabled endpoints no other instance holds (`store::webhooks`), then for each:
//!
//! 1. **fan-out**: reads the event feed after the endpoint's position (the snapshot
//!    positions subscriptions use, so an event committed late is not skipped and a
//!    rolled-back one never seen), turns the events it wants into deliveries, and
//!    writes them with its new position in one transaction, only while it holds the
//!    lease: an event becomes one delivery per endpoint, whatever crashes;
//! 2. **delivery**: sends the deliveries that are due, signed per the Standard Webhooks
//!    specification, an invoice's in commit order (the store hands out none while an
//!    earlier one of the same invoice is pending), and records every attempt with what
//!    follows: delivered, retried after a backoff with jitter (or the receiver's
//!    `Retry-After`), or given up after [`GIVE_UP_AFTER`] or on `410 Gone`, which
//!    disables the endpoint.
//!
//! A lease lasts [`LEASE`] and is renewed every round: when an instance dies, another
//! takes its endpoints over within that time. Deliveries are at least once: an instance
//! that dies after a receiver took a message but before recording it sends it again, with
//! the same `webhook-id`.

mod sender;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::domain::{
    DeliveryState, EventType, FeedEvent, FeedFilter, FeedPosition, GIVE_UP_AFTER, Invoice,
    SigningSecret, WebhookAttempt, WebhookDelivery, retry_delay, signature_header,
};
use crate::store::{AttemptOutcome, EndpointState, Store, StoreError, StoreResult};

pub use sender::{Sender, Sent};

/// How long an instance holds the endpoints it leased without renewing.
pub const LEASE: Duration = Duration::from_secs(30);
/// How often a round runs when nothing wakes it.
const TICK: Duration = Duration::from_secs(1);
/// Feed pages an endpoint fans out per round, so that one endpoint's backlog does not
/// hold up the others' deliveries.
const PAGES_PER_ROUND: usize = 4;
/// Deliveries of one endpoint sent per round.
const DELIVERIES_PER_ROUND: u64 = 200;

/// Writes an invoice as the REST API shows it (the wiring hands in `http`'s rendering).
pub type RenderInvoice = Arc<dyn Fn(&Invoice) -> Value + Send + Sync>;

/// How deliveries are made.
#[derive(Clone)]
pub struct Settings {
    pub sender: Sender,
    /// Deliveries of one endpoint in flight at once.
    pub concurrency: usize,
}

#[derive(Clone)]
pub struct Dispatcher {
    store: Store,
    settings: Settings,
    render: RenderInvoice,
    /// This instance, as lease owner.
    owner: String,
}

impl Dispatcher {
    pub fn new(store: Store, settings: Settings, render: RenderInvoice) -> Dispatcher {
        Dispatcher {
            store,
            settings,
            render,
            owner: format!("instance-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// Runs rounds until the task is dropped: after each commit of this process, and at
    /// least every [`TICK`] (other instances' commits, retries coming due).
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut commits = self.store.commits();
            loop {
                if let Err(e) = self.round().await {
                    tracing::warn!(error = %e, "webhook delivery round failed; retrying");
                }
                let _ = tokio::time::timeout(TICK, commits.changed()).await;
            }
        })
    }

    /// One round: lease, fan out, deliver.
    pub async fn round(&self) -> StoreResult<()> {
        let now = Utc::now();
        let until = now + chrono::Duration::from_std(LEASE).expect("small");
        let endpoints = self
            .store
            .lease_webhook_endpoints(&self.owner, until, now)
            .await?;
        for endpoint in endpoints {
            if self.fan_out(&endpoint).await? {
                self.deliver(&endpoint).await?;
            }
        }
        Ok(())
    }

    /// Turns the feed after the endpoint's position into deliveries. `false` when the
    /// lease was lost meanwhile.
    async fn fan_out(&self, state: &EndpointState) -> StoreResult<bool> {
        let mut position = FeedPosition::from_text(&state.position)
            .map_err(|_| StoreError::Corrupt(format!("position of {}", state.endpoint.id)))?;
        let filter = FeedFilter {
            every_change: true,
            ..FeedFilter::default()
        };
        for _ in 0..PAGES_PER_ROUND {
            let page = crate::events::read_page(&self.store, &mut position, &filter).await?;
            let now = Utc::now();
            let deliveries: Vec<WebhookDelivery> = page
                .events
                .iter()
                .filter_map(|event| self.delivery(state, event, now))
                .collect();
            let kept = self
                .store
                .fan_out_webhooks(
                    &state.endpoint.id,
                    &self.owner,
                    &deliveries,
                    &position.to_text(),
                )
                .await?;
            if !kept {
                return Ok(false);
            }
            if page.last {
                break;
            }
        }
        Ok(true)
    }

    /// The delivery of an event to an endpoint that wants its type.
    fn delivery(
        &self,
        state: &EndpointState,
        event: &FeedEvent,
        now: DateTime<Utc>,
    ) -> Option<WebhookDelivery> {
        let kind = EventType::of(&event.event)?;
        if !state.endpoint.event_types.contains(&kind) {
            return None;
        }
        let e = &event.event;
        let change = |from: &Option<String>, to: &Option<String>| {
            (from != to).then(|| json!({ "from": from, "to": to }))
        };
        let mut changes = serde_json::Map::new();
        if e.status_from != e.status_to {
            changes.insert(
                "status".into(),
                json!({
                    "from": e.status_from.map(|s| s.as_str()),
                    "to": e.status_to.map(|s| s.as_str()),
                }),
            );
        }
        for (name, value) in [
            (
                "paymentLink",
                change(&e.payment_link_from, &e.payment_link_to),
            ),
            (
                "observation",
                change(&e.observation_from, &e.observation_to),
            ),
            (
                "dueDate",
                change(
                    &e.due_date_from.map(|d| d.to_string()),
                    &e.due_date_to.map(|d| d.to_string()),
                ),
            ),
        ] {
            if let Some(value) = value {
                changes.insert(name.into(), value);
            }
        }
        let message_id = format!("evt_{}", e.seq);
        let payload = json!({
            "type": kind.as_str(),
            "timestamp": e.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "data": {
                "sequence": e.seq,
                "actor": e.actor,
                "source": e.source.as_str(),
                "reason": e.reason,
                "importId": e.import_id,
                "changes": changes,
                "invoice": (self.render)(&event.invoice),
            },
        });
        Some(WebhookDelivery {
            id: format!("whd_{}", uuid::Uuid::new_v4().simple()),
            endpoint_id: state.endpoint.id.clone(),
            message_id,
            event_type: kind.as_str().to_owned(),
            invoice_id: Some(e.invoice_id.clone()),
            seq: e.seq,
            payload: payload.to_string(),
            state: DeliveryState::Pending,
            attempts: 0,
            next_attempt_at: now,
            created_at: now,
            delivered_at: None,
        })
    }

    /// Sends what is due to the endpoint, a few at once.
    async fn deliver(&self, state: &EndpointState) -> StoreResult<()> {
        let due = self
            .store
            .due_webhook_deliveries(&state.endpoint.id, Utc::now(), DELIVERIES_PER_ROUND)
            .await?;
        let results: Vec<StoreResult<bool>> = futures_util::stream::iter(due)
            .map(|delivery| self.attempt(state, delivery))
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect()
            .await;
        for result in results {
            if !result? {
                // The endpoint was disabled: what is left waits for it to be enabled.
                break;
            }
        }
        Ok(())
    }

    /// One attempt at a delivery, recorded. `false` when it disabled the endpoint.
    async fn attempt(&self, state: &EndpointState, delivery: WebhookDelivery) -> StoreResult<bool> {
        let now = Utc::now();
        let secrets = signing_secrets(state, now)?;
        let secrets: Vec<&SigningSecret> = secrets.iter().collect();
        let timestamp = now.timestamp();
        let headers = [
            ("webhook-id", delivery.message_id.clone()),
            ("webhook-timestamp", timestamp.to_string()),
            (
                "webhook-signature",
                signature_header(&secrets, &delivery.message_id, timestamp, &delivery.payload),
            ),
        ];
        let sent = self
            .settings
            .sender
            .send(&state.endpoint.url, &headers, delivery.payload.clone())
            .await;
        let attempted_at = Utc::now();
        let outcome = outcome(&delivery, &sent, attempted_at);
        if let AttemptOutcome::GiveUp {
            disable: Some(reason),
        } = &outcome
        {
            tracing::warn!(
                webhook.endpoint = %state.endpoint.id,
                webhook.url = %state.endpoint.url,
                reason = %reason,
                "webhook endpoint disabled"
            );
        }
        let attempt = WebhookAttempt {
            delivery_id: delivery.id.clone(),
            attempted_at,
            status_code: sent.status.map(i32::from),
            duration_ms: i64::try_from(sent.duration.as_millis()).unwrap_or(i64::MAX),
            response: sent.excerpt,
            error: sent.error,
        };
        self.store
            .record_webhook_attempt(&attempt, &outcome, &state.endpoint.id)
            .await?;
        Ok(!matches!(
            outcome,
            AttemptOutcome::GiveUp { disable: Some(_) }
        ))
    }
}

/// The secrets that sign now: the current one, and the previous one during its grace.
fn signing_secrets(state: &EndpointState, now: DateTime<Utc>) -> StoreResult<Vec<SigningSecret>> {
    let parse = |text: &str| {
        SigningSecret::parse(text)
            .ok_or_else(|| StoreError::Corrupt(format!("secret of {}", state.endpoint.id)))
    };
    let mut secrets = vec![parse(&state.secret)?];
    if let Some((previous, until)) = &state.previous_secret
        && *until > now
    {
        secrets.push(parse(previous)?);
    }
    Ok(secrets)
}

/// What follows from an answer (or its absence).
fn outcome(delivery: &WebhookDelivery, sent: &Sent, now: DateTime<Utc>) -> AttemptOutcome {
    match sent.status {
        Some(200..=299) => return AttemptOutcome::Delivered,
        Some(410) => {
            return AttemptOutcome::GiveUp {
                disable: Some("the receiver answered 410 Gone".into()),
            };
        }
        _ => {}
    }
    let age = (now - delivery.created_at).to_std().unwrap_or_default();
    if age >= GIVE_UP_AFTER {
        return AttemptOutcome::GiveUp {
            disable: Some(format!(
                "deliveries failed for {} days",
                GIVE_UP_AFTER.as_secs() / 86_400
            )),
        };
    }
    let tries = u32::try_from(delivery.attempts + 1).unwrap_or(u32::MAX);
    let backoff = retry_delay(tries, rand::random::<f64>());
    let wait = sent.retry_after.map_or(backoff, |asked| {
        asked.clamp(backoff, Duration::from_secs(6 * 3600))
    });
    AttemptOutcome::Retry(now + chrono::Duration::from_std(wait).unwrap_or_default())
}
