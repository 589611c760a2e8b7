//! The Customer Credit compatible REST API: same tokens, rules and events as GraphQL
//! (source `REST`), JSON errors with proper statuses.

use chrono::Duration;
use credit_gateway::domain::InvoiceStatus;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;

on_both_backends!(
    rest_reads_changes_pays_postpones_and_cancels_through_the_same_rules,
    rest_failures_are_json_with_a_code_and_change_nothing,
    rest_search_filters_and_pages,
);

async fn store(app: &TestApp) {
    let today = app.today();
    app.insert(
        &[account("ACC"), account("OTHER")],
        &[
            order("ORD", "ACC", "30.00"),
            order("ORD-2", "OTHER", "5.00"),
        ],
        &[
            invoice("INV-01", "ACC", "ORD", "10.00", today + Duration::days(5)),
            invoice("INV-02", "ACC", "ORD", "10.00", today - Duration::days(2)),
            with_status(
                invoice("INV-03", "ACC", "ORD", "10.00", today + Duration::days(9)),
                InvoiceStatus::Paid,
            ),
            invoice(
                "INV-04",
                "OTHER",
                "ORD-2",
                "5.00",
                today + Duration::days(1),
            ),
        ],
    )
    .await;
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app
        .client
        .request(method, format!("{}/api/creditcontrol{path}", app.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.expect("every answer is JSON"))
}

const INV_01: &str = "/accounts/ACC/invoices/INV-01";

async fn rest_reads_changes_pays_postpones_and_cancels_through_the_same_rules(app: TestApp) {
    store(&app).await;
    let admin = app.admin();
    let admin = Some(admin.as_str());

    let (status, invoice) = call(&app, Method::GET, INV_01, admin, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        (invoice["status"].as_str(), invoice["value"].as_str()),
        (Some("Opened"), Some("10.00"))
    );
    assert_eq!(invoice["creditAccountId"], "ACC");

    let body = json!({ "status": "Open", "observation": "called", "paymentLink": "https://pay.example.com/1" });
    let (status, changed) = call(&app, Method::PUT, INV_01, admin, Some(body)).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        (
            changed["observation"].as_str(),
            changed["paymentLink"].as_str()
        ),
        (Some("called"), Some("https://pay.example.com/1"))
    );

    let (status, postponed) = call(
        &app,
        Method::PUT,
        "/accounts/ACC/invoices/INV-02/postponement",
        admin,
        Some(json!({ "dueDays": 10 })),
    )
    .await;
    assert_eq!(status, 200, "{postponed}");
    assert_eq!(postponed["status"], "Opened");
    assert_eq!(
        postponed["dueDate"],
        (app.today() + Duration::days(8)).to_string()
    );

    let (status, paid) = call(
        &app,
        Method::POST,
        "/accounts/ACC/invoices/INV-02/payments",
        admin,
        None,
    )
    .await;
    assert_eq!((status, paid["status"].as_str()), (200, Some("Paid")));
    let (status, cancelled) = call(&app, Method::DELETE, INV_01, admin, None).await;
    assert_eq!(
        (status, cancelled["status"].as_str()),
        (200, Some("Cancelled"))
    );
    let (status, canceled) = call(
        &app,
        Method::PUT,
        INV_01,
        admin,
        Some(json!({ "status": "Canceled" })),
    )
    .await;
    assert_eq!(
        (status, canceled["status"].as_str()),
        (200, Some("Cancelled")),
        "a repeat is a no-op"
    );

    let history = app
        .admin_data("{ invoice(id: \"INV-02\") { history { source previousStatus status dueDateChange { to } } } }", json!({}))
        .await["invoice"]["history"]
        .clone();
    let rest: Vec<&Value> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["source"] == "REST")
        .collect();
    assert_eq!(rest.len(), 2, "{history:#}");
    assert_eq!(
        (
            rest[0]["previousStatus"].as_str(),
            rest[0]["status"].as_str()
        ),
        (Some("OVERDUE"), Some("OPEN"))
    );
    assert_eq!(rest[1]["status"], "PAID");

    let customer = app.customer("ACC");
    let (status, own) = call(&app, Method::GET, INV_01, Some(&customer), None).await;
    assert_eq!((status, own["id"].as_str()), (200, Some("INV-01")));
}

/// Method, path, token, body, expected HTTP status and error code.
type Case<'a> = (
    Method,
    &'a str,
    Option<&'a str>,
    Option<Value>,
    u16,
    &'a str,
);

