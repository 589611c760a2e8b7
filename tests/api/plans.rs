//! Precompiled plans (`graphql/plan.rs`): a listing answered through its plan is the
//! executor's answer, byte for byte, read with the same statements; whatever the plan
//! cannot answer (errors included) is the executor's. Beside these, every test of the
//! suite runs with `CREDIT_GATEWAY_PLANS=checked` (`helpers::test_config`).

use credit_gateway::app::{self, Running};
use credit_gateway::graphql::Plans;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;

on_both_backends!(
    a_listing_through_its_plan_is_the_executors_answer_byte_for_byte,
    the_suites_gateways_run_every_planned_listing_both_ways,
);

/// Another gateway over the test gateway's database, answering listings as `plans` says.
async fn instance(app: &TestApp, plans: Plans) -> Running {
    let mut config = app.config.clone();
    config.plans = plans;
    app::start(&config, "127.0.0.1:0", false)
        .await
        .expect("a second instance starts")
}

/// The body of a GraphQL response, as bytes on the wire, without its top-level
/// `extensions` (each instance keeps its own budgets, which `extensions.cost` reports).
async fn answer(app: &TestApp, at: &Running, token: Option<&str>, body: &Value) -> String {
    let mut request = app
        .client
        .post(format!("http://{}/graphql", at.addr))
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let body = request
        .send()
        .await
        .expect("answered")
        .text()
        .await
        .expect("a body");
    // Cut the top-level `"extensions":{"cost":{…}}` (numbers and names only, no braces in
    // strings), wherever the serialiser put it.
    let Some(start) = body.rfind(",\"extensions\":{\"cost\":") else {
        return body;
    };
    let mut depth = 0;
    for (at, byte) in body.bytes().enumerate().skip(start) {
        match byte {
            b'{' => depth += 1,
            b'}' if depth == 1 => return format!("{}{}", &body[..start], &body[at + 1..]),
            b'}' => depth -= 1,
            _ => {}
        }
    }
    panic!("unbalanced braces: {body}")
}

const EVERY_FIELD: &str = "__typename id friendlyId status value currency dueDate \
    originalDueDate installment numberOfInstallments paymentLink observation orderId accountId \
    createdAt updatedAt resolvedAt version \
    account { __typename id document documentType name email currency creditLimit tolerance \
    status createdAt updatedAt version } \
    order { __typename id accountId value currency createdAt }";

/// The listings a plan answers: the reference read, the console's lists, every field,
/// aliases, both directions of paging, each status and order.
fn listings(cursor: &str) -> Vec<Value> {
    let mut bodies = vec![
        json!({"query": "query Reference($first: Int!) { invoices(status: OPEN, first: $first) { \
            nodes { value dueDate status paymentLink orderId account { id name email creditLimit } \
            order { id value createdAt } } } }", "variables": {"first": 50}}),
        json!({"query": format!("{{ invoices(first: 100) {{ nodes {{ {EVERY_FIELD} }} }} }}")}),
        json!({"query": format!("query($after: String) {{ page: invoices(first: 3, after: $after) \
            {{ __typename edges {{ __typename cursor node {{ {EVERY_FIELD} }} }} \
            pageInfo {{ __typename hasNextPage hasPreviousPage startCursor endCursor }} }} }}"),
            "variables": {"after": cursor}}),
        json!({"query": "{ invoices(last: 4, orderBy: {field: VALUE, direction: DESC}) { \
            pageInfo { hasNextPage hasPreviousPage startCursor endCursor } \
            nodes { due: dueDate amount: value who: account { id } } } }"}),
        json!({"query": "query($o: InvoiceOrder) { invoices(first: 5, orderBy: $o) { \
            edges { node { id createdAt } cursor } } }",
            "variables": {"o": {"field": "CREATED_AT"}}}),
        json!({"query": "{ invoices(first: 0) { nodes { id } pageInfo { startCursor endCursor } } }"}),
        // Orders without accounts: the page's statement joins the orders alone.
        json!({"query": "{ invoices(first: 6, orderBy: {direction: DESC}) { \
            nodes { id order { id value createdAt } } } }"}),
    ];
    for status in ["OPEN", "PAID", "CANCELLED", "OVERDUE"] {
        bodies.push(json!({
            "query": "query($s: InvoiceStatus) { invoices(status: $s, first: 20) { nodes { \
                id status paymentLink resolvedAt order { id value } account { name } } } }",
            "variables": {"s": status},
        }));
    }
    bodies
}

