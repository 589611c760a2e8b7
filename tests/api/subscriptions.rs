//! `invoiceStatusChanged` over real WebSockets: every source, once and in order; filters
//! and customer scope (replay included); lossless resume with a cursor while changes keep
//! coming; the protocol's close codes and keep-alives; the legacy protocol.

use chrono::Duration;
use credit_gateway::domain::{FeedFilter, InvoiceStatus};
use credit_gateway::events::EventHub;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;
use crate::ws_client::*;

on_both_backends!(
    a_change_from_each_source_arrives_once_in_order,
    filters_narrow_by_account_and_status,
    a_customer_hears_only_its_own_account_also_on_replay,
    replay_after_a_cursor_has_no_gap_and_no_duplicate_while_changes_continue,
    a_subscription_without_a_cursor_hears_changes_from_now_on,
    a_malformed_cursor_is_an_error_on_that_subscription,
    a_cursor_not_sealed_by_the_server_is_refused,
    a_catch_up_naming_thousands_of_transactions_runs_a_few_statements,
    the_legacy_graphql_ws_protocol_works_too,
    subscriptions_also_stream_over_http_multipart,
    a_subscriber_that_falls_behind_catches_up_from_the_table,
    a_commit_of_many_events_arrives_whole_over_several_pages_and_resumes_mid_way,
    a_change_that_rolls_back_is_never_announced,
);

pub const MARK_PAID: &str =
    "mutation($id: ID!) { markInvoicePaid(input: {id: $id}) { userErrors { code } } }";

/// Accounts `ACC` and `OTHER`, and `n` open invoices of each (`ACC-00`…, `OTHER-00`…),
/// due in a week.
pub async fn invoices(app: &TestApp, n: usize) {
    let due = app.today() + Duration::days(7);
    let mut all = Vec::new();
    for account_id in ["ACC", "OTHER"] {
        for i in 0..n {
            all.push(invoice(
                &format!("{account_id}-{i:02}"),
                account_id,
                &format!("ORD-{account_id}"),
                "10.00",
                due,
            ));
        }
    }
    app.insert(
        &[account("ACC"), account("OTHER")],
        &[
            order("ORD-ACC", "ACC", "1000.00"),
            order("ORD-OTHER", "OTHER", "1000.00"),
        ],
        &all,
    )
    .await;
}

/// The feed's "now", as a client reads it before subscribing.
pub async fn cursor_now(app: &TestApp, token: &str) -> String {
    let body = app
        .gql(Some(token), "{ statusChangeCursor }", json!({}))
        .await;
    body["data"]["statusChangeCursor"]
        .as_str()
        .unwrap_or_else(|| panic!("a cursor: {body}"))
        .to_owned()
}

pub async fn pay(app: &TestApp, id: &str) {
    pay_at(&app.client, &app.base, &app.admin(), id).await;
}

/// `pay` for a task that does not hold the `TestApp`.
pub async fn pay_at(client: &reqwest::Client, base: &str, token: &str, id: &str) {
    let body: Value = client
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": MARK_PAID, "variables": { "id": id } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["data"]["markInvoicePaid"]["userErrors"],
        json!([]),
        "{id}: {body}"
    );
}

/// A change through a real CSV import (`importInvoicesCsv`, source `CSV_IMPORT`).
async fn change_as_import(app: &TestApp, id: &str, status: InvoiceStatus) {
    let label = match status {
        InvoiceStatus::Paid => "Paid",
        InvoiceStatus::Cancelled => "Cancelled",
        other => panic!("no import test for {other:?}"),
    };
    let file = format!("Invoice ID,Status\n{id},{label}\n");
    let import = app.import_csv(file.into_bytes(), json!({})).await;
    assert_eq!(import["state"], "APPLIED", "{import:#}");
}

/// `(invoice id, previous status, status, source)` of a change.
fn summary(change: &Value) -> (String, Value, String, String) {
    (
        change["invoice"]["id"].as_str().unwrap().to_owned(),
        change["previousStatus"].clone(),
        change["status"].as_str().unwrap().to_owned(),
        change["source"].as_str().unwrap().to_owned(),
    )
}

