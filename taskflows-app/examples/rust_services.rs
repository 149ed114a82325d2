//! Two Rust functions installed as systemd services by their own binary.
//!
//! ```sh
//! cargo build -p taskflows-app --example rust_services
//! target/debug/examples/rust_services list
//! target/debug/examples/rust_services install     # --user or --system; default: system for root
//! tf history -m 'example-*'                       # service runs and task runs
//! target/debug/examples/rust_services remove
//! ```
//!
//! `example-flaky` runs every 10 seconds; its first attempt fails and the retry succeeds.
//! `example-failing` runs at every quarter minute and fails both of its attempts, so its unit
//! fails and systemd records it.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use taskflows_app::App;
use taskflows_core::{Backoff, Calendar, Periodic, RelativeTo, StartOn, TaskPolicy};

/// Fails on the first call in this process, succeeds after.
async fn flaky() -> Result<u32, std::io::Error> {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    let call = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
    println!("flaky: call {call}");
    if call == 1 { Err(std::io::Error::other("the first call always fails")) } else { Ok(call) }
}

/// Always fails.
async fn failing() -> Result<(), std::io::Error> {
    Err(std::io::Error::new(std::io::ErrorKind::NotFound, "input file /srv/in.csv not found"))
}

fn main() -> ExitCode {
    let every_10s = Periodic::new(StartOn::Boot, taskflows_core::Duration::from_secs(10), RelativeTo::Start)
        .expect("a period above zero");
    let quarter_minutes = Calendar::new("*:*:00/15").expect("a calendar expression");
    let retry_after_1s = Backoff::constant(Duration::from_secs(1));
    App::new("rust_services")
        .service(
            TaskPolicy::new("example-flaky").retries(2).backoff(retry_after_1s).timeout(Duration::from_secs(30)),
            |s| s.description("succeeds on its second attempt").start_schedule(every_10s),
            flaky,
        )
        .service(
            TaskPolicy::new("example-failing").retries(1).backoff(retry_after_1s),
            |s| s.description("always fails").start_schedule(quarter_minutes),
            failing,
        )
        .main()
}
