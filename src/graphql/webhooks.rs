//! Webhooks over GraphQL: endpoints (created with a secret shown this once, updated,
//! deleted, their secret rotated), their deliveries with every attempt, and redelivery.
//! Administrators only.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::error::{GqlResult, UserError};
use super::principal;
use crate::domain::{self, Id, Refusal};
use crate::service::{EndpointChange, NewSecret, UseCases};

pub struct WebhookEndpoint(domain::WebhookEndpoint);

/// A URL that receives signed webhooks (Standard Webhooks: `webhook-id`,
/// `webhook-timestamp`, `webhook-signature` headers) for the event types it names.
#[Object]
impl WebhookEndpoint {
    /// The endpoint's id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Where deliveries are POSTed.
    async fn url(&self) -> &str {
        &self.0.url
    }

    /// What it is for, as its creator wrote.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// The event types it receives: `invoice.created`, `invoice.paid`,
    /// `invoice.cancelled`, `invoice.overdue`, `invoice.reopened`, `invoice.changed`,
    /// `invoice.due_soon`, `import.finished`, and `webhook_endpoint.disabled` (another
    /// endpoint was disabled: for operations).
    async fn event_types(&self) -> Vec<&'static str> {
        self.0.event_types.iter().map(|t| t.as_str()).collect()
    }

    /// Whether deliveries are made to it. A disabled endpoint keeps its place: what
    /// happens meanwhile is delivered once it is enabled again.
    async fn enabled(&self) -> bool {
        self.0.enabled
    }

    /// Why it is disabled (by an admin, a `410 Gone`, or days of failures); null when
    /// enabled.
    async fn disabled_reason(&self) -> Option<&str> {
        self.0.disabled_reason.as_deref()
    }

    /// When it was registered.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When its settings or secret last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// One try at a delivery.
#[derive(SimpleObject)]
pub struct WebhookAttempt {
    /// When it was made.
    attempted_at: DateTime<Utc>,
    /// The receiver's HTTP status; null when no answer came.
    status_code: Option<i32>,
    /// How long it took, in milliseconds.
    duration_ms: i64,
    /// The start of the receiver's answer (at most 1 KiB).
    response: Option<String>,
    /// Why no answer came: refused before connecting, timed out, could not connect.
    error: Option<String>,
}

/// One message to one endpoint.
#[derive(SimpleObject)]
pub struct WebhookDelivery {
    /// The delivery's id, for `redeliverWebhook`.
    id: ID,
    /// The `webhook-id` header: the same on every attempt, for the receiver to dedupe on.
    message_id: String,
    /// The event type.
    event_type: String,
    /// The invoice it is about; null for `import.finished`.
    invoice_id: Option<ID>,
    /// The event's sequence: an invoice's deliveries go out in this order.
    sequence: String,
    /// The body, JSON, as signed.
    payload: String,
    /// `pending`, `queued` (waiting behind an earlier delivery of the same invoice),
    /// `delivered` or `failed` (given up).
    state: String,
    /// When the next try is due, while pending.
    next_attempt_at: DateTime<Utc>,
    /// When it was made from the event.
    created_at: DateTime<Utc>,
    /// When the receiver took it.
    delivered_at: Option<DateTime<Utc>>,
    /// Every try, oldest first.
    attempts: Vec<WebhookAttempt>,
}

impl WebhookDelivery {
    fn new(delivery: domain::WebhookDelivery, attempts: Vec<domain::WebhookAttempt>) -> Self {
        WebhookDelivery {
            id: ID(delivery.id),
            message_id: delivery.message_id,
            event_type: delivery.event_type,
            invoice_id: delivery.invoice_id.map(ID),
            sequence: delivery.seq.to_string(),
            payload: delivery.payload,
            state: delivery.state.as_str().to_owned(),
            next_attempt_at: delivery.next_attempt_at,
            created_at: delivery.created_at,
            delivered_at: delivery.delivered_at,
            attempts: attempts
                .into_iter()
                .map(|a| WebhookAttempt {
                    attempted_at: a.attempted_at,
                    status_code: a.status_code,
                    duration_ms: a.duration_ms,
                    response: a.response,
                    error: a.error,
                })
                .collect(),
        }
    }
}

