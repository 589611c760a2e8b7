//! Inserts of accounts, orders and invoices, each invoice with the event that records its
//! creation, in one transaction per batch.

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use entity::{account, invoice, invoice_event, order};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    SqlErr, TransactionTrait,
};

use super::{Store, StoreResult};
use crate::domain::{
    Account, ChangeSource, Invoice, InvoiceStatus, Money, Order, Refusal, RefusalCode,
};

/// An invoice to create, with the status history it already has (demo data and imports
/// from other systems may start past `OPEN`).
#[derive(Clone, Debug)]
pub struct NewInvoice {
    pub id: String,
    pub friendly_id: String,
    pub account_id: String,
    pub order_id: String,
    pub installment: i32,
    pub number_of_installments: i32,
    pub value: Money,
    pub currency: String,
    pub due_date: NaiveDate,
    pub payment_link: Option<String>,
    pub observation: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Statuses it went through after `OPEN`, with when.
    pub later_statuses: Vec<(InvoiceStatus, DateTime<Utc>)>,
}

fn event(
    invoice_id: &str,
    from: Option<InvoiceStatus>,
    to: InvoiceStatus,
    actor: &str,
    source: ChangeSource,
    at: DateTime<Utc>,
) -> invoice_event::ActiveModel {
    invoice_event::ActiveModel {
        invoice_id: Set(invoice_id.to_owned()),
        status_from: Set(from.map(|s| s.as_str().to_owned())),
        status_to: Set(Some(to.as_str().to_owned())),
        payment_link_from: Set(None),
        payment_link_to: Set(None),
        observation_from: Set(None),
        observation_to: Set(None),
        due_date_from: Set(None),
        due_date_to: Set(None),
        reason: Set(None),
        actor: Set(actor.to_owned()),
        source: Set(source.as_str().to_owned()),
        import_id: Set(None),
        occurred_at: Set(at),
        ..Default::default()
    }
}

impl Store {
    pub async fn has_accounts(&self) -> StoreResult<bool> {
        Ok(account::Entity::find().count(&self.db).await? > 0)
    }

    /// Inserts accounts, orders and invoices (with their history) in one transaction, a
    /// few multi-row statements for thousands of rows.
    pub async fn insert_all(
        &self,
        accounts: &[Account],
        orders: &[Order],
        invoices: &[NewInvoice],
        actor: &str,
        source: ChangeSource,
    ) -> StoreResult<()> {
        let txn = self.db.begin().await?;
        insert_chunked::<account::Entity, _>(&txn, accounts.iter().map(account_row)).await?;
        insert_chunked::<order::Entity, _>(&txn, orders.iter().map(order_row)).await?;
        let mut events = Vec::with_capacity(invoices.len());
        let rows: Vec<_> = invoices
            .iter()
            .map(|new| {
                let (row, history) = invoice_rows(new, actor, source);
                events.extend(history);
                row
            })
            .collect();
        insert_chunked::<invoice::Entity, _>(&txn, rows).await?;
        insert_chunked::<invoice_event::Entity, _>(&txn, events).await?;
        self.commit_announcing(txn).await?;
        Ok(())
    }
}

/// Inserts rows sixty per statement: few enough that a statement's parameters fit in one
/// socket write (see `store::WIRE_BUDGET`; a row here is at most a few hundred bytes).
async fn insert_chunked<E, A>(
    db: &impl ConnectionTrait,
    rows: impl IntoIterator<Item = A>,
) -> StoreResult<()>
where
    E: EntityTrait,
    A: sea_orm::ActiveModelTrait<Entity = E>,
{
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(60).collect();
        E::insert_many(chunk).exec_without_returning(db).await?;
    }
    Ok(())
}

