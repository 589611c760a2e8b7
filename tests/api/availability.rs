//! Staying up under clients that hold connections without using them: sockets that send
//! nothing, headers or bodies trickled a byte at a time, kept-alive connections left
//! idle, and more sockets than the process has descriptors. The connection layer does
//! not touch the database, so these run on SQLite alone.

use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

async fn quick_app() -> TestApp {
    TestApp::with(Backend::Sqlite)
        .config(|config| {
            config.header_timeout = 1;
            config.body_timeout = 1;
        })
        .spawn()
        .await
        .unwrap()
}

fn address(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the socket, and returns what it sent; fails the test if
/// the socket is still open after `within`.
async fn read_until_closed(
    socket: &mut (impl tokio::io::AsyncRead + Unpin),
    within: Duration,
) -> String {
    let mut seen = Vec::new();
    let closed = tokio::time::timeout(within, async {
        let mut buffer = [0_u8; 4096];
        loop {
            match socket.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the server kept the socket open for {within:?}; it sent: {:?}",
        String::from_utf8_lossy(&seen)
    );
    String::from_utf8_lossy(&seen).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_sends_nothing_is_closed_after_the_header_timeout() {
    let app = quick_app().await;
    let mut silent = TcpStream::connect(address(&app)).await.unwrap();
    read_until_closed(&mut silent, Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_trickled_a_byte_at_a_time_are_cut_off_at_the_deadline() {
    let app = quick_app().await;
    let mut trickle = TcpStream::connect(address(&app)).await.unwrap();
    trickle
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .unwrap();
    let (mut reader, mut writer) = trickle.into_split();
    // One header byte every 200 ms for 20 s: each byte arrives well within any idle
    // timeout, but the head as a whole never does.
    let writing = tokio::spawn(async move {
        for byte in b"X-Slow: ".iter().cycle().take(100) {
            if writer.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    read_until_closed(&mut reader, Duration::from_secs(5)).await;
    writing.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_alive_connection_left_idle_is_closed() {
    let app = quick_app().await;
    let mut socket = TcpStream::connect(address(&app)).await.unwrap();
    socket
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut socket, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(
        !answer.to_ascii_lowercase().contains("connection: close"),
        "the connection was kept alive, then closed for idling: {answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_trickled_past_its_deadline_is_answered_408() {
    let app = quick_app().await;
    let mut socket = TcpStream::connect(address(&app)).await.unwrap();
    socket
        .write_all(
            b"POST /graphql HTTP/1.1\r\nHost: gateway\r\ncontent-type: application/json\r\n\
              content-length: 100\r\n\r\n{\"query\":",
        )
        .await
        .unwrap();
    let answer = read_until_closed(&mut socket, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("REQUEST_TIMEOUT"), "{answer}");

    // A body sent in time is served as ever.
    let body = app
        .gql(
            Some(&app.admin()),
            "{ invoices { totalCount } }",
            serde_json::json!({}),
        )
        .await;
    assert_eq!(body["data"]["invoices"]["totalCount"], 0, "{body}");
}

/// The finding as reported: with 64 descriptors, sixty idle sockets made `/healthz`
/// time out (`accept error: Too many open files`). Run on the real binary under
/// `prlimit`, so that the process, not the test, has the small limit.
#[test]
fn idle_sockets_cannot_starve_the_server_of_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    let log = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
    let mut child = Command::new("prlimit")
        .arg("--nofile=64:64")
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_credit-gateway"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env("CREDIT_GATEWAY_SECRET", SECRET)
        .env("CREDIT_GATEWAY_SWEEPER", "false")
        .env("CREDIT_GATEWAY_HEADER_TIMEOUT", "1")
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("prlimit (util-linux) runs the gateway");
    let url = announced_url(child.stdout.take().unwrap());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let outcome = runtime.block_on(async {
        let address = url.trim_start_matches("http://");
        let mut idle = Vec::new();
        for _ in 0..60 {
            idle.push(TcpStream::connect(address).await.unwrap());
        }
        let health = http_client()
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap()
            .get(format!("{url}/healthz"))
            .send()
            .await
            .map(|response| response.status().as_u16());
        // Every idle socket is let go, not only the first few.
        for socket in &mut idle {
            read_until_closed(socket, Duration::from_secs(15)).await;
        }
        health
    });
    let _ = child.kill();
    let _ = child.wait();
    let stderr = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert_eq!(
        outcome.ok(),
        Some(200),
        "/healthz was not answered; the gateway logged:\n{stderr}"
    );
}

/// A subscriber that stops reading once held its connection, its subscriptions and its
/// expired token forever: the gateway waited on `send` with no bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_client_that_stops_reading_is_dropped() {
    use crate::subscriptions::{cursor_now, invoices};
    use crate::ws_client::WsClient;

    let app = TestApp::with(Backend::Sqlite)
        .config(|config| {
            config.ws_keepalive = 1;
            config.throttle_capacity = 0;
        })
        .spawn()
        .await
        .unwrap();
    let admin = app.admin();
    let after = cursor_now(&app, &admin).await;
    invoices(&app, 1_000).await;
    // Each change carries a page of 100 invoices: 2,000 changes are far more than the
    // socket buffers hold.
    let heavy = "subscription($after: String) { invoiceStatusChanged(after: $after) { \
        cursor invoice { account { invoices(first: 100) { nodes { id value dueDate status } } } } } }";
    let mut client = WsClient::connect(&app).await;
    client.init(&admin).await;
    client
        .subscribe("heavy", heavy, serde_json::json!({ "after": after }))
        .await;
    let events = app.running.gateway.events().clone();
    let mut subscribed = false;
    let dropped = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let live = events.subscribers();
            subscribed |= live > 0;
            if subscribed && live == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        dropped.is_ok(),
        "the subscription of a client that reads nothing is still running (subscribed: {subscribed})"
    );
    drop(client);
}

/// Sends a whole request, as Python's `http.client` does (no `Expect: 100-continue`: the
/// body follows the headers at once), then reads the answer. A server that answers
/// early and closes under the client makes the sending fail: a broken pipe instead of an
/// answer.
async fn send_whole(app: &TestApp, head: &str, body: &[u8]) -> Result<String, std::io::Error> {
    let mut socket = TcpStream::connect(address(app)).await?;
    socket.write_all(head.as_bytes()).await?;
    socket.write_all(body).await?;
    let mut answer = Vec::new();
    socket.read_to_end(&mut answer).await?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sending_an_oversized_body_reads_the_answer_not_a_broken_pipe() {
    let app = TestApp::with(Backend::Sqlite)
        .config(|config| {
            config.import_max_bytes = 10 * 1024 * 1024;
        })
        .spawn()
        .await
        .unwrap();
    // A 12 MiB JSON request, over the 2 MiB limit.
    let json = format!(
        r#"{{"query": "{{ today }}", "variables": {{"x": "{}"}}}}"#,
        "a".repeat(12 << 20)
    );
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: gateway\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        json.len()
    );
    let answer = send_whole(&app, &head, json.as_bytes())
        .await
        .expect("the answer, not a broken pipe");
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "{}",
        &answer[..answer.len().min(300)]
    );
    assert!(answer.contains("PAYLOAD_TOO_LARGE"), "{answer}");

    // A 30 MiB CSV upload over the 10 MiB import limit, as a browser's form sends it; and
    // the same without a token, refused before its body is read.
    let boundary = "----browser";
    let operations = r#"{"query": "mutation($f: Upload!) { importInvoicesCsv(input: {file: $f}) { import { id } } }", "variables": {"f": null}}"#;
    let mut form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{operations}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{{\"0\": [\"variables.f\"]}}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"0\"; filename=\"big.csv\"\r\n\
         Content-Type: text/csv\r\n\r\nInvoice ID,Status\r\n"
    )
    .into_bytes();
    form.extend(std::iter::repeat_n(b'x', 30 << 20));
    form.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
    for (token, status, code) in [
        (Some(app.admin()), "413", "FILE_TOO_LARGE"),
        (None, "401", "UNAUTHENTICATED"),
    ] {
        let authorization =
            token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
        let head = format!(
            "POST /graphql HTTP/1.1\r\nHost: gateway\r\n{authorization}apollo-require-preflight: true\r\n\
             content-type: multipart/form-data; boundary={boundary}\r\ncontent-length: {}\r\n\r\n",
            form.len()
        );
        let answer = send_whole(&app, &head, &form)
            .await
            .unwrap_or_else(|e| panic!("{status}: the answer, not {e}"));
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{}",
            &answer[..answer.len().min(300)]
        );
        assert!(answer.contains(code), "{answer}");
    }
}
