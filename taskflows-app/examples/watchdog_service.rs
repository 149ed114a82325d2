//! A Rust function as a service with a systemd watchdog: its unit is `Type=notify` with
//! `WatchdogSec=2s`, and the task runs for 6 seconds. The task runner tells systemd it is
//! ready when the task starts and sends `WATCHDOG=1` every second while it runs, so the start
//! does not time out and the run is not killed as hung.
//!
//! ```sh
//! cargo build -p taskflows-app --example watchdog_service
//! target/debug/examples/watchdog_service install     # --user or --system; default: system for root
//! tf start watchdog-demo --wait                    # 6 s later: run of watchdog-demo: success
//! target/debug/examples/watchdog_service remove
//! ```

use std::process::ExitCode;
use std::time::Duration;

use taskflows_app::App;
use taskflows_core::{TaskPolicy, Watchdog};

/// Works for 6 seconds, three times the watchdog's timeout.
async fn long_job() -> Result<u32, std::io::Error> {
    for second in 1..=6 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        println!("long job: {second} s");
    }
    Ok(6)
}

fn main() -> ExitCode {
    let watchdog = Watchdog::new(taskflows_core::Duration::from_secs(2)).expect("a timeout above zero");
    App::new("watchdog_service")
        .service(
            TaskPolicy::new("watchdog-demo"),
            |s| s.description("runs 6 s under a 2 s watchdog").watchdog(watchdog),
            long_job,
        )
        .main()
}
