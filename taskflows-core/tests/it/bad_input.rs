//! Bad input gets one clear error naming the field (and in files the line and column) and
//! saying what is allowed. Each row asserts the exact message.

use taskflows_core::file::parse_service_file;
use taskflows_core::{Calendar, Duration, Periodic, RelativeTo, ServiceSpec, StartOn};

fn check(file: &str, expected: &str) {
    match parse_service_file("bad.toml", file) {
        Ok(specs) => panic!("accepted {file:?}: {specs:?}"),
        Err(e) => assert_eq!(e.to_string(), expected, "for {file:?}"),
    }
}

/// A one-service file: a valid name and command, then `extra`.
fn service(extra: &str) -> String {
    format!("[[service]]\nname = \"svc\"\nstart_command = \"/bin/true\"\n{extra}\n")
}

#[test]
fn bad_service_fields() {
    for (extra, expected) in FIELD_ROWS {
        check(&service(extra), expected);
    }
}

#[test]
fn bad_files() {
    for (file, expected) in FILE_ROWS {
        check(file, expected);
    }
}

#[test]
fn bad_builder_values() {
    let err = |b: taskflows_core::ServiceBuilder| b.build().unwrap_err().to_string();
    assert_eq!(
        err(ServiceSpec::builder("bad name", "/bin/true")),
        "name: \"bad name\" contains ' '; use letters, digits, '.', '_' and '-'"
    );
    assert_eq!(
        err(ServiceSpec::builder("ok", "/bin/true").env("1X", "v")),
        "service[ok].env: \"1X\" is not a valid variable name; use letters, digits and '_', not starting with a digit"
    );
    assert_eq!(
        err(ServiceSpec::builder("ok", "/bin/true").description("a\nb").env("1X", "v")),
        "service[ok].description: must not contain line breaks (CR, LF) or NUL characters",
        "the first bad value is reported"
    );
    assert_eq!(
        err(ServiceSpec::builder("ok", "/bin/true").timeout(Duration::from_secs(0))),
        "service[ok].timeout: must be more than zero (seconds, or a duration such as \"5min\")"
    );
    assert_eq!(
        err(ServiceSpec::builder("ok", "'/bin/true")),
        "service[ok].start_command: has an unterminated ' quote in \"'/bin/true\"; close it or escape it with a backslash"
    );
    assert_eq!(
        Periodic::new(StartOn::Boot, Duration::from_secs(0), RelativeTo::Start).unwrap_err().to_string(),
        "period must be more than zero, e.g. 300 or \"5min\""
    );
    let long_ago = jiff::civil::date(1960, 1, 1).at(0, 0, 0, 0).to_zoned_datetime(jiff::tz::TimeZone::UTC).unwrap();
    assert!(Calendar::from_datetime(&long_ago).is_err(), "systemd's calendar starts in 1970");
    let soon = jiff::civil::date(2027, 3, 14)
        .at(2, 30, 0, 0)
        .to_zoned_datetime(jiff::tz::TimeZone::get("America/New_York").unwrap())
        .unwrap();
    assert_eq!(Calendar::from_datetime(&soon).unwrap().expr.as_str(), "2027-03-14 03:30:00 America/New_York");
    assert_eq!(
        Calendar::new("  ").unwrap_err().to_string(),
        "calendar expression must not be empty; e.g. \"daily\" or \"Mon-Fri 09:00\""
    );
}

