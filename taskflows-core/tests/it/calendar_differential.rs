//! Differential test: `CalendarEvent` against the real `systemd-analyze calendar`.
//!
//! A generated corpus of valid and invalid expressions (proptest strategies over the
//! grammar, plus hand-picked edge cases) is run through both, in several local zones (`TZ=`
//! of the child process) and with zone suffixes, from base times around each zone's DST
//! transitions, month ends and leap days. Validity, the normalized form and the next
//! elapses (to the second, as systemd prints them) must match exactly. Expressions are
//! batched: one `systemd-analyze` process per (zone, base time, batch).
//!
//! `systemd-analyze` must be installed (CI installs systemd): the test fails without it.

use std::process::Command;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use taskflows_core::calendar::{CalendarEvent, NoElapse};

const ITERATIONS: usize = 4;
const LOCAL_ZONES: [&str; 7] = [
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "Europe/Dublin",
    "Asia/Kolkata",
    "America/Sao_Paulo",
];

/// What systemd said about one expression.
#[derive(Debug, PartialEq)]
enum Verdict {
    Invalid,
    Valid { normalized: String, elapses: Vec<String> },
}

fn require_systemd_analyze() {
    let ok = Command::new("systemd-analyze").arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(ok, "systemd-analyze is not installed: the calendar differential test needs it (apt-get install systemd)");
}

/// Runs `systemd-analyze calendar` on a batch and splits its output per expression.
fn systemd(tz: &str, base: Timestamp, exprs: &[String]) -> Vec<Verdict> {
    let out = Command::new("systemd-analyze")
        .env("TZ", tz)
        .env("SYSTEMD_COLORS", "0")
        .env("SYSTEMD_PAGER", "")
        .arg("calendar")
        .arg(format!("--iterations={ITERATIONS}"))
        .arg(format!("--base-time=@{}", base.as_second()))
        .arg("--")
        .args(exprs)
        .output()
        .expect("run systemd-analyze");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.split_inclusive('\n').peekable();
    let mut verdicts = Vec::new();
    for i in 0..exprs.len() {
        let mut block = Vec::new();
        while let Some(line) = lines.peek() {
            if *line == "\n" {
                break;
            }
            block.push(lines.next().unwrap().trim_end_matches('\n').to_owned());
        }
        if i + 1 < exprs.len() {
            assert_eq!(lines.next(), Some("\n"), "unexpected systemd-analyze output:\n{stdout}");
        }
        verdicts.push(parse_block(&block));
    }
    verdicts
}

fn parse_block(block: &[String]) -> Verdict {
    if block.is_empty() {
        return Verdict::Invalid;
    }
    let mut normalized = String::new();
    let mut elapses = Vec::new();
    for line in block {
        let (label, value) = line.trim_start().split_once(": ").unwrap_or((line.trim(), ""));
        if label == "Normalized form" {
            normalized = value.to_owned();
        } else if (label == "Next elapse" || label.starts_with("Iter. #")) && value != "never" {
            elapses.push(value.to_owned());
        }
    }
    Verdict::Valid { normalized, elapses }
}

fn ours(tz: &TimeZone, base: Timestamp, expr: &str) -> Verdict {
    let Ok(ev) = CalendarEvent::parse_with_local(expr, tz) else {
        return Verdict::Invalid;
    };
    let mut elapses = Vec::new();
    let mut after = base;
    for _ in 0..ITERATIONS {
        match ev.try_next_elapse(after, tz) {
            Ok(t) => {
                elapses.push(t.to_zoned_datetime(tz.clone()).strftime("%a %Y-%m-%d %H:%M:%S %Z").to_string());
                after = t;
            }
            Err(NoElapse::Never) => break,
            // systemd-analyze prints only an error for the expression.
            Err(_) => return Verdict::Invalid,
        }
    }
    Verdict::Valid { normalized: ev.normalized(), elapses }
}

