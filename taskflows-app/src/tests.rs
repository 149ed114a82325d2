use std::path::Path;

use taskflows_core::{Calendar, Scope, TaskPolicy};

use crate::{App, Command, Error, parse};

fn check(args: &[&str], expected: Result<Command, &str>) {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    match (parse(&args), expected) {
        (Ok(got), Ok(want)) => assert_eq!(got, want, "{args:?}"),
        (Err(got), Err(want)) => assert_eq!(got.to_string(), want, "{args:?}"),
        (got, want) => panic!("{args:?}: got {got:?}, want {want:?}"),
    }
}

#[test]
fn command_lines() {
    check(&["install"], Ok(Command::Install(None)));
    check(&["install", "--user"], Ok(Command::Install(Some(Scope::User))));
    check(&["remove", "--system"], Ok(Command::Remove(Some(Scope::System))));
    check(&["list"], Ok(Command::List));
    check(&["help"], Ok(Command::Help));
    check(&["--help"], Ok(Command::Help));
    check(&["run", "sync"], Ok(Command::Run { name: "sync".into(), from_unit: false }));
    check(&["__taskflows-task", "sync"], Ok(Command::Run { name: "sync".into(), from_unit: true }));
    check(&[], Err("a command is needed: install, remove, list, run NAME or help"));
    check(&["run"], Err("run: give the task's name"));
    check(&["run", "a", "b"], Err("run: takes exactly one task name, got [\"a\", \"b\"]"));
    check(&["install", "--both"], Err("install: takes --user or --system, got [\"--both\"]"));
    check(&["list", "x"], Err("list: takes no arguments, got [\"x\"]"));
    check(&["start"], Err("unknown command \"start\"; the commands are install, remove, list, run NAME and help"));
}

async fn ok() -> Result<(), std::io::Error> {
    Ok(())
}

fn app() -> App {
    App::new("demo")
        .service(TaskPolicy::new("sync").retries(2), |s| s.start_schedule(Calendar::new("hourly").unwrap()), ok)
        .service(TaskPolicy::new("report"), |s| s.description("the report"), ok)
}

#[test]
fn specs_run_the_binary_with_the_task_subcommand() {
    let specs = app().specs(Path::new("/opt/reports/bin/reports")).unwrap();
    let commands: Vec<&str> = specs.iter().map(|s| s.start_command.as_ref().unwrap().as_str()).collect();
    assert_eq!(
        commands,
        ["/opt/reports/bin/reports __taskflows-task sync", "/opt/reports/bin/reports __taskflows-task report"]
    );
    assert_eq!(specs[0].start_schedule.0.len(), 1);
    assert_eq!(specs[1].description.as_ref().unwrap().as_str(), "the report");
    let units = taskflows_core::render(&specs[0], &taskflows_core::RenderContext::new(Scope::System)).unwrap();
    assert!(
        units[0].content.contains("\nExecStart=/opt/reports/bin/reports __taskflows-task sync\n"),
        "{}",
        units[0].content
    );
}

#[test]
fn bad_declarations_and_paths_are_refused() {
    let twice = app().service(TaskPolicy::new("sync"), |s| s, ok);
    let err = twice.specs(Path::new("/bin/x")).unwrap_err();
    assert_eq!(err.to_string(), "service[sync]: declared twice; each service needs its own name");
    assert_eq!(err.exit_code(), 3);
    let bad = App::new("demo").service(TaskPolicy::new("no spaces"), |s| s, ok);
    let err = bad.specs(Path::new("/bin/x")).unwrap_err();
    assert!(err.to_string().starts_with("name: "), "{err}");
    let err = app().specs(Path::new("/opt/my reports/bin")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "this program's path \"/opt/my reports/bin\" cannot be used in a unit: it contains ' '; install the binary under a plain path"
    );
    assert!(matches!(app().specs(Path::new("bin/x")), Err(Error::Executable { .. })));
}

#[test]
fn unknown_task_names_the_known_ones() {
    let err = app().run("demo", &["run".into(), "nope".into()]).unwrap_err();
    assert_eq!(err.to_string(), "no task named \"nope\"; the tasks are: sync, report");
    assert_eq!(err.exit_code(), 2);
}

#[test]
fn a_failing_task_fails_the_run() {
    let app = App::new("demo").service(
        TaskPolicy::new("broken").retries(1).backoff(taskflows_core::Backoff::none()),
        |s| s,
        || async { Err::<(), _>(std::io::Error::other("disk full")) },
    );
    let err = app.run("demo", &["run".into(), "broken".into()]).unwrap_err();
    assert_eq!(err.to_string(), "task broken failed after 2 attempt(s)");
    assert_eq!(err.exit_code(), 1);
    assert!(app_ok().run("demo", &["run".into(), "sync".into()]).is_ok());
}

fn app_ok() -> App {
    app()
}

#[test]
fn list_shows_policies_and_schedules() {
    let text = crate::commands::list(&app().services);
    assert_eq!(
        text,
        "NAME    RETRIES  TIMEOUT  SCHEDULE\nsync    2        -        hourly\nreport  0        -        -\n"
    );
}

