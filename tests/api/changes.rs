//! Changing invoices through GraphQL: every allowed and refused transition, idempotent
//! repeats, link validation, history, rights, stale versions and concurrent writers.

use chrono::Duration;
use credit_gateway::domain::InvoiceStatus;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;

on_both_backends!(
    marking_paid_records_one_event_and_repeating_it_records_none,
    refused_transitions_are_user_errors_and_change_nothing,
    payment_links_must_be_absolute_https_and_can_be_cleared,
    change_invoice_postpones_reopens_and_notes_in_one_call,
    a_stale_expected_version_is_a_conflict,
    only_admins_change_invoices,
    concurrent_changes_lose_no_update,
);

const INVOICE: &str = "query($id: ID!) { invoice(id: $id) { status version resolvedAt paymentLink observation dueDate \
    history { previousStatus status actor source reason paymentLinkChange { from to } observationChange { from to } \
              dueDateChange { from to } } } }";

const MARK_PAID: &str = "mutation($id: ID!, $v: Int) { markInvoicePaid(input: {id: $id, expectedVersion: $v}) { \
    invoice { id status version } userErrors { field message code } } }";

const CANCEL: &str = "mutation($id: ID!) { cancelInvoice(input: {id: $id, reason: \"customer gave up\"}) { \
    invoice { status } userErrors { field code } } }";

const SET_LINK: &str = "mutation($id: ID!, $link: String) { setPaymentLink(input: {id: $id, paymentLink: $link}) { \
    invoice { paymentLink } userErrors { field message code } } }";

const CHANGE: &str = "mutation($input: ChangeInvoiceInput!) { changeInvoice(input: $input) { \
    invoice { status dueDate observation resolvedAt version } userErrors { field message code } } }";

/// Invoices of every kind: open, overdue by date, paid and cancelled.
async fn store(app: &TestApp) {
    let today = app.today();
    app.insert_order(
        "ACC",
        "ORD",
        "40.00",
        &[
            invoice("OPEN", "ACC", "ORD", "10.00", today + Duration::days(5)),
            invoice("LATE", "ACC", "ORD", "10.00", today - Duration::days(3)),
            with_status(
                invoice("PAID", "ACC", "ORD", "10.00", today + Duration::days(5)),
                InvoiceStatus::Paid,
            ),
            with_status(
                invoice("GONE", "ACC", "ORD", "10.00", today + Duration::days(5)),
                InvoiceStatus::Cancelled,
            ),
        ],
    )
    .await;
}

async fn read(app: &TestApp, id: &str) -> Value {
    app.admin_data(INVOICE, json!({ "id": id })).await["invoice"].clone()
}

async fn mutate(app: &TestApp, query: &str, variables: Value) -> Value {
    let data = app.admin_data(query, variables).await;
    data.as_object().unwrap().values().next().unwrap().clone()
}

async fn marking_paid_records_one_event_and_repeating_it_records_none(app: TestApp) {
    store(&app).await;
    for id in ["OPEN", "LATE"] {
        let before = read(&app, id).await;
        let paid = mutate(&app, MARK_PAID, json!({ "id": id })).await;
        assert_eq!(paid["userErrors"], json!([]));
        assert_eq!(paid["invoice"]["status"], "PAID");
        assert_eq!(
            paid["invoice"]["version"],
            before["version"].as_i64().unwrap() + 1
        );

        let after = read(&app, id).await;
        assert!(after["resolvedAt"].is_string());
        let last = after["history"].as_array().unwrap().last().unwrap().clone();
        let previous = if id == "OPEN" { "OPEN" } else { "OVERDUE" };
        assert_eq!(last["previousStatus"], previous);
        assert_eq!(last["status"], "PAID");
        assert_eq!(last["actor"], "test-admin");
        assert_eq!(last["source"], "GRAPHQL");

        let again = mutate(&app, MARK_PAID, json!({ "id": id })).await;
        assert_eq!(again["userErrors"], json!([]));
        assert_eq!(read(&app, id).await, after, "paying twice changes nothing");
    }
}

