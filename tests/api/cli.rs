//! The binary itself: `token` mints tokens the server accepts, `schema` prints the SDL,
//! `export` and `import` settle invoices by CSV against the server's database.

use std::process::Command;

use serde_json::json;

use crate::helpers::*;
use crate::on_both_backends;

on_both_backends!(
    a_token_from_the_command_line_is_accepted_by_the_server,
    export_and_import_from_the_command_line_settle_invoices,
);

fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_credit-gateway"));
    command
        .env("CREDIT_GATEWAY_SECRET", SECRET)
        .env_remove("DATABASE_URL");
    command
}

async fn a_token_from_the_command_line_is_accepted_by_the_server(app: TestApp) {
    app.insert(&[account("ACC")], &[], &[]).await;
    for (args, sees_account) in [
        (vec!["token", "--admin"], true),
        (vec!["token", "--account", "ACC"], true),
        (vec!["token", "--account", "OTHER"], false),
    ] {
        let output = binary().args(&args).output().unwrap();
        assert!(output.status.success(), "{args:?}");
        let token = String::from_utf8(output.stdout).unwrap();
        assert_eq!(token.trim().lines().count(), 1, "the token alone on stdout");
        let body = app
            .gql(
                Some(token.trim()),
                "{ account(id: \"ACC\") { id } }",
                json!({}),
            )
            .await;
        assert!(body.get("errors").is_none(), "{args:?}: {body}");
        assert_eq!(
            body["data"]["account"].is_object(),
            sees_account,
            "{args:?}"
        );
    }
}

#[test]
fn token_needs_a_role() {
    let output = binary().arg("token").output().unwrap();
    assert!(!output.status.success());
}

#[test]
fn schema_command_prints_the_sdl() {
    let output = binary().arg("schema").output().unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        credit_gateway::graphql::sdl(false)
    );
}

async fn export_and_import_from_the_command_line_settle_invoices(app: TestApp) {
    let due = app.today() + chrono::Duration::days(10);
    app.insert_order(
        "ACC",
        "ORD",
        "20.00",
        &[
            invoice("I-1", "ACC", "ORD", "10.00", due),
            invoice("I-2", "ACC", "ORD", "10.00", due),
        ],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("open.csv");
    let run = |args: &[&str]| {
        binary()
            .env("DATABASE_URL", &app.config.database_url)
            .env("RUST_LOG", "warn")
            .args(args)
            .output()
            .unwrap()
    };

    let exported = run(&[
        "export",
        "--status",
        "open",
        "--output",
        file.to_str().unwrap(),
    ]);
    assert!(exported.status.success(), "{exported:?}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    // Text cells are quoted in exports.
    std::fs::write(&file, text.replace(",\"Open\",", ",\"Paid\",")).unwrap();

    let checked = run(&["import", file.to_str().unwrap(), "--dry-run"]);
    assert!(checked.status.success(), "{checked:?}");
    assert!(String::from_utf8_lossy(&checked.stderr).contains("CHECKED (2 rows read, 2 changed"));
    let applied = run(&["import", file.to_str().unwrap()]);
    assert!(applied.status.success(), "{applied:?}");
    let body = app
        .admin_data("{ invoices(status: PAID) { totalCount } }", json!({}))
        .await;
    assert_eq!(body["invoices"]["totalCount"], 2);

    std::fs::write(&file, "Invoice ID,Status\nI-1,Cancelled\nNOPE,Paid\n").unwrap();
    let refused = run(&["import", file.to_str().unwrap()]);
    assert!(!refused.status.success(), "refused rows fail the command");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("line 2, Status:"), "{stderr}");
    assert!(stderr.contains("line 3, Invoice ID:"), "{stderr}");
}

/// `serve` with `CREDIT_GATEWAY_LOG_FORMAT=json`: every log line is a JSON object, and the
/// lines of a request carry its id.
#[test]
fn json_logs_carry_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = binary()
        .current_dir(dir.path())
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("CREDIT_GATEWAY_LOG_FORMAT", "json")
        .env("CREDIT_GATEWAY_SWEEPER", "false")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Only the first line is read: the gateway must serve on with nobody reading the rest.
    let url = announced_url(child.stdout.take().unwrap());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let status = runtime.block_on(async {
        http_client()
            .build()
            .unwrap()
            .post(format!("{url}/graphql"))
            .header("x-request-id", "json-log-test-1")
            .json(&json!({ "query": "{ invoices { totalCount } }" }))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200);
    // Stopped as an operator would (Ctrl-C), so that every line is complete.
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|_| panic!("not JSON: {line:?} in all of stderr:\n{stderr}"))
        })
        .collect();
    for message in ["listening", "shutting down"] {
        assert!(
            lines.iter().any(|l| l["message"] == message),
            "{message}: {lines:#?}"
        );
    }
    let served = lines
        .iter()
        .find(|l| l["span"]["request_id"] == "json-log-test-1")
        .unwrap_or_else(|| panic!("no line of the request: {lines:#?}"));
    assert_eq!(served["message"], "served");
    assert_eq!(served["status"], 200);
    assert_eq!(served["span"]["path"], "/graphql");
    assert_eq!(served["level"], "INFO");
}

/// Docker, Kubernetes and systemd stop a service with SIGTERM: `serve` exits cleanly on
/// it, as on Ctrl-C (it died with status 143 before).
#[test]
fn serve_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = binary()
        .current_dir(dir.path())
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("CREDIT_GATEWAY_SWEEPER", "false")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    announced_url(child.stdout.take().unwrap());
    let terminated = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
