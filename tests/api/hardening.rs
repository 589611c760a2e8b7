//! Hardening: complexity priced by page size and reported as cost, each caller's budget,
//! persisted queries, panics caught with a request id, request ids in logs, metrics.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::{ServerResult, Value as GqlValue};
use chrono::Duration;
use credit_gateway::auth::Principal;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::*;
use crate::on_both_backends;
use crate::subscriptions::{invoices, pay};
use crate::ws_client::WsClient;

on_both_backends!(
    complexity_is_priced_by_page_size_and_reported_as_cost,
    a_spent_budget_is_refused_with_throttled_and_retry_after,
    persisted_queries_run_by_hash_over_get_and_post,
    a_panic_in_a_resolver_is_answered_500_with_a_request_id_and_logged_once,
    a_panic_in_a_subscription_ends_that_operation_alone,
    metrics_count_requests_operations_and_outcomes,
    an_exports_log_lines_carry_the_id_of_the_request_that_started_it,
    an_imports_log_lines_carry_the_id_of_the_request_that_started_it,
    a_remembered_query_is_validated_and_priced_again_for_other_variables,
);

const PAGE_OF_50: &str = "{ invoices(first: 50) { nodes { id value } } }";

/// The gateway remembers a document it has parsed and validated (`graphql/documents.rs`):
/// the same text with other variables is still validated and priced by those variables,
/// and a refusal is never remembered as a success.
async fn a_remembered_query_is_validated_and_priced_again_for_other_variables(app: TestApp) {
    let admin = app.admin();
    let query = "query Page($first: Int) { invoices(first: $first) { nodes { id } } }";
    let page = |first: Value| {
        let admin = admin.clone();
        let app = &app;
        async move {
            app.gql(Some(&admin), query, json!({ "first": first }))
                .await
        }
    };
    let five = page(json!(5)).await;
    assert!(five.get("errors").is_none(), "{five}");
    let fifty = page(json!(50)).await;
    assert!(fifty.get("errors").is_none(), "{fifty}");
    assert!(
        fifty["extensions"]["cost"]["requested"].as_u64()
            > five["extensions"]["cost"]["requested"].as_u64(),
        "priced by its own variables: {five} {fifty}"
    );
    for _ in 0..2 {
        let refused = page(json!("five")).await;
        assert_eq!(refused["data"], Value::Null, "{refused}");
        assert_eq!(
            refused["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
            "{refused}"
        );
    }
    let again = page(json!(5)).await;
    assert_eq!(again["data"], five["data"]);
    // The same price (the budget left depends on how fast the requests came).
    assert_eq!(
        again["extensions"]["cost"]["requested"],
        five["extensions"]["cost"]["requested"]
    );
}

async fn complexity_is_priced_by_page_size_and_reported_as_cost(app: TestApp) {
    let admin = app.admin();
    // `nodes { id value }` costs 3 per invoice; the page itself 1.
    let body = app.gql(Some(&admin), PAGE_OF_50, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    let cost = &body["extensions"]["cost"];
    assert_eq!(cost["requested"], 151, "{body}");
    assert_eq!(cost["limit"], 10_000);
    assert_eq!(cost["budget"]["capacity"], 50_000);
    assert_eq!(cost["budget"]["perSecond"], 10_000);
    let body = app
        .gql(
            Some(&admin),
            "query($n: Int) { invoices(first: $n) { nodes { id value } } }",
            json!({ "n": 10 }),
        )
        .await;
    assert_eq!(body["extensions"]["cost"]["requested"], 31, "{body}");
    let unsized_page = app
        .gql(
            Some(&admin),
            "{ invoices { nodes { id value } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        unsized_page["extensions"]["cost"]["requested"], 61,
        "priced at 20"
    );

    let before = app.statements();
    let nested = "{ invoices(first: 100) { nodes { account { \
                  invoices(first: 100) { nodes { id } } } } } }";
    let body = app.gql(Some(&admin), nested, json!({})).await;
    assert_eq!(error_codes(&body), vec!["QUERY_TOO_COMPLEX"], "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("20301"), "{message}");
    assert!(body["extensions"].get("cost").is_none());

    let deep = format!(
        "{{ {} id {} }}",
        "invoices(first: 1) { nodes { account { ".repeat(7),
        "} } } ".repeat(7)
    );
    let body = app.gql(Some(&admin), &deep, json!({})).await;
    assert_eq!(error_codes(&body), vec!["QUERY_TOO_DEEP"], "{body}");

    // Fragments that spread each other three times, 25 levels deep: 3^25 fields, refused
    // at once (and without a token) instead of walked.
    let mut bomb = String::from("{ ...F0 } ");
    for level in 0..25 {
        let next = format!("...F{} ", level + 1);
        bomb += &format!("fragment F{level} on Query {{ {} }} ", next.repeat(3));
    }
    bomb += "fragment F25 on Query { __typename }";
    let body = app.gql(None, &bomb, json!({})).await;
    assert_eq!(error_codes(&body), vec!["QUERY_TOO_COMPLEX"], "{body}");

    assert_eq!(app.statements(), before, "refused before any SQL");

    // Counts read every matching row, whatever the page holds: 50 points each, once per
    // page, `first: 0` or not. Thirty aliased counts once cost 30 points.
    for first in [0, 10, 100] {
        let query = format!("{{ invoices(first: {first}) {{ totalCount }} }}");
        let counted = app.gql(Some(&admin), &query, json!({})).await;
        assert_eq!(counted["extensions"]["cost"]["requested"], 51, "{counted}");
    }
    let aliased: String = (0..30)
        .map(|i| format!("c{i}: invoices(first: 0) {{ totalCount }} "))
        .collect();
    let counted = app
        .gql(Some(&admin), &format!("{{ {aliased} }}"), json!({}))
        .await;
    assert_eq!(
        counted["extensions"]["cost"]["requested"],
        30 * 51,
        "{counted}"
    );
    let spread =
        "{ invoices(first: 0) { ...Count } } fragment Count on InvoiceConnection { totalCount }";
    let counted = app.gql(Some(&admin), spread, json!({})).await;
    assert_eq!(counted["extensions"]["cost"]["requested"], 51, "{counted}");
}

async fn a_spent_budget_is_refused_with_throttled_and_retry_after(app: TestApp) {
    // A budget of 300 points that refills one point a second: in a test's time, spent is
    // spent.
    let app = TestApp::with(app.backend)
        .config(|config| {
            config.max_complexity = 300;
            config.throttle_capacity = 300;
            config.throttle_per_second = 1;
        })
        .spawn()
        .await
        .unwrap();
    let admin = app.admin();
    let first = app.gql(Some(&admin), PAGE_OF_50, json!({})).await;
    assert!(first.get("errors").is_none(), "{first}");
    assert_eq!(first["extensions"]["cost"]["budget"]["available"], 149);

    // 151 more points do not fit in 149 (plus what dripped out since).
    let before = app.statements();
    let response = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(&admin)
        .json(&json!({ "query": PAGE_OF_50 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_codes(&body), vec!["THROTTLED"], "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["retryAfterSeconds"],
        retry_after
    );
    assert!(
        (1..=2).contains(&retry_after),
        "{retry_after}: 2 points at 1 a second"
    );
    assert_eq!(app.statements(), before, "a refused request runs nothing");

    // Budgets are per caller: another subject, and a customer, still have theirs.
    let other = app.running.keys.mint(
        &Principal::Admin {
            subject: "another-admin".into(),
        },
        Duration::hours(1),
    );
    let body = app.gql(Some(&other), PAGE_OF_50, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    let body = app
        .gql(Some(&app.customer("ACC")), PAGE_OF_50, json!({}))
        .await;
    assert!(body.get("errors").is_none(), "{body}");

    // A budget must hold the costliest request the limits allow.
    let mut config = app.config.clone();
    config.throttle_capacity = 299;
    let refused = credit_gateway::app::start(&config, "127.0.0.1:0", false).await;
    let message = refused.err().expect("refused to start").to_string();
    assert!(
        message.contains("CREDIT_GATEWAY_THROTTLE_CAPACITY"),
        "{message}"
    );
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

async fn post(app: &TestApp, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = app.client.post(format!("{}/graphql", app.base)).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn get(app: &TestApp, token: &str, params: &[(&str, String)]) -> (u16, Value) {
    let url = reqwest::Url::parse_with_params(&format!("{}/graphql", app.base), params).unwrap();
    let response = app.client.get(url).bearer_auth(token).send().await.unwrap();
    // Answers depend on the token: never kept by a shared cache, keyed by it in a private
    // one.
    assert_eq!(response.headers()["cache-control"], "private");
    assert_eq!(response.headers()["vary"], "Authorization, Accept");
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn persisted_queries_run_by_hash_over_get_and_post(app: TestApp) {
    let due = app.today() + Duration::days(5);
    app.insert_invoice(invoice("INV", "ACC", "ORD", "10.00", due))
        .await;
    let admin = app.admin();
    let query = "query One($id: ID!) { invoice(id: $id) { id value } }";
    let hash = sha256_hex(query);
    let variables = json!({ "id": "INV" });
    let by_hash = json!({ "variables": variables, "extensions": persisted(&hash) });

    let (status, body) = post(&app, Some(&admin), by_hash.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(error_codes(&body), vec!["PERSISTED_QUERY_NOT_FOUND"]);
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");

    // A stranger's query runs (and is refused by its fields) but is not remembered.
    let with_query =
        json!({ "query": query, "variables": variables, "extensions": persisted(&hash) });
    let (_, body) = post(&app, None, with_query.clone()).await;
    assert_eq!(error_codes(&body), vec!["UNAUTHENTICATED"]);
    let (_, body) = post(&app, Some(&admin), by_hash.clone()).await;
    assert_eq!(error_codes(&body), vec!["PERSISTED_QUERY_NOT_FOUND"]);

    let (_, registered) = post(&app, Some(&admin), with_query).await;
    assert_eq!(registered["data"]["invoice"]["value"], "10.00");
    let (status, body) = post(&app, Some(&admin), by_hash.clone()).await;
    assert_eq!((status, &body["data"]), (200, &registered["data"]));
    // A stranger cannot tell a registered hash from an unknown one.
    let unknown = json!({ "extensions": persisted(&sha256_hex("{ nothing }")) });
    let (_, registered_answer) = post(&app, None, by_hash.clone()).await;
    let (_, unknown_answer) = post(&app, None, unknown).await;
    assert_eq!(
        error_codes(&registered_answer),
        vec!["PERSISTED_QUERY_NOT_FOUND"]
    );
    assert_eq!(registered_answer, unknown_answer);
    let (status, body) = get(
        &app,
        &admin,
        &[
            ("variables", variables.to_string()),
            ("extensions", persisted(&hash).to_string()),
        ],
    )
    .await;
    assert_eq!(
        (status, &body["data"]),
        (200, &registered["data"]),
        "{body}"
    );

    // Over GET, the operation is named as GraphQL over HTTP names it: `operationName`.
    let two = "query Mine { today } query Other { invoice(id: \"INV\") { id } }";
    let (status, body) = get(
        &app,
        &admin,
        &[
            ("query", two.to_owned()),
            ("operationName", "Other".to_owned()),
        ],
    )
    .await;
    assert_eq!(
        (status, &body["data"]["invoice"]["id"]),
        (200, &json!("INV")),
        "{body}"
    );

    // A query whose hash is wrong is refused, and poisons nothing.
    let lie = json!({ "query": "{ today }", "extensions": persisted(&hash) });
    let (_, body) = post(&app, Some(&admin), lie).await;
    assert_eq!(error_codes(&body), vec!["PERSISTED_QUERY_HASH_MISMATCH"]);
    let other_version =
        json!({ "extensions": { "persistedQuery": { "version": 2, "sha256Hash": hash } } });
    let (_, body) = post(&app, Some(&admin), other_version).await;
    assert_eq!(error_codes(&body), vec!["PERSISTED_QUERY_NOT_SUPPORTED"]);

    // A persisted mutation is still no mutation over GET.
    let pay = r#"mutation { markInvoicePaid(input: {id: "INV"}) { invoice { version } } }"#;
    let pay_hash = sha256_hex(pay);
    let (_, body) = post(
        &app,
        Some(&admin),
        json!({ "query": "{ today }", "extensions": persisted(&sha256_hex("{ today }")) }),
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    let (_, paid) = post(
        &app,
        Some(&admin),
        json!({ "query": pay, "extensions": persisted(&pay_hash) }),
    )
    .await;
    assert_eq!(paid["data"]["markInvoicePaid"]["invoice"]["version"], 2);
    let (status, body) = get(
        &app,
        &admin,
        &[("extensions", persisted(&pay_hash).to_string())],
    )
    .await;
    assert_eq!(status, 405, "{body}");
    assert_eq!(error_codes(&body), vec!["METHOD_NOT_ALLOWED"]);

    let off = TestApp::with(app.backend)
        .config(|config| {
            config.persisted_queries_bytes = 0;
        })
        .spawn()
        .await
        .unwrap();
    let (_, body) = post(
        &off,
        Some(&off.admin()),
        json!({ "query": "{ today }", "extensions": persisted(&sha256_hex("{ today }")) }),
    )
    .await;
    assert_eq!(error_codes(&body), vec!["PERSISTED_QUERY_NOT_SUPPORTED"]);
}

/// A fault injected into the resolver of one field.
struct PanicOn(&'static str);

impl ExtensionFactory for PanicOn {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PanicOn(self.0))
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for PanicOn {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<GqlValue>> {
        if info.name == self.0 {
            panic!("injected fault in the resolver of {}", info.name);
        }
        next.run(ctx, info).await
    }
}

async fn a_panic_in_a_resolver_is_answered_500_with_a_request_id_and_logged_once(app: TestApp) {
    captured_logs();
    let app = TestApp::with(app.backend)
        .extension(Arc::new(PanicOn("today")))
        .spawn()
        .await
        .unwrap();
    let admin = app.admin();
    let id = format!("panic-{}", uuid::Uuid::new_v4().simple());
    let response = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(&admin)
        .header("x-request-id", &id)
        .json(&json!({ "query": "{ today }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    assert_eq!(response.headers()["x-request-id"], id.as_str());
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "errors": [{ "message": "internal error",
                             "extensions": { "code": "INTERNAL", "requestId": id } }] })
    );

    // The worker lives on: the same server answers the next request.
    let body = app
        .gql(Some(&admin), "{ invoices { totalCount } }", json!({}))
        .await;
    assert_eq!(body["data"]["invoices"]["totalCount"], 0, "{body}");

    let logs = captured_logs();
    let lines: Vec<Value> = logs
        .lines()
        .filter(|line| line.contains(&id))
        .map(|line| serde_json::from_str(line).expect("JSON log lines"))
        .collect();
    let panics: Vec<&Value> = lines
        .iter()
        .filter(|line| line["message"].as_str().unwrap_or("").contains("panicked"))
        .collect();
    assert_eq!(panics.len(), 1, "logged once: {lines:#?}");
    assert_eq!(panics[0]["span"]["request_id"], id.as_str());
    let panic = panics[0]["panic"].as_str().unwrap();
    assert!(
        panic.contains("injected fault in the resolver of today at tests/api/hardening.rs:"),
        "{panic}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line["message"] == "served" && line["status"] == 500),
        "{lines:#?}"
    );
}

async fn a_panic_in_a_subscription_ends_that_operation_alone(app: TestApp) {
    let app = TestApp::with(app.backend)
        .extension(Arc::new(PanicOn("source")))
        .spawn()
        .await
        .unwrap();
    invoices(&app, 2).await;
    let mut client = WsClient::connect(&app).await;
    client.init(&app.admin()).await;
    client
        .subscribe(
            "faulty",
            "subscription { invoiceStatusChanged { status source } }",
            json!({}),
        )
        .await;
    client
        .subscribe(
            "sound",
            "subscription { invoiceStatusChanged { status } }",
            json!({}),
        )
        .await;
    // Both are live once a change made after them reaches the sound one.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    pay(&app, "ACC-00").await;
    let mut seen = Vec::new();
    while seen.len() < 2 {
        seen.push(client.recv_message().await);
    }
    let failed = seen
        .iter()
        .find(|m| m["id"] == "faulty")
        .expect("{seen:#?}");
    assert_eq!(failed["type"], "error", "{failed}");
    assert_eq!(failed["payload"][0]["extensions"]["code"], "INTERNAL");
    assert!(failed["payload"][0]["extensions"]["requestId"].is_string());
    let sound = seen.iter().find(|m| m["id"] == "sound").expect("{seen:#?}");
    assert_eq!(
        sound["payload"]["data"]["invoiceStatusChanged"]["status"],
        "PAID"
    );

    // The connection and its sound operation go on.
    pay(&app, "ACC-01").await;
    let (id, change) = client.next_change_of_any().await;
    assert_eq!((id.as_str(), &change["status"]), ("sound", &json!("PAID")));
}

async fn metrics_count_requests_operations_and_outcomes(app: TestApp) {
    let admin = app.admin();
    let named = "query Listing { invoices { totalCount } }";
    app.gql(Some(&admin), named, json!({})).await;
    app.gql(Some(&admin), named, json!({})).await;
    app.gql(None, named, json!({})).await;
    app.gql(
        Some(&admin),
        "mutation { cancelInvoice(input: {id: \"NOPE\"}) { userErrors { code } } }",
        json!({}),
    )
    .await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = response.text().await.unwrap();
    for expected in [
        "graphql_operations_total{operation=\"Listing\",type=\"query\",outcome=\"ok\"} 2\n",
        "graphql_operations_total{operation=\"anonymous\",type=\"query\",outcome=\"UNAUTHENTICATED\"} 1\n",
        "graphql_operations_total{operation=\"anonymous\",type=\"mutation\",outcome=\"ok\"} 1\n",
        "graphql_operation_duration_seconds_count{operation=\"Listing\"} 2\n",
        "http_requests_total{route=\"/graphql\",status=\"200\"} 4\n",
        "db_pool_max_connections 5\n",
        "graphql_subscriptions_active 0\n",
        "csv_imports_running 0\n",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(text.contains("db_pool_connections{state=\"idle\"}"));

    let off = TestApp::with(app.backend)
        .config(|config| config.metrics = false)
        .spawn()
        .await
        .unwrap();
    assert_eq!(off.get("/metrics").await.status(), 404);
}

async fn an_exports_log_lines_carry_the_id_of_the_request_that_started_it(app: TestApp) {
    captured_logs();
    let id = format!("export-{}", uuid::Uuid::new_v4().simple());
    let response = app
        .client
        .get(format!("{}/export/invoices.csv", app.base))
        .bearer_auth(app.admin())
        .header("x-request-id", &id)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap();
    // The line is written as the export's task ends, which may be just after the body.
    let mut finished = None;
    for _ in 0..50 {
        finished = captured_logs()
            .lines()
            .filter(|line| line.contains("export finished"))
            .map(|line| serde_json::from_str::<Value>(line).expect("JSON log lines"))
            .find(|line| line["span"]["request_id"] == id.as_str());
        if finished.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let finished = finished.expect("the export's last line carries the request id");
    assert_eq!(
        finished["span"]["path"], "/export/invoices.csv",
        "{finished}"
    );
}

async fn an_imports_log_lines_carry_the_id_of_the_request_that_started_it(app: TestApp) {
    captured_logs();
    let file = app
        .export(Some(&app.admin()), "")
        .await
        .bytes()
        .await
        .unwrap();
    let (status, body) = app
        .upload_csv(Some(&app.admin()), "empty.csv", file.to_vec(), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let import_id = body["data"]["importInvoicesCsv"]["import"]["id"]
        .as_str()
        .expect("an import id")
        .to_owned();
    // "import started" is logged by the request; "import finished" by the import's own
    // task, which may end just after the answer.
    let mut lines = vec![];
    for _ in 0..50 {
        lines = captured_logs()
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).expect("JSON log lines"))
            .filter(|line| line["import.id"] == import_id.as_str())
            .collect();
        if lines.iter().any(|l| l["message"] == "import finished") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let messages: Vec<&Value> = lines.iter().map(|l| &l["message"]).collect();
    assert!(messages.contains(&&json!("import started")), "{lines:#?}");
    assert!(messages.contains(&&json!("import finished")), "{lines:#?}");
    // The request's id is on its outermost span (a GraphQL operation nests a `graphql`
    // span in it).
    let request_id = |line: &Value| {
        line["spans"]
            .as_array()
            .and_then(|spans| spans.iter().find_map(|s| s["request_id"].as_str()))
            .unwrap_or("none")
            .to_owned()
    };
    let request_ids: std::collections::HashSet<String> = lines.iter().map(request_id).collect();
    assert_eq!(
        request_ids.len(),
        1,
        "one request id on every line: {lines:#?}"
    );
    assert!(!request_ids.contains("none"), "{lines:#?}");
}
