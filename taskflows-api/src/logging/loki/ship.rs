//! The queue between the layer and Loki, and the thread that empties it: a `std` thread with a
//! current-thread tokio runtime and a reqwest client of its own (built at the first request),
//! so pushing needs nothing from the program's runtime and never blocks it.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use tracing::Level;

use super::{Entry, LokiConfig, PushPolicy};

thread_local! {
    /// True on the pushing thread: its events are not queued (no line about a push goes into
    /// the push).
    static PUSHER: Cell<bool> = const { Cell::new(false) };
}

/// Whether this is the pushing thread.
pub(super) fn in_pusher() -> bool {
    PUSHER.with(Cell::get)
}

#[derive(Debug)]
pub(super) struct Queue {
    state: Mutex<State>,
    /// Wakes the pushing thread: the first line, a full batch, a flush, closing.
    wake: Condvar,
    /// Wakes flushes: a flush is done, or the thread ended.
    done: Condvar,
    capacity: usize,
    batch: usize,
}

#[derive(Debug, Default)]
struct State {
    entries: VecDeque<Entry>,
    /// When the oldest waiting line came.
    since: Option<Instant>,
    /// Lines dropped (the queue full) since the pushing thread last looked.
    dropped: u64,
    /// Flushes asked for, and the last one done (tickets).
    flush_asked: u64,
    flush_done: u64,
    /// The layer is gone: send what waits and end.
    closed: bool,
    /// The pushing thread runs.
    running: bool,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queue a line, or count it as dropped when the queue is full. Never waits for Loki: the
    /// lock is held only to add the line.
    pub(super) fn push(&self, level: Level, task: Option<Arc<str>>, line: String) {
        let mut state = self.lock();
        if !state.running {
            return;
        }
        if state.entries.len() >= self.capacity {
            state.dropped = state.dropped.saturating_add(1);
            return;
        }
        // Taken under the lock, so the queue is in time order.
        let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        state.entries.push_back(Entry { nanos, level, task, line });
        let waiting = state.entries.len();
        if waiting == 1 {
            state.since = Some(Instant::now());
        }
        drop(state);
        if waiting == 1 || waiting == self.batch {
            self.wake.notify_one();
        }
    }

    pub(super) fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        state.flush_asked += 1;
        let ticket = state.flush_asked;
        self.wake.notify_one();
        while state.flush_done < ticket {
            let now = Instant::now();
            if !state.running || now >= deadline {
                return state.flush_done >= ticket || (!state.running && state.entries.is_empty());
            }
            state = self.done.wait_timeout(state, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
        }
        true
    }

    /// The lines waiting.
    #[cfg(test)]
    pub(super) fn waiting(&self) -> Vec<Entry> {
        self.lock().entries.iter().cloned().collect()
    }

    pub(super) fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_one();
    }
}

/// Start the pushing thread; its queue.
pub(super) fn start(config: LokiConfig, policy: PushPolicy) -> std::io::Result<Arc<Queue>> {
    let queue = Arc::new(Queue {
        state: Mutex::new(State { running: true, ..State::default() }),
        wake: Condvar::new(),
        done: Condvar::new(),
        capacity: policy.capacity,
        batch: policy.batch.max(1),
    });
    let pusher = Pusher { queue: Arc::clone(&queue), config, policy, http: None, lost: Lost::default(), warned: None };
    std::thread::Builder::new().name("taskflows-loki".into()).spawn(move || pusher.run())?;
    Ok(queue)
}

/// Lines that did not reach Loki, not yet reported.
#[derive(Debug, Default, Clone, Copy)]
struct Lost {
    /// The queue was full.
    dropped: u64,
    /// Loki did not take them (after the retries).
    failed: u64,
}

struct Pusher {
    queue: Arc<Queue>,
    config: LokiConfig,
    policy: PushPolicy,
    http: Option<(tokio::runtime::Runtime, reqwest::Client)>,
    lost: Lost,
    warned: Option<Instant>,
}

/// Why one request failed, and whether trying again may help.
struct Failure {
    message: String,
    retry: bool,
}