async fn refused_transitions_are_user_errors_and_change_nothing(app: TestApp) {
    store(&app).await;
    let cases = [
        (MARK_PAID, "GONE", "INVALID_TRANSITION"),
        (CANCEL, "PAID", "INVALID_TRANSITION"),
        (MARK_PAID, "NOPE", "NOT_FOUND"),
        (MARK_PAID, "bad id", "INVALID_ID"),
    ];
    for (mutation, id, code) in cases {
        let before = if id.starts_with('N') || id.contains(' ') {
            Value::Null
        } else {
            read(&app, id).await
        };
        let result = mutate(&app, mutation, json!({ "id": id })).await;
        assert_eq!(result["invoice"], Value::Null, "{id}");
        assert_eq!(result["userErrors"][0]["code"], code, "{id}: {result}");
        if !before.is_null() {
            assert_eq!(read(&app, id).await, before, "{id} unchanged");
        }
    }
    let cancelled = mutate(&app, CANCEL, json!({ "id": "OPEN" })).await;
    assert_eq!(cancelled["invoice"]["status"], "CANCELLED");
    let history = read(&app, "OPEN").await["history"].clone();
    assert_eq!(
        history.as_array().unwrap().last().unwrap()["reason"],
        "customer gave up"
    );
    let again = mutate(&app, CANCEL, json!({ "id": "OPEN" })).await;
    assert_eq!(
        again["userErrors"],
        json!([]),
        "cancelling twice is a no-op"
    );
    assert_eq!(read(&app, "OPEN").await["history"], history);

    let overdue_by_hand = mutate(
        &app,
        CHANGE,
        json!({ "input": { "id": "PAID", "status": "OVERDUE" } }),
    )
    .await;
    assert_eq!(
        overdue_by_hand["userErrors"][0]["code"],
        "INVALID_TRANSITION"
    );
    let reopen_cancelled = mutate(
        &app,
        CHANGE,
        json!({ "input": { "id": "GONE", "status": "OPEN", "reason": "x" } }),
    )
    .await;
    assert_eq!(
        reopen_cancelled["userErrors"][0]["code"],
        "INVALID_TRANSITION"
    );
}

async fn payment_links_must_be_absolute_https_and_can_be_cleared(app: TestApp) {
    store(&app).await;
    let long = format!("https://pay.example.com/{}", "x".repeat(3000));
    for bad in [
        "javascript:alert(document.cookie)",
        "data:text/html,<script>",
        "/pay/1",
        "http://pay.example.com/1",
        "https://",
        long.as_str(),
        // Links a person, or a lax parser, reads as going to the bank, and browsers follow
        // elsewhere.
        "https://evil.example\\@pay.bank.com/",
        "https://pay.bank.com@evil.example/",
        "https://pay.bank.com/\u{202E}gpj.exe",
        "https://pay.bank.com/\"onclick=\"x",
        "https://pay.bank.com/`x`",
    ] {
        let before = read(&app, "OPEN").await;
        let result = mutate(&app, SET_LINK, json!({ "id": "OPEN", "link": bad })).await;
        assert_eq!(
            result["userErrors"][0]["code"], "INVALID_PAYMENT_LINK",
            "{bad}"
        );
        assert_eq!(
            result["userErrors"][0]["field"],
            json!(["input", "paymentLink"])
        );
        assert_eq!(read(&app, "OPEN").await, before);
    }
    let link = "https://pay.example.com/invoice/OPEN";
    let set = mutate(&app, SET_LINK, json!({ "id": "OPEN", "link": link })).await;
    assert_eq!(set["invoice"]["paymentLink"], link);
    let cleared = mutate(&app, SET_LINK, json!({ "id": "OPEN", "link": null })).await;
    assert_eq!(cleared["invoice"]["paymentLink"], Value::Null);
    let history = read(&app, "OPEN").await["history"].clone();
    let changes: Vec<&Value> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["paymentLinkChange"])
        .filter(|c| !c.is_null())
        .collect();
    assert_eq!(
        changes,
        [
            &json!({ "from": null, "to": link }),
            &json!({ "from": link, "to": null })
        ]
    );
    let on_paid = mutate(&app, SET_LINK, json!({ "id": "PAID", "link": link })).await;
    assert_eq!(on_paid["userErrors"][0]["code"], "INVALID_TRANSITION");

    // Stored as browsers will read it: lowercase host, punycode, escapes.
    let spelled = "HTTPS://Pagó.Example.COM/fatura 1";
    let set = mutate(&app, SET_LINK, json!({ "id": "OPEN", "link": spelled })).await;
    assert_eq!(
        set["userErrors"][0]["code"], "INVALID_PAYMENT_LINK",
        "a space"
    );
    let spelled = "HTTPS://Pagó.Example.COM/fatura%201";
    let set = mutate(&app, SET_LINK, json!({ "id": "OPEN", "link": spelled })).await;
    let stored = "https://xn--pag-ina.example.com/fatura%201";
    assert_eq!(set["invoice"]["paymentLink"], stored, "{set}");
    assert_eq!(read(&app, "OPEN").await["paymentLink"], stored);
}

