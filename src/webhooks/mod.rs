//! Webhook delivery, driven from the event table. Every second (and after each commit of
//! this process) an instance leases the enabled endpoints no other instance holds
//! (`store::webhooks`) and serves each in a task of its own (so that a slow receiver
//! holds up no other), one round after another while it has work:
//!
//! 1. **fan-out**: reads the event feed after the endpoint's position (the snapshot
//!    positions subscriptions use, so an event committed late is not skipped and a
//!    rolled-back one never seen), turns the events it wants into deliveries, and
//!    writes them with its new position in one transaction, only while it holds the
//!    lease: an event becomes one delivery per endpoint, whatever crashes;
//! 2. **delivery**: sends the deliveries that are due, signed per the Standard Webhooks
//!    specification, an invoice's one at a time in commit order (a later one waits
//!    `queued` until the one before is settled), and records every attempt with what
//!    follows: delivered, retried after a backoff with jitter (or the receiver's
//!    `Retry-After`), or given up after [`GIVE_UP_AFTER`] or on `410 Gone`, which
//!    disables the endpoint.
//!
//! Two kinds of message come from elsewhere: `import.finished`, from the imports table
//! (each endpoint keeps its place among finished imports), and `invoice.due_soon`, for
//! open invoices due within the reminder days, recorded once per invoice and due date
//! (`webhook_reminders`) together with its deliveries.
//!
//! A lease lasts [`LEASE`] and is renewed every second and with every batch of attempts
//! recorded: when an instance dies, another takes its endpoints over within that time;
//! one that stops cleanly gives them up at once. Deliveries are at least once: an
//! instance that dies after a receiver took a message but before recording its batch
//! sends it again, with the same `webhook-id`.

mod messages;
mod pace;
mod sender;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::StreamExt;
use tracing::Instrument;

use crate::domain::{
    EventType, FeedFilter, FeedPosition, GIVE_UP_AFTER, SigningSecret, WebhookAttempt,
    WebhookDelivery, retry_delay, signature_header,
};
use crate::store::{AttemptOutcome, EndpointState, FanOutPlace, Store, StoreError, StoreResult};

pub use messages::RenderInvoice;
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
/// Longest a paced round's sends take at their pace.
const PACED_ROUND: Duration = Duration::from_secs(10);
/// Endpoints an instance serves at once (the others wait their turn, longest waiting
/// first).
const ENDPOINTS_AT_ONCE: usize = 8;
/// How long a stop waits for the sends in flight before it abandons them (they are sent
/// again by whoever delivers next).
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Room left in a lease after the last send may end, to record the batch.
const RECORD_MARGIN: Duration = Duration::from_secs(5);
/// Longest a send takes (the sender's total timeout): none starts later than this
/// before the lease ends, so a send never outlives its lease.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(15);
/// Deliveries pending for an endpoint past which no more are made from the feed until
/// it catches up: a receiver that is down while a million-row import commits holds a
/// bounded backlog, not a million rows per endpoint (the rest waits in the event table).
const MAX_PENDING: u64 = 10_000;
/// How often an instance looks for invoices to remind of their due date.
const REMIND_EVERY: Duration = Duration::from_secs(10);
/// How long after an import finished it is told: one finishing at the same moment has
/// committed by then, so the place among finished imports passes none over.
const SETTLE: Duration = Duration::from_secs(5);

/// How far a fan-out got.
enum FannedOut {
    /// Every event committed so far is a delivery (or not wanted).
    Caught,
    /// More events wait than a round reads.
    Behind,
    /// Another instance holds the endpoint now.
    LostLease,
}

/// The endpoints this instance is serving: a task each.
#[derive(Default)]
struct Serving {
    /// Each ends with its endpoint's id and whether work was left.
    tasks: tokio::task::JoinSet<(String, bool)>,
    /// The endpoint each task serves, and the wake-up its round started after.
    running: HashMap<tokio::task::Id, (String, u64)>,
    /// Endpoints whose last round found no more work: none starts again before the next
    /// tick or commit.
    resting: HashSet<String>,
    /// Ticks and commits so far.
    wakes: u64,
    /// When each endpoint's last round started: the longest waiting start first (never
    /// started, first of all).
    last_started: HashMap<String, Instant>,
}

