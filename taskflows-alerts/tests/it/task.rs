//! The task matrix: async/blocking × required × retries × timeout × success after failure.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use taskflows_alerts::{
    Alerts, AttemptError, Backoff, TaskError, TaskPolicy, current_task_id, run_blocking_task, run_task,
};

use crate::support::Logs;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Async,
    Blocking,
}

/// What each attempt does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    /// Succeeds at once.
    Succeed,
    /// Fails until attempt `n`, which succeeds.
    SucceedOn(u32),
    /// Always fails.
    Fail,
    /// Always outlives the timeout.
    Hang,
}

const TIMEOUT: Duration = Duration::from_millis(60);
const HANG: Duration = Duration::from_millis(300);

fn backoff() -> Backoff {
    Backoff::exponential(Duration::from_millis(10), 2, Duration::from_millis(15))
}

#[derive(Debug)]
struct Outcome {
    result: Result<Option<u32>, TaskError>,
    attempts: u32,
    elapsed: Duration,
}

async fn run(kind: Kind, behaviour: Behaviour, policy: &TaskPolicy) -> Outcome {
    let count = Arc::new(AtomicU32::new(0));
    let started = Instant::now();
    let result = match kind {
        Kind::Async => {
            let count = Arc::clone(&count);
            run_task(policy, &Alerts::none(), move || {
                let attempt = count.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    match behaviour {
                        Behaviour::Succeed => Ok(attempt),
                        Behaviour::SucceedOn(n) if attempt >= n => Ok(attempt),
                        Behaviour::Hang => {
                            tokio::time::sleep(HANG).await;
                            Ok(attempt)
                        }
                        _ => Err(std::io::Error::other(format!("attempt {attempt} failed"))),
                    }
                }
            })
            .await
        }
        Kind::Blocking => {
            let count = Arc::clone(&count);
            run_blocking_task(policy, &Alerts::none(), move || {
                let attempt = count.fetch_add(1, Ordering::SeqCst) + 1;
                match behaviour {
                    Behaviour::Succeed => Ok(attempt),
                    Behaviour::SucceedOn(n) if attempt >= n => Ok(attempt),
                    Behaviour::Hang => {
                        std::thread::sleep(HANG);
                        Ok(attempt)
                    }
                    _ => Err(std::io::Error::other(format!("attempt {attempt} failed"))),
                }
            })
            .await
        }
    };
    let elapsed = started.elapsed();
    // attempts abandoned by a timeout have already counted themselves when they started
    Outcome { result, attempts: count.load(Ordering::SeqCst), elapsed }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_matrix() {
    let mut cases = 0;
    for kind in [Kind::Async, Kind::Blocking] {
        for required in [false, true] {
            for retries in [0, 2] {
                for behaviour in [Behaviour::Succeed, Behaviour::SucceedOn(2), Behaviour::Fail, Behaviour::Hang] {
                    cases += 1;
                    let policy = TaskPolicy::new("matrix").retries(retries).backoff(backoff()).required(required);
                    let policy = if behaviour == Behaviour::Hang { policy.timeout(TIMEOUT) } else { policy };
                    let case = format!("{kind:?} required={required} retries={retries} {behaviour:?}");
                    let outcome = run(kind, behaviour, &policy).await;

                    let expected_attempts = match behaviour {
                        Behaviour::Succeed => 1,
                        Behaviour::SucceedOn(n) => n.min(retries + 1),
                        Behaviour::Fail | Behaviour::Hang => retries + 1,
                    };
                    assert_eq!(outcome.attempts, expected_attempts, "{case}: attempts");
                    let succeeds = match behaviour {
                        Behaviour::Succeed => true,
                        Behaviour::SucceedOn(n) => n <= retries + 1,
                        _ => false,
                    };
                    match (&outcome.result, succeeds, required) {
                        // the value of the attempt that succeeded
                        (Ok(Some(value)), true, _) => assert_eq!(*value, expected_attempts, "{case}"),
                        (Ok(None), false, false) => {}
                        (Err(TaskError::Failed { name, attempts, source }), false, true) => {
                            assert_eq!((name.as_str(), *attempts), ("matrix", retries + 1), "{case}");
                            match behaviour {
                                Behaviour::Hang => {
                                    assert!(matches!(source, AttemptError::TimedOut(t) if *t == TIMEOUT))
                                }
                                _ => assert_eq!(source.to_string(), format!("attempt {} failed", retries + 1)),
                            }
                        }
                        (other, _, _) => panic!("{case}: unexpected {other:?}"),
                    }

                    // backoff waits 10ms, then 15ms (capped); a timed-out attempt takes TIMEOUT
                    let waits: Duration =
                        (1..expected_attempts).map(|n| Duration::from_millis(if n == 1 { 10 } else { 15 })).sum();
                    let minimum =
                        waits + if behaviour == Behaviour::Hang { TIMEOUT * expected_attempts } else { Duration::ZERO };
                    assert!(outcome.elapsed >= minimum, "{case}: took {:?}, less than {minimum:?}", outcome.elapsed);
                    // a hung attempt is abandoned at the timeout, not waited for
                    assert!(
                        outcome.elapsed < minimum + Duration::from_millis(250),
                        "{case}: took {:?}, expected about {minimum:?}",
                        outcome.elapsed
                    );
                }
            }
        }
    }
    assert_eq!(cases, 32);
}

