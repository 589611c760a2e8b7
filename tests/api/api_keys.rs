//! Integrations' key pairs (VTEX's `X-VTEX-API-AppKey` and `X-VTEX-API-AppToken`):
//! created and revoked by administrators over GraphQL and the command line, stored as a
//! digest, accepted on REST and GraphQL, read-only keys refused every change; and the
//! ERP flow of the Customer Credit API's examples, with a key pair and a bearer token.

use chrono::Duration;
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;

on_both_backends!(
    a_key_pair_reads_and_changes_until_revoked,
    a_read_only_key_reads_everything_and_changes_nothing,
    wrong_pairs_are_refused_like_bad_tokens,
    keys_from_the_command_line_work_and_revoke,
    an_erp_job_follows_the_customer_credit_examples_with_a_key_pair,
    an_erp_job_follows_the_customer_credit_examples_with_a_bearer_token,
);

/// How a request authenticates.
#[derive(Clone)]
enum Credential {
    Bearer(String),
    Pair(String, String),
}

impl Credential {
    fn apply(&self, request: RequestBuilder) -> RequestBuilder {
        match self {
            Credential::Bearer(token) => request.bearer_auth(token),
            Credential::Pair(key, token) => request
                .header("X-VTEX-API-AppKey", key)
                .header("X-VTEX-API-AppToken", token),
        }
    }
}

async fn rest(
    app: &TestApp,
    who: &Credential,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = who.apply(
        app.client
            .request(method, format!("{}/api/creditcontrol{path}", app.base)),
    );
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.expect("every answer is JSON"))
}

