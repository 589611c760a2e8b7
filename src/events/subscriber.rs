//! One subscriber's way through the feed: catch up from the table, then follow the live
//! pages, and back to the table whenever it falls behind.
//!
//! The seam: a subscriber listens to the live pages *before* it reads the table, and its
//! catch-up ends only with a read under a snapshot taken after that (not merely at the
//! end of the reading an old cursor was in), so every page it has not caught up with is
//! in its channel. Snapshots only grow,
//! so a page is either wholly seen already (`seen` covers its target: skipped), or starts
//! at or before what the subscriber has seen (`seen` covers its base: its events not yet
//! seen are delivered), or starts after it (a gap: back to the table). An event is
//! delivered only if the position has not seen it, so the seam has no duplicate either.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError};
use tracing::Instrument;

use super::{FeedPage, RETRY, read_page};
use crate::domain::{FeedEvent, FeedFilter, FeedPosition};
use crate::store::{Store, StoreError, StoreResult};

/// A subscriber's stream of status changes, each with the position just after it.
pub struct Subscription {
    store: Store,
    pages: broadcast::Receiver<Arc<FeedPage>>,
    filter: FeedFilter,
    position: FeedPosition,
    /// Following the live pages (as opposed to reading the table).
    live: bool,
    ready: VecDeque<(Arc<FeedEvent>, FeedPosition)>,
}

impl Subscription {
    pub(super) fn new(
        store: Store,
        pages: broadcast::Receiver<Arc<FeedPage>>,
        filter: FeedFilter,
        position: FeedPosition,
        live: bool,
    ) -> Subscription {
        Subscription {
            store,
            pages,
            filter,
            position,
            live,
            ready: VecDeque::new(),
        }
    }

    /// The next status change, with the position after it; `None` once the feed stops.
    /// Database failures are retried (the events wait in the table); only a corrupt row
    /// ends the subscription with an error.
    pub async fn next(&mut self) -> Option<StoreResult<(Arc<FeedEvent>, FeedPosition)>> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Some(Ok(item));
            }
            if !self.live {
                // Only a snapshot taken now, after listening began, may end the catch-up:
                // finishing the reading a cursor was in the middle of reaches a snapshot
                // older than the pages in the channel.
                let fresh = self.position.reading.is_none();
                let span = tracing::info_span!("subscription catch-up");
                // Boxed: held inline, the read's state would size this future, which an
                // idle subscriber keeps while it waits for the next live page.
                let read = Box::pin(read_page(&self.store, &mut self.position, &self.filter));
                match read.instrument(span).await {
                    Ok(page) => {
                        self.take(&page);
                        self.live = page.last && fresh;
                    }
                    Err(e @ StoreError::Corrupt(_)) => return Some(Err(e)),
                    Err(e) => {
                        tracing::warn!(error = %e, "subscriber cannot read the feed; retrying");
                        tokio::time::sleep(RETRY).await;
                    }
                }
                continue;
            }
            match self.pages.recv().await {
                Ok(page) => self.follow(&page),
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(
                        feed.missed_pages = missed,
                        "subscriber fell behind the live pages; catching up from the table"
                    );
                    self.live = false;
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }

    /// Takes a page read from the table for this subscriber (already filtered, and
    /// `read_page` has moved the position past it).
    fn take(&mut self, page: &FeedPage) {
        let mut at = FeedPosition {
            seen: page.base.clone(),
            reading: None,
        };
        for event in &page.events {
            at.reading = Some((page.target.clone(), event.event.seq));
            self.ready.push_back((event.clone(), at.clone()));
        }
    }

    /// Takes a live page, or notices a gap and goes back to the table.
    fn follow(&mut self, page: &FeedPage) {
        let position = &mut self.position;
        if position.seen.covers(&page.target) {
            return;
        }
        let mut after = match &position.reading {
            Some((target, after)) if *target == page.target => *after,
            None if position.seen.covers(&page.base) => 0,
            _ => {
                self.live = false;
                return;
            }
        };
        for event in &page.events {
            let seq = event.event.seq;
            if !position.has_seen(event.txid, seq) && self.filter.matches(event) {
                let at = FeedPosition {
                    seen: position.seen.clone(),
                    reading: Some((page.target.clone(), seq)),
                };
                self.ready.push_back((event.clone(), at));
            }
            after = after.max(seq);
        }
        *position = if page.last {
            FeedPosition {
                seen: page.target.clone(),
                reading: None,
            }
        } else {
            FeedPosition {
                seen: position.seen.clone(),
                reading: Some((page.target.clone(), after)),
            }
        };
    }
}