fn compare(tz_name: &str, base: Timestamp, exprs: &[String]) -> Result<(), String> {
    let tz = TimeZone::get(tz_name).unwrap();
    let theirs = systemd(tz_name, base, exprs);
    let mut failures = Vec::new();
    for (expr, expected) in exprs.iter().zip(theirs) {
        let got = ours(&tz, base, expr);
        if got != expected {
            failures.push(format!(
                "TZ={tz_name} --base-time=@{} {expr:?}\n  systemd: {expected:?}\n  ours:    {got:?}",
                base.as_second()
            ));
        }
    }
    if failures.is_empty() { Ok(()) } else { Err(failures.join("\n")) }
}

/// Base times: around the zone's 2026 transitions, and calendar edges.
fn base_times(tz: &TimeZone) -> Vec<Timestamp> {
    let start: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let mut bases: Vec<Timestamp> = ["2026-01-31T23:59:59Z", "2028-02-28T12:00:00Z", "2026-12-31T23:30:00Z"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    for transition in tz.following(start).take(2) {
        let t = transition.timestamp().as_second();
        for delta in [-7200, -1800, -1, 0, 1800, 3600] {
            bases.push(Timestamp::from_second(t + delta).unwrap());
        }
    }
    bases
}

const FIXED: &[&str] = &[
    "Mon-Fri 09:00 America/New_York",
    "Mon..Fri 09:00",
    "Sat,Sun 10:00",
    "mon,WED,friday *-*-* 7:00",
    "*-*-* 02:30",
    "*-*-* 01:30",
    "*-*-* 02:*",
    "*-*-* 01:*:30",
    "*-*-* *:30",
    "Sun *-*-* 01:00:00",
    "Sun *-*-* 02:00:00",
    "*-02-29",
    "*-02~1",
    "*-*~1",
    "*-*~03/2",
    "*-01~3..1",
    "*-*-31",
    "*-*-29..31",
    "*-*-1/10",
    "*:0/15:1.25",
    "*:*:*.5",
    "*:*:0/0.25",
    "minutely",
    "hourly",
    "daily",
    "weekly",
    "monthly",
    "quarterly",
    "semiannually",
    "yearly",
    "annually",
    "bi-annually",
    "semi-annually",
    "@1800000000",
    "12:00 UTC",
    "12:00 utc",
    "2026-*-* 02:15 Australia/Lord_Howe",
    "*-*-* 02:00 Australia/Lord_Howe",
    "weekly Europe/Berlin",
    "Mon 09:00 EST",
    "Mon 09:00 EDT",
    "*-*-* 00:00 CET",
    "12:00 CEST",
    "*-*-* 01:00 IST",
    "*-*-* 01:00 GMT",
    "hourly EDT",
    "*:0 CEST",
    "*-*~1,26",
    "*-*~1,25",
    "*-*~1,2,3,22",
    "*-7/15",
    "2030-01-01",
    "2199-12-31 23:59:59",
    "2200-01-01",
    "1969-12-31",
    "26-3-8 3:00",
    "Mon-Fry 09:00",
    "Fri..Mon",
    "Mon..",
    "Mon,",
    "*-*-* 24:00",
    "*-*-* 23:60",
    "*-*-* 00:00:60",
    "*-*-* 00:00:59.9999999",
    "*:*/5",
    "5..5:00",
    "*-*-* 10:00 America/new_york",
    "*-*-* 10:00 Mars/Olympus",
    "",
    " ",
    "UTC",
    "Mon  10:00",
    "10:00 ",
    "@ 5",
    "@-1",
    "*-2~29",
    "*-2~28",
    "*-1..12/5-1",
    "2024-2-29 12:00 Europe/Dublin",
];

#[test]
fn fixed_corpus_matches_systemd() {
    require_systemd_analyze();
    let exprs: Vec<String> = FIXED.iter().map(|s| s.to_string()).collect();
    let mut failures = Vec::new();
    for zone in LOCAL_ZONES {
        let tz = TimeZone::get(zone).unwrap();
        for base in base_times(&tz) {
            if let Err(e) = compare(zone, base, &exprs) {
                failures.push(e);
            }
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

fn cased(word: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just(word.to_owned()),
        1 => Just(word.to_lowercase()),
        1 => Just(word.to_uppercase()),
    ]
}

fn weekday() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "Mon",
        "Tue",
        "Wed",
        "Thu",
        "Fri",
        "Sat",
        "Sun",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "Fry",
        "Mond",
    ])
    .prop_flat_map(cased)
}

