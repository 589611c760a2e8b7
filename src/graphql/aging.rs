//! `receivablesAging`: unpaid invoices by how long they are past due, per currency.

use std::sync::Arc;

use async_graphql::{Context, ID, Object, SimpleObject};

use super::error::GqlResult;
use super::limits::COUNT_PRICE;
use super::loaders::{AccountKey, Loaders};
use super::scalars::{Date, Decimal};
use super::types::Account;
use super::{RequestContext, principal};
use crate::domain::{self, AgingBucket};
use crate::service::UseCases;

/// How many unpaid invoices, and their value.
#[derive(SimpleObject, Clone, Debug)]
pub struct AgingAmount {
    /// How many invoices.
    count: i64,
    /// Their summed value, exact.
    value: Decimal,
}

/// One currency's unpaid invoices (open or overdue) by days past due on the report's date.
#[derive(SimpleObject, Clone, Debug)]
pub struct CurrencyAging {
    /// ISO 4217 currency code.
    currency: String,
    /// Due on the report's date or later.
    not_due: AgingAmount,
    /// 1 to 30 days past due.
    #[graphql(name = "days1To30")]
    days_1_to_30: AgingAmount,
    /// 31 to 60 days past due.
    #[graphql(name = "days31To60")]
    days_31_to_60: AgingAmount,
    /// 61 to 90 days past due.
    #[graphql(name = "days61To90")]
    days_61_to_90: AgingAmount,
    /// More than 90 days past due.
    #[graphql(name = "over90")]
    over_90: AgingAmount,
    /// Every bucket past due together.
    past_due: AgingAmount,
    /// Every unpaid invoice.
    total: AgingAmount,
    /// The accounts with the most value past due (at most ten), most first.
    most_overdue_accounts: Vec<OverdueAccount>,
}

#[derive(Clone, Debug)]
pub struct OverdueAccount(domain::OverdueAccount);

/// An account's invoices past due in one currency.
#[Object]
impl OverdueAccount {
    /// The account's id.
    async fn account_id(&self) -> ID {
        ID(self.0.account_id.clone())
    }

    /// The account.
    async fn account(&self, ctx: &Context<'_>) -> GqlResult<Option<Account>> {
        Ok(ctx
            .data_unchecked::<Loaders>()
            .load_one(AccountKey(self.0.account_id.clone()))
            .await?
            .map(|a: Arc<domain::Account>| Account(a)))
    }

    /// How many of its invoices are past due.
    async fn count(&self) -> i64 {
        self.0.count
    }

    /// Their summed value, exact.
    async fn value(&self) -> Decimal {
        Decimal(self.0.value)
    }
}

/// The aging report of a date.
#[derive(SimpleObject, Clone, Debug)]
pub struct ReceivablesAging {
    /// The date the days past due are counted to.
    as_of: Date,
    /// One entry per currency with unpaid invoices, by currency code.
    currencies: Vec<CurrencyAging>,
}

impl From<domain::ReceivablesAging> for ReceivablesAging {
    fn from(report: domain::ReceivablesAging) -> Self {
        let mut codes: Vec<&str> = report.totals.iter().map(|t| t.currency.as_str()).collect();
        codes.sort_unstable();
        codes.dedup();
        let currencies = codes
            .into_iter()
            .map(|currency| {
                let amount = |pick: &dyn Fn(AgingBucket) -> bool| {
                    let rows = report
                        .totals
                        .iter()
                        .filter(|t| t.currency == currency && pick(t.bucket));
                    AgingAmount {
                        count: rows.clone().map(|t| t.count).sum(),
                        value: Decimal(rows.map(|t| t.value).sum()),
                    }
                };
                let of = |bucket: AgingBucket| amount(&move |b| b == bucket);
                CurrencyAging {
                    currency: currency.to_owned(),
                    not_due: of(AgingBucket::NotDue),
                    days_1_to_30: of(AgingBucket::Days1To30),
                    days_31_to_60: of(AgingBucket::Days31To60),
                    days_61_to_90: of(AgingBucket::Days61To90),
                    over_90: of(AgingBucket::Over90),
                    past_due: amount(&|b| b != AgingBucket::NotDue),
                    total: amount(&|_| true),
                    most_overdue_accounts: report
                        .most_overdue
                        .iter()
                        .filter(|a| a.currency == currency)
                        .cloned()
                        .map(OverdueAccount)
                        .collect(),
                }
            })
            .collect();
        ReceivablesAging {
            as_of: Date(report.as_of),
            currencies,
        }
    }
}

#[derive(Default)]
pub struct AgingQuery;

#[Object]
impl AgingQuery {
    /// Unpaid invoices (open or overdue) by how long they are past due on `asOf`: per
    /// currency, not yet due, 1-30, 31-60, 61-90 and over 90 days, with the ten accounts
    /// most past due. Invoices are unpaid as they are now (a past `asOf` ages today's
    /// unpaid invoices on that date). Customers get their own account's report.
    #[graphql(complexity = "COUNT_PRICE")]
    async fn receivables_aging(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The date to age to, in the store's time zone; today when absent.")]
        as_of: Option<Date>,
        #[graphql(desc = "Only this credit account's invoices.")] account_id: Option<ID>,
    ) -> GqlResult<ReceivablesAging> {
        let who = principal(ctx)?;
        let account = account_id.map(|id| domain::Id::parse(id.0)).transpose()?;
        let as_of = as_of
            .map(|d| d.0)
            .or(Some(ctx.data_unchecked::<RequestContext>().today));
        let report = ctx
            .data_unchecked::<UseCases>()
            .receivables_aging(who, as_of, account.as_ref())
            .await?;
        Ok(report.into())
    }
}