async fn change_invoice_postpones_reopens_and_notes_in_one_call(app: TestApp) {
    store(&app).await;
    let later = (app.today() + Duration::days(30)).to_string();
    let postponed = mutate(
        &app,
        CHANGE,
        json!({ "input": { "id": "LATE", "dueDate": later, "observation": "agreed by phone" } }),
    )
    .await;
    assert_eq!(postponed["userErrors"], json!([]));
    assert_eq!(postponed["invoice"]["status"], "OPEN");
    assert_eq!(postponed["invoice"]["observation"], "agreed by phone");
    let event = read(&app, "LATE").await["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(event["previousStatus"], "OVERDUE");
    assert_eq!(event["status"], "OPEN");
    assert_eq!(event["dueDateChange"]["to"], later.as_str());
    assert_eq!(
        event["observationChange"],
        json!({ "from": null, "to": "agreed by phone" })
    );

    let no_reason = mutate(
        &app,
        CHANGE,
        json!({ "input": { "id": "PAID", "status": "OPEN" } }),
    )
    .await;
    assert_eq!(no_reason["userErrors"][0]["code"], "REASON_REQUIRED");
    let reopened = mutate(
        &app,
        CHANGE,
        json!({ "input": { "id": "PAID", "status": "OPEN", "reason": "chargeback" } }),
    )
    .await;
    assert_eq!(reopened["invoice"]["status"], "OPEN");
    assert_eq!(reopened["invoice"]["resolvedAt"], Value::Null);
    let event = read(&app, "PAID").await["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (event["previousStatus"].as_str(), event["reason"].as_str()),
        (Some("PAID"), Some("chargeback"))
    );

    let past = (app.today() - Duration::days(1)).to_string();
    let reopen_past = mutate(
        &app,
        CHANGE,
        json!({ "input": { "id": "LATE", "dueDate": past, "status": "OPEN" } }),
    )
    .await;
    assert_eq!(reopen_past["userErrors"][0]["code"], "INVALID_DUE_DATE");
    let too_long = mutate(
        &app,
        CHANGE,
        json!({ "input": { "id": "OPEN", "observation": "x".repeat(5000) } }),
    )
    .await;
    assert_eq!(too_long["userErrors"][0]["code"], "TOO_LONG");
}

async fn a_stale_expected_version_is_a_conflict(app: TestApp) {
    store(&app).await;
    let version = read(&app, "OPEN").await["version"].as_i64().unwrap();
    mutate(
        &app,
        CHANGE,
        json!({ "input": { "id": "OPEN", "observation": "first", "expectedVersion": version } }),
    )
    .await;
    let stale = mutate(
        &app,
        CHANGE,
        json!({ "input": { "id": "OPEN", "observation": "second", "expectedVersion": version } }),
    )
    .await;
    assert_eq!(stale["userErrors"][0]["code"], "VERSION_CONFLICT");
    assert_eq!(read(&app, "OPEN").await["observation"], "first");
    let paid = mutate(&app, MARK_PAID, json!({ "id": "OPEN", "v": version + 1 })).await;
    assert_eq!(paid["invoice"]["status"], "PAID");
}

async fn only_admins_change_invoices(app: TestApp) {
    store(&app).await;
    let before = read(&app, "OPEN").await;
    let customer = app
        .gql(
            Some(&app.customer("ACC")),
            MARK_PAID,
            json!({ "id": "OPEN" }),
        )
        .await;
    assert_eq!(error_codes(&customer), ["FORBIDDEN"]);
    let anonymous = app.gql(None, MARK_PAID, json!({ "id": "OPEN" })).await;
    assert_eq!(error_codes(&anonymous), ["UNAUTHENTICATED"]);
    assert_eq!(read(&app, "OPEN").await, before);
}

async fn concurrent_changes_lose_no_update(app: TestApp) {
    store(&app).await;
    let token = app.admin();
    let mut tasks = Vec::new();
    for n in 0..24 {
        let (client, base, token) = (app.client.clone(), app.base.clone(), token.clone());
        let id = ["OPEN", "LATE"][n % 2];
        let (query, variables) = if n % 12 == 4 || n % 12 == 7 {
            (MARK_PAID, json!({ "id": id }))
        } else {
            (
                CHANGE,
                json!({ "input": { "id": id, "observation": format!("note {n}") } }),
            )
        };
        tasks.push(tokio::spawn(async move {
            let response = client
                .post(format!("{base}/graphql"))
                .bearer_auth(token)
                .json(&json!({ "query": query, "variables": variables }))
                .send()
                .await
                .unwrap();
            response.json::<Value>().await.unwrap()
        }));
    }
    for task in tasks {
        let body = task.await.unwrap();
        assert!(body.get("errors").is_none(), "{body}");
    }
    for id in ["OPEN", "LATE"] {
        let invoice = read(&app, id).await;
        let history = invoice["history"].as_array().unwrap();
        assert_eq!(
            invoice["version"].as_u64().unwrap() as usize,
            history.len(),
            "{id}: one event per version"
        );
        let notes = history
            .iter()
            .filter(|e| !e["observationChange"].is_null())
            .count();
        let payments = history.iter().filter(|e| e["status"] == "PAID").count();
        assert_eq!(payments, 1, "{id}: paid once");
        // Observations change after payment too; each of the 10 distinct notes is recorded.
        assert_eq!(notes, 10, "{id}: {history:#?}");
        assert_eq!(invoice["status"], "PAID");
    }
}

on_both_backends!(the_sweeper_persists_overdue_once_even_when_two_run_at_once);

async fn the_sweeper_persists_overdue_once_even_when_two_run_at_once(app: TestApp) {
    let today = app.today();
    let late: Vec<_> = (0..30)
        .map(|n| {
            invoice(
                &format!("LATE-{n:02}"),
                "ACC",
                "ORD",
                "1.00",
                today - Duration::days(1 + n % 3),
            )
        })
        .collect();
    let mut fixtures = late.clone();
    fixtures.push(invoice(
        "FUTURE",
        "ACC",
        "ORD",
        "1.00",
        today + Duration::days(1),
    ));
    fixtures.push(with_status(
        invoice("PAID-LATE", "ACC", "ORD", "1.00", today - Duration::days(1)),
        InvoiceStatus::Paid,
    ));
    app.insert_order("ACC", "ORD", "32.00", &fixtures).await;
    // A second gateway over the same database: another instance.
    let other = credit_gateway::app::start(&app.config, "127.0.0.1:0", false)
        .await
        .unwrap();

    let (a, b) = tokio::join!(
        app.running.gateway.sweep_overdue(),
        other.gateway.sweep_overdue()
    );
    assert_eq!(
        a.unwrap() + b.unwrap(),
        30,
        "each late invoice swept once in all"
    );

    for new in &late {
        let invoice = read(&app, &new.id).await;
        let sweeps: Vec<&Value> = invoice["history"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["source"] == "SWEEPER")
            .collect();
        assert_eq!(sweeps.len(), 1, "{}", new.id);
        assert_eq!(
            (
                sweeps[0]["previousStatus"].as_str(),
                sweeps[0]["status"].as_str()
            ),
            (Some("OPEN"), Some("OVERDUE"))
        );
        assert_eq!(invoice["status"], "OVERDUE");
    }
    for id in ["FUTURE", "PAID-LATE"] {
        let history = read(&app, id).await["history"].clone();
        assert!(
            history
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["source"] != "SWEEPER"),
            "{id}"
        );
    }
    assert_eq!(
        app.running.gateway.sweep_overdue().await.unwrap(),
        0,
        "nothing left to sweep"
    );
}

