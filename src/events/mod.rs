//! The live feed of invoice status changes: one reader per process follows the event
//! table and fans each page out to every subscriber through a broadcast channel.
//!
//! - The **table is the truth**. Wake-ups (this process's commits, PostgreSQL `NOTIFY`s
//!   from every instance, a reconnected listener, and a slow poll as a last resort) only
//!   make the reader look sooner; a lost notification delays an event, never loses it.
//! - **Positions are snapshots**, not a `seq` (see `domain::feed`): an import that holds
//!   a transaction open for minutes delays only its own events, and they are not skipped
//!   when it commits after later-numbered events of other writers.
//! - **One reader, many subscribers**: the reader reads each page once and publishes it
//!   as an `Arc`; subscribers filter in memory. A subscriber that falls behind the channel
//!   (or starts from an old cursor) catches up from the table with its own filtered reads,
//!   then rejoins the live pages without a gap or a duplicate at the seam (see
//!   [`subscriber`]).
//!
//! It reads through the store and knows neither GraphQL nor HTTP.

mod subscriber;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, OnceCell, broadcast};
use tokio::task::JoinHandle;

use crate::domain::{FeedEvent, FeedFilter, FeedPosition, Snapshot};
use crate::store::{Store, StoreResult};

pub use subscriber::Subscription;

/// Events per read of the table.
const PAGE: u64 = 500;
/// Pages the broadcast channel holds for a subscriber that is busy; one further behind
/// catches up from the table. It bounds the memory a burst holds (a large import
/// commits thousands of pages at once): at most this many pages of events.
const CHANNEL_PAGES: usize = 64;
/// How often the reader looks even without a wake-up: the bound on how late an event
/// can be when every notification was lost.
const POLL: Duration = Duration::from_secs(2);
/// Wait before retrying after the database failed.
const RETRY: Duration = Duration::from_secs(1);

/// Events read together: those of `target` not visible in `base`, in `seq` order, after
/// what earlier pages of the same pair held. `last` when the pair is exhausted.
#[derive(Debug)]
pub struct FeedPage {
    pub base: Snapshot,
    pub target: Snapshot,
    pub events: Vec<Arc<FeedEvent>>,
    pub last: bool,
}

/// Reads the next page after `position` and moves `position` past it, taking a new
/// snapshot when the previous one is exhausted.
pub async fn read_page(
    store: &Store,
    position: &mut FeedPosition,
    filter: &FeedFilter,
) -> StoreResult<FeedPage> {
    let (target, after) = match &position.reading {
        Some((target, after)) => (target.clone(), *after),
        None => (store.feed_snapshot().await?, 0),
    };
    let events = store
        .read_feed(&position.seen, &target, after, filter, PAGE)
        .await?;
    let last = (events.len() as u64) < PAGE;
    let page = FeedPage {
        base: position.seen.clone(),
        target: target.clone(),
        events: events.into_iter().map(Arc::new).collect(),
        last,
    };
    *position = if last {
        FeedPosition {
            seen: target,
            reading: None,
        }
    } else {
        let after = page.events.last().map_or(after, |e| e.event.seq);
        FeedPosition {
            seen: position.seen.clone(),
            reading: Some((target, after)),
        }
    };
    Ok(page)
}