fn weekdays() -> impl Strategy<Value = String> {
    let item = prop_oneof![
        3 => weekday(),
        1 => (weekday(), prop::sample::select(vec!["..", "-"]), weekday()).prop_map(|(a, s, b)| format!("{a}{s}{b}")),
    ];
    (prop::collection::vec(item, 1..3), prop::bool::weighted(0.1))
        .prop_map(|(items, comma)| format!("{}{} ", items.join(","), if comma { "," } else { "" }))
}

/// One list item for a field whose values run `lo..=hi` (sometimes just outside).
fn component(lo: i64, hi: i64) -> impl Strategy<Value = String> {
    let below = if lo > 0 { lo - 1 } else { hi + 1 };
    let value = prop_oneof![8 => lo..=hi, 1 => Just(below), 1 => Just(hi + 1)];
    let pad = prop::bool::weighted(0.3);
    (
        value.clone(),
        pad,
        prop_oneof![3 => Just(None), 1 => value.prop_map(Some)],
        prop_oneof![3 => Just(None), 1 => (0..=(hi / 2 + 2)).prop_map(Some)],
    )
        .prop_map(|(start, pad, stop, repeat)| {
            let mut s = if pad { format!("{start:02}") } else { start.to_string() };
            if let Some(stop) = stop {
                s.push_str(&format!("..{stop}"));
            }
            if let Some(repeat) = repeat {
                s.push_str(&format!("/{repeat}"));
            }
            s
        })
}

fn chain(lo: i64, hi: i64) -> impl Strategy<Value = String> {
    prop_oneof![1 => Just("*".to_owned()), 3 => prop::collection::vec(component(lo, hi), 1..3).prop_map(|v| v.join(","))]
}

fn seconds() -> impl Strategy<Value = String> {
    let fraction = prop::sample::select(vec!["", "", "", ".5", ".25", ".123456", ".1234567", ".0000005"]);
    prop_oneof![
        1 => Just("*".to_owned()),
        3 => (chain(0, 59), fraction).prop_map(|(c, f)| if c == "*" || c.contains(',') { c } else { format!("{c}{f}") }),
    ]
}

fn date() -> impl Strategy<Value = String> {
    let year = prop_oneof![1 => Just("*".to_owned()), 3 => chain(2025, 2032), 1 => prop::sample::select(vec!["26", "2199", "1969", "2200"]).prop_map(String::from)];
    let sep = prop_oneof![6 => Just("-"), 1 => Just("~")];
    prop_oneof![
        1 => (chain(1, 12), sep.clone(), chain(1, 31)).prop_map(|(m, s, d)| format!("{m}{s}{d} ")),
        1 => (year, chain(1, 12), sep, chain(1, 31)).prop_map(|(y, m, s, d)| format!("{y}-{m}{s}{d} ")),
    ]
}

fn time() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => (chain(0, 23), chain(0, 59)).prop_map(|(h, m)| format!("{h}:{m}")),
        2 => (chain(0, 23), chain(0, 59), seconds()).prop_map(|(h, m, s)| format!("{h}:{m}:{s}")),
    ]
}

