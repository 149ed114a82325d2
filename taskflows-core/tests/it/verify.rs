//! Every rendered case is checked by the real `systemd-analyze verify` (systemd 252 here), in
//! both scopes; any message on stderr fails the test. This proves the directives are real
//! systemd directives with values systemd accepts, not just strings we like.

use std::process::Command;

use taskflows_core::Scope;

use crate::cases::{CASES, context, render_case};

fn verify(scope: Scope, name: &str, toml: &str) -> Option<String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut ctx = context(scope);
    // verify checks that programs exist and are executable: point at ones every host has.
    ctx.conda_runner = Some(taskflows_core::AbsPath::new("/usr/bin/env").unwrap());
    ctx.tf_binary = taskflows_core::AbsPath::new("/bin/true").unwrap();
    let units = render_case(toml, &ctx);
    let mut paths = Vec::new();
    for u in &units {
        let path = dir.path().join(&u.name);
        std::fs::write(&path, &u.content).expect("write unit");
        paths.push(path);
    }
    write_stubs(dir.path(), &units);
    let runtime = dir.path().join("runtime");
    std::fs::create_dir(&runtime).expect("runtime dir");
    let mut cmd = Command::new("systemd-analyze");
    if scope == Scope::User {
        cmd.arg("--user").env("XDG_RUNTIME_DIR", &runtime);
    }
    let out = cmd
        .args(["verify", "--man=no"])
        .args(&paths)
        // Without this, system-mode messages go to the journal/kmsg instead of stderr.
        .env("SYSTEMD_LOG_TARGET", "console")
        .output()
        .unwrap_or_else(|e| panic!("systemd-analyze is needed for this test (apt-get install systemd): {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (!out.status.success() || !stderr.trim().is_empty())
        .then(|| format!("case {name} ({scope:?}): exit {:?}\n{stderr}", out.status.code()))
}

/// `Requires=db` fails verification when db.service does not exist: give every related unit
/// that is neither rendered nor installed a stub in the folder verify searches.
fn write_stubs(dir: &std::path::Path, units: &[taskflows_core::UnitFile]) {
    for u in units {
        for line in u.content.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            if !taskflows_core::RELATION_DIRECTIVES.contains(&key) {
                continue;
            }
            for name in value.split_whitespace() {
                let installed = ["/lib/systemd/system", "/usr/lib/systemd/user"]
                    .iter()
                    .any(|d| std::path::Path::new(d).join(name).exists());
                if installed || units.iter().any(|u| u.name == name) {
                    continue;
                }
                let body = match name.rsplit_once('.') {
                    Some((_, "service")) => "[Service]\nExecStart=/bin/true\n".to_owned(),
                    Some((stem, "mount")) => {
                        format!("[Mount]\nWhat=tmpfs\nWhere=/{}\nType=tmpfs\n", stem.replace('-', "/"))
                    }
                    _ => String::new(),
                };
                std::fs::write(dir.join(name), format!("[Unit]\nDescription=stub\n{body}")).unwrap();
            }
        }
    }
}

#[test]
fn every_case_passes_systemd_analyze_verify() {
    let failures: Vec<String> = [Scope::System, Scope::User]
        .into_iter()
        .flat_map(|scope| CASES.iter().filter_map(move |(name, toml)| verify(scope, name, toml)))
        .collect();
    assert!(failures.is_empty(), "systemd-analyze verify complained:\n{}", failures.join("\n"));
}

#[test]
fn every_example_file_passes_systemd_analyze_verify() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("examples folder") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let toml = std::fs::read_to_string(&path).unwrap();
            for scope in [Scope::System, Scope::User] {
                if let Some(failure) = verify(scope, &path.display().to_string(), &toml) {
                    panic!("{failure}");
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 2, "the examples are checked");
}

#[test]
fn verify_catches_unknown_directives() {
    // The check above is only worth something if verify reports what we would get wrong.
    let bad = "[[service]]\nname = \"x\"\nstart_command = \"/bin/echo\"\n";
    assert!(verify(Scope::System, "good", bad).is_none());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("taskflows-x.service");
    std::fs::write(&path, "[Unit]\nDescription=x\n[Service]\nExecStart=/bin/echo\nConstraintMemory=5\n").unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .env("SYSTEMD_LOG_TARGET", "console")
        .output()
        .expect("systemd-analyze runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Unknown key 'ConstraintMemory'"), "{stderr}");
}

/// What tf accepts, systemd accepts: generated service files with awkward values in the fields
/// users write freely (descriptions, commands and their quoting, env values, paths, signals,
/// durations, a venv's name and runner) are either refused by tf, or render to units that
/// `systemd-analyze verify` passes without a word, in both scopes.
#[test]
fn generated_services_tf_accepts_pass_systemd_verify() {
    let mut generator = crate::generate::Generator::new();
    let (mut accepted, mut refused) = (0, 0);
    let mut failures: Vec<String> = Vec::new();
    for case in 0..200 {
        let toml = format!("version = 1\n{}", generator.service("gen-", case, "/srv"));
        let Ok(specs) = taskflows_core::file::parse_service_file("gen.toml", &toml) else {
            refused += 1;
            continue;
        };
        if specs.iter().any(|s| taskflows_core::render(s, &context(Scope::System)).is_err()) {
            refused += 1;
            continue;
        }
        accepted += 1;
        for scope in [Scope::System, Scope::User] {
            if let Some(failure) = verify(scope, &format!("generated {case}"), &toml) {
                failures.push(format!("{failure}\n{toml}"));
            }
        }
    }
    // A figure for `cargo xtask test-robustness` (past the harness's capture, and to TF_FIGURES).
    let line = format!(
        "figure [host]: injection: {} generated services, {accepted} accepted by tf, {} of them refused by systemd",
        accepted + refused,
        failures.len()
    );
    {
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "{line}");
        if let Some(path) = std::env::var_os("TF_FIGURES")
            && let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path)
        {
            let _ = writeln!(file, "{line}");
        }
    }
    assert!(accepted >= 30, "too few generated services were accepted ({accepted}) to say anything");
    assert!(failures.is_empty(), "{} accepted by tf but refused by systemd:\n{}", failures.len(), failures.join("\n"));
}