#[tokio::test(start_paused = true)]
async fn backoff_is_exponential_and_capped() {
    let policy = TaskPolicy::new("backoff")
        .retries(5)
        .backoff(Backoff::exponential(Duration::from_millis(100), 2, Duration::from_millis(500)))
        .required(true);
    let times = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&times);
    let start = tokio::time::Instant::now();
    let result = run_task(&policy, &Alerts::none(), move || {
        seen.lock().unwrap().push(start.elapsed());
        async { Err::<(), _>("no") }
    })
    .await;
    assert!(result.is_err());
    let ms: Vec<u128> = times.lock().unwrap().iter().map(Duration::as_millis).collect();
    assert_eq!(ms, [0, 100, 300, 700, 1200, 1700]);
}

#[tokio::test(start_paused = true)]
async fn default_backoff_and_timeouts_with_paused_time() {
    let policy = TaskPolicy::new("slow").retries(2).timeout(Duration::from_secs(1));
    let start = tokio::time::Instant::now();
    let result = run_task(&policy, &Alerts::none(), || async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok::<_, std::io::Error>(())
    })
    .await;
    assert!(matches!(result, Ok(None)));
    // 3 attempts of 1s, waits of 100ms and 200ms
    assert_eq!(start.elapsed(), Duration::from_millis(3300));
}

#[tokio::test]
async fn task_id_inside_async_and_blocking_tasks() {
    assert_eq!(current_task_id(), None);
    let policy = TaskPolicy::new("ids").required(true);
    let a = run_task(&policy, &Alerts::none(), || async { Ok::<_, std::io::Error>(current_task_id()) }).await.unwrap();
    let b = run_blocking_task(&policy, &Alerts::none(), || Ok::<_, std::io::Error>(current_task_id())).await.unwrap();
    let (a, b) = (a.flatten().expect("an id inside the task"), b.flatten().expect("an id inside the blocking task"));
    assert_ne!(a, b);
    assert_eq!(current_task_id(), None);
}

#[tokio::test]
async fn blocking_panic_fails_the_attempt() {
    let policy = TaskPolicy::new("panics").retries(1).backoff(Backoff::none()).required(true);
    let count = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&count);
    let result = run_blocking_task(&policy, &Alerts::none(), move || {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("boom");
        }
        Ok::<_, std::io::Error>("second")
    })
    .await;
    assert_eq!(result.unwrap(), Some("second"));
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn logs_carry_task_id_and_name() {
    let logs = Logs::capture();
    let policy = TaskPolicy::new("logged").retries(1).backoff(Backoff::none());
    let mut id = None;
    let result = run_task(&policy, &Alerts::none(), || {
        id = current_task_id();
        async { Err::<(), _>(std::io::Error::other("disk full")) }
    })
    .await;
    assert!(matches!(result, Ok(None)));
    let text = logs.text();
    let id = id.unwrap();
    assert!(text.contains(&format!("task{{task_id={id} task_name=logged}}")), "{text}");
    assert!(
        text.contains("task attempt failed") && text.contains("disk full") && text.contains("kind=\"Error\""),
        "{text}"
    );
    assert!(text.contains("task failed; not required"), "{text}");
}
