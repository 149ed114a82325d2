//! Snapshot tests of rendered unit files, one per case of `cases.rs`, plus the FIX checks
//! spelled out as assertions so a snapshot update cannot hide a regression.

use taskflows_core::Scope;

use crate::cases::{CASES, as_text, context, render_case};

#[test]
fn snapshots_system_scope() {
    for (name, toml) in CASES {
        let text = as_text(&render_case(toml, &context(Scope::System)));
        insta::assert_snapshot!(format!("system-{name}"), text);
    }
}

#[test]
fn user_scope_differs_only_in_targets_and_systemctl() {
    for (name, toml) in CASES {
        let system = as_text(&render_case(toml, &context(Scope::System)));
        let user = as_text(&render_case(toml, &context(Scope::User)));
        let expected = system
            .replace("WantedBy=multi-user.target", "WantedBy=default.target")
            .replace("ExecStart=systemctl ", "ExecStart=systemctl --user ")
            .replace(" --system check ", " --user check ");
        assert_eq!(user, expected, "case {name}");
    }
}

fn case(name: &str) -> String {
    let toml = CASES.iter().find(|(n, _)| *n == name).expect("case exists").1;
    as_text(&render_case(toml, &context(Scope::System)))
}

fn count(text: &str, prefix: &str) -> usize {
    text.lines().filter(|l| l.starts_with(prefix)).count()
}

#[test]
fn fix_exactly_one_description() {
    let text = case("description");
    assert_eq!(count(&text, "Description="), 1, "{text}");
    assert!(text.contains("Description=Processes 100%% of the daily reports\n"));
    assert!(case("minimal").contains("Description=Service for hello\n"));
}

#[test]
fn fix_bare_unit_names_get_service_suffix() {
    let text = case("relations");
    assert!(text.contains("After=db.service network-online.target taskflows-cache.service\n"), "{text}");
    assert!(text.contains("Requires=db.service\n"));
    assert!(text.contains("OnFailure=taskflows-alert.service\n"));
    assert!(!text.lines().any(|l| l.ends_with("=db")), "{text}");
}

#[test]
fn fix_one_timeout_stop_line() {
    let text = case("cgroup");
    assert_eq!(count(&text, "TimeoutStopSec="), 1, "{text}");
    assert!(text.contains("TimeoutStopSec=30s\n"));
    assert_eq!(count(&case("minimal"), "TimeoutStopSec=120s"), 1);
}

#[test]
fn fix_silent_requirements_are_conditions() {
    let text = case("requirements");
    assert!(!text.contains("Constraint"), "{text}");
    assert!(text.contains("ConditionMemory=<1073741824\n"));
    assert!(text.contains("AssertMemory=>=8589934592\n"));
    assert!(text.contains("ConditionMemoryPressure=70.5%/1min\n"));
}

#[test]
fn fix_cap_drop_all_drops_all() {
    let text = case("capabilities");
    assert!(text.contains("CapabilityBoundingSet=\n"), "{text}");
    assert!(text.contains("CapabilityBoundingSet=CAP_CHOWN CAP_NET_BIND_SERVICE\n"));
}

#[test]
fn fix_helper_units_have_timers() {
    let toml = CASES.iter().find(|(n, _)| *n == "stop-restart-schedules").unwrap().1;
    let names: Vec<String> = render_case(toml, &context(Scope::User)).into_iter().map(|u| u.name).collect();
    assert_eq!(
        names,
        [
            "taskflows-daytime.service",
            "taskflows-daytime.timer",
            "stop-taskflows-daytime.service",
            "stop-taskflows-daytime.timer",
            "restart-taskflows-daytime.service",
            "restart-taskflows-daytime.timer",
        ]
    );
}

#[test]
fn fix_docker_runs_attached_without_journal_lines() {
    let text = case("docker");
    assert!(
        text.contains("ExecStart=/usr/local/bin/tf container run --data-dir /var/lib/taskflows taskflows-api\n"),
        "{text}"
    );
    assert!(!text.contains("StandardOutput="));
    assert!(!text.contains(" -d "));
}

#[test]
fn render_is_deterministic() {
    for (name, toml) in CASES {
        let a = as_text(&render_case(toml, &context(Scope::System)));
        let b = as_text(&render_case(toml, &context(Scope::System)));
        assert_eq!(a, b, "case {name}");
    }
}

