//! The path policy's ownership rules, inside a real systemd (as root, both scopes): a system
//! unit's env file and every folder above it are root's and not writable by group or others;
//! a user unit's are not held to that.

use std::os::unix::fs::PermissionsExt as _;

use crate::{service_file, stderr, stdout, tf};

fn system_scope() -> bool {
    assert!(std::env::var_os("TF_IN_SANDBOX").is_some(), "run with `cargo xtask test-systemd`");
    std::env::var("TF_TEST_SCOPE").as_deref() != Ok("user")
}

fn chmod(path: &std::path::Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn a_system_units_env_file_must_be_roots_alone() {
    let system = system_scope();
    let svc = format!("paths-env-{}", std::process::id());
    // A folder of its own under /tmp (root's, sticky: only root may replace root's entries).
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("conf");
    std::fs::create_dir(&folder).unwrap();
    let env = folder.join("app.env");
    std::fs::write(&env, "GREETING=hello\n").unwrap();
    let (_d, path) = service_file(&format!(
        "[[service]]\nname = \"{svc}\"\nstart_command = \"/bin/sh -c 'echo $GREETING'\"\nenv_file = \"{}\"\n",
        env.display()
    ));

    // A group-writable folder above it.
    chmod(&folder, 0o775);
    chmod(&env, 0o644);
    let out = tf(&["create", &path]);
    if system {
        assert_eq!(out.status.code(), Some(3), "{}{}", stdout(&out), stderr(&out));
        assert!(
            stderr(&out).starts_with(&format!(
                "error: service[{svc}].env_file: {} is writable by group or others (mode 0775); a system unit's env_file and every folder above it must be owned by root and not writable by group or others\nhint: chown root:root {0} && chmod go-w {0}\n",
                folder.display()
            )),
            "{}",
            stderr(&out)
        );
        assert!(!std::path::Path::new(&format!("/etc/systemd/system/taskflows-{svc}.service")).exists());
        // The file itself, owned by someone else.
        chmod(&folder, 0o755);
        std::os::unix::fs::chown(&env, Some(65534), None).unwrap();
        let out = tf(&["create", &path]);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert!(stderr(&out).contains(&format!("{} is owned by uid 65534", env.display())), "{}", stderr(&out));
        std::os::unix::fs::chown(&env, Some(0), None).unwrap();
    } else {
        assert!(out.status.success(), "a user unit's files are the user's: {}", stderr(&out));
    }

    // Root's 0644 file in a 0755 folder passes, and the unit reads it.
    chmod(&folder, 0o755);
    let out = tf(&["create", &path]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let out = tf(&["start", &svc, "--wait"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let out = tf(&["remove", &svc]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn a_system_unit_never_runs_a_program_another_user_can_replace() {
    let system = system_scope();
    let svc = format!("paths-runner-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let runner = bin.join("micromamba");
    std::fs::write(&runner, "#!/bin/sh\nexit 0\n").unwrap();
    chmod(&runner, 0o755);
    chmod(&bin, 0o777);
    let (_d, path) = service_file(&format!(
        "[[service]]\nname = \"{svc}\"\nstart_command = \"/bin/true\"\nenvironment = {{ venv = {{ name = \"ml\", runner = \"{}\" }} }}\n",
        runner.display()
    ));
    let out = tf(&["create", &path, "--dry-run"]);
    if system {
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.starts_with(&format!(
                "error: service[{svc}].environment.venv.runner: {} is writable by group or others (mode 0777)",
                bin.display()
            )),
            "{err}"
        );
        assert!(err.contains("hint: install conda/mamba/micromamba where only root can replace it"), "{err}");
    } else {
        assert!(out.status.success(), "{}", stderr(&out));
    }
    chmod(&bin, 0o755);
    let out = tf(&["create", &path, "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // A program need not be under the allowed folders: a link from one to /bin/true is fine.
    std::fs::remove_file(&runner).unwrap();
    std::os::unix::fs::symlink("/bin/true", &runner).unwrap();
    let out = tf(&["create", &path, "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
}
