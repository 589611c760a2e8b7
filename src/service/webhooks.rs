//! Webhook endpoints, managed by administrators: their URLs are checked against the
//! allow-list when registered (and every address again when connected to, by
//! `webhooks::Sender`); their secrets are shown once, at creation and rotation. Delivery
//! itself is `crate::webhooks`.

use chrono::{DateTime, SubsecRound, Utc};

use super::{AppError, UseCases};
use crate::auth::Principal;
use crate::domain::{
    EventType, FeedPosition, Id, Refusal, RefusalCode, SigningSecret, WebhookAttempt,
    WebhookDelivery, WebhookEndpoint, check_url,
};

/// The longest description kept.
pub const MAX_WEBHOOK_DESCRIPTION: usize = 500;
/// How long the secret before a rotation still signs, beside the new one.
pub const ROTATION_GRACE: chrono::Duration = chrono::Duration::hours(24);

/// An endpoint and the secret it signs with, which nothing shows again.
pub struct NewSecret {
    pub endpoint: WebhookEndpoint,
    pub secret: SigningSecret,
}

/// What an update changes; `None` leaves a setting as it is.
#[derive(Default)]
pub struct EndpointChange {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub description: Option<Option<String>>,
    pub enabled: Option<bool>,
}

type Refusable<T> = Result<Result<T, Refusal>, AppError>;

fn admins(who: &Principal) -> Result<(), AppError> {
    Ok(who.require_admin("manage webhooks")?)
}

fn event_types(names: &[String]) -> Result<Vec<EventType>, Refusal> {
    if names.is_empty() {
        return Err(Refusal::of(
            RefusalCode::InvalidInput,
            "eventTypes",
            "name at least one event type",
        ));
    }
    let mut types = Vec::new();
    for name in names {
        let kind = EventType::parse(name.trim()).ok_or_else(|| {
            let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
            Refusal::of(
                RefusalCode::InvalidInput,
                "eventTypes",
                format!("`{name}` is not an event type: {}", known.join(", ")),
            )
        })?;
        if !types.contains(&kind) {
            types.push(kind);
        }
    }
    Ok(types)
}

fn description(text: Option<String>) -> Result<Option<String>, Refusal> {
    let text = text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    match &text {
        Some(t) if t.chars().count() > MAX_WEBHOOK_DESCRIPTION => Err(Refusal::of(
            RefusalCode::TooLong,
            "description",
            format!("at most {MAX_WEBHOOK_DESCRIPTION} characters"),
        )),
        Some(t) if t.chars().any(char::is_control) => Err(Refusal::of(
            RefusalCode::InvalidInput,
            "description",
            "one line of text, without control characters",
        )),
        _ => Ok(text),
    }
}

fn no_endpoint(id: &Id) -> Refusal {
    Refusal::of(
        RefusalCode::NotFound,
        "id",
        format!("no webhook endpoint `{id}`"),
    )
}

impl UseCases {
    fn checked_url(&self, url: &str) -> Result<String, Refusal> {
        check_url(url.trim(), &self.settings().webhook_allow)
            .map(|u| u.to_string())
            .map_err(|e| Refusal::of(RefusalCode::InvalidInput, "url", e))
    }

