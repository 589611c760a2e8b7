//! The pace of an endpoint's deliveries: at most so many sends a second
//! (`CREDIT_GATEWAY_WEBHOOK_RATE`), evenly spaced, with no burst after a quiet spell. An
//! instance keeps one per endpoint it delivers; only one instance delivers an endpoint at
//! a time, so the pace holds across instances too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// Sends of one endpoint, spaced `interval` apart.
struct Pace {
    interval: Duration,
    /// When the next send may start.
    next: Mutex<Instant>,
}

impl Pace {
    /// When a send asked for at `now` may start; the one after it, an interval later.
    fn take_turn(&self, now: Instant) -> Instant {
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let turn = (*next).max(now);
        *next = turn + self.interval;
        turn
    }

    /// Waits for this send's turn.
    async fn wait(&self) {
        tokio::time::sleep_until(self.take_turn(Instant::now())).await;
    }
}

/// The paces of the endpoints an instance delivers, made on first use.
#[derive(Clone, Default)]
pub struct Paces {
    /// Sends a second per endpoint; `None`: unpaced.
    rate: Option<u32>,
    paces: Arc<Mutex<HashMap<String, Arc<Pace>>>>,
}

impl Paces {
    /// `rate` sends a second per endpoint; 0 leaves deliveries unpaced.
    pub fn new(rate: u32) -> Paces {
        Paces {
            rate: (rate > 0).then_some(rate),
            paces: Arc::default(),
        }
    }

    /// Waits for the endpoint's next send's turn (at once when unpaced).
    pub async fn wait(&self, endpoint_id: &str) {
        let Some(rate) = self.rate else { return };
        let pace = {
            let mut paces = self.paces.lock().unwrap_or_else(|p| p.into_inner());
            paces
                .entry(endpoint_id.to_owned())
                .or_insert_with(|| {
                    Arc::new(Pace {
                        interval: Duration::from_secs(1) / rate,
                        next: Mutex::new(Instant::now()),
                    })
                })
                .clone()
        };
        pace.wait().await;
    }

    /// Forgets the endpoints not in `kept` (deleted, or delivered elsewhere now).
    pub fn retain(&self, kept: &[&str]) {
        let mut paces = self.paces.lock().unwrap_or_else(|p| p.into_inner());
        paces.retain(|id, _| kept.contains(&id.as_str()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_are_an_interval_apart_with_no_burst_after_a_quiet_spell() {
        let t0 = Instant::now();
        let pace = Pace {
            interval: Duration::from_secs(1) / 4,
            next: Mutex::new(t0),
        };
        let ms = Duration::from_millis;
        let turns: Vec<Duration> = (0..4).map(|_| pace.take_turn(t0) - t0).collect();
        assert_eq!(turns, [ms(0), ms(250), ms(500), ms(750)]);
        // Ten seconds later: the next send goes at once, the one after it a gap later.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(pace.take_turn(later), later);
        assert_eq!(pace.take_turn(later), later + ms(250));
    }

    #[tokio::test]
    async fn each_endpoint_has_its_own_pace_and_unpaced_ones_none() {
        let paces = Paces::new(50);
        let start = Instant::now();
        for _ in 0..3 {
            paces.wait("a").await;
        }
        paces.wait("b").await;
        assert!(
            start.elapsed() >= Duration::from_millis(40),
            "two gaps of 20 ms"
        );
        assert_eq!(paces.paces.lock().unwrap().len(), 2);
        paces.retain(&["b"]);
        assert_eq!(paces.paces.lock().unwrap().len(), 1);

        let unpaced = Paces::new(0);
        unpaced.wait("a").await;
        assert!(unpaced.paces.lock().unwrap().is_empty());
    }
}
