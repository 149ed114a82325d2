//! `tf env`: named environments stored by name, used by services, updated and deleted, inside a
//! real systemd. The Venv runner is a stand-in script (no conda here) that says which
//! environment it was asked for and runs the command.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::{ok, stderr, stdout};

fn in_sandbox() {
    assert!(std::env::var_os("TF_IN_SANDBOX").is_some(), "run with `cargo xtask test-systemd`");
}

/// `tf` in the test's scope with its own data folder.
fn tf(data: &Path, args: &[&str]) -> Output {
    let scope = if std::env::var("TF_TEST_SCOPE").as_deref() == Ok("user") { "--user" } else { "--system" };
    std::process::Command::new(env!("CARGO_BIN_EXE_tf"))
        .arg(scope)
        .args(args)
        .env("NO_COLOR", "1")
        .env("TASKFLOWS_DATA_DIR", data)
        .output()
        .expect("tf runs")
}

/// A temp folder under the target dir (shared into the sandbox) holding a fake `micromamba`.
fn fake_runner() -> (tempfile::TempDir, PathBuf) {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let runner = dir.path().join("micromamba");
    let script = "#!/bin/sh\n# micromamba run -n ENV -- COMMAND...\n[ \"$1\" = run ] && [ \"$2\" = -n ] || exit 64\nenv=$3; shift 3\n[ \"$1\" = -- ] && shift\necho \"in environment $env\"\nexec \"$@\"\n";
    std::fs::write(&runner, script).expect("write runner");
    std::fs::set_permissions(&runner, std::fs::Permissions::from_mode(0o755)).expect("chmod runner");
    (dir, runner)
}

