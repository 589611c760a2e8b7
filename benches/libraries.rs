//! The per-request cost of the infrastructure the architecture issue asked to take from
//! libraries: the metrics each request records (`src/telemetry/metrics.rs`, on
//! `prometheus-client`), and our per-caller budget (`src/graphql/throttle.rs`) against
//! `governor`'s keyed rate limiter, the crate proposed in its place: the cost of one
//! admission, and what a flood of distinct callers leaves in memory.
//!
//! `cargo bench --bench libraries` (figures in benches/README.md). Each flood runs in a
//! child process of its own, so that one's freed memory does not flatter the other.

#[path = "../src/telemetry/metrics.rs"]
#[allow(dead_code, unused_imports)]
mod metrics;
#[path = "../src/graphql/throttle.rs"]
#[allow(dead_code)]
mod throttle;

use std::num::NonZeroU32;
use std::process::Command;
use std::time::{Duration, Instant};

use governor::{Quota, RateLimiter};
use throttle::{Admission, Budget, Throttle};

/// Distinct callers in a flood: a million anonymous addresses within the drain window.
const FLOOD: usize = 1_000_000;
const CALLS: usize = 2_000_000;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    match args.next().as_deref() {
        Some("flood") => flood(args.next().as_deref() == Some("governor")),
        _ => compare(),
    }
}

fn compare() {
    let recorder = metrics::Metrics::default();
    let routes = [
        "/graphql",
        "/api/creditcontrol/accounts/{account_id}/invoices",
    ];
    let ns = per_call(1, |_| {
        recorder.http_request(routes[0], 200, Duration::from_micros(900));
        recorder.graphql_operation(Some("Reference"), "query", "ok", Duration::from_micros(800));
        true
    });
    recorder.http_request(routes[1], 404, Duration::from_millis(2));
    let scraped = recorder.render(metrics::Gauges::default());
    println!(
        "metrics: {ns:.0} ns per request recorded (one HTTP request, one GraphQL operation; \
         2 threads); a scrape of them is {} bytes",
        scraped.len()
    );
    println!("admissions: {CALLS} per run, 2 threads, every one admitted");
    for callers in [1, 10_000] {
        let ours = Throttle::new(Budget {
            capacity: u64::from(u32::MAX),
            per_second: u64::from(u32::MAX),
        });
        let ours_ns = per_call(callers, |key| {
            matches!(
                ours.admit(key, 10, Instant::now()),
                Admission::Admitted { .. }
            )
        });
        let max = NonZeroU32::MAX;
        let governor = RateLimiter::keyed(Quota::per_second(max).allow_burst(max));
        let ten = NonZeroU32::new(10).unwrap();
        let governor_ns = per_call(callers, |key| {
            matches!(governor.check_key_n(&key.to_owned(), ten), Ok(Ok(())))
        });
        println!(
            "  {callers:>6} caller(s): ours {ours_ns:.0} ns, governor {governor_ns:.0} ns per admission"
        );
    }
    let exe = std::env::current_exe().unwrap();
    for which in ["ours", "governor"] {
        let out = Command::new(&exe).args(["flood", which]).output().unwrap();
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
}

/// Nanoseconds per call of `admit` over [`CALLS`] calls on two threads, the callers taken
/// in turn from `callers` keys.
fn per_call(callers: usize, admit: impl Fn(&str) -> bool + Sync) -> f64 {
    let keys: Vec<String> = (0..callers).map(|n| format!("caller:{n}")).collect();
    let start = Instant::now();
    std::thread::scope(|scope| {
        for thread in 0..2 {
            let (keys, admit) = (&keys, &admit);
            scope.spawn(move || {
                for n in 0..CALLS / 2 {
                    assert!(admit(&keys[(n + thread) % keys.len()]));
                }
            });
        }
    });
    start.elapsed().as_nanos() as f64 / CALLS as f64
}

/// A heavy caller, then [`FLOOD`] distinct callers of one point each, all within a second
/// (budget 1,000 points draining 1 a second): how many callers are remembered, the memory
/// they hold, and whether the heavy caller is still held to its debt.
fn flood(governor: bool) {
    let before = resident_kib();
    let (remembered, heavy_refused) = if governor {
        let quota = Quota::per_second(NonZeroU32::new(1).unwrap())
            .allow_burst(NonZeroU32::new(1000).unwrap());
        let limiter = RateLimiter::keyed(quota);
        let cost = |n| NonZeroU32::new(n).unwrap();
        let _ = limiter.check_key_n(&"heavy".to_owned(), cost(900));
        for n in 0..FLOOD {
            let _ = limiter.check_key_n(&format!("anonymous:{n}"), cost(1));
        }
        // What a sweeper can do: forget the callers whose budget is whole again.
        limiter.retain_recent();
        limiter.shrink_to_fit();
        let refused = matches!(
            limiter.check_key_n(&"heavy".to_owned(), cost(200)),
            Ok(Err(_))
        );
        (limiter.len(), refused)
    } else {
        let throttle = Throttle::new(Budget {
            capacity: 1000,
            per_second: 1,
        });
        let t0 = Instant::now();
        throttle.admit("heavy", 900, t0);
        for n in 0..FLOOD {
            throttle.admit(&format!("anonymous:{n}"), 1, t0);
        }
        let refused = matches!(
            throttle.admit("heavy", 200, t0 + Duration::from_millis(500)),
            Admission::Refused { .. }
        );
        (throttle.callers(), refused)
    };
    let grown = resident_kib().saturating_sub(before);
    let name = if governor { "governor" } else { "ours" };
    println!(
        "  flood of {FLOOD} callers, {name}: {remembered} remembered, +{:.1} MiB resident, \
         heavy caller {}",
        grown as f64 / 1024.0,
        if heavy_refused {
            "still refused"
        } else {
            "FORGIVEN"
        }
    );
}

fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