impl Serving {
    fn is_running(&self, endpoint: &str) -> bool {
        self.running.values().any(|(id, _)| id == endpoint)
    }

    /// A tick or a commit: every endpoint may have work. `true`: start rounds.
    fn woken(&mut self) -> bool {
        self.wakes += 1;
        self.resting.clear();
        true
    }

    /// A round ended. `true`: start rounds (work was left, or a tick or commit came while
    /// it ran, which its reading of the feed may have missed).
    fn ended(
        &mut self,
        done: Result<(tokio::task::Id, (String, bool)), tokio::task::JoinError>,
    ) -> bool {
        let task = match &done {
            Ok((task, _)) => *task,
            Err(e) => e.id(),
        };
        let Some((endpoint, woken)) = self.running.remove(&task) else {
            return false;
        };
        match done {
            Ok((_, (_, true))) => true,
            Ok(_) if woken != self.wakes => true,
            Ok(_) => {
                self.resting.insert(endpoint);
                false
            }
            Err(e) => {
                tracing::error!(webhook.endpoint = %endpoint, error = %e, "a webhook endpoint's round panicked");
                self.resting.insert(endpoint);
                false
            }
        }
    }
}

/// The day that decides what is due (the gateway's time zone).
pub type Today = Arc<dyn Fn() -> NaiveDate + Send + Sync>;

/// How deliveries are made.
#[derive(Clone)]
pub struct Settings {
    pub sender: Sender,
    /// Deliveries of one endpoint in flight at once.
    pub concurrency: usize,
    /// Sends a second per endpoint at most; 0: unpaced.
    pub rate: u32,
    /// `invoice.due_soon` goes out this many days before the due date.
    pub reminder_days: u32,
    pub today: Today,
    /// Counts attempts by endpoint and outcome.
    pub metrics: Arc<crate::telemetry::Metrics>,
}

#[derive(Clone)]
pub struct Dispatcher {
    store: Store,
    settings: Settings,
    render: RenderInvoice,
    /// This instance, as lease owner.
    owner: String,
    /// When this instance last looked for invoices to remind.
    reminded: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
    paces: pace::Paces,
    /// Set when the instance stops: no send starts after it.
    stopping: Arc<AtomicBool>,
}

/// Delivery running in the background; [`Delivering::stop`] ends it cleanly.
pub struct Delivering {
    task: tokio::task::JoinHandle<()>,
    stop: Arc<tokio::sync::Notify>,
    stopping: Arc<AtomicBool>,
    store: Store,
    owner: String,
}

impl Delivering {
    /// Starts no more sends, lets those in flight finish and be recorded (for at most
    /// [`STOP_GRACE`]: the rest are sent again later), then gives the endpoints' leases up
    /// so that another instance takes them over at once instead of when they lapse.
    pub async fn stop(self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.stop.notify_one();
        let mut task = self.task;
        // The task waits [`STOP_GRACE`] for its endpoints' sends, then abandons them.
        if tokio::time::timeout(STOP_GRACE * 2, &mut task)
            .await
            .is_err()
        {
            task.abort();
            let _ = task.await;
        }
        if let Err(e) = self.store.release_webhook_leases(&self.owner).await {
            tracing::warn!(error = %e, "webhook leases not released; they lapse instead");
        }
    }

    /// Ends delivery at once, in the middle of a send if need be (what was sent and not
    /// recorded is sent again: at least once).
    pub fn abort(&self) {
        self.task.abort();
    }
}