/// A GraphQL request with these credentials, and its answer.
async fn graphql(app: &TestApp, who: &Credential, body: Value) -> Value {
    who.apply(app.client.post(format!("{}/graphql", app.base)))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The text of a GET answer, where money is read digit for digit (no float).
async fn text(app: &TestApp, who: &Credential, path: &str) -> String {
    who.apply(
        app.client
            .get(format!("{}/api/creditcontrol{path}", app.base)),
    )
    .send()
    .await
    .unwrap()
    .text()
    .await
    .unwrap()
}

const CREATE: &str = "mutation($name: String!, $role: ApiKeyRole!) { createApiKey(input: {name: $name, role: $role}) { apiKey { id name role createdAt lastUsedAt } appKey appToken userErrors { field message code } } }";

/// A new key pair from `createApiKey`, and its id.
async fn create_key(app: &TestApp, name: &str, role: &str) -> (String, Credential) {
    let created = app
        .admin_data(CREATE, json!({ "name": name, "role": role }))
        .await["createApiKey"]
        .clone();
    assert_eq!(created["userErrors"], json!([]), "{created}");
    assert_eq!(created["apiKey"]["role"], role);
    let pair = Credential::Pair(
        created["appKey"].as_str().unwrap().to_owned(),
        created["appToken"].as_str().unwrap().to_owned(),
    );
    (created["apiKey"]["id"].as_str().unwrap().to_owned(), pair)
}

async fn store(app: &TestApp) {
    let due = app.today() + Duration::days(20);
    app.insert_order(
        "ACC",
        "ORD",
        "30.00",
        &[
            invoice(
                "A424887D0F2D45028FE5C96E9B0E1A2D-01",
                "ACC",
                "ORD",
                "5.01",
                due,
            ),
            invoice(
                "A424887D0F2D45028FE5C96E9B0E1A2D-02",
                "ACC",
                "ORD",
                "5.01",
                due,
            ),
            invoice(
                "A424887D0F2D45028FE5C96E9B0E1A2D-03",
                "ACC",
                "ORD",
                "19.98",
                due,
            ),
        ],
    )
    .await;
}

const FIRST: &str = "/accounts/ACC/invoices/A424887D0F2D45028FE5C96E9B0E1A2D-01";

async fn a_key_pair_reads_and_changes_until_revoked(app: TestApp) {
    store(&app).await;
    let (id, pair) = create_key(&app, "ERP nightly", "ADMIN").await;
    let read = text(&app, &pair, FIRST).await;
    assert!(read.contains(r#""value":5.01,"#), "{read}");
    let (status, changed) = rest(
        &app,
        &pair,
        Method::PUT,
        FIRST,
        Some(json!({ "status": "Paid", "observation": "paid by wire" })),
    )
    .await;
    assert_eq!(
        (status, &changed["status"]),
        (200, &json!("Paid")),
        "{changed}"
    );

    // Keys do not manage keys: a leaked one cannot mint itself a successor.
    let minted = graphql(
        &app,
        &pair,
        json!({ "query": CREATE, "variables": { "name": "successor", "role": "ADMIN" } }),
    )
    .await;
    assert_eq!(error_codes(&minted), ["FORBIDDEN"], "{minted}");

    // The key is the actor of the change, and works on GraphQL too.
    let history = app
        .admin_data(
            "{ invoice(id: \"A424887D0F2D45028FE5C96E9B0E1A2D-01\") { history { actor source } } }",
            json!({}),
        )
        .await;
    let events = history["invoice"]["history"].as_array().unwrap().clone();
    assert_eq!(
        events.last().unwrap()["actor"],
        format!("api-key:{id}"),
        "{history}"
    );
    let counted = graphql(
        &app,
        &pair,
        json!({ "query": "{ invoices(first: 1) { totalCount } }" }),
    )
    .await;
    assert_eq!(counted["data"]["invoices"]["totalCount"], 3, "{counted}");

    // Listed with its last use, never with its token.
    let listed = app
        .admin_data(
            "{ apiKeys { id name role appKey lastUsedAt revokedAt } }",
            json!({}),
        )
        .await;
    let key = &listed["apiKeys"][0];
    assert_eq!(
        (&key["id"], &key["name"]),
        (&json!(id), &json!("ERP nightly"))
    );
    assert!(key["lastUsedAt"].is_string(), "{listed}");
    let Credential::Pair(app_key, app_token) = &pair else {
        unreachable!()
    };
    assert_eq!(key["appKey"], json!(app_key));
    assert!(!listed.to_string().contains(app_token.as_str()));

    let revoked = app
        .admin_data(
            "mutation($id: ID!) { revokeApiKey(input: {id: $id}) { apiKey { id revokedAt } userErrors { code } } }",
            json!({ "id": id }),
        )
        .await;
    assert!(
        revoked["revokeApiKey"]["apiKey"]["revokedAt"].is_string(),
        "{revoked}"
    );
    let (status, refused) = rest(&app, &pair, Method::GET, FIRST, None).await;
    assert_eq!(
        (status, &refused["error"]["code"]),
        (401, &json!("UNAUTHENTICATED"))
    );
    let again = app
        .admin_data(
            "mutation($id: ID!) { revokeApiKey(input: {id: $id}) { apiKey { id } userErrors { code } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(again["revokeApiKey"]["userErrors"][0]["code"], "NOT_FOUND");
    assert_eq!(
        app.admin_data("{ apiKeys { id } }", json!({})).await["apiKeys"],
        json!([])
    );
}

async fn a_read_only_key_reads_everything_and_changes_nothing(app: TestApp) {
    store(&app).await;
    let (_, reader) = create_key(&app, "BI dashboard", "READ_ONLY").await;
    let (status, found) = rest(&app, &reader, Method::GET, "/invoices?from=1&to=10", None).await;
    assert_eq!((status, found["summary"]["count"].as_u64()), (200, Some(3)));
    let writes = [
        // Refused before it is looked up: no telling which invoices exist.
        (
            Method::POST,
            "/accounts/NOBODY/invoices/NOTHING/payments".to_owned(),
            None,
        ),
        (
            Method::PUT,
            FIRST.to_owned(),
            Some(json!({ "status": "Paid" })),
        ),
        (Method::POST, format!("{FIRST}/payments"), None),
        (Method::DELETE, FIRST.to_owned(), None),
        (
            Method::PUT,
            format!("{FIRST}/postponement"),
            Some(json!({ "dueDays": 3 })),
        ),
    ];
    for (method, path, body) in writes {
        let (status, answer) = rest(&app, &reader, method.clone(), &path, body).await;
        assert_eq!(
            (status, &answer["error"]["code"]),
            (403, &json!("FORBIDDEN")),
            "{method} {path}"
        );
    }
    let escalated = graphql(
        &app,
        &reader,
        json!({ "query": CREATE, "variables": { "name": "escalate", "role": "ADMIN" } }),
    )
    .await;
    assert_eq!(error_codes(&escalated), ["FORBIDDEN"], "{escalated}");
    // The back office's own records stay the administrators'.
    app.import_csv(
        b"Invoice ID,Status\nA424887D0F2D45028FE5C96E9B0E1A2D-01,Open\n".to_vec(),
        json!({}),
    )
    .await;
    let imports = graphql(
        &app,
        &reader,
        json!({ "query": "{ invoiceImports { id } }" }),
    )
    .await;
    assert_eq!(imports["data"]["invoiceImports"], json!([]), "{imports}");
    let unchanged = app
        .admin_data("{ invoices { nodes { version } } }", json!({}))
        .await;
    assert!(
        unchanged["invoices"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["version"] == 1),
        "{unchanged}"
    );
}

async fn wrong_pairs_are_refused_like_bad_tokens(app: TestApp) {
    store(&app).await;
    let (_, pair) = create_key(&app, "ERP", "ADMIN").await;
    let Credential::Pair(app_key, app_token) = pair else {
        unreachable!()
    };
    let (_, bad_token) = rest(
        &app,
        &Credential::Bearer("not-a-token".into()),
        Method::GET,
        FIRST,
        None,
    )
    .await;
    let mut shapes = vec![];
    for wrong in [
        Credential::Pair(app_key.clone(), format!("{app_token}x")),
        Credential::Pair(app_key.clone(), String::new()),
        Credential::Pair("cgk-unknown".into(), app_token.clone()),
        Credential::Pair(String::new(), String::new()),
        Credential::Pair("a b".into(), "x y".into()),
    ] {
        let (status, answer) = rest(&app, &wrong, Method::GET, FIRST, None).await;
        assert_eq!(status, 401, "{answer}");
        shapes.push(answer);
    }
    for answer in &shapes {
        assert_eq!(answer["error"]["code"], bad_token["error"]["code"]);
        assert_eq!(
            answer.as_object().unwrap().keys().collect::<Vec<_>>(),
            bad_token.as_object().unwrap().keys().collect::<Vec<_>>()
        );
    }
    assert_eq!(
        shapes[0], shapes[2],
        "an unknown key reads as a wrong token"
    );
    // Half a pair is refused, not read as anonymous.
    let half = app
        .client
        .get(format!("{}/api/creditcontrol{FIRST}", app.base))
        .header("X-VTEX-API-AppKey", &app_key)
        .send()
        .await
        .unwrap();
    assert_eq!(half.status(), 401);
    // The digest alone is stored: the token is nowhere in the database.
    if matches!(app.backend, Backend::Sqlite) {
        let path = app.config.database_url.trim_start_matches("sqlite://");
        let path = path.split('?').next().unwrap();
        // The rows may still be in the write-ahead log.
        let mut bytes = std::fs::read(path).unwrap();
        bytes.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains(&app_key), "the public half is stored");
        assert!(!text.contains(&app_token), "the token is not stored");
    }
}

async fn keys_from_the_command_line_work_and_revoke(app: TestApp) {
    store(&app).await;
    let run = |args: &[&str]| app.binary().args(args).output().unwrap();
    let created = run(&["api-key", "create", "--name", "ERP", "--role", "read-only"]);
    assert!(created.status.success(), "{created:?}");
    let stdout = String::from_utf8(created.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "appKey then appToken: {stdout}");
    let pair = Credential::Pair(lines[0].into(), lines[1].into());
    let (status, _) = rest(&app, &pair, Method::GET, FIRST, None).await;
    assert_eq!(status, 200);
    let (status, _) = rest(&app, &pair, Method::DELETE, FIRST, None).await;
    assert_eq!(status, 403, "a read-only key");

    let listed = app.admin_data("{ apiKeys { id role } }", json!({})).await;
    assert_eq!(listed["apiKeys"][0]["role"], "READ_ONLY");
    let id = listed["apiKeys"][0]["id"].as_str().unwrap();
    assert!(run(&["api-key", "revoke", id]).status.success());
    let (status, _) = rest(&app, &pair, Method::GET, FIRST, None).await;
    assert_eq!(status, 401, "revoked");
    let again = run(&["api-key", "revoke", id]);
    assert!(
        !again.status.success(),
        "a revoked key cannot be revoked twice"
    );
    assert!(
        !run(&["api-key", "create", "--name", " ", "--role", "admin"])
            .status
            .success()
    );
    assert!(
        !run(&["api-key", "create", "--name", "x", "--role", "root"])
            .status
            .success()
    );
}

async fn an_erp_job_follows_the_customer_credit_examples_with_a_key_pair(app: TestApp) {
    store(&app).await;
    let (_, pair) = create_key(&app, "ERP", "ADMIN").await;
    erp_flow(&app, &pair).await;
}

async fn an_erp_job_follows_the_customer_credit_examples_with_a_bearer_token(app: TestApp) {
    store(&app).await;
    erp_flow(&app, &Credential::Bearer(app.admin())).await;
}

/// Search a page, read one, change its status to Paid with an observation, pay,
/// postpone and cancel the others: the calls and bodies of the spec's examples.
async fn erp_flow(app: &TestApp, who: &Credential) {
    let (status, page) = rest(
        app,
        who,
        Method::GET,
        "/invoices?status=Opened&from=1&to=300&creditAccountId=ACC",
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        page["summary"],
        json!({ "total": 30, "count": 3, "totalPaid": 0, "totalCancelled": 0 })
    );
    let first = &page["data"][0];
    for field in [
        "id",
        "friendlyId",
        "status",
        "value",
        "accountId",
        "creditValue",
        "createdAt",
        "updatedAt",
        "originalDueDate",
        "dueDate",
        "installment",
        "orderId",
        "transactionId",
        "numberOfInstallments",
        "creditAccountId",
    ] {
        assert!(!first[field].is_null(), "{field} is required: {first}");
    }
    assert_eq!(first["transactionId"], "A424887D0F2D45028FE5C96E9B0E1A2D");

    let (status, read) = rest(app, who, Method::GET, FIRST, None).await;
    assert_eq!((status, &read["status"]), (200, &json!("Opened")));
    let friendly = read["friendlyId"].as_str().unwrap();
    let (status, linked) = rest(
        app,
        who,
        Method::PUT,
        &format!("{FIRST}?friendlyId={friendly}"),
        Some(json!({ "status": "Opened", "paymentLink": "https://www.teste.com.br" })),
    )
    .await;
    assert_eq!(status, 200, "{linked}");
    let (status, changed) = rest(
        app,
        who,
        Method::PUT,
        &format!("{FIRST}?friendlyId={friendly}"),
        Some(json!({ "status": "Paid", "observation": "Open test" })),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    let (status, _) = rest(
        app,
        who,
        Method::PUT,
        &format!("{FIRST}?friendlyId=SOMEONE-1"),
        Some(json!({ "status": "Paid" })),
    )
    .await;
    assert_eq!(status, 404, "the friendlyId must be the invoice's");
    let second = "/accounts/ACC/invoices/A424887D0F2D45028FE5C96E9B0E1A2D-02";
    let (status, paid) = rest(app, who, Method::POST, &format!("{second}/payments"), None).await;
    assert_eq!((status, &paid["status"]), (200, &json!("Paid")));
    let third = "/accounts/ACC/invoices/A424887D0F2D45028FE5C96E9B0E1A2D-03";
    let (status, postponed) = rest(
        app,
        who,
        Method::PUT,
        &format!("{third}/postponement"),
        Some(json!({ "dueDays": 10 })),
    )
    .await;
    assert_eq!(status, 200, "{postponed}");
    assert_eq!(
        postponed["dueDate"],
        (app.today() + Duration::days(30)).to_string()
    );
    let (status, _) = rest(app, who, Method::DELETE, third, None).await;
    assert_eq!(status, 200);

    let after = text(app, who, "/accounts/ACC/invoices").await;
    assert!(
        after.contains(
            r#""summary":{"total":0,"count":3,"totalPaid":10.02,"totalCancelled":19.98}"#
        ),
        "{after}"
    );
    let (_, read) = rest(app, who, Method::GET, FIRST, None).await;
    assert_eq!(
        (&read["status"], &read["observation"], &read["paymentLink"]),
        (
            &json!("Paid"),
            &json!("Open test"),
            &json!("https://www.teste.com.br/")
        )
    );
    assert!(
        read["resolvedAt"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
}
