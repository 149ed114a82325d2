//! The task runner: attempts, backoff, per-attempt timeouts, alerts, the current task id.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::Instrument;

use crate::alert::{Alerts, TaskOutcome, TaskRun};
use crate::error::{AttemptError, TaskError};
use crate::journal::{self, RunEnd, RunStatus};
use crate::notify::{self, Notifier};
use taskflows_core::TaskPolicy;

/// Identifies one run of a task within this process (a run includes all its attempts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(u64);

impl TaskId {
    pub(crate) fn next() -> TaskId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        TaskId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    #[cfg(test)]
    pub(crate) fn for_tests(n: u64) -> TaskId {
        TaskId(n)
    }

    /// The number, unique within the process.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", std::process::id(), self.0)
    }
}

tokio::task_local! {
    static CURRENT: TaskId;
}

/// The id of the task this code runs in, inside [`run_task`] or [`run_blocking_task`]; `None`
/// outside a task.
pub fn current_task_id() -> Option<TaskId> {
    CURRENT.try_with(|id| *id).ok()
}

/// Run an async function as a task under `policy`, sending `alerts`.
///
/// Each attempt calls `f` again. The first success is returned as `Ok(Some(value))`, whatever
/// attempts failed before it. When every attempt fails, a `required` task returns the last
/// attempt's error; otherwise the failure is logged and the result is `Ok(None)`. With a
/// timeout, an attempt that takes longer is dropped (cancelled at its next `.await`) and counts
/// as failed. Between attempts the runner waits as the policy's backoff says.
///
/// Alerts are best effort: each is delivered within the bound of the [`Alerts`]' delivery
/// policy, and a failed delivery is logged, never returned. Alerts are sent before the first
/// attempt, after each failed one and at the end, and the task waits for each (at most
/// `DeliveryPolicy::total`), so a program that exits right after the task has sent them.
///
/// A panic inside `f` is not caught: it unwinds through `run_task` as it would through a direct
/// call (use [`run_blocking_task`], or return errors, to have it count as a failed attempt).
pub async fn run_task<T, E, F, Fut>(policy: &TaskPolicy, alerts: &Alerts, mut f: F) -> Result<Option<T>, TaskError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Into<Box<dyn StdError + Send + Sync>>,
{
    run_attempts(policy, alerts, None, move || {
        let attempt = f();
        async move { attempt.await.map_err(failed) }
    })
    .await
}

/// [`run_task`] for a task whose value can be shown: the finish alert says what it returned
/// (`Result: VALUE`, cut to 1000 characters), as Python's did.
pub async fn run_task_with_result<T, E, F, Fut>(
    policy: &TaskPolicy,
    alerts: &Alerts,
    mut f: F,
) -> Result<Option<T>, TaskError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    T: fmt::Display,
    E: Into<Box<dyn StdError + Send + Sync>>,
{
    run_attempts(policy, alerts, Some(shown::<T>), move || {
        let attempt = f();
        async move { attempt.await.map_err(failed) }
    })
    .await
}

fn shown<T: fmt::Display>(value: &T) -> &dyn fmt::Display {
    value
}

/// Run a blocking function as a task: each attempt runs on tokio's blocking thread pool
/// (`spawn_blocking`), so the async threads stay free, and [`current_task_id`] works inside it.
///
/// A timeout bounds how long the task *waits* for an attempt: when it passes, the attempt is
/// abandoned and counted as failed, and the next attempt (or the result) follows at once. A
/// thread cannot be cancelled, so the abandoned call may go on running on its blocking thread
/// until it returns by itself; its result is then discarded. A panic in `f` fails that attempt.
pub async fn run_blocking_task<T, E, F>(policy: &TaskPolicy, alerts: &Alerts, f: F) -> Result<Option<T>, TaskError>
where
    F: Fn() -> Result<T, E> + Send + Sync + 'static,
    T: Send + 'static,
    E: Into<Box<dyn StdError + Send + Sync>> + 'static,
{
    let f = Arc::new(f);
    run_attempts(policy, alerts, None, move || {
        let f = Arc::clone(&f);
        let id = current_task_id();
        async move {
            let handle = tokio::task::spawn_blocking(move || match id {
                Some(id) => CURRENT.sync_scope(id, || f().map_err(failed)),
                None => f().map_err(failed),
            });
            match handle.await {
                Ok(result) => result,
                Err(e) if e.is_panic() => Err(AttemptError::Panicked(panic_message(e.into_panic()))),
                Err(e) => Err(AttemptError::Panicked(e.to_string())),
            }
        }
    })
    .await
}

