//! What each message says: its `webhook-id` and its body, for every kind of event. A
//! message is written once, when its delivery is made, and sent as written on every
//! attempt (so a retry carries the same bytes as the first try).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::domain::{
    DeliveryState, EventType, FeedEvent, Invoice, InvoiceImport, WebhookDelivery, WebhookEndpoint,
};

/// Writes an invoice as the REST API shows it (the wiring hands in `http`'s rendering).
pub type RenderInvoice = std::sync::Arc<dyn Fn(&Invoice) -> Value + Send + Sync>;

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A message, before it is addressed to an endpoint.
pub struct Message {
    pub id: String,
    pub kind: EventType,
    pub invoice_id: Option<String>,
    /// The event's sequence (0 for messages not made from the event table).
    pub seq: i64,
    pub payload: String,
}

impl Message {
    /// Its delivery to an endpoint, due now.
    pub fn to(&self, endpoint_id: &str, now: DateTime<Utc>) -> WebhookDelivery {
        WebhookDelivery {
            id: format!("whd_{}", uuid::Uuid::new_v4().simple()),
            endpoint_id: endpoint_id.to_owned(),
            message_id: self.id.clone(),
            event_type: self.kind.as_str().to_owned(),
            invoice_id: self.invoice_id.clone(),
            seq: self.seq,
            payload: self.payload.clone(),
            state: DeliveryState::Pending,
            attempts: 0,
            next_attempt_at: now,
            created_at: now,
            delivered_at: None,
            pending_since: None,
        }
    }
}

/// An invoice's recorded change (`evt_<sequence>`), with what changed, who changed it
/// and through what; `None` when it changed nothing a receiver is told of. The invoice
/// is as the feed read it, at fan-out.
pub fn change(event: &FeedEvent, render: &RenderInvoice) -> Option<Message> {
    let e = &event.event;
    let kind = EventType::of(e)?;
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
    let due_date = |d: Option<chrono::NaiveDate>| d.map(|d| d.to_string());
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
            change(&due_date(e.due_date_from), &due_date(e.due_date_to)),
        ),
    ] {
        if let Some(value) = value {
            changes.insert(name.into(), value);
        }
    }
    let payload = json!({
        "type": kind.as_str(),
        "timestamp": time(e.occurred_at),
        "data": {
            "sequence": e.seq,
            "actor": e.actor,
            "source": e.source.as_str(),
            "reason": e.reason,
            "importId": e.import_id,
            "changes": changes,
            "invoice": render(&event.invoice),
        },
    });
    Some(Message {
        id: format!("evt_{}", e.seq),
        kind,
        invoice_id: Some(e.invoice_id.clone()),
        seq: e.seq,
        payload: payload.to_string(),
    })
}

/// `invoice.due_soon` (`rem_<invoice>_<due date>`): once per invoice and due date.
pub fn reminder(
    invoice: &Invoice,
    days_until_due: i64,
    now: DateTime<Utc>,
    render: &RenderInvoice,
) -> Message {
    let kind = EventType::InvoiceDueSoon;
    let payload = json!({
        "type": kind.as_str(),
        "timestamp": time(now),
        "data": { "daysUntilDue": days_until_due, "invoice": render(invoice) },
    });
    Message {
        id: format!("rem_{}_{}", invoice.id, invoice.due_date),
        kind,
        invoice_id: Some(invoice.id.clone()),
        seq: 0,
        payload: payload.to_string(),
    }
}

/// `import.finished` (`imp_<import>`), with the import's counts.
pub fn import_finished(import: &InvoiceImport, now: DateTime<Utc>) -> Message {
    let kind = EventType::ImportFinished;
    let payload = json!({
        "type": kind.as_str(),
        "timestamp": time(import.finished_at.unwrap_or(now)),
        "data": { "import": {
            "id": import.id,
            "fileName": import.file_name,
            "actor": import.actor,
            "state": import.state.as_str(),
            "dryRun": import.dry_run,
            "applyValidRows": import.apply_valid_rows,
            "startedAt": time(import.started_at),
            "finishedAt": import.finished_at.map(time),
            "rowsTotal": import.rows_total,
            "rowsRead": import.counts.read,
            "rowsChanged": import.counts.changed,
            "rowsUnchanged": import.counts.unchanged,
            "rowsRefused": import.counts.refused,
            "problem": import.problem,
        } },
    });
    Message {
        id: format!("imp_{}", import.id),
        kind,
        invoice_id: None,
        seq: 0,
        payload: payload.to_string(),
    }
}

/// `webhook_endpoint.disabled` (`dis_<endpoint>_<microseconds>`), for the endpoints of
/// operations: which endpoint, the host it pointed at (not its URL, whose path and query
/// often carry a token, and the receiver may be another company's), and why.
pub fn endpoint_disabled(endpoint: &WebhookEndpoint, reason: &str, at: DateTime<Utc>) -> Message {
    let kind = EventType::EndpointDisabled;
    let host = url::Url::parse(&endpoint.url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned));
    let payload = json!({
        "type": kind.as_str(),
        "timestamp": time(at),
        "data": { "endpoint": {
            "id": endpoint.id,
            "host": host,
            "description": endpoint.description,
            "eventTypes": endpoint.event_types.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            "disabledReason": reason,
        } },
    });
    Message {
        id: format!("dis_{}_{}", endpoint.id, at.timestamp_micros()),
        kind,
        invoice_id: None,
        seq: 0,
        payload: payload.to_string(),
    }
}
