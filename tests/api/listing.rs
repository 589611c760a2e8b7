//! Listing invoices: filters, overdue-by-date, keyset paging in every order, totals over
//! the whole filter, and a constant number of SQL statements per page.

use chrono::Duration;
use credit_gateway::domain::InvoiceStatus;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;

on_both_backends!(
    a_page_with_accounts_and_orders_costs_the_same_statements_at_10_and_100,
    counts_and_totals_cover_the_whole_filter_not_the_page,
    an_open_invoice_past_due_reads_as_overdue_everywhere,
    paging_forward_and_backward_visits_every_invoice_once_in_every_order,
    filters_by_order_account_and_due_date_range,
    the_demo_store_has_every_status_links_and_installments,
);

// As served, plans on (the suite's gateways otherwise run each planned read twice, to
// compare); `plans.rs` checks that the executor reads the same statements.
on_both_backends!(
    config |c| c.plans = credit_gateway::graphql::Plans::On;
    the_reference_read_costs_one_statement_at_10_50_and_100
);

/// 30 accounts, 60 orders, 120 open invoices due over the next 120 days.
async fn insert_many(app: &TestApp) {
    let today = app.today();
    let accounts: Vec<_> = (0..30).map(|a| account(&format!("ACC-{a:02}"))).collect();
    let orders: Vec<_> = (0..60)
        .map(|o| {
            order(
                &format!("ORD-{o:02}"),
                &format!("ACC-{:02}", o % 30),
                "100.00",
            )
        })
        .collect();
    let invoices: Vec<_> = (0..120)
        .map(|i| {
            let o = i % 60;
            invoice(
                &format!("INV-{i:03}"),
                &format!("ACC-{:02}", o % 30),
                &format!("ORD-{o:02}"),
                "50.00",
                today + Duration::days(i),
            )
        })
        .collect();
    app.insert(&accounts, &orders, &invoices).await;
}

const PAGE_QUERY: &str = "query($n: Int) { invoices(first: $n) { nodes { id value dueDate status paymentLink orderId \
    account { id name email creditLimit openBalance } order { id value createdAt } } } }";