    /// Registers an endpoint: it receives the events committed from now on.
    pub async fn create_webhook_endpoint(
        &self,
        who: &Principal,
        url: &str,
        types: &[String],
        text: Option<String>,
    ) -> Refusable<NewSecret> {
        admins(who)?;
        let checked = (|| {
            Ok((
                self.checked_url(url)?,
                event_types(types)?,
                description(text)?,
            ))
        })();
        let (url, event_types, description) = match checked {
            Ok(parts) => parts,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let now = Utc::now().trunc_subsecs(6);
        let endpoint = WebhookEndpoint {
            id: format!("we_{}", uuid::Uuid::new_v4().simple()),
            url,
            description,
            event_types,
            enabled: true,
            disabled_reason: None,
            created_at: now,
            updated_at: now,
        };
        let position = FeedPosition {
            seen: self.store.feed_snapshot().await?,
            reading: None,
        };
        let secret = SigningSecret::generate();
        let imports_after = crate::webhooks::imports_place(now, "");
        self.store
            .insert_webhook_endpoint(
                &endpoint,
                secret.as_str(),
                &position.to_text(),
                &imports_after,
            )
            .await?;
        Ok(Ok(NewSecret { endpoint, secret }))
    }

    /// Every endpoint (administrators only).
    pub async fn webhook_endpoints(
        &self,
        who: &Principal,
    ) -> Result<Vec<WebhookEndpoint>, AppError> {
        admins(who)?;
        Ok(self.store.webhook_endpoints().await?)
    }

    /// Changes an endpoint's URL, event types, description or whether it is enabled
    /// (enabling one that failed clears why it was disabled; what waited is sent).
    pub async fn update_webhook_endpoint(
        &self,
        who: &Principal,
        id: &Id,
        change: EndpointChange,
    ) -> Refusable<WebhookEndpoint> {
        admins(who)?;
        let Some(mut endpoint) = self.store.webhook_endpoint(id).await? else {
            return Ok(Err(no_endpoint(id)));
        };
        let applied = (|| {
            if let Some(url) = &change.url {
                endpoint.url = self.checked_url(url)?;
            }
            if let Some(types) = &change.event_types {
                endpoint.event_types = event_types(types)?;
            }
            if let Some(text) = change.description {
                endpoint.description = description(text)?;
            }
            Ok(())
        })();
        if let Err(refusal) = applied {
            return Ok(Err(refusal));
        }
        if let Some(enabled) = change.enabled {
            endpoint.disabled_reason = (!enabled).then(|| format!("disabled by {}", who.subject()));
            endpoint.enabled = enabled;
        }
        endpoint.updated_at = Utc::now().trunc_subsecs(6);
        if !self.store.update_webhook_endpoint(&endpoint).await? {
            return Ok(Err(no_endpoint(id)));
        }
        Ok(Ok(endpoint))
    }

    /// Deletes an endpoint with its deliveries.
    pub async fn delete_webhook_endpoint(&self, who: &Principal, id: &Id) -> Refusable<()> {
        admins(who)?;
        if self.store.delete_webhook_endpoint(id).await? {
            Ok(Ok(()))
        } else {
            Ok(Err(no_endpoint(id)))
        }
    }

    /// A new signing secret; the previous one signs too for [`ROTATION_GRACE`], so that
    /// receivers can switch without losing a message.
    pub async fn rotate_webhook_secret(&self, who: &Principal, id: &Id) -> Refusable<NewSecret> {
        admins(who)?;
        let now = Utc::now().trunc_subsecs(6);
        let secret = SigningSecret::generate();
        if !self
            .store
            .rotate_webhook_secret(id, secret.as_str(), now + ROTATION_GRACE, now)
            .await?
        {
            return Ok(Err(no_endpoint(id)));
        }
        let endpoint = self
            .store
            .webhook_endpoint(id)
            .await?
            .ok_or_else(|| AppError::Internal("a rotated endpoint vanished".into()))?;
        Ok(Ok(NewSecret { endpoint, secret }))
    }

    /// An endpoint's deliveries, newest first, with every attempt at each.
    pub async fn webhook_deliveries(
        &self,
        who: &Principal,
        endpoint: &Id,
        after: Option<&Id>,
        limit: u64,
    ) -> Result<Vec<(WebhookDelivery, Vec<WebhookAttempt>)>, AppError> {
        admins(who)?;
        let deliveries = self
            .store
            .webhook_deliveries(endpoint, after.map(Id::as_str), limit)
            .await?;
        let ids: Vec<String> = deliveries.iter().map(|d| d.id.clone()).collect();
        let mut attempts = self.store.webhook_attempts(&ids).await?;
        Ok(deliveries
            .into_iter()
            .map(|delivery| {
                let (mine, rest) = attempts
                    .drain(..)
                    .partition(|a: &WebhookAttempt| a.delivery_id == delivery.id);
                attempts = rest;
                (delivery, mine)
            })
            .collect())
    }

    /// Sends a delivery again, now, with the same `webhook-id` (its endpoint must be
    /// enabled for it to go).
    pub async fn redeliver_webhook(&self, who: &Principal, id: &Id) -> Refusable<WebhookDelivery> {
        admins(who)?;
        let now: DateTime<Utc> = Utc::now().trunc_subsecs(6);
        if self.store.redeliver_webhook(id, now).await?.is_none() {
            return Ok(Err(Refusal::of(
                RefusalCode::NotFound,
                "deliveryId",
                format!("no webhook delivery `{id}`"),
            )));
        }
        let delivery = self
            .store
            .webhook_delivery(id)
            .await?
            .ok_or_else(|| AppError::Internal("a redelivered delivery vanished".into()))?;
        Ok(Ok(delivery))
    }

    /// Deliveries pending on every instance, and how long the oldest has waited (seconds).
    pub async fn webhook_backlog(&self) -> Result<(u64, f64), AppError> {
        Ok(self.store.webhook_backlog(Utc::now()).await?)
    }
}
