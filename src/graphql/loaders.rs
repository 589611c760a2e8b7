//! DataLoaders: the accounts, orders, open balances and histories of invoices, batched
//! and cached per request (a fresh loader per request, so the cache never serves another
//! request stale data).
//!
//! The loader's own batching waits a timer (1 ms) for keys to gather, which a long page
//! can outlast. A page therefore loads what its selection asks for before its invoices
//! resolve (see `connection::with_relations`): accounts and orders are read with the
//! page's invoices, in its one statement; open balances and histories are primed here,
//! one statement per relation per page, whatever the page size; none is read for
//! relations the query does not ask for. Values are shared (`Arc`), as every invoice of
//! an account gets the same account.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use rust_decimal::Decimal;

use crate::domain::{Account, Invoice, InvoiceEvent, Order};
use crate::service::{AppError, UseCases};

/// Loads through the gateway's batched lookups.
pub struct BatchLoader(pub UseCases);

pub type Loaders = DataLoader<BatchLoader, HashMapCache>;

/// A batch's load runs in a task of its own, in the span of the request that started it
/// (so that its statements belong to the request's trace).
pub fn new_loaders(gateway: UseCases) -> Loaders {
    let spawn = |load| tokio::spawn(tracing::Instrument::in_current_span(load));
    DataLoader::with_cache(BatchLoader(gateway), spawn, HashMapCache::default())
}

/// An invoice by id: only federation's `_entities` loads invoices this way.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InvoiceKey(pub String);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AccountKey(pub String);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OrderKey(pub String);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OpenBalanceKey(pub String);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HistoryKey(pub String);

fn ids<K>(keys: &[K], id: impl Fn(&K) -> &String) -> Vec<String> {
    keys.iter().map(|k| id(k).clone()).collect()
}

impl Loader<InvoiceKey> for BatchLoader {
    type Value = Arc<Invoice>;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[InvoiceKey],
    ) -> Result<HashMap<InvoiceKey, Arc<Invoice>>, AppError> {
        let invoices = self.0.invoices_by_id(&ids(keys, |k| &k.0)).await?;
        Ok(invoices
            .into_iter()
            .map(|i| (InvoiceKey(i.id.clone()), Arc::new(i)))
            .collect())
    }
}

impl Loader<AccountKey> for BatchLoader {
    type Value = Arc<Account>;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[AccountKey],
    ) -> Result<HashMap<AccountKey, Arc<Account>>, AppError> {
        let accounts = self.0.accounts_by_id(&ids(keys, |k| &k.0)).await?;
        Ok(accounts
            .into_iter()
            .map(|a| (AccountKey(a.id.clone()), Arc::new(a)))
            .collect())
    }
}

impl Loader<OrderKey> for BatchLoader {
    type Value = Arc<Order>;
    type Error = AppError;

    async fn load(&self, keys: &[OrderKey]) -> Result<HashMap<OrderKey, Arc<Order>>, AppError> {
        let orders = self.0.orders_by_id(&ids(keys, |k| &k.0)).await?;
        Ok(orders
            .into_iter()
            .map(|o| (OrderKey(o.id.clone()), Arc::new(o)))
            .collect())
    }
}

impl Loader<OpenBalanceKey> for BatchLoader {
    type Value = Decimal;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[OpenBalanceKey],
    ) -> Result<HashMap<OpenBalanceKey, Decimal>, AppError> {
        let sums = self.0.open_balances(&ids(keys, |k| &k.0)).await?;
        Ok(sums
            .into_iter()
            .map(|(id, sum)| (OpenBalanceKey(id), sum))
            .collect())
    }
}

impl Loader<HistoryKey> for BatchLoader {
    type Value = Vec<InvoiceEvent>;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[HistoryKey],
    ) -> Result<HashMap<HistoryKey, Vec<InvoiceEvent>>, AppError> {
        let mut histories: HashMap<HistoryKey, Vec<InvoiceEvent>> = HashMap::new();
        for event in self.0.histories(&ids(keys, |k| &k.0)).await? {
            histories
                .entry(HistoryKey(event.invoice_id.clone()))
                .or_default()
                .push(event);
        }
        Ok(histories)
    }
}
