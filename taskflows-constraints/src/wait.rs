//! Waiting until requirements hold: admission control for a start.

use std::fmt;
use std::time::{Duration, Instant};

use taskflows_core::Requirement;

use crate::error::Error;
use crate::measure::{Evaluation, Host, Probe, evaluate_with};
use crate::triggers::{Triggers, Woken};

/// How to wait. `WaitOptions::default()`: re-check every second, use PSI triggers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WaitOptions {
    /// The longest time between two checks. The kernel updates pressure averages every 2 s, so
    /// checking more often than every second or so finds nothing new.
    pub recheck: Duration,
    /// Arm kernel PSI triggers, so that rising pressure wakes the waiter before `recheck` passes.
    pub triggers: bool,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions { recheck: Duration::from_secs(1), triggers: true }
    }
}

impl WaitOptions {
    /// Check at least this often.
    pub fn recheck(mut self, every: Duration) -> Self {
        self.recheck = every;
        self
    }

    /// Whether to arm PSI triggers (on by default).
    pub fn triggers(mut self, on: bool) -> Self {
        self.triggers = on;
        self
    }
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Every requirement held at the last check.
    Admitted,
    /// The timeout passed while a requirement did not hold.
    TimedOut,
    /// A requirement that waiting cannot change (memory, CPUs) does not hold: the wait ended at
    /// once.
    Unsatisfiable,
}

/// Whether PSI triggers were used while waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TriggerStatus {
    /// No wait was needed, no pressure requirement was unmet, or triggers were turned off.
    Unused,
    /// This many triggers (one per pressure kind) were armed.
    Armed(usize),
    /// Triggers could not be armed or broke; the wait used the timer alone. The reason says why
    /// (e.g. permission denied on kernels before 6.5 without `CAP_SYS_RESOURCE`).
    Unavailable(String),
}

/// The result of [`wait_until_admitted`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Admission {
    /// How the wait ended.
    pub outcome: Outcome,
    /// Every requirement as last measured, in the order given.
    pub evaluations: Vec<Evaluation>,
    /// How long the wait took.
    pub waited: Duration,
    /// How many times the requirements were measured.
    pub checks: u32,
    /// How many times a PSI trigger woke the waiter (pressure rose past a limit).
    pub trigger_events: u32,
    /// Whether triggers were used.
    pub triggers: TriggerStatus,
}

impl Admission {
    /// Whether the service may start.
    pub fn is_admitted(&self) -> bool {
        self.outcome == Outcome::Admitted
    }

    /// The requirements that did not hold at the last check.
    pub fn unmet(&self) -> impl Iterator<Item = &Evaluation> {
        self.evaluations.iter().filter(|e| !e.holds)
    }

    /// Whether systemd would *fail* the start rather than skip it: an unmet requirement is not
    /// `silent` (`Assert…=` rather than `Condition…=`). From `ExecCondition=`, exit 255 when this
    /// is true and 1 when it is false, and systemd fails or quietly skips the start accordingly.
    pub fn fails_start(&self) -> bool {
        self.unmet().any(|e| !e.requirement.silent())
    }
}

/// One line: `admitted after 7.2s`, `timed out after 30s: cpu_pressure 45.2% over 10sec (limit
/// 20%): not met`, `cannot be met by waiting: cpus 2 (limit >= 4): not met`.
impl fmt::Display for Admission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let waited = format!("{:.1}s", self.waited.as_secs_f64());
        match self.outcome {
            Outcome::Admitted => write!(f, "admitted after {waited}")?,
            Outcome::TimedOut => write!(f, "timed out after {waited}")?,
            Outcome::Unsatisfiable => f.write_str("cannot be met by waiting")?,
        }
        for (i, e) in self.unmet().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Block until every requirement holds, or `timeout` passes, or a requirement that cannot change
/// (memory, CPUs) is unmet.
///
/// The requirements are measured at once, then again at least every `options.recheck`, and
/// earlier when a PSI trigger reports rising pressure. `Ok` carries the outcome with the last
/// measurements, which name what did not hold; `Err` means a requirement could not be measured.
pub fn wait_until_admitted(
    requirements: &[Requirement],
    timeout: Duration,
    options: &WaitOptions,
) -> Result<Admission, Error> {
    wait_with(&mut Host, requirements, timeout, options)
}

pub(crate) fn wait_with(
    probe: &mut dyn Probe,
    requirements: &[Requirement],
    timeout: Duration,
    options: &WaitOptions,
) -> Result<Admission, Error> {
    let start = Instant::now();
    let mut checks = 0;
    let mut trigger_events = 0;
    let mut triggers: Option<Triggers> = None;
    let mut status = TriggerStatus::Unused;
    loop {
        let evaluations = requirements.iter().map(|r| evaluate_with(probe, r)).collect::<Result<Vec<_>, Error>>()?;
        checks += 1;
        let outcome = if evaluations.iter().all(|e| e.holds) {
            Some(Outcome::Admitted)
        } else if evaluations.iter().any(|e| !e.holds && !e.can_change()) {
            Some(Outcome::Unsatisfiable)
        } else if start.elapsed() >= timeout {
            Some(Outcome::TimedOut)
        } else {
            None
        };
        if let Some(outcome) = outcome {
            let waited = start.elapsed();
            return Ok(Admission { outcome, evaluations, waited, checks, trigger_events, triggers: status });
        }

        // Arm triggers the first time a wait is needed; a failure only costs early wake-ups.
        if options.triggers && status == TriggerStatus::Unused {
            match Triggers::arm(requirements) {
                Ok(Some(t)) => {
                    status = TriggerStatus::Armed(t.len());
                    triggers = Some(t);
                }
                Ok(None) => {}
                Err(e) => status = TriggerStatus::Unavailable(format!("cannot create a PSI trigger: {e}")),
            }
        }
        let nap = options.recheck.max(Duration::from_millis(1)).min(timeout.saturating_sub(start.elapsed()));
        match &triggers {
            Some(t) => match t.wait(nap)? {
                Woken::Timeout => {}
                Woken::Fired(n) => trigger_events += n,
                Woken::Broken => {
                    triggers = None;
                    status = TriggerStatus::Unavailable("a PSI trigger reported an error".into());
                }
            },
            None => std::thread::sleep(nap),
        }
    }
}
