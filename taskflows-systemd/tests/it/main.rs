//! Real-systemd tests of the backend. They are `#[ignore]`d: `cargo xtask test-systemd` runs
//! them inside a private systemd, once for each scope (`TF_TEST_SCOPE=system|user`). Each test
//! creates services with its own names, asserts what systemd reports (unit state, timers, the
//! journal) and removes them again. The tests in `stall` need no systemd and run with plain
//! `cargo test`.

mod history;
mod lifecycle;
mod observe;
mod policies;
mod stall;

use std::future::Future;
use std::time::{Duration, Instant};

use taskflows_core::{RenderContext, Scope, ServiceName, ServiceSpec};
use taskflows_systemd::{ServiceState, Systemd};

/// Tests share one manager; reload counting needs them to run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub(crate) fn scope() -> Scope {
    match std::env::var("TF_TEST_SCOPE").as_deref() {
        Ok("user") => Scope::User,
        _ => Scope::System,
    }
}

/// A connected backend and the lock that keeps other tests out while this one runs.
pub(crate) async fn setup() -> (Systemd, tokio::sync::MutexGuard<'static, ()>) {
    assert!(
        std::env::var_os("TF_IN_SANDBOX").is_some(),
        "real-systemd tests change the manager's units: run them with `cargo xtask test-systemd`"
    );
    let guard = SERIAL.lock().await;
    let systemd = Systemd::connect(scope()).await.expect("systemd is reachable inside the sandbox");
    (systemd, guard)
}

pub(crate) fn context(systemd_version: u32) -> RenderContext {
    let mut ctx = RenderContext::new(scope());
    ctx.systemd_version = Some(systemd_version);
    ctx
}

pub(crate) fn specs(toml: &str) -> Vec<ServiceSpec> {
    taskflows_core::file::parse_service_file("test.toml", toml).expect("test services parse")
}

pub(crate) fn names(specs: &[ServiceSpec]) -> Vec<ServiceName> {
    specs.iter().map(|s| s.name.clone()).collect()
}

/// Create `toml`'s services after removing leftovers of an earlier run.
pub(crate) async fn create(systemd: &Systemd, toml: &str) -> Vec<ServiceSpec> {
    let specs = specs(toml);
    systemd.remove(&names(&specs)).await.expect("remove leftovers");
    let ctx = context(systemd.version().await.unwrap());
    let report = systemd.create(&specs, &ctx).await.expect("create");
    assert!(report.jobs.iter().all(|j| j.ok()), "jobs failed: {:?}", report.jobs);
    specs
}

/// Poll `check` every 200 ms until it returns `Some`, for at most `limit`.
pub(crate) async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub(crate) async fn state(systemd: &Systemd, name: &str) -> ServiceState {
    let name = ServiceName::new(name).unwrap();
    systemd.status(std::slice::from_ref(&name)).await.expect("status").remove(0)
}

pub(crate) fn now_us() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as u64
}