/// An invoice's row and its events: its creation, then each later status.
fn invoice_rows(
    new: &NewInvoice,
    actor: &str,
    source: ChangeSource,
) -> (invoice::ActiveModel, Vec<invoice_event::ActiveModel>) {
    let mut events = vec![event(
        &new.id,
        None,
        InvoiceStatus::Open,
        actor,
        source,
        new.created_at,
    )];
    let mut status = InvoiceStatus::Open;
    let mut updated_at = new.created_at;
    let mut resolved_at = None;
    for &(next, at) in &new.later_statuses {
        events.push(event(&new.id, Some(status), next, actor, source, at));
        status = next;
        updated_at = at;
        if matches!(next, InvoiceStatus::Paid | InvoiceStatus::Cancelled) {
            resolved_at = Some(at);
        }
    }
    let row = invoice::ActiveModel {
        id: Set(new.id.clone()),
        friendly_id: Set(new.friendly_id.clone()),
        account_id: Set(new.account_id.clone()),
        order_id: Set(new.order_id.clone()),
        installment: Set(new.installment),
        number_of_installments: Set(new.number_of_installments),
        value_units: Set(new.value.units()),
        currency: Set(new.currency.clone()),
        original_due_date: Set(new.due_date),
        due_date: Set(new.due_date),
        status: Set(status.as_str().to_owned()),
        payment_link: Set(new.payment_link.clone()),
        observation: Set(new.observation.clone()),
        // Microseconds, as PostgreSQL keeps them: SQLite would keep nanoseconds as text,
        // and keyset cursors over created_at carry microseconds.
        created_at: Set(new.created_at.trunc_subsecs(6)),
        updated_at: Set(updated_at.trunc_subsecs(6)),
        resolved_at: Set(resolved_at),
        // Version counts changes: one per recorded event.
        version: Set(events.len() as i32),
    };
    (row, events)
}