impl Dispatcher {
    pub fn new(store: Store, settings: Settings, render: RenderInvoice) -> Dispatcher {
        Dispatcher {
            store,
            paces: pace::Paces::new(settings.rate),
            settings,
            render,
            owner: format!("instance-{}", uuid::Uuid::new_v4().simple()),
            reminded: Arc::default(),
            stopping: Arc::default(),
        }
    }

    /// Runs rounds until stopped: after each commit of this process, and at least every
    /// [`TICK`] (other instances' commits, retries coming due).
    pub fn spawn(self) -> Delivering {
        let stop = Arc::new(tokio::sync::Notify::new());
        Delivering {
            task: tokio::spawn({
                let stop = stop.clone();
                let this = self.clone();
                async move { this.run(&stop).await }
            }),
            stop,
            stopping: self.stopping.clone(),
            store: self.store.clone(),
            owner: self.owner.clone(),
        }
    }

    async fn run(&self, stop: &tokio::sync::Notify) {
        let mut commits = self.store.commits();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut serving = Serving::default();
        let mut start = true;
        while !self.stopping.load(Ordering::Relaxed) {
            if start && let Err(e) = self.lease_and_serve(&mut serving).await {
                tracing::warn!(error = %e, "webhook delivery round failed; retrying");
            }
            start = tokio::select! {
                _ = stop.notified() => false,
                // Leases renewed, retries come due, other instances' commits: every second.
                _ = tick.tick() => serving.woken(),
                // This process committed: every endpoint may have work now.
                Ok(()) = commits.changed() => serving.woken(),
                // An endpoint's round ended: with work left, its next starts at once.
                Some(done) = serving.tasks.join_next_with_id() => serving.ended(done),
            };
        }
        let drained = async {
            while let Some(done) = serving.tasks.join_next_with_id().await {
                serving.ended(done);
            }
        };
        if tokio::time::timeout(STOP_GRACE, drained).await.is_err() {
            serving.tasks.shutdown().await;
        }
    }

    /// Takes or renews the leases, and starts a round for each leased endpoint that has
    /// none running, while fewer than [`ENDPOINTS_AT_ONCE`] run.
    async fn lease_and_serve(&self, serving: &mut Serving) -> StoreResult<()> {
        let now = Utc::now();
        let lease_ends = now + chrono::Duration::from_std(LEASE).expect("small");
        let endpoints = self
            .store
            .lease_webhook_endpoints(&self.owner, lease_ends, now)
            .await?;
        let leased: Vec<&str> = endpoints.iter().map(|e| e.endpoint.id.as_str()).collect();
        self.paces.retain(&leased);
        serving
            .last_started
            .retain(|id, _| leased.contains(&id.as_str()));
        if !endpoints.is_empty()
            && self.reminders_due()
            && let Err(e) = self.remind().await
        {
            tracing::warn!(error = %e, "webhook reminders failed; trying again later");
        }
        let mut idle: Vec<EndpointState> = endpoints
            .into_iter()
            .filter(|e| !serving.is_running(&e.endpoint.id))
            .filter(|e| !serving.resting.contains(&e.endpoint.id))
            .collect();
        idle.sort_by_key(|e| serving.last_started.get(&e.endpoint.id).copied());
        for endpoint in idle {
            if serving.running.len() >= ENDPOINTS_AT_ONCE {
                break;
            }
            let id = endpoint.endpoint.id.clone();
            serving.last_started.insert(id.clone(), Instant::now());
            let this = self.clone();
            let woken = serving.wakes;
            let task = serving.tasks.spawn({
                let id = id.clone();
                async move {
                    let more = match this.serve_endpoint(&endpoint, lease_ends).await {
                        Ok(more) => more,
                        Err(e) => {
                            tracing::warn!(
                                webhook.endpoint = %id,
                                error = %e,
                                "webhook endpoint round failed; retrying"
                            );
                            false
                        }
                    };
                    (id, more)
                }
            });
            serving.running.insert(task.id(), (id, woken));
        }
        Ok(())
    }

