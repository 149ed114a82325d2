//! The cost of running a trivial async function as a task with no alerts, against calling it
//! directly, in the same run. Target: under 2 µs of overhead per run.
//!
//! `cargo bench -p taskflows-alerts --bench overhead`

use std::hint::black_box;
use std::time::{Duration, Instant};

use taskflows_alerts::{Alerts, TaskPolicy, run_task};

const RUNS: u32 = 200_000;
const ROUNDS: u32 = 7;
const TARGET: Duration = Duration::from_micros(2);

async fn work(x: u64) -> Result<u64, std::io::Error> {
    Ok(black_box(x).wrapping_mul(3))
}

/// The best of `ROUNDS` rounds, per run.
async fn measure<F: AsyncFnMut(u64) -> u64>(mut f: F) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for i in 0..RUNS {
            black_box(f(u64::from(i)).await);
        }
        best = best.min(start.elapsed() / RUNS);
    }
    best
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let policy = TaskPolicy::new("bench");
        let alerts = Alerts::none();
        let direct = measure(async |i| work(i).await.unwrap()).await;
        let task = measure(async |i| run_task(&policy, &alerts, || work(i)).await.unwrap().unwrap()).await;
        let timeout_policy = TaskPolicy::new("bench").timeout(Duration::from_secs(60));
        let with_timeout =
            measure(async |i| run_task(&timeout_policy, &alerts, || work(i)).await.unwrap().unwrap()).await;
        let overhead = task.saturating_sub(direct);
        let overhead_timeout = with_timeout.saturating_sub(direct);
        println!("direct call:              {:>8.1} ns/run", direct.as_nanos() as f64);
        println!("run_task, no alerts:      {:>8.1} ns/run", task.as_nanos() as f64);
        println!("run_task, 60s timeout:    {:>8.1} ns/run", with_timeout.as_nanos() as f64);
        println!(
            "overhead: {} ns/run ({} ns with a timeout); target < {} ns: {:.1}% of the target ({})",
            overhead.as_nanos(),
            overhead_timeout.as_nanos(),
            TARGET.as_nanos(),
            overhead.as_nanos() as f64 / TARGET.as_nanos() as f64 * 100.0,
            if overhead < TARGET { "ok" } else { "OVER TARGET" }
        );
        println!("ratio run_task / direct: {:.1}x", task.as_nanos() as f64 / direct.as_nanos().max(1) as f64);
    });
}