impl Store {
    /// Inserts an account, or updates every field but `created_at` of an existing one
    /// (bumping its version), under the row's lock. With `expected_version`, refuses
    /// (writing nothing) unless the account exists at that version.
    pub async fn upsert_account(
        &self,
        a: &Account,
        expected_version: Option<i32>,
    ) -> StoreResult<Result<Account, Refusal>> {
        let txn = self.db.begin().await?;
        let existing = self
            .find_locked::<account::Entity>(&txn, account::Column::Id, a.id.as_str())
            .await?;
        let current = existing.as_ref().map(|row| row.version);
        if let Some(expected) = expected_version
            && current != Some(expected)
        {
            let message = match current {
                Some(v) => format!(
                    "the account is at version {v}, not {expected}: reload it and try again"
                ),
                None => format!("account `{}` does not exist yet", a.id),
            };
            return Ok(Err(Refusal {
                code: RefusalCode::VersionConflict,
                field: Some("expectedVersion"),
                message,
            }));
        }
        let row = match existing {
            Some(old) => Account {
                created_at: old.created_at,
                version: old.version + 1,
                ..a.clone()
            },
            None => Account {
                version: 1,
                ..a.clone()
            },
        };
        if current.is_some() {
            account::Entity::update(account_row(&row))
                .exec(&txn)
                .await?;
        } else {
            account::Entity::insert(account_row(&row))
                .exec_without_returning(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(Ok(row))
    }

    /// Creates one invoice, registering its order with it when the order is new, in one
    /// transaction. Refused (writing nothing) when the account is unknown, the order
    /// belongs to another account, or the invoice id is taken.
    pub async fn create_invoice(
        &self,
        new: &NewInvoice,
        new_order: Option<&Order>,
        actor: &str,
        source: ChangeSource,
    ) -> StoreResult<Result<Invoice, Refusal>> {
        let refuse = |code, field, message: String| {
            Ok(Err(Refusal {
                code,
                field: Some(field),
                message,
            }))
        };
        let txn = self.db.begin().await?;
        // Creations for one account queue on its row (on SQLite, on the database's write
        // lock, taken now by a no-op write), so the checks below see every earlier commit.
        let account = self
            .find_locked::<account::Entity>(&txn, account::Column::Id, new.account_id.as_str())
            .await?;
        if account.is_none() {
            return refuse(
                RefusalCode::NotFound,
                "accountId",
                format!("no account `{}`", new.account_id),
            );
        }
        match order::Entity::find_by_id(new.order_id.as_str())
            .one(&txn)
            .await?
        {
            Some(existing) if existing.account_id != new.account_id => {
                return refuse(
                    RefusalCode::InvalidInput,
                    "orderId",
                    format!("order `{}` belongs to another account", new.order_id),
                );
            }
            Some(existing) if existing.currency != new.currency => {
                return refuse(
                    RefusalCode::InvalidInput,
                    "currency",
                    format!("order `{}` is in {}", new.order_id, existing.currency),
                );
            }
            Some(_) => {}
            None => match new_order {
                Some(o) => {
                    order::Entity::insert(order_row(o))
                        .exec_without_returning(&txn)
                        .await?;
                }
                None => {
                    return refuse(
                        RefusalCode::InvalidInput,
                        "orderValue",
                        format!(
                            "order `{}` is new: give its orderValue to register it",
                            new.order_id
                        ),
                    );
                }
            },
        }
        if invoice::Entity::find_by_id(new.id.as_str())
            .one(&txn)
            .await?
            .is_some()
        {
            return refuse(
                RefusalCode::AlreadyExists,
                "id",
                format!("invoice `{}` already exists", new.id),
            );
        }
        let siblings = invoice::Entity::find()
            .filter(invoice::Column::OrderId.eq(new.order_id.as_str()))
            .all(&txn)
            .await?;
        if let Some(other) = siblings
            .iter()
            .find(|i| i.number_of_installments != new.number_of_installments)
        {
            return refuse(
                RefusalCode::InvalidInput,
                "numberOfInstallments",
                format!(
                    "the order's other invoices have {} installments",
                    other.number_of_installments
                ),
            );
        }
        if siblings.iter().any(|i| i.installment == new.installment) {
            return refuse(
                RefusalCode::AlreadyExists,
                "installment",
                format!("the order already has installment {}", new.installment),
            );
        }
        // Another account's creator may take the same id meanwhile: the key decides.
        let (row, events) = invoice_rows(new, actor, source);
        let inserted = async {
            invoice::Entity::insert(row)
                .exec_without_returning(&txn)
                .await?;
            insert_chunked::<invoice_event::Entity, _>(&txn, events).await
        };
        if let Err(e) = inserted.await {
            return match &e {
                super::StoreError::Db(db)
                    if matches!(db.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) =>
                {
                    refuse(
                        RefusalCode::AlreadyExists,
                        "id",
                        format!("invoice `{}` already exists", new.id),
                    )
                }
                _ => Err(e),
            };
        }
        self.commit_announcing(txn).await?;
        let created = self.invoice(&new.id).await?.ok_or_else(|| {
            super::StoreError::Corrupt(format!("invoice {} vanished after its insert", new.id))
        })?;
        Ok(Ok(created))
    }
}

fn order_row(o: &Order) -> order::ActiveModel {
    order::ActiveModel {
        id: Set(o.id.clone()),
        account_id: Set(o.account_id.clone()),
        value_units: Set(o.value.units()),
        currency: Set(o.currency.clone()),
        created_at: Set(o.created_at),
    }
}

fn account_row(a: &Account) -> account::ActiveModel {
    account::ActiveModel {
        id: Set(a.id.clone()),
        document: Set(a.document.clone()),
        document_type: Set(a.document_type.as_str().to_owned()),
        name: Set(a.name.clone()),
        email: Set(a.email.clone()),
        currency: Set(a.currency.clone()),
        credit_limit_units: Set(a.credit_limit.units()),
        tolerance_units: Set(a.tolerance.units()),
        status: Set(a.status.as_str().to_owned()),
        created_at: Set(a.created_at),
        updated_at: Set(a.updated_at),
        version: Set(a.version),
    }
}