/// The feed of one gateway: started on the first subscription. Cheap to clone.
#[derive(Clone)]
pub struct EventHub {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    pages: OnceCell<broadcast::Sender<Arc<FeedPage>>>,
    channel_pages: usize,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl EventHub {
    pub fn new(store: Store) -> EventHub {
        Self::with_channel_pages(store, CHANNEL_PAGES)
    }

    /// A hub whose live channel holds `pages` pages for a busy subscriber (tests make it
    /// tiny to see subscribers fall behind and catch up).
    pub fn with_channel_pages(store: Store, pages: usize) -> EventHub {
        EventHub {
            inner: Arc::new(Inner {
                store,
                pages: OnceCell::new(),
                channel_pages: pages.max(1),
                tasks: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The live pages, starting the reader (and on PostgreSQL the listener) the first
    /// time. The reader starts from a snapshot taken before this returns, so it is never
    /// ahead of a subscriber that looks at the table afterwards: every change a subscriber
    /// has not seen in the table comes in a page.
    async fn pages(&self) -> StoreResult<broadcast::Receiver<Arc<FeedPage>>> {
        let sender = self
            .inner
            .pages
            .get_or_try_init(|| async {
                let start = FeedPosition {
                    seen: self.inner.store.feed_snapshot().await?,
                    reading: None,
                };
                let (sender, _) = broadcast::channel(self.inner.channel_pages);
                let wake = Arc::new(Notify::new());
                let store = self.inner.store.clone();
                let mut tasks = self.inner.tasks.lock().unwrap_or_else(|e| e.into_inner());
                tasks.push(tokio::spawn(listen(store.clone(), wake.clone())));
                tasks.push(tokio::spawn(follow(store, sender.clone(), wake, start)));
                StoreResult::Ok(sender)
            })
            .await?;
        Ok(sender.subscribe())
    }

    /// Status changes that `filter` wants: those after `after` first, from the table,
    /// then live ones; without `after`, from now on.
    pub async fn subscribe(
        &self,
        filter: FeedFilter,
        after: Option<FeedPosition>,
    ) -> StoreResult<Subscription> {
        // Listen before looking at the table, so nothing falls between the two.
        let pages = self.pages().await?;
        let (position, live) = match after {
            Some(position) => (position, false),
            None => {
                let now = FeedPosition {
                    seen: self.inner.store.feed_snapshot().await?,
                    reading: None,
                };
                (now, true)
            }
        };
        Ok(Subscription::new(
            self.inner.store.clone(),
            pages,
            filter,
            position,
            live,
        ))
    }

    /// Live subscriptions in this process.
    pub fn subscribers(&self) -> usize {
        self.inner
            .pages
            .get()
            .map_or(0, broadcast::Sender::receiver_count)
    }

    /// Stops the reader and the listener (subscribers then hear nothing more).
    pub fn stop(&self) {
        let mut tasks = self.inner.tasks.lock().unwrap_or_else(|e| e.into_inner());
        for task in tasks.drain(..) {
            task.abort();
        }
    }
}

/// The reader: reads every page that became visible since the last one and publishes
/// it, then sleeps until woken.
async fn follow(
    store: Store,
    pages: broadcast::Sender<Arc<FeedPage>>,
    wake: Arc<Notify>,
    mut position: FeedPosition,
) {
    let mut commits = store.commits();
    loop {
        match read_page(&store, &mut position, &FeedFilter::default()).await {
            // Nothing finished since the last look: no page to publish.
            Ok(page) if page.last && page.events.is_empty() && page.base == page.target => {}
            Ok(page) => {
                let more = !page.last;
                // No receiver is fine: nobody is subscribed right now.
                let _ = pages.send(Arc::new(page));
                if more {
                    continue;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the event feed failed; retrying");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        }
        tokio::select! {
            _ = commits.changed() => {}
            _ = wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// On PostgreSQL, turns every instance's commit notifications into wake-ups of the
/// reader. A lost connection wakes it too: notifications sent meanwhile are gone.
async fn listen(store: Store, wake: Arc<Notify>) {
    loop {
        let mut listener = match store.commit_listener().await {
            Ok(Some(listener)) => listener,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for commits; retrying");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        // Whatever was announced before the listener was up may have been missed.
        wake.notify_one();
        loop {
            let heard = listener.wait().await;
            wake.notify_one();
            if let Err(e) = heard {
                tracing::warn!(error = %e, "commit listener lost; reconnecting");
                tokio::time::sleep(RETRY).await;
                break;
            }
        }
    }
}
