//! credit-gateway: a GraphQL gateway over the invoices of a B2B "customer credit" payment
//! method (buy now, pay the invoice later).
//!
//! # Layout
//!
//! Each arrow points one way: `http → graphql → service → (domain, store)`.
//!
//! - [`cli`]: the command line (`serve`, `migrate`, `import`, `export`, `token`, `schema`).
//! - [`app`]: wires configuration, store, service and router into a running server.
//! - [`config`]: every setting, its environment variable and default.
//! - [`http`]: the axum router: the only module that knows axum.
//! - [`auth`]: bearer tokens and the principals they name.
//! - [`graphql`]: the schema, resolvers and DataLoaders: the only module that knows
//!   async-graphql.
//! - [`service`]: use cases, scoping by principal, the demo store.
//! - [`store`]: every SQL statement, through SeaORM (with the `entity` and `migration`
//!   crates): the only module that knows SeaORM.
//! - [`csv_io`]: the invoice CSV template, its streaming writer and its forgiving reader.
//! - [`domain`]: pure rules: money, statuses and overdue, filters, cursors, what an
//!   imported row means.
//! - [`events`]: the live feed of status changes: one reader of the event table per
//!   process, woken by commits (PostgreSQL `NOTIFY` across instances), fanned out to
//!   subscribers.
//! - [`webhooks`]: webhook delivery from the event table: leases, fan-out, signed sends
//!   with retries, a guarded HTTP client.
//! - [`telemetry`]: logs on standard error (text or JSON, a request id on every line),
//!   panics caught and logged once, and the Prometheus metrics behind `/metrics`.

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod csv_io;
pub mod domain;
pub mod events;
pub mod graphql;
pub mod http;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod webhooks;
pub mod xlsx_io;
