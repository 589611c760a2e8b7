//! Integration tests: real gateways over real SQLite files and PostgreSQL databases,
//! spoken to over real HTTP. Each behaviour runs on both backends (`on_both_backends!`).

mod helpers;

mod api_keys;
mod auth;
mod availability;
mod changes;
mod cli;
mod faults;
mod federation;
mod fuzz;
mod hardening;
mod imports;
mod listing;
mod money;
mod plans;
mod proxy;
mod rest;
mod schema;
mod sso;
mod subscriptions;
mod subscriptions_pg;
mod surface;
mod webhooks;
mod workbooks;
mod ws_client;
