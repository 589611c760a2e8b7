//! Positions in the feed of invoice events, as subscription cursors carry them.
//!
//! # Why not "the last `seq` seen"
//!
//! An event's `seq` is taken when its row is inserted, not when its transaction commits.
//! With concurrent writers, event 41 can become visible after event 42; a reader that
//! resumes from "seq > 42" then skips 41 for good. A CSV import that writes a million
//! events in one transaction lasting minutes makes this the normal case, not a race.
//!
//! # What a position is instead
//!
//! Every event row records the transaction that wrote it (`txid`, PostgreSQL's
//! `pg_current_xact_id()`). A reader takes a PostgreSQL snapshot (`pg_current_snapshot()`:
//! `xmin`, `xmax` and the ids in progress between them), which says exactly which
//! transactions had finished when it was taken. A position is then:
//!
//! - `seen`: a snapshot; every event written by a transaction visible in it has been
//!   read;
//! - `reading`: optionally, a later snapshot and a `seq`: of the events that became
//!   visible between `seen` and that snapshot, those up to `seq` (in `seq` order) have
//!   been read too.
//!
//! Snapshots only grow (a finished transaction stays finished), so the events between
//! two of them are a fixed set, read in `seq` order in pages; writers of one invoice
//! queue on its row lock, so `seq` order is also each invoice's own order. A transaction
//! still running when a snapshot is taken is invisible in it (in its in-progress list, or
//! at or above its `xmax`): it is neither skipped nor waited for. Its events arrive in whichever later read sees it
//! finished, while other writers' events keep flowing. A rolled-back transaction leaves
//! no rows, so nothing waits on it. The state is small: two snapshots (their in-progress
//! lists hold one id per concurrently running writer, not per event) and a `seq`.
//!
//! SQLite serializes writers, so there `seq` order is commit order; the same type
//! describes it with `txid = seq` and a snapshot of `xmin = xmax = ` one past the
//! highest committed `seq`, and no in-progress list.

use super::{DomainError, Invoice, InvoiceEvent, InvoiceStatus, Seal};

/// Longest cursor accepted: room for an in-progress list of thousands of concurrent
/// transactions, small enough that a forged cursor cannot make a huge query.
const MAX_CURSOR_BYTES: usize = 64 * 1024;

/// Which transactions had finished when a snapshot was taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Every transaction below it had finished.
    pub xmin: i64,
    /// No transaction from it on had finished.
    pub xmax: i64,
    /// Transactions in `[xmin, xmax)` still running, ascending.
    pub in_progress: Vec<i64>,
}

/// The transactions whose events became visible between two snapshots: those in
/// `finished`, and those in `[from, to)` except `still_running`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotDiff {
    pub finished: Vec<i64>,
    pub from: i64,
    pub to: i64,
    pub still_running: Vec<i64>,
}

impl Snapshot {
    /// A snapshot where every transaction below `next` has finished (SQLite's form).
    pub fn before(next: i64) -> Snapshot {
        Snapshot {
            xmin: next,
            xmax: next,
            in_progress: vec![],
        }
    }