on_both_backends!(a_store_loads_accounts_and_invoices_through_the_api);

const UPSERT: &str = "mutation($input: UpsertAccountInput!) { upsertAccount(input: $input) { \
    account { id name creditLimit tolerance status version } userErrors { field code } } }";

const CREATE: &str = "mutation($input: CreateInvoiceInput!) { createInvoice(input: $input) { \
    invoice { id friendlyId status value version order { id value } history { status source actor } } \
    userErrors { field message code } } }";

async fn a_store_loads_accounts_and_invoices_through_the_api(app: TestApp) {
    let account = json!({ "id": "99999999999_CPF", "document": "99999999999", "documentType": "CPF",
        "name": "Rita Lima", "email": "rita@example.com", "creditLimit": "2500.00", "tolerance": "0.25" });
    let created = mutate(&app, UPSERT, json!({ "input": account })).await;
    assert_eq!(created["account"]["creditLimit"], "2500.00");
    assert_eq!(created["account"]["status"], "OPEN");
    let mut renamed = account.clone();
    renamed["name"] = json!("Rita Lima Souza");
    renamed["expectedVersion"] = json!(1);
    let updated = mutate(&app, UPSERT, json!({ "input": renamed })).await;
    assert_eq!(updated["account"]["name"], "Rita Lima Souza");
    assert_eq!(updated["account"]["version"], 2);
    let stale = mutate(&app, UPSERT, json!({ "input": renamed })).await;
    assert_eq!(
        stale["userErrors"][0]["code"], "VERSION_CONFLICT",
        "{stale}"
    );
    let mut bad = account.clone();
    bad["email"] = json!("not-an-email");
    assert_eq!(
        mutate(&app, UPSERT, json!({ "input": bad })).await["userErrors"][0]["field"],
        json!(["input", "email"])
    );

    let due = (app.today() + Duration::days(30)).to_string();
    let first = json!({ "id": "ABC-01", "accountId": "99999999999_CPF", "orderId": "ORDER-1", "orderValue": "300.00",
        "installment": 1, "numberOfInstallments": 2, "value": "150.00", "currency": "BRL", "dueDate": due });
    let invoice = mutate(&app, CREATE, json!({ "input": first })).await;
    assert_eq!(invoice["userErrors"], json!([]), "{invoice}");
    assert_eq!(invoice["invoice"]["status"], "OPEN");
    assert_eq!(invoice["invoice"]["version"], 1);
    assert_eq!(
        invoice["invoice"]["order"],
        json!({ "id": "ORDER-1", "value": "300.00" })
    );
    assert_eq!(
        invoice["invoice"]["history"],
        json!([{ "status": "OPEN", "source": "GRAPHQL", "actor": "test-admin" }])
    );
    assert!(
        invoice["invoice"]["friendlyId"]
            .as_str()
            .unwrap()
            .ends_with("-1")
    );

    let mut second = first.clone();
    second["id"] = json!("ABC-02");
    second["installment"] = json!(2);
    second.as_object_mut().unwrap().remove("orderValue");
    assert_eq!(
        mutate(&app, CREATE, json!({ "input": second })).await["userErrors"],
        json!([])
    );

    let refusals = [
        (json!({ "id": "ABC-01" }), "ALREADY_EXISTS", "id"),
        (
            json!({ "id": "ABC-03", "accountId": "NOBODY" }),
            "NOT_FOUND",
            "accountId",
        ),
        (
            json!({ "id": "ABC-03", "orderId": "NEW-ORDER", "orderValue": null }),
            "INVALID_INPUT",
            "orderValue",
        ),
        (
            json!({ "id": "ABC-03", "value": "0.00" }),
            "INVALID_INPUT",
            "value",
        ),
        (
            json!({ "id": "ABC-03", "installment": 3 }),
            "INVALID_INPUT",
            "installment",
        ),
        (
            json!({ "id": "ABC-03", "currency": "reais" }),
            "INVALID_INPUT",
            "currency",
        ),
    ];
    for (change, code, field) in refusals {
        let mut input = first.clone();
        for (k, v) in change.as_object().unwrap() {
            input[k] = v.clone();
        }
        let result = mutate(&app, CREATE, json!({ "input": input })).await;
        assert_eq!(result["userErrors"][0]["code"], code, "{change}: {result}");
        assert_eq!(
            result["userErrors"][0]["field"],
            json!(["input", field]),
            "{change}"
        );
    }
    let mut float = first.clone();
    float["id"] = json!("ABC-04");
    for value in [json!("1.00001"), json!(1.5), json!("1e3")] {
        float["value"] = value.clone();
        let refused = app
            .gql(Some(&app.admin()), CREATE, json!({ "input": float }))
            .await;
        assert_eq!(
            error_codes(&refused),
            ["BAD_USER_INPUT"],
            "{value}: money is a decimal string of at most 4 places"
        );
    }
    let total = app
        .admin_data("{ invoices { totalCount } }", json!({}))
        .await;
    assert_eq!(
        total["invoices"]["totalCount"], 2,
        "refusals created nothing"
    );
    let customer = app
        .gql(
            Some(&app.customer("99999999999_CPF")),
            CREATE,
            json!({ "input": first }),
        )
        .await;
    assert_eq!(error_codes(&customer), ["FORBIDDEN"]);
}

