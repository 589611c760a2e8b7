//! The per-caller budget: a leaky bucket of cost points. Each request adds its cost (its
//! complexity) to its caller's bucket, which drains at a steady rate; a request that would
//! overflow the bucket is refused with how long to wait. Buckets live in this process:
//! behind several gateway instances a caller's budget is one bucket per instance. Their
//! number is bounded (see [`MAX_BUCKETS`]): drained ones are forgotten as time goes, and a
//! full map forgets its least full ones first.
//!
//! Ours rather than `governor`'s keyed limiter, for its bound: `cargo bench --bench
//! libraries` (benches/README.md) floods both with a million distinct callers inside the
//! drain window. Governor remembers all 1,000,001 (+30.6 MiB resident, growing with every
//! new address until they drain; its store has no cap, only `retain_recent`, which frees
//! nothing that has not drained), ours at most [`MAX_BUCKETS`] (7,501 after the flood,
//! +0.7 MiB), the heaviest spender still held to its debt in both. Governor admits faster
//! (48 to 80 ns against our 96 to 155 ns, two threads), a difference of about 0.01% of the
//! reference read's 1.09 ms of CPU per request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The bucket every caller gets.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Points a caller may spend at once; 0 turns throttling off.
    pub capacity: u64,
    /// Points drained per second.
    pub per_second: u64,
}

/// Most buckets kept: a caller's key and bucket take about a hundred bytes, so the map
/// stays within a few MiB however many addresses a flood of anonymous requests comes from.
const MAX_BUCKETS: usize = 10_000;
/// Buckets left after [`Buckets::make_room`]: making room costs a pass over them all, so it
/// makes room for many newcomers at once, not one.
const ROOM_LEFT: usize = MAX_BUCKETS * 3 / 4;
/// How often empty buckets are swept away even when the map is not full, so that the
/// memory of a burst of callers is given back once they have gone.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

pub struct Throttle {
    budget: Budget,
    buckets: Mutex<Buckets>,
}

#[derive(Default)]
struct Buckets {
    by_caller: HashMap<String, Bucket>,
    /// When empty buckets were last swept away.
    swept: Option<Instant>,
}

#[derive(Clone, Copy)]
struct Bucket {
    level: f64,
    at: Instant,
}

impl Bucket {
    fn level_at(&self, now: Instant, per_second: u64) -> f64 {
        let drained = now.saturating_duration_since(self.at).as_secs_f64() * per_second as f64;
        (self.level - drained).max(0.0)
    }
}

impl Buckets {
    /// Forgets the buckets that have drained: an empty bucket holds no information (a
    /// caller without one starts with an empty one), so forgetting it changes nothing.
    /// Gives the map's spare room back when most of it went.
    fn sweep(&mut self, now: Instant, per_second: u64) {
        self.by_caller
            .retain(|_, bucket| bucket.level_at(now, per_second) > 0.0);
        if self.by_caller.len() < self.by_caller.capacity() / 4 {
            self.by_caller.shrink_to_fit();
        }
        self.swept = Some(now);
    }

    /// Brings a full map down to [`ROOM_LEFT`] buckets: the drained ones first, then the
    /// least full. Forgetting a bucket only ever gives its caller a fresh budget, so the
    /// least full are those whose loss matters least, and a flood of new keys cannot
    /// push out the callers that are spending the most.
    fn make_room(&mut self, now: Instant, per_second: u64) {
        self.sweep(now, per_second);
        let excess = self.by_caller.len().saturating_sub(ROOM_LEFT);
        if excess == 0 {
            return;
        }
        let mut by_level: Vec<(f64, &String)> = self
            .by_caller
            .iter()
            .map(|(caller, bucket)| (bucket.level_at(now, per_second), caller))
            .collect();
        by_level.select_nth_unstable_by(excess - 1, |a, b| a.0.total_cmp(&b.0));
        let forgotten: Vec<String> = by_level[..excess]
            .iter()
            .map(|(_, caller)| (*caller).clone())
            .collect();
        for caller in &forgotten {
            self.by_caller.remove(caller);
        }
    }
}

/// What the bucket said.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Admission {
    /// Spent; `available` points are left.
    Admitted { available: u64 },
    /// Not spent: the bucket has room for it after `retry_after`.
    Refused { retry_after: Duration },
}

impl Throttle {
    pub fn new(budget: Budget) -> Throttle {
        Throttle {
            budget,
            buckets: Mutex::new(Buckets::default()),
        }
    }

    pub fn budget(&self) -> Budget {
        self.budget
    }

    /// How many callers' buckets are remembered (read by the tests and by
    /// `benches/libraries.rs`).
    #[allow(dead_code)]
    pub fn callers(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .by_caller
            .len()
    }