    /// Reads PostgreSQL's text form, `xmin:xmax:xip,xip,...` (also the form
    /// [`Display`](std::fmt::Display) writes).
    pub fn parse(text: &str) -> Result<Snapshot, DomainError> {
        let bad = || DomainError::InvalidCursor;
        let mut parts = text.split(':');
        let (Some(xmin), Some(xmax), Some(xip), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let number = |t: &str| t.parse::<i64>().map_err(|_| bad());
        let in_progress = if xip.is_empty() {
            vec![]
        } else {
            xip.split(',').map(number).collect::<Result<Vec<_>, _>>()?
        };
        let snapshot = Snapshot {
            xmin: number(xmin)?,
            xmax: number(xmax)?,
            in_progress,
        };
        snapshot.check().then_some(snapshot).ok_or_else(bad)
    }

    fn check(&self) -> bool {
        0 <= self.xmin
            && self.xmin <= self.xmax
            && self.in_progress.windows(2).all(|w| w[0] < w[1])
            && self
                .in_progress
                .iter()
                .all(|&x| self.xmin <= x && x < self.xmax)
    }

    /// Whether the events of transaction `txid` are visible in this snapshot.
    pub fn visible(&self, txid: i64) -> bool {
        txid < self.xmin || (txid < self.xmax && self.in_progress.binary_search(&txid).is_err())
    }

    /// Whether every transaction visible in `other` is visible in this one.
    pub fn covers(&self, other: &Snapshot) -> bool {
        other.xmax <= self.xmax && self.in_progress.iter().all(|&x| !other.visible(x))
    }

    /// The transactions visible in `later` and not in this one.
    pub fn diff(&self, later: &Snapshot) -> SnapshotDiff {
        SnapshotDiff {
            finished: self
                .in_progress
                .iter()
                .copied()
                .filter(|&x| later.visible(x))
                .collect(),
            from: self.xmax,
            to: later.xmax,
            still_running: later
                .in_progress
                .iter()
                .copied()
                .filter(|&x| x >= self.xmax)
                .collect(),
        }
    }
}

impl std::fmt::Display for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:", self.xmin, self.xmax)?;
        for (i, x) in self.in_progress.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{x}")?;
        }
        Ok(())
    }
}

/// How far a reader of the feed has got (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedPosition {
    pub seen: Snapshot,
    pub reading: Option<(Snapshot, i64)>,
}

impl FeedPosition {
    /// Whether the event `seq` of transaction `txid` is at or before this position.
    pub fn has_seen(&self, txid: i64, seq: i64) -> bool {
        self.seen.visible(txid)
            || matches!(&self.reading, Some((target, after)) if target.visible(txid) && seq <= *after)
    }

    /// The position as text, `f1|seen[|target|after]` (what a cursor seals, and what a
    /// webhook endpoint keeps).
    pub fn to_text(&self) -> String {
        match &self.reading {
            Some((target, after)) => format!("f1|{}|{target}|{after}", self.seen),
            None => format!("f1|{}", self.seen),
        }
    }

    /// Reads [`FeedPosition::to_text`], checking every part of it.
    pub fn from_text(text: &str) -> Result<FeedPosition, DomainError> {
        let bad = || DomainError::InvalidCursor;
        let parts: Vec<&str> = text.split('|').collect();
        let position = match parts.as_slice() {
            ["f1", seen] => FeedPosition {
                seen: Snapshot::parse(seen)?,
                reading: None,
            },
            ["f1", seen, target, after] => FeedPosition {
                seen: Snapshot::parse(seen)?,
                reading: Some((
                    Snapshot::parse(target)?,
                    after.parse::<i64>().map_err(|_| bad())?,
                )),
            },
            _ => return Err(bad()),
        };
        match &position.reading {
            Some((target, after)) if !target.covers(&position.seen) || *after < 0 => Err(bad()),
            _ => Ok(position),
        }
    }

    /// The opaque text clients hold, sealed: a client can return it, not make one up (a
    /// forged in-progress list could otherwise make a catch-up read whatever it names).
    pub fn encode(&self, seal: &Seal) -> String {
        seal.seal(&self.to_text())
    }

    /// Reads a cursor from [`FeedPosition::encode`] sealed by `seal`, checking every part
    /// of it.
    pub fn decode(cursor: &str, seal: &Seal) -> Result<FeedPosition, DomainError> {
        if cursor.len() > MAX_CURSOR_BYTES {
            return Err(DomainError::InvalidCursor);
        }
        let text = seal.open(cursor).ok_or(DomainError::InvalidCursor)?;
        FeedPosition::from_text(&text)
    }
}

/// Which status changes a reader of the feed wants.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeedFilter {
    /// Only this account's invoices.
    pub account_id: Option<String>,
    /// Only changes to one of these statuses; empty means any.
    pub statuses: Vec<InvoiceStatus>,
    /// Every recorded change (links, observations, due dates), not only status changes
    /// (webhooks want them all; subscriptions tell status changes).
    pub every_change: bool,
}

/// One status change read from the feed, with the invoice it changed (as it is now) and
/// the transaction that wrote it.
#[derive(Clone, Debug)]
pub struct FeedEvent {
    pub txid: i64,
    pub event: InvoiceEvent,
    pub invoice: Invoice,
}