/// An app whose `waits` service waits for CPU pressure to drop (`ExecCondition=TF check --wait`)
/// and whose `boxed` service runs in a Docker container (`ExecStart=TF container run`).
fn app_needing_tf() -> App {
    let pressure = taskflows_core::Requirement::Pressure {
        kind: taskflows_core::PressureKind::Cpu,
        max_percent: 50.0,
        timespan: taskflows_core::Timespan::Min1,
        silent: true,
        wait: Some(taskflows_core::Duration::from_secs(60)),
    };
    let docker =
        taskflows_core::Environment::Docker(Box::new(taskflows_core::DockerContainer::new("busybox").unwrap()));
    app().service(TaskPolicy::new("waits"), |s| s.requirement(pressure), ok).service(
        TaskPolicy::new("boxed"),
        |s| s.environment(docker),
        ok,
    )
}

fn host(data_dir: &str, tf: Result<&str, &str>) -> crate::commands::Host {
    crate::commands::Host {
        data_dir: data_dir.into(),
        tf: tf.map(Into::into).map_err(str::to_owned),
        conda_runner: None,
    }
}

fn unit(units: &[taskflows_core::UnitFile], name: &str) -> String {
    units.iter().find(|u| u.name == name).unwrap_or_else(|| panic!("no {name}")).content.clone()
}

#[test]
fn units_run_the_tf_found_and_use_the_scopes_data_folder() {
    use crate::commands::render_context;
    let specs = app_needing_tf().specs(Path::new("/opt/app/bin/app")).unwrap();
    let h = host("/home/ann/.local/share/taskflows", Ok("/home/ann/.cargo/bin/tf"));
    let ctx = render_context(Scope::User, &specs, &h).unwrap();
    assert_eq!(
        (ctx.tf_binary.as_str(), ctx.data_dir.as_str()),
        ("/home/ann/.cargo/bin/tf", "/home/ann/.local/share/taskflows")
    );

    let waits = taskflows_core::render(&specs[2], &ctx).unwrap();
    let content = unit(&waits, "taskflows-waits.service");
    assert!(content.contains("\nExecCondition=/home/ann/.cargo/bin/tf --user check --wait 1min waits\n"), "{content}");
    let boxed = taskflows_core::render(&specs[3], &ctx).unwrap();
    let content = unit(&boxed, "taskflows-boxed.service");
    assert!(
        content.contains(
            "\nExecStart=/home/ann/.cargo/bin/tf container run --data-dir /home/ann/.local/share/taskflows taskflows-boxed\n"
        ),
        "{content}"
    );

    // Services that do not run tf install without one.
    let plain = app().specs(Path::new("/opt/app/bin/app")).unwrap();
    let ctx = render_context(Scope::System, &plain, &host("/var/lib/taskflows", Err("no tf on PATH"))).unwrap();
    assert_eq!(ctx.data_dir.as_str(), "/var/lib/taskflows");
}

#[test]
fn installing_services_that_run_tf_without_one_is_a_clear_error() {
    use crate::commands::render_context;
    let specs = app_needing_tf().specs(Path::new("/opt/app/bin/app")).unwrap();
    let err =
        render_context(Scope::System, &specs, &host("/var/lib/taskflows", Err("no tf on PATH and TF_BIN is not set")))
            .unwrap_err();
    assert_eq!(
        err.to_string(),
        "waits, boxed run(s) the tf binary (startup requirements that wait, Docker environments), and no tf on PATH \
         and TF_BIN is not set: install tf or set TF_BIN to its absolute path"
    );
    assert_eq!(err.exit_code(), 1);
    let err = render_context(Scope::User, &specs, &host("relative/data", Ok("/usr/bin/tf"))).unwrap_err();
    assert!(err.to_string().starts_with("data folder (TASKFLOWS_DATA_DIR) relative/data: "), "{err}");
}

#[test]
fn task_services_in_containers_are_refused() {
    use crate::commands::refuse_containers;
    use taskflows_core::{EnvName, Environment};
    let specs = app_needing_tf().specs(Path::new("/opt/app/bin/app")).unwrap();
    let err = refuse_containers(&specs, &Default::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "service[boxed].environment: a Rust task runs this program on the host, not in a Docker container; use a \
         conda environment or none"
    );
    assert_eq!(err.exit_code(), 3);

    // Through a stored environment too; a stored conda environment is fine.
    let named = app().service(
        TaskPolicy::new("stored"),
        |s| s.environment(Environment::Named(EnvName::new("box").unwrap())),
        ok,
    );
    let specs = named.specs(Path::new("/opt/app/bin/app")).unwrap();
    let docker = Environment::Docker(Box::new(taskflows_core::DockerContainer::new("busybox").unwrap()));
    let err = refuse_containers(&specs, &[(EnvName::new("box").unwrap(), docker)].into()).unwrap_err();
    assert!(err.to_string().starts_with("service[stored].environment: "), "{err}");
    let conda = Environment::Venv(taskflows_core::Venv::new("ml").unwrap());
    refuse_containers(&specs, &[(EnvName::new("box").unwrap(), conda)].into()).unwrap();
}
