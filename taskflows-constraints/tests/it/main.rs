//! Integration tests against this machine: its memory, its CPUs, its /proc/pressure.

mod evaluate;
mod invariants;
mod wait;

use taskflows_constraints::{Comparison, Measured, PressureKind, Requirement, Timespan, evaluate};
use taskflows_core::ByteSize;

fn memory(amount: u64, constraint: Comparison) -> Requirement {
    Requirement::Memory { amount: ByteSize(amount), constraint, silent: false }
}

fn cpus(amount: u32, constraint: Comparison) -> Requirement {
    Requirement::Cpus { amount, constraint, silent: false }
}

fn pressure(kind: PressureKind, max_percent: f64, timespan: Timespan) -> Requirement {
    Requirement::Pressure { kind, max_percent, timespan, silent: false, wait: None }
}

/// CPU `some` pressure over 10 s, now.
fn cpu_pressure_10s() -> f64 {
    match evaluate(&pressure(PressureKind::Cpu, 100.0, Timespan::Sec10)).unwrap().measured {
        Measured::Percent(p) => p,
        other => panic!("pressure measured as {other:?}"),
    }
}