/// A new endpoint.
#[derive(InputObject)]
pub struct CreateWebhookEndpointInput {
    /// An `https` URL (plain `http` only for hosts in `CREDIT_GATEWAY_WEBHOOK_ALLOW_HOSTS`).
    url: String,
    /// The event types it receives (see `WebhookEndpoint.eventTypes`).
    event_types: Vec<String>,
    /// What it is for (at most 500 characters).
    description: Option<String>,
}

/// The endpoint and its secret.
#[derive(SimpleObject)]
pub struct WebhookSecretPayload {
    /// The endpoint; null when refused.
    webhook_endpoint: Option<WebhookEndpoint>,
    /// The signing secret, `whsec_…`: shown this once and never again. Null when refused.
    secret: Option<String>,
    /// Why nothing was done; empty when it was.
    user_errors: Vec<UserError>,
}

impl From<Result<NewSecret, Refusal>> for WebhookSecretPayload {
    fn from(result: Result<NewSecret, Refusal>) -> Self {
        match result {
            Ok(new) => WebhookSecretPayload {
                webhook_endpoint: Some(WebhookEndpoint(new.endpoint)),
                secret: Some(new.secret.as_str().to_owned()),
                user_errors: vec![],
            },
            Err(refusal) => WebhookSecretPayload {
                webhook_endpoint: None,
                secret: None,
                user_errors: vec![refusal.into()],
            },
        }
    }
}

/// What to change on an endpoint; a field left out stays as it is.
#[derive(InputObject)]
pub struct UpdateWebhookEndpointInput {
    /// The endpoint.
    id: ID,
    /// A new URL.
    url: Option<String>,
    /// New event types.
    event_types: Option<Vec<String>>,
    /// A new description; null clears it.
    description: MaybeUndefined<String>,
    /// Enable or disable it.
    enabled: Option<bool>,
}

/// The changed endpoint.
#[derive(SimpleObject)]
pub struct WebhookEndpointPayload {
    /// The endpoint as it is now; null when refused.
    webhook_endpoint: Option<WebhookEndpoint>,
    /// Why nothing changed; empty when it did.
    user_errors: Vec<UserError>,
}

/// An endpoint, by id.
#[derive(InputObject)]
pub struct WebhookEndpointIdInput {
    /// The endpoint's id.
    id: ID,
}

/// The deleted endpoint.
#[derive(SimpleObject)]
pub struct DeleteWebhookEndpointPayload {
    /// The id of the endpoint deleted; null when refused.
    deleted_id: Option<ID>,
    /// Why nothing was deleted; empty when it was.
    user_errors: Vec<UserError>,
}

/// A delivery to send again.
#[derive(InputObject)]
pub struct RedeliverWebhookInput {
    /// The delivery's id (`WebhookDelivery.id`).
    delivery_id: ID,
}

/// The delivery, due again now.
#[derive(SimpleObject)]
pub struct RedeliverWebhookPayload {
    /// The delivery; null when refused.
    webhook_delivery: Option<WebhookDelivery>,
    /// Why nothing was sent again; empty when it was.
    user_errors: Vec<UserError>,
}

fn parsed(id: ID, field: &'static str) -> Result<Id, Refusal> {
    Id::parse(id.0).map_err(|e| {
        let mut refusal = Refusal::invalid_id(e);
        refusal.field = Some(field);
        refusal
    })
}

