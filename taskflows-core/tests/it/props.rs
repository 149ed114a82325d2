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
