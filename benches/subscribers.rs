//! Fan-out of one status change to many WebSocket subscribers.
//!
//! Starts the gateway binary (`serve --demo`, SQLite in a temp dir, or `DATABASE_URL`
//! when set), measures its resident memory, opens N `graphql-transport-ws` subscribers,
//! measures again, then flips one invoice's status R times and records, for each change,
//! the time from sending the mutation to the moment the last subscriber received it.
//!
//! ```sh
//! cargo bench --bench subscribers -- 1000 10000   # subscriber counts; ROUNDS=20 by default
//! PER_CONNECTION=4 cargo bench --bench subscribers -- 50000   # 4 subscriptions a socket
//! ```
//!
//! Each subscriber is one subscription; `PER_CONNECTION` (1 by default, at most 100, the
//! gateway's limit of operations on one connection) puts that many on each WebSocket, as
//! a client multiplexing its screens does, so that a count past the descriptor limit
//! (two descriptors per socket: this end and the gateway's) can run.
//!
//! Resident memory is read three times: before the subscribers connect, once every one
//! has heard a first change (`rss_after`, the figure per subscriber), and after the
//! rounds (`rss_end`). Subscribers connect from 127.0.0.1 to 127.0.0.4 in turn, so that
//! more than one address's ephemeral ports (about 28,000) can be open at once, and the
//! process raises its descriptor limit (and the gateway's) to fit them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use credit_gateway::auth::{Principal, TokenKeys};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const SECRET: &str = "bench-secret";
const SUBSCRIPTION: &str =
    "subscription { invoiceStatusChanged { cursor status invoice { id status version } } }";

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

struct Gateway {
    child: std::process::Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_gateway(port: u16, subscribers: usize) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_credit-gateway"));
    command
        .current_dir(dir.path())
        .args(["serve", "--demo", "--bind", &format!("127.0.0.1:{port}")])
        .env("CREDIT_GATEWAY_SECRET", SECRET)
        .env("CREDIT_GATEWAY_SWEEPER", "false")
        // Every subscriber uses one admin token: not a caller to throttle.
        .env("CREDIT_GATEWAY_THROTTLE_CAPACITY", "0")
        .env("CREDIT_GATEWAY_DB_MAX_CONNECTIONS", "20")
        .env(
            "CREDIT_GATEWAY_MAX_CONNECTIONS",
            (subscribers + 100).max(10_000).to_string(),
        )
        // One token holds every subscription: the per-caller cap (100 by default) would
        // refuse all but the first hundred, and the warm-up would wait for them forever.
        .env(
            "CREDIT_GATEWAY_MAX_SUBSCRIPTIONS_PER_CALLER",
            (subscribers + 10).to_string(),
        )
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null());
    // Owned by `Gateway` at once, whose drop kills and reaps it on every path.
    let gateway = Gateway {
        child: command.spawn().expect("gateway binary"),
        base: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    };
    // reqwest is built with TLS but no crypto provider: ring's, as the gateway does.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client
            .get(format!("{}/readyz", gateway.base))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return gateway;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the gateway did not start");
}