#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Registers a webhook endpoint: it receives the events committed from now on. The
    /// signing secret is in this answer and nowhere else.
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint.")] input: CreateWebhookEndpointInput,
    ) -> GqlResult<WebhookSecretPayload> {
        let created = ctx
            .data_unchecked::<UseCases>()
            .create_webhook_endpoint(
                principal(ctx)?,
                &input.url,
                &input.event_types,
                input.description,
            )
            .await?;
        Ok(created.into())
    }

    /// Changes an endpoint's URL, event types, description, or whether it is enabled.
    async fn update_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint and what to change.")] input: UpdateWebhookEndpointInput,
    ) -> GqlResult<WebhookEndpointPayload> {
        let who = principal(ctx)?;
        let change = EndpointChange {
            url: input.url,
            event_types: input.event_types,
            description: match input.description {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(text) => Some(Some(text)),
            },
            enabled: input.enabled,
        };
        let updated = match parsed(input.id, "id") {
            Ok(id) => {
                ctx.data_unchecked::<UseCases>()
                    .update_webhook_endpoint(who, &id, change)
                    .await?
            }
            Err(refusal) => Err(refusal),
        };
        Ok(match updated {
            Ok(endpoint) => WebhookEndpointPayload {
                webhook_endpoint: Some(WebhookEndpoint(endpoint)),
                user_errors: vec![],
            },
            Err(refusal) => WebhookEndpointPayload {
                webhook_endpoint: None,
                user_errors: vec![refusal.into()],
            },
        })
    }

    /// Deletes an endpoint with its deliveries.
    async fn delete_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint.")] input: WebhookEndpointIdInput,
    ) -> GqlResult<DeleteWebhookEndpointPayload> {
        let who = principal(ctx)?;
        let deleted = match parsed(input.id, "id") {
            Ok(id) => ctx
                .data_unchecked::<UseCases>()
                .delete_webhook_endpoint(who, &id)
                .await?
                .map(|()| id),
            Err(refusal) => Err(refusal),
        };
        Ok(match deleted {
            Ok(id) => DeleteWebhookEndpointPayload {
                deleted_id: Some(ID(id.into_string())),
                user_errors: vec![],
            },
            Err(refusal) => DeleteWebhookEndpointPayload {
                deleted_id: None,
                user_errors: vec![refusal.into()],
            },
        })
    }

    /// A new signing secret, shown in this answer only; the previous one keeps signing
    /// beside it for 24 hours, so that receivers can switch without losing a message.
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint.")] input: WebhookEndpointIdInput,
    ) -> GqlResult<WebhookSecretPayload> {
        let who = principal(ctx)?;
        let rotated = match parsed(input.id, "id") {
            Ok(id) => {
                ctx.data_unchecked::<UseCases>()
                    .rotate_webhook_secret(who, &id)
                    .await?
            }
            Err(refusal) => Err(refusal),
        };
        Ok(rotated.into())
    }

    /// Sends a delivery again now, with the same `webhook-id`: `pending`, or `queued`
    /// behind what its invoice has outstanding (an invoice's messages go one at a time).
    /// A queued delivery is left as it is.
    async fn redeliver_webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The delivery.")] input: RedeliverWebhookInput,
    ) -> GqlResult<RedeliverWebhookPayload> {
        let who = principal(ctx)?;
        let again = match parsed(input.delivery_id, "deliveryId") {
            Ok(id) => {
                ctx.data_unchecked::<UseCases>()
                    .redeliver_webhook(who, &id)
                    .await?
            }
            Err(refusal) => Err(refusal),
        };
        Ok(match again {
            Ok(delivery) => RedeliverWebhookPayload {
                webhook_delivery: Some(WebhookDelivery::new(delivery, vec![])),
                user_errors: vec![],
            },
            Err(refusal) => RedeliverWebhookPayload {
                webhook_delivery: None,
                user_errors: vec![refusal.into()],
            },
        })
    }
}

#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// Every webhook endpoint, oldest first (administrators only).
    async fn webhook_endpoints(&self, ctx: &Context<'_>) -> GqlResult<Vec<WebhookEndpoint>> {
        let endpoints = ctx
            .data_unchecked::<UseCases>()
            .webhook_endpoints(principal(ctx)?)
            .await?;
        Ok(endpoints.into_iter().map(WebhookEndpoint).collect())
    }

    /// An endpoint's deliveries, newest first, each with its attempts: up to `first` (at
    /// most 100) after the delivery `after` (administrators only).
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint.")] endpoint_id: ID,
        #[graphql(default = 20, desc = "How many deliveries, at most 100.")] first: i32,
        #[graphql(desc = "Only deliveries older than the delivery with this id.")] after: Option<
            ID,
        >,
    ) -> GqlResult<Vec<WebhookDelivery>> {
        let who = principal(ctx)?;
        let endpoint = Id::parse(endpoint_id.0)?;
        let after = after.map(|id| Id::parse(id.0)).transpose()?;
        let limit = first.clamp(0, 100) as u64;
        let deliveries = ctx
            .data_unchecked::<UseCases>()
            .webhook_deliveries(who, &endpoint, after.as_ref(), limit)
            .await?;
        Ok(deliveries
            .into_iter()
            .map(|(delivery, attempts)| WebhookDelivery::new(delivery, attempts))
            .collect())
    }
}
