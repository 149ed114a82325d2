//! Real-systemd tests of the `cargo xtask test-systemd` harness itself.
//!
//! They run only inside the sandbox (`cargo xtask test-systemd`), in the scope named by
//! `TF_TEST_SCOPE` (`system` or `user`): each writes unit files, drives them with `systemctl`
//! and asserts on what systemd and the journal report.

mod units;

use std::time::{Duration, Instant};

use units::{Scope, UnitFiles};

const NEEDS_SYSTEMD: &str = "needs real systemd: cargo xtask test-systemd";

/// journald attributes a line to its unit by looking at the writer's cgroup when it reads
/// the line; a process that has already exited by then leaves the line without `_SYSTEMD_UNIT`
/// (or `_SYSTEMD_USER_UNIT`), and `journalctl -u` misses it. Units that tests look up in the
/// journal therefore stay alive a moment after printing.
const LINGER: &str = "sleep 0.5";

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn oneshot_service_runs_exits_zero_and_logs() {
    let scope = Scope::from_env(NEEDS_SYSTEMD);
    let name = scope.unique_name("oneshot", "service");
    let marker = format!("tf-it marker {name}");
    let mut units = UnitFiles::new(&scope);
    units.write(
        &name,
        &format!(
            "[Unit]\nDescription=tf-it oneshot\n\n[Service]\nType=oneshot\n\
             RemainAfterExit=yes\nExecStart=/bin/sh -c 'echo \"{marker}\"; {LINGER}'\n"
        ),
    );
    scope.daemon_reload();

    let start = scope.systemctl(&["start", &name]);
    assert!(start.status.success(), "systemctl start {name}: {start:?}");
    let props =
        scope.show(&name, "ActiveState,SubState,Result,ExecMainCode,ExecMainStatus,ExecMainStartTimestampMonotonic");
    assert_eq!(props["ActiveState"], "active", "{props:?}");
    assert_eq!(props["SubState"], "exited", "{props:?}");
    assert_eq!(props["Result"], "success", "{props:?}");
    // ExecMainCode 1 is CLD_EXITED: the process ran and exited (not killed, not skipped).
    assert_eq!(props["ExecMainCode"], "1", "{props:?}");
    assert_eq!(props["ExecMainStatus"], "0", "{props:?}");
    assert_ne!(props["ExecMainStartTimestampMonotonic"], "0", "{props:?}");
    scope.wait_for_journal(&name, &marker, Duration::from_secs(10));

    units.remove();
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn failing_service_reports_its_exit_status() {
    let scope = Scope::from_env(NEEDS_SYSTEMD);
    let name = scope.unique_name("failing", "service");
    let mut units = UnitFiles::new(&scope);
    units.write(
        &name,
        &format!("[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo about to fail; {LINGER}; exit 3'\n"),
    );
    scope.daemon_reload();

    let start = scope.systemctl(&["start", &name]);
    assert!(!start.status.success(), "systemctl start of a failing unit succeeded: {start:?}");
    let props = scope.show(&name, "ActiveState,Result,ExecMainCode,ExecMainStatus");
    assert_eq!(props["ActiveState"], "failed", "{props:?}");
    assert_eq!(props["Result"], "exit-code", "{props:?}");
    assert_eq!(props["ExecMainCode"], "1", "{props:?}");
    assert_eq!(props["ExecMainStatus"], "3", "{props:?}");
    scope.wait_for_journal(&name, "about to fail", Duration::from_secs(10));

    units.remove();
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn timer_fires_its_service() {
    let scope = Scope::from_env(NEEDS_SYSTEMD);
    let base = scope.unique_name("timer", "");
    let service = format!("{base}service");
    let timer = format!("{base}timer");
    let marker = format!("tf-it timer fired {base}");
    let mut units = UnitFiles::new(&scope);
    units.write(&service, &format!("[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo \"{marker}\"; {LINGER}'\n"));
    units.write(&timer, "[Timer]\nOnActiveSec=1s\nAccuracySec=100ms\nRemainAfterElapse=yes\n");
    scope.daemon_reload();

    let armed = Instant::now();
    let start = scope.systemctl(&["start", &timer]);
    assert!(start.status.success(), "systemctl start {timer}: {start:?}");
    let deadline = armed + Duration::from_secs(15);
    let props = loop {
        let props = scope.show(&service, "Result,ExecMainCode,ExecMainStatus,ExecMainExitTimestampMonotonic");
        if props["ExecMainExitTimestampMonotonic"] != "0" {
            break props;
        }
        assert!(
            Instant::now() < deadline,
            "{timer} did not run {service} within 15s: {props:?}\n{:?}",
            scope.show(&timer, "ActiveState,SubState,Result,NextElapseUSecMonotonic")
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        armed.elapsed() >= Duration::from_millis(900),
        "{service} ran {:?} after arming a 1s timer",
        armed.elapsed()
    );
    assert_eq!(props["Result"], "success", "{props:?}");
    assert_eq!(props["ExecMainCode"], "1", "{props:?}");
    assert_eq!(props["ExecMainStatus"], "0", "{props:?}");
    scope.wait_for_journal(&service, &marker, Duration::from_secs(10));

    units.remove();
}
