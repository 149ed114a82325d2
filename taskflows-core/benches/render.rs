//! Rendering and service-file parsing throughput.
//!
//! `cargo bench -p taskflows-core --bench render` prints specs rendered per second on one core
//! (target: 100,000) and the time to parse a 1,000-service file (target: under 20 ms), each with
//! its ratio to the target, next to a baseline measured in the same run: cloning the same specs,
//! the least work any renderer must be slower than.

use std::hint::black_box;
use std::time::{Duration, Instant};

use taskflows_core::{RenderContext, Scope, ServiceSpec, file::parse_service_file, render};

/// A service file with `n` services mixing the common shapes: calendar jobs, periodic jobs,
/// workers with restart policies, requirements and limits.
fn service_file(n: usize) -> String {
    let mut s = String::from("version = 1\n");
    for i in 0..n {
        s.push_str(&format!("\n[[service]]\nname = \"svc-{i}\"\ndescription = \"Service number {i}\"\nstart_command = \"/usr/bin/python3 /srv/jobs/job_{i}.py --flag value\"\n"));
        match i % 3 {
            0 => s.push_str("start_schedule = \"Mon-Fri 09:00 America/New_York\"\ntimeout = \"15min\"\nenv = { LOG_LEVEL = \"info\", REGION = \"eu\" }\n"),
            1 => s.push_str("start_schedule = { period = \"5min\", relative_to = \"finish\" }\nrestart_policy = { condition = \"on-failure\", delay = \"10s\", max_attempts = 3, window = \"5min\" }\n"),
            _ => s.push_str("enabled = true\nrestart_policy = \"always\"\nstop_schedule = \"*-*-* 23:00\"\nstart_after = [\"network-online.target\", { service = \"svc-0\" }]\nstartup_requirements = [{ kind = \"memory\", amount = \"1G\" }]\ncgroup_config = { memory_limit = \"2G\", cpu_quota = 50000, pids_limit = 200 }\n"),
        }
    }
    s
}

/// Run `f` repeatedly for about `budget`, returning calls per second.
fn rate(budget: Duration, mut f: impl FnMut() -> usize) -> f64 {
    let start = Instant::now();
    let mut count = 0usize;
    while start.elapsed() < budget {
        count += f();
    }
    count as f64 / start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let text = service_file(1_000);
    let specs: Vec<ServiceSpec> = parse_service_file("bench.toml", &text).expect("bench file parses");
    let ctx = RenderContext::new(Scope::System);
    let budget = Duration::from_secs(2);

    let clone_rate = rate(budget, || {
        for s in &specs {
            black_box(s.clone());
        }
        specs.len()
    });
    let render_rate = rate(budget, || {
        for s in &specs {
            black_box(render(black_box(s), &ctx).expect("renders"));
        }
        specs.len()
    });
    println!("render:  {render_rate:>12.0} specs/s  (target 100000: {:.1}x the target)", render_rate / 100_000.0);
    println!("baseline clone: {clone_rate:>7.0} specs/s  (render takes {:.1}x a clone)", clone_rate / render_rate);

    let runs: Vec<Duration> = (0..30)
        .map(|_| {
            let start = Instant::now();
            black_box(parse_service_file("bench.toml", black_box(&text)).expect("parses"));
            start.elapsed()
        })
        .collect();
    let parse = median(runs);
    println!(
        "parse 1,000-service file ({} KiB): median {:.2} ms  (target 20 ms: {:.1}x under the target)",
        text.len() / 1024,
        parse.as_secs_f64() * 1e3,
        0.020 / parse.as_secs_f64()
    );
}
