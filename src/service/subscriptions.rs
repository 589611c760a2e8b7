//! Subscribing to status changes: who may hear what. A customer hears its own account's
//! changes only, on replay as well as live; an admin hears every account's, optionally
//! narrowed to one. Each principal holds a bounded number of live subscriptions in this
//! process, whatever connections they are spread over.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::{AppError, UseCases};
use crate::auth::Principal;
use crate::domain::{FeedFilter, FeedPosition, Id, Invoice, InvoiceEvent, InvoiceStatus};

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

impl UseCases {
    /// The position of "now" in the feed, as a cursor (any principal may have one: it
    /// reveals nothing).
    pub async fn status_change_cursor(&self, _who: &Principal) -> Result<String, AppError> {
        let seen = self.store.feed_snapshot().await?;
        Ok(FeedPosition {
            seen,
            reading: None,
        }
        .encode(&self.settings().cursor_seal))
    }

    /// The status changes `who` may hear that match the filter: those after `after`
    /// (a cursor from an earlier change), then live ones; without `after`, from now on.
    pub async fn status_changes(
        &self,
        who: &Principal,
        account_id: Option<Id>,
        statuses: Vec<InvoiceStatus>,
        after: Option<&str>,
    ) -> Result<BoxStream<'static, Result<StatusChange, AppError>>, AppError> {
        let seal = &self.settings().cursor_seal;
        let after = after
            .map(|cursor| FeedPosition::decode(cursor, seal))
            .transpose()?;
        let account_id = match (who.account_scope(), account_id) {
            // Another account's invoices are simply not there for a customer.
            (Some(own), Some(asked)) if *asked != *own => {
                return Ok(futures_util::stream::pending().boxed());
            }
            (Some(own), _) => Some(own.to_owned()),
            (None, asked) => asked.map(Id::into_string),
        };
        let filter = FeedFilter {
            account_id,
            statuses,
            every_change: false,
        };
        let slot = self.subscription_slots.take(who)?;
        let subscription = self.events.subscribe(filter, after).await?;
        let gateway = self.clone();
        // The slot first: dropped first, it is free by the time the feed counts one
        // subscriber less.
        Ok(futures_util::stream::unfold(
            (slot, subscription, gateway),
            |(slot, mut subscription, gateway)| async move {
                let item = match subscription.next().await? {
                    Ok((change, position)) => {
                        let mut invoice = change.invoice.clone();
                        invoice.stored_status = invoice.status_on(gateway.today());
                        Ok(StatusChange {
                            cursor: position.encode(&gateway.settings().cursor_seal),
                            event: change.event.clone(),
                            invoice,
                        })
                    }
                    Err(e) => Err(AppError::from(e)),
                };
                Some((item, (slot, subscription, gateway)))
            },
        )
        .boxed())
    }
}

/// Live subscriptions per principal, each at most `max`.
#[derive(Debug)]
pub(super) struct SubscriptionSlots {
    max: usize,
    held: Mutex<HashMap<String, usize>>,
}

/// One live subscription's place; given back when the subscription ends.
pub(super) struct Slot {
    slots: Arc<SubscriptionSlots>,
    key: String,
}

impl SubscriptionSlots {
    pub(super) fn new(max: usize) -> Arc<SubscriptionSlots> {
        Arc::new(SubscriptionSlots {
            max,
            held: Mutex::default(),
        })
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn take(self: &Arc<Self>, who: &Principal) -> Result<Slot, AppError> {
        let key = who.key();
        let mut held = self.held();
        let count = held.entry(key.clone()).or_default();
        if *count >= self.max {
            return Err(AppError::TooManySubscriptions(self.max));
        }
        *count += 1;
        Ok(Slot {
            slots: self.clone(),
            key,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.slots.held();
        if let Some(count) = held.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_principal_holds_at_most_its_slots_and_gets_them_back() {
        let slots = SubscriptionSlots::new(2);
        let alice = Principal::Customer {
            subject: "alice".into(),
            account_id: "ACC".into(),
        };
        let admin = Principal::Admin {
            subject: "alice".into(),
        };
        let first = slots.take(&alice).unwrap();
        let _second = slots.take(&alice).unwrap();
        assert!(matches!(
            slots.take(&alice),
            Err(AppError::TooManySubscriptions(2))
        ));
        assert!(
            slots.take(&admin).is_ok(),
            "another principal, same subject"
        );
        drop(first);
        let _again = slots.take(&alice).unwrap();
        drop(_again);
        drop(_second);
        assert!(
            slots.held().get(&alice.key()).is_none(),
            "forgotten at zero"
        );
    }
}
