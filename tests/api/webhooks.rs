//! Webhooks to a real receiver on 127.0.0.1 that checks every signature with the
//! Standard Webhooks library (crates.io `standardwebhooks`), on both backends.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
);

/// A message as the receiver got it.
#[derive(Clone, Debug)]
struct Received {
    id: String,
    body: Value,
    /// Whether the library verified it with the receiver's secret.
    verified: bool,
    /// Whether it verified with the other secret the receiver was told of.
    verified_by_other: bool,
}

#[derive(Default)]
struct Inbox {
    secrets: Vec<String>,
    /// Statuses to answer, in turn; 204 once they run out.
    answers: VecDeque<(u16, Option<&'static str>)>,
    received: Vec<Received>,
}

/// A receiver on a free port of 127.0.0.1.
struct Receiver {
    addr: SocketAddr,
    inbox: Arc<Mutex<Inbox>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(inbox.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
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
        panic!("{n} messages expected, got {:?}", self.received());
    }
}

async fn receive(
    State(inbox): State<Arc<Mutex<Inbox>>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap) {
    let mut inbox = inbox.lock().unwrap();
    let verify = |secret: &String| {
        standardwebhooks::Webhook::new(secret)
            .unwrap()
            .verify(&body, &headers)
            .is_ok()
    };
    let verified = inbox.secrets.last().is_some_and(verify);
    let verified_by_other = inbox.secrets.len() > 1 && verify(&inbox.secrets[0]);
    inbox.received.push(Received {
        id: headers["webhook-id"].to_str().unwrap().to_owned(),
        body: serde_json::from_slice(&body).unwrap(),
        verified,
        verified_by_other,
    });
    let (status, retry_after) = inbox.answers.pop_front().unwrap_or((204, None));
    let mut answer = HeaderMap::new();
    if let Some(seconds) = retry_after {
        answer.insert("retry-after", seconds.parse().unwrap());
    }
    (StatusCode::from_u16(status).unwrap(), answer)
}

const CREATE: &str =
    "mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) {
    webhookEndpoint { id url eventTypes enabled } secret userErrors { field message code } } }";

const DELIVERIES: &str = "query($id: ID!) { webhookDeliveries(endpointId: $id, first: 50) {
    id messageId eventType invoiceId state attempts { statusCode error durationMs response } } }";

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
    let data = app.admin_data(DELIVERIES, json!({ "id": endpoint })).await;
    let deliveries = data["webhookDeliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 2, "nothing else was subscribed: {data}");
    for delivery in deliveries {
        assert_eq!(delivery["state"], "delivered");
        assert_eq!(delivery["attempts"][0]["statusCode"], 204);
    }
    // Nothing more arrives: each message once.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 2);
}

async fn a_failing_receiver_is_retried_and_its_retry_after_honoured(app: TestApp) {
    one_invoice(&app, "INV-1").await;
    let receiver = Receiver::start().await;
    receiver.answer(500, None);
    receiver.answer(503, Some("7"));
    let endpoint = register(&app, &receiver, &["invoice.paid"]).await;
    pay(&app, "INV-1").await;
    let first = receiver.wait_for(1, 10).await;
    let got = receiver.wait_for(3, 40).await;
    assert!(
        got.iter().all(|m| m.id == first[0].id),
        "one webhook-id on every try"
    );
    assert!(got.iter().all(|m| m.verified));
    let data = app.admin_data(DELIVERIES, json!({ "id": endpoint })).await;
    let delivery = &data["webhookDeliveries"][0];
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
    let got = receiver.wait_for(4, 10).await;
    assert_eq!(got[3].id, first[0].id);
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
    pay(&app, "INV-1").await;
    receiver.wait_for(1, 20).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
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
