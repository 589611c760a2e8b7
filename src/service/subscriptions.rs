//! Subscribing to status changes: who may hear what. A customer hears its own account's
//! changes only, on replay as well as live; an admin hears every account's, optionally
//! narrowed to one.

use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::{AppError, Gateway};
use crate::auth::Principal;
use crate::domain::{FeedFilter, FeedPosition, Invoice, InvoiceEvent, InvoiceStatus, check_id};

/// One status change as a subscriber receives it.
#[derive(Clone, Debug)]
pub struct StatusChange {
    /// Where to resume after this change.
    pub cursor: String,
    pub event: InvoiceEvent,
    /// The invoice as it is when the change is delivered, its status as of today (so a
    /// client's cache holds the latest state even on replay).
    pub invoice: Invoice,
}

impl Gateway {
    /// The position of "now" in the feed, as a cursor (any principal may have one: it
    /// reveals nothing).
    pub async fn status_change_cursor(&self, _who: &Principal) -> Result<String, AppError> {
        let seen = self.store().feed_snapshot().await?;
        Ok(FeedPosition {
            seen,
            reading: None,
        }
        .encode())
    }

    /// The status changes `who` may hear that match the filter: those after `after`
    /// (a cursor from an earlier change), then live ones; without `after`, from now on.
    pub async fn status_changes(
        &self,
        who: &Principal,
        account_id: Option<String>,
        statuses: Vec<InvoiceStatus>,
        after: Option<&str>,
    ) -> Result<BoxStream<'static, Result<StatusChange, AppError>>, AppError> {
        if let Some(id) = &account_id {
            check_id(id)?;
        }
        let after = after.map(FeedPosition::decode).transpose()?;
        let account_id = match (who.account_scope(), account_id) {
            // Another account's invoices are simply not there for a customer.
            (Some(own), Some(asked)) if asked != own => {
                return Ok(futures_util::stream::pending().boxed());
            }
            (Some(own), _) => Some(own.to_owned()),
            (None, asked) => asked,
        };
        let filter = FeedFilter {
            account_id,
            statuses,
        };
        let subscription = self.events.subscribe(filter, after).await?;
        let gateway = self.clone();
        Ok(futures_util::stream::unfold(
            (subscription, gateway),
            |(mut subscription, gateway)| async move {
                let item = match subscription.next().await? {
                    Ok((change, position)) => {
                        let mut invoice = change.invoice.clone();
                        invoice.stored_status = invoice.status_on(gateway.today());
                        Ok(StatusChange {
                            cursor: position.encode(),
                            event: change.event.clone(),
                            invoice,
                        })
                    }
                    Err(e) => Err(AppError::from(e)),
                };
                Some((item, (subscription, gateway)))
            },
        )
        .boxed())
    }
}