impl Pusher {
    fn run(mut self) {
        PUSHER.with(|p| p.set(true));
        loop {
            let (mut batch, ticket, closing) = self.next_batch();
            let lines = batch.len();
            if lines > 0 {
                if self.lost.dropped > 0 || self.lost.failed > 0 {
                    batch.push(report(self.lost));
                }
                match self.send(super::body(self.config.labels(), &batch)) {
                    Ok(()) => self.lost = Lost::default(),
                    Err(message) => {
                        self.lost.failed += lines as u64;
                        self.warn(&message, lines);
                    }
                }
            }
            let mut state = self.queue.lock();
            state.flush_done = state.flush_done.max(ticket);
            let end = closing && state.entries.is_empty();
            if end {
                state.running = false;
            }
            drop(state);
            self.queue.done.notify_all();
            if end {
                return;
            }
        }
    }

    /// Wait until a batch is due (`batch` lines, the oldest `interval` old, a flush, closing) and
    /// take it; with the flush ticket it completes (when it empties the queue) and whether the
    /// layer is gone. Counts the dropped lines into `lost`.
    fn next_batch(&mut self) -> (Vec<Entry>, u64, bool) {
        let queue = Arc::clone(&self.queue);
        let mut state = queue.lock();
        loop {
            if state.closed || state.flush_asked > state.flush_done || state.entries.len() >= queue.batch {
                break;
            }
            state = match state.since {
                None => queue.wake.wait(state).unwrap_or_else(PoisonError::into_inner),
                Some(since) => {
                    let waited = since.elapsed();
                    if waited >= self.policy.interval {
                        break;
                    }
                    queue
                        .wake
                        .wait_timeout(state, self.policy.interval - waited)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
        let take = state.entries.len().min(queue.batch);
        let batch: Vec<Entry> = state.entries.drain(..take).collect();
        let ticket = if state.entries.is_empty() {
            state.since = None;
            state.flush_asked
        } else {
            state.flush_done
        };
        self.lost.dropped += std::mem::take(&mut state.dropped);
        (batch, ticket, state.closed)
    }

    /// Push one body, retrying as the policy says.
    fn send(&mut self, body: Vec<u8>) -> Result<(), String> {
        if self.http.is_none() {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start its runtime: {e}"))?;
            let client = reqwest::Client::builder()
                .timeout(self.policy.timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| format!("cannot build its HTTP client: {}", chain(&e)))?;
            self.http = Some((runtime, client));
        }
        let Some((runtime, client)) = &self.http else { return Err("no HTTP client".into()) };
        let (config, delays) = (&self.config, &self.policy.retry_delays);
        runtime.block_on(async {
            let mut delays = delays.iter();
            loop {
                let failure = match attempt(client, config, body.clone()).await {
                    Ok(()) => return Ok(()),
                    Err(failure) => failure,
                };
                match delays.next() {
                    Some(delay) if failure.retry => tokio::time::sleep(*delay).await,
                    _ => return Err(failure.message),
                }
            }
        })
    }

    /// On stderr, at most once per `warn_every`; never through tracing.
    fn warn(&mut self, message: &str, lines: usize) {
        if self.warned.is_some_and(|at| at.elapsed() < self.policy.warn_every) {
            return;
        }
        self.warned = Some(Instant::now());
        eprintln!(
            "warning: cannot push log lines to Loki at {}: {message}; {lines} line(s) not sent (said at most once every {}s)",
            self.config.push_url(),
            self.policy.warn_every.as_secs()
        );
    }
}

async fn attempt(client: &reqwest::Client, config: &LokiConfig, body: Vec<u8>) -> Result<(), Failure> {
    let mut request =
        client.post(config.push_url.clone()).header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
    if let Some(value) = &config.authorization {
        request = request.header(reqwest::header::AUTHORIZATION, value.clone());
    }
    match request.send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => {
            let status = response.status();
            let said = response.text().await.unwrap_or_default();
            let said: String = said.chars().map(|c| if c.is_control() { ' ' } else { c }).take(200).collect::<String>();
            Err(Failure {
                message: format!("Loki answered {status}: {}", said.trim()),
                retry: status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS,
            })
        }
        Err(e) => Err(Failure { message: chain(&e.without_url()), retry: true }),
    }
}

/// An error and its sources, `: `-separated.
fn chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

/// The line that says how many lines were lost before it.
fn report(lost: Lost) -> Entry {
    let mut line = String::new();
    super::pair(&mut line, "msg", "log lines did not reach Loki");
    super::pair(&mut line, "dropped", &lost.dropped.to_string());
    super::pair(&mut line, "failed", &lost.failed.to_string());
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    Entry { nanos, level: Level::WARN, task: None, line }
}
