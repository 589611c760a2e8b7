//! Apollo Federation 2 (`CREDIT_GATEWAY_FEDERATION=true`): `_service` names our three
//! entities by `id`, `_entities` resolves them in one statement per kind and within the
//! caller's scope, and without the setting neither field exists. (The real composition
//! with a second subgraph through Apollo's gateway is `.ci/federation/`.)

use chrono::Duration;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;

on_both_backends!(config |c| c.federation = true;
    the_subgraph_sdl_keys_invoices_accounts_and_orders_by_id,
    entities_resolve_in_one_statement_per_kind_within_the_callers_scope,
    malformed_representations_are_refused_and_the_next_request_answers,
    entities_are_priced_once_per_representation,
);

on_both_backends!(config |c| { c.federation = true; c.introspection = false; };
    with_introspection_off_the_sdl_needs_a_token,
);

on_both_backends!(without_the_setting_there_is_no_subgraph_surface);

/// MINE's and THEIRS's invoices, and a second one of MINE's.
async fn two_accounts(app: &TestApp) {
    app.insert_mine_and_theirs().await;
    let due = app.today() + Duration::days(5);
    app.insert(
        &[],
        &[],
        &[invoice("I-MINE-2", "MINE", "O-MINE", "6.00", due)],
    )
    .await;
}

const ENTITIES: &str = "query($r: [_Any!]!) { _entities(representations: $r) { \
    __typename \
    ... on Invoice { id value accountId } \
    ... on Account { id name } \
    ... on Order { id accountId } } }";

fn representations() -> Value {
    json!([
        { "__typename": "Invoice", "id": "I-MINE" },
        { "__typename": "Invoice", "id": "I-THEIRS" },
        { "__typename": "Invoice", "id": "I-MINE-2" },
        { "__typename": "Invoice", "id": "I-NOWHERE" },
        { "__typename": "Account", "id": "MINE" },
        { "__typename": "Account", "id": "THEIRS" },
        { "__typename": "Order", "id": "O-THEIRS" },
        { "__typename": "Order", "id": "O-MINE" },
    ])
}

async fn the_subgraph_sdl_keys_invoices_accounts_and_orders_by_id(app: TestApp) {
    let sdl = app.admin_data("{ _service { sdl } }", json!({})).await["_service"]["sdl"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        sdl.contains("@link(") && sdl.contains("https://specs.apollo.dev/federation/v2"),
        "a Federation 2 SDL: {sdl}"
    );
    for entity in ["Invoice", "Account", "Order"] {
        let declaration = format!("type {entity} @key(fields: \"id\")");
        assert!(sdl.contains(&declaration), "{declaration} in {sdl}");
    }
    // Federation's own machinery is the router's business, not part of the SDL it composes.
    assert!(!sdl.contains("_entities"), "{sdl}");
    // `credit-gateway schema` prints the same for `rover supergraph compose`.
    assert_eq!(sdl, credit_gateway::graphql::sdl(true));
}

async fn entities_are_priced_once_per_representation(app: TestApp) {
    app.insert_mine_and_theirs().await;
    let cost = |body: &Value| body["extensions"]["cost"]["requested"].as_u64().unwrap();
    let of = |n: usize| json!({ "r": vec![json!({ "__typename": "Invoice", "id": "I-MINE" }); n] });
    let one = app.gql(Some(&app.admin()), ENTITIES, of(1)).await;
    let ten = app.gql(Some(&app.admin()), ENTITIES, of(10)).await;
    assert!(ten.get("errors").is_none(), "{ten:#}");
    assert_eq!(cost(&ten), 10 * cost(&one), "{one} {ten}");

    // A flood of representations is refused before any statement runs.
    let before = app.statements();
    let flood = app.gql(Some(&app.admin()), ENTITIES, of(5_000)).await;
    assert_eq!(error_codes(&flood), ["QUERY_TOO_COMPLEX"], "{flood:#}");
    assert_eq!(app.statements(), before);
}

async fn with_introspection_off_the_sdl_needs_a_token(app: TestApp) {
    let anonymous = app.gql(None, "{ _service { sdl } }", json!({})).await;
    assert_eq!(
        error_codes(&anonymous),
        ["UNAUTHENTICATED"],
        "{anonymous:#}"
    );
    let admin = app.admin_data("{ _service { sdl } }", json!({})).await;
    assert!(
        admin["_service"]["sdl"]
            .as_str()
            .is_some_and(|sdl| sdl.contains("@key"))
    );
}

