//! The binary itself: `token` mints tokens the server accepts, `schema` prints the SDL.

use std::process::Command;

use serde_json::json;

use crate::helpers::*;
use crate::on_both_backends;

on_both_backends!(a_token_from_the_command_line_is_accepted_by_the_server);

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
        credit_gateway::graphql::sdl()
    );
}
