//! A GraphQL-over-WebSocket client for the tests: real sockets, either protocol, and
//! a generous timeout on everything that "should arrive".

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::TestApp;

/// How long anything that should arrive may take before the test fails.
pub const ARRIVES_WITHIN: Duration = Duration::from_secs(30);

/// The selection every test subscribes with.
pub const STATUS_CHANGES: &str = "subscription($accountId: ID, $statuses: [InvoiceStatus!], $after: String) { \
    invoiceStatusChanged(accountId: $accountId, statuses: $statuses, after: $after) { \
      cursor previousStatus status occurredAt source invoice { id accountId status version } } }";

/// What the server sent.
#[derive(Debug)]
pub enum Incoming {
    Text(Value),
    Close(u16, String),
}

pub struct WsClient {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    legacy: bool,
}

impl WsClient {
    /// Opens `/graphql/ws` of `base` (`http://host:port`) with a sub-protocol.
    pub async fn connect_to(base: &str, protocol: &str) -> WsClient {
        let url = format!("{}/graphql/ws", base.replacen("http", "ws", 1));
        let mut request = url.into_client_request().expect("a WebSocket URL");
        request.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_str(protocol).unwrap(),
        );
        let (socket, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("WebSocket handshake");
        assert_eq!(
            response
                .headers()
                .get("sec-websocket-protocol")
                .map(|v| v.to_str().unwrap()),
            Some(protocol),
            "the server accepts the sub-protocol"
        );
        WsClient {
            socket,
            legacy: protocol == "graphql-ws",
        }
    }

    pub async fn connect(app: &TestApp) -> WsClient {
        Self::connect_to(&app.base, "graphql-transport-ws").await
    }

    pub async fn send(&mut self, message: Value) {
        self.send_text(message.to_string()).await;
    }

    pub async fn send_text(&mut self, text: String) {
        self.socket
            .send(Message::text(text))
            .await
            .expect("message sent");
    }

    /// The next message, or the close frame.
    pub async fn recv(&mut self) -> Incoming {
        loop {
            let message = tokio::time::timeout(ARRIVES_WITHIN, self.socket.next())
                .await
                .expect("a message within the timeout");
            match message {
                Some(Ok(Message::Text(text))) => {
                    return Incoming::Text(serde_json::from_str(&text).expect("JSON"));
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame
                        .map(|f| (u16::from(f.code), f.reason.to_string()))
                        .unwrap_or((1005, String::new()));
                    return Incoming::Close(code, reason);
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("WebSocket error: {e}"),
                None => return Incoming::Close(1006, "stream ended".into()),
            }
        }
    }

    /// The next message that is not a keep-alive (answering the server's pings).
    pub async fn recv_message(&mut self) -> Value {
        tokio::time::timeout(ARRIVES_WITHIN, self.recv_message_unbounded())
            .await
            .expect("a message within the timeout")
    }

    async fn recv_message_unbounded(&mut self) -> Value {
        loop {
            match self.recv().await {
                Incoming::Text(message) => match message["type"].as_str() {
                    Some("ping") => self.send(json!({ "type": "pong" })).await,
                    Some("ka") | Some("pong") => {}
                    _ => return message,
                },
                Incoming::Close(code, reason) => {
                    panic!("closed with {code} ({reason}) while a message was expected")
                }
            }
        }
    }

    /// Waits for the close frame (skipping keep-alives) and returns its code.
    pub async fn closed_with(&mut self) -> (u16, String) {
        loop {
            match self.recv().await {
                Incoming::Close(code, reason) => return (code, reason),
                Incoming::Text(message) => {
                    let kind = message["type"].as_str().unwrap_or("");
                    assert!(
                        ["ping", "pong", "ka", "connection_error"].contains(&kind),
                        "expected the socket to close, got {message}"
                    );
                }
            }
        }
    }

    /// `connection_init` with the token, and the acknowledgement.
    pub async fn init(&mut self, token: &str) {
        self.send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }))
            .await;
        let ack = self.recv_message().await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let kind = if self.legacy { "start" } else { "subscribe" };
        self.send(json!({ "id": id, "type": kind, "payload": { "query": query, "variables": variables } }))
            .await;
    }

    /// Subscribes to status changes with `variables` under id `id`.
    pub async fn status_changes(&mut self, id: &str, variables: Value) {
        self.subscribe(id, STATUS_CHANGES, variables).await;
    }

    /// The next `invoiceStatusChanged` payload of any subscription, with its id.
    pub async fn next_change_of_any(&mut self) -> (String, Value) {
        let message = self.recv_message().await;
        let expected = if self.legacy { "data" } else { "next" };
        assert_eq!(message["type"], expected, "{message}");
        assert!(message["payload"].get("errors").is_none(), "{message}");
        (
            message["id"].as_str().unwrap().to_owned(),
            message["payload"]["data"]["invoiceStatusChanged"].clone(),
        )
    }

    /// The next `invoiceStatusChanged` payload (one subscription on the socket).
    pub async fn next_change(&mut self) -> Value {
        self.next_change_of_any().await.1
    }
}

/// A socket initialised with `token` and subscribed to status changes with `variables`.
pub async fn subscribed(app: &TestApp, token: &str, variables: Value) -> WsClient {
    subscribed_at(&app.base, token, variables).await
}

pub async fn subscribed_at(base: &str, token: &str, variables: Value) -> WsClient {
    let mut client = WsClient::connect_to(base, "graphql-transport-ws").await;
    client.init(token).await;
    client.status_changes("1", variables).await;
    client
}