    /// One endpoint's part of a round. `true` when work was left for the next.
    async fn serve_endpoint(
        &self,
        endpoint: &EndpointState,
        lease_ends: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let more = match self.fan_out(endpoint).await? {
            FannedOut::LostLease => return Ok(false),
            FannedOut::Caught => false,
            FannedOut::Behind => true,
        };
        if !self.fan_out_imports(endpoint).await? {
            return Ok(false);
        }
        Ok(self.deliver(endpoint, lease_ends).await? || more)
    }

    /// Whether a minute has passed since this instance last looked for reminders.
    fn reminders_due(&self) -> bool {
        let mut last = self.reminded.lock().unwrap_or_else(|p| p.into_inner());
        let due = last.is_none_or(|at| at.elapsed() >= REMIND_EVERY);
        if due {
            *last = Some(std::time::Instant::now());
        }
        due
    }

    /// `invoice.due_soon` for the open invoices due within the reminder days that have
    /// not been reminded of their due date: one reminder per invoice and due date (a
    /// postponed invoice is reminded again), whichever instance records it first.
    async fn remind(&self) -> StoreResult<()> {
        let wanting: Vec<_> = self
            .store
            .webhook_endpoints()
            .await?
            .into_iter()
            .filter(|e| e.enabled && e.event_types.contains(&EventType::InvoiceDueSoon))
            .collect();
        if wanting.is_empty() {
            return Ok(());
        }
        let today = (self.settings.today)();
        let until = today + chrono::Days::new(u64::from(self.settings.reminder_days));
        loop {
            let invoices = self.store.invoices_to_remind(today, until, 200).await?;
            for invoice in &invoices {
                let now = Utc::now();
                let days = (invoice.due_date - today).num_days();
                let message = messages::reminder(invoice, days, now, &self.render);
                let deliveries: Vec<WebhookDelivery> = wanting
                    .iter()
                    .map(|endpoint| message.to(&endpoint.id, now))
                    .collect();
                self.store
                    .record_reminder(&invoice.id, invoice.due_date, now, &deliveries)
                    .await?;
            }
            if invoices.len() < 200 {
                return Ok(());
            }
        }
    }

    /// `import.finished` for the imports finished since the endpoint last looked (and at
    /// least [`SETTLE`] ago, so that one finishing meanwhile is not passed over). `false`
    /// when the lease was lost.
    async fn fan_out_imports(&self, state: &EndpointState) -> StoreResult<bool> {
        if !state
            .endpoint
            .event_types
            .contains(&EventType::ImportFinished)
        {
            return Ok(true);
        }
        let corrupt = || StoreError::Corrupt(format!("imports place of {}", state.endpoint.id));
        let (at, id) = state.imports_after.split_once('|').ok_or_else(corrupt)?;
        let at = DateTime::parse_from_rfc3339(at)
            .map_err(|_| corrupt())?
            .with_timezone(&Utc);
        let now = Utc::now();
        let before = now - chrono::Duration::from_std(SETTLE).expect("small");
        let imports = self.store.finished_imports((at, id), before, 100).await?;
        let Some(last) = imports.last() else {
            return Ok(true);
        };
        let place = imports_place(last.finished_at.unwrap_or(at), &last.id);
        let deliveries: Vec<WebhookDelivery> = imports
            .iter()
            .map(|import| messages::import_finished(import, now).to(&state.endpoint.id, now))
            .collect();
        self.store
            .fan_out_webhooks(
                &state.endpoint.id,
                &self.owner,
                deliveries,
                FanOutPlace::Imports(&place),
            )
            .await
    }

