//! Webhooks: the endpoints admins register, one delivery per event and endpoint, every
//! attempt at it, and the due-date reminders already sent (one per invoice and due date). An endpoint's `position` is
//! its place in the event feed (a `domain::FeedPosition`, as text): deliveries are made
//! from the event table, so an event committed is never missed and a rolled-back one
//! never seen. `lease_owner`/`lease_until` let one instance of several deliver it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookEndpoints {
    Table,
    Id,
    Url,
    Description,
    EventTypes,
    Enabled,
    DisabledReason,
    Secret,
    PreviousSecret,
    PreviousSecretUntil,
    Position,
    ImportsAfter,
    LeaseOwner,
    LeaseUntil,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    EndpointId,
    MessageId,
    EventType,
    InvoiceId,
    Seq,
    Payload,
    State,
    Attempts,
    NextAttemptAt,
    CreatedAt,
    DeliveredAt,
}

#[derive(DeriveIden)]
enum WebhookAttempts {
    Table,
    Id,
    DeliveryId,
    AttemptedAt,
    StatusCode,
    DurationMs,
    Response,
    Error,
}

#[derive(DeriveIden)]
enum WebhookReminders {
    Table,
    InvoiceId,
    DueDate,
    SentAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookEndpoints::Table)
                    .col(string(WebhookEndpoints::Id).primary_key())
                    .col(string(WebhookEndpoints::Url))
                    .col(string_null(WebhookEndpoints::Description))
                    .col(string(WebhookEndpoints::EventTypes))
                    .col(boolean(WebhookEndpoints::Enabled))
                    .col(string_null(WebhookEndpoints::DisabledReason))
                    .col(string(WebhookEndpoints::Secret))
                    .col(string_null(WebhookEndpoints::PreviousSecret))
                    .col(timestamp_with_time_zone_null(
                        WebhookEndpoints::PreviousSecretUntil,
                    ))
                    .col(text(WebhookEndpoints::Position))
                    .col(string(WebhookEndpoints::ImportsAfter))
                    .col(string_null(WebhookEndpoints::LeaseOwner))
                    .col(timestamp_with_time_zone_null(WebhookEndpoints::LeaseUntil))
                    .col(timestamp_with_time_zone(WebhookEndpoints::CreatedAt))
                    .col(timestamp_with_time_zone(WebhookEndpoints::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .col(string(WebhookDeliveries::Id).primary_key())
                    .col(string(WebhookDeliveries::EndpointId))
                    .col(string(WebhookDeliveries::MessageId))
                    .col(string(WebhookDeliveries::EventType))
                    .col(string_null(WebhookDeliveries::InvoiceId))
                    .col(big_integer(WebhookDeliveries::Seq))
                    .col(text(WebhookDeliveries::Payload))
                    .col(string(WebhookDeliveries::State))
                    .col(integer(WebhookDeliveries::Attempts))
                    .col(timestamp_with_time_zone(WebhookDeliveries::NextAttemptAt))
                    .col(timestamp_with_time_zone(WebhookDeliveries::CreatedAt))
                    .col(timestamp_with_time_zone_null(
                        WebhookDeliveries::DeliveredAt,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WebhookDeliveries::Table, WebhookDeliveries::EndpointId)
                            .to(WebhookEndpoints::Table, WebhookEndpoints::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // One delivery per message and endpoint, however often a fan-out is retried.
        manager
            .create_index(
                Index::create()
                    .name("webhook_deliveries_message")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::EndpointId)
                    .col(WebhookDeliveries::MessageId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // What is due next, per endpoint; and per invoice, what must go out before.
        for (name, columns) in [
            (
                "webhook_deliveries_due",
                [
                    WebhookDeliveries::EndpointId,
                    WebhookDeliveries::State,
                    WebhookDeliveries::Seq,
                ]
                .into_iter()
                .collect::<Vec<_>>(),
            ),
            (
                "webhook_deliveries_invoice",
                [
                    WebhookDeliveries::EndpointId,
                    WebhookDeliveries::InvoiceId,
                    WebhookDeliveries::State,
                    WebhookDeliveries::Seq,
                ]
                .into_iter()
                .collect(),
            ),
        ] {
            let mut index = Index::create()
                .name(name)
                .table(WebhookDeliveries::Table)
                .to_owned();
            for column in columns {
                index.col(column);
            }
            manager.create_index(index).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(WebhookAttempts::Table)
                    .col(big_pk_auto(WebhookAttempts::Id))
                    .col(string(WebhookAttempts::DeliveryId))
                    .col(timestamp_with_time_zone(WebhookAttempts::AttemptedAt))
                    .col(integer_null(WebhookAttempts::StatusCode))
                    .col(big_integer(WebhookAttempts::DurationMs))
                    .col(text_null(WebhookAttempts::Response))
                    .col(string_null(WebhookAttempts::Error))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WebhookAttempts::Table, WebhookAttempts::DeliveryId)
                            .to(WebhookDeliveries::Table, WebhookDeliveries::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webhook_attempts_delivery")
                    .table(WebhookAttempts::Table)
                    .col(WebhookAttempts::DeliveryId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookReminders::Table)
                    .col(string(WebhookReminders::InvoiceId))
                    .col(date(WebhookReminders::DueDate))
                    .col(timestamp_with_time_zone(WebhookReminders::SentAt))
                    .primary_key(
                        Index::create()
                            .col(WebhookReminders::InvoiceId)
                            .col(WebhookReminders::DueDate),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            WebhookReminders::Table.into_iden(),
            WebhookAttempts::Table.into_iden(),
            WebhookDeliveries::Table.into_iden(),
            WebhookEndpoints::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
