//! SeaORM entities of credit-gateway: one module per table, nothing else.
//!
//! Money columns are `i64` counts of ten-thousandths (`value_units`): SQLite reads SeaORM
//! decimals through `f64`, so an integer is the one form that round-trips exactly on both
//! backends. The `store` module converts them to and from `rust_decimal::Decimal`.

pub mod account;
pub mod api_key;
pub mod import;
pub mod import_error;
pub mod invoice;
pub mod invoice_event;
pub mod order;
pub mod webhook_attempt;
pub mod webhook_delivery;
pub mod webhook_endpoint;
pub mod webhook_reminder;
