//! Calendar throughput: native parsing and next-elapse search against `systemd-analyze
//! calendar` run as a process per call (what a tool without a native engine must do),
//! measured in the same run. `cargo bench -p taskflows-core --bench calendar`.

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use taskflows_core::calendar::CalendarEvent;

const EXPRESSIONS: &[&str] = &[
    "daily",
    "hourly",
    "weekly",
    "Mon..Fri 09:00",
    "Mon-Fri 09:00 America/New_York",
    "*-*-* 02:30",
    "*:0/15",
    "Sat,Sun 10:00:00",
    "*-*-01 00:00:00",
    "*-02~1 12:00",
    "2026-*-* 08:00:00 UTC",
    "Mon,Wed,Fri *-*-* 06:30:00 Europe/Berlin",
];

/// Runs `f` repeatedly for about `budget` and returns operations per second.
fn per_second(budget: Duration, ops_per_call: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm-up (zone files, caches)
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < budget {
        f();
        calls += 1;
    }
    (calls as f64 * ops_per_call as f64) / start.elapsed().as_secs_f64()
}

fn main() {
    let local = TimeZone::get("America/New_York").expect("zone database");
    let budget = Duration::from_secs(2);

    let parse_rate = per_second(budget, EXPRESSIONS.len(), || {
        for expr in EXPRESSIONS {
            black_box(CalendarEvent::parse_with_local(black_box(expr), &local).unwrap());
        }
    });

    let events: Vec<CalendarEvent> =
        EXPRESSIONS.iter().map(|e| CalendarEvent::parse_with_local(e, &local).unwrap()).collect();
    let bases: Vec<Timestamp> = (0..64).map(|i| Timestamp::from_second(1_767_225_600 + i * 611_111).unwrap()).collect();
    let next_rate = per_second(budget, events.len() * bases.len(), || {
        for event in &events {
            for &base in &bases {
                black_box(event.next_elapse(black_box(base), &local));
            }
        }
    });

    let baseline = match Command::new("systemd-analyze").arg("--version").output() {
        Ok(out) if out.status.success() => {
            let mut i = 0;
            Some(per_second(budget, 1, || {
                let expr = EXPRESSIONS[i % EXPRESSIONS.len()];
                i += 1;
                let out = Command::new("systemd-analyze")
                    .env("TZ", "America/New_York")
                    .args(["calendar", "--base-time=@1767225600", "--", expr])
                    .output()
                    .expect("run systemd-analyze");
                assert!(out.status.success());
            }))
        }
        _ => None,
    };

    println!("calendar benchmark ({} typical expressions, local zone America/New_York)", EXPRESSIONS.len());
    println!("  parse:                        {:>12.0} /s   (target >= 500000)", parse_rate);
    println!("  next elapse:                  {:>12.0} /s   (target >= 1000000)", next_rate);
    match baseline {
        Some(base) => {
            println!("  systemd-analyze (process/call): {:>10.1} /s   (parse + next elapse)", base);
            println!("  ratio parse / baseline:       {:>12.0}x", parse_rate / base);
            println!("  ratio next elapse / baseline: {:>12.0}x", next_rate / base);
        }
        None => println!("  systemd-analyze not installed: no baseline"),
    }
}
