//! The per-caller budget: a leaky bucket of cost points. Each request adds its cost (its
//! complexity) to its caller's bucket, which drains at a steady rate; a request that would
//! overflow the bucket is refused with how long to wait. Buckets live in this process:
//! behind several gateway instances a caller's budget is one bucket per instance.

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

/// Buckets kept before idle ones are forgotten (an empty bucket holds no information).
const PRUNE_AT: usize = 10_000;

pub struct Throttle {
    budget: Budget,
    buckets: Mutex<HashMap<String, Bucket>>,
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
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn budget(&self) -> Budget {
        self.budget
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
        if buckets.len() >= PRUNE_AT && !buckets.contains_key(caller) {
            buckets.retain(|_, bucket| bucket.level_at(now, per_second) > 0.0);
        }
        let bucket = buckets.entry(caller.to_owned()).or_insert(Bucket {
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

    #[test]
    fn idle_buckets_are_forgotten() {
        let throttle = Throttle::new(Budget {
            capacity: 10,
            per_second: 10,
        });
        let t0 = Instant::now();
        for n in 0..PRUNE_AT {
            throttle.admit(&n.to_string(), 1, t0);
        }
        throttle.admit("late", 1, t0 + Duration::from_secs(1));
        assert_eq!(throttle.buckets.lock().unwrap().len(), 1);
    }
}