/// (lines added to a valid service, the exact error).
const FIELD_ROWS: &[(&str, &str)] = &[
    (
        "startup_requirements = [{ kind = \"cpus\", amount = 2, wait = \"5min\" }]",
        "bad.toml:4:24: service[0].startup_requirements[0]: `wait` does not apply to memory and cpus (they do not change by waiting) requirements",
    ),
    (
        "startup_requirements = [{ kind = \"cpus\", amount = 2, max_percent = 5 }]",
        "bad.toml:4:24: service[0].startup_requirements[0]: `max_percent` does not apply to memory and cpus requirements",
    ),
    (
        "startup_requirements = [{ kind = \"memory\" }]",
        "bad.toml:4:24: service[0].startup_requirements[0]: missing field `amount`",
    ),
    (
        "cgroup_config = { cpuset_cpus = \"0\\n,1\" }",
        "bad.toml:4:19: service[0].cgroup_config.cpuset_cpus: \"0\\n,1\" is not a CPU list; use numbers and ranges such as \"0-3,6\"",
    ),
    (
        "cgroup_config = { cpuset_cpus = \"0, 1\" }",
        "bad.toml:4:19: service[0].cgroup_config.cpuset_cpus: \"0, 1\" is not a CPU list; use numbers and ranges such as \"0-3,6\"",
    ),
    (
        "environment = { venv = { name = \"x -- /bin/evil ;\" } }",
        "bad.toml:4:24: service[0].environment.venv: \"x -- /bin/evil ;\" is not an environment name; use letters, digits, '.', '_', '-' and '+' (not first)",
    ),
    (
        "environment = { venv = { name = \"\" } }",
        "bad.toml:4:24: service[0].environment.venv: \"\" is not an environment name; use letters, digits, '.', '_', '-' and '+' (not first)",
    ),
    (
        "stop_command = \"./run.sh\"",
        "bad.toml:4:16: service[0].stop_command: program \"./run.sh\" must be an absolute path (e.g. /usr/bin/python3) or a bare name systemd finds on its search path",
    ),
    (
        "restart_command = \"/bin/echo a ; /bin/echo b\"",
        "bad.toml:4:19: service[0].restart_command: \"/bin/echo a ; /bin/echo b\" has a lone ';': systemd runs one command per line; use /bin/sh -c '…' for several",
    ),
    (
        "cgroup_config = { device_write_iops = { \"/dev/my disk\" = 5 } }",
        "bad.toml:4:19: service[0].cgroup_config.device_write_iops: \"/dev/my disk\" is not a device; use a path under /dev/ without blanks or '%'",
    ),
    (
        "cgroup_config = { devices = [{ path = \"/dev/%h\" }] }",
        "bad.toml:4:19: service[0].cgroup_config.devices: \"/dev/%h\" is not a device; use a path under /dev/ without blanks or '%'",
    ),
    (
        "start_schedule = \"Mon-Fry 09:00\"",
        "bad.toml:4:18: service[0].start_schedule: invalid calendar expression \"Mon-Fry 09:00\": unknown weekday \"Fry\" at column 5 (expected Mon, Tue, Wed, Thu, Fri, Sat or Sun)",
    ),
    (
        "stop_schedule = [\"daily\", { calendar = \"*-*-* 25:00\" }]",
        "bad.toml:4:27: service[0].stop_schedule[1]: invalid calendar expression \"*-*-* 25:00\": hour 25 is out of range at column 7 (expected 0..23)",
    ),
    (
        "description = \"line one\\nExecStartPre=/bin/evil\"",
        "bad.toml:4:15: service[0].description: must not contain line breaks (CR, LF) or NUL characters",
    ),
    (
        "description = \"ends with backslash\\\\\"",
        "bad.toml:4:15: service[0].description: must not end with a backslash (systemd would join it with the next line)",
    ),
    (
        "description = \"nul\\u0000byte\"",
        "bad.toml:4:15: service[0].description: must not contain line breaks (CR, LF) or NUL characters",
    ),
    (
        "description = \"\\tindented\"",
        "bad.toml:4:1: service[0].description: \"\\tindented\" starts or ends with a blank (space or tab), which systemd drops from a unit-file value; remove it",
    ),
    ("description = \"\"", "bad.toml:4:1: service[0].description: must not be empty (systemd would read no value)"),
    (
        "working_directory = \"/srv/app \"",
        "bad.toml:4:1: service[0].working_directory: \"/srv/app \" starts or ends with a blank (space or tab), which systemd drops from a unit-file value; remove it",
    ),
    (
        "env_file = \"/etc/app.env\\t\"",
        "bad.toml:4:1: service[0].env_file: \"/etc/app.env\\t\" starts or ends with a blank (space or tab), which systemd drops from a unit-file value; remove it",
    ),
    (
        "stop_command = \"/bin/echo a\\\\ \"",
        "bad.toml:4:16: service[0].stop_command: \"/bin/echo a\\\\ \" ends with an escaped blank, which systemd drops (it keeps the backslash); quote the word instead",
    ),
    (
        "stop_command = \"/bin/true\\r[Service]\"",
        "bad.toml:4:16: service[0].stop_command: must not contain line breaks (CR, LF) or NUL characters",
    ),
    (
        "restart_command = \"/bin/kill -HUP 'unterminated\"",
        "bad.toml:4:19: service[0].restart_command: has an unterminated ' quote in \"/bin/kill -HUP 'unterminated\"; close it or escape it with a backslash",
    ),
    (
        "env = { \"1ABC\" = \"x\" }",
        "bad.toml:4:9: service[0].env.1ABC: \"1ABC\" is not a valid variable name; use letters, digits and '_', not starting with a digit",
    ),
    (
        "env = { \"HAS-DASH\" = \"x\" }",
        "bad.toml:4:9: service[0].env.HAS-DASH: \"HAS-DASH\" is not a valid variable name; use letters, digits and '_', not starting with a digit",
    ),
    (
        "env = { GOOD = \"value\\nExecStart=/bin/evil\" }",
        "bad.toml:4:16: service[0].env.GOOD: must not contain line breaks (CR, LF) or NUL characters",
    ),
    (
        "env_file = \"relative/.env\"",
        "bad.toml:4:12: service[0].env_file: \"relative/.env\" is not an absolute path (it must start with '/')",
    ),
    (
        "env_file = \"/etc/../shadow\"",
        "bad.toml:4:12: service[0].env_file: \"/etc/../shadow\" must not contain '..' components",
    ),
    (
        "working_directory = \"/srv/app\\n[Install]\"",
        "bad.toml:4:21: service[0].working_directory: must not contain line breaks (CR, LF) or NUL characters",
    ),
    (
        "timeout = -5",
        "bad.toml:4:11: service[0].timeout: -5 is negative; use a number of seconds or a duration such as \"30s\", \"5min\", \"1h 30min\" (units: us, ms, s, min, h, d, w)",
    ),
    (
        "timeout = 0",
        "bad.toml:4:1: service[0].timeout: must be more than zero (seconds, or a duration such as \"5min\")",
    ),
    (
        "timeout = \"ten minutes\"",
        "bad.toml:4:11: service[0].timeout: \"ten minutes\" is not a duration; use a number of seconds or a duration such as \"30s\", \"5min\", \"1h 30min\" (units: us, ms, s, min, h, d, w)",
    ),
    (
        "kill_signal = \"SIGFOO\"",
        "bad.toml:4:15: service[0].kill_signal: \"SIGFOO\" is not a signal; use a name such as SIGTERM, SIGINT, SIGKILL, SIGHUP or SIGRTMIN+N",
    ),
    (
        "restart_policy = \"sometimes\"",
        "bad.toml:4:18: service[0].restart_policy: \"sometimes\" is not a restart condition; use one of no, always, on-success, on-failure, on-abnormal, on-abort, on-watchdog",
    ),
    (
        "restart_policy = { condition = \"on-failure\", delay = -1 }",
        "bad.toml:4:54: service[0].restart_policy.delay: -1 is negative; use a number of seconds or a duration such as \"30s\", \"5min\", \"1h 30min\" (units: us, ms, s, min, h, d, w)",
    ),
    (
        "restart_policy = { condition = \"on-failure\", attempts = 3 }",
        "bad.toml:4:46: service[0].restart_policy.attempts: unknown field `attempts`, expected one of `condition`, `delay`, `max_attempts`, `window`, `steps`, `max_delay`",
    ),
    (
        "start_schedule = \"\"",
        "bad.toml:4:18: service[0].start_schedule: calendar expression must not be empty; e.g. \"daily\" or \"Mon-Fri 09:00\"",
    ),
    (
        "start_schedule = \"daily\\nOnCalendar=minutely\"",
        "bad.toml:4:18: service[0].start_schedule: calendar expression must not contain line breaks (CR, LF) or NUL characters",
    ),
    (
        "start_schedule = { period = 0 }",
        "bad.toml:4:18: service[0].start_schedule: period must be more than zero, e.g. 300 or \"5min\"",
    ),
    (
        "start_schedule = { period = -60 }",
        "bad.toml:4:29: service[0].start_schedule.period: -60 is negative; use a number of seconds or a duration such as \"30s\", \"5min\", \"1h 30min\" (units: us, ms, s, min, h, d, w)",
    ),
    (
        "start_schedule = { period = \"5min\", start_on = \"reboot\" }",
        "bad.toml:4:48: service[0].start_schedule.start_on: unknown variant `reboot`, expected one of `boot`, `login`, `command`",
    ),
    (
        "start_schedule = { period = \"5min\", relative_to = \"middle\" }",
        "bad.toml:4:51: service[0].start_schedule.relative_to: unknown variant `middle`, expected `start` or `finish`",
    ),
    (
        "start_schedule = { calendar = \"daily\", period = 60 }",
        "bad.toml:4:18: service[0].start_schedule: give either `calendar` (calendar schedule) or `period` (periodic schedule), not both",
    ),
    (
        "start_schedule = { persistent = true }",
        "bad.toml:4:18: service[0].start_schedule: a schedule needs `calendar` (e.g. \"Mon-Fri 09:00\") or `period` (e.g. \"5min\")",
    ),
    (
        "start_schedule = { calendar = \"daily\", start_on = \"boot\" }",
        "bad.toml:4:18: service[0].start_schedule: `start_on` and `relative_to` belong to periodic schedules (with `period`), not calendar ones",
    ),
    (
        "start_schedule = 42",
        "bad.toml:4:18: service[0].start_schedule: invalid type: integer `42`, expected a calendar expression, a schedule table, or a list of them",
    ),
    (
        "start_after = \"db\\nRequires=evil\"",
        "bad.toml:4:15: service[0].start_after: unit name \"db\\nRequires=evil\" contains '\\n'; use letters, digits, ':', '-', '_', '.', '\\' and '@'",
    ),
    (
        "requires = \"bad unit name\"",
        "bad.toml:4:12: service[0].requires: unit name \"bad unit name\" contains ' '; use letters, digits, ':', '-', '_', '.', '\\' and '@'",
    ),
    (
        "wants = { service = \"../etc\" }",
        "bad.toml:4:9: service[0].wants: \"../etc\" contains '/'; use letters, digits, '.', '_' and '-'",
    ),
    (
        "startup_requirements = [{ kind = \"memory\", amount = \"8 gigs\" }]",
        "bad.toml:4:53: service[0].startup_requirements[0].amount: \"8 gigs\" is not a size; use a number of bytes or a size such as \"512M\", \"1G\", \"1.5GiB\" (K, M, G, T and KiB … TiB are powers of 1024; KB, MB, GB, TB powers of 1000)",
    ),
    (
        "startup_requirements = [{ kind = \"cpus\", amount = 4, constraint = \"=>\" }]",
        "bad.toml:4:67: service[0].startup_requirements[0].constraint: \"=>\" is not a comparison; use one of <, <=, =, !=, >=, >",
    ),
    (
        "startup_requirements = [{ kind = \"cpu_pressure\", max_percent = 150 }]",
        "bad.toml:4:24: service[0].startup_requirements[0]: max_percent 150 is out of range; use 0 to 100",
    ),
    (
        "startup_requirements = [{ kind = \"io_pressure\", max_percent = 50, timespan = \"2min\" }]",
        "bad.toml:4:78: service[0].startup_requirements[0].timespan: unknown variant `2min`, expected one of `10sec`, `1min`, `5min`",
    ),
    (
        "startup_requirements = [{ kind = \"disk\", amount = 1 }]",
        "bad.toml:4:34: service[0].startup_requirements[0].kind: unknown variant `disk`, expected one of `memory`, `cpus`, `cpu_pressure`, `memory_pressure`, `io_pressure`",
    ),
    (
        "cgroup_config = { cpu_weight = 0 }",
        "bad.toml:4:19: service[0].cgroup_config.cpu_weight: 0 is out of range; use 1 to 10000",
    ),
    (
        "cgroup_config = { cpu_weight = 10001 }",
        "bad.toml:4:19: service[0].cgroup_config.cpu_weight: 10001 is out of range; use 1 to 10000",
    ),
    (
        "cgroup_config = { io_weight = 20000 }",
        "bad.toml:4:19: service[0].cgroup_config.io_weight: 20000 is out of range; use 1 to 10000",
    ),
    (
        "cgroup_config = { blkio_weight = 5 }",
        "bad.toml:4:19: service[0].cgroup_config.blkio_weight: 5 is out of range; use 10 to 1000",
    ),
    (
        "cgroup_config = { oom_score_adj = 2000 }",
        "bad.toml:4:19: service[0].cgroup_config.oom_score_adj: 2000 is out of range; use -1000 to 1000",
    ),
    (
        "cgroup_config = { cpu_quota = 50000, cpu_period = 10 }",
        "bad.toml:4:38: service[0].cgroup_config.cpu_period: 10 is out of range; use 1000 to 1000000",
    ),
    (
        "cgroup_config = { cpu_period = 100000 }",
        "bad.toml:4:19: service[0].cgroup_config.cpu_period: needs cpu_quota (the CPU time allowed per period)",
    ),
    (
        "cgroup_config = { cpu_quota = 0 }",
        "bad.toml:4:19: service[0].cgroup_config.cpu_quota: 0 is out of range; use a positive number of microseconds per period",
    ),
    (
        "cgroup_config = { cpuset_cpus = \"3-1\" }",
        "bad.toml:4:19: service[0].cgroup_config.cpuset_cpus: \"3-1\" is not a CPU list; use numbers and ranges such as \"0-3,6\"",
    ),
    (
        "cgroup_config = { memory_limit = \"-1G\" }",
        "bad.toml:4:34: service[0].cgroup_config.memory_limit: \"-1G\" is not a size; use a number of bytes or a size such as \"512M\", \"1G\", \"1.5GiB\" (K, M, G, T and KiB … TiB are powers of 1024; KB, MB, GB, TB powers of 1000)",
    ),
    (
        "cgroup_config = { memory_swap_limit = \"2G\" }",
        "bad.toml:4:19: service[0].cgroup_config.memory_swap_limit: needs memory_limit (it is memory plus swap); or use memory_swap_max",
    ),
    (
        "cgroup_config = { memory_limit = \"2G\", memory_swap_limit = \"1G\" }",
        "bad.toml:4:40: service[0].cgroup_config.memory_swap_limit: 1073741824 is less than memory_limit 2147483648; it counts memory plus swap",
    ),
    (
        "cgroup_config = { pids_limit = 0 }",
        "bad.toml:4:19: service[0].cgroup_config.pids_limit: 0 is out of range; use 1 or more",
    ),
    (
        "cgroup_config = { managed_oom_memory_pressure_limit = 101 }",
        "bad.toml:4:19: service[0].cgroup_config.managed_oom_memory_pressure_limit: 101 is out of range; use 0 to 100",
    ),
    (
        "cgroup_config = { cap_drop = [\"NET_RAWR\"] }",
        "bad.toml:4:19: service[0].cgroup_config.cap_drop: \"NET_RAWR\" is not a Linux capability; use names such as NET_RAW or CAP_SYS_ADMIN, or ALL in cap_drop",
    ),
    (
        "cgroup_config = { cap_add = [\"ALL\"] }",
        "bad.toml:4:19: service[0].cgroup_config.cap_add: \"ALL\" is only allowed in cap_drop; list the capabilities to keep",
    ),
    (
        "cgroup_config = { devices = [{ path = \"/dev/fuse\", permissions = \"rwx\" }] }",
        "bad.toml:4:19: service[0].cgroup_config.devices: permissions \"rwx\" of /dev/fuse are not allowed; use some of r, w, m",
    ),
    (
        "cgroup_config = { device_read_bps = { \"/etc/passwd\" = \"1M\" } }",
        "bad.toml:4:19: service[0].cgroup_config.device_read_bps: \"/etc/passwd\" is not a device; use a path under /dev/ without blanks or '%'",
    ),
    (
        "cgroup_config = { oom_policy = \"explode\" }",
        "bad.toml:4:32: service[0].cgroup_config.oom_policy: unknown variant `explode`, expected one of `continue`, `stop`, `kill`",
    ),
    (
        "cgroup_config = { memory_limt = \"1G\" }",
        "bad.toml:4:19: service[0].cgroup_config.memory_limt: unknown field `memory_limt`, expected one of `cpu_quota`, `cpu_period`, `cpu_weight`, `cpu_shares`, `cpuset_cpus`, `memory_limit`, `memory_high`, `memory_low`, `memory_min`, `memory_swap_max`, `memory_swap_limit`, `io_weight`, `blkio_weight`, `device_read_bps`, `device_write_bps`, `device_read_iops`, `device_write_iops`, `pids_limit`, `nofile_limit`, `oom_score_adj`, `oom_policy`, `managed_oom_swap`, `managed_oom_memory_pressure`, `managed_oom_memory_pressure_limit`, `managed_oom_preference`, `read_only_rootfs`, `cap_drop`, `cap_add`, `devices`, `timeout_start`, `timeout_stop`",
    ),
    (
        "environment = \"bad name!\"",
        "bad.toml:4:15: service[0].environment: \"bad name!\" contains ' '; use letters, digits, '.', '_' and '-'",
    ),
    (
        "environment = { venv = { name = \"ml\", runner = \"conda\" } }",
        "bad.toml:4:48: service[0].environment.venv.runner: \"conda\" is not an absolute path (it must start with '/')",
    ),
    (
        "environment = { conda = { name = \"ml\" } }",
        "bad.toml:4:17: service[0].environment.conda: unknown variant `conda`, expected `venv` or `docker`",
    ),
    (
        "environment = { docker = { image = \"\" } }",
        "bad.toml:4:28: service[0].environment.docker.image: must not be empty; e.g. \"python:3.11\"",
    ),
    (
        "environment = { docker = { image = \"busybox\", command = \"sh -c 'oops\" } }",
        "bad.toml:4:47: service[0].environment.docker.command: \"sh -c 'oops\" has unbalanced quotes; close them or escape them with a backslash",
    ),
    (
        "environment = { docker = { image = \"busybox\", restart_policy = \"always\" } }",
        "bad.toml:4:47: service[0].environment.docker.restart_policy: \"always\" is not allowed: systemd restarts the service, so the container's policy must be \"no\"; set the service's restart_policy",
    ),
    (
        "environment = { docker = { image = \"busybox\", ports = { \"http\" = 80 } } }",
        "bad.toml:4:47: service[0].environment.docker.ports: \"http\" is not a container port; use \"8080\" or \"8080/tcp\" (tcp, udp, sctp)",
    ),
    (
        "environment = { docker = { image = \"busybox\" } }\nwatchdog = { timeout = \"10s\" }",
        "bad.toml:5:1: service[0].watchdog: is not allowed with a Docker environment (the container cannot notify systemd)",
    ),
    ("watchdog = { timeout = 0 }", "bad.toml:4:14: service[0].watchdog.timeout: must be more than zero"),
    (
        "environment = { docker = { image = \"busybox\" } }\ncredentials = { db = \"/etc/taskflows/db\" }",
        "bad.toml:5:1: service[0].credentials: are not allowed with a Docker environment (systemd hands them to the unit, not to the container); mount the file with docker.volumes instead",
    ),
    (
        "credentials = { \"db-password\" = \"/etc/taskflows/db\" }",
        "bad.toml:4:17: service[0].credentials.db-password: \"db-password\" is not a valid variable name; use letters, digits and '_', not starting with a digit",
    ),
    (
        "credentials = { db = \"secrets/db\" }",
        "bad.toml:4:22: service[0].credentials.db: \"secrets/db\" is not an absolute path (it must start with '/')",
    ),
    ("enabled = \"yes\"", "bad.toml:4:11: service[0].enabled: invalid type: string \"yes\", expected a boolean"),
    (
        "colour = \"blue\"",
        "bad.toml:4:1: service[0].colour: unknown field `colour`, expected one of `name`, `description`, `start_command`, `stop_command`, `restart_command`, `environment`, `start_schedule`, `stop_schedule`, `restart_schedule`, `working_directory`, `env`, `env_file`, `credentials`, `enabled`, `timeout`, `kill_signal`, `restart_policy`, `watchdog`, `startup_requirements`, `cgroup_config`, `start_after`, `start_before`, `requires`, `requisite`, `wants`, `upholds`, `binds_to`, `part_of`, `on_failure`, `on_success`, `conflicts`, `propagate_stop_to`, `propagate_stop_from`",
    ),
];

