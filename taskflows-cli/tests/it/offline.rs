//! Commands that need no systemd: create --dry-run, schema, calendar, completions, errors.

use crate::{service_file, stderr, stdout, tf};

/// `tf --user` with its data and config folders in `dir`, so nothing of the host is read or written.
fn tf_user_in(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tf"))
        .arg("--user")
        .args(args)
        .env("TASKFLOWS_DATA_DIR", dir.join("data"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("NO_COLOR", "1")
        .output()
        .expect("tf runs")
}

#[test]
fn dry_run_prints_each_unit_with_its_name() {
    let (_dir, path) =
        service_file("[[service]]\nname = \"hello\"\nstart_command = \"/bin/echo hi\"\nstart_schedule = \"daily\"\n");
    let out = tf(&["create", &path, "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("# taskflows-hello.service\n[Unit]\nDescription=Service for hello\n"), "{text}");
    assert!(
        text.contains("\n# taskflows-hello.timer\n[Unit]\nDescription=timer for hello\n\n[Timer]\nOnCalendar=daily\n"),
        "{text}"
    );
}

#[test]
fn dry_run_json_has_every_unit() {
    let (_dir, path) =
        service_file("[[service]]\nname = \"a\"\nstart_command = \"/bin/true\"\nstop_schedule = \"hourly\"\n");
    let out = tf(&["create", &path, "--dry-run", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let names: Vec<&str> = v["units"].as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["taskflows-a.service", "stop-taskflows-a.service", "stop-taskflows-a.timer"]);
    assert!(v["units"][0]["content"].as_str().unwrap().contains("ExecStart=/bin/true\n"));
}

#[test]
fn include_and_exclude_select_services() {
    let (_dir, path) = service_file(
        "[[service]]\nname = \"web-1\"\nstart_command = \"/bin/true\"\n[[service]]\nname = \"web-2\"\nstart_command = \"/bin/true\"\n[[service]]\nname = \"db\"\nstart_command = \"/bin/true\"\n",
    );
    let out = tf(&["create", &path, "--dry-run", "-i", "web-*", "-e", "web-2"]);
    let text = stdout(&out);
    assert!(
        text.contains("# taskflows-web-1.service") && !text.contains("web-2") && !text.contains("taskflows-db"),
        "{text}"
    );
}

#[test]
fn a_bad_file_is_one_line_with_its_place_and_exit_3() {
    let (_dir, path) = service_file("[[service]]\nname = \"x\"\nstart_command = \"/bin/true\"\ntimeout = -1\n");
    let out = tf(&["create", &path, "--dry-run"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        stderr(&out),
        format!(
            "error: {path}:4:11: service[0].timeout: -1 is negative; use a number of seconds or a duration such as \"30s\", \"5min\", \"1h 30min\" (units: us, ms, s, min, h, d, w)\n"
        )
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_missing_env_file_is_refused_before_anything_is_installed() {
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join("app.env");
    let (_dir, path) = service_file(&format!(
        "[[service]]\nname = \"x\"\nstart_command = \"/bin/true\"\nenv_file = \"{}\"\n",
        env.display()
    ));
    let out = tf(&["create", &path, "--dry-run"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(stderr(&out), format!("error: service[x].env_file: {} does not exist\n", env.display()));
}

/// `tf --user create --dry-run` of one service with `lines`, its files in `dir` (allowed root
/// `dir/allowed`, config folder `dir/config`): exit code and stderr.
fn create_in(dir: &std::path::Path, lines: &str) -> (Option<i32>, String) {
    let file = dir.join("services.toml");
    std::fs::write(&file, format!("[[service]]\nname = \"web\"\nstart_command = \"/bin/true\"\n{lines}\n")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tf"))
        .args(["--user", "create", "--dry-run"])
        .arg(&file)
        .env("TASKFLOWS_DATA_DIR", dir.join("data"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("HOME", dir.join("home"))
        .env("TASKFLOWS_ALLOWED_PATHS", dir.join("allowed"))
        .env("NO_COLOR", "1")
        .output()
        .expect("tf runs");
    (out.status.code(), stderr(&out))
}

#[test]
fn the_path_policy_refuses_with_the_field_and_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let allowed = dir.path().join("allowed");
    std::fs::create_dir_all(dir.path().join("outside")).unwrap();
    std::fs::create_dir_all(&allowed).unwrap();
    std::fs::write(dir.path().join("outside/app.env"), "A=1\n").unwrap();

    // A link inside the allowed folder that leaves it is named.
    let link = allowed.join("conf");
    std::os::unix::fs::symlink(dir.path().join("outside"), &link).unwrap();
    let (code, err) = create_in(dir.path(), &format!("env_file = \"{}/app.env\"", link.display()));
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.starts_with(&format!(
            "error: service[web].env_file: {} is a symbolic link to {}, which is outside the allowed folders",
            link.display(),
            dir.path().join("outside").display()
        )),
        "{err}"
    );
    assert!(err.contains("hint: allowed folders: "), "{err}");

    // A FIFO is refused at once, not waited on.
    let fifo = allowed.join("app.env");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let started = std::time::Instant::now();
    let (code, err) = create_in(dir.path(), &format!("env_file = \"{}\"", fifo.display()));
    let took = started.elapsed();
    assert_eq!(code, Some(3), "{err}");
    assert_eq!(
        err,
        format!(
            "error: service[web].env_file: {} is a named pipe (FIFO); an env file must be a regular file\n",
            fifo.display()
        )
    );
    assert!(took < std::time::Duration::from_secs(5), "tf create with a FIFO env file took {took:?}");
    println!("tf create --dry-run refused a FIFO env file in {took:?}");

    // The Docker socket.
    let (code, err) = create_in(
        dir.path(),
        "environment = { docker = { image = \"busybox\", volumes = [{ host_path = \"/var/run/docker.sock\", container_path = \"/s\" }] } }",
    );
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.starts_with("error: service[web].environment.docker.volumes[0].host_path: /var/run/docker.sock would give the container the Docker socket"),
        "{err}"
    );
    assert!(err.contains("hint: if it must, allow it explicitly: docker_host_paths = ["), "{err}");
}

#[test]
fn a_config_file_with_a_typo_is_one_error_naming_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config/taskflows/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, "version = 1\nallowed_path = [\"/srv\"]\n").unwrap();
    let (code, err) = create_in(dir.path(), "");
    assert_eq!(code, Some(3), "{err}");
    let first = err.lines().next().unwrap_or_default();
    assert!(first.starts_with(&format!("error: {}:2:1: unknown field `allowed_path`", config.display())), "{err}");
    // The config's folders are allowed roots.
    std::fs::write(&config, format!("version = 1\nallowed_paths = [\"{}\"]\n", dir.path().join("srv").display()))
        .unwrap();
    std::fs::create_dir_all(dir.path().join("srv")).unwrap();
    let (code, err) = create_in(dir.path(), &format!("working_directory = \"{}\"", dir.path().join("srv").display()));
    assert!(!err.contains("working_directory"), "{code:?} {err}");
}

#[test]
fn schema_is_the_committed_one() {
    let out = tf(&["schema"]);
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../schema/taskflows-service-file.schema.json"))
            .unwrap();
    assert_eq!(stdout(&out), committed);
}

#[test]
fn calendar_matches_systemd_analyze() {
    let args = ["--iterations", "3", "--base-time", "2026-03-07 12:00 UTC", "Mon..Fri 09:00 America/New_York"];
    let ours = tf(&[&["calendar"][..], &args].concat());
    let theirs = std::process::Command::new("systemd-analyze")
        .arg("calendar")
        .args(args)
        .env("TZ", "UTC")
        .output()
        .expect("systemd-analyze runs");
    let strip = |s: String| s.lines().filter(|l| !l.contains("From now")).collect::<Vec<_>>().join("\n");
    assert_eq!(strip(stdout(&ours)), strip(String::from_utf8_lossy(&theirs.stdout).into_owned()));
}

#[test]
fn wrong_usage_exits_2_and_closed_pipes_exit_0() {
    assert_eq!(tf(&["start"]).status.code(), Some(2));
    // More output than a pipe holds, so tf must meet the closed pipe.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tf"))
        .args(["calendar", "--iterations", "20000", "minutely"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    assert_eq!(child.wait().unwrap().code(), Some(0), "a closed pipe is not an error");
}

#[test]
fn check_explains_each_requirement_and_fails_when_one_does_not_hold() {
    let (_dir, path) = service_file(
        "[[service]]\nname = \"big\"\nstart_command = \"/bin/true\"\nstartup_requirements = [{ kind = \"memory\", amount = 1 }, { kind = \"cpus\", amount = 100000 }]\n",
    );
    let out = tf(&["check", &path]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "big:");
    assert!(lines[1].starts_with("  memory ") && lines[1].ends_with("(limit >= 1B): ok"), "{text}");
    assert!(lines[2].starts_with("  cpus ") && lines[2].ends_with("(limit >= 100000): not met"), "{text}");
    let waited = tf(&["check", &path, "--wait", "3s"]);
    assert_eq!(waited.status.code(), Some(255), "an unmet non-silent requirement fails the start: {}", stdout(&waited));
}

#[test]
fn env_commands_need_no_systemd_except_update() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| tf_user_in(dir.path(), args);
    let file = dir.path().join("ml.toml");
    std::fs::write(&file, "[venv]\nname = \"ml\"\nrunner = \"/opt/mm/micromamba\"\n").unwrap();
    let file = file.display().to_string();
    let service = dir.path().join("svc.toml");
    std::fs::write(&service, "[[service]]\nname = \"svc\"\nstart_command = \"/bin/true\"\nenvironment = \"ml\"\n")
        .unwrap();
    let service = service.display().to_string();
    let unknown = run(&["create", &service, "--dry-run"]);
    assert_eq!(unknown.status.code(), Some(3));
    assert_eq!(
        stderr(&unknown),
        "error: service[svc].environment: no stored environment named \"ml\" (none are stored)\n"
    );

    assert!(run(&["env", "create", "ml", &file]).status.success());
    let stored = dir.path().join("data/environments");
    // Stored environments may hold secrets (a Docker environment's `environment` values).
    let mode = |p: &std::path::Path| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions()) & 0o777
    };
    assert_eq!(mode(&stored.join("ml.toml")), 0o600);
    assert_eq!(mode(&stored), 0o700);
    let files: Vec<_> = std::fs::read_dir(&stored).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files, ["ml.toml"], "no temporary file is left behind");
    // tf create reads the store: the unit runs the command in the environment and names it.
    assert_eq!(run(&["env", "update", "nope", &file]).status.code(), Some(4), "checked before connecting");
    let text = stdout(&run(&["create", &service, "--dry-run"]));
    assert!(
        text.contains("X-TaskflowsEnvironment=ml\n")
            && text.contains("ExecStart=/opt/mm/micromamba run -n ml -- /bin/true\n"),
        "{text}"
    );
    assert_eq!(stdout(&run(&["env", "list"])), "ENVIRONMENT  KIND  WHAT   USED BY\nml           venv  -n ml  -\n");
    let missing = run(&["env", "show", "gpu"]);
    assert_eq!(missing.status.code(), Some(4));
    assert_eq!(
        stderr(&missing),
        "error: no stored environment named \"gpu\" (stored: ml)\nhint: `tf env list` shows the stored environments\n"
    );
    let bad_name = run(&["env", "create", "-x", &file]);
    assert_eq!(bad_name.status.code(), Some(2), "{}", stderr(&bad_name));
    assert!(run(&["env", "delete", "ml"]).status.success());
    assert_eq!(stdout(&run(&["env", "list", "--json"])), "{\n  \"version\": 1,\n  \"environments\": []\n}\n");
}

#[test]
fn dry_run_refuses_a_container_limit_docker_cannot_express() {
    let (_dir, path) = service_file(
        "[[service]]\nname = \"box\"\nstart_command = \"echo\"\nenvironment = { docker = { image = \"busybox\", cgroup_config = { memory_high = \"1G\" } } }\n",
    );
    let out = tf(&["create", &path, "--dry-run"]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert_eq!(
        stderr(&out),
        "error: service[box].environment.docker.cgroup_config.memory_high: has no Docker equivalent; use memory_limit (hard) or memory_low (reservation)\n"
    );
}

#[test]
fn monitor_alert_settings_are_checked_before_anything_runs() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_tf"))
            .args(args)
            .env_remove("SLACK_BOT_TOKEN")
            .env_remove("TF_SMTP_HOST")
            .env_remove("TF_EMAIL_FROM")
            .output()
            .expect("tf runs")
    };
    for (args, message) in [
        (
            &["monitor", "check", "--email-to", "ops@example.com"][..],
            "error: --email-to needs an SMTP server: --smtp-host or TF_SMTP_HOST\n",
        ),
        (
            &["monitor", "check", "--email-to", "ops@example.com", "--smtp-host", "mail"][..],
            "error: --email-to needs a sender: --email-from or TF_EMAIL_FROM\n",
        ),
        (
            &[
                "monitor",
                "install",
                "--email-to",
                "x",
                "--smtp-host",
                "m",
                "--email-from",
                "a@b.c",
                "--smtp-security",
                "ssl",
            ][..],
            "error: --smtp-security (or TF_SMTP_SECURITY) \"ssl\": use tls, starttls or plain\n",
        ),
        (
            &["monitor", "check", "--slack-channel", "#ops"][..],
            "error: --slack-channel: environment variable SLACK_BOT_TOKEN is not set; export the bot token (xoxb-…)\n",
        ),
        (
            &["monitor", "check", "--webhook", "ftp://h/x"][..],
            "error: --webhook (or TF_MONITOR_WEBHOOKS) \"ftp://h/x\": give an http:// or https:// URL\n",
        ),
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), message, "{args:?}");
    }
}

#[test]
fn two_services_cannot_share_a_container_name() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| tf_user_in(dir.path(), args);
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let env = write("wk.toml", "[docker]\nimage = \"busybox\"\nname = \"worker\"\n");
    assert!(run(&["env", "create", "wk", &env]).status.success());
    // One stored environment naming its container, used by two services.
    let both = write(
        "both.toml",
        "[[service]]\nname = \"a\"\nstart_command = \"echo\"\nenvironment = \"wk\"\n\n[[service]]\nname = \"b\"\nstart_command = \"echo\"\nenvironment = \"wk\"\n",
    );
    let out = run(&["create", &both, "--dry-run"]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert_eq!(
        stderr(&out),
        "error: service[b].environment (stored environment \"wk\": docker.name): container name \"worker\" is also the container of service a; two services cannot share a container\nhint: give each service its own container name (environment.docker.name)\n"
    );
    // A container spec another service wrote earlier counts too, unless that service is
    // re-created with the batch.
    let spec = serde_json::json!({
        "version": 1, "service": "old", "container": "worker", "persisted": false,
        "docker_host": null, "config_hash": "0", "create": {}
    });
    std::fs::create_dir_all(dir.path().join("data/containers")).unwrap();
    std::fs::write(dir.path().join("data/containers/worker.json"), spec.to_string()).unwrap();
    let inline = write(
        "c.toml",
        "[[service]]\nname = \"c\"\nstart_command = \"echo\"\nenvironment = { docker = { image = \"busybox\", name = \"worker\" } }\n",
    );
    let out = run(&["create", &inline, "--dry-run"]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(
        stderr(&out).starts_with(
            "error: service[c].environment.docker.name: container name \"worker\" is also the container of service old (created earlier);"
        ),
        "{}",
        stderr(&out)
    );
    let a_alone = write("a.toml", "[[service]]\nname = \"a\"\nstart_command = \"echo\"\nenvironment = \"wk\"\n");
    assert_eq!(run(&["create", &a_alone, "--dry-run"]).status.code(), Some(3));
    std::fs::remove_file(dir.path().join("data/containers/worker.json")).unwrap();
    let out = run(&["create", &a_alone, "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A fake Docker engine on a unix socket: it answers the version, says the container and the
/// image are missing, and never answers a pull. Returns the request lines it saw.
fn stalling_engine(socket: &std::path::Path) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
    use std::io::{BufRead as _, Read as _, Write as _};
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = std::os::unix::net::UnixListener::bind(socket).unwrap();
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let log = log.clone();
            std::thread::spawn(move || {
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let mut out = stream;
                loop {
                    let mut request = String::new();
                    if reader.read_line(&mut request).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut length = 0;
                    loop {
                        let mut header = String::new();
                        reader.read_line(&mut header).unwrap();
                        if header.trim().is_empty() {
                            break;
                        }
                        if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap();
                        }
                    }
                    reader.by_ref().take(length).read_to_end(&mut Vec::new()).unwrap();
                    log.lock().unwrap().push(request.trim().to_owned());
                    let path = request.split(' ').nth(1).unwrap_or("").to_owned();
                    let (status, body) = if path.ends_with("/version") {
                        ("200 OK", r#"{"ApiVersion":"1.41","MinAPIVersion":"1.12","Version":"20.10.24"}"#)
                    } else if path.contains("/images/create") {
                        std::thread::sleep(std::time::Duration::from_secs(3600));
                        return;
                    } else {
                        ("404 Not Found", r#"{"message":"no such container or image"}"#)
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    out.write_all(response.as_bytes()).unwrap();
                }
            });
        }
    });
    seen
}

#[test]
fn container_run_stopped_during_a_pull_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    let seen = stalling_engine(&socket);
    let spec = serde_json::json!({
        "version": 1, "service": "pg", "container": "taskflows-pg", "persisted": true,
        "docker_host": format!("unix://{}", socket.display()), "config_hash": "0",
        "create": { "Image": "postgres" }
    });
    std::fs::create_dir_all(dir.path().join("containers")).unwrap();
    std::fs::write(dir.path().join("containers/taskflows-pg.json"), spec.to_string()).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tf"))
        .args(["container", "run", "--data-dir"])
        .arg(dir.path())
        .arg("taskflows-pg")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pull = crate::wait_for(std::time::Duration::from_secs(20), std::time::Duration::from_millis(20), || {
        let seen = seen.lock().unwrap();
        seen.iter().find(|l| l.contains("/images/create")).cloned().ok_or_else(|| format!("no pull: {seen:?}"))
    });
    // One tag, never the repository's every tag.
    assert!(pull.contains("fromImage=postgres") && pull.contains("tag=latest"), "{pull}");
    // systemd's stop, while the image is being pulled.
    assert!(std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "tf container run ignored the stop");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "a clean stop, not death by SIGTERM: {out:?}");
}

/// A bus that stops answering (a private `dbus-daemon`, SIGSTOPped) ends `tf status`, `tf
/// create` and `tf logs` with one error naming systemd within 30 s, exit 1. No systemd needed.
#[test]
fn a_stalled_bus_ends_tf_with_an_error_naming_systemd() {
    let dir = tempfile::tempdir().unwrap();
    let address = format!("unix:path={}", dir.path().join("bus").display());
    let mut daemon = std::process::Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--nopidfile", &format!("--address={address}")])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("dbus-daemon runs (apt-get install dbus)");
    let kill = |signal: &str| {
        std::process::Command::new("kill").args([signal, &daemon.id().to_string()]).status().unwrap();
    };
    crate::wait_for(std::time::Duration::from_secs(10), std::time::Duration::from_millis(10), || {
        if dir.path().join("bus").exists() { Ok(()) } else { Err("dbus-daemon made no socket".to_owned()) }
    });
    kill("-STOP");
    let (_files, path) = service_file("[[service]]\nname = \"stalled\"\nstart_command = \"/bin/true\"\n");
    let runs: Vec<_> = [vec!["status"], vec!["create", path.as_str()], vec!["logs", "stalled"]]
        .into_iter()
        .map(|args| {
            let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
            let (home, address) = (dir.path().to_owned(), address.clone());
            std::thread::spawn(move || {
                let start = std::time::Instant::now();
                let out = std::process::Command::new(env!("CARGO_BIN_EXE_tf"))
                    .arg("--user")
                    .args(&args)
                    .env("TASKFLOWS_DATA_DIR", home.join("data"))
                    .env("XDG_CONFIG_HOME", home.join("config"))
                    .env("DBUS_SESSION_BUS_ADDRESS", &address)
                    .env("NO_COLOR", "1")
                    .output()
                    .expect("tf runs");
                (args, start.elapsed(), out)
            })
        })
        .collect();
    let results: Vec<_> = runs.into_iter().map(|r| r.join().unwrap()).collect();
    kill("-CONT");
    let _ = daemon.kill();
    let _ = daemon.wait();
    let slowest = results.iter().map(|(_, took, _)| *took).max().unwrap_or_default();
    crate::figure(&format!("stalled bus: tf status, create and logs failed within {:.1}s", slowest.as_secs_f64()));
    for (args, took, out) in results {
        let error = stderr(&out);
        eprintln!("tf {args:?} on a stalled bus: {took:.1?}: {error}");
        assert!(took < std::time::Duration::from_secs(30), "tf {args:?} took {took:?}");
        assert_eq!(out.status.code(), Some(1), "tf {args:?}: {error}");
        assert!(error.starts_with("error: systemd (session bus unix:path="), "tf {args:?}: {error}");
        assert!(error.contains("did not answer within 25s"), "tf {args:?}: {error}");
    }
}

/// Escape sequences and bidi overrides in a description cannot reach the terminal through
/// `tf create --dry-run` (or `tf show`): they are shown as `\u{…}` escapes.
#[test]
fn control_characters_in_definitions_are_escaped_on_the_terminal() {
    let (_dir, path) = service_file(
        "[[service]]\nname = \"sneaky\"\ndescription = \"ok \\u001b[2J\\u001b]0;pwned\\u0007 \\u202egnp.exe\"\nstart_command = \"/bin/true\"\n",
    );
    let out = tf(&["create", &path, "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains('\u{1b}') && !text.contains('\u{7}') && !text.contains('\u{202e}'), "{text:?}");
    assert!(text.contains("Description=ok \\u{1b}[2J\\u{1b}]0;pwned\\u{7} \\u{202e}gnp.exe\n"), "{text}");
}

/// One TLS stack, rustls: `tf` links no OpenSSL (no libssl or libcrypto), so building it needs no
/// OpenSSL headers and running it needs no OpenSSL library.
#[test]
fn tf_links_no_openssl() {
    let out = match std::process::Command::new("ldd").arg(env!("CARGO_BIN_EXE_tf")).output() {
        Ok(out) => out,
        Err(e) => {
            eprintln!("skipped: ldd is not installed ({e})");
            return;
        }
    };
    let libraries = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "ldd: {}{}", libraries, stderr(&out));
    let openssl: Vec<&str> =
        libraries.lines().filter(|l| l.contains("libssl") || l.contains("libcrypto")).map(str::trim).collect();
    assert!(openssl.is_empty(), "tf links OpenSSL: {openssl:?}\n{libraries}");
}
