//! Rows to domain records. A row that breaks a domain rule is a corrupt row, reported as a
//! store error rather than shown to clients.

use entity::{account, invoice, invoice_event, order};
use sea_orm::{DbErr, FromQueryResult, QueryResult, TryGetable, sqlx};

use super::{StoreError, StoreResult};
use crate::domain::{
    Account, AccountStatus, ChangeSource, DocumentType, Invoice, InvoiceEvent, InvoiceStatus,
    Money, Order,
};

/// A rule the row broke, as a store error naming the row (worded only when it happens).
fn corrupt(what: &str, id: &str) -> impl FnOnce(crate::domain::DomainError) -> StoreError {
    move |e| StoreError::Corrupt(format!("{what} {id}: {e}"))
}

fn money(units: i64) -> Money {
    Money::from_units(units)
}

/// An entity's row decoded by position: `Entity::find()` selects the columns in the
/// order the model declares its fields, and each value is read at its index. SeaORM's
/// derived decoding looks every value up by name instead (a formatted name and a hashed
/// lookup per value): about 14 % of the gateway's CPU in the reference read. Only
/// for statements that select one entity's columns, in that order.
pub(super) struct ByPosition<M>(pub M);

/// The value at `index` of a row, decoded as `T`.
///
/// From a PostgreSQL row it is decoded once, without sqlx's check that the column's type
/// is one `T` accepts: the reader checks the types once per statement instead
/// (`ByPosition::check`), since its rows share their columns. SeaORM's
/// `try_get_by_index` asks sqlx for the value twice and checks its type each time: over
/// a page's 34 columns a row, that was about a sixth of the gateway's CPU in the
/// reference read (`benches/README.md`). Other rows (SQLite) go through SeaORM as before.
pub(super) fn cell<T>(row: &QueryResult, index: usize) -> Result<T, DbErr>
where
    T: TryGetable + for<'r> sqlx::Decode<'r, sqlx::Postgres>,
{
    match row.try_as_pg_row() {
        Some(row) => sqlx::Row::try_get_unchecked(row, index)
            .map_err(|e| DbErr::Type(format!("column {index}: {e}"))),
        None => row.try_get_by_index(index),
    }
}

/// Whether column `index` of `row` has a type that `T`, the type of a model's field
/// (named by `_field`), decodes.
fn typed<M, T>(row: &sqlx::postgres::PgRow, index: usize, _field: fn(&M) -> &T) -> Result<(), DbErr>
where
    T: sqlx::Type<sqlx::Postgres>,
{
    use sqlx::{Column, Row, TypeInfo};
    let column = (row.columns().get(index))
        .ok_or_else(|| DbErr::Type(format!("the row has no column {index}")))?;
    if T::compatible(column.type_info()) {
        return Ok(());
    }
    Err(DbErr::Type(format!(
        "column {index} ({}) is of type {}, which {} does not decode",
        column.name(),
        column.type_info().name(),
        std::any::type_name::<T>(),
    )))
}

/// Decodes an entity's model from consecutive columns, starting at 0, in the order its
/// fields are listed here (a test checks that it is the order `Entity::find()` selects).
macro_rules! by_position {
    ($entity:ident { $($field:ident),+ $(,)? }) => {
        impl FromQueryResult for ByPosition<$entity::Model> {
            fn from_query_result(row: &QueryResult, pre: &str) -> Result<Self, DbErr> {
                if !pre.is_empty() {
                    return Err(DbErr::Type(format!("a prefixed row ({pre}) read by position")));
                }
                Self::check(row, 0)?;
                Self::at(row, 0).map(ByPosition)
            }
        }

        impl ByPosition<$entity::Model> {
            /// How many columns the model takes (where the next entity's begin).
            #[allow(dead_code)] // the last entity of a joined row needs none
            pub(super) const COLUMNS: usize = [$(stringify!($field)),+].len();

            /// Whether the columns from `start` on have the types the model's fields
            /// decode, before [`Self::at`] reads them: once per statement where the
            /// reader holds its rows (a page), once per row through SeaORM's
            /// `FromQueryResult`, which hands them over one by one (a PostgreSQL row's
            /// values are decoded unchecked, `cell`; SeaORM checks other rows' values
            /// as it reads them).
            pub(super) fn check(row: &QueryResult, start: usize) -> Result<(), DbErr> {
                let Some(row) = row.try_as_pg_row() else {
                    return Ok(());
                };
                let mut column = start..;
                $(typed(row, column.next().expect("unbounded"), |model: &$entity::Model| {
                    &model.$field
                })?;)+
                Ok(())
            }

            /// The model from the columns from `start` on (a statement that selects
            /// several entities' columns one after the other), once their types are
            /// checked (`check`).
            pub(super) fn at(row: &QueryResult, start: usize) -> Result<$entity::Model, DbErr> {
                let mut column = start..;
                Ok($entity::Model {
                    $($field: cell(row, column.next().expect("unbounded"))?,)+
                })
            }
        }

        #[cfg(test)]
        impl ByPosition<$entity::Model> {
            const FIELDS: &[&str] = &[$(stringify!($field)),+];
        }
    };
}

