//! GraphQL over WebSocket on `/graphql/ws`: the `graphql-transport-ws` protocol (Apollo
//! Client's `GraphQLWsLink`, the `graphql-ws` library) and the legacy `graphql-ws`
//! protocol (subscriptions-transport-ws).
//!
//! async-graphql's own WebSocket transport has no place to authenticate, closes a refused
//! `connection_init` with 1002 instead of 4403, never times out a socket that never
//! initialises, never pings, and silently replaces a duplicate subscription id. So the
//! protocol lives here, and each operation runs through the schema's `execute_stream`.
//!
//! Close codes (graphql-transport-ws): 4400 malformed message, 4401 subscribe before
//! `connection_ack`, 4403 refused or expired token, 4408 no `connection_init` within
//! the configured time, 4409 a subscription id already in use, 4429 a second
//! `connection_init`. A client that takes no message for a keep-alive interval is
//! dropped without one.

use crate::domain::Code;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderValue;
use axum::response::Response;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tracing::Instrument;

use super::AppState;
use crate::auth::{Principal, TokenKeys};
use crate::graphql;
use crate::telemetry;

/// Largest client message accepted.
const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Operations one connection may run at once.
const MAX_OPERATIONS: usize = 100;
/// Read buffer of one socket.
const SOCKET_BUFFER_BYTES: usize = 4 * 1024;
/// Responses of one connection waiting for the socket: a slow client stops its
/// subscriptions from reading further (they catch up from the table later).
const OUTBOX: usize = 64;

/// The WebSocket settings from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct WsSettings {
    pub init_timeout: Duration,
    pub keepalive: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    /// `graphql-transport-ws`.
    Transport,
    /// The legacy `graphql-ws` (subscriptions-transport-ws).
    Legacy,
}

pub async fn upgrade(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    // Small socket buffers: thousands of mostly idle subscribers each hold one, and the
    // default (128 KiB) would be most of a subscriber's memory.
    let ws = ws
        .protocols(["graphql-transport-ws", "graphql-ws"])
        .max_message_size(MAX_MESSAGE_BYTES)
        .read_buffer_size(SOCKET_BUFFER_BYTES)
        .write_buffer_size(0);
    // A client that names no sub-protocol gets the current one.
    let protocol = match ws.selected_protocol().map(HeaderValue::as_bytes) {
        Some(b"graphql-ws") => Protocol::Legacy,
        _ => Protocol::Transport,
    };
    // The connection keeps the upgrade request's id: its log lines, and those of its
    // operations, name it. Its span is its own, following from the upgrade's, so that
    // the upgrade request's span (and trace) ends with the 101 rather than hours later.
    let request_id = telemetry::request_id().unwrap_or_else(|| "websocket".into());
    let span = tracing::info_span!("websocket", request_id = %request_id);
    span.follows_from(tracing::Span::current());
    ws.on_upgrade(move |socket| {
        let (outputs, responses) = mpsc::channel(OUTBOX);
        let connection = Connection {
            socket,
            protocol,
            state,
            principal: None,
            expires: None,
            running: HashMap::new(),
            outputs,
            request_id: request_id.clone(),
        };
        let served = telemetry::serve_request(request_id, connection.run(responses));
        async move {
            if let Err(panic) = served.await {
                tracing::error!(panic = %panic, "the WebSocket connection panicked; dropped");
            }
        }
        .instrument(span)
    })
}

/// What a subscription's task reports to its connection: a response of operation `id`,
/// or `None` once the operation is complete. The response is boxed: the connection's
/// channel keeps room for [`OUTBOX`] outputs in blocks of 32, allocated whole, and a
/// response held inline (a few hundred bytes) made each block about 9 KiB, a large share
/// of an idle subscriber's memory.
struct Output {
    id: String,
    response: Option<Box<async_graphql::Response>>,
}

