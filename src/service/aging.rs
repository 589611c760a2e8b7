//! The receivables aging report: unpaid invoices by days past due, scoped like every read.

use chrono::NaiveDate;

use super::{AppError, UseCases};
use crate::auth::Principal;
use crate::domain::{AgingBucket, Id, ReceivablesAging};

/// Accounts the aging report lists per currency.
pub const MOST_OVERDUE_ACCOUNTS: u64 = 10;

impl UseCases {
    /// The receivables aging report as of `as_of` (default: today), of one account or of
    /// all; a customer's is its own account's (another account's is empty).
    pub async fn receivables_aging(
        &self,
        who: &Principal,
        as_of: Option<NaiveDate>,
        account_id: Option<&Id>,
    ) -> Result<ReceivablesAging, AppError> {
        let as_of = as_of.unwrap_or_else(|| self.today());
        let empty = ReceivablesAging {
            as_of,
            totals: vec![],
            most_overdue: vec![],
        };
        let account = match (who.account_scope(), account_id) {
            (Some(own), Some(asked)) if asked.as_str() != own => return Ok(empty),
            (Some(own), _) => Some(own.to_owned()),
            (None, asked) => asked.map(|id| id.as_str().to_owned()),
        };
        let totals = self.store.aging_totals(account.as_deref(), as_of).await?;
        let mut overdue_in: Vec<&str> = totals
            .iter()
            .filter(|t| t.bucket != AgingBucket::NotDue)
            .map(|t| t.currency.as_str())
            .collect();
        overdue_in.sort_unstable();
        overdue_in.dedup();
        let mut most_overdue = Vec::new();
        for currency in overdue_in {
            most_overdue.extend(
                self.store
                    .most_overdue_accounts(
                        account.as_deref(),
                        currency,
                        as_of,
                        MOST_OVERDUE_ACCOUNTS,
                    )
                    .await?,
            );
        }
        Ok(ReceivablesAging {
            as_of,
            totals,
            most_overdue,
        })
    }
}