async fn entities_resolve_in_one_statement_per_kind_within_the_callers_scope(app: TestApp) {
    two_accounts(&app).await;
    let variables = json!({ "r": representations() });

    let before = app.statements();
    let admin = app.admin_data(ENTITIES, variables.clone()).await;
    let statements = app.statements() - before;
    assert_eq!(
        admin["_entities"],
        json!([
            { "__typename": "Invoice", "id": "I-MINE", "value": "10.00", "accountId": "MINE" },
            { "__typename": "Invoice", "id": "I-THEIRS", "value": "20.00", "accountId": "THEIRS" },
            { "__typename": "Invoice", "id": "I-MINE-2", "value": "6.00", "accountId": "MINE" },
            null,
            { "__typename": "Account", "id": "MINE", "name": "Holder of MINE" },
            { "__typename": "Account", "id": "THEIRS", "name": "Holder of THEIRS" },
            { "__typename": "Order", "id": "O-THEIRS", "accountId": "THEIRS" },
            { "__typename": "Order", "id": "O-MINE", "accountId": "MINE" },
        ])
    );
    // Invoices, accounts and orders: one batched statement each, whatever the count.
    assert_eq!(statements, 3, "statements for eight representations");

    let customer = app
        .gql(Some(&app.customer("MINE")), ENTITIES, variables.clone())
        .await;
    assert!(customer.get("errors").is_none(), "{customer:#}");
    let seen: Vec<Value> = customer["data"]["_entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entity| entity.get("id").cloned().unwrap_or(Value::Null))
        .collect();
    assert_eq!(
        seen,
        [
            json!("I-MINE"),
            Value::Null,
            json!("I-MINE-2"),
            Value::Null,
            json!("MINE"),
            Value::Null,
            Value::Null,
            json!("O-MINE"),
        ],
        "another account's invoice, account and order are null, as in invoice(id)"
    );

    let anonymous = app.gql(None, ENTITIES, variables).await;
    assert_eq!(error_codes(&anonymous), ["UNAUTHENTICATED"]);
    assert!(
        anonymous["data"].is_null() || anonymous["data"]["_entities"].is_null(),
        "{anonymous:#}"
    );
}

async fn malformed_representations_are_refused_and_the_next_request_answers(app: TestApp) {
    two_accounts(&app).await;
    for (representation, why) in [
        (json!({ "__typename": "Invoice" }), "no id"),
        (
            json!({ "__typename": "Payment", "id": "I-MINE" }),
            "not an entity of ours",
        ),
        (json!({ "id": "I-MINE" }), "no type name"),
        (json!("I-MINE"), "not an object"),
        (
            json!({ "__typename": "Invoice", "id": { "n": 7 } }),
            "an id that is an object",
        ),
    ] {
        let body = app
            .gql(
                Some(&app.admin()),
                ENTITIES,
                json!({ "r": [representation] }),
            )
            .await;
        let errors = body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("{why}: {body:#}"));
        assert!(!errors.is_empty(), "{why}: {body:#}");
        for error in errors {
            assert_eq!(
                error["extensions"]["code"], "BAD_USER_INPUT",
                "{why}: {body:#}"
            );
            // Says what a representation must hold.
            let message = error["message"].as_str().unwrap_or_default();
            assert!(message.contains("__typename"), "{why}: {message}");
        }
    }
    let next = app
        .admin_data(
            ENTITIES,
            json!({ "r": [{ "__typename": "Invoice", "id": "I-MINE" }] }),
        )
        .await;
    assert_eq!(next["_entities"][0]["id"], "I-MINE");
}

async fn without_the_setting_there_is_no_subgraph_surface(app: TestApp) {
    for query in [
        "{ _service { sdl } }",
        "{ _entities(representations: []) { __typename } }",
    ] {
        let body = app.gql(Some(&app.admin()), query, json!({})).await;
        assert_eq!(
            error_codes(&body),
            ["GRAPHQL_VALIDATION_FAILED"],
            "{query}: {body:#}"
        );
    }
    let types = app
        .admin_data("{ __schema { types { name } } }", json!({}))
        .await;
    let names: Vec<&str> = types["__schema"]["types"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    for federation_type in ["_Any", "_Entity", "_Service"] {
        assert!(!names.contains(&federation_type), "{federation_type}");
    }
}
