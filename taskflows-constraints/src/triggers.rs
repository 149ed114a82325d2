//! Kernel PSI triggers: a file descriptor that `poll()` reports (`POLLPRI`) when stall time within
//! a window exceeds a threshold (Documentation/accounting/psi.rst, "Monitoring for pressure
//! thresholds").
//!
//! A trigger is created by writing `<some|full> <stall µs> <window µs>` to `/proc/pressure/<kind>`
//! opened for reading and writing; it lives as long as the descriptor. It fires at most once per
//! window and only on *rising* stall: nothing reports that pressure dropped, which is why waiting
//! re-reads the averages on a timer and uses triggers only to wake early.

use std::fs::File;
use std::io::{self, Write};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec};
use taskflows_core::{PressureKind, Requirement};

use crate::error::Error;
use crate::measure::{pressure_line, pressure_path};

/// The trigger window: 2 s, the kernel's averaging period. Unprivileged processes may create
/// triggers only with windows that are multiples of 2 s (Linux 6.5+); older kernels need
/// `CAP_SYS_RESOURCE` for any trigger.
pub(crate) const WINDOW: Duration = Duration::from_secs(2);

/// Armed triggers, one per pressure kind.
pub(crate) struct Triggers {
    files: Vec<File>,
}

/// What happened while waiting on triggers.
pub(crate) enum Woken {
    /// The timeout passed.
    Timeout,
    /// This many triggers fired.
    Fired(u32),
    /// A trigger reported an error (`POLLERR`): it will not fire again.
    Broken,
}

impl Triggers {
    /// One trigger per pressure kind among `requirements`, with the stall threshold of the
    /// lowest limit of that kind; `Ok(None)` when there is no pressure requirement.
    pub(crate) fn arm(requirements: &[Requirement]) -> io::Result<Option<Triggers>> {
        let mut lowest: Vec<(PressureKind, f64)> = Vec::new();
        for r in requirements {
            if let Requirement::Pressure { kind, max_percent, .. } = r {
                match lowest.iter_mut().find(|(k, _)| k == kind) {
                    Some((_, max)) => *max = max.min(*max_percent),
                    None => lowest.push((*kind, *max_percent)),
                }
            }
        }
        if lowest.is_empty() {
            return Ok(None);
        }
        let files = lowest.into_iter().map(|(kind, max)| arm_one(kind, max)).collect::<io::Result<_>>()?;
        Ok(Some(Triggers { files }))
    }

    pub(crate) fn len(&self) -> usize {
        self.files.len()
    }

    /// Block until a trigger fires or `timeout` passes.
    pub(crate) fn wait(&self, timeout: Duration) -> Result<Woken, Error> {
        let mut fds: Vec<PollFd<'_>> = self.files.iter().map(|f| PollFd::new(f, PollFlags::PRI)).collect();
        let timeout = Timespec::try_from(timeout).unwrap_or(Timespec { tv_sec: i64::MAX, tv_nsec: 0 });
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(0) => Ok(Woken::Timeout),
            Ok(_) => {
                if fds.iter().any(|fd| fd.revents().intersects(PollFlags::ERR | PollFlags::NVAL)) {
                    return Ok(Woken::Broken);
                }
                Ok(Woken::Fired(fds.iter().filter(|fd| fd.revents().contains(PollFlags::PRI)).count() as u32))
            }
            // a signal: the caller re-checks and waits again
            Err(rustix::io::Errno::INTR) => Ok(Woken::Fired(0)),
            Err(e) => Err(Error::Poll { source: e.into() }),
        }
    }
}

/// `some 140000 2000000` for a 7% limit on CPU pressure.
pub(crate) fn trigger_line(kind: PressureKind, max_percent: f64) -> String {
    let window = WINDOW.as_micros() as u64;
    // the kernel takes 1 ≤ threshold ≤ window
    let stall = ((max_percent / 100.0 * window as f64).round() as u64).clamp(1, window);
    format!("{} {stall} {window}", pressure_line(kind))
}

fn arm_one(kind: PressureKind, max_percent: f64) -> io::Result<File> {
    let mut file = File::options().read(true).write(true).open(pressure_path(kind))?;
    // The kernel overwrites the last byte written with NUL: send the terminator ourselves, in
    // one write, or the window loses its last digit.
    let line = format!("{}\0", trigger_line(kind, max_percent));
    let written = file.write(line.as_bytes())?;
    if written != line.len() {
        return Err(io::Error::other(format!("short write of PSI trigger {line:?}")));
    }
    Ok(file)
}
