//! Accounts, orders, invoices, invoice events and imports, with the indexes that the
//! invoice filters and keyset orders use.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
    Document,
    DocumentType,
    Name,
    Email,
    Currency,
    CreditLimitUnits,
    ToleranceUnits,
    Status,
    CreatedAt,
    UpdatedAt,
    Version,
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    Id,
    AccountId,
    ValueUnits,
    Currency,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Invoices {
    Table,
    Id,
    FriendlyId,
    AccountId,
    OrderId,
    Installment,
    NumberOfInstallments,
    ValueUnits,
    Currency,
    OriginalDueDate,
    DueDate,
    Status,
    PaymentLink,
    Observation,
    CreatedAt,
    UpdatedAt,
    ResolvedAt,
    Version,
}

#[derive(DeriveIden)]
enum InvoiceEvents {
    Table,
    Seq,
    InvoiceId,
    StatusFrom,
    StatusTo,
    PaymentLinkFrom,
    PaymentLinkTo,
    ObservationFrom,
    ObservationTo,
    DueDateFrom,
    DueDateTo,
    Reason,
    Actor,
    Source,
    ImportId,
    OccurredAt,
}

#[derive(DeriveIden)]
enum Imports {
    Table,
    Id,
    FileName,
    Actor,
    StartedAt,
    FinishedAt,
    DryRun,
    RowsRead,
    RowsChanged,
    RowsUnchanged,
    RowsRefused,
    Errors,
}

fn timestamp(col: impl IntoIden) -> ColumnDef {
    timestamp_with_time_zone(col)
}

fn index(name: &str, table: impl IntoIden, cols: &[&'static str]) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table);
    for col in cols {
        index.col(Alias::new(*col));
    }
    index.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Accounts::Table)
                    .col(string(Accounts::Id).primary_key())
                    .col(string(Accounts::Document))
                    .col(string(Accounts::DocumentType))
                    .col(string(Accounts::Name))
                    .col(string(Accounts::Email))
                    .col(string_len(Accounts::Currency, 3))
                    .col(big_integer(Accounts::CreditLimitUnits))
                    .col(big_integer(Accounts::ToleranceUnits))
                    .col(string(Accounts::Status))
                    .col(timestamp(Accounts::CreatedAt))
                    .col(timestamp(Accounts::UpdatedAt))
                    .col(integer(Accounts::Version))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Orders::Table)
                    .col(string(Orders::Id).primary_key())
                    .col(string(Orders::AccountId))
                    .col(big_integer(Orders::ValueUnits))
                    .col(string_len(Orders::Currency, 3))
                    .col(timestamp(Orders::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Orders::Table, Orders::AccountId)
                            .to(Accounts::Table, Accounts::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Invoices::Table)
                    .col(string(Invoices::Id).primary_key())
                    .col(string_uniq(Invoices::FriendlyId))
                    .col(string(Invoices::AccountId))
                    .col(string(Invoices::OrderId))
                    .col(integer(Invoices::Installment))
                    .col(integer(Invoices::NumberOfInstallments))
                    .col(big_integer(Invoices::ValueUnits))
                    .col(string_len(Invoices::Currency, 3))
                    .col(date(Invoices::OriginalDueDate))
                    .col(date(Invoices::DueDate))
                    .col(string(Invoices::Status))
                    .col(text_null(Invoices::PaymentLink))
                    .col(text_null(Invoices::Observation))
                    .col(timestamp(Invoices::CreatedAt))
                    .col(timestamp(Invoices::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Invoices::ResolvedAt))
                    .col(integer(Invoices::Version))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Invoices::Table, Invoices::AccountId)
                            .to(Accounts::Table, Accounts::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Invoices::Table, Invoices::OrderId)
                            .to(Orders::Table, Orders::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // One index per keyset order (sort key, then id as the tie-break), one per
        // status tab in due-date order, and one per equality filter.
        for (name, cols) in [
            ("ix_invoices_due_date", &["due_date", "id"][..]),
            ("ix_invoices_created_at", &["created_at", "id"]),
            ("ix_invoices_value", &["value_units", "id"]),
            ("ix_invoices_status_due_date", &["status", "due_date", "id"]),
            ("ix_invoices_order", &["order_id", "due_date"]),
            ("ix_invoices_account", &["account_id", "due_date"]),
        ] {
            manager
                .create_index(index(name, Invoices::Table, cols))
                .await?;
        }
        manager
            .create_index(index("ix_orders_account", Orders::Table, &["account_id"]))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(InvoiceEvents::Table)
                    .col(big_pk_auto(InvoiceEvents::Seq))
                    .col(string(InvoiceEvents::InvoiceId))
                    .col(string_null(InvoiceEvents::StatusFrom))
                    .col(string_null(InvoiceEvents::StatusTo))
                    .col(text_null(InvoiceEvents::PaymentLinkFrom))
                    .col(text_null(InvoiceEvents::PaymentLinkTo))
                    .col(text_null(InvoiceEvents::ObservationFrom))
                    .col(text_null(InvoiceEvents::ObservationTo))
                    .col(date_null(InvoiceEvents::DueDateFrom))
                    .col(date_null(InvoiceEvents::DueDateTo))
                    .col(text_null(InvoiceEvents::Reason))
                    .col(string(InvoiceEvents::Actor))
                    .col(string(InvoiceEvents::Source))
                    .col(string_null(InvoiceEvents::ImportId))
                    .col(timestamp(InvoiceEvents::OccurredAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(InvoiceEvents::Table, InvoiceEvents::InvoiceId)
                            .to(Invoices::Table, Invoices::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_invoice_events_invoice",
                InvoiceEvents::Table,
                &["invoice_id", "seq"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Imports::Table)
                    .col(string(Imports::Id).primary_key())
                    .col(string(Imports::FileName))
                    .col(string(Imports::Actor))
                    .col(timestamp(Imports::StartedAt))
                    .col(timestamp_with_time_zone_null(Imports::FinishedAt))
                    .col(boolean(Imports::DryRun))
                    .col(big_integer(Imports::RowsRead))
                    .col(big_integer(Imports::RowsChanged))
                    .col(big_integer(Imports::RowsUnchanged))
                    .col(big_integer(Imports::RowsRefused))
                    .col(text(Imports::Errors))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("ix_imports_started", Imports::Table, &["started_at"]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Imports::Table.into_iden(),
            InvoiceEvents::Table.into_iden(),
            Invoices::Table.into_iden(),
            Orders::Table.into_iden(),
            Accounts::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
