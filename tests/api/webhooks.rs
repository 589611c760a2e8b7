//! Webhooks to a real receiver on 127.0.0.1 that checks every signature with the
//! Standard Webhooks library (crates.io `standardwebhooks`), on both backends.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;

// These gateways deliver (others do not: see `test_config`).
on_both_backends!(config |c| c.webhooks = true;
    a_change_is_delivered_signed_with_the_invoice_as_rest_shows_it,
    a_failing_receiver_is_retried_and_its_retry_after_honoured,
    a_rotated_secret_and_the_previous_one_both_sign_for_a_while,
    a_receiver_answering_410_disables_its_endpoint,
    destinations_off_the_allow_list_and_bad_settings_are_refused,
    only_administrators_manage_webhooks,
    a_finished_import_is_told_once_with_its_counts,
    an_invoice_due_soon_is_reminded_once_per_due_date,
    scripts_manage_endpoints_from_the_command_line,
    nothing_is_lost_across_a_restart_and_a_receiver_outage,
    every_event_type_is_delivered_once_in_commit_order,
);

// Delivered by the gateway's binary, killed mid-delivery (the gateway in the test process
// manages endpoints only).
on_both_backends!(a_gateway_killed_mid_delivery_loses_nothing);

// Paced: at most `RATE` messages a second to an endpoint.
on_both_backends!(config |c| { c.webhooks = true; c.webhook_rate = super::RATE; };
    a_large_import_is_delivered_whole_and_paced,
);

/// The pace of the paced gateways, in messages a second.
const RATE: u32 = 500;

/// A message as the receiver got it.
#[derive(Clone, Debug)]
struct Received {
    id: String,
    body: Value,
    /// Whether the library verified it with the receiver's secret.
    verified: bool,
    /// Whether it verified with the other secret the receiver was told of.
    verified_by_other: bool,
    /// When it arrived.
    at: Instant,
}

#[derive(Default)]
struct Inbox {
    secrets: Vec<String>,
    /// Statuses to answer, in turn; 204 once they run out.
    answers: VecDeque<(u16, Option<&'static str>)>,
    /// How long each answer takes.
    delay: Duration,
    /// The change messages (`evt_…`) being answered, with their invoice.
    in_flight: Vec<(String, String)>,
    /// Invoices of which a change message arrived while another was being answered.
    overlapping: Vec<String>,
    received: Vec<Received>,
}

/// A receiver on a free port of 127.0.0.1.
struct Receiver {
    addr: SocketAddr,
    inbox: Arc<Mutex<Inbox>>,
}

impl Receiver {
    async fn start() -> Receiver {
        Receiver::start_on("127.0.0.1:0".parse().unwrap()).await
    }

