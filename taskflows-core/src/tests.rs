//! Unit tests of the value types, one `check` helper per area.

use crate::*;

#[test]
fn durations() {
    fn check(input: &str, micros: Option<u64>, shown: &str) {
        match (Duration::parse(input), micros) {
            (Ok(d), Some(us)) => {
                assert_eq!(d.as_micros(), us, "{input}");
                assert_eq!(d.to_string(), shown, "{input}");
            }
            (Err(_), None) => {}
            (r, _) => panic!("{input}: {r:?}"),
        }
    }
    check("30", Some(30_000_000), "30s");
    check("1.5", Some(1_500_000), "1s 500ms");
    check("30s", Some(30_000_000), "30s");
    check("5min", Some(300_000_000), "5min");
    check("1h 30min", Some(5_400_000_000), "1h 30min");
    check("1h30m", Some(5_400_000_000), "1h 30min");
    check("2d", Some(172_800_000_000), "2d");
    check("1w 1us", Some(604_800_000_001), "1w 1us");
    check("250ms", Some(250_000), "250ms");
    check("0", Some(0), "0");
    check("", None, "");
    check("5 parsecs", None, "");
    check("-5s", None, "");
    check("min", None, "");
}

#[test]
fn sizes() {
    fn check(input: &str, bytes: Option<u64>) {
        assert_eq!(ByteSize::parse(input).ok().map(|b| b.0), bytes, "{input}");
    }
    check("4096", Some(4096));
    check("512M", Some(512 << 20));
    check("512m", Some(512 << 20));
    check("1G", Some(1 << 30));
    check("1.5GiB", Some(3 << 29));
    check("100MB", Some(100_000_000));
    check("2 T", Some(2 << 40));
    check("1.5", Some(1));
    check("", None);
    check("G", None);
    check("-1G", None);
    check("1X", None);
    check("99999999999999T", None);
}

#[test]
fn service_names() {
    fn check(input: &str, ok: bool) {
        assert_eq!(ServiceName::new(input).is_ok(), ok, "{input}");
    }
    check("web", true);
    check("web.v2_blue-1", true);
    check("A", true);
    check(&"a".repeat(MAX_SERVICE_NAME_LEN), true);
    check(&"a".repeat(MAX_SERVICE_NAME_LEN + 1), false);
    for bad in ["", "-web", "web-", ".web", "web.", "a..b", "a/b", "a b", "init", "SYSTEM", "ü", "a\nb"] {
        check(bad, false);
    }
}

#[test]
fn unit_names() {
    fn check(input: &str, expected: Option<&str>) {
        assert_eq!(UnitName::new(input).ok().as_ref().map(UnitName::as_str), expected, "{input}");
    }
    check("db", Some("db.service"));
    check("my.app", Some("my.app.service"));
    check("network-online.target", Some("network-online.target"));
    check("getty@tty1.service", Some("getty@tty1.service"));
    check("data.mount", Some("data.mount"));
    check(".target", Some(".target.service"));
    check("", None);
    check("a b", None);
    check("a;b", None);
}

