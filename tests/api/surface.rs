//! The HTTP surface: health checks, GraphiQL served offline, and bad input answered with
//! a clear error and a code, never an internal error.

use chrono::Duration;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;

on_both_backends!(
    health_and_readiness_answer,
    graphiql_and_its_assets_are_served_by_the_gateway,
    the_console_and_my_credits_are_served_by_the_gateway,
    bad_arguments_get_a_clear_error_with_a_code,
    malformed_requests_get_a_json_error,
    mutations_over_get_and_forgeable_posts_are_refused_before_running,
    browsers_of_configured_origins_only_may_call_across_origins,
    oversized_queries_and_too_many_aliases_are_refused_before_any_sql,
    introspection_and_suggestions_can_be_turned_off_for_production,
    answers_follow_graphql_over_http_by_the_accept_header,
);

async fn health_and_readiness_answer(app: TestApp) {
    for path in ["/healthz", "/readyz"] {
        let response = app
            .client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
}

async fn graphiql_and_its_assets_are_served_by_the_gateway(app: TestApp) {
    let page = app
        .client
        .get(format!("{}/graphql", app.base))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("GraphiQL"));
    assert!(
        !page.contains("Bearer"),
        "outside demo mode no token is pre-filled"
    );
    assert!(
        !page.contains("https://"),
        "no asset may come from the internet"
    );
    for asset in [
        "graphiql.min.js",
        "graphiql.min.css",
        "react.production.min.js",
        "react-dom.production.min.js",
    ] {
        assert!(page.contains(&format!("/graphiql/{asset}")));
        let response = app
            .client
            .get(format!("{}/graphiql/{asset}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        assert!(response.bytes().await.unwrap().len() > 10_000, "{asset}");
    }

    let demo = TestApp::with(app.backend).demo().spawn().await.unwrap();
    let page = demo
        .client
        .get(format!("{}/graphql", demo.base))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    let page = page.text().await.unwrap();
    let admin = &demo.running.demo_tokens.as_ref().unwrap().admin;
    assert!(
        page.contains(&format!("Bearer {admin}")),
        "demo mode pre-fills the admin token"
    );
}

async fn the_console_and_my_credits_are_served_by_the_gateway(app: TestApp) {
    let get = |app: &TestApp, path: &str| app.client.get(format!("{}{path}", app.base)).send();
    for path in ["/console", "/console/", "/my-credits"] {
        let page = get(&app, path).await.unwrap();
        assert_eq!(page.status(), 200, "{path}");
        let policy = page.headers()["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("script-src 'self'"), "{policy}");
        assert_eq!(page.headers()["cache-control"], "no-store");
        let html = page.text().await.unwrap();
        assert!(
            html.contains(
                r#"<script id="cg-config" type="application/json">{"demo":null,"sso":null}</script>"#
            ),
            "outside demo mode no token is handed out: {html}"
        );
        assert!(
            !html.contains("https://"),
            "no asset may come from the internet"
        );
        for asset in ["/console/assets/app.js", "/console/assets/app.css"] {
            assert!(html.contains(asset), "{asset} in {html}");
        }
    }
    for (asset, kind) in [("app.js", "text/javascript"), ("app.css", "text/css")] {
        let response = get(&app, &format!("/console/assets/{asset}"))
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(content_type.starts_with(kind), "{asset}: {content_type}");
    }
    let missing = get(&app, "/console/assets/other.js").await.unwrap();
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND");

    let demo = TestApp::with(app.backend).demo().spawn().await.unwrap();
    let html = get(&demo, "/my-credits")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let tokens = demo.running.demo_tokens.as_ref().unwrap();
    let config = format!(
        r#"{{"demo":{{"admin":"{}","customer":"{}"}},"sso":null}}"#,
        tokens.admin, tokens.customer
    );
    assert!(
        html.contains(&config),
        "demo mode signs in with one click: {html}"
    );
}

async fn bad_arguments_get_a_clear_error_with_a_code(app: TestApp) {
    app.insert_order(
        "ACC",
        "ORD",
        "1.00",
        &[invoice(
            "I-1",
            "ACC",
            "ORD",
            "1.00",
            app.today() + Duration::days(1),
        )],
    )
    .await;
    let by_value = app
        .admin_data(
            "{ invoices(first: 1, orderBy: {field: VALUE}) { pageInfo { endCursor } } }",
            json!({}),
        )
        .await["invoices"]["pageInfo"]["endCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let cases: Vec<(&str, String, Value, &str)> = vec![
        (
            "unknown status",
            "{ invoices(status: LATE) { totalCount } }".into(),
            json!({}),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "status in a variable",
            "query($s: InvoiceStatus) { invoices(status: $s) { totalCount } }".into(),
            json!({ "s": "open" }),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "malformed cursor",
            "{ invoices(after: \"%%%\") { totalCount } }".into(),
            json!({}),
            "INVALID_CURSOR",
        ),
        (
            "foreign cursor",
            "query($c: String) { invoices(after: $c) { totalCount } }".into(),
            json!({ "c": by_value }),
            "INVALID_CURSOR",
        ),
        (
            "page past the cap",
            "{ invoices(first: 101) { totalCount } }".into(),
            json!({}),
            "INVALID_PAGE",
        ),
        (
            "negative page",
            "{ invoices(last: -1) { totalCount } }".into(),
            json!({}),
            "INVALID_PAGE",
        ),
        (
            "first and last",
            "{ invoices(first: 1, last: 1) { totalCount } }".into(),
            json!({}),
            "INVALID_PAGE",
        ),
        (
            "empty id",
            "{ invoice(id: \"\") { id } }".into(),
            json!({}),
            "INVALID_ID",
        ),
        (
            "id with spaces",
            "{ account(id: \"a b\") { id } }".into(),
            json!({}),
            "INVALID_ID",
        ),
        (
            "huge id",
            "query($id: ID!) { invoice(id: $id) { id } }".into(),
            json!({ "id": "x".repeat(10_000) }),
            "INVALID_ID",
        ),
        (
            "bad date range",
            "{ invoices(dueFrom: \"2026-02-01\", dueTo: \"2026-01-01\") { totalCount } }".into(),
            json!({}),
            "INVALID_FILTER",
        ),
        (
            "bad date",
            "{ invoices(dueFrom: \"01/02/2026\") { totalCount } }".into(),
            json!({}),
            "BAD_USER_INPUT",
        ),
        (
            "impossible date",
            "query($d: Date) { invoices(dueFrom: $d) { totalCount } }".into(),
            json!({ "d": "2026-02-30" }),
            "BAD_USER_INPUT",
        ),
        (
            "unknown field",
            "{ invoices { nope } }".into(),
            json!({}),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "syntax error",
            "{ invoices( ".into(),
            json!({}),
            "GRAPHQL_PARSE_FAILED",
        ),
        (
            "signed year",
            "{ invoices(dueFrom: \"+10000-01-01\") { totalCount } }".into(),
            json!({}),
            "BAD_USER_INPUT",
        ),
        (
            "negative year",
            "query($d: Date) { invoices(dueTo: $d) { totalCount } }".into(),
            json!({ "d": "-0001-01-01" }),
            "BAD_USER_INPUT",
        ),
        (
            "cursor far in time",
            cursor_query("CREATED_AT"),
            json!({ "c": crafted(r#"{"key":{"CreatedAt":-8000000000000000000},"id":"x"}"#) }),
            "INVALID_CURSOR",
        ),
        (
            "cursor date of year -100000",
            cursor_query("DUE_DATE"),
            json!({ "c": crafted(r#"{"key":{"DueDate":"-100000-01-01"},"id":"x"}"#) }),
            "INVALID_CURSOR",
        ),
        (
            "cursor id with NUL",
            cursor_query("DUE_DATE"),
            json!({ "c": crafted(r#"{"key":{"DueDate":"2026-01-01"},"id":"a\u0000b"}"#) }),
            "INVALID_CURSOR",
        ),
    ];
    for (case, query, variables, code) in cases {
        let body = app.gql(Some(&app.admin()), &query, variables).await;
        let codes = error_codes(&body);
        assert_eq!(codes, [code], "{case}: {body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(
            !message.is_empty() && !message.contains("internal"),
            "{case}: {message}"
        );
    }
}

fn cursor_query(field: &str) -> String {
    format!(
        "query($c: String) {{ invoices(orderBy: {{field: {field}}}, after: $c) {{ totalCount }} }}"
    )
}

fn crafted(json: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

async fn malformed_requests_get_a_json_error(app: TestApp) {
    let cases = [
        ("not json", "application/json", "{not json"),
        ("no query", "application/json", "{\"variables\": {}}"),
        ("empty", "application/json", ""),
    ];
    for (case, content_type, body) in cases {
        let response = app
            .client
            .post(format!("{}/graphql", app.base))
            .header("content-type", content_type)
            .bearer_auth(app.admin())
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{case}");
        let body: Value = response.json().await.expect("a JSON error body");
        assert_eq!(error_codes(&body), ["BAD_REQUEST"], "{case}");
    }
    // Refusals outside GraphQL are JSON with a code too, whatever refused them.
    let refusals = [
        (reqwest::Method::GET, "/no/such/route", 404, "NOT_FOUND"),
        (reqwest::Method::GET, "/graphiql/%FF", 400, "BAD_REQUEST"),
        (reqwest::Method::GET, "/graphql/ws", 400, "BAD_REQUEST"),
        (reqwest::Method::POST, "/healthz", 405, "METHOD_NOT_ALLOWED"),
        (
            reqwest::Method::DELETE,
            "/graphql",
            405,
            "METHOD_NOT_ALLOWED",
        ),
    ];
    for (method, path, status, code) in refusals {
        let response = app
            .client
            .request(method.clone(), format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{method} {path}");
        assert!(response.headers().contains_key("x-request-id"));
        let body: Value = response.json().await.expect("a JSON error body");
        assert_eq!(error_codes(&body), [code], "{method} {path}: {body}");
    }
    // An operation name the document does not hold.
    let body = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(app.admin())
        .json(&json!({ "query": "{ today }", "operationName": "Nope" }))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(error_codes(&body), ["BAD_REQUEST"], "{body}");
}

on_both_backends!(graphiql_introspection_is_answered_without_a_token);

/// The introspection query GraphiQL sends on load, type references nested as deep as it
/// nests them.
const INTROSPECTION: &str = "query IntrospectionQuery { __schema { queryType { name } mutationType { name } \
    types { ...FullType } directives { name args { ...InputValue } } } } \
    fragment FullType on __Type { kind name description fields(includeDeprecated: true) { name args { ...InputValue } \
      type { ...TypeRef } } inputFields { ...InputValue } enumValues(includeDeprecated: true) { name } possibleTypes { ...TypeRef } } \
    fragment InputValue on __InputValue { name type { ...TypeRef } defaultValue } \
    fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name \
      ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }";

async fn graphiql_introspection_is_answered_without_a_token(app: TestApp) {
    let body = app.gql(None, INTROSPECTION, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");
    assert_eq!(body["data"]["__schema"]["mutationType"]["name"], "Mutation");
}

async fn mutations_over_get_and_forgeable_posts_are_refused_before_running(app: TestApp) {
    let due = app.today() + Duration::days(5);
    app.insert_invoice(invoice("INV", "ACC", "ORD", "10.00", due))
        .await;
    let admin = app.admin();
    let pay = r#"mutation { markInvoicePaid(input: {id: "INV"}) { invoice { status } } }"#;
    let version = || async {
        app.admin_data(r#"{ invoice(id: "INV") { version } }"#, json!({}))
            .await["invoice"]["version"]
            .clone()
    };

    let over_get = app
        .client
        .get(
            reqwest::Url::parse_with_params(&format!("{}/graphql", app.base), [("query", pay)])
                .unwrap(),
        )
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(over_get.status(), 405);
    assert_eq!(over_get.headers()["allow"], "POST");
    let body: Value = over_get.json().await.unwrap();
    assert_eq!(error_codes(&body), vec!["METHOD_NOT_ALLOWED"]);

    // What another site's page can send without the browser asking first.
    let body = json!({ "query": pay }).to_string();
    for content_type in [
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let response = app
            .client
            .post(format!("{}/graphql", app.base))
            .bearer_auth(&admin)
            .header("content-type", content_type)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{content_type}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            error_codes(&body),
            vec!["PREFLIGHT_REQUIRED"],
            "{content_type}"
        );
    }
    assert_eq!(version().await, 1, "nothing ran");

    // The same text/plain request with a preflight header is one a browser asks about
    // first: it runs.
    let allowed = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(&admin)
        .header("content-type", "text/plain")
        .header("apollo-require-preflight", "true")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    assert_eq!(version().await, 2);
}

async fn browsers_of_configured_origins_only_may_call_across_origins(app: TestApp) {
    let preflight = |app: &TestApp, origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.base))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let closed = preflight(&app, "https://backoffice.example.com")
        .await
        .unwrap();
    assert!(
        closed
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "closed by default"
    );

    let open = TestApp::with(app.backend)
        .config(|config| {
            config.cors_origins = "https://backoffice.example.com, https://my.example.com".into();
        })
        .spawn()
        .await
        .unwrap();
    let allowed = preflight(&open, "https://backoffice.example.com")
        .await
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://backoffice.example.com"
    );
    let allowed_headers = allowed.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(
        allowed_headers.contains("authorization"),
        "{allowed_headers}"
    );
    let other = preflight(&open, "https://evil.example.net").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

async fn oversized_queries_and_too_many_aliases_are_refused_before_any_sql(app: TestApp) {
    let admin = app.admin();
    let before = app.statements();

    // Each would run SQL if it ran: the statement count shows it did not.
    let aliased: String = (0..31)
        .map(|i| format!("a{i}: invoices(first: 1) {{ totalCount }} "))
        .collect();
    let body = app
        .gql(Some(&admin), &format!("{{ {aliased} }}"), json!({}))
        .await;
    assert_eq!(error_codes(&body), vec!["TOO_MANY_ALIASES"], "{body}");

    // Aliases hidden in a fragment spread many times count every time.
    let spread = format!(
        "{{ {} }} fragment F on Query {{ x: invoices {{ totalCount }} y: today }}",
        "...F ".repeat(16)
    );
    let body = app.gql(Some(&admin), &spread, json!({})).await;
    assert_eq!(error_codes(&body), vec!["TOO_MANY_ALIASES"], "{body}");

    let padded = format!(
        "{{ invoices {{ totalCount }} }} # {}",
        "x".repeat(40 * 1024)
    );
    let body = app.gql(Some(&admin), &padded, json!({})).await;
    assert_eq!(error_codes(&body), vec!["QUERY_TOO_LARGE"], "{body}");

    assert_eq!(app.statements(), before, "refused before any SQL");
    let thirty: String = (0..30).map(|i| format!("a{i}: today ")).collect();
    let body = app
        .gql(Some(&admin), &format!("{{ {thirty} }}"), json!({}))
        .await;
    assert!(body.get("errors").is_none(), "{body}");
}

async fn introspection_and_suggestions_can_be_turned_off_for_production(app: TestApp) {
    let admin = app.admin();
    let introspect = "{ __schema { queryType { name } } }";
    let typo = "{ invoicez { totalCount } }";
    let open = app.gql(Some(&admin), introspect, json!({})).await;
    assert_eq!(open["data"]["__schema"]["queryType"]["name"], "Query");
    let hinted = app.gql(Some(&admin), typo, json!({})).await;
    assert!(hinted.to_string().contains("Did you mean"), "{hinted}");

    let closed = TestApp::with(app.backend)
        .config(|config| {
            config.introspection = false;
            config.suggestions = false;
        })
        .spawn()
        .await
        .unwrap();
    let admin = closed.admin();
    let refused = closed.gql(Some(&admin), introspect, json!({})).await;
    assert_eq!(
        (&refused["data"], refused.get("errors")),
        (&json!({ "__schema": null }), None),
        "nothing of the schema"
    );
    let silent = closed.gql(Some(&admin), typo, json!({})).await;
    assert_eq!(error_codes(&silent), vec!["GRAPHQL_VALIDATION_FAILED"]);
    assert!(!silent.to_string().contains("Did you mean"), "{silent}");
}

/// GraphQL over HTTP: `application/json` for clients that ask for it (or for anything,
/// or nothing), with 200 for every well-formed request; `application/graphql-response+json`
/// for clients that prefer it, with 400 and no `data` for a request that never ran.
async fn answers_follow_graphql_over_http_by_the_accept_header(app: TestApp) {
    let admin = app.admin();
    let post = |accept: Option<&'static str>, query: &'static str| {
        let mut request = app
            .client
            .post(format!("{}/graphql", app.base))
            .bearer_auth(&admin)
            .json(&json!({ "query": query }));
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let content_type = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned();
            let body: Value = response.json().await.unwrap();
            (status, content_type, body)
        }
    };
    let graphql = "application/graphql-response+json";
    for accept in [None, Some("application/json"), Some("*/*")] {
        let (status, content_type, body) = post(accept, "{ invoices { totalCount } }").await;
        assert_eq!(
            (status, content_type.as_str()),
            (200, "application/json"),
            "{accept:?}"
        );
        assert_eq!(body["data"]["invoices"]["totalCount"], 0);
        let (status, content_type, body) = post(accept, "{ invoices {").await;
        assert_eq!(
            (status, content_type.as_str()),
            (200, "application/json"),
            "{accept:?}"
        );
        assert_eq!(error_codes(&body), ["GRAPHQL_PARSE_FAILED"]);
    }
    let apollo = Some("application/graphql-response+json,application/json;q=0.9");
    let (status, content_type, body) = post(apollo, "{ invoices { totalCount } }").await;
    assert_eq!((status, content_type.as_str()), (200, graphql));
    assert_eq!(body["data"]["invoices"]["totalCount"], 0);
    for (query, code) in [
        ("{ invoices {", "GRAPHQL_PARSE_FAILED"),
        ("{ invoicez { totalCount } }", "GRAPHQL_VALIDATION_FAILED"),
        (
            "{ invoices(first: 100) { nodes { account { invoices(first: 100) { nodes { id } } } } } }",
            "QUERY_TOO_COMPLEX",
        ),
    ] {
        let (status, content_type, body) = post(apollo, query).await;
        assert_eq!((status, content_type.as_str()), (400, graphql), "{query}");
        assert_eq!(error_codes(&body), [code], "{query}");
        assert!(
            body.get("data").is_none(),
            "no data for a request that never ran: {body}"
        );
    }
    // A request that ran keeps 200, errors and all: a field refused is a field result.
    let (status, _, body) = post(apollo, "{ invoice(id: \"NOPE\") { id } today }").await;
    assert_eq!(status, 200, "{body}");
}