fn failed<E: Into<Box<dyn StdError + Send + Sync>>>(e: E) -> AttemptError {
    AttemptError::Failed { type_name: std::any::type_name::<E>(), source: e.into() }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload.downcast_ref::<&str>().map_or_else(|| "unknown panic".to_owned(), |s| (*s).to_owned()),
    }
}

/// How a task's value is shown in its finish alert, when it can be.
type Show<T> = Option<fn(&T) -> &dyn fmt::Display>;

async fn run_attempts<T, F, Fut>(
    policy: &TaskPolicy,
    alerts: &Alerts,
    show: Show<T>,
    f: F,
) -> Result<Option<T>, TaskError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AttemptError>>,
{
    let id = TaskId::next();
    let span = tracing::info_span!("task", task_id = %id, task_name = %policy.name);
    // Under a Type=notify service: READY=1 now, WATCHDOG=1 while the attempts (and their alerts)
    // go on.
    let run = notify::while_running(Notifier::from_env(), &policy.name, attempts(policy, alerts, id, show, f));
    CURRENT.scope(id, run.instrument(span)).await
}

async fn attempts<T, F, Fut>(
    policy: &TaskPolicy,
    alerts: &Alerts,
    id: TaskId,
    show: Show<T>,
    mut f: F,
) -> Result<Option<T>, TaskError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AttemptError>>,
{
    let run = alerts.is_active().then(|| TaskRun::start(&policy.name, id));
    let journal = journal::journal().map(|j| (j, std::time::SystemTime::now(), std::time::Instant::now()));
    let record = |status: RunStatus, attempts: u32, error: Option<&AttemptError>| {
        if let Some((journal, start, started)) = &journal {
            journal.record(&RunEnd {
                id: &id.to_string(),
                name: &policy.name,
                status,
                attempts,
                start_us: start.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64),
                duration_us: started.elapsed().as_micros() as u64,
                error: error.map(ToString::to_string),
            });
        }
    };
    if let Some(run) = &run {
        alerts.on_start(run).await;
    }
    let total = policy.attempts();
    let timeout = policy.timeout.map(|d| std::time::Duration::from_micros(d.as_micros()));
    let mut attempt = 1;
    let last_error = loop {
        let outcome = match timeout {
            Some(limit) => match tokio::time::timeout(limit, f()).await {
                Ok(outcome) => outcome,
                Err(_) => Err(AttemptError::TimedOut(limit)),
            },
            None => f().await,
        };
        match outcome {
            Ok(value) => {
                record(RunStatus::Success, attempt, None);
                if let Some(run) = &run {
                    let result = show.map(|show| show(&value));
                    alerts.on_finish(run, &TaskOutcome::Succeeded { attempt, attempts: total, result }).await;
                }
                return Ok(Some(value));
            }
            Err(error) => {
                tracing::warn!(attempt, attempts = total, error = %error, kind = error.kind(), "task attempt failed");
                if let Some(run) = &run {
                    alerts.on_error(run, &error, attempt, total).await;
                }
                if attempt >= total {
                    break error;
                }
                tokio::time::sleep(policy.backoff.delay(attempt)).await;
                attempt += 1;
            }
        }
    };
    let status = if matches!(last_error, AttemptError::TimedOut(_)) { RunStatus::Timeout } else { RunStatus::Failed };
    record(status, total, Some(&last_error));
    if let Some(run) = &run {
        alerts.on_finish(run, &TaskOutcome::Failed { attempts: total, error: &last_error }).await;
    }
    if policy.required {
        Err(TaskError::Failed { name: policy.name.clone(), attempts: total, source: last_error })
    } else {
        tracing::error!(attempts = total, error = %last_error, "task failed; not required, so no value is returned");
        Ok(None)
    }
}
