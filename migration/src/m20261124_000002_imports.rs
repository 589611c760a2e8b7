//! Imports as they are really run: a state (an import can be running, applied, rejected,
//! only checked, or failed), its mode, its progress, a file-level problem, and every
//! refused row in a table of its own, so that a file with a million bad rows is still
//! reported in full. Nothing wrote the first `imports` table, so it is rebuilt.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Imports {
    Table,
    Id,
    FileName,
    Actor,
    StartedAt,
    FinishedAt,
    HeartbeatAt,
    DryRun,
    ApplyValidRows,
    State,
    RowsTotal,
    RowsRead,
    RowsChanged,
    RowsUnchanged,
    RowsRefused,
    Problem,
}

#[derive(DeriveIden)]
enum ImportErrors {
    Table,
    ImportId,
    Line,
    Column,
    Code,
    Message,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Imports::Table).to_owned())
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Imports::Table)
                    .col(string(Imports::Id).primary_key())
                    .col(string(Imports::FileName))
                    .col(string(Imports::Actor))
                    .col(timestamp_with_time_zone(Imports::StartedAt))
                    .col(timestamp_with_time_zone_null(Imports::FinishedAt))
                    .col(timestamp_with_time_zone_null(Imports::HeartbeatAt))
                    .col(boolean(Imports::DryRun))
                    .col(boolean(Imports::ApplyValidRows))
                    .col(string(Imports::State))
                    .col(big_integer_null(Imports::RowsTotal))
                    .col(big_integer(Imports::RowsRead))
                    .col(big_integer(Imports::RowsChanged))
                    .col(big_integer(Imports::RowsUnchanged))
                    .col(big_integer(Imports::RowsRefused))
                    .col(text_null(Imports::Problem))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_imports_newest")
                    .table(Imports::Table)
                    .col(Imports::StartedAt)
                    .col(Imports::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ImportErrors::Table)
                    .col(string(ImportErrors::ImportId))
                    .col(big_integer(ImportErrors::Line))
                    .col(string_null(ImportErrors::Column))
                    .col(string(ImportErrors::Code))
                    .col(text(ImportErrors::Message))
                    .primary_key(
                        Index::create()
                            .col(ImportErrors::ImportId)
                            .col(ImportErrors::Line),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ImportErrors::Table).to_owned())
            .await
    }
}