on_both_backends!(review_regressions_due_dates_retries_control_characters_and_parallel_creates);

async fn review_regressions_due_dates_retries_control_characters_and_parallel_creates(
    app: TestApp,
) {
    store(&app).await;
    let yesterday = (app.today() - Duration::days(1)).to_string();
    let backwards = mutate(
        &app,
        CHANGE,
        json!({ "input": { "id": "OPEN", "dueDate": yesterday } }),
    )
    .await;
    assert_eq!(
        backwards["userErrors"][0]["code"], "INVALID_DUE_DATE",
        "overdue happens by time only"
    );

    let version = read(&app, "OPEN").await["version"].as_i64().unwrap();
    let first = mutate(&app, MARK_PAID, json!({ "id": "OPEN", "v": version })).await;
    let retry = mutate(&app, MARK_PAID, json!({ "id": "OPEN", "v": version })).await;
    assert_eq!(
        (first["userErrors"].clone(), retry["userErrors"].clone()),
        (json!([]), json!([])),
        "a retried payment succeeds"
    );

    let nul = mutate(
        &app,
        CHANGE,
        json!({ "input": { "id": "LATE", "observation": "a\u{0}b" } }),
    )
    .await;
    assert_eq!(nul["userErrors"][0]["code"], "INVALID_INPUT");
    let lines = mutate(
        &app,
        CHANGE,
        json!({ "input": { "id": "LATE", "observation": "line 1\nline 2" } }),
    )
    .await;
    assert_eq!(lines["invoice"]["observation"], "line 1\nline 2");

    let due = (app.today() + Duration::days(9)).to_string();
    let mut tasks = Vec::new();
    for n in 0..6 {
        let input = json!({ "id": format!("PAR-{}", n % 2), "accountId": "ACC", "orderId": "PAR-ORDER", "orderValue": "20.00",
            "installment": 1 + n % 2, "numberOfInstallments": 2, "value": "10.00", "currency": "BRL", "dueDate": due });
        let (client, base, token) = (app.client.clone(), app.base.clone(), app.admin());
        tasks.push(tokio::spawn(async move {
            let body = json!({ "query": CREATE, "variables": { "input": input } });
            client
                .post(format!("{base}/graphql"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }));
    }
    let mut created = 0;
    for task in tasks {
        let body = task.await.unwrap();
        assert!(
            body.get("errors").is_none(),
            "no internal error under parallel creates: {body}"
        );
        let result = &body["data"]["createInvoice"];
        if result["userErrors"] == json!([]) {
            created += 1;
        } else {
            assert_eq!(
                result["userErrors"][0]["code"], "ALREADY_EXISTS",
                "{result}"
            );
        }
    }
    assert_eq!(created, 2, "each installment created once");
}
