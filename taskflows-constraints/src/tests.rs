use std::collections::VecDeque;
use std::time::Duration;

use taskflows_core::{ByteSize, Comparison, PressureKind, Requirement, Timespan};

use crate::measure::{Probe, clamp_to_limit, human_bytes, parse_pressure, percent, read_pressure, root_cgroup_path};
use crate::triggers::trigger_line;
use crate::wait::wait_with;
use crate::{Error, Evaluation, Measured, Outcome, TriggerStatus, WaitOptions};

fn memory(amount: u64, constraint: Comparison) -> Requirement {
    Requirement::Memory { amount: ByteSize(amount), constraint, silent: false }
}

fn cpus(amount: u32, constraint: Comparison) -> Requirement {
    Requirement::Cpus { amount, constraint, silent: false }
}

fn pressure(kind: PressureKind, max_percent: f64, timespan: Timespan) -> Requirement {
    Requirement::Pressure { kind, max_percent, timespan, silent: true, wait: None }
}

/// Evaluate `requirement` against `measured` and compare the one-line explanation.
fn check(requirement: Requirement, measured: Measured, expected: &str) {
    assert_eq!(Evaluation::new(requirement, measured).to_string(), expected);
}

#[test]
fn evaluations_explain_themselves_in_one_line() {
    use Comparison::*;
    check(memory(8 << 30, GreaterOrEqual), Measured::Bytes(25_325_268_992), "memory 23.59GiB (limit >= 8GiB): ok");
    check(memory(8 << 30, Less), Measured::Bytes(8 << 30), "memory 8GiB (limit < 8GiB): not met");
    check(memory(1, GreaterOrEqual), Measured::Bytes(512), "memory 512B (limit >= 1B): ok");
    check(cpus(4, GreaterOrEqual), Measured::Cpus(2), "cpus 2 (limit >= 4): not met");
    check(cpus(2, Equal), Measured::Cpus(2), "cpus 2 (limit = 2): ok");
    check(cpus(1, NotEqual), Measured::Cpus(2), "cpus 2 (limit != 1): ok");
    check(
        pressure(PressureKind::Memory, 70.0, Timespan::Min1),
        Measured::Percent(12.3),
        "memory_pressure 12.3% over 1min (limit 70%): ok",
    );
    check(
        pressure(PressureKind::Cpu, 20.0, Timespan::Sec10),
        Measured::Percent(45.25),
        "cpu_pressure 45.25% over 10sec (limit 20%): not met",
    );
    check(
        pressure(PressureKind::Io, 0.5, Timespan::Min5),
        Measured::Percent(0.0),
        "io_pressure 0% over 5min (limit 0.5%): ok",
    );
}

#[test]
fn pressure_holds_up_to_the_limit_in_hundredths_like_systemd() {
    let limit = pressure(PressureKind::Cpu, 12.34, Timespan::Sec10);
    // the kernel prints two decimals; f32 parsing must not tip an equal value over
    assert!(Evaluation::new(limit.clone(), Measured::Percent(f64::from(12.34_f32))).holds);
    assert!(Evaluation::new(limit.clone(), Measured::Percent(12.344)).holds);
    assert!(!Evaluation::new(limit.clone(), Measured::Percent(12.35)).holds);
    // a measurement of the wrong kind never holds
    assert!(!Evaluation::new(limit, Measured::Cpus(1)).holds);
}

const CPU: &str = "some avg10=1.50 avg60=2.25 avg300=3.00 total=1000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
const MEMORY: &str =
    "some avg10=9.00 avg60=8.00 avg300=7.00 total=1000\nfull avg10=4.50 avg60=3.50 avg300=2.50 total=500\n";

#[test]
fn pressure_reads_some_for_cpu_and_full_for_memory_and_io() {
    assert_eq!(parse_pressure(CPU, PressureKind::Cpu, Timespan::Sec10), Ok(1.5));
    assert_eq!(parse_pressure(CPU, PressureKind::Cpu, Timespan::Min1), Ok(2.25));
    assert_eq!(parse_pressure(CPU, PressureKind::Cpu, Timespan::Min5), Ok(3.0));
    assert_eq!(parse_pressure(MEMORY, PressureKind::Memory, Timespan::Sec10), Ok(4.5));
    assert_eq!(parse_pressure(MEMORY, PressureKind::Io, Timespan::Min5), Ok(2.5));
    // kernels before 5.13 have no cpu `full` line; a missing `full` falls back to `some`
    let some_only = "some avg10=6.00 avg60=5.00 avg300=4.00 total=1\n";
    assert_eq!(parse_pressure(some_only, PressureKind::Io, Timespan::Sec10), Ok(6.0));
    assert_eq!(parse_pressure(some_only, PressureKind::Cpu, Timespan::Sec10), Ok(6.0));
    assert!(parse_pressure("", PressureKind::Cpu, Timespan::Sec10).unwrap_err().contains("no \"some\" line"));
    assert!(parse_pressure("some avg10=x total=1\n", PressureKind::Cpu, Timespan::Sec10).is_err());
}