async fn a_change_from_each_source_arrives_once_in_order(app: TestApp) {
    invoices(&app, 4).await;
    let admin = app.admin();
    let after = cursor_now(&app, &admin).await;
    let mut client = subscribed(&app, &admin, json!({ "after": after })).await;

    // GraphQL, REST, CSV import, then the sweeper (an invoice due yesterday), then a
    // link change that is no status change, then a creation.
    pay(&app, "ACC-00").await;
    let rest = app
        .client
        .delete(format!(
            "{}/api/creditcontrol/accounts/ACC/invoices/ACC-01",
            app.base
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert!(rest.status().is_success(), "{}", rest.status());
    change_as_import(&app, "ACC-02", InvoiceStatus::Paid).await;
    let yesterday = app.today() - Duration::days(1);
    app.insert(
        &[],
        &[],
        &[invoice("LATE", "ACC", "ORD-ACC", "1.00", yesterday)],
    )
    .await;
    assert_eq!(app.running.gateway.sweep_overdue().await.unwrap(), 1);
    let link = app
        .admin_data(
            "mutation { setPaymentLink(input: {id: \"ACC-03\", paymentLink: \"https://pay.example.com/x\"}) { userErrors { code } } }",
            json!({}),
        )
        .await;
    assert_eq!(link["setPaymentLink"]["userErrors"], json!([]));
    pay(&app, "ACC-03").await;

    let mut received = Vec::new();
    for _ in 0..6 {
        received.push(client.next_change().await);
    }
    let summaries: Vec<_> = received.iter().map(summary).collect();
    let s = |id: &str, from: Option<&str>, to: &str, source: &str| {
        (id.to_owned(), json!(from), to.to_owned(), source.to_owned())
    };
    assert_eq!(
        summaries,
        vec![
            s("ACC-00", Some("OPEN"), "PAID", "GRAPHQL"),
            s("ACC-01", Some("OPEN"), "CANCELLED", "REST"),
            s("ACC-02", Some("OPEN"), "PAID", "CSV_IMPORT"),
            s("LATE", None, "OPEN", "SEED"),
            s("LATE", Some("OPEN"), "OVERDUE", "SWEEPER"),
            s("ACC-03", Some("OPEN"), "PAID", "GRAPHQL"),
        ]
    );
    // The whole invoice comes along, as it is now.
    assert_eq!(received[0]["invoice"]["status"], "PAID");
    assert_eq!(received[0]["invoice"]["accountId"], "ACC");
    assert_eq!(received[5]["invoice"]["version"], 3);
    // Cursors are distinct.
    let mut cursors: Vec<_> = received.iter().map(|c| c["cursor"].clone()).collect();
    cursors.dedup();
    assert_eq!(cursors.len(), 6);
}

async fn filters_narrow_by_account_and_status(app: TestApp) {
    invoices(&app, 3).await;
    let admin = app.admin();
    let after = cursor_now(&app, &admin).await;
    let mut client = subscribed(
        &app,
        &admin,
        json!({ "after": after, "accountId": "ACC", "statuses": ["PAID"] }),
    )
    .await;

    pay(&app, "OTHER-00").await; // another account
    change_as_import(&app, "ACC-00", InvoiceStatus::Cancelled).await; // another status
    pay(&app, "ACC-01").await; // wanted
    pay(&app, "OTHER-01").await;
    pay(&app, "ACC-02").await; // wanted

    // Changes arrive in order, so anything the filter let through would come first.
    let first = client.next_change().await;
    assert_eq!(first["invoice"]["id"], "ACC-01");
    let second = client.next_change().await;
    assert_eq!(second["invoice"]["id"], "ACC-02");
}

async fn a_customer_hears_only_its_own_account_also_on_replay(app: TestApp) {
    invoices(&app, 3).await;
    let customer = app.customer("ACC");
    let after = cursor_now(&app, &customer).await;
    // Changes before the customer subscribes: heard on replay, its own only.
    pay(&app, "OTHER-00").await;
    pay(&app, "ACC-00").await;
    pay(&app, "OTHER-01").await;

    let mut client = WsClient::connect(&app).await;
    client.init(&customer).await;
    client
        .status_changes("own", json!({ "after": after }))
        .await;
    // Asking for another account is not an error: there is simply nothing to hear.
    client
        .status_changes("theirs", json!({ "after": after, "accountId": "OTHER" }))
        .await;
    let (id, change) = client.next_change_of_any().await;
    assert_eq!(
        (id.as_str(), &change["invoice"]["id"]),
        ("own", &json!("ACC-00"))
    );

    // And live.
    pay(&app, "OTHER-02").await;
    pay(&app, "ACC-01").await;
    let (id, change) = client.next_change_of_any().await;
    assert_eq!(
        (id.as_str(), &change["invoice"]["id"]),
        ("own", &json!("ACC-01"))
    );
}

async fn replay_after_a_cursor_has_no_gap_and_no_duplicate_while_changes_continue(app: TestApp) {
    const N: usize = 30;
    invoices(&app, N).await;
    let admin = app.admin();
    let after = cursor_now(&app, &admin).await;
    let filter = json!({ "after": after, "accountId": "ACC" });
    let mut steady = subscribed(&app, &admin, filter.clone()).await;
    let mut flaky = subscribed(&app, &admin, filter).await;

    // Payments keep coming from another task the whole time.
    let writer = {
        let base = app.base.clone();
        let client = app.client.clone();
        let token = admin.clone();
        tokio::spawn(async move {
            for i in 0..N {
                pay_at(&client, &base, &token, &format!("ACC-{i:02}")).await;
            }
        })
    };

    // The flaky client drops its connection twice and resumes from its last cursor.
    let mut flaky_ids = Vec::new();
    let mut last_cursor = None;
    for round in [5, 12, N] {
        while flaky_ids.len() < round {
            let change = flaky.next_change().await;
            flaky_ids.push(change["invoice"]["id"].as_str().unwrap().to_owned());
            last_cursor = Some(change["cursor"].clone());
        }
        if round < N {
            drop(flaky);
            flaky = subscribed(
                &app,
                &admin,
                json!({ "after": last_cursor, "accountId": "ACC" }),
            )
            .await;
        }
    }
    let mut steady_ids = Vec::new();
    while steady_ids.len() < N {
        let change = steady.next_change().await;
        steady_ids.push(change["invoice"]["id"].as_str().unwrap().to_owned());
    }
    writer.await.unwrap();

    let expected: Vec<String> = (0..N).map(|i| format!("ACC-{i:02}")).collect();
    assert_eq!(steady_ids, expected);
    assert_eq!(flaky_ids, expected);
}

async fn a_subscription_without_a_cursor_hears_changes_from_now_on(app: TestApp) {
    invoices(&app, 20).await;
    pay(&app, "ACC-00").await; // before: never heard
    let mut client = subscribed(&app, &app.admin(), json!({})).await;
    // The subscription starts a moment after the message is sent: keep changing until
    // one is heard, then check that it is one made after subscribing.
    let mut paid = Vec::new();
    let heard = loop {
        let id = format!("ACC-{:02}", paid.len() + 1);
        pay(&app, &id).await;
        paid.push(id);
        let next = tokio::time::timeout(std::time::Duration::from_millis(500), async {
            client.next_change().await
        })
        .await;
        if let Ok(change) = next {
            break change;
        }
        assert!(paid.len() < 19, "no change heard");
    };
    let id = heard["invoice"]["id"].as_str().unwrap();
    assert!(
        paid.iter().any(|p| p == id),
        "{id} was paid before subscribing"
    );
}

/// A client can hold and return a cursor, not make one: its text is readable, but
/// changing it (a list of thousands of transaction ids, say) breaks its seal.
async fn a_cursor_not_sealed_by_the_server_is_refused(app: TestApp) {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    let admin = app.admin();
    let real = cursor_now(&app, &admin).await;
    let (body, tag) = real.split_once('.').expect("a sealed cursor: text.tag");
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap();
    let forged_text = format!("{}1,2,3", text.trim_end_matches(|c: char| c != ':'));
    for forged in [
        format!("{}.{tag}", URL_SAFE_NO_PAD.encode(&forged_text)),
        URL_SAFE_NO_PAD.encode(&text),
        format!("{body}.{}", URL_SAFE_NO_PAD.encode([0_u8; 32])),
    ] {
        let mut client = subscribed(&app, &admin, json!({ "after": forged })).await;
        let message = client.recv_message().await;
        assert_eq!(message["type"], "error", "{forged}: {message}");
        assert_eq!(
            message["payload"][0]["extensions"]["code"], "INVALID_CURSOR",
            "{forged}: {message}"
        );
    }
    // The real one still works.
    invoices(&app, 1).await;
    let mut client = subscribed(&app, &admin, json!({ "after": real })).await;
    assert_eq!(client.next_change().await["invoice"]["id"], "ACC-00");
}

/// A catch-up over thousands of transactions that finished out of order (the in-progress
/// list of an old snapshot) once ran one statement per transaction.
async fn a_catch_up_naming_thousands_of_transactions_runs_a_few_statements(app: TestApp) {
    use credit_gateway::domain::Snapshot;

    invoices(&app, 3).await;
    let store = &app.running.store;
    let now = store.feed_snapshot().await.unwrap();
    // Every transaction of the last 3,000 ids was running at `from`, and has finished.
    let xmin = (now.xmax - 3_000).max(1);
    let from = Snapshot {
        xmin,
        xmax: now.xmax,
        in_progress: (xmin..now.xmax).collect(),
    };
    let to = Snapshot::before(now.xmax);
    assert_eq!(from.diff(&to).finished.len() as i64, now.xmax - xmin);
    let before = app.statements();
    let events = store
        .read_feed(&from, &to, 0, &FeedFilter::default(), 100)
        .await
        .unwrap();
    let statements = app.statements() - before;
    assert_eq!(events.len(), 6, "the fixtures' creations are read");
    assert!(statements <= 3, "{statements} statements");
}

async fn a_malformed_cursor_is_an_error_on_that_subscription(app: TestApp) {
    let mut client = subscribed(&app, &app.admin(), json!({ "after": "bogus" })).await;
    let message = client.recv_message().await;
    assert_eq!(message["type"], "error", "{message}");
    assert_eq!(message["id"], "1");
    assert_eq!(
        message["payload"][0]["extensions"]["code"],
        "INVALID_CURSOR"
    );
    // The connection stays usable.
    client.send(json!({ "type": "ping" })).await;
    loop {
        match client.recv().await {
            Incoming::Text(message) if message["type"] == "pong" => break,
            Incoming::Text(message) => assert_eq!(message["type"], "ping", "{message}"),
            Incoming::Close(code, reason) => panic!("closed: {code} {reason}"),
        }
    }
}

async fn the_legacy_graphql_ws_protocol_works_too(app: TestApp) {
    invoices(&app, 2).await;
    let admin = app.admin();
    let after = cursor_now(&app, &admin).await;
    let mut client = WsClient::connect_to(&app.base, "graphql-ws").await;
    client.init(&admin).await;
    client.status_changes("a", json!({ "after": after })).await;
    pay(&app, "ACC-00").await;
    let change = client.next_change().await;
    assert_eq!(change["invoice"]["id"], "ACC-00");
    client.send(json!({ "id": "a", "type": "stop" })).await;
    let complete = client.recv_message().await;
    assert_eq!(complete, json!({ "id": "a", "type": "complete" }));

    // A refused token: `connection_error`, then the socket closes.
    let mut refused = WsClient::connect_to(&app.base, "graphql-ws").await;
    refused
        .send(json!({ "type": "connection_init", "payload": { "Authorization": "Bearer nope" } }))
        .await;
    let error = refused.recv_message().await;
    assert_eq!(error["type"], "connection_error", "{error}");
    assert_eq!(refused.closed_with().await.0, 4403);
}

// ---- the protocol ----

on_both_backends!(
    protocol_violations_close_with_the_codes_of_graphql_transport_ws,
    a_token_that_expires_closes_the_socket,
    one_connection_runs_at_most_a_hundred_operations,
    each_change_delivered_is_paid_from_the_callers_budget,
    a_caller_holds_a_bounded_number_of_subscriptions_across_sockets,
);

async fn protocol_violations_close_with_the_codes_of_graphql_transport_ws(app: TestApp) {
    let admin = app.admin();

    let mut client = WsClient::connect(&app).await;
    client.send_text("{ not json".into()).await;
    assert_eq!(client.closed_with().await.0, 4400, "malformed JSON");

    let mut client = WsClient::connect(&app).await;
    client.send(json!({ "type": "launch_missiles" })).await;
    assert_eq!(client.closed_with().await.0, 4400, "unknown message type");

    let mut client = WsClient::connect(&app).await;
    client
        .send(json!({ "type": "connection_init", "payload": { "Authorization": "Bearer forged" } }))
        .await;
    assert_eq!(client.closed_with().await.0, 4403, "refused token");

    let mut client = WsClient::connect(&app).await;
    client.send(json!({ "type": "connection_init" })).await;
    assert_eq!(client.closed_with().await.0, 4403, "no token");

    let mut client = WsClient::connect(&app).await;
    client.status_changes("1", json!({})).await;
    assert_eq!(client.closed_with().await.0, 4401, "subscribe before ack");

    let mut client = WsClient::connect(&app).await;
    client.init(&admin).await;
    client.send(json!({ "type": "connection_init" })).await;
    assert_eq!(client.closed_with().await.0, 4429, "second init");

    let mut client = WsClient::connect(&app).await;
    client.init(&admin).await;
    client.status_changes("same", json!({})).await;
    client.status_changes("same", json!({})).await;
    let (code, reason) = client.closed_with().await;
    assert_eq!(code, 4409, "duplicate id");
    assert!(reason.contains("same"), "{reason}");

    let mut client = WsClient::connect(&app).await;
    client.init(&admin).await;
    client.send(json!({ "type": "subscribe", "id": "1" })).await;
    assert_eq!(
        client.closed_with().await.0,
        4400,
        "subscribe without payload"
    );

    // Short timers: one second to initialise, a keep-alive every second.
    let quick = TestApp::with(app.backend)
        .config(|config| {
            config.ws_init_timeout = 1;
            config.ws_keepalive = 1;
        })
        .spawn()
        .await
        .expect("the backend was reachable a moment ago");
    let mut silent = WsClient::connect(&quick).await;
    assert_eq!(silent.closed_with().await.0, 4408, "no connection_init");

    let mut idle = WsClient::connect(&quick).await;
    idle.init(&quick.admin()).await;
    for _ in 0..3 {
        match idle.recv().await {
            Incoming::Text(message) => assert_eq!(message, json!({ "type": "ping" })),
            Incoming::Close(code, reason) => panic!("closed: {code} {reason}"),
        }
        idle.send(json!({ "type": "pong" })).await;
    }
    let mut legacy = WsClient::connect_to(&quick.base, "graphql-ws").await;
    legacy.init(&quick.admin()).await;
    for _ in 0..2 {
        match legacy.recv().await {
            Incoming::Text(message) => assert_eq!(message, json!({ "type": "ka" })),
            Incoming::Close(code, reason) => panic!("closed: {code} {reason}"),
        }
    }
}

async fn a_token_that_expires_closes_the_socket(app: TestApp) {
    invoices(&app, 1).await;
    // Past its `exp` by 20 s, inside the 30 s allowed for clock skew: accepted over
    // HTTP, so the socket serves it too, and closes when the leeway ends, 10 s on.
    let after = cursor_now(&app, &app.admin()).await;
    let late = app.running.keys.mint(
        &credit_gateway::auth::Principal::Admin {
            subject: "brief".into(),
        },
        Duration::seconds(-20),
    );
    let mut client = WsClient::connect(&app).await;
    client.init(&late).await;
    client.status_changes("1", json!({ "after": after })).await;
    pay(&app, "ACC-00").await;
    let (_, change) = client.next_change_of_any().await;
    assert_eq!(
        change["invoice"]["id"], "ACC-00",
        "served inside the leeway"
    );
    let (code, reason) = client.closed_with().await;
    assert_eq!(code, 4403);
    assert!(reason.contains("expired"), "{reason}");
}

async fn subscriptions_also_stream_over_http_multipart(app: TestApp) {
    invoices(&app, 2).await;
    let admin = app.admin();
    let after = cursor_now(&app, &admin).await;
    let mut response = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(&admin)
        .header(
            "accept",
            "multipart/mixed;boundary=\"graphql\";subscriptionSpec=\"1.0\",application/json",
        )
        .json(&json!({ "query": STATUS_CHANGES, "variables": { "after": after } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("multipart/mixed"),
        "{content_type}"
    );
    pay(&app, "ACC-00").await;

    // Parts are `--graphql`, headers, a blank line, then `{"payload": ...}` or `{}`.
    let mut received = String::new();
    let change = tokio::time::timeout(ARRIVES_WITHIN, async {
        loop {
            let chunk = response
                .chunk()
                .await
                .unwrap()
                .expect("the stream stays open");
            received.push_str(std::str::from_utf8(&chunk).unwrap());
            let found = received
                .split("--graphql")
                .filter_map(|part| part.split_once("\r\n\r\n"))
                .filter_map(|(_, body)| serde_json::from_str::<Value>(body.trim()).ok())
                .find(|body| !body["payload"].is_null());
            if let Some(body) = found {
                return body;
            }
        }
    })
    .await
    .expect("a change within the timeout");
    assert_eq!(
        change["payload"]["data"]["invoiceStatusChanged"]["invoice"]["id"], "ACC-00",
        "{change}"
    );
}

async fn a_subscriber_that_falls_behind_catches_up_from_the_table(app: TestApp) {
    const CHANGES: usize = 10;
    invoices(&app, CHANGES).await;
    // A hub whose live channel holds two pages.
    let hub = EventHub::with_channel_pages(app.running.store.clone(), 2);
    let mut busy = hub.subscribe(FeedFilter::default(), None).await.unwrap();
    let mut probe = hub.subscribe(FeedFilter::default(), None).await.unwrap();
    // One page per change: the next change is made once the probe has heard the last.
    for i in 0..CHANGES {
        change_as_import(&app, &format!("ACC-{i:02}"), InvoiceStatus::Paid).await;
        let (heard, _) = tokio::time::timeout(ARRIVES_WITHIN, probe.next())
            .await
            .expect("the probe hears it")
            .unwrap()
            .unwrap();
        assert_eq!(heard.invoice.id, format!("ACC-{i:02}"));
    }
    // `busy` read nothing meanwhile: ten pages went by a channel of two.
    let mut caught_up = Vec::new();
    for _ in 0..CHANGES {
        let (change, _) = tokio::time::timeout(ARRIVES_WITHIN, busy.next())
            .await
            .expect("caught up from the table")
            .unwrap()
            .unwrap();
        caught_up.push(change.invoice.id.clone());
    }
    let expected: Vec<String> = (0..CHANGES).map(|i| format!("ACC-{i:02}")).collect();
    assert_eq!(caught_up, expected);
    hub.stop();
}

async fn one_connection_runs_at_most_a_hundred_operations(app: TestApp) {
    let mut client = WsClient::connect(&app).await;
    client.init(&app.admin()).await;
    for i in 0..100 {
        client.status_changes(&format!("s{i}"), json!({})).await;
    }
    client.status_changes("one-too-many", json!({})).await;
    let refused = client.recv_message().await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "one-too-many");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"],
        "TOO_MANY_OPERATIONS"
    );
    // Completing one makes room again.
    client.send(json!({ "type": "complete", "id": "s0" })).await;
    client
        .status_changes("room-again", json!({ "after": "bogus" }))
        .await;
    let answer = client.recv_message().await;
    assert_eq!(answer["id"], "room-again", "{answer}");
    assert_eq!(answer["payload"][0]["extensions"]["code"], "INVALID_CURSOR");
}

async fn a_commit_of_many_events_arrives_whole_over_several_pages_and_resumes_mid_way(
    app: TestApp,
) {
    // 2 × 700 creations in one transaction: several pages of the feed.
    const PER_ACCOUNT: usize = 700;
    let admin = app.admin();
    let after = cursor_now(&app, &admin).await;
    let mut live = subscribed(&app, &admin, json!({})).await;
    let mut replay = subscribed(&app, &admin, json!({ "after": after })).await;
    invoices(&app, PER_ACCOUNT).await;

    let expected: Vec<String> = ["ACC", "OTHER"]
        .iter()
        .flat_map(|a| (0..PER_ACCOUNT).map(move |i| format!("{a}-{i:02}")))
        .collect();
    let mut replayed = Vec::new();
    let mut cursors = Vec::new();
    while replayed.len() < expected.len() {
        let change = replay.next_change().await;
        assert_eq!(change["previousStatus"], Value::Null);
        replayed.push(change["invoice"]["id"].as_str().unwrap().to_owned());
        cursors.push(change["cursor"].clone());
    }
    assert_eq!(replayed, expected, "every creation once, in order");

    // One more change, published to the live channel before the next client subscribes.
    pay(&app, "ACC-00").await;
    assert_eq!(replay.next_change().await["invoice"]["id"], "ACC-00");

    // Resuming from a cursor in the middle of that one commit gives exactly the rest,
    // then the later change (with no further change to come and reveal a gap).
    let middle = 777;
    let mut resumed = subscribed(&app, &admin, json!({ "after": cursors[middle - 1] })).await;
    let mut rest = Vec::new();
    while rest.len() < expected.len() - middle {
        let change = resumed.next_change().await;
        rest.push(change["invoice"]["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(rest, expected[middle..]);
    let later = resumed.next_change().await;
    assert_eq!(
        (&later["invoice"]["id"], &later["status"]),
        (&json!("ACC-00"), &json!("PAID"))
    );

    // The subscriber without a cursor started around the commit: it hears all of it, in
    // order, or none of it; and then the next change.
    let mut heard = Vec::new();
    loop {
        let change = live.next_change().await;
        let id = change["invoice"]["id"].as_str().unwrap().to_owned();
        if change["status"] == "PAID" {
            assert_eq!(id, "ACC-00");
            break;
        }
        heard.push(id);
    }
    assert!(
        heard.is_empty() || heard == expected,
        "{} heard",
        heard.len()
    );
}

async fn a_change_that_rolls_back_is_never_announced(app: TestApp) {
    use sea_orm::{ConnectionTrait, Database, TransactionTrait};

    invoices(&app, 2).await;
    let admin = app.admin();
    let after = cursor_now(&app, &admin).await;
    let mut client = subscribed(&app, &admin, json!({ "after": after })).await;

    let db = Database::connect(&app.config.database_url).await.unwrap();
    let txn = db.begin().await.unwrap();
    txn.execute_unprepared(
        "INSERT INTO invoice_events (invoice_id, status_from, status_to, actor, source, occurred_at) \
         VALUES ('ACC-00', 'OPEN', 'CANCELLED', 'doomed', 'GRAPHQL', CURRENT_TIMESTAMP)",
    )
    .await
    .unwrap();
    txn.rollback().await.unwrap();
    pay(&app, "ACC-01").await;

    // Changes arrive in order: the rolled-back one would come first.
    let first = client.next_change().await;
    assert_eq!(first["invoice"]["id"], "ACC-01", "{first}");
}

/// A replaying subscription with a page of 50 invoices under each change once cost its
/// price once, then delivered hundreds of changes free.
async fn each_change_delivered_is_paid_from_the_callers_budget(app: TestApp) {
    let app = TestApp::with(app.backend)
        .config(|config| {
            config.max_complexity = 1_000;
            config.throttle_capacity = 1_000;
            config.throttle_per_second = 1;
        })
        .spawn()
        .await
        .unwrap();
    let admin = app.admin();
    let after = cursor_now(&app, &admin).await;
    invoices(&app, 10).await;
    // 156 points a change: a page of 50 invoices, three points each, under it.
    let heavy = "subscription($after: String) { invoiceStatusChanged(after: $after) { \
        cursor invoice { id account { invoices(first: 50) { nodes { id value } } } } } }";
    let mut client = WsClient::connect(&app).await;
    client.init(&admin).await;
    client
        .subscribe("heavy", heavy, json!({ "after": after }))
        .await;
    for _ in 0..3 {
        client.next_change().await;
    }
    // 401 points: affordable after the subscription's own price (156 of 1,000), not after
    // three changes paid as well (624).
    let query = "{ invoices(first: 100) { nodes { id value currency dueDate } } }";
    let body = app.gql(Some(&admin), query, json!({})).await;
    assert_eq!(error_codes(&body), ["THROTTLED"], "{body}");
    let other = app.gql(Some(&app.customer("ACC")), query, json!({})).await;
    assert_eq!(
        error_codes(&other),
        Vec::<String>::new(),
        "another caller's budget: {other}"
    );
}

/// Twenty sockets once gave one customer 2,000 live subscriptions.
async fn a_caller_holds_a_bounded_number_of_subscriptions_across_sockets(app: TestApp) {
    let app = TestApp::with(app.backend)
        .config(|config| {
            config.max_subscriptions_per_caller = 3;
        })
        .spawn()
        .await
        .unwrap();
    let customer = app.customer("ACC");
    let mut first = WsClient::connect(&app).await;
    first.init(&customer).await;
    let mut second = WsClient::connect(&app).await;
    second.init(&customer).await;
    for id in ["a", "b"] {
        first.status_changes(id, json!({})).await;
    }
    second.status_changes("c", json!({})).await;
    // A subscription holds its place from the moment it listens to the feed.
    live_subscriptions_reach(&app, 3).await;
    second.status_changes("d", json!({})).await;
    let refused = second.recv_message().await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "d");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"], "TOO_MANY_SUBSCRIPTIONS",
        "{refused}"
    );
    // Another caller is not affected; completing one makes room for this one.
    let _admin = subscribed(&app, &app.admin(), json!({})).await;
    live_subscriptions_reach(&app, 4).await;
    first.send(json!({ "type": "complete", "id": "a" })).await;
    live_subscriptions_reach(&app, 3).await;
    second.status_changes("e", json!({})).await;
    live_subscriptions_reach(&app, 4).await;
    invoices(&app, 1).await;
    let (id, change) = second.next_change_of_any().await;
    assert!(["c", "e"].contains(&id.as_str()), "{id}");
    assert_eq!(change["invoice"]["accountId"], "ACC");
}

/// Waits until this many subscriptions listen to the feed: a subscription takes its
/// place (and gives it back) in the same step as it starts (and stops) listening.
async fn live_subscriptions_reach(app: &TestApp, count: usize) {
    let events = app.running.gateway.events();
    let reached = tokio::time::timeout(ARRIVES_WITHIN, async {
        while events.subscribers() != count {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        reached.is_ok(),
        "{} live, not {count}",
        events.subscribers()
    );
}
