//! Receivables aging: the unpaid invoices (open or overdue) of a date, by how long they
//! are past due on it. The buckets are whole days past due: not yet due (due that day or
//! later), 1 to 30, 31 to 60, 61 to 90, and over 90. An invoice's present status decides
//! whether it is unpaid: a report as of an earlier date ages today's unpaid invoices on
//! that date (it is not the ledger of that date).

use chrono::{Days, NaiveDate};
use rust_decimal::Decimal;

/// How long past due, in whole days.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AgingBucket {
    NotDue,
    Days1To30,
    Days31To60,
    Days61To90,
    Over90,
}

impl AgingBucket {
    pub const ALL: [AgingBucket; 5] = [
        AgingBucket::NotDue,
        AgingBucket::Days1To30,
        AgingBucket::Days31To60,
        AgingBucket::Days61To90,
        AgingBucket::Over90,
    ];

    /// The bucket of an invoice due on `due` as of `as_of`.
    pub fn of(due: NaiveDate, as_of: NaiveDate) -> AgingBucket {
        match (as_of - due).num_days() {
            ..=0 => AgingBucket::NotDue,
            1..=30 => AgingBucket::Days1To30,
            31..=60 => AgingBucket::Days31To60,
            61..=90 => AgingBucket::Days61To90,
            _ => AgingBucket::Over90,
        }
    }

    /// The earliest due date in each bucket but the last, as of `as_of`: an invoice due
    /// on or after `bounds[i]` (and before `bounds[i - 1]`) is in bucket `i`, one due
    /// before the last bound is over 90 days past due. (The store's one-pass query.)
    pub fn bounds(as_of: NaiveDate) -> [NaiveDate; 4] {
        let back = |days| {
            as_of
                .checked_sub_days(Days::new(days))
                .unwrap_or(NaiveDate::MIN)
        };
        [as_of, back(30), back(60), back(90)]
    }

    /// Its place in [`AgingBucket::ALL`] (the store's bucket number).
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn from_index(index: i64) -> Option<AgingBucket> {
        usize::try_from(index)
            .ok()
            .and_then(|i| AgingBucket::ALL.get(i).copied())
    }
}

/// The unpaid invoices of one currency in one bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgingTotal {
    pub currency: String,
    pub bucket: AgingBucket,
    pub count: i64,
    pub value: Decimal,
}

/// An account's invoices past due, in one currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverdueAccount {
    pub account_id: String,
    pub currency: String,
    pub count: i64,
    pub value: Decimal,
}

/// The aging report of a date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivablesAging {
    pub as_of: NaiveDate,
    /// Per currency and bucket; a bucket with no invoice is absent.
    pub totals: Vec<AgingTotal>,
    /// Per currency, the accounts with the most value past due, most first.
    pub most_overdue: Vec<OverdueAccount>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_turn_on_their_edges() {
        let as_of = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap();
        let due = |days_past: u64| as_of - Days::new(days_past);
        let cases = [
            (as_of + Days::new(5), AgingBucket::NotDue),
            (due(0), AgingBucket::NotDue),
            (due(1), AgingBucket::Days1To30),
            (due(30), AgingBucket::Days1To30),
            (due(31), AgingBucket::Days31To60),
            (due(60), AgingBucket::Days31To60),
            (due(61), AgingBucket::Days61To90),
            (due(90), AgingBucket::Days61To90),
            (due(91), AgingBucket::Over90),
            (due(4000), AgingBucket::Over90),
        ];
        for (due, expected) in cases {
            assert_eq!(AgingBucket::of(due, as_of), expected, "due {due}");
            // The store's bounds agree with the rule.
            let bounds = AgingBucket::bounds(as_of);
            let by_bounds = bounds
                .iter()
                .position(|bound| due >= *bound)
                .map_or(AgingBucket::Over90, |i| AgingBucket::ALL[i]);
            assert_eq!(by_bounds, expected, "bounds, due {due}");
        }
    }
}
