//! Webhook endpoints, their deliveries and attempts. An endpoint's fan-out (the
//! deliveries made from a page of the event feed, and its new place in the feed) is one
//! transaction, made only by the instance that holds its lease: an event becomes a
//! delivery once, whatever crashes in between.

use chrono::NaiveDate;
use chrono::{DateTime, Utc};
use entity::{invoice, webhook_attempt, webhook_delivery, webhook_endpoint, webhook_reminder};
use std::collections::HashSet;

use sea_orm::sea_query::{Expr, ExprTrait, Query, SimpleExpr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Statement, TransactionTrait,
};

use super::{Store, StoreError, StoreResult};
use crate::domain::{
    DeliveryState, EventType, Invoice, InvoiceStatus, WebhookAttempt, WebhookDelivery,
    WebhookEndpoint,
};

use webhook_delivery::Column as D;
use webhook_endpoint::Column as E;

/// An endpoint with what only the dispatcher reads: its secrets and feed position (no
/// `Debug`: it holds secrets).
#[derive(Clone)]
pub struct EndpointState {
    pub endpoint: WebhookEndpoint,
    pub secret: String,
    pub previous_secret: Option<(String, DateTime<Utc>)>,
    pub position: String,
    /// The last finished import considered: `finished_at|id`.
    pub imports_after: String,
}

