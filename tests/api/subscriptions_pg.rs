//! Gateway instances over one PostgreSQL: a change made through one instance reaches
//! another's subscribers; a subscriber whose instance lost its database for a while
//! receives everything committed meanwhile; a transaction held open while many writers
//! commit later-numbered events is neither skipped nor in their way; and instances
//! starting together on a database that needs migrating all start.

use credit_gateway::app::{self, Running};
use sea_orm::{ConnectionTrait, Database, TransactionTrait};
use serde_json::json;

use crate::helpers::*;
use crate::subscriptions::{cursor_now, invoices, pay, pay_at};
use crate::ws_client::*;

async fn postgres_app() -> Option<TestApp> {
    TestApp::spawn(Backend::Postgres).await
}

/// Another gateway over the same database (`url`), as a second instance behind a load
/// balancer would be.
pub async fn second_instance(app: &TestApp, url: String) -> (Running, String) {
    let mut config = app.config.clone();
    config.database_url = url;
    let running = app::start(&config, "127.0.0.1:0", false)
        .await
        .expect("second instance starts");
    let base = format!("http://{}", running.addr);
    (running, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_instance_reaches_subscribers_of_another() {
    let Some(app) = postgres_app().await else {
        return;
    };
    invoices(&app, 3).await;
    let (_other, other_base) = second_instance(&app, app.config.database_url.clone()).await;
    let admin = app.admin();
    let after = cursor_now(&app, &admin).await;
    let mut client = subscribed_at(&other_base, &admin, json!({ "after": after })).await;

    pay(&app, "ACC-00").await;
    pay(&app, "OTHER-01").await;

    let first = client.next_change().await;
    let second = client.next_change().await;
    assert_eq!(first["invoice"]["id"], "ACC-00");
    assert_eq!(second["invoice"]["id"], "OTHER-01");
    assert_eq!(second["source"], "GRAPHQL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_whose_instance_lost_its_database_receives_every_change_after_recovery() {
    let Some(app) = postgres_app().await else {
        return;
    };
    invoices(&app, 6).await;
    let (proxy, proxied_url) = Proxy::in_front_of(&app.config.database_url).await;
    let (_other, other_base) = second_instance(&app, proxied_url).await;
    let admin = app.admin();
    let after = cursor_now(&app, &admin).await;
    let mut client = subscribed_at(&other_base, &admin, json!({ "after": after })).await;
    pay(&app, "ACC-00").await;
    assert_eq!(client.next_change().await["invoice"]["id"], "ACC-00");

    proxy.cut();
    // The instance notices: its readiness check fails while the database is away.
    let ready = reqwest::get(format!("{other_base}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503);
    for i in 1..6 {
        pay(&app, &format!("ACC-{i:02}")).await;
    }
    // Long enough for the instance's reader and listener to fail and retry.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    proxy.restore();

    for i in 1..6 {
        let change = client.next_change().await;
        assert_eq!(change["invoice"]["id"], format!("ACC-{i:02}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_transaction_is_neither_skipped_nor_in_the_way_of_concurrent_writers() {
    let Some(app) = postgres_app().await else {
        return;
    };
    const WRITERS: usize = 8;
    const EACH: usize = 6;
    invoices(&app, WRITERS * EACH + 1).await;
    let admin = app.admin();
    let after = cursor_now(&app, &admin).await;
    let mut client = subscribed(&app, &admin, json!({ "after": after, "accountId": "ACC" })).await;

    // An import-like transaction takes its event's `seq` first and stays open.
    let db = Database::connect(&app.config.database_url).await.unwrap();
    let long = db.begin().await.unwrap();
    let last = format!("ACC-{:02}", WRITERS * EACH);
    long.execute_unprepared(&format!(
        "UPDATE invoices SET status = 'PAID', version = version + 1, resolved_at = now() \
         WHERE id = '{last}'"
    ))
    .await
    .unwrap();
    long.execute_unprepared(&format!(
        "INSERT INTO invoice_events (invoice_id, status_from, status_to, actor, source, occurred_at) \
         VALUES ('{last}', 'OPEN', 'PAID', 'long-import', 'CSV_IMPORT', now())"
    ))
    .await
    .unwrap();

    // Many writers commit later-numbered events meanwhile.
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (base, client, token) = (app.base.clone(), app.client.clone(), admin.clone());
            tokio::spawn(async move {
                for k in 0..EACH {
                    pay_at(&client, &base, &token, &format!("ACC-{:02}", w * EACH + k)).await;
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    // Their changes arrive while the long transaction is still open: it is in nobody's way.
    let mut heard = Vec::new();
    let mut resume = None;
    while heard.len() < WRITERS * EACH {
        let change = client.next_change().await;
        heard.push(change["invoice"]["id"].as_str().unwrap().to_owned());
        resume = Some(change["cursor"].clone());
    }
    heard.sort();
    heard.dedup();
    assert_eq!(heard.len(), WRITERS * EACH, "each writer's change once");

    // The trap: the long transaction's event has a lower `seq` than all of those.
    let seqs = db
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!(
                "SELECT (SELECT max(seq) FROM invoice_events WHERE invoice_id = '{last}') AS long_seq, \
                 (SELECT min(seq) FROM invoice_events WHERE source = 'GRAPHQL') AS first_other"
            ),
        ))
        .await
        .unwrap();
    let long_seq: i64 = seqs[0].try_get("", "long_seq").unwrap();
    let first_other: i64 = seqs[0].try_get("", "first_other").unwrap();
    assert!(long_seq < first_other, "{long_seq} < {first_other}");

    // Committed without a NOTIFY: only the table (and the reader's poll) can tell.
    long.commit().await.unwrap();
    let late = client.next_change().await;
    assert_eq!(late["invoice"]["id"], last.as_str());
    assert_eq!(late["source"], "CSV_IMPORT");

    // A client that stopped at the last writer's change and resumes also gets it.
    let mut resumed =
        subscribed(&app, &admin, json!({ "after": resume, "accountId": "ACC" })).await;
    let replayed = resumed.next_change().await;
    assert_eq!(replayed["invoice"]["id"], last.as_str());
}

/// A deploy starts several instances at once on a database that needs migrating: one
/// migrates, the others wait for it, and every instance starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_on_a_new_database_all_start() {
    let Some(app) = postgres_app().await else {
        return;
    };
    let name = format!("cg_test_{}", uuid::Uuid::new_v4().simple());
    let url = create_pg_database(&name).await.expect("a new database");
    let mut config = app.config.clone();
    config.database_url = url;
    let starts = (0..4).map(|_| app::start(&config, "127.0.0.1:0", false));
    let started = futures_util::future::join_all(starts).await;
    let failures: Vec<String> = started
        .iter()
        .filter_map(|s| s.as_ref().err().map(|e| e.to_string()))
        .collect();
    assert!(
        failures.is_empty(),
        "instances failed to start: {failures:?}"
    );
    drop(started);
    let admin = Database::connect(pg_admin_url()).await.unwrap();
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .unwrap();
}