/// (a whole service file, the exact error).
const FILE_ROWS: &[(&str, &str)] = &[
    (
        "[[service]]\nname = \"\"\nstart_command = \"/bin/true\"\n",
        "bad.toml:2:8: service[0].name: must not be empty (use letters, digits, '.', '_' and '-')",
    ),
    (
        "[[service]]\nname = \"web/app\"\nstart_command = \"/bin/true\"\n",
        "bad.toml:2:8: service[0].name: \"web/app\" contains '/'; use letters, digits, '.', '_' and '-'",
    ),
    (
        "[[service]]\nname = \"a..b\"\nstart_command = \"/bin/true\"\n",
        "bad.toml:2:8: service[0].name: \"a..b\" must not contain '..'",
    ),
    (
        "[[service]]\nname = \".hidden\"\nstart_command = \"/bin/true\"\n",
        "bad.toml:2:8: service[0].name: \".hidden\" must not start or end with '.' or '-'",
    ),
    (
        "[[service]]\nname = \"trailing-\"\nstart_command = \"/bin/true\"\n",
        "bad.toml:2:8: service[0].name: \"trailing-\" must not start or end with '.' or '-'",
    ),
    (
        "[[service]]\nname = \"systemd\"\nstart_command = \"/bin/true\"\n",
        "bad.toml:2:8: service[0].name: \"systemd\" is reserved (systemd, init, system and user cannot be service names)",
    ),
    (
        "[[service]]\nname = \"User\"\nstart_command = \"/bin/true\"\n",
        "bad.toml:2:8: service[0].name: \"User\" is reserved (systemd, init, system and user cannot be service names)",
    ),
    (
        "[[service]]\nname = \"has space\"\nstart_command = \"/bin/true\"\n",
        "bad.toml:2:8: service[0].name: \"has space\" contains ' '; use letters, digits, '.', '_' and '-'",
    ),
    (
        "[[service]]\nname = \"web\\nExecStart=/bin/evil\"\nstart_command = \"/bin/true\"\n",
        "bad.toml:2:8: service[0].name: \"web\\nExecStart=/bin/evil\" contains '\\n'; use letters, digits, '.', '_' and '-'",
    ),
    ("[[service]]\nstart_command = \"/bin/true\"\n", "bad.toml:1:1: service[0]: missing field `name`"),
    (
        "[[service]]\nname = \"nocmd\"\n",
        "bad.toml:1:1: service[0].start_command: is required (the command the service runs)",
    ),
    (
        "[[service]]\nname = \"empty\"\nstart_command = \"   \"\n",
        "bad.toml:3:17: service[0].start_command: must not be empty; give the program to run and its arguments",
    ),
    (
        "[[service]]\nname = \"prefix-only\"\nstart_command = \"-@\"\n",
        "bad.toml:3:17: service[0].start_command: \"-@\" names no program after its prefixes",
    ),
    (
        "[[service]]\nname = \"a\"\nstart_command = \"/bin/true\"\n\n[[service]]\nname = \"a\"\nstart_command = \"/bin/false\"\n",
        "bad.toml:5:1: service[1].name: \"a\" is already the name of another service in this file",
    ),
    (
        "version = 2\n[[service]]\nname = \"a\"\nstart_command = \"/bin/true\"\n",
        "bad.toml:1:1: version: version 2 is not supported; this taskflows reads version 1",
    ),
    (
        "[[services]]\nname = \"a\"\nstart_command = \"/bin/true\"\n",
        "bad.toml:1:3: services: unknown field `services`, expected `version` or `service`",
    ),
    ("[[service]]\nname = \"a\"\nstart_command = \"/bin/true\n", "bad.toml:3:27: invalid basic string, expected `\"`"),
    (
        "[[service]]\nname = \"a\"\nstart_command = /bin/true\n",
        "bad.toml:3:17: string values must be quoted, expected literal string",
    ),
    (
        "[[service]]\nname = \"ok\"\nstart_command = \"/bin/true\"\n\n[[service]]\nname = \"second\"\nstart_command = \"/bin/true\"\ntimeout = 0\n",
        "bad.toml:8:1: service[1].timeout: must be more than zero (seconds, or a duration such as \"5min\")",
    ),
];