fn write(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write file");
    path.display().to_string()
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn stored_environment_create_use_update_delete() {
    in_sandbox();
    let (dir, runner) = fake_runner();
    let data = dir.path().join("data");
    let runner = runner.display().to_string();
    let v1 = write(dir.path(), "v1.toml", &format!("[venv]\nname = \"env-one\"\nrunner = \"{runner}\"\n"));
    let v2 = write(dir.path(), "v2.toml", &format!("version = 1\n[venv]\nname = \"env-two\"\nrunner = \"{runner}\"\n"));
    let services = write(
        dir.path(),
        "services.toml",
        "[[service]]\nname = \"envit-train\"\nstart_command = \"/bin/sh -c 'echo trained; sleep 0.5'\"\nenvironment = \"envit-ml\"\n",
    );
    let _ = tf(&data, &["remove", "envit-*"]);

    let env_file = data.join("environments/envit-ml.toml");
    let out = ok(&tf(&data, &["env", "create", "envit-ml", &v1]), "env create");
    assert_eq!(out, format!("stored environment envit-ml in {}\n", env_file.display()));
    let again = tf(&data, &["env", "create", "envit-ml", &v2]);
    assert_eq!(again.status.code(), Some(1), "an existing name is refused");
    assert!(stderr(&again).starts_with("error: a stored environment named \"envit-ml\" exists already"));

    // A service that names the environment installs, wrapped in it.
    ok(&tf(&data, &["create", &services]), "create");
    // Its saved definition holds its whole table (inline `env` values included): private.
    let mode = |p: &Path| std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions()) & 0o777;
    assert_eq!(mode(&data.join("services/envit-train.toml")), 0o600);
    assert_eq!(mode(&data.join("services")), 0o700);
    let unit = ok(&tf(&data, &["show", "envit-train"]), "show");
    assert!(unit.contains("X-TaskflowsEnvironment=envit-ml\n"), "{unit}");
    assert!(
        unit.contains(&format!("ExecStart={runner} run -n env-one -- /bin/sh -c 'echo trained; sleep 0.5'\n")),
        "{unit}"
    );
    ok(&tf(&data, &["start", "envit-train", "--wait"]), "start");
    let logs = ok(&tf(&data, &["logs", "envit-train"]), "logs");
    assert!(logs.contains("in environment env-one") && logs.contains("trained"), "{logs}");

    let list: serde_json::Value = serde_json::from_slice(&tf(&data, &["env", "list", "--json"]).stdout).unwrap();
    assert_eq!(
        list,
        serde_json::json!({ "version": 1, "environments": [{ "name": "envit-ml", "kind": "venv", "what": "-n env-one", "path": env_file, "used_by": ["envit-train"] }] })
    );
    let shown = ok(&tf(&data, &["env", "show", "envit-ml"]), "env show");
    assert_eq!(
        shown,
        format!(
            "# {}\nversion = 1\n\n[venv]\nname = \"env-one\"\nrunner = \"{runner}\"\n# used by: envit-train\n",
            env_file.display()
        )
    );

    // Updating the environment re-creates the service that uses it: the installed unit changes.
    let out = ok(&tf(&data, &["env", "update", "envit-ml", &v2]), "env update");
    assert_eq!(mode(&env_file), 0o600, "replaced, still private");
    assert!(out.contains("wrote ") && out.contains("updated service envit-train\n"), "{out}");
    let unit = ok(&tf(&data, &["show", "envit-train"]), "show");
    assert!(unit.contains(" run -n env-two -- /bin/sh"), "{unit}");
    ok(&tf(&data, &["start", "envit-train", "--wait"]), "start");
    assert!(ok(&tf(&data, &["logs", "envit-train"]), "logs").contains("in environment env-two"));

    // A bad file changes nothing: the error names the place and the field.
    let bad = write(dir.path(), "bad.toml", "[venv]\nname = \"env-three\"\nrunner = \"micromamba\"\n");
    let out = tf(&data, &["env", "update", "envit-ml", &bad]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        stderr(&out),
        format!("error: {bad}:3:10: venv.runner: \"micromamba\" is not an absolute path (it must start with '/')\n")
    );
    assert!(std::fs::read_to_string(&env_file).unwrap().contains("env-two"));
    assert_eq!(ok(&tf(&data, &["show", "envit-train"]), "show"), unit, "the unit is unchanged");

    // Deleting is refused while the service uses it.
    let out = tf(&data, &["env", "delete", "envit-ml"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert_eq!(
        stderr(&out),
        "error: environment \"envit-ml\" is used by 1 service: envit-train; remove those services or change their environment first\n"
    );
    assert!(env_file.exists());

    ok(&tf(&data, &["remove", "envit-train"]), "remove");
    assert!(!data.join("services/envit-train.toml").exists(), "tf remove forgets the saved definition");
    let out = ok(&tf(&data, &["env", "delete", "envit-ml"]), "env delete");
    assert_eq!(out, format!("deleted environment envit-ml ({})\n", env_file.display()));
    assert!(!env_file.exists());
    assert_eq!(
        ok(&tf(&data, &["env", "list", "--json"]), "env list"),
        "{\n  \"version\": 1,\n  \"environments\": []\n}\n"
    );
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn bad_and_corrupt_environment_files_are_refused_and_nothing_is_written() {
    in_sandbox();
    let (dir, runner) = fake_runner();
    let data = dir.path().join("data");
    let bad = write(dir.path(), "bad.toml", "[venv]\nname = \"ok\"\n[docker]\nimage = \"python:3.11\"\n");
    let out = tf(&data, &["env", "create", "envit-bad", &bad]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        stderr(&out),
        format!("error: {bad}:3:1: docker: an environment file holds one table, [venv] or [docker], not both\n")
    );
    assert!(!data.join("environments/envit-bad.toml").exists());

    // Docker environments are stored like any other (running them is the Docker backend's job).
    let docker =
        write(dir.path(), "docker.toml", "[docker]\nimage = \"python:3.11\"\nports = { \"8080/tcp\" = 8080 }\n");
    ok(&tf(&data, &["env", "create", "envit-docker", &docker]), "env create docker");
    let shown: serde_json::Value =
        serde_json::from_slice(&tf(&data, &["env", "show", "envit-docker", "--json"]).stdout).unwrap();
    assert_eq!(shown["kind"], "docker");
    assert_eq!(shown["definition"]["docker"]["image"], "python:3.11");

    // A corrupt stored file is an error naming it, for every command that reads the store.
    let corrupt = data.join("environments/envit-corrupt.toml");
    std::fs::write(&corrupt, "[venv]\nname = 5\n").unwrap();
    let services = write(
        dir.path(),
        "s.toml",
        &format!(
            "[[service]]\nname = \"envit-corrupt\"\nstart_command = \"/bin/true\"\nenvironment = \"envit-docker\"\n# {}\n",
            runner.display()
        ),
    );
    let expected = format!(
        "error: {}:2:8: venv.name: invalid type: integer `5`, expected a string; fix or remove this file\n",
        corrupt.display()
    );
    for args in [vec!["env", "list"], vec!["create", services.as_str()]] {
        let out = tf(&data, &args);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        assert_eq!(stderr(&out), expected, "{args:?}");
    }
    assert_eq!(tf(&data, &["list", "envit-corrupt"]).status.code(), Some(4), "nothing was installed");
    // Updating the corrupt environment repairs it.
    let good = write(dir.path(), "good.toml", "[venv]\nname = \"five\"\n");
    let out = ok(&tf(&data, &["env", "update", "envit-corrupt", &good]), "env update corrupt");
    assert_eq!(out, format!("updated environment envit-corrupt ({})\n", corrupt.display()));
    let list: serde_json::Value = serde_json::from_slice(&tf(&data, &["env", "list", "--json"]).stdout).unwrap();
    assert_eq!(list["environments"].as_array().map(Vec::len), Some(2), "{list}");
    ok(&tf(&data, &["env", "delete", "envit-corrupt"]), "env delete");
    ok(&tf(&data, &["env", "delete", "envit-docker"]), "env delete docker");
}
