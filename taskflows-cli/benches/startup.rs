//! How fast `tf` starts: the median wall time of `tf --version` and `tf --help` over many runs
//! (target: under 5 ms each), next to the baseline of starting `/bin/true` in the same run, so
//! the ratio shows what `tf` adds to a bare process start. Python's `tf` takes about a second.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 200;

fn median_run(program: &str, args: &[&str]) -> Duration {
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let status = Command::new(program)
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("the program runs");
            assert!(status.success(), "{program} {args:?} failed");
            start.elapsed()
        })
        .collect();
    times.sort();
    times[RUNS / 2]
}

fn main() {
    let tf = env!("CARGO_BIN_EXE_tf");
    let baseline = median_run("/bin/true", &[]);
    println!("baseline /bin/true: {:>7.3} ms", baseline.as_secs_f64() * 1e3);
    for args in [&["--version"][..], &["--help"][..]] {
        let t = median_run(tf, args);
        println!(
            "tf {:<10} {:>7.3} ms  ({:.1}x /bin/true; target under 5 ms: {})",
            args[0],
            t.as_secs_f64() * 1e3,
            t.as_secs_f64() / baseline.as_secs_f64(),
            if t < Duration::from_millis(5) { "met" } else { "MISSED" }
        );
    }
}
