//! Database migrations of credit-gateway, run by `credit-gateway migrate` and at the start
//! of `serve`. The same migrations build the SQLite and the PostgreSQL schema.

pub use sea_orm_migration::prelude::*;

mod m20261124_000001_initial;
mod m20261124_000002_imports;
mod m20261124_000003_event_txids;
mod m20261203_000004_api_keys;
mod m20261203_000005_webhooks;
mod m20261204_000006_webhook_queue;

/// Every migration, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_initial::Migration),
            Box::new(m20261124_000002_imports::Migration),
            Box::new(m20261124_000003_event_txids::Migration),
            Box::new(m20261203_000004_api_keys::Migration),
            Box::new(m20261203_000005_webhooks::Migration),
            Box::new(m20261204_000006_webhook_queue::Migration),
        ]
    }
}