    /// Turns the feed after the endpoint's position into deliveries.
    async fn fan_out(&self, state: &EndpointState) -> StoreResult<FannedOut> {
        let mut position = FeedPosition::from_text(&state.position)
            .map_err(|_| StoreError::Corrupt(format!("position of {}", state.endpoint.id)))?;
        let filter = FeedFilter {
            every_change: true,
            ..FeedFilter::default()
        };
        if self
            .store
            .pending_webhook_deliveries(&state.endpoint.id)
            .await?
            >= MAX_PENDING
        {
            // No fan-out, so no release with it: queues still move on.
            self.store.release_webhook_queue(&state.endpoint.id).await?;
            return Ok(FannedOut::Caught);
        }
        for _ in 0..PAGES_PER_ROUND {
            let page = crate::events::read_page(&self.store, &mut position, &filter).await?;
            let now = Utc::now();
            let wanted = &state.endpoint.event_types;
            let deliveries: Vec<WebhookDelivery> = page
                .events
                .iter()
                .filter(|e| EventType::of(&e.event).is_some_and(|kind| wanted.contains(&kind)))
                .filter_map(|event| messages::change(event, &self.render))
                .map(|message| message.to(&state.endpoint.id, now))
                .collect();
            let kept = self
                .store
                .fan_out_webhooks(
                    &state.endpoint.id,
                    &self.owner,
                    deliveries,
                    FanOutPlace::Feed(&position.to_text()),
                )
                .await?;
            if !kept {
                return Ok(FannedOut::LostLease);
            }
            if page.last {
                return Ok(FannedOut::Caught);
            }
        }
        Ok(FannedOut::Behind)
    }

    /// Sends what is due to the endpoint, a few at once, while the lease leaves room for
    /// a send to finish, and no further once one disabled the endpoint. `true` when more
    /// was due than a round sends.
    async fn deliver(&self, state: &EndpointState, lease_ends: DateTime<Utc>) -> StoreResult<bool> {
        // Read again: the secrets sign as they are now (a rotation during the round
        // counts), and an endpoint disabled or deleted meanwhile gets nothing more.
        let Some(state) = self
            .store
            .webhook_endpoint_state(&state.endpoint.id)
            .await?
        else {
            return Ok(false);
        };
        if !state.endpoint.enabled {
            return Ok(false);
        }
        let state = &state;
        // Paced, a round takes no more than its pace sends in [`PACED_ROUND`], so that it
        // ends well inside the lease (and a stop waits for little).
        let limit = match self.settings.rate {
            0 => DELIVERIES_PER_ROUND,
            rate => DELIVERIES_PER_ROUND.min(u64::from(rate) * PACED_ROUND.as_secs()),
        };
        let due = self
            .store
            .due_webhook_deliveries(&state.endpoint.id, Utc::now(), limit)
            .await?;
        let full = due.len() as u64 == limit;
        let last_start =
            lease_ends - chrono::Duration::from_std(SEND_TIMEOUT + RECORD_MARGIN).expect("small");
        let stopped = std::sync::atomic::AtomicBool::new(false);
        let results: Vec<StoreResult<Option<(WebhookAttempt, AttemptOutcome)>>> =
            futures_util::stream::iter(due)
                .map(|delivery| {
                    let stopped = &stopped;
                    async move {
                        use std::sync::atomic::Ordering::Relaxed;
                        let go = || {
                            !stopped.load(Relaxed)
                                && !self.stopping.load(Relaxed)
                                && Utc::now() <= last_start
                        };
                        if !go() {
                            return Ok(None);
                        }
                        self.paces.wait(&state.endpoint.id).await;
                        if !go() {
                            return Ok(None);
                        }
                        let (attempt, outcome) = self.attempt(state, delivery).await?;
                        if matches!(outcome, AttemptOutcome::GiveUp { disable: Some(_) }) {
                            stopped.store(true, Relaxed);
                        }
                        Ok(Some((attempt, outcome)))
                    }
                })
                .buffer_unordered(self.settings.concurrency.max(1))
                .collect()
                .await;
        // One transaction for the batch: a commit per attempt was most of a delivery's
        // cost. An instance that dies before it sends the batch again (at least once).
        let mut attempts = Vec::with_capacity(results.len());
        for result in results {
            match result {
                Ok(Some(done)) => attempts.push(done),
                Ok(None) => {}
                Err(e) => tracing::warn!(
                    webhook.endpoint = %state.endpoint.id,
                    error = %e,
                    "a webhook delivery could not be attempted"
                ),
            }
        }
        let notices = match attempts
            .iter()
            .find_map(|(attempt, outcome)| match outcome {
                AttemptOutcome::GiveUp {
                    disable: Some(reason),
                } => Some((reason, attempt.attempted_at)),
                _ => None,
            }) {
            Some((reason, at)) => self.disabled_notices(state, reason, at).await?,
            None => vec![],
        };
        let renewed = Utc::now() + chrono::Duration::from_std(LEASE).expect("small");
        self.store
            .record_webhook_attempts(
                &attempts,
                &state.endpoint.id,
                (&self.owner, renewed),
                &notices,
            )
            .await?;
        Ok(full && !stopped.into_inner())
    }