by_position!(invoice {
    id,
    friendly_id,
    account_id,
    order_id,
    installment,
    number_of_installments,
    value_units,
    currency,
    original_due_date,
    due_date,
    status,
    payment_link,
    observation,
    created_at,
    updated_at,
    resolved_at,
    version,
});
by_position!(account {
    id,
    document,
    document_type,
    name,
    email,
    currency,
    credit_limit_units,
    tolerance_units,
    status,
    created_at,
    updated_at,
    version,
});
by_position!(order {
    id,
    account_id,
    value_units,
    currency,
    created_at
});

pub(super) fn account(row: account::Model) -> StoreResult<Account> {
    Ok(Account {
        document_type: DocumentType::parse(&row.document_type)
            .map_err(corrupt("account", &row.id))?,
        status: AccountStatus::parse(&row.status).map_err(corrupt("account", &row.id))?,
        credit_limit: money(row.credit_limit_units),
        tolerance: money(row.tolerance_units),
        id: row.id,
        document: row.document,
        name: row.name,
        email: row.email,
        currency: row.currency,
        created_at: row.created_at,
        updated_at: row.updated_at,
        version: row.version,
    })
}

pub(super) fn order(row: order::Model) -> Order {
    Order {
        id: row.id,
        account_id: row.account_id,
        value: money(row.value_units),
        currency: row.currency,
        created_at: row.created_at,
    }
}

pub(super) fn invoice(row: invoice::Model) -> StoreResult<Invoice> {
    Ok(Invoice {
        stored_status: InvoiceStatus::parse(&row.status).map_err(corrupt("invoice", &row.id))?,
        value: money(row.value_units),
        id: row.id,
        friendly_id: row.friendly_id,
        account_id: row.account_id,
        order_id: row.order_id,
        installment: row.installment,
        number_of_installments: row.number_of_installments,
        currency: row.currency,
        original_due_date: row.original_due_date,
        due_date: row.due_date,
        payment_link: row.payment_link,
        observation: row.observation,
        created_at: row.created_at,
        updated_at: row.updated_at,
        resolved_at: row.resolved_at,
        version: row.version,
    })
}

pub(super) fn event(row: invoice_event::Model) -> StoreResult<InvoiceEvent> {
    let status = |text: Option<String>| {
        text.map(|t| InvoiceStatus::parse(&t))
            .transpose()
            .map_err(corrupt("event of invoice", &row.invoice_id))
    };
    Ok(InvoiceEvent {
        status_from: status(row.status_from.clone())?,
        status_to: status(row.status_to.clone())?,
        source: ChangeSource::parse(&row.source).map_err(corrupt("event", &row.invoice_id))?,
        seq: row.seq,
        invoice_id: row.invoice_id,
        payment_link_from: row.payment_link_from,
        payment_link_to: row.payment_link_to,
        observation_from: row.observation_from,
        observation_to: row.observation_to,
        due_date_from: row.due_date_from,
        due_date_to: row.due_date_to,
        reason: row.reason,
        actor: row.actor,
        import_id: row.import_id,
        occurred_at: row.occurred_at,
    })
}

#[cfg(test)]
mod tests {
    use sea_orm::{EntityTrait, IdenStatic, Iterable};

    use super::*;

    fn selected<E: EntityTrait>() -> Vec<String> {
        E::Column::iter().map(|c| c.as_str().to_owned()).collect()
    }

    #[test]
    fn rows_are_read_by_position_in_the_order_find_selects_them() {
        let listed = |fields: &[&str]| fields.iter().map(|f| f.to_string()).collect::<Vec<_>>();
        assert_eq!(
            listed(ByPosition::<invoice::Model>::FIELDS),
            selected::<invoice::Entity>()
        );
        assert_eq!(
            listed(ByPosition::<account::Model>::FIELDS),
            selected::<account::Entity>()
        );
        assert_eq!(
            listed(ByPosition::<order::Model>::FIELDS),
            selected::<order::Entity>()
        );
    }
}