async fn rest_failures_are_json_with_a_code_and_change_nothing(app: TestApp) {
    store(&app).await;
    let admin = app.admin();
    let customer = app.customer("ACC");
    let other = app.customer("OTHER");
    let cases: Vec<Case> = vec![
        (Method::GET, INV_01, None, None, 401, "UNAUTHENTICATED"),
        (
            Method::GET,
            INV_01,
            Some("not-a-token"),
            None,
            401,
            "UNAUTHENTICATED",
        ),
        (Method::GET, INV_01, Some(&other), None, 404, "NOT_FOUND"),
        (
            Method::GET,
            "/accounts/OTHER/invoices/INV-01",
            Some(&admin),
            None,
            404,
            "NOT_FOUND",
        ),
        (
            Method::GET,
            "/accounts/ACC/invoices/NOPE",
            Some(&admin),
            None,
            404,
            "NOT_FOUND",
        ),
        (
            Method::POST,
            "/accounts/ACC/invoices/INV-01/payments",
            Some(&customer),
            None,
            403,
            "FORBIDDEN",
        ),
        (
            Method::DELETE,
            "/accounts/ACC/invoices/INV-03",
            Some(&admin),
            None,
            422,
            "INVALID_TRANSITION",
        ),
        (
            Method::PUT,
            "/accounts/ACC/invoices/INV-03",
            Some(&admin),
            Some(json!({ "status": "Opened" })),
            422,
            "REASON_REQUIRED",
        ),
        (
            Method::PUT,
            INV_01,
            Some(&admin),
            Some(json!({ "status": "Settled" })),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::PUT,
            INV_01,
            Some(&admin),
            Some(json!({ "paymentLink": "javascript:alert(1)" })),
            400,
            "INVALID_PAYMENT_LINK",
        ),
        (
            Method::PUT,
            INV_01,
            Some(&admin),
            Some(json!({ "observation": "x".repeat(3000) })),
            400,
            "TOO_LONG",
        ),
        (
            Method::PUT,
            INV_01,
            Some(&admin),
            Some(json!({ "expectedVersion": 99, "observation": "y" })),
            409,
            "VERSION_CONFLICT",
        ),
        (
            Method::PUT,
            INV_01,
            Some(&admin),
            Some(json!({ "unknown": 1 })),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::PUT,
            "/accounts/ACC/invoices/INV-01/postponement",
            Some(&admin),
            Some(json!({ "dueDays": 0 })),
            400,
            "BAD_REQUEST",
        ),
        (
            Method::PUT,
            "/accounts/ACC/invoices/INV-01/postponement",
            Some(&admin),
            Some(json!({ "dueDays": "ten" })),
            400,
            "BAD_REQUEST",
        ),
    ];
    let before = app
        .admin_data("{ invoices { nodes { id version } } }", json!({}))
        .await;
    for (method, path, token, body, status, code) in cases {
        let (got, answer) = call(&app, method.clone(), path, token, body).await;
        assert_eq!(
            (got, answer["error"]["code"].as_str()),
            (status, Some(code)),
            "{method} {path}: {answer}"
        );
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    let response = app
        .client
        .put(format!("{}/api/creditcontrol{INV_01}", app.base))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["code"],
        "BAD_REQUEST"
    );
    let after = app
        .admin_data("{ invoices { nodes { id version } } }", json!({}))
        .await;
    assert_eq!(before, after, "no refused call changed anything");
}

async fn rest_search_filters_and_pages(app: TestApp) {
    store(&app).await;
    let admin = app.admin();
    let (status, page) = call(&app, Method::GET, "/invoices?perPage=2", Some(&admin), None).await;
    assert_eq!(status, 200);
    assert_eq!(page["paging"]["total"], 4);
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let cursor = page["paging"]["nextCursor"].as_str().unwrap().to_owned();
    let (_, rest) = call(
        &app,
        Method::GET,
        &format!("/invoices?perPage=2&cursor={cursor}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 2);
    assert_eq!(rest["paging"]["nextCursor"], Value::Null);

    let (_, overdue) = call(
        &app,
        Method::GET,
        "/invoices?status=Overdue",
        Some(&admin),
        None,
    )
    .await;
    let ids: Vec<&str> = overdue["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["INV-02"]);
    let from = app.today();
    let to = app.today() + Duration::days(5);
    let (_, range) = call(
        &app,
        Method::GET,
        &format!("/invoices?from={from}&to={to}"),
        Some(&admin),
        None,
    )
    .await;
    let ids: Vec<&str> = range["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["INV-04", "INV-01"]);

    let (_, mine) = call(
        &app,
        Method::GET,
        "/invoices",
        Some(&app.customer("OTHER")),
        None,
    )
    .await;
    assert_eq!(
        mine["paging"]["total"], 1,
        "a customer searches its own account only"
    );
    for bad in [
        "/invoices?status=Late",
        "/invoices?from=yesterday",
        "/invoices?perPage=1000",
        "/invoices?cursor=%%",
    ] {
        let (status, answer) = call(&app, Method::GET, bad, Some(&admin), None).await;
        assert_eq!(status, 400, "{bad}: {answer}");
        assert!(answer["error"]["code"].is_string());
    }
}

on_both_backends!(rest_answers_json_for_unknown_calls_methods_and_dates);

async fn rest_answers_json_for_unknown_calls_methods_and_dates(app: TestApp) {
    store(&app).await;
    let admin = app.admin();
    let (status, answer) = call(&app, Method::PATCH, INV_01, Some(&admin), None).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (405, Some("METHOD_NOT_ALLOWED"))
    );
    let (status, answer) = call(&app, Method::GET, "/no/such/call", Some(&admin), None).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (404, Some("NOT_FOUND"))
    );
    let (status, answer) = call(
        &app,
        Method::PUT,
        INV_01,
        Some("bogus"),
        Some(json!({ "nonsense": true })),
    )
    .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (401, Some("UNAUTHENTICATED")),
        "authentication comes first"
    );
    for date in ["%2B10000-01-01", "-0001-01-01", "2026-1-1"] {
        let (status, _) = call(
            &app,
            Method::GET,
            &format!("/invoices?from={date}"),
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(status, 400, "{date}");
    }
}