impl FeedFilter {
    pub fn matches(&self, e: &FeedEvent) -> bool {
        self.account_id
            .as_ref()
            .is_none_or(|id| *id == e.invoice.account_id)
            && (self.statuses.is_empty()
                || e.event
                    .status_to
                    .is_some_and(|s| self.statuses.contains(&s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(text: &str) -> Snapshot {
        Snapshot::parse(text).unwrap()
    }

    #[test]
    fn a_transaction_in_progress_is_not_visible_until_a_later_snapshot_sees_it_finished() {
        let early = snap("100:105:100,103");
        assert!(early.visible(99));
        assert!(!early.visible(100));
        assert!(early.visible(101));
        assert!(!early.visible(103));
        assert!(!early.visible(105));
        let later = snap("103:110:103,108");
        assert!(later.visible(100));
        assert!(later.covers(&early));
        assert!(!early.covers(&later));
        assert_eq!(
            early.diff(&later),
            SnapshotDiff {
                finished: vec![100],
                from: 105,
                to: 110,
                still_running: vec![108],
            }
        );
    }

    #[test]
    fn the_diff_holds_exactly_the_transactions_that_became_visible() {
        let early = snap("100:105:100,103");
        let later = snap("103:110:103,108");
        let diff = early.diff(&later);
        for x in 90..120 {
            let in_diff = diff.finished.contains(&x)
                || (diff.from <= x && x < diff.to && !diff.still_running.contains(&x));
            assert_eq!(in_diff, !early.visible(x) && later.visible(x), "txid {x}");
        }
    }

    #[test]
    fn sqlite_snapshots_are_a_high_water_mark() {
        let at = Snapshot::before(42);
        assert!(at.visible(41));
        assert!(!at.visible(42));
        assert!(Snapshot::before(50).covers(&at));
        let diff = at.diff(&Snapshot::before(50));
        assert_eq!((diff.from, diff.to), (42, 50));
    }

    #[test]
    fn positions_round_trip_and_know_what_they_have_seen() {
        let position = FeedPosition {
            seen: snap("100:105:100,103"),
            reading: Some((snap("103:110:103"), 7000)),
        };
        let seal = Seal::new(b"secret", "cursor");
        let decoded = FeedPosition::decode(&position.encode(&seal), &seal).unwrap();
        assert_eq!(decoded, position);
        assert!(decoded.has_seen(101, 9_999_999));
        assert!(decoded.has_seen(100, 7000));
        assert!(!decoded.has_seen(100, 7001));
        assert!(!decoded.has_seen(103, 1));
        let plain = FeedPosition {
            seen: Snapshot::before(5),
            reading: None,
        };
        assert_eq!(
            FeedPosition::decode(&plain.encode(&seal), &seal).unwrap(),
            plain
        );
    }

    #[test]
    fn malformed_cursors_are_refused() {
        let seal = Seal::new(b"secret", "cursor");
        let encode = |text: &str| seal.seal(text);
        for text in [
            "",
            "f1",
            "f1|1:2",
            "f1|5:2:",
            "f1|1:9:7,3",
            "f1|1:9:12",
            "f1|-4:2:",
            "f1|1:2:x",
            "f2|1:2:",
            "f1|1:2:|1:2:|-1",
            // the target must be at or after `seen`
            "f1|10:20:|1:5:|3",
        ] {
            assert_eq!(
                FeedPosition::decode(&encode(text), &seal),
                Err(DomainError::InvalidCursor),
                "{text}"
            );
        }
        assert!(FeedPosition::decode("not base64!", &seal).is_err());
        // Well formed, but not sealed by this server: a list of thousands of ids made up
        // by a client.
        let ids: Vec<String> = (1_000..4_000).map(|x| x.to_string()).collect();
        let forged = format!("f1|1000:5000:{}", ids.join(","));
        assert!(FeedPosition::decode(&encode(&forged), &seal).is_ok());
        assert_eq!(
            FeedPosition::decode(&Seal::new(b"guess", "cursor").seal(&forged), &seal),
            Err(DomainError::InvalidCursor)
        );
    }
}
