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
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderValue;
use axum::response::Response;
use chrono::{DateTime, Utc};
use futures_util::stream::{BoxStream, CatchUnwind};
use futures_util::{FutureExt, StreamExt};
use serde_json::{Value, json};
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
/// Read buffer of one socket, and the most one read takes: room for a usual `subscribe`
/// message. A longer message (a `connection_init` carrying a long OpenID Connect token)
/// grows it to fit, as tungstenite reserves a frame's whole length, and it keeps that
/// size.
const SOCKET_BUFFER_BYTES: usize = 512;

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
        let connection = Connection {
            socket,
            protocol,
            state,
            principal: None,
            expires: None,
            running: Operations::default(),
        };
        // A combinator, not an `async` block awaiting `served`: the block would hold the
        // connection's state twice for its whole life.
        telemetry::serve_request(request_id, connection.run())
            .map(|served| {
                if let Err(panic) = served {
                    tracing::error!(panic = %panic, "the WebSocket connection panicked; dropped");
                }
            })
            .instrument(span)
    })
}

/// What an operation reports to its connection: a response of operation `id`, or
/// `None` once the operation is complete. The response is boxed: held inline (a few
/// hundred bytes) it sized the connection's waiting loop, which every idle connection
/// keeps.
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
    running: Operations,
}

impl Connection {
    async fn run(mut self) {
        let outcome = self.serve().await;
        self.running = Operations::default();
        // Boxed, like the handlers: only a connection that is closing needs the room.
        Box::pin(self.close(outcome)).await;
    }