fn zone_suffix() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "",
        "",
        "",
        "",
        " UTC",
        " utc",
        " America/New_York",
        " Europe/Berlin",
        " Australia/Lord_Howe",
        " Asia/Tokyo",
        " Etc/GMT+5",
        " EST",
        " EDT",
        " CET",
        " CEST",
        " Mars/Olympus",
        " europe/berlin",
    ])
    .prop_map(String::from)
}

fn expression() -> impl Strategy<Value = String> {
    let shorthand = prop::sample::select(vec![
        "minutely",
        "hourly",
        "daily",
        "weekly",
        "monthly",
        "quarterly",
        "semiannually",
        "yearly",
        "annually",
        "biannually",
        "anually",
    ])
    .prop_flat_map(cased);
    let full = (
        prop::option::weighted(0.3, weekdays()),
        prop::option::weighted(0.6, date()),
        prop::option::weighted(0.8, time()),
    )
        .prop_map(|(w, d, t)| {
            let s = format!("{}{}{}", w.unwrap_or_default(), d.unwrap_or_default(), t.unwrap_or_default());
            s.trim_end().to_owned()
        });
    let body = prop_oneof![6 => full, 1 => shorthand, 1 => (0i64..7_000_000_000).prop_map(|s| format!("@{s}"))];
    let mutation = prop_oneof![
        8 => Just(None),
        1 => (any::<prop::sample::Index>(), prop::sample::select(vec![' ', '-', ':', ',', '.', '/', '~', '*', 'x', '9'])).prop_map(Some),
    ];
    (body, zone_suffix(), mutation).prop_map(|(body, zone, mutation)| {
        let mut s = format!("{body}{zone}");
        if let Some((index, c)) = mutation {
            let at = index.index(s.len() + 1);
            if s.is_char_boundary(at) {
                s.insert(at, c);
            }
        }
        s
    })
}

#[test]
fn generated_corpus_matches_systemd() {
    require_systemd_analyze();
    let mut runner = TestRunner::new(Config { cases: 40, failure_persistence: None, ..Config::default() });
    let zones: Vec<(&str, Vec<Timestamp>)> =
        LOCAL_ZONES.iter().map(|z| (*z, base_times(&TimeZone::get(z).unwrap()))).collect();
    let strategy = (0..zones.len(), any::<prop::sample::Index>(), prop::collection::vec(expression(), 12..16));
    runner
        .run(&strategy, |(zone, base, exprs)| {
            let (name, bases) = &zones[zone];
            let base = bases[base.index(bases.len())];
            compare(name, base, &exprs).map_err(TestCaseError::fail)
        })
        .unwrap();
}

#[test]
fn from_zoned_expressions_elapse_at_that_instant_in_systemd() {
    require_systemd_analyze();
    let instants = ["2026-11-26T14:05:00Z", "2026-03-08T07:30:00Z", "2026-11-01T05:30:00Z", "2026-10-25T00:30:00.25Z"];
    for zone in ["America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "UTC"] {
        let tz = TimeZone::get(zone).unwrap();
        for instant in instants {
            let ts: Timestamp = instant.parse().unwrap();
            let expr = CalendarEvent::from_zoned(&ts.to_zoned_datetime(tz.clone()));
            let base = Timestamp::from_second(ts.as_second() - 3600).unwrap();
            compare("UTC", base, std::slice::from_ref(&expr)).unwrap();
            let ev = CalendarEvent::parse_with_local(&expr, &tz).unwrap();
            assert_eq!(ev.next_elapse(base, &tz), Some(ts), "{expr}");
        }
    }
    let fixed = "2026-11-26T08:35:00Z"
        .parse::<Timestamp>()
        .unwrap()
        .to_zoned_datetime(TimeZone::fixed(jiff::tz::Offset::from_seconds(19_800).unwrap()));
    let expr = CalendarEvent::from_zoned(&fixed);
    assert_eq!(expr, "2026-11-26 08:35:00 UTC");
    compare("UTC", Timestamp::UNIX_EPOCH, &[expr]).unwrap();
}