#[test]
fn missing_psi_is_a_clear_error() {
    let err = read_pressure("/nonexistent/pressure/cpu".as_ref(), PressureKind::Cpu, Timespan::Sec10).unwrap_err();
    assert!(matches!(err, Error::PsiUnavailable { .. }));
    assert_eq!(
        err.to_string(),
        "pressure stall information is not available (/nonexistent/pressure/cpu): the kernel was built without \
         CONFIG_PSI or booted with psi=0"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("memory");
    std::fs::write(&file, MEMORY).unwrap();
    assert_eq!(read_pressure(&file, PressureKind::Memory, Timespan::Min1).unwrap(), 3.5);
    std::fs::write(&file, "garbage\n").unwrap();
    let err = read_pressure(&file, PressureKind::Memory, Timespan::Min1).unwrap_err().to_string();
    assert_eq!(err, format!("failed to parse {}: no \"full\" line", file.display()));
    // a directory is not a PSI file
    let err = read_pressure(dir.path(), PressureKind::Memory, Timespan::Min1).unwrap_err();
    assert!(matches!(err, Error::Read { .. }), "{err:?}");
}

#[test]
fn root_cgroup_is_pid_1s_without_init_scope() {
    assert_eq!(root_cgroup_path("0::/init.scope\n").as_deref(), Some(""));
    assert_eq!(root_cgroup_path("0::/\n").as_deref(), Some(""));
    assert_eq!(
        root_cgroup_path("0::/machine.slice/box.scope/init.scope\n").as_deref(),
        Some("/machine.slice/box.scope")
    );
    // hybrid and legacy hierarchies: the unified line if there is one, else name=systemd
    let hybrid = "9:name=systemd:/lxc/c1/init.scope\n4:memory:/lxc/c1\n0::/lxc/c1/init.scope\n";
    assert_eq!(root_cgroup_path(hybrid).as_deref(), Some("/lxc/c1"));
    let legacy = "9:name=systemd:/lxc/c1\n4:memory:/lxc/c1\n";
    assert_eq!(root_cgroup_path(legacy).as_deref(), Some("/lxc/c1"));
    assert_eq!(root_cgroup_path("1:name=systemd:/system.slice\n").as_deref(), Some(""));
    assert_eq!(root_cgroup_path("4:memory:/x\n"), None);
}

#[test]
fn memory_is_clamped_to_the_cgroup_limit_in_whole_pages() {
    let total = 16 << 30;
    assert_eq!(clamp_to_limit(total, None, 4096), total);
    assert_eq!(clamp_to_limit(total, Some("max\n"), 4096), total);
    assert_eq!(clamp_to_limit(total, Some("18446744073709551615\n"), 4096), total);
    assert_eq!(clamp_to_limit(total, Some("1073741824\n"), 4096), 1 << 30);
    assert_eq!(clamp_to_limit(total, Some("1073745000\n"), 4096), 1 << 30);
    assert_eq!(clamp_to_limit(total, Some("9223372036854771712\n"), 4096), total);
    assert_eq!(clamp_to_limit(total, Some("nonsense"), 4096), total);
}

#[test]
fn numbers_print_short() {
    assert_eq!(percent(12.30), "12.3");
    assert_eq!(percent(70.0), "70");
    assert_eq!(percent(0.06), "0.06");
    assert_eq!(percent(0.0), "0");
    assert_eq!(human_bytes(0), "0B");
    assert_eq!(human_bytes(1536), "1.5KiB");
    assert_eq!(human_bytes(8 << 40), "8TiB");
}

#[test]
fn triggers_fire_at_the_limit_over_a_2s_window() {
    assert_eq!(trigger_line(PressureKind::Cpu, 7.0), "some 140000 2000000");
    assert_eq!(trigger_line(PressureKind::Memory, 70.0), "full 1400000 2000000");
    assert_eq!(trigger_line(PressureKind::Io, 0.0), "full 1 2000000");
    assert_eq!(trigger_line(PressureKind::Cpu, 100.0), "some 2000000 2000000");
}

/// Pressure from a script (the last value repeats); memory and CPUs fixed.
struct Script {
    pressure: VecDeque<f64>,
    cpus: u32,
}

impl Probe for Script {
    fn measure(&mut self, requirement: &Requirement) -> Result<Measured, Error> {
        Ok(match requirement {
            Requirement::Memory { .. } => Measured::Bytes(1 << 30),
            Requirement::Cpus { .. } => Measured::Cpus(self.cpus),
            Requirement::Pressure { .. } => {
                let p =
                    if self.pressure.len() > 1 { self.pressure.pop_front() } else { self.pressure.front().copied() };
                Measured::Percent(p.unwrap_or(0.0))
            }
        })
    }
}

fn fast() -> WaitOptions {
    WaitOptions::default().recheck(Duration::from_millis(5)).triggers(false)
}

#[test]
fn a_wait_ends_when_pressure_drops() {
    let mut probe = Script { pressure: [50.0, 40.0, 30.0, 10.0].into(), cpus: 2 };
    let requirements = [cpus(1, Comparison::GreaterOrEqual), pressure(PressureKind::Cpu, 20.0, Timespan::Sec10)];
    let admission = wait_with(&mut probe, &requirements, Duration::from_secs(10), &fast()).unwrap();
    assert_eq!(admission.outcome, Outcome::Admitted);
    assert!(admission.is_admitted());
    assert_eq!(admission.checks, 4);
    assert_eq!(admission.unmet().count(), 0);
    assert_eq!(admission.evaluations[1].measured, Measured::Percent(10.0));
    assert_eq!(admission.triggers, TriggerStatus::Unused);
    assert!(admission.to_string().starts_with("admitted after "), "{admission}");
}

#[test]
fn a_wait_times_out_naming_the_requirement_and_its_last_value() {
    let mut probe = Script { pressure: [50.0, 45.25].into(), cpus: 2 };
    let requirements = [pressure(PressureKind::Cpu, 20.0, Timespan::Sec10)];
    let admission = wait_with(&mut probe, &requirements, Duration::from_millis(50), &fast()).unwrap();
    assert_eq!(admission.outcome, Outcome::TimedOut);
    assert!(admission.waited >= Duration::from_millis(50));
    assert!(admission.checks >= 2);
    let text = admission.to_string();
    assert!(text.starts_with("timed out after 0."), "{text}");
    assert!(text.ends_with(": cpu_pressure 45.25% over 10sec (limit 20%): not met"), "{text}");
}

#[test]
fn a_wait_for_what_cannot_change_ends_at_once() {
    let mut probe = Script { pressure: [0.0].into(), cpus: 2 };
    let requirements = [pressure(PressureKind::Io, 20.0, Timespan::Min5), cpus(4, Comparison::GreaterOrEqual)];
    let admission = wait_with(&mut probe, &requirements, Duration::from_secs(60), &fast()).unwrap();
    assert_eq!(admission.outcome, Outcome::Unsatisfiable);
    assert_eq!(admission.checks, 1);
    assert!(admission.waited < Duration::from_secs(1));
    assert_eq!(admission.to_string(), "cannot be met by waiting: cpus 2 (limit >= 4): not met");
    // the CPU requirement is an assertion: the start fails rather than being skipped
    assert!(admission.fails_start());
}

#[test]
fn nothing_to_wait_for_is_admitted_at_once() {
    let mut probe = Script { pressure: [].into(), cpus: 2 };
    let admission = wait_with(&mut probe, &[], Duration::ZERO, &fast()).unwrap();
    assert_eq!(admission.outcome, Outcome::Admitted);
    assert_eq!(admission.checks, 1);
}

#[test]
fn a_zero_timeout_checks_once() {
    let mut probe = Script { pressure: [90.0].into(), cpus: 2 };
    let requirements = [pressure(PressureKind::Memory, 10.0, Timespan::Min1)];
    let admission = wait_with(&mut probe, &requirements, Duration::ZERO, &fast()).unwrap();
    assert_eq!(admission.outcome, Outcome::TimedOut);
    assert_eq!(admission.checks, 1);
    // pressure requirements here are silent: the start is skipped, not failed
    assert!(!admission.fails_start());
}
