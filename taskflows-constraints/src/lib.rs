//! Evaluate taskflows startup requirements on this machine, and wait until they hold.
//!
//! `taskflows-core` models a service's startup requirements ([`Requirement`]: memory, CPUs,
//! CPU/memory/IO pressure) and renders them as systemd `Assert…=`/`Condition…=` lines; systemd
//! then checks them when the unit starts. This crate checks the *same* requirements natively, the
//! way systemd 252 does, so that a front end can say why a service would not start now
//! ([`evaluate`]), and — what systemd cannot — wait for them to hold, bounded by a timeout
//! ([`wait_until_admitted`]), e.g. from an `ExecStartPre=` command.
//!
//! What is measured, as systemd measures it (`src/shared/condition.c`):
//! - **memory**: physical memory (`MemTotal`), clamped to the memory limit of the root cgroup of
//!   the service manager (PID 1's cgroup, without `init.scope`), as `ConditionMemory=` does — so a
//!   container compares its own limit, not the host's RAM.
//! - **cpus**: the CPUs in the CPU affinity mask (`sched_getaffinity`), as `ConditionCPUs=`
//!   does — not the number of online CPUs and not a cgroup CPU quota. systemd reads the mask of the
//!   service manager; this crate reads its own process's, which is the same unless the calling
//!   process was given another `CPUAffinity=`.
//! - **pressure**: the system-wide `/proc/pressure/{cpu,memory,io}` average over the chosen
//!   window (`avg10`, `avg60`, `avg300`), held when it is at most the limit (compared in
//!   hundredths of a percent, like systemd's fixed-point). Like systemd, the `full` line is read
//!   for memory and IO, and the `some` line for CPU (system-wide CPU `full` is always zero).
//!   Unlike systemd, which treats the condition as met when PSI is missing, this crate reports
//!   [`Error::PsiUnavailable`]: a front end should say so rather than guess.
//!
//! Waiting ([`wait_until_admitted`]) is blocking and needs no runtime: the averages are re-read on
//! a timer (the kernel updates them every 2 s), because nothing tells a process that pressure
//! *dropped*; kernel PSI triggers (`some 140000 2000000` written to `/proc/pressure/cpu`, then
//! `poll()` for `POLLPRI`) wake the waiter early when pressure *rises*, so the last measurement it
//! reports is fresh. Where triggers cannot be created (kernels before 6.5 without
//! `CAP_SYS_RESOURCE`, read-only `/proc`), waiting falls back to the timer alone.
//!
//! # Waiting from a unit
//!
//! systemd checks `Assert…=`/`Condition…=` lines *before* any command runs, so a requirement to be
//! waited for must not also be rendered as one (a pressure condition would skip the start before
//! the wait began). The natural hook is `ExecCondition=` (systemd 243+), which runs before
//! `ExecStartPre=`: exit 0 to start, 1–254 to skip quietly like a failed `Condition…=`, 255 to
//! fail like a failed `Assert…=` ([`Admission::fails_start`] says which). The start job's
//! `TimeoutStartSec=` (90 s by default) covers these commands and must exceed the wait's timeout.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use taskflows_constraints::{WaitOptions, evaluate_all, wait_until_admitted};
//! # let requirements: Vec<taskflows_constraints::Requirement> = Vec::new();
//! // `tf check NAME`: one line per requirement
//! for evaluation in evaluate_all(&requirements)? {
//!     println!("{evaluation}"); // cpu_pressure 12.3% over 1min (limit 70%): ok
//! }
//! // `tf check --wait --timeout 5min NAME` from `ExecCondition=`
//! let admission = wait_until_admitted(&requirements, Duration::from_secs(300), &WaitOptions::default())?;
//! if !admission.is_admitted() {
//!     eprintln!("{admission}"); // timed out after 300.0s: cpu_pressure 81% over 1min (limit 70%): not met
//!     std::process::exit(if admission.fails_start() { 255 } else { 1 });
//! }
//! # Ok::<(), taskflows_constraints::Error>(())
//! ```
//!
//! This crate does not render units, talk to systemd, or parse service files: it depends on
//! `taskflows-core` alone.

mod error;
mod measure;
mod triggers;
mod wait;

#[cfg(test)]
mod tests;

pub use error::Error;
pub use measure::{Evaluation, Measured, evaluate, evaluate_all};
pub use taskflows_core::{Comparison, PressureKind, Requirement, Timespan};
pub use wait::{Admission, Outcome, TriggerStatus, WaitOptions, wait_until_admitted};