    /// `webhook_endpoint.disabled` to the other enabled endpoints that want it.
    async fn disabled_notices(
        &self,
        state: &EndpointState,
        reason: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        let message = messages::endpoint_disabled(&state.endpoint, reason, at);
        Ok(self
            .store
            .webhook_endpoints()
            .await?
            .iter()
            .filter(|e| e.id != state.endpoint.id && e.enabled)
            .filter(|e| e.event_types.contains(&EventType::EndpointDisabled))
            .map(|e| message.to(&e.id, at))
            .collect())
    }

    /// One attempt at a delivery, and what follows from it (recorded by the caller).
    async fn attempt(
        &self,
        state: &EndpointState,
        delivery: WebhookDelivery,
    ) -> StoreResult<(WebhookAttempt, AttemptOutcome)> {
        let now = Utc::now();
        let secrets = signing_secrets(state, now)?;
        let secrets: Vec<&SigningSecret> = secrets.iter().collect();
        let timestamp = now.timestamp();
        let span = tracing::info_span!(
            "webhook delivery",
            otel.kind = "client",
            webhook.endpoint = %state.endpoint.id,
            webhook.id = %delivery.message_id,
            webhook.attempt = delivery.attempts + 1,
            http.response.status_code = tracing::field::Empty,
        );
        let mut headers = vec![
            ("webhook-id", delivery.message_id.clone()),
            ("webhook-timestamp", timestamp.to_string()),
            (
                "webhook-signature",
                signature_header(&secrets, &delivery.message_id, timestamp, &delivery.payload),
            ),
        ];
        // The receiver continues the delivery's trace (W3C trace context).
        if let Some(traceparent) = span.in_scope(crate::telemetry::traces::traceparent) {
            headers.push(("traceparent", traceparent));
        }
        let sent = self
            .settings
            .sender
            .send(&state.endpoint.url, &headers, delivery.payload.clone())
            .instrument(span.clone())
            .await;
        if let Some(status) = sent.status {
            span.record("http.response.status_code", i64::from(status));
        }
        let attempted_at = Utc::now();
        let outcome = outcome(&delivery, &sent, attempted_at);
        let counted = match &outcome {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::Retry(_) => "retry",
            AttemptOutcome::GiveUp { .. } => "gave_up",
        };
        self.settings
            .metrics
            .webhook_attempt(&state.endpoint.id, counted);
        if let AttemptOutcome::GiveUp {
            disable: Some(reason),
        } = &outcome
        {
            // The host only: a URL's path and query often carry a token.
            let host = url::Url::parse(&state.endpoint.url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default();
            tracing::warn!(
                webhook.endpoint = %state.endpoint.id,
                webhook.host = %host,
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
        Ok((attempt, outcome))
    }
}

/// An endpoint's place among finished imports: after this finish time and id.
pub fn imports_place(at: DateTime<Utc>, id: &str) -> String {
    format!(
        "{}|{id}",
        at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    )
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
    let age = (now - delivery.tried_since()).to_std().unwrap_or_default();
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