/// Values over systemd's (and Linux's) limits: a unit-file line of 1 MiB or more, a path of
/// `PATH_MAX` bytes or with a component over `NAME_MAX`, a variable or command word over
/// `MAX_ARG_STRLEN`. Built at run time (the values are large); each row is the exact message.
#[test]
fn values_over_systemds_limits() {
    let long = |n: usize| "a".repeat(n);
    // An absolute path of exactly `n` bytes, in components of 200.
    let path = |n: usize| {
        let mut p = String::new();
        while p.len() < n {
            p.push('/');
            p.push_str(&"c".repeat(200.min(n - p.len())));
        }
        p
    };
    // A command line of `n` bytes, in words of 1000.
    let command = |n: usize| {
        let mut c = "/bin/echo".to_owned();
        while c.len() < n {
            c.push(' ');
            c.push_str(&"w".repeat(1000.min(n - c.len())));
        }
        c
    };
    let max_description = taskflows_core::UNIT_LINE_MAX - "Description=".len();
    let rows: Vec<(String, String)> = vec![
        (
            format!("description = \"{}\"", long(max_description + 1)),
            "bad.toml:4:1: service[0].description: 1048564 bytes make a 1048576-byte unit-file line (Description=…, % written as %%); systemd reads lines of at most 1048575 bytes".to_owned(),
        ),
        (
            // `%` is written as `%%`: one more byte on the line.
            format!("description = \"%{}\"", long(max_description - 1)),
            "bad.toml:4:1: service[0].description: 1048563 bytes make a 1048576-byte unit-file line (Description=…, % written as %%); systemd reads lines of at most 1048575 bytes".to_owned(),
        ),
        (
            format!("stop_command = \"{}\"", command(1024 * 1024)),
            "bad.toml:4:1: service[0].stop_command: 1048576 bytes make a 1048585-byte unit-file line (ExecStop=…, % written as %%); systemd reads lines of at most 1048575 bytes".to_owned(),
        ),
        (
            format!("restart_command = \"/bin/echo {}\"", long(131_072)),
            "bad.toml:4:19: service[0].restart_command: word 2 is 131072 bytes; a command-line word is at most 131071 bytes (Linux's MAX_ARG_STRLEN)".to_owned(),
        ),
        (
            format!("stop_command = \"/bin/{} x\"", long(256)),
            format!("bad.toml:4:16: service[0].stop_command: \"/bin/{}…\" has a component of 256 bytes; a path component is at most 255 bytes (NAME_MAX)", long(35)),
        ),
        (
            format!("stop_command = \"{} x\"", long(256)),
            format!("bad.toml:4:16: service[0].stop_command: program \"{}…\" is 256 bytes; a program name is at most 255 bytes (NAME_MAX)", long(40)),
        ),
        (
            format!("env = {{ BIG = \"{}\" }}", long(131_068)),
            "bad.toml:4:9: service[0].env.BIG: 131068 bytes; a variable reaches the service only if KEY=VALUE is at most 131071 bytes (Linux's MAX_ARG_STRLEN), here 131072".to_owned(),
        ),
        (
            format!("working_directory = \"{}\"", path(4096)),
            format!("bad.toml:4:21: service[0].working_directory: \"/{}…\" is 4096 bytes; a path is at most 4095 bytes (PATH_MAX)", "c".repeat(39)),
        ),
        (
            format!("env_file = \"/etc/{}.env\"", long(252)),
            format!("bad.toml:4:12: service[0].env_file: \"/etc/{}…\" has a component of 256 bytes; a path component is at most 255 bytes (NAME_MAX)", long(35)),
        ),
        (
            format!("environment = {{ venv = {{ name = \"ml\", runner = \"{}\" }} }}", path(5000)),
            format!("bad.toml:4:48: service[0].environment.venv.runner: \"/{}…\" is 5000 bytes; a path is at most 4095 bytes (PATH_MAX)", "c".repeat(39)),
        ),
        (
            format!("environment = {{ docker = {{ image = \"busybox\", volumes = [{{ host_path = \"/srv/{}\", container_path = \"/data\" }}] }} }}", long(300)),
            format!("bad.toml:4:72: service[0].environment.docker.volumes[0].host_path: \"/srv/{}…\" has a component of 300 bytes; a path component is at most 255 bytes (NAME_MAX)", long(35)),
        ),
        (
            format!("environment = {{ docker = {{ image = \"busybox\", environment = {{ K = \"{}\" }} }} }}", long(131_070)),
            "bad.toml:4:63: service[0].environment.docker.environment.K: 131070 bytes; a variable reaches the service only if KEY=VALUE is at most 131071 bytes (Linux's MAX_ARG_STRLEN), here 131072".to_owned(),
        ),
    ];
    for (extra, expected) in &rows {
        match parse_service_file("bad.toml", &service(extra)) {
            Ok(_) => panic!("accepted {:?}…", &extra[..extra.len().min(80)]),
            Err(e) => assert_eq!(e.to_string(), *expected, "for {:?}…", &extra[..extra.len().min(80)]),
        }
    }
    // At the limits, accepted.
    for extra in [
        format!("description = \"{}\"", long(max_description)),
        format!("stop_command = \"{}\"", command(taskflows_core::UNIT_LINE_MAX - "ExecStop=".len())),
        format!("env = {{ BIG = \"{}\" }}", long(131_071 - "BIG=".len())),
        format!("working_directory = \"{}\"", path(4095)),
        format!("env_file = \"/etc/{}\"", long(255)),
    ] {
        if let Err(e) = parse_service_file("ok.toml", &service(&extra)) {
            panic!("refused {:?}…: {e}", &extra[..extra.len().min(80)]);
        }
    }
}