/// Why the connection ends.
struct Close(u16, Cow<'static, str>);

/// The connection is dropped without a close frame (1006, "abnormal closure", is never
/// sent in one).
const DROPPED: u16 = 1006;

fn close(code: u16, reason: impl Into<Cow<'static, str>>) -> Close {
    Close(code, reason.into())
}

struct Connection {
    socket: WebSocket,
    protocol: Protocol,
    state: AppState,
    /// Set by an accepted `connection_init`.
    principal: Option<Principal>,
    expires: Option<DateTime<Utc>>,
    running: HashMap<String, AbortHandle>,
    /// Where this connection's operations send their responses.
    outputs: mpsc::Sender<Output>,
    request_id: Arc<str>,
}

impl Connection {
    async fn run(mut self, mut responses: mpsc::Receiver<Output>) {
        let settings = self.state.ws;
        let init_deadline = Instant::now() + settings.init_timeout;
        let mut keepalive = tokio::time::interval(settings.keepalive);
        keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let outcome = loop {
            let expiry = self
                .expires
                .map(|at| Instant::now() + (at - Utc::now()).to_std().unwrap_or(Duration::ZERO));
            // The handlers' futures are boxed: held inline, the largest of them (a
            // subscription's start, a token's check) sized this loop's future, which every
            // idle connection keeps for its whole life, at about 21 KB (heaptrack,
            // benches/README.md); boxed, they take memory only while they run.
            let step = tokio::select! {
                message = self.socket.recv() => match message {
                    Some(Ok(Message::Text(text))) => Box::pin(self.on_message(text.as_str())).await,
                    Some(Ok(Message::Binary(_))) => Err(close(4400, "messages must be text")),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break None,
                    // The WebSocket layer answers pings itself.
                    Some(Ok(_)) => Ok(()),
                },
                Some(output) = responses.recv() => Box::pin(self.on_output(output)).await,
                _ = tokio::time::sleep_until(init_deadline), if self.principal.is_none() => {
                    Err(close(4408, "Connection initialisation timeout"))
                }
                _ = keepalive.tick(), if self.principal.is_some() => Box::pin(self.keepalive()).await,
                _ = tokio::time::sleep_until(expiry.unwrap_or(init_deadline)), if expiry.is_some() => {
                    Err(close(4403, "the bearer token has expired"))
                }
            };
            if let Err(close) = step {
                break Some(close);
            }
        };
        for (_, task) in self.running.drain() {
            task.abort();
        }
        match outcome {
            // A client that reads nothing would not read a close frame either.
            Some(Close(DROPPED, _)) | None => {}
            Some(Close(code, reason)) => {
                let frame = CloseFrame {
                    code,
                    reason: reason.as_ref().into(),
                };
                let send = self.socket.send(Message::Close(Some(frame)));
                let _ = tokio::time::timeout(self.state.ws.keepalive, send).await;
            }
        }
    }

    /// Sends one message, waiting at most a keep-alive interval for the client to take
    /// it: a client that stops reading is dropped, rather than holding the connection
    /// (and its token's expiry, and its subscriptions) in a send that never ends.
    async fn send(&mut self, message: Value) -> Result<(), Close> {
        let send = self.socket.send(Message::text(message.to_string()));
        match tokio::time::timeout(self.state.ws.keepalive, send).await {
            Ok(Ok(())) => Ok(()),
            // The peer is gone: nothing more to say to it.
            Ok(Err(_)) => Err(close(1000, "")),
            Err(_) => {
                tracing::info!("a WebSocket client stopped reading; dropped");
                Err(close(DROPPED, "the client stopped reading"))
            }
        }
    }

    async fn keepalive(&mut self) -> Result<(), Close> {
        let message = match self.protocol {
            Protocol::Transport => json!({ "type": "ping" }),
            Protocol::Legacy => json!({ "type": "ka" }),
        };
        self.send(message).await
    }

    async fn on_message(&mut self, text: &str) -> Result<(), Close> {
        let malformed = close(4400, "Invalid message received");
        let message: Value = serde_json::from_str(text).map_err(|_| close(4400, "Invalid JSON"))?;
        let kind = message.get("type").and_then(Value::as_str).unwrap_or("");
        let id = message.get("id").and_then(Value::as_str);
        match (self.protocol, kind) {
            (_, "connection_init") => self.on_init(message.get("payload")).await,
            (Protocol::Transport, "ping") => self.send(json!({ "type": "pong" })).await,
            (Protocol::Transport, "pong") => Ok(()),
            (Protocol::Transport, "subscribe") | (Protocol::Legacy, "start") => {
                let id = id.ok_or(malformed)?.to_owned();
                self.on_subscribe(id, message.get("payload").cloned()).await
            }
            (Protocol::Transport, "complete") => {
                if let Some(task) = self.running.remove(id.ok_or(malformed)?) {
                    task.abort();
                }
                Ok(())
            }
            (Protocol::Legacy, "stop") => {
                let id = id.ok_or(malformed)?.to_owned();
                if let Some(task) = self.running.remove(&id) {
                    task.abort();
                }
                self.send(json!({ "id": id, "type": "complete" })).await
            }
            (Protocol::Legacy, "connection_terminate") => Err(close(1000, "")),
            _ => Err(malformed),
        }
    }

    async fn on_init(&mut self, payload: Option<&Value>) -> Result<(), Close> {
        if self.principal.is_some() {
            return Err(close(4429, "Too many initialisation requests"));
        }
        match authenticate(payload, &self.state.keys).await {
            Ok((principal, expires)) => {
                self.principal = Some(principal);
                self.expires = Some(expires);
                self.send(json!({ "type": "connection_ack" })).await?;
                if self.protocol == Protocol::Legacy {
                    self.keepalive().await?;
                }
                Ok(())
            }
            Err(message) => {
                if self.protocol == Protocol::Legacy {
                    self.send(
                        json!({ "type": "connection_error", "payload": { "message": message } }),
                    )
                    .await?;
                }
                Err(close(4403, "Forbidden"))
            }
        }
    }

    async fn on_subscribe(&mut self, id: String, payload: Option<Value>) -> Result<(), Close> {
        let Some(principal) = self.principal.clone() else {
            return Err(close(4401, "Unauthorized"));
        };
        if self.running.contains_key(&id) {
            return Err(close(4409, format!("Subscriber for {id} already exists")));
        }
        if self.running.len() >= MAX_OPERATIONS {
            let error = json!({
                "message": format!("at most {MAX_OPERATIONS} operations at once on one connection"),
                "extensions": { "code": Code::TooManyOperations.as_str() },
            });
            return self
                .send(json!({ "id": id, "type": "error", "payload": [error] }))
                .await;
        }
        let request: async_graphql::Request = payload
            .and_then(|p| serde_json::from_value(p).ok())
            .ok_or(close(4400, "Invalid subscribe payload"))?;
        let request = graphql::prepare_subscription(request, &self.state.gateway, principal);
        let mut responses = self.state.schema.execute_stream(request);
        let outputs = self.outputs.clone();
        let task_id = id.clone();
        let request_id = self.request_id.clone();
        let forward = {
            let outputs = outputs.clone();
            let task_id = task_id.clone();
            async move {
                while let Some(response) = responses.next().await {
                    let output = Output {
                        id: task_id.clone(),
                        response: Some(Box::new(response)),
                    };
                    if outputs.send(output).await.is_err() {
                        return false;
                    }
                }
                true
            }
        };
        let task = tokio::spawn(
            async move {
                // A panic ends this operation alone, with an `INTERNAL` error naming the
                // connection's request id; the connection and its other operations go on.
                let finished = match telemetry::serve_request(request_id.clone(), forward).await
                {
                    Ok(finished) => finished,
                    Err(panic) => {
                        tracing::error!(operation.id = %task_id, panic = %panic, "a subscription panicked; ended it with INTERNAL");
                        let mut error = async_graphql::ServerError::new("internal error", None);
                        let extensions = error.extensions.get_or_insert_with(Default::default);
                        extensions.set("code", Code::Internal.as_str());
                        extensions.set("requestId", request_id.as_ref());
                        let failed = Output {
                            id: task_id.clone(),
                            response: Some(Box::new(async_graphql::Response::from_errors(
                                vec![error],
                            ))),
                        };
                        outputs.send(failed).await.is_ok()
                    }
                };
                if finished {
                    let done = Output {
                        id: task_id,
                        response: None,
                    };
                    let _ = outputs.send(done).await;
                }
            }
            .in_current_span(),
        );
        self.running.insert(id, task.abort_handle());
        Ok(())
    }

    async fn on_output(&mut self, Output { id, response }: Output) -> Result<(), Close> {
        // A stopped subscription's last words are dropped.
        if !self.running.contains_key(&id) {
            return Ok(());
        }
        let Some(response) = response else {
            self.running.remove(&id);
            return self.send(json!({ "id": id, "type": "complete" })).await;
        };
        // No data at all: the operation failed before producing any (a parse, validation
        // or authorization error, a bad cursor), which the protocol calls `error` and which
        // ends it.
        if response.data == async_graphql::Value::Null && !response.errors.is_empty() {
            if let Some(task) = self.running.remove(&id) {
                task.abort();
            }
            return self
                .send(json!({ "id": id, "type": "error", "payload": response.errors }))
                .await;
        }
        let kind = match self.protocol {
            Protocol::Transport => "next",
            Protocol::Legacy => "data",
        };
        self.send(json!({ "id": id, "type": kind, "payload": response }))
            .await
    }
}

/// The principal named by a `connection_init` payload `{"Authorization": "Bearer <token>"}`
/// (the key in any case), and until when its token is accepted.
async fn authenticate(
    payload: Option<&Value>,
    keys: &TokenKeys,
) -> Result<(Principal, DateTime<Utc>), &'static str> {
    let header = payload
        .and_then(Value::as_object)
        .and_then(|fields| {
            fields
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case("authorization"))
        })
        .and_then(|(_, value)| value.as_str())
        .ok_or("connection_init needs {\"Authorization\": \"Bearer <token>\"}")?;
    let token = super::bearer(header).ok_or("the Authorization value must be `Bearer <token>`")?;
    keys.verify_bearer(token).await.map_err(|e| e.message())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_is_small_so_an_idle_connection_channel_is() {
        // The channel allocates room for 32 outputs at a time, used or not.
        let inline = std::mem::size_of::<async_graphql::Response>();
        assert!(inline > 100, "a response inline is large: {inline} bytes");
        assert!(std::mem::size_of::<Output>() <= 32);
    }
}
