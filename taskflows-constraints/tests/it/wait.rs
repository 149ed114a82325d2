use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use taskflows_constraints::{
    Comparison, Measured, Outcome, PressureKind, Timespan, TriggerStatus, WaitOptions, wait_until_admitted,
};

use crate::{cpu_pressure_10s, cpus, memory, pressure};

/// Busy threads, stopped on drop and after `limit` at the latest.
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Load {
    fn start(threads: usize, limit: Duration) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..threads)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let start = Instant::now();
                    let mut x = 0_u64;
                    while !stop.load(Ordering::Relaxed) && start.elapsed() < limit {
                        for i in 0..10_000 {
                            x = black_box(x.wrapping_mul(31).wrapping_add(i));
                        }
                    }
                })
            })
            .collect();
        Load { stop, threads }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[test]
fn requirements_that_hold_admit_at_once() {
    let requirements = [memory(1, Comparison::GreaterOrEqual), pressure(PressureKind::Io, 100.0, Timespan::Min5)];
    let admission = wait_until_admitted(&requirements, Duration::from_secs(5), &WaitOptions::default()).unwrap();
    assert_eq!(admission.outcome, Outcome::Admitted);
    assert_eq!(admission.checks, 1);
    assert_eq!(admission.triggers, TriggerStatus::Unused);
}

#[test]
fn cpus_that_are_not_there_are_not_waited_for() {
    let requirements = [cpus(100_000, Comparison::GreaterOrEqual)];
    let admission = wait_until_admitted(&requirements, Duration::from_secs(30), &WaitOptions::default()).unwrap();
    assert_eq!(admission.outcome, Outcome::Unsatisfiable);
    assert!(admission.waited < Duration::from_secs(1));
    let text = admission.to_string();
    assert!(text.starts_with("cannot be met by waiting: cpus "), "{text}");
    assert!(text.ends_with(" (limit >= 100000): not met"), "{text}");
}

/// Load the CPUs until 10-second CPU pressure is well above its baseline, set the limit halfway,
/// and check that a wait under load times out naming the requirement and its value, and that a
/// wait after the load stops is admitted once the average falls.
#[test]
fn a_wait_times_out_under_load_and_is_admitted_when_load_drops() {
    let baseline = cpu_pressure_10s();
    if baseline > 60.0 {
        eprintln!("skipped: CPU pressure is already {baseline}% over 10 s; no room to add load");
        return;
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let load = Load::start(2 * cores, Duration::from_secs(40));
    let ramp = Instant::now();
    let loaded = loop {
        std::thread::sleep(Duration::from_secs(1));
        let now = cpu_pressure_10s();
        if now >= baseline + 25.0 {
            break now;
        }
        assert!(ramp.elapsed() < Duration::from_secs(25), "load raised CPU pressure only from {baseline}% to {now}%");
    };
    let limit = ((baseline + loaded) / 2.0 * 100.0).round() / 100.0;
    let requirements = [pressure(PressureKind::Cpu, limit, Timespan::Sec10)];

    let under_load = wait_until_admitted(&requirements, Duration::from_secs(5), &WaitOptions::default()).unwrap();
    assert_eq!(under_load.outcome, Outcome::TimedOut, "{under_load}");
    assert!(under_load.waited >= Duration::from_secs(5));
    let Measured::Percent(last) = under_load.evaluations[0].measured else { panic!("{under_load:?}") };
    assert!(last > limit, "{under_load}");
    let text = under_load.to_string();
    let limit_text = format!("{limit}").trim_end_matches(".0").to_owned();
    assert!(text.starts_with("timed out after 5."), "{text}");
    assert!(text.contains(": cpu_pressure "), "{text}");
    assert!(text.ends_with(&format!(" over 10sec (limit {limit_text}%): not met")), "{text}");
    match &under_load.triggers {
        // rising pressure past the limit wakes the waiter through the kernel trigger (5 s: at
        // least two of the kernel's 2 s aggregation periods)
        TriggerStatus::Armed(1) => assert!(under_load.trigger_events >= 1, "{under_load:?}"),
        TriggerStatus::Unavailable(why) => eprintln!("PSI triggers unavailable, timer only: {why}"),
        other => panic!("{other:?}"),
    }

    drop(load);
    let after = wait_until_admitted(&requirements, Duration::from_secs(40), &WaitOptions::default()).unwrap();
    assert_eq!(after.outcome, Outcome::Admitted, "{after}");
    assert!(after.checks >= 2, "the average was still high when the load stopped: {after:?}");
    let Measured::Percent(last) = after.evaluations[0].measured else { panic!("{after:?}") };
    // The kernel's average is an f32 and the limit is in hundredths: 13.18 is measured as
    // 13.180000305…, which holds.
    assert!(last <= limit + 0.005, "{after:?}");
    eprintln!(
        "baseline {baseline}%, loaded {loaded}%, limit {limit}%: {under_load} (triggers {:?}, {} events); then {after}",
        under_load.triggers, under_load.trigger_events
    );
}