#[test]
fn command_lines() {
    fn check(input: &str, words: Option<&[&str]>) {
        let got = CommandLine::new(input).ok().map(|c| c.words());
        let expected = words.map(|w| w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(got, expected, "{input}");
    }
    check("/bin/echo hi", Some(&["/bin/echo", "hi"]));
    check("/bin/sh -c 'echo a b'", Some(&["/bin/sh", "-c", "echo a b"]));
    check(r#"/bin/echo "a \" b""#, Some(&["/bin/echo", "a \" b"]));
    check("-/bin/false", Some(&["-/bin/false"]));
    check("", None);
    check("   ", None);
    check("'unterminated", None);
    check("echo \"open", None);
    check("echo \\", None);
}

#[test]
fn paths() {
    fn check(input: &str, expected: Option<&str>) {
        assert_eq!(AbsPath::new(input).ok().as_ref().map(AbsPath::as_str), expected, "{input}");
    }
    check("/srv/app", Some("/srv/app"));
    check("//srv/./app/", Some("/srv/app"));
    check("/", Some("/"));
    check("srv/app", None);
    check("/srv/../etc", None);
    check("/srv\n/app", None);
}

#[test]
fn env_files() {
    let vars = parse_env_file(
        "# comment\n; also\n\nA=1\nB = two words  \nC=\"quoted # not comment\"\nD='single'\nE=\nF=a\\\nb\nG='x'\"y\"z\nH=\"\\$\\q\"\nA=again\r\n",
    )
    .unwrap();
    let got: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        got,
        [
            ("B", "two words"),
            ("C", "quoted # not comment"),
            ("D", "single"),
            ("E", ""),
            ("F", "ab"),
            ("G", "xyz"),
            ("H", "$\\q"),
            ("A", "again")
        ]
    );
    fn check(input: &str, expected: &str) {
        assert_eq!(parse_env_file(input).unwrap_err().to_string(), expected, "{input}");
    }
    check("A=1\nnot a pair\n", "line 2: no '=' (systemd ignores a line without one); write KEY=VALUE");
    check(
        "1A=x",
        "line 1: not a variable name systemd accepts; use letters, digits and '_', not starting with a digit",
    );
    check("export B=1", "line 1: systemd ignores `export KEY=VALUE` lines; write KEY=VALUE");
    check("A=\"open\nB=2\n", "line 1: a quote is not closed before the end of the file");
    check(
        "# note \\\nA=1\n",
        "line 1: a comment ends in a backslash, so systemd 252 ignores line 2 too; remove the backslash",
    );
    check("A=x\u{1b}[2J", "line 1: the value of A has a control character (systemd drops such a variable)");
    check("A=1\nB=secret\0", "line 2: a NUL byte (systemd stops reading the file there)");
    // A file's content never appears in an error: it may be any file, or hold a secret.
    check("s3cr3t-token\n", "line 1: no '=' (systemd ignores a line without one); write KEY=VALUE");
    check(
        "s3cr3t token=x\n",
        "line 1: not a variable name systemd accepts; use letters, digits and '_', not starting with a digit",
    );
}

#[test]
fn signals() {
    assert_eq!(Signal::new("term").unwrap().as_str(), "SIGTERM");
    assert_eq!(Signal::new("SIGRTMIN+3").unwrap().as_str(), "SIGRTMIN+3");
    assert!(Signal::new("SIGRTMIN+99").is_err());
    assert!(Signal::new("").is_err());
}

#[test]
fn cpu_shares_convert_like_runc() {
    assert_eq!(shares_to_weight(2), 1);
    assert_eq!(shares_to_weight(1024), 39);
    assert_eq!(shares_to_weight(262_144), 10_000);
}

#[test]
fn requirements_read_back_from_their_directives() {
    let all = [
        Requirement::Memory { amount: ByteSize(8 << 30), constraint: Comparison::GreaterOrEqual, silent: false },
        Requirement::Cpus { amount: 4, constraint: Comparison::Less, silent: true },
        Requirement::Pressure {
            kind: PressureKind::Io,
            max_percent: 70.5,
            timespan: Timespan::Sec10,
            silent: false,
            wait: None,
        },
        Requirement::Pressure {
            kind: PressureKind::Cpu,
            max_percent: 80.0,
            timespan: Timespan::Min5,
            silent: true,
            wait: None,
        },
    ];
    for r in all {
        let (key, value) = r.directive();
        assert_eq!(Requirement::from_directive(&key, &value), Some(r), "{key}={value}");
    }
    assert_eq!(Requirement::from_directive("ConditionPathExists", "/x"), None);
    assert_eq!(Requirement::from_directive("AssertMemory", "lots"), None);
}

fn check_delays(backoff: Backoff, expected_ms: &[u64]) {
    let delays: Vec<u64> = (1..=expected_ms.len() as u32).map(|n| backoff.delay(n).as_millis() as u64).collect();
    assert_eq!(delays, expected_ms);
}

#[test]
fn backoff_delays() {
    check_delays(Backoff::default(), &[100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    check_delays(Backoff::none(), &[0, 0, 0]);
    check_delays(Backoff::constant(std::time::Duration::from_millis(250)), &[250, 250, 250]);
    check_delays(
        Backoff::exponential(std::time::Duration::from_millis(10), 3, std::time::Duration::from_millis(100)),
        &[10, 30, 90, 100],
    );
    // no overflow after many failures
    assert_eq!(Backoff::default().delay(u32::MAX), std::time::Duration::from_secs(5));
}

#[test]
fn policy_defaults_and_config() {
    let policy = TaskPolicy::new("sync");
    assert_eq!((policy.retries, policy.attempts(), policy.timeout, policy.required), (0, 1, None, false));
    let policy: TaskPolicy = serde_json::from_str(
        r#"{"name":"sync","retries":2,"timeout":"30s","required":true,"backoff":{"initial":"1s","max":"1min"}}"#,
    )
    .unwrap();
    assert_eq!(
        policy,
        TaskPolicy::new("sync")
            .retries(2)
            .timeout(std::time::Duration::from_secs(30))
            .required(true)
            .backoff(Backoff::exponential(std::time::Duration::from_secs(1), 2, std::time::Duration::from_secs(60)))
    );
    let err = serde_json::from_str::<TaskPolicy>(r#"{"name":"x","retry":2}"#).unwrap_err();
    assert!(err.to_string().starts_with("unknown field `retry`"), "{err}");
}

#[test]
fn env_values_are_a_private_file_the_unit_names() {
    let spec = crate::ServiceSpec::builder("env-values", "/usr/bin/env")
        .env("GREETING", "say \"hi\" with 100% \\ backslash and it's $HOME")
        .env("EMPTY", "")
        .build()
        .unwrap();
    let ctx = crate::RenderContext::new(crate::Scope::System);
    assert_eq!(crate::env_values_path(&spec, &ctx), "/var/lib/taskflows/env/env-values.env");
    assert_eq!(
        crate::env_values(&spec).unwrap(),
        "EMPTY=''\nGREETING='say \"hi\" with 100% \\ backslash and it'\"'\"'s $HOME'\n"
    );
    let units = crate::render(&spec, &ctx).unwrap();
    let service = &units[0].content;
    assert!(service.contains("\nEnvironmentFile=/var/lib/taskflows/env/env-values.env\n"), "{service}");
    assert!(!service.contains("GREETING") && !service.contains("Environment="), "{service}");
    let none = crate::ServiceSpec::builder("plain", "/bin/true").build().unwrap();
    assert_eq!(crate::env_values(&none), None);
}

/// A wait too long to add the start job's minute to is "never" to systemd, not an overflow (it
/// panicked in debug builds and wrapped to `59s` in release ones).
#[test]
fn a_huge_wait_renders_an_infinite_start_timeout() {
    let file = "version = 1\n[[service]]\nname = \"patient\"\nstart_command = \"/bin/true\"\nstartup_requirements = [{ kind = \"cpu_pressure\", max_percent = 50, wait = \"18446744073709.5s\" }]\n";
    let specs = crate::file::parse_service_file("patient.toml", file).unwrap();
    let units = crate::render(&specs[0], &crate::RenderContext::new(crate::Scope::System)).unwrap();
    assert!(units[0].content.contains("\nTimeoutStartSec=infinity\n"), "{}", units[0].content);
}

/// What reaches `ExecStart=` as a word is what systemd runs: an environment name that would
/// change the command is refused, a runner's path with a blank is quoted, and one with a `$` is
/// refused: systemd runs a program's path as written (`$$` stays `$$`, checked in the sandbox by
/// `changed::`) but expands `$` in the argv[0] it makes of the same word.
#[test]
fn venv_names_and_runner_paths_stay_one_word() {
    for bad in ["my env", "a\"b", "x;rm", "$HOME", "it's", "-n", "a/b"] {
        let err = crate::Venv::new(bad).unwrap_err().to_string();
        assert!(err.contains("is not an environment name; use letters, digits"), "{bad}: {err}");
    }
    assert!(crate::Venv::new("py3.11_ml-gpu+cuda").is_ok());
    let render = |runner: &str| {
        let file = format!(
            "version = 1\n[[service]]\nname = \"v\"\nstart_command = \"/bin/true\"\nenvironment = {{ venv = {{ name = \"ml\", runner = \"{runner}\" }} }}\n"
        );
        let specs = crate::file::parse_service_file("v.toml", &file).unwrap();
        crate::render(&specs[0], &crate::RenderContext::new(crate::Scope::System)).map_err(|e| e.to_string())
    };
    let units = render("/opt/mamba bin/micromamba").unwrap();
    assert!(
        units[0].content.contains("\nExecStart=\"/opt/mamba bin/micromamba\" run -n ml -- /bin/true\n"),
        "{}",
        units[0].content
    );
    assert_eq!(
        render("/opt/$x/micromamba").unwrap_err(),
        "service[v].environment.venv.runner: \"/opt/$x/micromamba\" has a '$': systemd runs a program's path as written but expands '$' in its argv[0]; use a path without '$'"
    );
}

/// systemd drops an env variable whose value has a control character (other than tab): such a
/// value is refused, naming the field, rather than silently never reaching the service.
#[test]
fn env_values_with_control_characters_are_refused() {
    let spec = crate::ServiceSpec::builder("ctl", "/bin/true").env("COLOR", "\u{1b}[31m").build().unwrap();
    let err = crate::render(&spec, &crate::RenderContext::new(crate::Scope::System)).unwrap_err().to_string();
    assert!(err.starts_with("service[ctl].env.COLOR: has a control character"), "{err}");
    let tab = crate::ServiceSpec::builder("tab", "/bin/true").env("SEP", "a\tb").build().unwrap();
    assert!(crate::render(&tab, &crate::RenderContext::new(crate::Scope::System)).is_ok());
}
