//! The receivables aging report, computed by the database: one pass over the unpaid
//! invoices for the totals per currency and bucket, and one per currency for the accounts
//! with the most past due.

use chrono::NaiveDate;
use entity::invoice;
use sea_orm::sea_query::{Alias, Expr, SimpleExpr};
use sea_orm::{ColumnTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Value};

use super::invoices::{SUM_HIGH, SUM_LOW, parse_sum};
use super::{Store, StoreError, StoreResult};
use crate::domain::{AgingBucket, AgingTotal, InvoiceStatus, OverdueAccount};

use invoice::Column as C;

/// Currency, bucket, count, and the value's sum in two halves (see `SUM_HIGH`).
type BucketRow = (String, i64, i64, Option<String>, Option<String>);

/// Unpaid: open, or overdue (stored so by the sweeper, or open and past due).
fn unpaid() -> SimpleExpr {
    C::Status.is_in([
        InvoiceStatus::Open.as_str(),
        InvoiceStatus::Overdue.as_str(),
    ])
}

/// The bucket number of each invoice as of `as_of` (see [`AgingBucket::bounds`]).
fn bucket(backend: DbBackend, as_of: NaiveDate) -> SimpleExpr {
    let marks: Vec<String> = (1..=4)
        .map(|n| match backend {
            DbBackend::Postgres => format!("${n}"),
            _ => "?".to_owned(),
        })
        .collect();
    let sql = format!(
        "CAST(CASE WHEN due_date >= {} THEN 0 WHEN due_date >= {} THEN 1 \
         WHEN due_date >= {} THEN 2 WHEN due_date >= {} THEN 3 ELSE 4 END AS BIGINT)",
        marks[0], marks[1], marks[2], marks[3]
    );
    Expr::cust_with_values(sql, AgingBucket::bounds(as_of).map(Value::from))
}

impl Store {
    /// Count and value of the unpaid invoices (of `account`, or all) per currency and
    /// bucket, as of `as_of`. Buckets with no invoice are absent.
    pub async fn aging_totals(
        &self,
        account: Option<&str>,
        as_of: NaiveDate,
    ) -> StoreResult<Vec<AgingTotal>> {
        let mut query = invoice::Entity::find()
            .select_only()
            .column(C::Currency)
            .expr_as(bucket(self.backend(), as_of), "bucket")
            .expr_as(Expr::cust("COUNT(*)"), "invoices")
            .expr_as(Expr::cust(SUM_HIGH), "units_high")
            .expr_as(Expr::cust(SUM_LOW), "units_low")
            .filter(unpaid());
        if let Some(account) = account {
            query = query.filter(C::AccountId.eq(account));
        }
        let rows: Vec<BucketRow> = query
            .group_by(C::Currency)
            .group_by(Expr::col(Alias::new("bucket")))
            .into_tuple()
            .all(&self.db)
            .await?;
        rows.into_iter()
            .map(|(currency, bucket, count, high, low)| {
                Ok(AgingTotal {
                    bucket: AgingBucket::from_index(bucket)
                        .ok_or_else(|| StoreError::Corrupt(format!("aging bucket {bucket}")))?,
                    currency,
                    count,
                    value: parse_sum(high, low)?,
                })
            })
            .collect()
    }

    /// The accounts with the most value past due on `as_of` in `currency`, most first (then
    /// by id), at most `limit`.
    pub async fn most_overdue_accounts(
        &self,
        account: Option<&str>,
        currency: &str,
        as_of: NaiveDate,
        limit: u64,
    ) -> StoreResult<Vec<OverdueAccount>> {
        let mut query = invoice::Entity::find()
            .select_only()
            .column(C::AccountId)
            .expr_as(Expr::cust("COUNT(*)"), "invoices")
            .expr_as(Expr::cust(SUM_HIGH), "units_high")
            .expr_as(Expr::cust(SUM_LOW), "units_low")
            .filter(unpaid())
            .filter(C::Currency.eq(currency))
            .filter(C::DueDate.lt(as_of));
        if let Some(account) = account {
            query = query.filter(C::AccountId.eq(account));
        }
        let rows: Vec<(String, i64, Option<String>, Option<String>)> = query
            .group_by(C::AccountId)
            // SQLite's SUM of integers fails past i64; its TOTAL is a float, fine to order by.
            .order_by_desc(Expr::cust(match self.backend() {
                DbBackend::Postgres => "SUM(value_units)",
                _ => "TOTAL(value_units)",
            }))
            .order_by_asc(C::AccountId)
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?;
        rows.into_iter()
            .map(|(account_id, count, high, low)| {
                Ok(OverdueAccount {
                    account_id,
                    currency: currency.to_owned(),
                    count,
                    value: parse_sum(high, low)?,
                })
            })
            .collect()
    }
}
