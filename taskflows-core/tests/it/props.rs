//! Property tests: for any input, a spec is either refused with a field error or renders
//! deterministically into well-formed unit files whose lines no value can add to.

use proptest::prelude::*;
use taskflows_core::{Calendar, Duration, Periodic, RelativeTo, Scope, ServiceSpec, StartOn};

use crate::cases::context;

/// Directives the renderer may write; anything else in the output means injection.
const KEYS: &[&str] = &[
    "Description",
    "After",
    "Before",
    "Requires",
    "Requisite",
    "Wants",
    "Upholds",
    "BindsTo",
    "PartOf",
    "OnFailure",
    "OnSuccess",
    "Conflicts",
    "StartLimitIntervalSec",
    "StartLimitBurst",
    "ExecStart",
    "ExecStop",
    "ExecReload",
    "WorkingDirectory",
    "Environment",
    "EnvironmentFile",
    "KillSignal",
    "TimeoutStopSec",
    "RuntimeMaxSec",
    "Restart",
    "RestartSec",
    "StandardOutput",
    "StandardError",
    "WantedBy",
    "OnCalendar",
    "Persistent",
    "AccuracySec",
    "OnBootSec",
    "OnStartupSec",
    "OnUnitActiveSec",
    "OnUnitInactiveSec",
    "Type",
    "CPUAccounting",
    "SyslogIdentifier",
];

fn well_formed(content: &str) -> Result<(), String> {
    for line in content.lines() {
        if line.is_empty() || ["[Unit]", "[Service]", "[Timer]", "[Install]"].contains(&line) {
            continue;
        }
        let key = line.split_once('=').map(|(k, _)| k).ok_or_else(|| format!("not a directive: {line:?}"))?;
        if !KEYS.contains(&key) {
            return Err(format!("unexpected directive {key:?} in {line:?}"));
        }
        if line.ends_with('\\') {
            return Err(format!("line continues: {line:?}"));
        }
    }
    Ok(())
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 %$\"'\\\\=\\[\\]#;.-]{0,30}",
        any::<String>(),
        "[a-z]{1,5}(\n|\r|\0)\\[Service\\]\nExecStartPre=/bin/evil",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_input_is_refused_or_renders_well(
        name in prop_oneof!["[a-z][a-z0-9_.-]{0,12}[a-z0-9]", any_text()],
        description in any_text(),
        command in prop_oneof!["/bin/echo [a-z %$'\"]{0,20}", any_text()],
        key in prop_oneof!["[A-Z_][A-Z0-9_]{0,8}", any_text()],
        value in any_text(),
        dir in prop_oneof!["/[a-z/.]{0,20}", any_text()],
        unit in prop_oneof!["[a-z]{1,10}(\\.target|\\.service)?", any_text()],
        period in 0u64..100_000,
        calendar in prop_oneof!["daily", "Mon-Fri 0[0-9]:[0-5][0-9]", any_text()],
        system in any::<bool>(),
    ) {
        let mut b = ServiceSpec::builder(&name, &command)
            .description(&description)
            .env(&key, &value)
            .working_directory(&dir)
            .start_after(unit.as_str())
            .on_failure(unit.as_str());
        if let Ok(p) = Periodic::new(StartOn::Boot, Duration::from_secs(period), RelativeTo::Finish) {
            b = b.start_schedule(p);
        }
        if let Ok(c) = Calendar::new(calendar) {
            b = b.stop_schedule(c);
        }
        let Ok(spec) = b.build() else { return Ok(()) };
        let ctx = context(if system { Scope::System } else { Scope::User });
        let first = taskflows_core::render(&spec, &ctx).expect("a built spec renders");
        let second = taskflows_core::render(&spec, &ctx).expect("a built spec renders");
        prop_assert_eq!(&first, &second);
        for unit in &first {
            prop_assert!(well_formed(&unit.content).is_ok(), "{:?}\n{}", well_formed(&unit.content), unit.content);
        }
    }
}

