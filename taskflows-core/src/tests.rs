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
    let vars =
        parse_env_file("# comment\n\nA=1\nexport B = two words\nC=\"quoted # not comment\"\nD='single'\nE=\n").unwrap();
    let got: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(got, [("A", "1"), ("B", "two words"), ("C", "quoted # not comment"), ("D", "single"), ("E", "")]);
    fn check(input: &str, expected: &str) {
        assert_eq!(parse_env_file(input).unwrap_err().to_string(), expected, "{input}");
    }
    check("A=1\nnot a pair\n", "line 2: not a KEY=VALUE line (it has no '=')");
    check(
        "1A=x",
        "line 1: the name before '=' is not a valid variable name; use letters, digits and '_', not starting with a digit",
    );
    check("A=\"open", "line 1: value of A has an unterminated \" quote");
    // A file's content never appears in an error: it may be any file, or hold a secret.
    check("s3cr3t-token\n", "line 1: not a KEY=VALUE line (it has no '=')");
    check(
        "s3cr3t token=x\n",
        "line 1: the name before '=' is not a valid variable name; use letters, digits and '_', not starting with a digit",
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
