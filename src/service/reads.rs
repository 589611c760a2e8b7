//! Read use cases. Listings take the caller's `today` (one per request, so that every
//! part of a response agrees on what is overdue). Customers are confined to their own account here, once, so that no
//! query can forget it: another account's invoice is simply not found.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::{AppError, UseCases};
use crate::auth::Principal;
use crate::domain::{
    Account, Cursor, Id, Invoice, InvoiceEvent, InvoiceFilter, InvoiceOrder, Order, PageDirection,
    PageRequest, StatusTotal,
};
pub use crate::store::{Listed, Relations};

/// One page of a listing, in the listing's order.
#[derive(Clone, Debug)]
pub struct InvoicePage {
    /// The page's invoices, each with its account and its order when they were asked for
    /// and exist.
    pub rows: Vec<Listed>,
    pub order: InvoiceOrder,
    pub has_next_page: bool,
    pub has_previous_page: bool,
}

impl InvoicePage {
    pub fn cursor_of(&self, invoice: &Invoice) -> String {
        Cursor::of(self.order.field, invoice).encode()
    }
}

/// The filter narrowed to what `who` may see, or `None` when it can match nothing.
fn scoped(who: &Principal, filter: &InvoiceFilter) -> Option<InvoiceFilter> {
    let mut filter = filter.clone();
    if let Some(own) = who.account_scope() {
        if !filter.any
            && filter
                .account_id
                .as_deref()
                .is_some_and(|asked| asked != own)
        {
            return None;
        }
        filter.confined_to = Some(own.to_owned());
    }
    Some(filter)
}

/// Whether `who` may see what belongs to `account_id`: customers their own account's
/// only, everyone else all.
pub fn visible(who: &Principal, account_id: &str) -> bool {
    who.account_scope().is_none_or(|own| own == account_id)
}

impl UseCases {
    /// The page request for Relay's arguments, checked against the configured cap.
    pub fn page_request(
        &self,
        order: InvoiceOrder,
        first: Option<i32>,
        after: Option<&str>,
        last: Option<i32>,
        before: Option<&str>,
    ) -> Result<PageRequest, AppError> {
        let s = self.settings();
        Ok(PageRequest::parse(
            first,
            after,
            last,
            before,
            order.field,
            s.default_page_size,
            s.max_page_size,
        )?)
    }

    pub async fn invoices(
        &self,
        who: &Principal,
        filter: &InvoiceFilter,
        order: InvoiceOrder,
        page: &PageRequest,
        today: NaiveDate,
        with: Relations,
    ) -> Result<InvoicePage, AppError> {
        filter.check()?;
        let Some(filter) = scoped(who, filter) else {
            return Ok(InvoicePage {
                rows: vec![],
                order,
                has_next_page: false,
                has_previous_page: false,
            });
        };
        let mut rows = self
            .store
            .invoice_page(&filter, order, page, today, with)
            .await?;
        let more = rows.len() as u64 > page.size;
        rows.truncate(page.size as usize);
        let from_cursor = page.cursor.is_some();
        Ok(match page.direction {
            PageDirection::Forward => InvoicePage {
                rows,
                order,
                has_next_page: more,
                has_previous_page: from_cursor,
            },
            PageDirection::Backward => {
                rows.reverse();
                InvoicePage {
                    rows,
                    order,
                    has_next_page: from_cursor,
                    has_previous_page: more,
                }
            }
        })
    }

    /// The invoices at positions `offset + 1 ..= offset + limit` of the filter's listing
    /// in creation order, oldest first (the Customer Credit API's `from` and `to`).
    pub async fn invoices_at(
        &self,
        who: &Principal,
        filter: &InvoiceFilter,
        offset: u64,
        limit: u64,
        today: NaiveDate,
    ) -> Result<Vec<Invoice>, AppError> {
        filter.check()?;
        match scoped(who, filter) {
            Some(filter) => Ok(self
                .store
                .invoice_slice(&filter, today, offset, limit)
                .await?),
            None => Ok(vec![]),
        }
    }

    pub async fn count_invoices(
        &self,
        who: &Principal,
        filter: &InvoiceFilter,
        today: NaiveDate,
    ) -> Result<u64, AppError> {
        filter.check()?;
        match scoped(who, filter) {
            Some(filter) => Ok(self.store.count_invoices(&filter, today).await?),
            None => Ok(0),
        }
    }

    pub async fn status_totals(
        &self,
        who: &Principal,
        filter: &InvoiceFilter,
        today: NaiveDate,
    ) -> Result<Vec<StatusTotal>, AppError> {
        filter.check()?;
        match scoped(who, filter) {
            Some(filter) => Ok(self.store.status_totals(&filter, today).await?),
            None => Ok(vec![]),
        }
    }

    pub async fn invoice(&self, who: &Principal, id: &Id) -> Result<Option<Invoice>, AppError> {
        let invoice = self.store.invoice(id).await?;
        Ok(invoice.filter(|i| visible(who, &i.account_id)))
    }

    pub async fn account(&self, who: &Principal, id: &Id) -> Result<Option<Account>, AppError> {
        if !visible(who, id) {
            return Ok(None);
        }
        Ok(self.store.account(id).await?)
    }

    // Batched lookups for the GraphQL DataLoaders. Their keys come from invoices the
    // caller could already see, so they need no scope of their own.

    /// Unlike the others, its keys may come from the caller (federation's `_entities`):
    /// whoever uses it checks `visible` on what it returns.
    pub async fn invoices_by_id(&self, ids: &[String]) -> Result<Vec<Invoice>, AppError> {
        Ok(self.store.invoices(ids).await?)
    }

    pub async fn accounts_by_id(&self, ids: &[String]) -> Result<Vec<Account>, AppError> {
        Ok(self.store.accounts(ids).await?)
    }

    pub async fn orders_by_id(&self, ids: &[String]) -> Result<Vec<Order>, AppError> {
        Ok(self.store.orders(ids).await?)
    }

    pub async fn open_balances(
        &self,
        account_ids: &[String],
    ) -> Result<Vec<(String, Decimal)>, AppError> {
        Ok(self.store.open_balances(account_ids).await?)
    }

    pub async fn histories(&self, invoice_ids: &[String]) -> Result<Vec<InvoiceEvent>, AppError> {
        Ok(self.store.events_of(invoice_ids).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_customer_is_confined_to_its_own_account() {
        let customer = Principal::Customer {
            subject: "c".into(),
            account_id: "A".into(),
        };
        let mine = scoped(&customer, &InvoiceFilter::default()).unwrap();
        assert_eq!(mine.confined_to.as_deref(), Some("A"));
        let theirs = InvoiceFilter {
            account_id: Some(Id::parse("B").unwrap()),
            ..Default::default()
        };
        assert_eq!(scoped(&customer, &theirs), None);
        let admin = Principal::Admin {
            subject: "a".into(),
        };
        assert_eq!(scoped(&admin, &theirs), Some(theirs));
    }
}