/// A TOML basic string holding `s` exactly (control characters as \u escapes).
fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn field_lines() -> impl Strategy<Value = Vec<String>> {
    let text = || prop_oneof!["[a-z0-9 %$./-]{0,12}", any_text()];
    let lines = (
        proptest::option::of(text().prop_map(|t| format!("description = {}", toml_str(&t)))),
        proptest::option::of((-5i64..100_000).prop_map(|t| format!("timeout = {t}"))),
        proptest::option::of((0u64..20_000, 0u64..20_000, 0u64..5, -2000i64..2000).prop_map(|(w, io, pids, oom)| {
            format!(
                "cgroup_config = {{ cpu_weight = {w}, io_weight = {io}, pids_limit = {pids}, oom_score_adj = {oom} }}"
            )
        })),
        proptest::option::of(prop_oneof![Just("0-3,6"), Just("0\n1"), Just("3-1"), Just(""), Just("7")].prop_map(
            |c| {
                format!(
                    "cgroup_config = {{ cpuset_cpus = {}, memory_limit = \"1G\", cap_drop = [\"ALL\"] }}",
                    toml_str(c)
                )
            },
        )),
        proptest::option::of((0u8..5, -10i64..150, any::<bool>()).prop_map(|(k, v, silent)| {
            let kinds = ["memory", "cpus", "cpu_pressure", "memory_pressure", "io_pressure"];
            let value = if k < 2 { format!("amount = {v}") } else { format!("max_percent = {v}") };
            format!("startup_requirements = [{{ kind = \"{}\", {value}, silent = {silent} }}]", kinds[k as usize])
        })),
        proptest::option::of(prop_oneof![
            text().prop_map(|n| format!(
                "environment = {{ venv = {{ name = {}, runner = \"/opt/conda/bin/conda\" }} }}",
                toml_str(&n)
            )),
            text().prop_map(|i| format!(
                "environment = {{ docker = {{ image = {}, command = \"sh -c 'echo hi'\" }} }}",
                toml_str(&i)
            )),
        ]),
        proptest::option::of(prop_oneof![
            prop_oneof![
                Just("daily"),
                Just("Mon..Fri 09:00"),
                Just("*:0/15"),
                Just("Mon-Fry"),
                Just("2026-02-30"),
                Just("hourly UTC")
            ]
            .prop_map(|c| format!("start_schedule = {}", toml_str(c))),
            (-10i64..10_000).prop_map(|p| format!("stop_schedule = {{ period = {p}, relative_to = \"finish\" }}")),
        ]),
        proptest::option::of(text().prop_map(|u| format!("requires = [{}, {{ service = \"other\" }}]", toml_str(&u)))),
        proptest::option::of(
            prop_oneof![Just("on-failure"), Just("always"), Just("sometimes")]
                .prop_map(|c| format!("restart_policy = \"{c}\"")),
        ),
    );
    lines.prop_map(|(a, b, c, d, e, f, g, h, i)| [a, b, c, d, e, f, g, h, i].into_iter().flatten().collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Service files with any mix of fields, valid or not: reading never panics, and what is
    /// accepted renders deterministically into units with one ExecStart= and only our sections.
    #[test]
    fn any_service_file_is_refused_or_renders_well(lines in field_lines(), command in prop_oneof![Just("/bin/echo hi"), Just("python3 app.py")]) {
        // At most one cgroup_config table: keep the first.
        let mut seen_cgroup = false;
        let lines: Vec<String> = lines.into_iter().filter(|l| !l.starts_with("cgroup_config") || !std::mem::replace(&mut seen_cgroup, true)).collect();
        let toml = format!("[[service]]\nname = \"svc\"\nstart_command = \"{command}\"\n{}\n", lines.join("\n"));
        let Ok(specs) = taskflows_core::file::parse_service_file("p.toml", &toml) else { return Ok(()) };
        for scope in [Scope::System, Scope::User] {
            let ctx = context(scope);
            let (Ok(first), Ok(second)) = (taskflows_core::render(&specs[0], &ctx), taskflows_core::render(&specs[0], &ctx)) else {
                continue;
            };
            prop_assert_eq!(&first, &second);
            let main = &first[0].content;
            prop_assert_eq!(main.lines().filter(|l| l.starts_with("ExecStart=")).count(), 1, "{}", main);
            for unit in &first {
                for line in unit.content.lines() {
                    let ok = line.is_empty()
                        || ["[Unit]", "[Service]", "[Timer]", "[Install]"].contains(&line)
                        || line.split_once('=').is_some_and(|(k, _)| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric()));
                    prop_assert!(ok && !line.ends_with('\\'), "bad line {:?} in\n{}", line, unit.content);
                }
            }
        }
    }
}