/// Where a fan-out leaves an endpoint: its place in the event feed, or among finished
/// imports.
#[derive(Clone, Copy, Debug)]
pub enum FanOutPlace<'a> {
    Feed(&'a str),
    Imports(&'a str),
}

/// What happened to one attempt at a delivery.
#[derive(Clone, Debug)]
pub enum AttemptOutcome {
    Delivered,
    /// Try again at this time.
    Retry(DateTime<Utc>),
    /// Given up: the endpoint is disabled with this reason, when one is given.
    GiveUp {
        disable: Option<String>,
    },
}

fn endpoint(row: webhook_endpoint::Model) -> StoreResult<EndpointState> {
    let names: Vec<String> = serde_json::from_str(&row.event_types)
        .map_err(|e| StoreError::Corrupt(format!("endpoint {} event types: {e}", row.id)))?;
    let event_types = names
        .iter()
        .map(|n| {
            EventType::parse(n)
                .ok_or_else(|| StoreError::Corrupt(format!("event type `{n}` of {}", row.id)))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(EndpointState {
        endpoint: WebhookEndpoint {
            id: row.id,
            url: row.url,
            description: row.description,
            event_types,
            enabled: row.enabled,
            disabled_reason: row.disabled_reason,
            created_at: row.created_at,
            updated_at: row.updated_at,
        },
        secret: row.secret,
        previous_secret: row.previous_secret.zip(row.previous_secret_until),
        position: row.position,
        imports_after: row.imports_after,
    })
}

fn delivery(row: webhook_delivery::Model) -> StoreResult<WebhookDelivery> {
    Ok(WebhookDelivery {
        state: DeliveryState::parse(&row.state)
            .ok_or_else(|| StoreError::Corrupt(format!("delivery state `{}`", row.state)))?,
        id: row.id,
        endpoint_id: row.endpoint_id,
        message_id: row.message_id,
        event_type: row.event_type,
        invoice_id: row.invoice_id,
        seq: row.seq,
        payload: row.payload,
        attempts: row.attempts,
        next_attempt_at: row.next_attempt_at,
        created_at: row.created_at,
        delivered_at: row.delivered_at,
        pending_since: row.pending_since,
    })
}

/// Writes deliveries, once each: one already made from the same message is left as it is.
/// In statements that fit one socket write (a payload is a kilobyte or two: 200 in one
/// statement waited 40 ms a time on PostgreSQL, see `store::WIRE_BUDGET`).
async fn insert_deliveries(
    txn: &sea_orm::DatabaseTransaction,
    deliveries: &[WebhookDelivery],
) -> StoreResult<()> {
    for chunk in super::wire_chunks(deliveries, |d| d.payload.len() + 160) {
        let rows = chunk.iter().map(|d| webhook_delivery::ActiveModel {
            id: Set(d.id.clone()),
            endpoint_id: Set(d.endpoint_id.clone()),
            message_id: Set(d.message_id.clone()),
            event_type: Set(d.event_type.clone()),
            invoice_id: Set(d.invoice_id.clone()),
            seq: Set(d.seq),
            payload: Set(d.payload.clone()),
            state: Set(d.state.as_str().to_owned()),
            attempts: Set(d.attempts),
            next_attempt_at: Set(d.next_attempt_at),
            created_at: Set(d.created_at),
            delivered_at: Set(d.delivered_at),
            pending_since: Set(d.pending_since),
        });
        webhook_delivery::Entity::insert_many(rows)
            .on_conflict_do_nothing_on([D::EndpointId, D::MessageId])
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// Not settled yet: pending or queued.
fn outstanding() -> SimpleExpr {
    D::State.is_in(DeliveryState::OUTSTANDING.map(DeliveryState::as_str))
}

/// An invoice's messages go out one at a time, in commit order: a delivery of a change
/// whose invoice has one outstanding for the endpoint (or earlier in `deliveries`, which
/// are in commit order) is made queued behind it; [`release_queued`] makes it pending when
/// the one before is settled. Messages not made from changes (reminders, imports) take no
/// part. One query for the batch, whatever its length.
async fn queue_behind_earlier(
    txn: &sea_orm::DatabaseTransaction,
    endpoint_id: &str,
    deliveries: &mut [WebhookDelivery],
) -> StoreResult<()> {
    let ordered = |d: &WebhookDelivery| d.seq > 0 && d.invoice_id.is_some();
    let invoices: Vec<String> = deliveries
        .iter()
        .filter(|d| ordered(d))
        .filter_map(|d| d.invoice_id.clone())
        .collect();
    if invoices.is_empty() {
        return Ok(());
    }
    let backend = txn.get_database_backend();
    let mut busy: HashSet<String> = webhook_delivery::Entity::find()
        .select_only()
        .column(D::InvoiceId)
        .distinct()
        .filter(D::EndpointId.eq(endpoint_id))
        .filter(outstanding())
        .filter(D::Seq.gt(0))
        .filter(super::lists::is_one_of(backend, "invoice_id", invoices))
        .into_tuple::<Option<String>>()
        .all(txn)
        .await?
        .into_iter()
        .flatten()
        .collect();
    for delivery in deliveries.iter_mut().filter(|d| ordered(d)) {
        let invoice = delivery
            .invoice_id
            .clone()
            .expect("ordered deliveries have one");
        if !busy.insert(invoice) {
            delivery.state = DeliveryState::Queued;
        }
    }
    Ok(())
}

/// The next queued delivery of each invoice that has none pending becomes pending, due
/// now. Run after deliveries are settled and on every fan-out, so that a queue left behind
/// (a settlement recorded by an instance that had lost the lease, say) moves on anyway. A
/// read only when the endpoint has none queued.
async fn release_queued(
    txn: &sea_orm::DatabaseTransaction,
    endpoint_id: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let queued: Option<String> = webhook_delivery::Entity::find()
        .select_only()
        .column(D::Id)
        .filter(D::EndpointId.eq(endpoint_id))
        .filter(D::State.eq(DeliveryState::Queued.as_str()))
        .into_tuple()
        .one(txn)
        .await?;
    if queued.is_none() {
        return Ok(());
    }
    let backend = txn.get_database_backend();
    let [since, due, endpoint] = match backend {
        DbBackend::Postgres => ["$1", "$2", "$3"],
        _ => ["?", "?", "?"],
    };
    let sql = format!(
        "UPDATE webhook_deliveries SET state = 'pending', pending_since = {since}, \
           next_attempt_at = {due} \
         WHERE id IN ( \
           SELECT (SELECT q.id FROM webhook_deliveries q \
                   WHERE q.endpoint_id = s.endpoint_id AND q.invoice_id = s.invoice_id \
                     AND q.state = 'queued' ORDER BY q.seq LIMIT 1) \
           FROM (SELECT DISTINCT endpoint_id, invoice_id FROM webhook_deliveries \
                 WHERE endpoint_id = {endpoint} AND state = 'queued') s \
           WHERE NOT EXISTS (SELECT 1 FROM webhook_deliveries p \
                   WHERE p.endpoint_id = s.endpoint_id AND p.invoice_id = s.invoice_id \
                     AND p.state = 'pending' AND p.seq > 0))"
    );
    txn.execute_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [now.into(), now.into(), endpoint_id.into()],
    ))
    .await?;
    Ok(())
}

fn types_json(types: &[EventType]) -> String {
    serde_json::to_string(&types.iter().map(|t| t.as_str()).collect::<Vec<_>>())
        .expect("strings serialize")
}

impl Store {
    pub async fn insert_webhook_endpoint(
        &self,
        new: &WebhookEndpoint,
        secret: &str,
        position: &str,
        imports_after: &str,
    ) -> StoreResult<()> {
        webhook_endpoint::Entity::insert(webhook_endpoint::ActiveModel {
            id: Set(new.id.clone()),
            url: Set(new.url.clone()),
            description: Set(new.description.clone()),
            event_types: Set(types_json(&new.event_types)),
            enabled: Set(new.enabled),
            disabled_reason: Set(None),
            secret: Set(secret.to_owned()),
            previous_secret: Set(None),
            previous_secret_until: Set(None),
            position: Set(position.to_owned()),
            imports_after: Set(imports_after.to_owned()),
            lease_owner: Set(None),
            lease_until: Set(None),
            created_at: Set(new.created_at),
            updated_at: Set(new.updated_at),
        })
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }

    /// Every endpoint, oldest first.
    pub async fn webhook_endpoints(&self) -> StoreResult<Vec<WebhookEndpoint>> {
        webhook_endpoint::Entity::find()
            .order_by_asc(E::CreatedAt)
            .order_by_asc(E::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| endpoint(row).map(|state| state.endpoint))
            .collect()
    }

    pub async fn webhook_endpoint(&self, id: &str) -> StoreResult<Option<WebhookEndpoint>> {
        Ok(self
            .webhook_endpoint_state(id)
            .await?
            .map(|state| state.endpoint))
    }

    /// An endpoint with its secrets and places, as the dispatcher reads it.
    pub async fn webhook_endpoint_state(&self, id: &str) -> StoreResult<Option<EndpointState>> {
        webhook_endpoint::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(endpoint)
            .transpose()
    }

    /// Writes an endpoint's settings (not its secret, position or lease).
    pub async fn update_webhook_endpoint(&self, changed: &WebhookEndpoint) -> StoreResult<bool> {
        let updated = webhook_endpoint::Entity::update_many()
            .col_expr(E::Url, Expr::value(changed.url.clone()))
            .col_expr(E::Description, Expr::value(changed.description.clone()))
            .col_expr(E::EventTypes, Expr::value(types_json(&changed.event_types)))
            .col_expr(E::Enabled, Expr::value(changed.enabled))
            .col_expr(
                E::DisabledReason,
                Expr::value(changed.disabled_reason.clone()),
            )
            .col_expr(E::UpdatedAt, Expr::value(changed.updated_at))
            .filter(E::Id.eq(changed.id.as_str()))
            .exec(&self.db)
            .await?;
        Ok(updated.rows_affected == 1)
    }

    /// Deletes an endpoint with its deliveries and their attempts.
    pub async fn delete_webhook_endpoint(&self, id: &str) -> StoreResult<bool> {
        let txn = self.db.begin().await?;
        let deliveries = Query::select()
            .column(D::Id)
            .from(webhook_delivery::Entity)
            .and_where(D::EndpointId.eq(id))
            .to_owned();
        webhook_attempt::Entity::delete_many()
            .filter(webhook_attempt::Column::DeliveryId.in_subquery(deliveries))
            .exec(&txn)
            .await?;
        webhook_delivery::Entity::delete_many()
            .filter(D::EndpointId.eq(id))
            .exec(&txn)
            .await?;
        let deleted = webhook_endpoint::Entity::delete_by_id(id)
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(deleted.rows_affected == 1)
    }

    /// A new secret; the old one signs too until `grace_until`.
    pub async fn rotate_webhook_secret(
        &self,
        id: &str,
        secret: &str,
        grace_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let rotated = webhook_endpoint::Entity::update_many()
            .col_expr(E::PreviousSecret, Expr::col(E::Secret))
            .col_expr(E::PreviousSecretUntil, Expr::value(grace_until))
            .col_expr(E::Secret, Expr::value(secret))
            .col_expr(E::UpdatedAt, Expr::value(now))
            .filter(E::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(rotated.rows_affected == 1)
    }

    /// Takes, or keeps, the lease of every enabled endpoint no other instance holds, and
    /// returns them: this instance delivers them until `until`.
    pub async fn lease_webhook_endpoints(
        &self,
        owner: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<EndpointState>> {
        // Idle, a read only: no write (SQLite's one writer may be an import) when there
        // is nothing to deliver.
        let enabled = webhook_endpoint::Entity::find()
            .filter(E::Enabled.eq(true))
            .count(&self.db)
            .await?;
        if enabled == 0 {
            return Ok(vec![]);
        }
        let free = Condition::any()
            .add(E::LeaseOwner.eq(owner))
            .add(E::LeaseUntil.is_null())
            .add(E::LeaseUntil.lt(now));
        webhook_endpoint::Entity::update_many()
            .col_expr(E::LeaseOwner, Expr::value(owner))
            .col_expr(E::LeaseUntil, Expr::value(until))
            .filter(E::Enabled.eq(true))
            .filter(free)
            .exec(&self.db)
            .await?;
        webhook_endpoint::Entity::find()
            .filter(E::Enabled.eq(true))
            .filter(E::LeaseOwner.eq(owner))
            .order_by_asc(E::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(endpoint)
            .collect()
    }

    /// Lets go of this instance's leases (at shutdown), so another takes over at once.
    pub async fn release_webhook_leases(&self, owner: &str) -> StoreResult<()> {
        webhook_endpoint::Entity::update_many()
            .col_expr(E::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(E::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(E::LeaseOwner.eq(owner))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Records the deliveries made from a page of the feed (or of finished imports) and
    /// the endpoint's new place in it, in one transaction, if `owner` still holds its
    /// lease. `false`: it does not, and nothing was written.
    pub async fn fan_out_webhooks(
        &self,
        endpoint_id: &str,
        owner: &str,
        mut deliveries: Vec<WebhookDelivery>,
        place: FanOutPlace<'_>,
    ) -> StoreResult<bool> {
        let txn = self.db.begin().await?;
        let (column, value) = match place {
            FanOutPlace::Feed(position) => (E::Position, position),
            FanOutPlace::Imports(after) => (E::ImportsAfter, after),
        };
        let moved = webhook_endpoint::Entity::update_many()
            .col_expr(column, Expr::value(value))
            .filter(E::Id.eq(endpoint_id))
            .filter(E::LeaseOwner.eq(owner))
            .exec(&txn)
            .await?;
        if moved.rows_affected != 1 {
            return Ok(false);
        }
        queue_behind_earlier(&txn, endpoint_id, &mut deliveries).await?;
        insert_deliveries(&txn, &deliveries).await?;
        release_queued(&txn, endpoint_id, Utc::now()).await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Moves an endpoint's queues on (see [`release_queued`]), outside a fan-out.
    pub async fn release_webhook_queue(&self, endpoint_id: &str) -> StoreResult<()> {
        let txn = self.db.begin().await?;
        release_queued(&txn, endpoint_id, Utc::now()).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Deliveries of an endpoint due now, in order (an invoice has at most one pending at
    /// a time: see [`queue_behind_earlier`]).
    pub async fn due_webhook_deliveries(
        &self,
        endpoint_id: &str,
        now: DateTime<Utc>,
        limit: u64,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        webhook_delivery::Entity::find()
            .filter(D::EndpointId.eq(endpoint_id))
            .filter(D::State.eq(DeliveryState::Pending.as_str()))
            .filter(D::NextAttemptAt.lte(now))
            .order_by_asc(D::Seq)
            .order_by_asc(D::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(delivery)
            .collect()
    }

    /// Records attempts at an endpoint's deliveries and what follows from each, in one
    /// transaction, renewing `owner`'s lease until `lease_until`. When an outcome disables the endpoint,
    /// `disabled_notices` (the deliveries telling other endpoints so) are written with the
    /// change, once: not when the endpoint was disabled already.
    pub async fn record_webhook_attempts(
        &self,
        attempts: &[(WebhookAttempt, AttemptOutcome)],
        endpoint_id: &str,
        (owner, lease_until): (&str, DateTime<Utc>),
        disabled_notices: &[WebhookDelivery],
    ) -> StoreResult<()> {
        if attempts.is_empty() {
            return Ok(());
        }
        let txn = self.db.begin().await?;
        // Attempts are recorded even when the lease was lost meanwhile: they happened (a
        // queue this leaves without a pending head moves on at the next fan-out).
        webhook_endpoint::Entity::update_many()
            .col_expr(E::LeaseUntil, Expr::value(lease_until))
            .filter(E::Id.eq(endpoint_id))
            .filter(E::LeaseOwner.eq(owner))
            .exec(&txn)
            .await?;
        let size = |(a, _): &(WebhookAttempt, AttemptOutcome)| {
            a.response.as_ref().map_or(0, String::len)
                + a.error.as_ref().map_or(0, String::len)
                + 80
        };
        for chunk in super::wire_chunks(attempts, size) {
            let rows = chunk
                .iter()
                .map(|(attempt, _)| webhook_attempt::ActiveModel {
                    id: sea_orm::ActiveValue::NotSet,
                    delivery_id: Set(attempt.delivery_id.clone()),
                    attempted_at: Set(attempt.attempted_at),
                    status_code: Set(attempt.status_code),
                    duration_ms: Set(attempt.duration_ms),
                    response: Set(attempt.response.clone()),
                    error: Set(attempt.error.clone()),
                });
            webhook_attempt::Entity::insert_many(rows)
                .exec_without_returning(&txn)
                .await?;
        }
        // Only a pending delivery moves on: another instance may have settled it (a lease
        // lost in the middle of a send). The delivered ones in one statement per chunk.
        let delivered: Vec<&WebhookAttempt> = attempts
            .iter()
            .filter(|(_, outcome)| matches!(outcome, AttemptOutcome::Delivered))
            .map(|(attempt, _)| attempt)
            .collect();
        for chunk in delivered.chunks(200) {
            let at = chunk
                .iter()
                .map(|a| a.attempted_at)
                .max()
                .unwrap_or_default();
            webhook_delivery::Entity::update_many()
                .col_expr(D::Attempts, Expr::col(D::Attempts).add(1))
                .col_expr(D::State, Expr::value(DeliveryState::Delivered.as_str()))
                .col_expr(D::DeliveredAt, Expr::value(at))
                .filter(super::lists::is_one_of(
                    txn.get_database_backend(),
                    "id",
                    chunk.iter().map(|a| a.delivery_id.clone()).collect(),
                ))
                .filter(D::State.eq(DeliveryState::Pending.as_str()))
                .exec(&txn)
                .await?;
        }
        for (attempt, outcome) in attempts {
            if matches!(outcome, AttemptOutcome::Delivered) {
                continue;
            }
            let mut update = webhook_delivery::Entity::update_many()
                .col_expr(D::Attempts, Expr::col(D::Attempts).add(1))
                .filter(D::Id.eq(attempt.delivery_id.as_str()))
                .filter(D::State.eq(DeliveryState::Pending.as_str()));
            update = match outcome {
                AttemptOutcome::Delivered => update
                    .col_expr(D::State, Expr::value(DeliveryState::Delivered.as_str()))
                    .col_expr(D::DeliveredAt, Expr::value(attempt.attempted_at)),
                AttemptOutcome::Retry(at) => update.col_expr(D::NextAttemptAt, Expr::value(*at)),
                AttemptOutcome::GiveUp { .. } => {
                    update.col_expr(D::State, Expr::value(DeliveryState::Failed.as_str()))
                }
            };
            update.exec(&txn).await?;
            if let AttemptOutcome::GiveUp {
                disable: Some(reason),
            } = outcome
            {
                let disabled = webhook_endpoint::Entity::update_many()
                    .col_expr(E::Enabled, Expr::value(false))
                    .col_expr(E::DisabledReason, Expr::value(reason.clone()))
                    .col_expr(E::UpdatedAt, Expr::value(attempt.attempted_at))
                    .filter(E::Id.eq(endpoint_id))
                    .filter(E::Enabled.eq(true))
                    .exec(&txn)
                    .await?;
                if disabled.rows_affected == 1 {
                    insert_deliveries(&txn, disabled_notices).await?;
                }
            }
        }
        let now = attempts
            .iter()
            .map(|(a, _)| a.attempted_at)
            .max()
            .unwrap_or_default();
        release_queued(&txn, endpoint_id, now).await?;
        txn.commit().await?;
        Ok(())
    }

    /// An endpoint's deliveries, newest first: up to `limit` after the delivery `after`.
    pub async fn webhook_deliveries(
        &self,
        endpoint_id: &str,
        after: Option<&str>,
        limit: u64,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        let mut find = webhook_delivery::Entity::find().filter(D::EndpointId.eq(endpoint_id));
        if let Some(after) = after {
            let Some(row) = webhook_delivery::Entity::find_by_id(after)
                .one(&self.db)
                .await?
            else {
                return Ok(vec![]);
            };
            find = find.filter(
                Condition::any().add(D::Seq.lt(row.seq)).add(
                    Condition::all()
                        .add(D::Seq.eq(row.seq))
                        .add(D::Id.lt(row.id)),
                ),
            );
        }
        find.order_by_desc(D::Seq)
            .order_by_desc(D::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(delivery)
            .collect()
    }

    pub async fn webhook_delivery(&self, id: &str) -> StoreResult<Option<WebhookDelivery>> {
        webhook_delivery::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(delivery)
            .transpose()
    }

    /// The attempts at these deliveries, oldest first.
    pub async fn webhook_attempts(
        &self,
        delivery_ids: &[String],
    ) -> StoreResult<Vec<WebhookAttempt>> {
        if delivery_ids.is_empty() {
            return Ok(vec![]);
        }
        Ok(webhook_attempt::Entity::find()
            .filter(super::lists::is_one_of(
                self.db.get_database_backend(),
                "delivery_id",
                delivery_ids.to_vec(),
            ))
            .order_by_asc(webhook_attempt::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| WebhookAttempt {
                delivery_id: row.delivery_id,
                attempted_at: row.attempted_at,
                status_code: row.status_code,
                duration_ms: row.duration_ms,
                response: row.response,
                error: row.error,
            })
            .collect())
    }

    /// Sends a delivery again, due now: pending, or queued behind what its invoice has
    /// outstanding (an invoice's messages stay one at a time). A queued one is left as it
    /// is. `None`: no such delivery.
    pub async fn redeliver_webhook(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<DeliveryState>> {
        let txn = self.db.begin().await?;
        // Locked (on SQLite, a write first), so that no settlement or fan-out of its
        // invoice interleaves.
        let Some(row) = self
            .find_locked::<webhook_delivery::Entity>(&txn, D::Id, id)
            .await?
        else {
            return Ok(None);
        };
        let current = delivery(row)?;
        if current.state == DeliveryState::Queued {
            return Ok(Some(DeliveryState::Queued));
        }
        let mut again = vec![WebhookDelivery {
            state: DeliveryState::Pending,
            ..current.clone()
        }];
        if current.state != DeliveryState::Pending {
            queue_behind_earlier(&txn, &current.endpoint_id, &mut again).await?;
        }
        let state = again[0].state;
        webhook_delivery::Entity::update_many()
            .col_expr(D::State, Expr::value(state.as_str()))
            .col_expr(D::NextAttemptAt, Expr::value(now))
            .col_expr(D::PendingSince, Expr::value(now))
            .col_expr(D::Attempts, Expr::value(0))
            .col_expr(D::DeliveredAt, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(D::Id.eq(id))
            .filter(D::State.eq(current.state.as_str()))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(Some(state))
    }

    /// Open invoices due after `after` and at most on `until` that have had no reminder
    /// for their due date, soonest first.
    pub async fn invoices_to_remind(
        &self,
        after: NaiveDate,
        until: NaiveDate,
        limit: u64,
    ) -> StoreResult<Vec<Invoice>> {
        use invoice::Column as I;
        let reminded = Query::select()
            .expr(Expr::val(1))
            .from(webhook_reminder::Entity)
            .and_where(
                Expr::col((
                    webhook_reminder::Entity,
                    webhook_reminder::Column::InvoiceId,
                ))
                .equals((invoice::Entity, I::Id)),
            )
            .and_where(
                Expr::col((webhook_reminder::Entity, webhook_reminder::Column::DueDate))
                    .equals((invoice::Entity, I::DueDate)),
            )
            .to_owned();
        invoice::Entity::find()
            .filter(I::Status.eq(InvoiceStatus::Open.as_str()))
            .filter(I::DueDate.gt(after))
            .filter(I::DueDate.lte(until))
            .filter(Expr::exists(reminded).not())
            .order_by_asc(I::DueDate)
            .order_by_asc(I::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(super::convert::invoice)
            .collect()
    }

    /// Records that an invoice was reminded of its due date, with the deliveries that
    /// tell it, in one transaction; `false` (nothing written) when another instance
    /// already did.
    pub async fn record_reminder(
        &self,
        invoice_id: &str,
        due_date: NaiveDate,
        at: DateTime<Utc>,
        deliveries: &[WebhookDelivery],
    ) -> StoreResult<bool> {
        let txn = self.db.begin().await?;
        let inserted = webhook_reminder::Entity::insert(webhook_reminder::ActiveModel {
            invoice_id: Set(invoice_id.to_owned()),
            due_date: Set(due_date),
            sent_at: Set(at),
        })
        .on_conflict_do_nothing_on([
            webhook_reminder::Column::InvoiceId,
            webhook_reminder::Column::DueDate,
        ])
        .exec_without_returning(&txn)
        .await?;
        // Anything but a row inserted leaves the transaction uncommitted: at worst the next
        // look tries again.
        if !matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0) {
            return Ok(false);
        }
        insert_deliveries(&txn, deliveries).await?;
        txn.commit().await?;
        Ok(true)
    }

    /// Deliveries pending on every instance, and how long the oldest has waited.
    pub async fn webhook_backlog(&self, now: DateTime<Utc>) -> StoreResult<(u64, f64)> {
        let pending = || webhook_delivery::Entity::find().filter(outstanding());
        let count = pending().count(&self.db).await?;
        let oldest = pending()
            .order_by_asc(D::CreatedAt)
            .one(&self.db)
            .await?
            .map_or(0.0, |d| {
                Ord::max((now - d.created_at).num_milliseconds(), 0) as f64 / 1000.0
            });
        Ok((count, oldest))
    }

    /// Deliveries of an endpoint not yet taken by its receiver.
    pub async fn pending_webhook_deliveries(&self, endpoint_id: &str) -> StoreResult<u64> {
        Ok(webhook_delivery::Entity::find()
            .filter(D::EndpointId.eq(endpoint_id))
            .filter(outstanding())
            .count(&self.db)
            .await?)
    }
}