async fn a_page_with_accounts_and_orders_costs_the_same_statements_at_10_and_100(app: TestApp) {
    insert_many(&app).await;
    let mut costs = Vec::new();
    for n in [10, 100] {
        let before = app.statements();
        let data = app.admin_data(PAGE_QUERY, json!({ "n": n })).await;
        costs.push(app.statements() - before);
        let nodes = data["invoices"]["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), n as usize);
        assert!(
            nodes
                .iter()
                .all(|n| n["account"]["name"].is_string() && n["order"]["id"].is_string())
        );
    }
    // The page with its accounts and orders, then the balances.
    assert_eq!(costs[0], costs[1], "statements at 10 and at 100: {costs:?}");
    assert_eq!(costs[0], 2, "statements per page: {costs:?}");
}

/// The reference read of the benchmarks (benches/reference.sh): the first open invoices
/// by due date with their accounts and orders.
const REFERENCE_QUERY: &str = "query Reference($first: Int!) { invoices(status: OPEN, first: $first) { \
    nodes { value dueDate status paymentLink orderId account { id name email creditLimit } \
    order { id value createdAt } } } }";

async fn the_reference_read_costs_one_statement_at_10_50_and_100(app: TestApp) {
    insert_many(&app).await;
    let mut costs = Vec::new();
    for n in [10, 50, 100] {
        let before = app.statements();
        let data = app.admin_data(REFERENCE_QUERY, json!({ "first": n })).await;
        costs.push(app.statements() - before);
        let nodes = data["invoices"]["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), n as usize);
        assert!(nodes.iter().all(|n| n["status"] == "OPEN"
            && n["account"]["email"].is_string()
            && n["order"]["createdAt"].is_string()));
    }
    // The page of invoices with their accounts and orders, in one statement.
    assert_eq!(costs, [1, 1, 1], "statements at page sizes 10, 50 and 100");
}

async fn counts_and_totals_cover_the_whole_filter_not_the_page(app: TestApp) {
    let today = app.today();
    let mut invoices = Vec::new();
    for i in 0..12 {
        let new = invoice(
            &format!("T-{i:02}"),
            "ACC",
            "ORD",
            "10.00",
            today + Duration::days(i),
        );
        invoices.push(match i % 4 {
            0 => with_status(new, InvoiceStatus::Paid),
            1 => with_status(new, InvoiceStatus::Cancelled),
            _ => new,
        });
    }
    app.insert_order("ACC", "ORD", "120.00", &invoices).await;

    let data = app
        .admin_data(
            "{ all: invoices(first: 2) { totalCount nodes { id } } \
               open: invoices(status: OPEN, first: 1) { totalCount } \
               invoiceStatusTotals(orderId: \"ORD\") { status count value { amount } } }",
            json!({}),
        )
        .await;

    assert_eq!(data["all"]["nodes"].as_array().unwrap().len(), 2);
    assert_eq!(data["all"]["totalCount"], 12);
    assert_eq!(data["open"]["totalCount"], 6);
    assert_eq!(
        data["invoiceStatusTotals"],
        json!([
            { "status": "OPEN", "count": 6, "value": [{ "amount": "60.00" }] },
            { "status": "PAID", "count": 3, "value": [{ "amount": "30.00" }] },
            { "status": "CANCELLED", "count": 3, "value": [{ "amount": "30.00" }] },
            { "status": "OVERDUE", "count": 0, "value": [] },
        ])
    );
}

async fn an_open_invoice_past_due_reads_as_overdue_everywhere(app: TestApp) {
    let today = app.today();
    app.insert_order(
        "ACC",
        "ORD",
        "30.00",
        &[
            invoice("LATE", "ACC", "ORD", "10.00", today - Duration::days(1)),
            invoice("DUE-TODAY", "ACC", "ORD", "10.00", today),
            with_status(
                invoice("SWEPT", "ACC", "ORD", "10.00", today - Duration::days(9)),
                InvoiceStatus::Overdue,
            ),
        ],
    )
    .await;

    let data = app
        .admin_data(
            "{ late: invoice(id: \"LATE\") { status } \
               overdue: invoices(status: OVERDUE) { totalCount nodes { id } } \
               open: invoices(status: OPEN) { nodes { id } } \
               invoiceStatusTotals { status count } \
               account(id: \"ACC\") { openBalance } }",
            json!({}),
        )
        .await;

    assert_eq!(data["late"]["status"], "OVERDUE");
    assert_eq!(
        data["overdue"]["nodes"],
        json!([{ "id": "SWEPT" }, { "id": "LATE" }])
    );
    assert_eq!(data["overdue"]["totalCount"], 2);
    assert_eq!(data["open"]["nodes"], json!([{ "id": "DUE-TODAY" }]));
    assert_eq!(
        data["invoiceStatusTotals"][0],
        json!({ "status": "OPEN", "count": 1 })
    );
    assert_eq!(
        data["invoiceStatusTotals"][3],
        json!({ "status": "OVERDUE", "count": 2 })
    );
    assert_eq!(data["account"]["openBalance"], "30.00");
}

fn ids(connection: &Value) -> Vec<String> {
    connection["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect()
}

const WALK: &str = "query($order: InvoiceOrder, $first: Int, $after: String, $last: Int, $before: String) { \
    invoices(orderBy: $order, first: $first, after: $after, last: $last, before: $before) { \
      edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";

async fn paging_forward_and_backward_visits_every_invoice_once_in_every_order(app: TestApp) {
    let today = app.today();
    // Few distinct keys, so ties are broken by id across page boundaries.
    let invoices: Vec<_> = (0..23)
        .map(|i| {
            let value = ["5.00", "7.50", "5.00", "1.25"][i % 4];
            invoice(
                &format!("P-{:02}", (i * 7) % 23),
                "ACC",
                "ORD",
                value,
                today + Duration::days((i % 3) as i64),
            )
        })
        .collect();
    app.insert_order("ACC", "ORD", "1.00", &invoices).await;

    for field in ["DUE_DATE", "CREATED_AT", "VALUE"] {
        for direction in ["ASC", "DESC"] {
            let order = json!({ "field": field, "direction": direction });
            let everything = app
                .admin_data(WALK, json!({ "order": order, "first": 100 }))
                .await;
            let expected = ids(&everything["invoices"]);
            assert_eq!(expected.len(), 23);

            let mut forward = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let page = app
                    .admin_data(WALK, json!({ "order": order, "first": 5, "after": after }))
                    .await;
                let connection = &page["invoices"];
                forward.extend(ids(connection));
                assert_eq!(connection["pageInfo"]["hasPreviousPage"], after.is_some());
                if connection["pageInfo"]["hasNextPage"] != true {
                    break;
                }
                after = connection["pageInfo"]["endCursor"]
                    .as_str()
                    .map(str::to_owned);
            }
            assert_eq!(forward, expected, "forward by {field} {direction}");

            let mut backward = Vec::new();
            let mut before: Option<String> = None;
            loop {
                let page = app
                    .admin_data(WALK, json!({ "order": order, "last": 4, "before": before }))
                    .await;
                let connection = &page["invoices"];
                let mut chunk = ids(connection);
                chunk.extend(backward);
                backward = chunk;
                if connection["pageInfo"]["hasPreviousPage"] != true {
                    break;
                }
                before = connection["pageInfo"]["startCursor"]
                    .as_str()
                    .map(str::to_owned);
            }
            assert_eq!(backward, expected, "backward by {field} {direction}");
        }
    }
}

async fn filters_by_order_account_and_due_date_range(app: TestApp) {
    let today = app.today();
    app.insert(
        &[account("A"), account("B")],
        &[order("OA", "A", "20.00"), order("OB", "B", "10.00")],
        &[
            invoice("A-1", "A", "OA", "10.00", today + Duration::days(1)),
            invoice("A-2", "A", "OA", "10.00", today + Duration::days(10)),
            invoice("B-1", "B", "OB", "10.00", today + Duration::days(5)),
        ],
    )
    .await;
    let from = (today + Duration::days(2)).to_string();
    let to = (today + Duration::days(10)).to_string();

    let data = app
        .admin_data(
            "query($from: Date, $to: Date) { \
               byOrder: invoices(orderId: \"OA\") { nodes { id } } \
               byAccount: invoices(accountId: \"B\") { nodes { id } } \
               byRange: invoices(dueFrom: $from, dueTo: $to) { nodes { id } } \
               unknownOrder: invoices(orderId: \"nope\") { totalCount } \
               account(id: \"A\") { invoices(dueFrom: $from) { nodes { id } } } }",
            json!({ "from": from, "to": to }),
        )
        .await;

    assert_eq!(
        data["byOrder"]["nodes"],
        json!([{ "id": "A-1" }, { "id": "A-2" }])
    );
    assert_eq!(data["byAccount"]["nodes"], json!([{ "id": "B-1" }]));
    assert_eq!(
        data["byRange"]["nodes"],
        json!([{ "id": "B-1" }, { "id": "A-2" }])
    );
    assert_eq!(data["unknownOrder"]["totalCount"], 0);
    assert_eq!(
        data["account"]["invoices"]["nodes"],
        json!([{ "id": "A-2" }])
    );
}

async fn the_demo_store_has_every_status_links_and_installments(app: TestApp) {
    let demo = TestApp::with(app.backend)
        .demo()
        .spawn()
        .await
        .expect("backend reachable");

    let data = demo
        .admin_data(
            "{ invoiceStatusTotals { status count } \
               invoices(first: 100) { nodes { paymentLink numberOfInstallments status history { source } } } }",
            json!({}),
        )
        .await;

    for total in data["invoiceStatusTotals"].as_array().unwrap() {
        assert!(
            total["count"].as_i64().unwrap() > 0,
            "no demo invoice is {}",
            total["status"]
        );
    }
    let nodes = data["invoices"]["nodes"].as_array().unwrap();
    assert!(nodes.iter().any(|n| n["paymentLink"].is_string()));
    assert!(
        nodes
            .iter()
            .any(|n| n["numberOfInstallments"].as_i64().unwrap() > 1)
    );
    assert!(nodes.iter().all(|n| n["history"][0]["source"] == "SEED"));
    // Seeding again into a non-empty database changes nothing.
    assert!(
        !credit_gateway::service::seed_demo(&demo.running.gateway)
            .await
            .unwrap()
    );
}

on_both_backends!(overdue_follows_the_calendar_of_the_store_time_zone);

async fn overdue_follows_the_calendar_of_the_store_time_zone(app: TestApp) {
    // A zone whose date differs from UTC's right now: a day ahead, or a day behind.
    let ahead = chrono::Utc::now()
        .format("%H")
        .to_string()
        .parse::<u32>()
        .unwrap()
        >= 10;
    let zone: chrono_tz::Tz = if ahead {
        chrono_tz::Pacific::Kiritimati
    } else {
        chrono_tz::Etc::GMTPlus12
    };
    let store = TestApp::with(app.backend)
        .config(move |c| c.time_zone = zone)
        .spawn()
        .await
        .unwrap();
    let today = store.today();
    assert_ne!(
        today,
        chrono::Utc::now().date_naive(),
        "the zone must disagree with UTC"
    );
    store
        .insert(
            &[account("ACC")],
            &[order("ORD", "ACC", "2.00")],
            &[
                invoice(
                    "DUE-YESTERDAY",
                    "ACC",
                    "ORD",
                    "1.00",
                    today - Duration::days(1),
                ),
                invoice("DUE-TODAY", "ACC", "ORD", "1.00", today),
            ],
        )
        .await;

    let data = store
        .admin_data("{ invoices { nodes { id status } } today }", json!({}))
        .await;

    assert_eq!(data["today"], today.to_string());
    assert_eq!(
        data["invoices"]["nodes"],
        json!([{ "id": "DUE-YESTERDAY", "status": "OVERDUE" }, { "id": "DUE-TODAY", "status": "OPEN" }])
    );
}
