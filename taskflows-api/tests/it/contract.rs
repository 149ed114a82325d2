//! The JSON contract: the committed schema is current, and every answer's shape is pinned by a
//! snapshot (a change to one is a change of the contract: bump `VERSION` when it can break a
//! reader).

use std::path::PathBuf;

use jiff::Timestamp;
use taskflows_api::*;

#[test]
fn committed_schema_is_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schema/taskflows-api.schema.json");
    let schema = json_schema();
    if std::env::var_os("TF_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &schema).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == schema,
        "schema/taskflows-api.schema.json is stale; regenerate it with `TF_UPDATE_SCHEMA=1 cargo test -p taskflows-api --test it contract` or `tf schema --api > schema/taskflows-api.schema.json`"
    );
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn state() -> ServiceState {
    ServiceState {
        name: "nightly".into(),
        description: "Nightly report".into(),
        load_state: LoadState::Loaded,
        active_state: ActiveState::Failed,
        sub_state: "failed".into(),
        enabled: false,
        timer_enabled: Some(true),
        timer_active: Some(ActiveState::Active),
        last_start: Some(at("2026-11-26T02:30:00Z")),
        last_finish: Some(at("2026-11-26T02:31:05Z")),
        result: Some(RunResult::ExitCode),
        exit_status: Some(3),
        next_elapse: Some(at("2026-11-27T02:30:00Z")),
        schedules: vec!["OnCalendar=*-*-* 02:30:00 UTC".into()],
        ..ServiceState::default()
    }
}

fn run() -> RunRecord {
    RunRecord {
        kind: RunKind::Service,
        unit: "taskflows-nightly.service".into(),
        invocation_id: "0f3c".into(),
        start: Some(at("2026-11-26T02:30:00Z")),
        end: Some(at("2026-11-26T02:31:05Z")),
        result: RunResult::Signal,
        exit: Some(ProcessExit::Killed { signal: "TERM".into() }),
        cpu_nsec: Some(1_500_000),
        ..RunRecord::default()
    }
}

fn job() -> JobOutcome {
    JobOutcome { unit: "taskflows-nightly.timer".into(), job: JobKind::Start, result: JobResult::Done }
}

/// Every answer with every field set, as `--json` prints it (and the API will send it).
#[test]
fn every_answer_has_a_pinned_shape() {
    let env = EnvironmentSummary {
        name: "ml".into(),
        kind: "venv".into(),
        what: "-n ml".into(),
        path: "/var/lib/taskflows/environments/ml.toml".into(),
        used_by: vec!["train".into()],
    };
    let create = CreateReport {
        version: VERSION,
        services: vec!["nightly".into()],
        written: vec!["/etc/systemd/system/taskflows-nightly.timer".into()],
        unchanged: vec!["taskflows-nightly.service".into()],
        removed: vec!["stop-taskflows-nightly.timer".into()],
        reloaded: true,
        resumed: false,
        jobs: vec![job()],
        containers: vec![ContainerChange {
            container: "web".into(),
            service: "web".into(),
            change: ContainerChangeKind::SpecWritten,
            detail: Some("/var/lib/taskflows/containers/web.json".into()),
        }],
        ok: true,
    };
    let answers = serde_json::json!({
        "list": ServiceList { version: VERSION, services: vec![ServiceUnits { name: "nightly".into(), units: vec!["taskflows-nightly.service".into(), "taskflows-nightly.timer".into()] }] },
        "status": StatusReport { version: VERSION, services: vec![state()] },
        "show": UnitFiles { version: VERSION, units: vec![InstalledUnit { name: "taskflows-nightly.service".into(), path: "/etc/systemd/system/taskflows-nightly.service".into(), content: "[Unit]\n".into() }] },
        "logs": Logs { version: VERSION, unit: "taskflows-nightly.service".into(), lines: vec![LogLine { timestamp: at("2026-11-26T02:30:01Z"), priority: Some(6), pid: Some(42), message: "hello".into(), invocation_id: None }] },
        "history": History { version: VERSION, runs: vec![run()] },
        "next": NextRuns { version: VERSION, runs: vec![NextRun { service: "nightly".into(), at: at("2026-11-27T02:30:00Z"), schedule: "OnCalendar=*-*-* 02:30:00 UTC".into() }] },
        "control": ControlReport { version: VERSION, action: Action::Start, services: vec!["nightly".into()], jobs: vec![job()], units: vec![], containers: vec![], runs: vec![RunEnd { service: "nightly".into(), result: Some(RunResult::Success), exit_status: Some(0), ok: true }], wait_timed_out: false, ok: true },
        "create": create.clone(),
        "plan": Plan { version: VERSION, units: vec![PlannedUnit { name: "taskflows-nightly.service".into(), path: "/etc/systemd/system/taskflows-nightly.service".into(), content: "[Unit]\nDescription=new\n".into(), installed: Some("[Unit]\nDescription=old\n".into()) }] },
        "run": RunReport { version: VERSION, outcome: RunOutcome { unit: "taskflows-run-x-1.service".into(), result: RunResult::ExitCode, exit_status: Some(2), invocation_id: "ab".into() } },
        "check": CheckReport { version: VERSION, services: vec![ServiceCheck { service: "gpu".into(), requirements: vec![RequirementCheck { holds: false, detail: "memory >= 1000T: 23.4G available".into() }], admission: None }], ok: false, fails_start: false },
        "env_list": EnvironmentList { version: VERSION, environments: vec![env.clone()] },
        "env_show": EnvironmentDetail { version: VERSION, summary: env, text: "version = 1\n\n[venv]\nname = \"ml\"\n".into(), definition: serde_json::json!({ "version": 1, "venv": { "name": "ml" } }) },
        "env_update": EnvironmentChange { version: VERSION, change: "updated".into(), name: "ml".into(), path: "/var/lib/taskflows/environments/ml.toml".into(), updated: vec!["train".into()], not_updated: vec![], create: Some(create) },
        "monitor": MonitorReport { version: VERSION, checked: 1, problems: vec![Problem { service: "nightly".into(), kind: ProblemKind::LastRunFailed, detail: "the run started … ended with exit-code".into() }], undelivered: vec!["slack:#ops".into()] },
    });
    insta::assert_json_snapshot!("answers", answers);
}

/// Readers get back what was written: the answers deserialize into the same values.
#[test]
fn answers_round_trip() {
    let status = StatusReport { version: VERSION, services: vec![state()] };
    let text = serde_json::to_string(&status).unwrap();
    assert_eq!(serde_json::from_str::<StatusReport>(&text).unwrap(), status);
    let history = History { version: VERSION, runs: vec![run()] };
    let text = serde_json::to_string(&history).unwrap();
    assert_eq!(serde_json::from_str::<History>(&text).unwrap(), history);
    // A state word a newer systemd may send is kept apart, not an error.
    let newer = text.replace("\"result\":\"signal\"", "\"result\":\"brand-new\"");
    assert_eq!(serde_json::from_str::<History>(&newer).unwrap().runs[0].result, RunResult::Unknown);
}
