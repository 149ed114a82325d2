//! Service files covering every field and every FIX of SPEC §1–§4, shared by the snapshot and
//! the `systemd-analyze verify` tests. Commands name programs that exist on every Debian host,
//! because `systemd-analyze verify` checks them.

use taskflows_core::{RenderContext, Scope, UnitFile};

/// (case name, service file). Each renders without error in both scopes.
pub(crate) const CASES: &[(&str, &str)] = &[
    (
        "minimal",
        r#"
[[service]]
name = "hello"
start_command = "/bin/echo hello"
"#,
    ),
    // FIX: exactly one Description= line when a description is set.
    (
        "description",
        r#"
[[service]]
name = "described"
description = "Processes 100% of the daily reports"
start_command = "/bin/echo hi"
"#,
    ),
    // FIX: bare names get .service; { service = … } names a taskflows unit; suffixes are kept.
    (
        "relations",
        r#"
[[service]]
name = "app"
start_command = "/bin/sleep 60"
start_after = ["db", "network-online.target", { service = "cache" }]
start_before = "monitoring"
requires = "db"
requisite = "storage.mount"
wants = ["cache", "db"]
upholds = "sidecar"
binds_to = "db.service"
part_of = "app-stack.target"
on_failure = { service = "alert" }
on_success = "cleanup"
conflicts = "maintenance"
propagate_stop_to = "worker"
propagate_stop_from = "db"
"#,
    ),
    (
        "commands",
        r#"
[[service]]
name = "commands"
start_command = "/bin/sh -c 'date +%Y-%m-%d; echo $HOME ${USER}'"
stop_command = "-/bin/kill -TERM $MAINPID"
restart_command = "/bin/kill -HUP $MAINPID"
"#,
    ),
    (
        "environment-variables",
        r#"
[[service]]
name = "env"
start_command = "/usr/bin/env"
working_directory = "/var/lib//app/./data/"
env = { GREETING = "say \"hi\" with 100% \\ backslash", PATH = "/usr/bin:/bin", _X1 = "" }
env_file = "/etc/default/app"
"#,
    ),
    (
        "timeout-and-signal",
        r#"
[[service]]
name = "bounded"
start_command = "/bin/sleep 600"
timeout = 300
kill_signal = "int"
"#,
    ),
    (
        "restart-condition",
        r#"
[[service]]
name = "always"
start_command = "/bin/sleep 60"
restart_policy = "unless-stopped"
"#,
    ),
    (
        "restart-policy",
        r#"
[[service]]
name = "retrying"
start_command = "/bin/false"
restart_policy = { condition = "on-failure", delay = "10s", max_attempts = 5, window = "5min" }

[[service]]
name = "retrying-no-window"
start_command = "/bin/false"
restart_policy = { condition = "on-abnormal", max_attempts = 3 }

[[service]]
name = "retrying-window-only"
start_command = "/bin/false"
restart_policy = { condition = "on-abort", window = 60 }
"#,
    ),
    (
        "watchdog",
        r#"
[[service]]
name = "watched"
start_command = "/bin/sleep 60"
watchdog = { timeout = "30s", notify_access = "all" }

[[service]]
name = "watched-with-policy"
start_command = "/bin/sleep 60"
watchdog = { timeout = "1min", restart_on_hang = true }
restart_policy = "on-failure"

[[service]]
name = "watched-no-restart"
start_command = "/bin/sleep 60"
watchdog = { timeout = 10, restart_on_hang = false }
"#,
    ),
    (
        "calendar",
        r#"
[[service]]
name = "nightly"
start_command = "/bin/echo nightly"
start_schedule = { calendar = "Mon..Fri *-*-* 02:30:00 Europe/Berlin", persistent = false, accuracy = "1min", randomized_delay = "15min" }
"#,
    ),
    (
        "periodic",
        r#"
[[service]]
name = "on-boot-from-start"
start_command = "/bin/echo tick"
start_schedule = { period = 300 }

[[service]]
name = "on-login-from-finish"
start_command = "/bin/echo tick"
start_schedule = { period = "1h 30min", start_on = "login", relative_to = "finish", accuracy = "1s" }

[[service]]
name = "on-command"
start_command = "/bin/echo tick"
start_schedule = { period = "45s", start_on = "command" }
"#,
    ),
    (
        "multiple-schedules",
        r#"
[[service]]
name = "many"
start_command = "/bin/echo many"
start_schedule = ["hourly", { calendar = "Sat 12:00", accuracy = "10s", randomized_delay = "1min" }, { period = "2h", relative_to = "finish" }]
"#,
    ),
    // FIX: stop-/restart- helpers get their own timers (which the backend starts).
    (
        "stop-restart-schedules",
        r#"
[[service]]
name = "daytime"
start_command = "/bin/sleep infinity"
enabled = true
start_schedule = "Mon-Fri 08:00"
stop_schedule = ["Mon-Fri 18:00", "Sat 00:00"]
restart_schedule = { period = "6h", start_on = "command" }
"#,
    ),
    // FIX: silent requirements are Condition…=, never the made-up Constraint…=.
    (
        "requirements",
        r#"
[[service]]
name = "guarded"
start_command = "/bin/echo ok"
startup_requirements = [
  { kind = "memory", amount = "8G" },
  { kind = "memory", amount = 1073741824, constraint = "<", silent = true },
  { kind = "cpus", amount = 4, constraint = ">=" },
  { kind = "cpus", amount = 64, constraint = "!=", silent = true },
  { kind = "cpu_pressure", max_percent = 80, timespan = "5min" },
  { kind = "memory_pressure", max_percent = 70.5, timespan = "1min", silent = true },
  { kind = "io_pressure", max_percent = 90, timespan = "10sec" },
]
"#,
    ),
    // Wait admission: pressure requirements with `wait` become an ExecCondition= that waits.
    (
        "requirements-wait",
        r#"
[[service]]
name = "patient"
start_command = "/bin/echo ran"
startup_requirements = [
  { kind = "cpu_pressure", max_percent = 50, timespan = "10sec", wait = "10min" },
  { kind = "io_pressure", max_percent = 80, wait = "1h", silent = true },
  { kind = "memory", amount = "1G" },
]
"#,
    ),
    // FIX: one TimeoutStopSec= even when the cgroup config sets its own.
    (
        "cgroup",
        r#"
[[service]]
name = "limited"
start_command = "/bin/sleep 60"
[service.cgroup_config]
cpu_quota = 150000
cpu_period = 50000
cpu_shares = 512
cpuset_cpus = "0-1,3"
memory_limit = "2G"
memory_high = "1.5GiB"
memory_low = "256M"
memory_min = "64MB"
memory_swap_limit = "3G"
blkio_weight = 500
device_read_bps = { "/dev/sda" = "100M" }
device_write_bps = { "/dev/sda" = "50M" }
device_read_iops = { "/dev/sdb" = 1000 }
device_write_iops = { "/dev/sdb" = 500 }
pids_limit = 100
nofile_limit = 65536
oom_score_adj = 500
oom_policy = "kill"
managed_oom_swap = "kill"
managed_oom_memory_pressure = "kill"
managed_oom_memory_pressure_limit = 60
managed_oom_preference = "avoid"
read_only_rootfs = true
cap_drop = ["NET_RAW", "cap_sys_admin"]
cap_add = ["NET_BIND_SERVICE"]
devices = [{ path = "/dev/fuse" }, { path = "/dev/null", permissions = "rw" }]
timeout_start = "2min"
timeout_stop = "30s"
"#,
    ),
    // FIX: cap_drop = ["ALL"] drops every capability; cap_add keeps the named ones.
    (
        "capabilities",
        r#"
[[service]]
name = "no-caps"
start_command = "/bin/echo none"
cgroup_config = { cap_drop = ["ALL"], cpu_weight = 200, io_weight = 300, memory_swap_max = "1G" }

[[service]]
name = "few-caps"
start_command = "/bin/echo few"
cgroup_config = { cap_drop = ["all"], cap_add = ["CAP_NET_BIND_SERVICE", "chown"] }
"#,
    ),
    (
        "venv",
        r#"
[[service]]
name = "ml"
start_command = "-python train.py --epochs 10"
stop_command = "pkill -f train.py"
environment = { venv = { name = "ml-env" } }
"#,
    ),
    // A stored environment, found in the context by name; the unit names it for `tf env`.
    (
        "stored-environment",
        r#"
[[service]]
name = "trainer"
start_command = "python train.py"
environment = "ml-stored"
"#,
    ),
    // FIX: the container runs attached (through tf), so systemd sees its exit status.
    (
        "docker",
        r#"
[[service]]
name = "api"
start_command = "python app.py --port 8080"
restart_policy = "on-failure"
[service.environment.docker]
image = "python:3.11"
persisted = true
ports = { "8080/tcp" = 8080, "9090" = "127.0.0.1:9090" }
volumes = [{ host_path = "/srv/data", container_path = "/app/data", read_only = true }]
environment = { ENV = "production" }
network_mode = "bridge"
init = true
shm_size = "256M"
restart_policy = "no"
cgroup_config = { memory_limit = "1G", cpu_quota = 50000 }
"#,
    ),
];

/// The context snapshots are rendered with: fixed paths, so output does not depend on the host.
pub(crate) fn context(scope: Scope) -> RenderContext {
    let mut ctx = RenderContext::new(scope);
    ctx.conda_runner = Some(taskflows_core::AbsPath::new("/opt/conda/bin/conda").unwrap());
    ctx.named_environments.insert(
        taskflows_core::EnvName::new("ml-stored").unwrap(),
        taskflows_core::Environment::Venv(taskflows_core::Venv::new("ml-env").unwrap()),
    );
    ctx
}

/// Parse and render one case.
pub(crate) fn render_case(toml: &str, ctx: &RenderContext) -> Vec<UnitFile> {
    let specs = taskflows_core::file::parse_service_file("case.toml", toml).expect("case parses");
    specs.iter().flat_map(|s| taskflows_core::render(s, ctx).expect("case renders")).collect()
}

/// All units of a case as one text: `# name` then content, as `tf create --dry-run` prints.
pub(crate) fn as_text(units: &[UnitFile]) -> String {
    units.iter().map(|u| format!("# {}\n{}", u.name, u.content)).collect::<Vec<_>>().join("\n")
}
