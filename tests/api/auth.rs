//! Every query with an admin token, the owner's customer token, another customer's token
//! and no token; and tokens that must be refused.

use chrono::Duration;
use credit_gateway::auth::{Principal, TokenKeys};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;

on_both_backends!(
    every_query_answers_each_principal_with_what_it_may_see,
    refused_tokens_get_unauthenticated_before_any_work,
);

const EVERYTHING: &str = "{ \
    invoices { totalCount nodes { id } } \
    mineById: invoice(id: \"I-MINE\") { id } \
    theirsById: invoice(id: \"I-THEIRS\") { id } \
    mineAccount: account(id: \"MINE\") { id invoices { nodes { id } } } \
    theirsAccount: account(id: \"THEIRS\") { id } \
    theirsFiltered: invoices(accountId: \"THEIRS\") { totalCount nodes { id } } \
    invoiceStatusTotals { status count } }";

fn open_count(data: &Value) -> &Value {
    &data["invoiceStatusTotals"][0]["count"]
}

async fn every_query_answers_each_principal_with_what_it_may_see(app: TestApp) {
    app.insert_mine_and_theirs().await;

    let admin = app.gql(Some(&app.admin()), EVERYTHING, json!({})).await;
    let data = &admin["data"];
    assert!(admin.get("errors").is_none(), "{admin:#}");
    assert_eq!(data["invoices"]["totalCount"], 2);
    assert_eq!(data["theirsById"]["id"], "I-THEIRS");
    assert_eq!(data["theirsAccount"]["id"], "THEIRS");
    assert_eq!(
        data["theirsFiltered"]["nodes"],
        json!([{ "id": "I-THEIRS" }])
    );
    assert_eq!(open_count(data), 2);

    for (token, mine, theirs) in [
        (app.customer("MINE"), "I-MINE", "I-THEIRS"),
        (app.customer("THEIRS"), "I-THEIRS", "I-MINE"),
    ] {
        let body = app.gql(Some(&token), EVERYTHING, json!({})).await;
        assert!(body.get("errors").is_none(), "{body:#}");
        let data = &body["data"];
        assert_eq!(data["invoices"]["nodes"], json!([{ "id": mine }]));
        assert_eq!(data["invoices"]["totalCount"], 1);
        assert_eq!(open_count(data), 1);
        let own_by_id = if mine == "I-MINE" {
            "mineById"
        } else {
            "theirsById"
        };
        let other_by_id = if mine == "I-MINE" {
            "theirsById"
        } else {
            "mineById"
        };
        assert_eq!(data[own_by_id]["id"], mine);
        assert_eq!(data[other_by_id], Value::Null, "{theirs} must not be found");
    }

    let customer = app
        .gql(Some(&app.customer("MINE")), EVERYTHING, json!({}))
        .await;
    let data = &customer["data"];
    assert_eq!(
        data["mineAccount"]["invoices"]["nodes"],
        json!([{ "id": "I-MINE" }])
    );
    assert_eq!(data["theirsAccount"], Value::Null);
    assert_eq!(
        data["theirsFiltered"],
        json!({ "totalCount": 0, "nodes": [] })
    );

    let anonymous = app.gql(None, EVERYTHING, json!({})).await;
    let codes = error_codes(&anonymous);
    assert_eq!(codes.len(), 7, "{anonymous:#}");
    assert!(codes.iter().all(|c| c == "UNAUTHENTICATED"), "{codes:?}");
    assert_eq!(anonymous["data"], Value::Null);
}

async fn refused_tokens_get_unauthenticated_before_any_work(app: TestApp) {
    app.insert_mine_and_theirs().await;
    let admin = Principal::Admin {
        subject: "x".into(),
    };
    let cases = [
        (
            "wrong signature",
            format!(
                "Bearer {}",
                TokenKeys::new("another-secret").mint(&admin, Duration::hours(1))
            ),
        ),
        (
            "expired",
            format!(
                "Bearer {}",
                app.running.keys.mint(&admin, Duration::hours(-2))
            ),
        ),
        ("garbage", "Bearer not-a-jwt".to_owned()),
        ("not bearer", "Basic dXNlcjpwYXNz".to_owned()),
    ];
    for (case, header) in cases {
        let before = app.statements();
        let response = app
            .client
            .post(format!("{}/graphql", app.base))
            .header("authorization", header)
            .json(&json!({ "query": "{ invoices { totalCount } }" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{case}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{case}: {body}");
        assert_eq!(
            app.statements(),
            before,
            "{case}: no SQL for a refused token"
        );
    }
    let expired = app
        .gql(
            Some(&app.running.keys.mint(&admin, Duration::hours(-2))),
            "{ today }",
            json!({}),
        )
        .await;
    assert!(
        expired["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}
