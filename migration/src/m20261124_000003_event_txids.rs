//! PostgreSQL only: each invoice event records the transaction that wrote it, so that
//! subscription cursors can tell an event that is not committed yet from one that will
//! never come (see `domain::feed` in the gateway). SQLite serializes writers and needs
//! nothing: there `seq` order is commit order.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        // `pg_current_xact_id()` is the top-level transaction even inside a savepoint, and
        // 64 bits wide (epoch included), so it never wraps around; it fits a bigint.
        db.execute_unprepared(
            "ALTER TABLE invoice_events \
             ADD COLUMN txid bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint)",
        )
        .await?;
        db.execute_unprepared("CREATE INDEX ix_invoice_events_txid ON invoice_events (txid, seq)")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE invoice_events DROP COLUMN txid")
            .await?;
        Ok(())
    }
}