async fn gql(base: &str, token: &str, query: &str, variables: Value) -> Value {
    reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// One connection of `subscriptions` subscribers, from 127.0.0.`from`: reports each
/// change each of them receives (round number = invoice version).
async fn subscriber(
    base: String,
    from: u8,
    token: String,
    subscriptions: usize,
    received: mpsc::UnboundedSender<(i64, Instant)>,
) {
    let mut request = format!("{}/graphql/ws", base.replacen("http", "ws", 1))
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let to: std::net::SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let tcp = tokio::net::TcpSocket::new_v4().unwrap();
    tcp.bind((std::net::Ipv4Addr::new(127, 0, 0, from), 0).into())
        .unwrap();
    let stream = tcp.connect(to).await.expect("connect");
    // The client's buffers small too: tens of thousands of them share the machine.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (mut socket, _) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(config))
            .await
            .expect("handshake");
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    socket.send(Message::text(init.to_string())).await.unwrap();
    for id in 1..=subscriptions {
        let subscribe = json!({ "id": id.to_string(), "type": "subscribe", "payload": { "query": SUBSCRIPTION } });
        socket
            .send(Message::text(subscribe.to_string()))
            .await
            .unwrap();
    }
    while let Some(Ok(message)) = socket.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        let at = Instant::now();
        let message: Value = serde_json::from_str(&text).unwrap();
        match message["type"].as_str() {
            Some("next") => {
                let version =
                    message["payload"]["data"]["invoiceStatusChanged"]["invoice"]["version"]
                        .as_i64()
                        .unwrap_or(-1);
                let _ = received.send((version, at));
            }
            Some("ping") => {
                let _ = socket
                    .send(Message::text(json!({ "type": "pong" }).to_string()))
                    .await;
            }
            _ => {}
        }
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

async fn run(subscribers: usize, per_connection: usize, rounds: usize, port: u16) {
    let gateway = start_gateway(port, subscribers).await;
    let pid = gateway.child.id();
    let keys = TokenKeys::new(SECRET);
    let token = keys.mint(
        &Principal::Admin {
            subject: "bench".into(),
        },
        chrono::Duration::hours(2),
    );
    let open = gql(
        &gateway.base,
        &token,
        "{ invoices(status: OPEN, first: 1) { nodes { id } } }",
        json!({}),
    )
    .await;
    let invoice = open["data"]["invoices"]["nodes"][0]["id"]
        .as_str()
        .expect("an open demo invoice")
        .to_owned();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = rss_kib(pid);

    let (tx, mut rx) = mpsc::unbounded_channel();
    let started = Instant::now();
    let permits = Arc::new(tokio::sync::Semaphore::new(64));
    let connections = subscribers.div_ceil(per_connection);
    let mut tasks = Vec::with_capacity(connections);
    for n in 0..connections {
        let permit = permits.clone().acquire_owned().await.unwrap();
        let (base, token, tx) = (gateway.base.clone(), token.clone(), tx.clone());
        let from = 1 + (n % 4) as u8;
        let subscriptions = per_connection.min(subscribers - n * per_connection);
        tasks.push(tokio::spawn(async move {
            drop(permit);
            subscriber(base, from, token, subscriptions, tx).await
        }));
        // Let handshakes proceed a few at a time.
        tokio::task::yield_now().await;
    }
    let flip = |round: usize| {
        if round.is_multiple_of(2) {
            (
                "mutation($id: ID!) { markInvoicePaid(input: {id: $id}) { invoice { version } userErrors { code } } }",
                json!({ "id": invoice }),
            )
        } else {
            (
                "mutation($id: ID!) { changeInvoice(input: {id: $id, status: OPEN, reason: \"bench\"}) { invoice { version } userErrors { code } } }",
                json!({ "id": invoice }),
            )
        }
    };
    // Warm-up change: repeated until every subscriber has heard one (a subscription that
    // is not set up yet hears nothing of changes before it).
    let mut round = 0;
    let mut heard = std::collections::HashSet::new();
    loop {
        let (query, variables) = flip(round);
        let body = gql(&gateway.base, &token, query, variables).await;
        round += 1;
        let version =
            body["data"].as_object().unwrap().values().next().unwrap()["invoice"]["version"]
                .as_i64()
                .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut count = 0;
        while count < subscribers {
            match tokio::time::timeout_at(deadline.into(), rx.recv()).await {
                Ok(Some((v, _))) if v == version => count += 1,
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        heard.insert(version);
        if count == subscribers {
            break;
        }
    }
    let setup = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = rss_kib(pid);

    let mut latencies = Vec::new();
    for _ in 0..rounds {
        let (query, variables) = flip(round);
        round += 1;
        let sent = Instant::now();
        let body = gql(&gateway.base, &token, query, variables).await;
        let version =
            body["data"].as_object().unwrap().values().next().unwrap()["invoice"]["version"]
                .as_i64()
                .unwrap();
        let mut count = 0;
        let mut last = sent;
        while count < subscribers {
            let (v, at) = tokio::time::timeout(Duration::from_secs(60), rx.recv())
                .await
                .expect("every subscriber hears the change")
                .unwrap();
            if v == version {
                count += 1;
                last = last.max(at);
            }
        }
        latencies.push((last - sent).as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rss_end = rss_kib(pid);
    let per_subscriber = (rss_after.saturating_sub(rss_before)) as f64 / subscribers as f64;
    let per_subscriber_end = (rss_end.saturating_sub(rss_before)) as f64 / subscribers as f64;
    let mut sorted = latencies.clone();
    let p50 = median(&mut sorted);
    let max = sorted.last().copied().unwrap_or_default();
    let min = sorted.first().copied().unwrap_or_default();
    println!(
        "subscribers={subscribers} connections={connections} setup={:.1}s rss_before={}KiB rss_after={}KiB per_subscriber={:.1}KiB \
         rss_end={}KiB per_subscriber_end={:.1}KiB \
         commit_to_last_receipt_ms: median={p50:.1} min={min:.1} max={max:.1} (rounds={rounds})",
        setup.as_secs_f64(),
        rss_before,
        rss_after,
        per_subscriber,
        rss_end,
        per_subscriber_end,
    );
    for task in tasks {
        task.abort();
    }
}

fn main() {
    let counts: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let counts = if counts.is_empty() {
        vec![1000, 10000]
    } else {
        counts
    };
    let rounds = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20);
    let per_connection: usize = std::env::var("PER_CONNECTION")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1)
        .clamp(1, 100);
    // Two descriptors a socket (this end and the gateway's, a child that inherits the
    // limit), and room for the rest. Raising the hard limit needs root; without it the
    // soft limit goes as far as the hard one.
    let sockets = counts
        .iter()
        .max()
        .copied()
        .unwrap_or(0)
        .div_ceil(per_connection);
    let wanted = 2 * sockets as u64 + 4096;
    let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap_or((0, 0));
    if wanted > soft
        && rlimit::setrlimit(rlimit::Resource::NOFILE, wanted, wanted.max(hard)).is_err()
    {
        let _ = rlimit::increase_nofile_limit(wanted);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for (i, n) in counts.into_iter().enumerate() {
        runtime.block_on(run(n, per_connection, rounds, 18700 + i as u16));
    }
}