    /// Spends `cost` from `caller`'s bucket if it has room. A cost above the capacity
    /// never fits; the complexity limit, never above the capacity, refuses it first.
    pub fn admit(&self, caller: &str, cost: u64, now: Instant) -> Admission {
        let Budget {
            capacity,
            per_second,
        } = self.budget;
        if capacity == 0 {
            return Admission::Admitted {
                available: u64::MAX,
            };
        }
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets
            .swept
            .is_none_or(|swept| now.saturating_duration_since(swept) >= SWEEP_EVERY)
        {
            buckets.sweep(now, per_second);
        }
        if buckets.by_caller.len() >= MAX_BUCKETS && !buckets.by_caller.contains_key(caller) {
            buckets.make_room(now, per_second);
        }
        let bucket = buckets
            .by_caller
            .entry(caller.to_owned())
            .or_insert(Bucket {
                level: 0.0,
                at: now,
            });
        let level = bucket.level_at(now, per_second);
        let overflow = level + cost as f64 - capacity as f64;
        if overflow > 0.0 {
            let seconds = if per_second == 0 {
                f64::from(u32::MAX)
            } else {
                overflow / per_second as f64
            };
            return Admission::Refused {
                retry_after: Duration::from_secs_f64(seconds),
            };
        }
        *bucket = Bucket {
            level: level + cost as f64,
            at: now,
        };
        Admission::Admitted {
            available: (capacity as f64 - bucket.level).floor() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_fills_refuses_then_drains() {
        let throttle = Throttle::new(Budget {
            capacity: 1000,
            per_second: 100,
        });
        let t0 = Instant::now();
        assert_eq!(
            throttle.admit("a", 600, t0),
            Admission::Admitted { available: 400 }
        );
        assert_eq!(
            throttle.admit("a", 600, t0),
            Admission::Refused {
                retry_after: Duration::from_secs(2)
            },
            "200 points over, at 100 a second"
        );
        assert_eq!(
            throttle.admit("b", 600, t0),
            Admission::Admitted { available: 400 },
            "another caller has its own bucket"
        );
        let later = t0 + Duration::from_secs(2);
        assert_eq!(
            throttle.admit("a", 600, later),
            Admission::Admitted { available: 0 }
        );
        let much_later = t0 + Duration::from_secs(3600);
        assert_eq!(
            throttle.admit("a", 1, much_later),
            Admission::Admitted { available: 999 },
            "drains to empty, not below"
        );
    }

    #[test]
    fn capacity_zero_turns_it_off() {
        let throttle = Throttle::new(Budget {
            capacity: 0,
            per_second: 0,
        });
        for _ in 0..10 {
            assert!(matches!(
                throttle.admit("a", 1_000_000, Instant::now()),
                Admission::Admitted { .. }
            ));
        }
    }

    fn buckets(throttle: &Throttle) -> (usize, usize) {
        let buckets = throttle.buckets.lock().unwrap();
        (buckets.by_caller.len(), buckets.by_caller.capacity())
    }

    #[test]
    fn idle_buckets_are_forgotten() {
        let throttle = Throttle::new(Budget {
            capacity: 10,
            per_second: 10,
        });
        let t0 = Instant::now();
        for n in 0..MAX_BUCKETS {
            throttle.admit(&n.to_string(), 1, t0);
        }
        throttle.admit("late", 1, t0 + Duration::from_secs(1));
        assert_eq!(buckets(&throttle).0, 1);
    }

    #[test]
    fn idle_buckets_are_swept_before_the_map_fills_and_their_room_given_back() {
        let throttle = Throttle::new(Budget {
            capacity: 10,
            per_second: 10,
        });
        let t0 = Instant::now();
        for n in 0..MAX_BUCKETS / 2 {
            throttle.admit(&n.to_string(), 1, t0);
        }
        throttle.admit("late", 1, t0 + SWEEP_EVERY);
        let (len, capacity) = buckets(&throttle);
        assert_eq!(len, 1);
        assert!(capacity < 100, "room for {capacity} buckets kept");
    }

    #[test]
    fn a_flood_of_callers_never_grows_the_map_past_its_bound_nor_frees_the_heaviest() {
        let throttle = Throttle::new(Budget {
            capacity: 1000,
            per_second: 1,
        });
        let t0 = Instant::now();
        throttle.admit("heavy", 900, t0);
        for n in 0..3 * MAX_BUCKETS {
            throttle.admit(&format!("anonymous:{n}"), 1, t0);
            assert!(buckets(&throttle).0 <= MAX_BUCKETS);
        }
        assert!(
            matches!(throttle.admit("heavy", 200, t0), Admission::Refused { .. }),
            "the fullest bucket is the last forgotten"
        );
    }
}