    async fn start_on(addr: SocketAddr) -> Receiver {
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(inbox.clone());
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { addr, inbox }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn trust(&self, secret: &str) {
        self.inbox.lock().unwrap().secrets.push(secret.to_owned());
    }

    fn answer(&self, status: u16, retry_after: Option<&'static str>) {
        self.inbox
            .lock()
            .unwrap()
            .answers
            .push_back((status, retry_after));
    }

    /// Waits for `n` distinct messages (at most `seconds`).
    async fn wait_for_distinct(&self, n: usize, seconds: u64) -> Vec<Received> {
        for _ in 0..seconds * 10 {
            let got = self.received();
            let ids: std::collections::HashSet<&str> = got.iter().map(|m| m.id.as_str()).collect();
            if ids.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{n} distinct messages expected, got {:?}", self.received());
    }

    /// Invoices of which a message arrived while another was being answered.
    fn overlapping(&self) -> Vec<String> {
        self.inbox.lock().unwrap().overlapping.clone()
    }

    fn answer_after(&self, delay: Duration) {
        self.inbox.lock().unwrap().delay = delay;
    }

    fn received(&self) -> Vec<Received> {
        self.inbox.lock().unwrap().received.clone()
    }

    /// Waits for `n` messages (at most `seconds`).
    async fn wait_for(&self, n: usize, seconds: u64) -> Vec<Received> {
        for _ in 0..seconds * 10 {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let got = self.received();
        panic!(
            "{n} messages expected, got {}: {:?}",
            got.len(),
            &got[..got.len().min(20)]
        );
    }
}

async fn receive(
    State(inbox): State<Arc<Mutex<Inbox>>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap) {
    let (status, retry_after, delay) = take(&inbox, &headers, &body);
    // Answered (or dropped, when the gateway gives up on the answer): no longer in flight.
    struct Answered(Arc<Mutex<Inbox>>, String);
    impl Drop for Answered {
        fn drop(&mut self) {
            let mut inbox = self.0.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(at) = inbox.in_flight.iter().position(|(id, _)| *id == self.1) {
                inbox.in_flight.remove(at);
            }
        }
    }
    let _answered = Answered(
        inbox.clone(),
        headers["webhook-id"].to_str().unwrap().to_owned(),
    );
    tokio::time::sleep(delay).await;
    let mut answer = HeaderMap::new();
    if let Some(seconds) = retry_after {
        answer.insert("retry-after", seconds.parse().unwrap());
    }
    (StatusCode::from_u16(status).unwrap(), answer)
}

/// The invoice a message is about ("" for none).
fn invoice_of(body: &Bytes) -> String {
    let body: Value = serde_json::from_slice(body).unwrap();
    body["data"]["invoice"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Records a message; what to answer, and after how long.
fn take(
    inbox: &Mutex<Inbox>,
    headers: &HeaderMap,
    body: &Bytes,
) -> (u16, Option<&'static str>, Duration) {
    let mut inbox = inbox.lock().unwrap();
    // Only changes are ordered (a reminder of an invoice is not ordered with its changes);
    // a retry of the same message is not another message.
    let id = headers["webhook-id"].to_str().unwrap().to_owned();
    if id.starts_with("evt_") {
        let invoice = invoice_of(body);
        if inbox
            .in_flight
            .iter()
            .any(|(other, of)| *of == invoice && *other != id)
        {
            inbox.overlapping.push(invoice.clone());
        }
        inbox.in_flight.push((id, invoice));
    }
    let verify = |secret: &String| {
        standardwebhooks::Webhook::new(secret)
            .unwrap()
            .verify(body, headers)
            .is_ok()
    };
    let verified = inbox.secrets.last().is_some_and(verify);
    let verified_by_other = inbox.secrets.len() > 1 && verify(&inbox.secrets[0]);
    inbox.received.push(Received {
        id: headers["webhook-id"].to_str().unwrap().to_owned(),
        body: serde_json::from_slice(body).unwrap(),
        verified,
        verified_by_other,
        at: Instant::now(),
    });
    let (status, retry_after) = inbox.answers.pop_front().unwrap_or((204, None));
    (status, retry_after, inbox.delay)
}

const CREATE: &str =
    "mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) {
    webhookEndpoint { id url eventTypes enabled } secret userErrors { field message code } } }";

const DELIVERIES: &str = "query($id: ID!) { webhookDeliveries(endpointId: $id, first: 50) {
    id messageId eventType invoiceId state attempts { statusCode error durationMs response } } }";

/// The endpoint's deliveries once `n` of them are settled (delivered or failed), at
/// most ten seconds on.
async fn settled(app: &TestApp, endpoint: &str, n: usize) -> Value {
    let mut data = json!(null);
    for _ in 0..100 {
        data = app.admin_data(DELIVERIES, json!({ "id": endpoint })).await;
        let done = data["webhookDeliveries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["state"] == "delivered" || d["state"] == "failed")
            .count();
        if done >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    data
}

/// Registers the receiver for `types`; returns the endpoint's id, its secret trusted.
async fn register(app: &TestApp, receiver: &Receiver, types: &[&str]) -> String {
    let data = app
        .admin_data(
            CREATE,
            json!({ "input": { "url": receiver.url(), "eventTypes": types, "description": "ERP" } }),
        )
        .await;
    let created = &data["createWebhookEndpoint"];
    assert_eq!(created["userErrors"], json!([]), "{created}");
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    receiver.trust(secret);
    created["webhookEndpoint"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn pay(app: &TestApp, id: &str) {
    let data = app
        .admin_data(
            "mutation($id: ID!) { markInvoicePaid(input: {id: $id}) { userErrors { code } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(data["markInvoicePaid"]["userErrors"], json!([]));
}

async fn one_invoice(app: &TestApp, id: &str) {
    let due = app.today() + chrono::Duration::days(10);
    app.insert_invoice(invoice(id, "ACC", &format!("ORD-{id}"), "120.50", due))
        .await;
}

async fn a_change_is_delivered_signed_with_the_invoice_as_rest_shows_it(app: TestApp) {
    one_invoice(&app, "INV-1").await;
    let receiver = Receiver::start().await;
    let endpoint = register(&app, &receiver, &["invoice.paid", "invoice.changed"]).await;
    pay(&app, "INV-1").await;
    app.admin_data(
        "mutation { changeInvoice(input: {id: \"INV-1\", observation: \"paid by wire\"}) { userErrors { code } } }",
        json!({}),
    )
    .await;
    let got = receiver.wait_for(2, 20).await;
    assert!(got.iter().all(|m| m.verified), "{got:?}");
    let paid = &got[0].body;
    assert_eq!(paid["type"], "invoice.paid");
    assert_eq!(paid["data"]["source"], "GRAPHQL");
    assert_eq!(
        paid["data"]["changes"]["status"],
        json!({ "from": "OPEN", "to": "PAID" })
    );
    let rest = app
        .client
        .get(format!(
            "{}/api/creditcontrol/accounts/ACC/invoices/INV-1",
            app.base
        ))
        .bearer_auth(app.admin())
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(paid["data"]["invoice"]["id"], rest["id"]);
    assert_eq!(paid["data"]["invoice"]["status"], "Paid");
    assert_eq!(
        paid["data"]["invoice"]["value"],
        json!(120.5),
        "a JSON number, exact"
    );
    assert_eq!(got[1].body["type"], "invoice.changed");
    assert_eq!(
        got[1].body["data"]["changes"]["observation"]["to"],
        "paid by wire"
    );
    assert_ne!(got[0].id, got[1].id);
    // Recorded once the receiver's answer is back (the receiver has it a moment before).
    let data = settled(&app, &endpoint, 2).await;
    let deliveries = data["webhookDeliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 2, "nothing else was subscribed: {data}");
    for delivery in deliveries {
        assert_eq!(delivery["state"], "delivered");
        assert_eq!(delivery["attempts"][0]["statusCode"], 204);
    }
    // Nothing more arrives: each message once.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 2);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    for expected in [
        format!("webhook_deliveries_total{{endpoint=\"{endpoint}\",outcome=\"delivered\"}} 2\n"),
        "webhook_deliveries_pending 0\n".to_owned(),
    ] {
        assert!(metrics.contains(&expected), "{expected:?} in {metrics}");
    }
}

async fn a_failing_receiver_is_retried_and_its_retry_after_honoured(app: TestApp) {
    one_invoice(&app, "INV-1").await;
    let receiver = Receiver::start().await;
    receiver.answer(500, None);
    receiver.answer(503, Some("7"));
    let endpoint = register(&app, &receiver, &["invoice.paid", "invoice.changed"]).await;
    pay(&app, "INV-1").await;
    let first = receiver.wait_for(1, 10).await;
    // A later change of the invoice waits behind the payment being retried.
    let noted = app.admin_data(
        "mutation { changeInvoice(input: {id: \"INV-1\", observation: \"paid by wire\"}) { userErrors { code } } }",
        json!({}),
    )
    .await;
    assert_eq!(noted["changeInvoice"]["userErrors"], json!([]), "{noted}");
    let mut data = json!(null);
    for _ in 0..30 {
        data = app.admin_data(DELIVERIES, json!({ "id": endpoint })).await;
        if data["webhookDeliveries"].as_array().unwrap().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let states: Vec<(&Value, &Value)> = data["webhookDeliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (&d["eventType"], &d["state"]))
        .collect();
    assert_eq!(
        states,
        [
            (&json!("invoice.changed"), &json!("queued")),
            (&json!("invoice.paid"), &json!("pending")),
        ],
        "newest first"
    );
    let got = receiver.wait_for(4, 40).await;
    assert!(
        got[..3].iter().all(|m| m.id == first[0].id),
        "one webhook-id on every try, and the change only after the payment: {got:?}"
    );
    assert_eq!(got[3].body["type"], "invoice.changed");
    assert!(got.iter().all(|m| m.verified));
    let data = settled(&app, &endpoint, 2).await;
    assert_eq!(data["webhookDeliveries"][0]["state"], "delivered");
    let delivery = &data["webhookDeliveries"][1];
    assert_eq!(delivery["state"], "delivered");
    let statuses: Vec<&Value> = delivery["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["statusCode"])
        .collect();
    assert_eq!(statuses, [&json!(500), &json!(503), &json!(204)]);

    // By hand: sent again, with the same id.
    let again = app
        .admin_data(
            "mutation($id: ID!) { redeliverWebhook(input: {deliveryId: $id}) { webhookDelivery { state } userErrors { code } } }",
            json!({ "id": delivery["id"] }),
        )
        .await;
    assert_eq!(
        again["redeliverWebhook"]["webhookDelivery"]["state"],
        "pending"
    );
    let got = receiver.wait_for(5, 10).await;
    assert_eq!(got[4].id, first[0].id);
}

async fn a_rotated_secret_and_the_previous_one_both_sign_for_a_while(app: TestApp) {
    one_invoice(&app, "INV-1").await;
    let receiver = Receiver::start().await;
    let endpoint = register(&app, &receiver, &["invoice.paid"]).await;
    let data = app
        .admin_data(
            "mutation($id: ID!) { rotateWebhookSecret(input: {id: $id}) { secret userErrors { code } } }",
            json!({ "id": endpoint }),
        )
        .await;
    let fresh = data["rotateWebhookSecret"]["secret"].as_str().unwrap();
    receiver.trust(fresh);
    pay(&app, "INV-1").await;
    let got = receiver.wait_for(1, 20).await;
    assert!(got[0].verified, "the new secret signs");
    assert!(got[0].verified_by_other, "and the previous one still does");
}

async fn a_receiver_answering_410_disables_its_endpoint(app: TestApp) {
    let due = app.today() + chrono::Duration::days(10);
    app.insert_order(
        "ACC",
        "ORD",
        "20.00",
        &[
            invoice("INV-1", "ACC", "ORD", "10.00", due),
            invoice("INV-2", "ACC", "ORD", "10.00", due),
        ],
    )
    .await;
    let receiver = Receiver::start().await;
    receiver.answer(410, None);
    let endpoint = register(&app, &receiver, &["invoice.paid"]).await;
    // Operations hear of it on an endpoint of their own.
    let operations = Receiver::start().await;
    let watching = register(&app, &operations, &["webhook_endpoint.disabled"]).await;
    pay(&app, "INV-1").await;
    receiver.wait_for(1, 20).await;
    let told = operations.wait_for(1, 20).await;
    assert!(told[0].verified);
    assert_eq!(told[0].body["type"], "webhook_endpoint.disabled");
    let disabled = &told[0].body["data"]["endpoint"];
    assert_eq!(disabled["id"], endpoint.as_str());
    assert_eq!(disabled["host"], "127.0.0.1");
    assert!(disabled.get("url").is_none(), "the URL may carry a token");
    assert!(disabled["disabledReason"].as_str().unwrap().contains("410"));
    let data = app
        .admin_data(
            "{ webhookEndpoints { id enabled disabledReason } }",
            json!({}),
        )
        .await;
    let found = &data["webhookEndpoints"][0];
    assert_eq!(found["id"], endpoint.as_str());
    assert_eq!(found["enabled"], false);
    assert!(found["disabledReason"].as_str().unwrap().contains("410"));
    assert_eq!(data["webhookEndpoints"][1]["id"], watching.as_str());
    assert_eq!(data["webhookEndpoints"][1]["enabled"], true);
    pay(&app, "INV-2").await;
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(
        receiver.received().len(),
        1,
        "a disabled endpoint gets nothing"
    );

    // Enabled again, what happened meanwhile arrives.
    app.admin_data(
        "mutation($id: ID!) { updateWebhookEndpoint(input: {id: $id, enabled: true}) { userErrors { code } } }",
        json!({ "id": endpoint }),
    )
    .await;
    let got = receiver.wait_for(2, 20).await;
    assert_eq!(got[1].body["data"]["invoice"]["id"], "INV-2");
}

async fn destinations_off_the_allow_list_and_bad_settings_are_refused(app: TestApp) {
    let refused = |url: &'static str, types: Value| {
        let app = &app;
        async move {
            let data = app
                .admin_data(
                    CREATE,
                    json!({ "input": { "url": url, "eventTypes": types } }),
                )
                .await;
            let created = &data["createWebhookEndpoint"];
            assert_eq!(created["webhookEndpoint"], Value::Null, "{url}");
            assert_eq!(created["secret"], Value::Null);
            created["userErrors"][0].clone()
        }
    };
    // 127.0.0.2 is loopback but not on the tests' allow-list (127.0.0.1).
    for url in [
        "http://127.0.0.2:9/hook",
        "https://127.0.0.2/hook",
        "https://[::1]/hook",
        "http://hooks.example.com/hook",
        "ftp://127.0.0.1/hook",
        "https://user:secret@hooks.example.com/hook",
        "not a url",
    ] {
        let error = refused(url, json!(["invoice.paid"])).await;
        assert_eq!(error["field"], json!(["input", "url"]), "{url}: {error}");
        assert_eq!(error["code"], "INVALID_INPUT");
    }
    let error = refused("http://127.0.0.1:9/hook", json!(["invoice.bought"])).await;
    assert_eq!(error["field"], json!(["input", "eventTypes"]));
    let error = refused("http://127.0.0.1:9/hook", json!([])).await;
    assert_eq!(error["field"], json!(["input", "eventTypes"]));
    let data = app
        .admin_data("{ webhookEndpoints { id } }", json!({}))
        .await;
    assert_eq!(
        data["webhookEndpoints"],
        json!([]),
        "nothing was registered"
    );
}

async fn only_administrators_manage_webhooks(app: TestApp) {
    let customer = app.customer("ACC");
    let body = app
        .gql(
            Some(&customer),
            CREATE,
            json!({ "input": { "url": "http://127.0.0.1:9/hook", "eventTypes": ["invoice.paid"] } }),
        )
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );
    let body = app
        .gql(Some(&customer), "{ webhookEndpoints { id } }", json!({}))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
}

async fn a_finished_import_is_told_once_with_its_counts(app: TestApp) {
    one_invoice(&app, "INV-1").await;
    let receiver = Receiver::start().await;
    register(&app, &receiver, &["import.finished", "invoice.paid"]).await;
    let csv = "Invoice ID,Status\nINV-1,Paid\nNOPE,Paid\n";
    let import = app
        .import_csv(csv.as_bytes().to_vec(), json!({ "applyValidRows": true }))
        .await;
    // invoice.paid at once; import.finished once the import has settled (5 s).
    let got = receiver.wait_for(2, 30).await;
    assert!(got.iter().all(|m| m.verified));
    let kinds: Vec<&Value> = got.iter().map(|m| &m.body["type"]).collect();
    assert_eq!(kinds, [&json!("invoice.paid"), &json!("import.finished")]);
    let told = &got[1].body["data"]["import"];
    assert_eq!(told["id"], import["id"]);
    assert_eq!(told["state"], "APPLIED");
    assert_eq!(told["rowsChanged"], 1);
    assert_eq!(told["rowsRefused"], 1);
    assert_eq!(got[1].id, format!("imp_{}", import["id"].as_str().unwrap()));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.received().len(), 2, "told once");
}

async fn an_invoice_due_soon_is_reminded_once_per_due_date(app: TestApp) {
    let today = app.today();
    app.insert_order(
        "ACC",
        "ORD",
        "20.00",
        &[
            invoice(
                "SOON",
                "ACC",
                "ORD",
                "10.00",
                today + chrono::Duration::days(2),
            ),
            invoice(
                "LATER",
                "ACC",
                "ORD",
                "10.00",
                today + chrono::Duration::days(20),
            ),
        ],
    )
    .await;
    let receiver = Receiver::start().await;
    register(&app, &receiver, &["invoice.due_soon"]).await;
    let got = receiver.wait_for(1, 20).await;
    assert!(got[0].verified);
    assert_eq!(got[0].body["type"], "invoice.due_soon");
    assert_eq!(got[0].body["data"]["invoice"]["id"], "SOON");
    assert_eq!(got[0].body["data"]["daysUntilDue"], 2);
    // Postponed within the window: a new due date, a new reminder (the next look, within
    // a dozen seconds); never one for LATER, nor a second for the same date.
    let later = (today + chrono::Duration::days(3)).to_string();
    app.admin_data(
        "mutation($due: Date!) { changeInvoice(input: {id: \"SOON\", dueDate: $due}) { userErrors { code } } }",
        json!({ "due": later }),
    )
    .await;
    let got = receiver.wait_for(2, 30).await;
    assert_eq!(got[1].body["data"]["daysUntilDue"], 3);
    assert_ne!(got[0].id, got[1].id);
    tokio::time::sleep(Duration::from_secs(12)).await;
    let got = receiver.received();
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got.iter()
            .all(|m| m.body["data"]["invoice"]["id"] == "SOON")
    );
}

async fn scripts_manage_endpoints_from_the_command_line(app: TestApp) {
    one_invoice(&app, "INV-1").await;
    let receiver = Receiver::start().await;
    let run = |args: &[&str]| {
        app.binary()
            .env("CREDIT_GATEWAY_WEBHOOK_ALLOW_HOSTS", "127.0.0.1")
            .args(args)
            .output()
            .unwrap()
    };
    let url = receiver.url();
    let created = run(&[
        "webhook",
        "create",
        "--url",
        &url,
        "--events",
        "invoice.paid,invoice.changed",
    ]);
    assert!(created.status.success(), "{created:?}");
    let stdout = String::from_utf8(created.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "id then secret: {stdout}");
    receiver.trust(lines[1]);
    pay(&app, "INV-1").await;
    let got = receiver.wait_for(1, 20).await;
    assert!(
        got[0].verified,
        "signed with the secret the command printed"
    );

    let listed = String::from_utf8(run(&["webhook", "list"]).stdout).unwrap();
    assert!(
        listed.starts_with(&format!(
            "{}\tenabled\tinvoice.paid,invoice.changed\t{url}",
            lines[0]
        )),
        "{listed}"
    );
    let rotated = run(&["webhook", "rotate", lines[0]]);
    assert!(rotated.status.success());
    assert!(
        String::from_utf8(rotated.stdout)
            .unwrap()
            .trim()
            .starts_with("whsec_")
    );
    assert!(run(&["webhook", "delete", lines[0]]).status.success());
    assert!(
        !run(&["webhook", "delete", lines[0]]).status.success(),
        "gone"
    );
    let refused = run(&[
        "webhook",
        "create",
        "--url",
        "http://127.0.0.2:9/hook",
        "--events",
        "invoice.paid",
    ]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8(refused.stderr)
            .unwrap()
            .contains("127.0.0.2")
    );
}

/// Invoices `INV-1`..`INV-n` of one account and order.
async fn invoices(app: &TestApp, n: usize) {
    let due = app.today() + chrono::Duration::days(10);
    let all: Vec<_> = (1..=n)
        .map(|i| invoice(&format!("INV-{i}"), "ACC", "ORD", "1.00", due))
        .collect();
    app.insert_order("ACC", "ORD", &format!("{n}.00"), &all)
        .await;
}

/// Another gateway on the same database, delivering too.
async fn second_instance(app: &TestApp) -> credit_gateway::app::Running {
    let mut config = app.config.clone();
    config.webhooks = true;
    credit_gateway::app::start(&config, "127.0.0.1:0", false)
        .await
        .expect("a second instance starts")
}

/// Two instances share PostgreSQL: every message arrives (duplicates are allowed by the
/// at-least-once contract, and counted); when the one holding the lease stops, the other
/// takes over within the lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_lose_nothing_and_one_takes_over_when_the_other_stops() {
    let Some(app) = TestApp::with(Backend::Postgres)
        .config(|c| c.webhooks = true)
        .spawn()
        .await
    else {
        return;
    };
    invoices(&app, 30).await;
    let receiver = Receiver::start().await;
    register(&app, &receiver, &["invoice.paid"]).await;
    // The first delivery is the first instance's (the only one yet): it holds the lease.
    pay(&app, "INV-1").await;
    receiver.wait_for(1, 20).await;
    let other = second_instance(&app).await;
    for i in 2..=20 {
        pay(&app, &format!("INV-{i}")).await;
    }
    let got = receiver.wait_for_distinct(20, 30).await;
    let mut ids: Vec<&str> = got.iter().map(|m| m.id.as_str()).collect();
    ids.sort_unstable();
    let total = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), 20, "every message arrived");
    eprintln!("two instances: {} duplicate deliveries of 20", total - 20);
    assert!(got.iter().all(|m| m.verified));

    // The first instance stops cleanly, giving its lease up: the second delivers what
    // comes next at once, not when the 30-second lease would have lapsed.
    let mut app = app;
    app.running.halt().await.unwrap();
    let base = format!("http://{}", other.addr);
    let admin = other.keys.mint(
        &credit_gateway::auth::Principal::Admin {
            subject: "a".into(),
        },
        chrono::Duration::hours(1),
    );
    for i in 21..=25 {
        let body = http_client()
            .build()
            .unwrap()
            .post(format!("{base}/graphql"))
            .bearer_auth(&admin)
            .json(&json!({ "query": format!("mutation {{ markInvoicePaid(input: {{id: \"INV-{i}\"}}) {{ userErrors {{ code }} }} }}") }))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap();
        assert_eq!(
            body["data"]["markInvoicePaid"]["userErrors"],
            json!([]),
            "{body}"
        );
    }
    let got = receiver.wait_for_distinct(25, 20).await;
    let mut ids: Vec<String> = got.iter().map(|m| m.id.clone()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 25, "the second instance took over");
    other.stop().await.unwrap();
}

/// A receiver down while changes happen and the gateway stops: a new gateway on the same
/// database delivers everything once the receiver is back.
async fn nothing_is_lost_across_a_restart_and_a_receiver_outage(app: TestApp) {
    invoices(&app, 5).await;
    // A port nothing listens on yet.
    let probe = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let url = format!("http://{addr}/hook");
    let data = app
        .admin_data(
            CREATE,
            json!({ "input": { "url": url, "eventTypes": ["invoice.paid"] } }),
        )
        .await;
    let secret = data["createWebhookEndpoint"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    for i in 1..=5 {
        pay(&app, &format!("INV-{i}")).await;
    }
    // Tried and refused while the receiver is down; then the gateway stops.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let config = app.config.clone();
    let mut app = app;
    app.running.halt().await.unwrap();
    let receiver = Receiver::start_on(addr).await;
    receiver.trust(&secret);
    let restarted = credit_gateway::app::start(&config, "127.0.0.1:0", false)
        .await
        .unwrap();
    let got = receiver.wait_for(5, 90).await;
    let mut ids: Vec<&str> = got.iter().map(|m| m.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        ids.len(),
        5,
        "every change, once the receiver is back: {got:?}"
    );
    assert!(got.iter().all(|m| m.verified));
    restarted.stop().await.unwrap();
}

/// Every event type reaches an endpoint that wants them all, each message once, an
/// invoice's in the order its changes committed.
async fn every_event_type_is_delivered_once_in_commit_order(app: TestApp) {
    let today = app.today();
    let days = chrono::Duration::days;
    app.insert_order(
        "ACC",
        "ORD",
        "40.00",
        &[
            invoice("PAY", "ACC", "ORD", "10.00", today + days(20)),
            invoice("SOON", "ACC", "ORD", "10.00", today + days(2)),
            invoice("LATE", "ACC", "ORD", "10.00", today - days(1)),
            invoice("DROP", "ACC", "ORD", "10.00", today + days(20)),
        ],
    )
    .await;
    let receiver = Receiver::start().await;
    let all = [
        "invoice.created",
        "invoice.paid",
        "invoice.cancelled",
        "invoice.overdue",
        "invoice.reopened",
        "invoice.changed",
        "invoice.due_soon",
        "import.finished",
    ];
    let endpoint = register(&app, &receiver, &all).await;
    // Disabled while the changes happen, so that they wait and go out together: an
    // invoice's several messages then test the one-at-a-time order (the receiver takes
    // 300 ms to answer each, and notes any message arriving while one of its invoice's is
    // still being answered).
    let enable = |on: bool| {
        let app = &app;
        let endpoint = &endpoint;
        async move {
            let data = app
                .admin_data(
                    "mutation($id: ID!, $on: Boolean!) { updateWebhookEndpoint(input: {id: $id, enabled: $on}) { userErrors { code } } }",
                    json!({ "id": endpoint, "on": on }),
                )
                .await;
            assert_eq!(
                data["updateWebhookEndpoint"]["userErrors"],
                json!([]),
                "{data}"
            );
        }
    };
    enable(false).await;
    let new = json!({ "id": "NEW", "accountId": "ACC", "orderId": "ORD-2", "orderValue": "5.00",
        "installment": 1, "numberOfInstallments": 1, "value": "5.00", "currency": "BRL",
        "dueDate": (today + days(30)).to_string() });
    let mutations = [
        (
            "mutation($i: CreateInvoiceInput!) { createInvoice(input: $i) { userErrors { code } } }",
            new,
        ),
        (
            "mutation { markInvoicePaid(input: {id: \"PAY\"}) { userErrors { code } } }",
            json!(null),
        ),
        (
            "mutation { changeInvoice(input: {id: \"PAY\", status: OPEN, reason: \"paid twice\"}) { userErrors { code } } }",
            json!(null),
        ),
        (
            "mutation { cancelInvoice(input: {id: \"DROP\"}) { userErrors { code } } }",
            json!(null),
        ),
        (
            "mutation { setPaymentLink(input: {id: \"SOON\", paymentLink: \"https://pay.example.com/soon\"}) { userErrors { code } } }",
            json!(null),
        ),
    ];
    for (mutation, input) in mutations {
        let data = app.admin_data(mutation, json!({ "i": input })).await;
        let result = data.as_object().unwrap().values().next().unwrap();
        assert_eq!(result["userErrors"], json!([]), "{mutation}: {data}");
    }
    assert_eq!(app.running.gateway.sweep_overdue().await.unwrap(), 1);
    let import = app
        .import_csv(b"Invoice ID,Status\nPAY,Paid\n".to_vec(), json!({}))
        .await;
    assert_eq!(import["rowsChanged"], 1, "{import}");
    receiver.answer_after(Duration::from_millis(300));
    enable(true).await;

    let got = receiver.wait_for(9, 40).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got_then = receiver.received();
    assert_eq!(got_then.len(), 9, "each message once: {got_then:?}");
    assert!(got.iter().all(|m| m.verified), "{got:?}");
    let mut told: Vec<(String, String)> = got
        .iter()
        .map(|m| {
            let subject = m.body["data"]["invoice"]["id"]
                .as_str()
                .or(m.body["data"]["import"]["id"].as_str().map(|_| "import"))
                .unwrap();
            (
                m.body["type"].as_str().unwrap().to_owned(),
                subject.to_owned(),
            )
        })
        .collect();
    let of_pay: Vec<&str> = told
        .iter()
        .filter(|(_, subject)| subject == "PAY")
        .map(|(kind, _)| kind.as_str())
        .collect();
    assert_eq!(
        of_pay,
        ["invoice.paid", "invoice.reopened", "invoice.paid"],
        "one invoice's messages in commit order"
    );
    assert_eq!(
        receiver.overlapping(),
        Vec::<String>::new(),
        "one invoice's messages one at a time"
    );
    told.sort();
    let expected = [
        ("import.finished", "import"),
        ("invoice.cancelled", "DROP"),
        ("invoice.changed", "SOON"),
        ("invoice.created", "NEW"),
        ("invoice.due_soon", "SOON"),
        ("invoice.overdue", "LATE"),
        ("invoice.paid", "PAY"),
        ("invoice.paid", "PAY"),
        ("invoice.reopened", "PAY"),
    ]
    .map(|(kind, subject)| (kind.to_owned(), subject.to_owned()));
    assert_eq!(told, expected);
    let paid_by_import = got
        .iter()
        .find(|m| m.body["type"] == "invoice.paid" && m.body["data"]["source"] == "CSV_IMPORT")
        .expect("the import's payment, told with its source");
    assert_eq!(paid_by_import.body["data"]["importId"], import["id"]);
}

/// A 10,000-row import paying every invoice: each payment is delivered once and
/// verified, then `import.finished` with the counts; no second of deliveries holds more
/// than the endpoint's pace allows.
async fn a_large_import_is_delivered_whole_and_paced(app: TestApp) {
    const N: usize = 10_000;
    invoices(&app, N).await;
    let receiver = Receiver::start().await;
    register(&app, &receiver, &["invoice.paid", "import.finished"]).await;
    let mut csv = String::from("Invoice ID,Status\n");
    for i in 1..=N {
        csv.push_str(&format!("INV-{i},Paid\n"));
    }
    let import = app.import_csv(csv.into_bytes(), json!({})).await;
    assert_eq!(import["state"], "APPLIED", "{import}");
    assert_eq!(import["rowsChanged"], N);

    receiver.wait_for(N + 1, 180).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = receiver.received();
    assert!(got.iter().all(|m| m.verified));
    let mut ids: Vec<&str> = got.iter().map(|m| m.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), N + 1, "every payment and the import, none twice");
    assert_eq!(got.len(), N + 1, "none sent twice");
    let finished = got
        .iter()
        .find(|m| m.body["type"] == "import.finished")
        .unwrap();
    assert_eq!(finished.body["data"]["import"]["id"], import["id"]);
    assert_eq!(finished.body["data"]["import"]["rowsChanged"], N);

    // Paced: any window of RATE + slack consecutive arrivals spans at least a second
    // (the slack covers sends in flight at once and the network's jitter; an unpaced
    // delivery here runs several times faster).
    let mut at: Vec<Instant> = got.iter().map(|m| m.at).collect();
    at.sort_unstable();
    let window = RATE as usize * 6 / 5;
    let fastest = at
        .windows(window + 1)
        .map(|w| w[window] - w[0])
        .min()
        .unwrap();
    assert!(
        fastest >= Duration::from_secs(1),
        "{window} messages arrived within {fastest:?}"
    );
}

/// `kill -9` while a slow receiver has messages in flight: a gateway started again on the
/// same database (once the dead one's lease lapses) delivers every message, those taken
/// but not recorded a second time with the same `webhook-id`.
async fn a_gateway_killed_mid_delivery_loses_nothing(app: TestApp) {
    const N: usize = 12;
    invoices(&app, N).await;
    let receiver = Receiver::start().await;
    receiver.answer_after(Duration::from_millis(300));
    register(&app, &receiver, &["invoice.paid"]).await;
    for i in 1..=N {
        pay(&app, &format!("INV-{i}")).await;
    }
    let deliver = || {
        let mut child = app
            .binary()
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("CREDIT_GATEWAY_WEBHOOK_ALLOW_HOSTS", "127.0.0.1")
            .env("CREDIT_GATEWAY_WEBHOOK_CONCURRENCY", "2")
            .env("CREDIT_GATEWAY_SWEEPER", "false")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        announced_url(child.stdout.take().unwrap());
        child
    };
    let mut first = deliver();
    receiver.wait_for(3, 30).await;
    first.kill().unwrap();
    first.wait().unwrap();
    let before = receiver.received().len();
    assert!(
        before < N,
        "killed mid-delivery: {before} of {N} had arrived"
    );

    let mut second = deliver();
    let got = receiver.wait_for_distinct(N, 90).await;
    second.kill().unwrap();
    second.wait().unwrap();
    let mut ids: Vec<&str> = got.iter().map(|m| m.id.as_str()).collect();
    ids.sort_unstable();
    let total = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), N, "every message arrived: {got:?}");
    assert!(got.iter().all(|m| m.verified));
    eprintln!("killed mid-delivery: {} sent twice of {N}", total - N);
}
