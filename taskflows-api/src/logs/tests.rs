use jiff::Timestamp;

use super::{LogQuery, LogTime, Priority, RunSelector};

#[track_caller]
fn check(key: &str, value: &str, expected: Result<&str, &str>) {
    let mut q = LogQuery::last(10);
    let got = q.set(key, value).map(|()| q.pairs().into_iter().map(|(_, v)| v).collect::<Vec<_>>().join(""));
    match (got, expected) {
        (Ok(text), Ok(want)) => assert_eq!(text, want, "{key}={value}"),
        (Err(e), Err(want)) => assert!(e.to_string().starts_with(want), "{key}={value}: {e}"),
        (got, want) => panic!("{key}={value}: got {got:?}, want {want:?}"),
    }
}

#[test]
fn filters_parse_and_print_back() {
    check("since", "2026-01-31T08:00:00Z", Ok("2026-01-31T08:00:00Z"));
    check("since", "2026-01-31T09:00:00+01:00", Ok("2026-01-31T08:00:00Z"));
    check("since", "2026-01-31", Ok("2026-01-31T00:00:00Z"));
    check("until", "2026-01-31 08:30", Ok("2026-01-31T08:30:00Z"));
    check("since", "2h", Ok("2h"));
    check("since", "1h 30min", Ok("1h30min"));
    check("until", "now", Ok("now"));
    check("since", "yesterday-ish", Err("since: \"yesterday-ish\" is not a time; a time is allowed"));
    check("priority", "err", Ok("err"));
    check("priority", "warn", Ok("warning"));
    check("priority", "3", Ok("err"));
    check("priority", "8", Err("priority: \"8\" is not a priority; 0 to 7 or emerg"));
    check("run", "last", Ok("last"));
    check("run", "0123456789ABCDEF0123456789abcdef", Ok("0123456789abcdef0123456789abcdef"));
    check("run", "01234567-89ab-cdef-0123-456789abcdef", Ok("0123456789abcdef0123456789abcdef"));
    check("run", "12", Err("run: \"12\" is not a run; `last` or an invocation id"));
    check("grep", "timeout|refused", Ok("timeout|refused"));
    check("grep", "", Err("grep: a pattern (PCRE2) of 1 to 1000 characters"));
    check("lines", "3", Err("lines: not a log filter"));
}

#[test]
fn times_resolve_against_now_and_until_follows_since() {
    let now: Timestamp = "2026-01-31T12:00:00Z".parse().unwrap();
    let mut q = LogQuery::last(5);
    q.set("since", "2h").unwrap();
    q.set("priority", "warning").unwrap();
    q.set("grep", "x").unwrap();
    let f = q.filter(now).unwrap();
    assert_eq!(f.since, Some("2026-01-31T10:00:00Z".parse().unwrap()));
    assert_eq!((f.until, f.max_priority, f.grep.as_deref()), (None, Some(4), Some("x")));
    q.set("until", "2026-01-31T09:00:00Z").unwrap();
    assert!(q.filter(now).unwrap_err().to_string().starts_with("until: 2026-01-31T09:00:00Z is before since"));
    assert_eq!("debug".parse::<Priority>().unwrap().level(), 7);
    assert_eq!("last".parse::<RunSelector>(), Ok(RunSelector::Last));
    // the 12 digits `tf history` shows, the full id, with dashes or in capitals
    assert_eq!("0A1B2C3D4E5F".parse::<RunSelector>(), Ok(RunSelector::Id("0a1b2c3d4e5f".into())));
    let full = "0a1b2c3d-4e5f-6789-0a1b-2c3d4e5f6789";
    assert_eq!(full.parse::<RunSelector>(), Ok(RunSelector::Id(full.replace('-', ""))));
    for bad in ["0a1b2c3", "0a1b2c3d4e5f67890a1b2c3d4e5f67890", "0a1b2c3g"] {
        assert!(bad.parse::<RunSelector>().is_err(), "{bad}");
    }
    assert!(matches!("now".parse::<LogTime>(), Ok(LogTime::Ago(d)) if d.is_zero()));
}