#[test]
fn backoff_needs_systemd_254() {
    let toml = r#"
[[service]]
name = "backoff"
start_command = "/bin/false"
restart_policy = { condition = "on-failure", delay = "1s", steps = 5, max_delay = "5min" }
"#;
    let spec = &taskflows_core::file::parse_service_file("b.toml", toml).unwrap()[0];
    let mut ctx = context(Scope::System);
    ctx.systemd_version = Some(254);
    let text = taskflows_core::render(spec, &ctx).unwrap()[0].content.clone();
    assert!(text.contains("RestartSteps=5\nRestartMaxDelaySec=5min\n"), "{text}");
    ctx.systemd_version = Some(252);
    let err = taskflows_core::render(spec, &ctx).unwrap_err().to_string();
    assert_eq!(
        err,
        "service[backoff].restart_policy: steps and max_delay (exponential backoff: RestartSteps=, RestartMaxDelaySec=) need systemd 254 or newer; this host has systemd 252"
    );
}

#[test]
fn venv_needs_a_runner() {
    let toml = CASES.iter().find(|(n, _)| *n == "venv").unwrap().1;
    let spec = &taskflows_core::file::parse_service_file("v.toml", toml).unwrap()[0];
    let err = taskflows_core::render(spec, &taskflows_core::RenderContext::new(Scope::User)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "service[ml].environment.venv.runner: no conda, mamba or micromamba was found on PATH or in the usual folders; install one or set `runner`"
    );
}

#[test]
fn named_environment_is_resolved_or_refused() {
    let toml = "[[service]]\nname = \"n\"\nstart_command = \"/bin/true\"\nenvironment = \"prod\"\n";
    let spec = &taskflows_core::file::parse_service_file("n.toml", toml).unwrap()[0];
    let mut ctx = context(Scope::System);
    let err = taskflows_core::render(spec, &ctx).unwrap_err().to_string();
    assert_eq!(err, "service[n].environment: no stored environment named \"prod\" (stored: ml-stored)");
    ctx.named_environments.clear();
    let err = taskflows_core::render(spec, &ctx).unwrap_err().to_string();
    assert_eq!(err, "service[n].environment: no stored environment named \"prod\" (none are stored)");
    ctx.named_environments.insert(
        taskflows_core::EnvName::new("prod").unwrap(),
        taskflows_core::Environment::Venv(taskflows_core::Venv::new("prod-env").unwrap()),
    );
    let text = &taskflows_core::render(spec, &ctx).unwrap()[0].content;
    assert!(
        text.contains("ExecStart=/opt/conda/bin/conda run -n prod-env --no-capture-output -- /bin/true\n"),
        "{text}"
    );
    // The unit names the stored environment (systemd ignores X- keys), so its users can be found.
    assert!(text.contains("[Unit]\nDescription=Service for n\nX-TaskflowsEnvironment=prod\n"), "{text}");
    let inline =
        &taskflows_core::file::parse_service_file("i.toml", CASES.iter().find(|(n, _)| *n == "venv").unwrap().1)
            .unwrap()[0];
    assert!(!taskflows_core::render(inline, &ctx).unwrap()[0].content.contains("X-Taskflows"));
    // Without a command, a stored environment must be a container that brings its own.
    let no_command =
        &taskflows_core::file::parse_service_file("n.toml", "[[service]]\nname = \"n\"\nenvironment = \"prod\"\n")
            .unwrap()[0];
    assert_eq!(
        taskflows_core::render(no_command, &ctx).unwrap_err().to_string(),
        "service[n].start_command: is required (the command the service runs)"
    );
}

#[test]
fn builder_matches_service_file() {
    use taskflows_core::{Calendar, Duration, RestartCondition, ServiceSpec};
    let built = ServiceSpec::builder("nightly", "/bin/echo nightly")
        .description("Nightly job")
        .start_schedule(Calendar::new("daily").unwrap())
        .timeout(Duration::from_secs(60))
        .restart_policy(RestartCondition::OnFailure)
        .env("A", "1")
        .start_after("db")
        .build()
        .unwrap();
    let toml = r#"
[[service]]
name = "nightly"
description = "Nightly job"
start_command = "/bin/echo nightly"
start_schedule = "daily"
timeout = "1min"
restart_policy = "on-failure"
env = { A = "1" }
start_after = "db"
"#;
    let read = &taskflows_core::file::parse_service_file("n.toml", toml).unwrap()[0];
    assert_eq!(&built, read);
}
