//! Database faults: PostgreSQL goes away under load (a proxy in front of it drops every
//! connection and refuses new ones) and comes back. Requests fail fast with
//! `SERVICE_UNAVAILABLE` while it is gone, `/readyz` says so, the gateway recovers by
//! itself, and every change it acknowledged is still there. PostgreSQL only: SQLite is a
//! file in the gateway's own process, it cannot go away like a server.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;
use crate::subscriptions_pg::second_instance;

const UP: u8 = 0;
const DOWN: u8 = 1;
const BACK: u8 = 2;

const WRITERS: usize = 3;

/// One request of the load: when it started and ended (phases) and what it got.
#[derive(Debug)]
struct Outcome {
    task: usize,
    started: u8,
    ended: u8,
    code: String,
    took: Duration,
    /// The payment link a write set, when it was acknowledged.
    acknowledged: Option<String>,
}

async fn one_request(client: &reqwest::Client, base: &str, token: &str, body: Value) -> String {
    let response = client
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("the gateway itself stays up");
    let body: Value = response.json().await.expect("a JSON answer");
    match body["errors"][0]["extensions"]["code"].as_str() {
        Some(code) => code.to_owned(),
        None => "ok".to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_postgresql_under_load_fails_fast_and_recovers_without_losing_commits() {
    captured_logs();
    // A load test: no budget in the way (the instance below shares this configuration).
    let Some(app) = TestApp::with(Backend::Postgres)
        .config(|c| c.throttle_capacity = 0)
        .spawn()
        .await
    else {
        return;
    };
    let due = app.today() + chrono::Duration::days(10);
    let invoices: Vec<_> = (0..WRITERS)
        .map(|w| invoice(&format!("INV-{w}"), "ACC", "ORD", "10.00", due))
        .collect();
    app.insert_order("ACC", "ORD", "30.00", &invoices).await;
    let (proxy, proxied) = Proxy::in_front_of(&app.config.database_url).await;
    let (_instance, base) = second_instance(&app, proxied).await;
    let admin = app.admin();
    let phase = Arc::new(AtomicU8::new(UP));
    let stop = Arc::new(AtomicBool::new(false));

    // WRITERS tasks set payment links, one reader lists invoices; all as fast as they can.
    let mut tasks = Vec::new();
    for task in 0..=WRITERS {
        let (phase, stop, base, token) = (phase.clone(), stop.clone(), base.clone(), admin.clone());
        tasks.push(tokio::spawn(async move {
            let client = http_client().build().unwrap();
            let mut outcomes = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let link = format!("https://pay.example.com/{task}/{n}");
                let body = if task < WRITERS {
                    json!({
                        "query": "mutation($id: ID!, $link: String!) { \
                                  setPaymentLink(input: {id: $id, paymentLink: $link}) { \
                                  userErrors { code } } }",
                        "variables": { "id": format!("INV-{task}"), "link": link },
                    })
                } else {
                    json!({ "query": "{ invoices(first: 10) { totalCount nodes { id } } }" })
                };
                let started = phase.load(Ordering::SeqCst);
                let clock = Instant::now();
                let code = one_request(&client, &base, &token, body).await;
                let ended = phase.load(Ordering::SeqCst);
                let acknowledged = (task < WRITERS && code == "ok").then(|| link.clone());
                outcomes.push(Outcome {
                    task,
                    started,
                    ended,
                    code,
                    took: clock.elapsed(),
                    acknowledged,
                });
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            outcomes
        }));
    }

    tokio::time::sleep(Duration::from_secs(1)).await;
    proxy.cut();
    phase.store(DOWN, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503, "not ready while the database is gone");
    tokio::time::sleep(Duration::from_secs(3)).await;
    proxy.restore();
    phase.store(BACK, Ordering::SeqCst);
    let restored = Instant::now();
    let recovered = loop {
        let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
        if ready.status() == 200 {
            break restored.elapsed();
        }
        assert!(
            restored.elapsed() < Duration::from_secs(30),
            "no recovery in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::SeqCst);
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.extend(task.await.unwrap());
    }

    // Before: every request succeeded. Throughout: no answer but success or a clear
    // SERVICE_UNAVAILABLE, and no request hung on the lost database.
    for outcome in &outcomes {
        assert!(
            outcome.code == "ok" || outcome.code == "SERVICE_UNAVAILABLE",
            "{outcome:?}; the gateway logged: {}",
            captured_logs()
                .lines()
                .filter(|line| line.contains("internal error"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        if outcome.started == UP && outcome.ended == UP {
            assert_eq!(outcome.code, "ok", "{outcome:?}");
        }
        assert!(outcome.took < Duration::from_secs(6), "{outcome:?}");
    }
    let failed_while_down = outcomes
        .iter()
        .filter(|o| o.started == DOWN && o.code == "SERVICE_UNAVAILABLE")
        .count();
    assert!(failed_while_down > 0, "the outage was felt: {outcomes:#?}");
    // After: every task succeeds again, and once it has, it goes on succeeding.
    for task in 0..=WRITERS {
        let back: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| o.task == task && o.started == BACK)
            .collect();
        let first_ok = back
            .iter()
            .position(|o| o.code == "ok")
            .unwrap_or_else(|| panic!("task {task} never recovered: {back:#?}"));
        assert!(back[first_ok..].iter().all(|o| o.code == "ok"), "{back:#?}");
    }
    let slowest_refusal = outcomes
        .iter()
        .filter(|o| o.code != "ok")
        .map(|o| o.took)
        .max();
    eprintln!(
        "requests: {}; refused while down: {failed_while_down}, the slowest refusal in \
         {slowest_refusal:?}; ready again {recovered:?} after the restore",
        outcomes.len()
    );

    // Nothing acknowledged was lost: each acknowledged link is in its invoice's history,
    // and the history accounts for every version.
    for writer in 0..WRITERS {
        let body = app
            .admin_data(
                "query($id: ID!) { invoice(id: $id) { version history { paymentLinkChange { to } } } }",
                json!({ "id": format!("INV-{writer}") }),
            )
            .await;
        let invoice = &body["invoice"];
        let history = invoice["history"].as_array().unwrap();
        assert_eq!(invoice["version"], history.len(), "{invoice}");
        let recorded: Vec<&str> = history
            .iter()
            .filter_map(|event| event["paymentLinkChange"]["to"].as_str())
            .collect();
        for outcome in outcomes.iter().filter(|o| o.task == writer) {
            if let Some(link) = &outcome.acknowledged {
                assert!(recorded.contains(&link.as_str()), "{link} was lost");
            }
        }
    }
}
