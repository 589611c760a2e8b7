//! An invoice's webhook messages go out one at a time: a delivery waiting behind an earlier
//! one of the same invoice is `queued` (it was `pending`, held back by the query that
//! picked what was due). `pending_since` is when a queued delivery became pending: its
//! days of retries count from then, not from its creation.

use sea_orm_migration::sea_orm::ConnectionTrait;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    PendingSince,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WebhookDeliveries::Table)
                    .add_column(timestamp_with_time_zone_null(
                        WebhookDeliveries::PendingSince,
                    ))
                    .to_owned(),
            )
            .await?;
        // Deliveries pending behind an earlier pending one of their invoice wait queued.
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE webhook_deliveries SET state = 'queued' \
                 WHERE state = 'pending' AND seq > 0 AND invoice_id IS NOT NULL AND EXISTS ( \
                   SELECT 1 FROM webhook_deliveries e \
                   WHERE e.endpoint_id = webhook_deliveries.endpoint_id \
                     AND e.invoice_id = webhook_deliveries.invoice_id \
                     AND e.state = 'pending' AND e.seq > 0 AND e.seq < webhook_deliveries.seq)",
            )
            .await?;
        Ok(())
    }

    /// Drops the column only: queued deliveries stay queued (the code of the version
    /// before knows them; making them pending would send an invoice's out of order).
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WebhookDeliveries::Table)
                    .drop_column(WebhookDeliveries::PendingSince)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
