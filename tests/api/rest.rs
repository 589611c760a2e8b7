//! The Customer Credit compatible REST API: same tokens, rules and events as GraphQL
//! (source `REST`), JSON errors with proper statuses.

use chrono::{Duration, SubsecRound, Utc};
use credit_gateway::domain::InvoiceStatus;
use credit_gateway::store::NewInvoice;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;

on_both_backends!(
    rest_reads_changes_pays_postpones_and_cancels_through_the_same_rules,
    rest_failures_are_json_with_a_code_and_change_nothing,
    rest_search_filters_and_pages,
);

/// Four invoices, created a day apart in id order (`INV-01` first): two of account
/// `ACC` open (one overdue), one paid, and one of account `OTHER`.
async fn store(app: &TestApp) {
    let today = app.today();
    let created = |mut new: NewInvoice, days_ago: i64| {
        new.created_at = Utc::now().trunc_subsecs(6) - Duration::days(days_ago);
        new
    };
    app.insert(
        &[account("ACC"), account("OTHER")],
        &[
            order("ORD", "ACC", "30.00"),
            order("ORD-2", "OTHER", "5.00"),
        ],
        &[
            created(
                invoice("INV-01", "ACC", "ORD", "10.00", today + Duration::days(5)),
                3,
            ),
            created(
                invoice("INV-02", "ACC", "ORD", "10.00", today - Duration::days(2)),
                2,
            ),
            created(
                with_status(
                    invoice("INV-03", "ACC", "ORD", "10.00", today + Duration::days(9)),
                    InvoiceStatus::Paid,
                ),
                1,
            ),
            created(
                invoice(
                    "INV-04",
                    "OTHER",
                    "ORD-2",
                    "5.00",
                    today + Duration::days(1),
                ),
                0,
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
        (
            &invoice["status"],
            &invoice["value"],
            &invoice["creditValue"]
        ),
        (&json!("Opened"), &json!(10), &json!(0)),
        "money is a JSON number"
    );
    assert_eq!(
        (
            &invoice["creditAccountId"],
            &invoice["accountId"],
            &invoice["transactionId"],
            &invoice["friendlyId"],
        ),
        (
            &json!("ACC"),
            &json!("ACC"),
            &json!("INV"),
            &json!("FINV01")
        )
    );

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

/// The ids of a search's `data`.
fn ids(answer: &Value) -> Vec<&str> {
    answer["data"]
        .as_array()
        .expect("data is a list")
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect()
}

async fn rest_search_filters_and_pages(app: TestApp) {
    store(&app).await;
    let admin = app.admin();
    let admin = Some(admin.as_str());
    let search = |query: String| {
        let app = &app;
        async move { call(app, Method::GET, &format!("/invoices{query}"), admin, None).await }
    };

    // Positions are 1-based and inclusive, in creation order; the summary covers the
    // whole filter, not the page.
    let (status, page) = search("?from=2&to=3".into()).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(ids(&page), ["INV-02", "INV-03"]);
    assert_eq!(
        page["summary"],
        json!({ "total": 25, "count": 4, "totalPaid": 10, "totalCancelled": 0 }),
        "total is what is still to be paid, overdue included"
    );
    let (_, far) = search("?from=9223372036854775807".into()).await;
    assert_eq!(ids(&far), Vec::<&str>::new(), "{far}");
    let (_, past_the_end) = search("?from=5&to=300".into()).await;
    assert_eq!(ids(&past_the_end), Vec::<&str>::new());
    assert_eq!(past_the_end["summary"]["count"], 4);

    let today = app.today();
    let cases: Vec<(String, Vec<&str>)> = vec![
        // `Opened` is every invoice still to be paid, overdue ones included.
        ("?status=Opened".into(), vec!["INV-01", "INV-02", "INV-04"]),
        ("?status=Overdue".into(), vec!["INV-02"]),
        ("?status=Paid".into(), vec!["INV-03"]),
        ("?creditAccountId=OTHER".into(), vec!["INV-04"]),
        ("?value=5".into(), vec!["INV-04"]),
        ("?value=10.0000".into(), vec!["INV-01", "INV-02", "INV-03"]),
        ("?friendlyId=FINV03".into(), vec!["INV-03"]),
        (
            format!(
                "?dueDateFrom={}&dueDateTo={}",
                today,
                today + Duration::days(5)
            ),
            vec!["INV-01", "INV-04"],
        ),
        (
            format!(
                "?createdDateFrom={}&createdDateTo={}",
                today - Duration::days(2),
                today - Duration::days(1)
            ),
            vec!["INV-02", "INV-03"],
        ),
        // The description's spelling too.
        (
            format!("?createDateTo={}", today - Duration::days(3)),
            vec!["INV-01"],
        ),
        ("?value=5&status=Paid".into(), vec![]),
        (
            "?value=5&status=Paid&op=or".into(),
            vec!["INV-03", "INV-04"],
        ),
        (
            "?status=Paid&creditAccountId=OTHER&op=OR".into(),
            vec!["INV-03", "INV-04"],
        ),
        // Under `op=or` a range is still one criterion: both its bounds hold.
        (
            format!(
                "?createdDateFrom={}&createdDateTo={}&status=Paid&op=or",
                today - Duration::days(3),
                today - Duration::days(2)
            ),
            vec!["INV-01", "INV-02", "INV-03"],
        ),
        (
            format!(
                "?dueDateFrom={}&dueDateTo={}&value=5&op=or",
                today + Duration::days(9),
                today + Duration::days(9)
            ),
            vec!["INV-03", "INV-04"],
        ),
    ];
    for (query, expected) in cases {
        let (status, answer) = search(query.clone()).await;
        assert_eq!(status, 200, "{query}: {answer}");
        assert_eq!(ids(&answer), expected, "{query}");
        assert_eq!(
            answer["summary"]["count"],
            expected.len(),
            "{query}: the summary counts what the filter covers"
        );
    }

    // A customer's `op=or` widens nothing beyond its own account.
    let (_, mine) = call(
        &app,
        Method::GET,
        "/invoices?creditAccountId=ACC&status=Opened&op=or",
        Some(&app.customer("OTHER")),
        None,
    )
    .await;
    assert_eq!(
        ids(&mine),
        ["INV-04"],
        "a customer searches its own account only"
    );
    assert_eq!(mine["summary"]["count"], 1);

    for bad in [
        "?status=Late",
        "?from=0",
        "?from=yesterday",
        "?from=3&to=2",
        "?to=-1",
        "?from=9223372036854775808",
        "?perPage=10",
        "?cursor=abc",
        "?dueDateFrom=tomorrow",
        "?createdDateTo=2026-13-01",
        "?value=ten",
        "?value=1.00001",
        "?op=xor",
        "?status=Paid&status=Opened",
        "?creditAccountId=",
        "?observation=a%00b",
        "?friendlyId=a%00b",
        &format!(
            "?dueDateFrom={}&dueDateTo={}",
            today,
            today - Duration::days(1)
        ),
    ] {
        let (status, answer) = search(bad.to_owned()).await;
        assert_eq!(status, 400, "{bad}: {answer}");
        assert_eq!(answer["error"]["code"], "BAD_REQUEST", "{bad}");
    }
    let (_, unknown) = search("?dueDate=2026-01-01".into()).await;
    assert!(
        unknown["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("`dueDate`")),
        "the refusal names the unknown parameter: {unknown}"
    );
}

on_both_backends!(
    rest_pages_default_and_cap,
    rest_lists_an_accounts_invoices,
    rest_money_reaches_the_wire_digit_for_digit,
);

async fn rest_pages_default_and_cap(app: TestApp) {
    let today = app.today();
    let invoices: Vec<NewInvoice> = (0..1050)
        .map(|n| {
            invoice(
                &format!("BULK-{n:04}"),
                "ACC",
                "ORD",
                "1.00",
                today + Duration::days(1),
            )
        })
        .collect();
    app.insert_order("ACC", "ORD", "1050.00", &invoices).await;
    let admin = app.admin();
    let count = |query: &'static str| {
        let app = &app;
        let admin = &admin;
        async move {
            let (status, page) = call(app, Method::GET, query, Some(admin), None).await;
            assert_eq!(status, 200, "{query}: {page}");
            assert_eq!(page["summary"]["count"], 1050);
            page["data"].as_array().unwrap().len()
        }
    };
    assert_eq!(count("/invoices").await, 50, "the default page");
    assert_eq!(
        count("/invoices?from=1&to=300").await,
        300,
        "the spec's example"
    );
    assert_eq!(count("/invoices?from=1&to=100000").await, 1000, "the cap");
    let (_, tail) = call(&app, Method::GET, "/invoices?from=1041", Some(&admin), None).await;
    assert_eq!(ids(&tail).first(), Some(&"BULK-1040"));
    assert_eq!(ids(&tail).len(), 10);
}

async fn rest_lists_an_accounts_invoices(app: TestApp) {
    store(&app).await;
    let admin = app.admin();
    let (status, listed) = call(
        &app,
        Method::GET,
        "/accounts/ACC/invoices",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(ids(&listed), ["INV-01", "INV-02", "INV-03"]);
    assert_eq!(
        listed["summary"],
        json!({ "total": 20, "count": 3, "totalPaid": 10, "totalCancelled": 0 })
    );
    let (_, paid) = call(
        &app,
        Method::GET,
        "/accounts/ACC/invoices?status=Paid&value=5&op=or",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(
        ids(&paid),
        ["INV-03"],
        "the path's account holds under op=or"
    );
    let customer = app.customer("ACC");
    let (status, own) = call(
        &app,
        Method::GET,
        "/accounts/ACC/invoices?from=3",
        Some(&customer),
        None,
    )
    .await;
    assert_eq!((status, ids(&own)), (200, vec!["INV-03"]));
    for (path, token, status) in [
        ("/accounts/OTHER/invoices", &customer, 404),
        ("/accounts/NOPE/invoices", &admin, 404),
        ("/accounts/ACC/invoices?creditAccountId=OTHER", &admin, 400),
    ] {
        let (got, answer) = call(&app, Method::GET, path, Some(token), None).await;
        assert_eq!(got, status, "{path}: {answer}");
    }
}

async fn rest_money_reaches_the_wire_digit_for_digit(app: TestApp) {
    let today = app.today();
    // Past 2^53: a float would print 100000000000000 for the first.
    let values = ["99999999999999.9999", "0.0001", "1234567.8900"];
    let invoices: Vec<NewInvoice> = values
        .iter()
        .enumerate()
        .map(|(n, value)| invoice(&format!("BIG-{n}"), "ACC", "ORD", value, today))
        .collect();
    app.insert_order("ACC", "ORD", "1.00", &invoices).await;
    let admin = app.admin();
    let text = |path: &'static str| {
        let request = app
            .client
            .get(format!("{}/api/creditcontrol{path}", app.base))
            .bearer_auth(&admin);
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let body = text("/invoices?value=99999999999999.9999&op=or&friendlyId=FBIG1").await;
    assert!(body.contains(r#""value":99999999999999.9999,"#), "{body}");
    assert!(body.contains(r#""value":0.0001,"#), "{body}");
    assert!(
        body.contains(r#""summary":{"total":100000000000000,"count":2,"#),
        "{body}"
    );
    let one = text("/accounts/ACC/invoices/BIG-2").await;
    assert!(one.contains(r#""value":1234567.89,"#), "{one}");
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
            &format!("/invoices?dueDateFrom={date}"),
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(status, 400, "{date}");
    }
}
