//! Stored environment files: what they read into, the text taskflows stores, and one exact
//! message per kind of bad input.

use taskflows_core::file::{parse_environment_file, service_definitions, stored_environment_text};
use taskflows_core::{DockerImage, Environment};

fn check(file: &str, expected: &str) {
    match parse_environment_file("env.toml", file) {
        Ok(env) => panic!("accepted {file:?}: {env:?}"),
        Err(e) => assert_eq!(e.to_string(), expected, "for {file:?}"),
    }
}

#[test]
fn venv_and_docker_files_read_into_environments() {
    let venv =
        parse_environment_file("ml.toml", "version = 1\n[venv]\nname = \"ml\"\nrunner = \"/opt/mm/bin/micromamba\"\n")
            .unwrap();
    let Environment::Venv(v) = venv else { panic!("{venv:?}") };
    assert_eq!((v.name.as_str(), v.runner.as_ref().map(|r| r.as_str())), ("ml", Some("/opt/mm/bin/micromamba")));

    let docker = parse_environment_file(
        "api.toml",
        "[docker]\nimage = \"python:3.11\"\nports = { \"8080/tcp\" = 8080 }\ncgroup_config = { memory_limit = \"1G\" }\n",
    )
    .unwrap();
    let Environment::Docker(c) = docker else { panic!("{docker:?}") };
    assert_eq!(c.image, DockerImage::Name(taskflows_core::Text::new("python:3.11").unwrap()));
    assert_eq!(c.ports.len(), 1);
}

#[test]
fn stored_text_is_versioned_and_reads_back_the_same() {
    let given = "# my env\n[venv]\nname = \"ml\" # the conda env\n";
    let stored = stored_environment_text(given).unwrap();
    assert_eq!(stored, "version = 1\n\n[venv]\nname = \"ml\"\n");
    assert_eq!(parse_environment_file("a", given).unwrap(), parse_environment_file("b", &stored).unwrap());
}

#[test]
fn service_definitions_hold_one_service_each_and_read_back_the_same() {
    let file = r#"
[[service]]
name = "a"
start_command = "/bin/echo a"
environment = "ml"
start_schedule = ["daily", { period = "5min" }]
[service.cgroup_config]
memory_limit = "1G"

[[service]]
name = "b"
start_command = "/bin/echo b"
environment = { venv = { name = "x" } }
"#;
    let all = taskflows_core::file::parse_service_file("all.toml", file).unwrap();
    let defs = service_definitions(file).unwrap();
    assert_eq!(defs.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    for ((name, text), spec) in defs.iter().zip(&all) {
        assert!(text.starts_with("version = 1\n"), "{text}");
        let read = taskflows_core::file::parse_service_file(name, text).unwrap();
        assert_eq!(read.as_slice(), std::slice::from_ref(spec), "{text}");
    }
}

#[test]
fn bad_environment_files() {
    for (file, expected) in ROWS {
        check(file, expected);
    }
}

/// (environment file, the exact error).
const ROWS: &[(&str, &str)] = &[
    ("", "env.toml:1:1: an environment file needs one [venv] or [docker] table"),
    ("version = 1\n", "env.toml:1:1: an environment file needs one [venv] or [docker] table"),
    (
        "[venv]\nname = \"a\"\n[docker]\nimage = \"x\"\n",
        "env.toml:3:1: docker: an environment file holds one table, [venv] or [docker], not both",
    ),
    (
        "version = 2\n[venv]\nname = \"a\"\n",
        "env.toml:1:1: version: version 2 is not supported; this taskflows reads version 1",
    ),
    (
        "[conda]\nname = \"a\"\n",
        "env.toml:1:2: conda: unknown field `conda`, expected one of `version`, `venv`, `docker`",
    ),
    (
        "[venv]\nname = \"a b\"\n",
        "env.toml:1:1: venv: \"a b\" is not an environment name; use letters, digits, '.', '_', '-' and '+' (not first)",
    ),
    ("[venv]\nrunner = \"/bin/conda\"\n", "env.toml:1:1: venv: missing field `name`"),
    (
        "[venv]\nname = \"a\"\nrunner = \"conda\"\n",
        "env.toml:3:10: venv.runner: \"conda\" is not an absolute path (it must start with '/')",
    ),
    (
        "[venv]\nname = \"a\"\npython = \"3.11\"\n",
        "env.toml:3:1: venv.python: unknown field `python`, expected `name` or `runner`",
    ),
    (
        "[docker]\nimage = \"x\"\nrestart_policy = \"always\"\n",
        "env.toml:3:1: docker.restart_policy: \"always\" is not allowed: systemd restarts the service, so the container's policy must be \"no\"; set the service's restart_policy",
    ),
    (
        "[docker]\nimage = \"x\"\ncommand = \"python 'app.py\"\n",
        "env.toml:3:1: docker.command: \"python 'app.py\" has unbalanced quotes; close them or escape them with a backslash",
    ),
    (
        "[docker]\nimage = \"x\"\nports = { \"http\" = 80 }\n",
        "env.toml:3:1: docker.ports: \"http\" is not a container port; use \"8080\" or \"8080/tcp\" (tcp, udp, sctp)",
    ),
    (
        "[docker]\nimage = \"x\"\ncgroup_config = { cpu_weight = 0 }\n",
        "env.toml:3:19: docker.cgroup_config.cpu_weight: 0 is out of range; use 1 to 10000",
    ),
    ("[docker]\nports = {}\n", "env.toml:1:1: docker: missing field `image`"),
    ("[venv\nname = 1\n", "env.toml:1:6: unclosed table, expected `]`"),
];