/// The env values file is read by systemd whole, up to 64 MiB less one byte.
#[test]
fn env_values_over_systemds_env_file_limit() {
    let value = "v".repeat(taskflows_core::ARG_LEN_MAX - "K000=".len());
    let mut builder = ServiceSpec::builder("big", "/bin/true");
    for i in 0..520 {
        builder = builder.env(&format!("K{i:03}"), &value);
    }
    assert_eq!(
        builder.build().unwrap_err().to_string(),
        "service[big].env: the values make a 68158480-byte env file; systemd reads env files of at most 67108863 bytes"
    );
}

/// Composed lines are checked when rendered: a command wrapped for its venv, a program path
/// systemd would not run as written.
#[test]
fn rendered_lines_over_systemds_limits() {
    use taskflows_core::{RenderContext, Scope, render};
    let render_file = |extra: &str| {
        let specs = parse_service_file("ok.toml", &service(extra)).expect("the file parses");
        let mut ctx = RenderContext::new(Scope::System);
        ctx.conda_runner = Some(taskflows_core::AbsPath::new("/opt/conda/bin/conda").unwrap());
        render(&specs[0], &ctx).map(|_| ()).map_err(|e| e.to_string())
    };
    let mut command = "/bin/echo".to_owned();
    while command.len() < taskflows_core::UNIT_LINE_MAX - "ExecStop=".len() {
        command.push(' ');
        command.push_str(&"w".repeat(1000.min(taskflows_core::UNIT_LINE_MAX - "ExecStop=".len() - command.len())));
    }
    assert_eq!(
        render_file(&format!("stop_command = \"{command}\"\nenvironment = {{ venv = {{ name = \"ml\" }} }}")),
        Err("service[svc].stop_command: written into the unit it makes a 1048629-byte line (ExecStop=…); systemd reads lines of at most 1048575 bytes".to_owned())
    );
    assert_eq!(
        render_file("environment = { venv = { name = \"ml\", runner = \"/opt/$HOME/conda\" } }"),
        Err("service[svc].environment.venv.runner: \"/opt/$HOME/conda\" has a '$': systemd runs a program's path as written but expands '$' in its argv[0]; use a path without '$'".to_owned())
    );
}