    /// Serves the connection until it ends, and says why.
    async fn serve(&mut self) -> Option<Close> {
        let settings = self.state.ws;
        let init_deadline = Instant::now() + settings.init_timeout;
        let mut keepalive = tokio::time::interval(settings.keepalive);
        keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Until `connection_init` is accepted, the time left to send it; after, the
            // token's expiry. One timer: each is a hundred-odd bytes that every idle
            // connection would hold.
            let deadline = match self.expires {
                None => init_deadline,
                Some(at) => Instant::now() + (at - Utc::now()).to_std().unwrap_or(Duration::ZERO),
            };
            // The handlers' futures are boxed: held inline, the largest of them (a
            // subscription's start, a token's check) would size this loop's future, which
            // every idle connection keeps for its whole life; boxed, they take memory only
            // while they run.
            let step = tokio::select! {
                message = self.socket.recv() => match message {
                    Some(Ok(Message::Text(text))) => Box::pin(self.on_message(text.as_str())).await,
                    Some(Ok(Message::Binary(_))) => Err(close(4400, "messages must be text")),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                    // The WebSocket layer answers pings itself.
                    Some(Ok(_)) => Ok(()),
                },
                output = self.running.next() => Box::pin(self.on_output(output)).await,
                _ = keepalive.tick(), if self.principal.is_some() => Box::pin(self.keepalive()).await,
                _ = tokio::time::sleep_until(deadline) => match self.expires {
                    None => Err(close(4408, "Connection initialisation timeout")),
                    Some(_) => Err(close(4403, "the bearer token has expired")),
                },
            };
            if let Err(close) = step {
                return Some(close);
            }
        }
    }

    /// Ends the connection with a close frame saying why, if there is one to say.
    async fn close(&mut self, outcome: Option<Close>) {
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
                self.running.stop(id.ok_or(malformed)?);
                Ok(())
            }
            (Protocol::Legacy, "stop") => {
                let id = id.ok_or(malformed)?.to_owned();
                self.running.stop(&id);
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
        if self.running.contains(&id) {
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
        let responses = self.state.schema.execute_stream(request);
        self.running.start(id, responses);
        Ok(())
    }

    async fn on_output(&mut self, Output { id, response }: Output) -> Result<(), Close> {
        let Some(response) = response else {
            return self.send(json!({ "id": id, "type": "complete" })).await;
        };
        // No data at all: the operation failed before producing any (a parse, validation
        // or authorization error, a bad cursor), which the protocol calls `error` and which
        // ends it.
        if response.data == async_graphql::Value::Null && !response.errors.is_empty() {
            self.running.stop(&id);
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

/// The operations of one connection, polled by the connection's own task. A task for
/// each, with a channel back to the connection, made every idle subscriber about 2 KiB
/// larger (benches/README.md, 2026-12-06, fourth session), and woke two tasks for each
/// change delivered. The price: every wake-up of the connection polls each of its
/// operations (at most [`MAX_OPERATIONS`]), and a slow client holds them back sooner
/// than a buffer of outputs did, as none is polled while the connection waits to send
/// or runs a handler; a subscription that falls behind the live pages catches up from
/// the table.
#[derive(Default)]
struct Operations {
    running: Vec<Operation>,
    /// Where the next poll starts: after the operation heard last, so that a busy one (a
    /// long replay) cannot keep the others waiting.
    turn: usize,
}

/// One running operation: its id, and its responses. It is removed once they end, and
/// after a panic they end (`CatchUnwind` yields nothing more), so a finished stream is
/// never polled again.
struct Operation {
    id: String,
    responses: CatchUnwind<AssertUnwindSafe<BoxStream<'static, async_graphql::Response>>>,
}

impl Operations {
    fn contains(&self, id: &str) -> bool {
        self.running.iter().any(|operation| operation.id == id)
    }

    fn len(&self) -> usize {
        self.running.len()
    }

    fn start(&mut self, id: String, responses: BoxStream<'static, async_graphql::Response>) {
        self.running.push(Operation {
            id,
            responses: AssertUnwindSafe(responses).catch_unwind(),
        });
    }

    /// Stops operation `id` at once: its stream, and the subscription it holds (with its
    /// place among its caller's), are dropped before this returns.
    fn stop(&mut self, id: &str) {
        self.running.retain(|operation| operation.id != id);
    }

    /// The next output of any running operation; an operation that completes is removed.
    /// Pending for ever while none runs (the connection waits on its socket meanwhile).
    fn next(&mut self) -> impl Future<Output = Output> + '_ {
        std::future::poll_fn(|cx| {
            let count = self.running.len();
            for step in 0..count {
                let at = (self.turn + step) % count;
                let Poll::Ready(response) = self.running[at].poll_response(cx) else {
                    continue;
                };
                let response = response.map(Box::new);
                let id = match response {
                    Some(_) => {
                        self.turn = at + 1;
                        self.running[at].id.clone()
                    }
                    None => {
                        self.turn = at;
                        self.running.remove(at).id
                    }
                };
                return Poll::Ready(Output { id, response });
            }
            Poll::Pending
        })
    }
}

impl Operation {
    fn poll_response(&mut self, cx: &mut Context<'_>) -> Poll<Option<async_graphql::Response>> {
        let response = match std::task::ready!(self.responses.poll_next_unpin(cx)) {
            Some(Ok(response)) => Some(response),
            // A panic ends this operation alone, with an `INTERNAL` error naming the
            // connection's request id; the connection and its other operations go on.
            Some(Err(panic)) => {
                let panic = telemetry::panic_description(panic.as_ref());
                tracing::error!(operation.id = %self.id, panic = %panic, "a subscription panicked; ended it with INTERNAL");
                Some(internal_error())
            }
            None => None,
        };
        Poll::Ready(response)
    }
}

/// The response of an operation that panicked.
fn internal_error() -> async_graphql::Response {
    let mut error = async_graphql::ServerError::new("internal error", None);
    let extensions = error.extensions.get_or_insert_with(Default::default);
    extensions.set("code", Code::Internal.as_str());
    if let Some(request_id) = telemetry::request_id() {
        extensions.set("requestId", request_id.as_ref());
    }
    async_graphql::Response::from_errors(vec![error])
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
    fn an_output_is_small_so_the_connection_loop_is() {
        // The loop holds the output of its wait across the handler's await.
        let inline = std::mem::size_of::<async_graphql::Response>();
        assert!(inline > 100, "a response inline is large: {inline} bytes");
        assert!(std::mem::size_of::<Output>() <= 32);
    }

    fn response(n: i32) -> async_graphql::Response {
        async_graphql::Response::new(async_graphql::Value::from(n))
    }

    /// The ids of the outputs ready now, and whether each was a response (or the end).
    fn ready(operations: &mut Operations) -> Vec<(String, bool)> {
        std::iter::from_fn(|| operations.next().now_or_never())
            .map(|output| (output.id, output.response.is_some()))
            .collect()
    }

    #[test]
    fn operations_take_turns_and_a_completed_one_is_removed() {
        let mut operations = Operations::default();
        let stream = |items: Vec<i32>| futures_util::stream::iter(items).map(response).boxed();
        operations.start("a".into(), stream(vec![1, 2]));
        operations.start("b".into(), stream(vec![3]));
        let outputs = ready(&mut operations);
        let expected = [
            ("a", true),
            ("b", true),
            ("a", true),
            ("b", false),
            ("a", false),
        ];
        let expected: Vec<(String, bool)> = expected
            .iter()
            .map(|(id, more)| (id.to_string(), *more))
            .collect();
        assert_eq!(outputs, expected);
        assert_eq!(operations.len(), 0, "completed operations are removed");
    }

    #[test]
    fn stopping_an_operation_drops_its_stream_at_once() {
        let mut operations = Operations::default();
        let held = std::sync::Arc::new(());
        let guard = held.clone();
        let pending = futures_util::stream::pending().map(move |n| {
            let _ = &guard;
            response(n)
        });
        operations.start("x".into(), pending.boxed());
        operations.start("y".into(), futures_util::stream::pending().boxed());
        assert!(ready(&mut operations).is_empty());
        operations.stop("x");
        assert_eq!(std::sync::Arc::strong_count(&held), 1, "dropped by stop");
        assert!(!operations.contains("x") && operations.contains("y"));
    }

    #[test]
    fn a_panicking_operation_ends_alone_with_an_internal_error() {
        let mut operations = Operations::default();
        let panics = futures_util::stream::once(async { panic!("boom") }).boxed();
        operations.start("p".into(), panics);
        operations.start("q".into(), futures_util::stream::pending().boxed());
        let output = operations
            .next()
            .now_or_never()
            .expect("the panic is an output");
        assert_eq!(output.id, "p");
        let errors = output.response.expect("an error response").errors;
        let code = errors[0].extensions.as_ref().and_then(|e| e.get("code"));
        assert_eq!(code, Some(&async_graphql::Value::from("INTERNAL")));
        // A connection stops it on that error (`on_output`), so no `complete` follows; left
        // alone, it ends.
        let after: Vec<(String, bool)> = ready(&mut operations);
        assert_eq!(after, vec![("p".to_string(), false)], "then it ends");
        assert!(operations.contains("q"), "the other goes on");
    }
}
