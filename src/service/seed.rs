//! `seed`: a synthetic store at any scale, for benchmarks (DESIGN section 7). Accounts own
//! orders; an order is billed in one to three installments until the wanted number of
//! invoices exists (later orders stay unbilled); invoices are about 60 % open, 25 % paid,
//! 5 % cancelled and 10 % overdue. Everything derives from the row's number, so two seeds
//! of the same scale hold the same store. Rows go in with multi-row inserts, one
//! transaction per batch.

use chrono::{Duration, SubsecRound, Utc};

use super::{AppError, UseCases};
use crate::domain::{
    Account, AccountStatus, ChangeSource, DocumentType, InvoiceStatus, Money, Order,
};
use crate::store::NewInvoice;

/// How big a store to make.
#[derive(Clone, Copy, Debug)]
pub struct SeedScale {
    pub accounts: u64,
    pub orders: u64,
    pub invoices: u64,
}

/// Invoices (with their orders) written per transaction.
const BATCH: u64 = 10_000;

/// A well-mixed number from a row's number (SplitMix64), for deterministic variety.
fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn account_id(n: u64) -> String {
    format!("ACC-{n:07}")
}

impl UseCases {
    /// Fills an empty database with a synthetic store; `progress` hears the invoices
    /// written so far.
    pub async fn seed(
        &self,
        scale: SeedScale,
        mut progress: impl FnMut(u64),
    ) -> Result<(), AppError> {
        if self.store.has_accounts().await? {
            return Err(AppError::Forbidden(
                "the database already holds accounts: seed an empty one".into(),
            ));
        }
        let accounts = scale.accounts.max(1);
        let now = Utc::now().trunc_subsecs(6);
        let today = self.today();
        let mut batch_accounts: Vec<Account> = Vec::new();
        for n in 0..accounts {
            batch_accounts.push(Account {
                id: account_id(n),
                document: format!("{:011}", mix(n) % 100_000_000_000),
                document_type: DocumentType::Cpf,
                name: format!("Customer {n}"),
                email: format!("customer{n}@example.com"),
                currency: "BRL".into(),
                credit_limit: Money::from_units(((mix(n) % 500) as i64 + 10) * 100 * 10_000),
                tolerance: Money::from_units(1_000),
                status: AccountStatus::Open,
                created_at: now,
                updated_at: now,
                version: 1,
            });
            if batch_accounts.len() as u64 == BATCH {
                self.store
                    .insert_all(&batch_accounts, &[], &[], "seed", ChangeSource::Seed)
                    .await?;
                batch_accounts.clear();
            }
        }
        self.store
            .insert_all(&batch_accounts, &[], &[], "seed", ChangeSource::Seed)
            .await?;

        let (mut orders, mut invoices) = (Vec::new(), Vec::new());
        let mut written = 0_u64;
        for n in 0..scale.orders {
            let r = mix(n);
            let order = Order {
                id: format!("ORD-{n:07}"),
                account_id: account_id(r % accounts),
                value: Money::from_units(((r >> 8) % 499_000 + 1_000) as i64 * 100),
                currency: "BRL".into(),
                created_at: now - Duration::days((r >> 24) as i64 % 365),
            };
            let installments = ((r >> 40) % 3 + 1).min(scale.invoices.saturating_sub(written));
            for k in 1..=installments {
                invoices.push(installment(&order, k, installments, written, today, now));
                written += 1;
            }
            orders.push(order);
            if invoices.len() as u64 >= BATCH || orders.len() as u64 >= BATCH {
                self.store
                    .insert_all(&[], &orders, &invoices, "seed", ChangeSource::Seed)
                    .await?;
                (orders, invoices) = (Vec::new(), Vec::new());
                progress(written);
            }
        }
        self.store
            .insert_all(&[], &orders, &invoices, "seed", ChangeSource::Seed)
            .await?;
        progress(written);
        Ok(())
    }
}

/// Installment `k` of `of` of an order; `n` is the invoice's number in the store.
fn installment(
    order: &Order,
    k: u64,
    of: u64,
    n: u64,
    today: chrono::NaiveDate,
    now: chrono::DateTime<Utc>,
) -> NewInvoice {
    let share = order.value.units() / of as i64;
    let value = if k == of {
        order.value.units() - share * (of as i64 - 1)
    } else {
        share
    };
    let r = mix(n ^ 0x5EED);
    let (due, later) = match r % 100 {
        0..60 => (today + Duration::days((r >> 8) as i64 % 90 + 1), None),
        60..85 => (
            today - Duration::days((r >> 8) as i64 % 60),
            Some(InvoiceStatus::Paid),
        ),
        85..90 => (
            today + Duration::days((r >> 8) as i64 % 30),
            Some(InvoiceStatus::Cancelled),
        ),
        _ => (
            today - Duration::days((r >> 8) as i64 % 60 + 1),
            Some(InvoiceStatus::Overdue),
        ),
    };
    NewInvoice {
        id: format!("{}-{k}", order.id.replacen("ORD", "INV", 1)),
        friendly_id: format!("S{n:09}-{k}"),
        account_id: order.account_id.clone(),
        order_id: order.id.clone(),
        installment: k as i32,
        number_of_installments: of as i32,
        value: Money::from_units(value),
        currency: "BRL".into(),
        due_date: due,
        payment_link: r
            .is_multiple_of(7)
            .then(|| format!("https://pay.example.com/i/{n}")),
        observation: None,
        created_at: order.created_at,
        later_statuses: later.map(|s| vec![(s, now)]).unwrap_or_default(),
    }
}