async fn a_listing_through_its_plan_is_the_executors_answer_byte_for_byte(app: TestApp) {
    let app = TestApp::with(app.backend)
        .demo()
        .spawn()
        .await
        .expect("the demo store");
    let (executor, plan) = (
        instance(&app, Plans::Off).await,
        instance(&app, Plans::On).await,
    );
    let admin = app.admin();
    let first = app
        .admin_data(
            "{ invoices(first: 2) { edges { cursor } nodes { accountId } } }",
            json!({}),
        )
        .await;
    let cursor = first["invoices"]["edges"][0]["cursor"].as_str().unwrap();
    let customer = app.customer(first["invoices"]["nodes"][0]["accountId"].as_str().unwrap());

    for (token, body) in listings(cursor)
        .into_iter()
        .flat_map(|body| [(admin.as_str(), body.clone()), (customer.as_str(), body)])
    {
        let statements = (
            executor.store.statements_executed(),
            plan.store.statements_executed(),
        );
        let expected = answer(&app, &executor, Some(token), &body).await;
        let planned = answer(&app, &plan, Some(token), &body).await;
        assert_eq!(planned, expected, "{body}");
        assert!(
            planned.starts_with("{\"data\":{") && !planned.contains("\"errors\""),
            "{planned}"
        );
        assert_eq!(
            plan.store.statements_executed() - statements.1,
            executor.store.statements_executed() - statements.0,
            "the same statements: {body}"
        );
    }
    // Something is listed (the comparisons above are not of empty pages).
    let all = answer(&app, &plan, Some(&admin), &listings(cursor)[1]).await;
    assert!(all.matches("\"friendlyId\"").count() >= 10, "{all}");

    // What a plan cannot answer is the executor's, errors and all.
    let refused = [
        (
            None,
            json!({"query": "{ invoices(first: 2) { nodes { id } } }"}),
        ),
        (
            Some(admin.as_str()),
            json!({"query": "{ invoices(first: 2, after: \"not a cursor\") { nodes { id } } }"}),
        ),
        (
            Some(admin.as_str()),
            json!({"query": "{ invoices(first: 2, dueFrom: \"2026-02-30\") { nodes { id } } }"}),
        ),
        (
            Some(admin.as_str()),
            json!({"query": "query($n: Int = 2) { invoices(first: $n) { nodes { id } } }"}),
        ),
    ];
    for (token, body) in refused {
        let expected = answer(&app, &executor, token, &body).await;
        assert_eq!(answer(&app, &plan, token, &body).await, expected, "{body}");
    }
}

/// Each listing above goes through its plan: with `checked` (the suite's setting) a
/// listing that a plan answers costs the executor's statements and the plan's again.
async fn the_suites_gateways_run_every_planned_listing_both_ways(app: TestApp) {
    app.insert_mine_and_theirs().await;
    let executor = instance(&app, Plans::Off).await;
    let (admin, customer) = (app.admin(), app.customer("MINE"));
    let first = app
        .admin_data("{ invoices(first: 1) { edges { cursor } } }", json!({}))
        .await;
    let cursor = first["invoices"]["edges"][0]["cursor"].as_str().unwrap();
    for (token, body) in listings(cursor)
        .into_iter()
        .flat_map(|body| [(admin.as_str(), body.clone()), (customer.as_str(), body)])
    {
        let before = executor.store.statements_executed();
        let expected = answer(&app, &executor, Some(token), &body).await;
        let once = executor.store.statements_executed() - before;
        assert!(once > 0, "{body}");

        let before = app.statements();
        let checked = answer(&app, &app.running, Some(token), &body).await;
        assert_eq!(checked, expected, "{body}");
        assert_eq!(
            app.statements() - before,
            2 * once,
            "checked: the executor's statements, then the plan's: {body}"
        );
    }
}
