//! Table-driven tests; the expected values were produced by systemd 252's
//! `systemd-analyze calendar` (the differential integration test keeps checking that).

use jiff::Timestamp;
use jiff::tz::TimeZone;
use proptest::prelude::*;

use super::CalendarEvent;

fn utc() -> TimeZone {
    TimeZone::UTC
}

/// `expected` is the normalized form, or `error: DETAIL` for a rejected expression.
fn check(input: &str, expected: &str) {
    let got = match CalendarEvent::parse_with_local(input, &utc()) {
        Ok(ev) => ev.normalized(),
        Err(err) => format!("error: {}", err.detail()),
    };
    assert_eq!(got, expected, "input {input:?}");
}

/// Next elapses (UTC, to the second) after `base` with `zone` as the local zone.
fn check_next(zone: &str, base: &str, input: &str, expected: &[&str]) {
    let tz = TimeZone::get(zone).unwrap();
    let ev = CalendarEvent::parse_with_local(input, &tz).unwrap();
    let base: Timestamp = base.parse().unwrap();
    let got: Vec<String> = ev
        .elapses_after(base, &tz)
        .take(expected.len().max(1))
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .collect();
    assert_eq!(got, expected, "TZ={zone} base {base} {input:?}");
}

/// Expressions and the normalized form `systemd-analyze calendar` prints for each.
const NORMALIZED: &[(&str, &str)] = &[
    ("Mon-Fri 09:00", "Mon..Fri *-*-* 09:00:00"),
    ("mon,WED,friday 7:00", "Mon,Wed,Fri *-*-* 07:00:00"),
    ("Sat..Sun,Mon 12:00", "Mon,Sat,Sun *-*-* 12:00:00"),
    ("Monday..Wednesday,Friday", "Mon..Wed,Fri *-*-* 00:00:00"),
    ("Mon,Tue,Wed,Thu,Fri,Sat,Sun 1:00", "*-*-* 01:00:00"),
    ("Mon, 10:00", "Mon *-*-* 10:00:00"),
    ("*-*-* 00:00:00", "*-*-* 00:00:00"),
    ("2026-03-08", "2026-03-08 00:00:00"),
    ("26-3-8 3:00", "2026-03-08 03:00:00"),
    ("1999-12-31 23:59:59", "1999-12-31 23:59:59"),
    ("*-02~1", "*-02~01 00:00:00"),
    ("*-*~03/2", "*-*~03/2 00:00:00"),
    ("*~1", "*-*~01 00:00:00"),
    ("*-*-1/10", "*-*-01/10 00:00:00"),
    ("*-*-01..31/10", "*-*-01..31/10 00:00:00"),
    ("*:0/15", "*-*-* *:00/15:00"),
    ("*:0/15:1.25", "*-*-* *:00/15:01.250000"),
    ("*:*:0/0.25", "*-*-* *:*:00/0.250000"),
    ("*:*:11..12.9", "*-*-* *:*:11..12"),
    ("*:*:5..7/5", "*-*-* *:*:05"),
    ("5..5:00", "*-*-* 05:00:00"),
    ("5..6/2:00", "*-*-* 05:00:00"),
    ("12:00:00.1234565", "*-*-* 12:00:00.123457"),
    ("12:00:00.0000004", "*-*-* 12:00:00"),
    ("1,3,2,1:00", "*-*-* 01,02,03:00:00"),
    ("0..23/6:00", "*-*-* 00..18/6:00:00"),
    ("minutely", "*-*-* *:*:00"),
    ("hourly", "*-*-* *:00:00"),
    ("daily", "*-*-* 00:00:00"),
    ("weekly", "Mon *-*-* 00:00:00"),
    ("monthly", "*-*-01 00:00:00"),
    ("quarterly", "*-01,04,07,10-01 00:00:00"),
    ("semiannually", "*-01,07-01 00:00:00"),
    ("semi-annually", "*-01,07-01 00:00:00"),
    ("biannually", "*-01,07-01 00:00:00"),
    ("bi-annually", "*-01,07-01 00:00:00"),
    ("yearly", "*-01-01 00:00:00"),
    ("annually", "*-01-01 00:00:00"),
    ("anually", "*-01-01 00:00:00"),
    ("DAILY", "*-*-* 00:00:00"),
    ("@1800000000", "2027-01-15 08:00:00 UTC"),
    ("@0", "1970-01-01 00:00:00 UTC"),
    ("@ 5", "1970-01-01 00:00:05 UTC"),
    ("@+5", "1970-01-01 00:00:05 UTC"),
    ("12:00 UTC", "*-*-* 12:00:00 UTC"),
    ("12:00 utc", "*-*-* 12:00:00 UTC"),
    ("daily Europe/Berlin", "*-*-* 00:00:00 Europe/Berlin"),
    ("Mon-Fri 09:00 America/New_York", "Mon..Fri *-*-* 09:00:00 America/New_York"),
    ("*-*-* 02:15 Australia/Lord_Howe", "*-*-* 02:15:00 Australia/Lord_Howe"),
    ("2026-*-* 02:30 Etc/GMT+5", "2026-*-* 02:30:00 Etc/GMT+5"),
    ("*-*-* 10:00 EST", "*-*-* 10:00:00 EST"),
    ("*-2-29", "*-02-29 00:00:00"),
    ("2024,2028-02-29 12:00", "2024,2028-02-29 12:00:00"),
    ("2026..2030/2-1-1", "2026..2030/2-01-01 00:00:00"),
];

#[test]
fn normalizes_like_systemd() {
    for &(input, expected) in NORMALIZED {
        check(input, expected);
    }
}

#[test]
fn normalized_form_is_stable() {
    for &(_, normalized) in NORMALIZED {
        check(normalized, normalized);
    }
}

#[test]
fn rejects_what_systemd_rejects() {
    for (input, expected) in [
        ("", "empty expression (expected e.g. \"Mon..Fri *-*-* 09:00\" or \"daily\")"),
        (" ", "unexpected \" \" at column 1 (expected a number or \"*\")"),
        ("Mon-Fry 09:00", "unknown weekday \"Fry\" at column 5 (expected Mon, Tue, Wed, Thu, Fri, Sat or Sun)"),
        ("Mond", "unknown weekday \"Mond\" at column 1 (expected Mon, Tue, Wed, Thu, Fri, Sat or Sun)"),
        ("Fri..Mon", "weekday range \"Fri..Mon\" runs backwards at column 1 (write it from Mon towards Sun)"),
        ("Mon..", "unexpected end at column 6 (expected the weekday that ends the range)"),
        ("Mon..Wed..Fri", "a weekday range cannot continue at column 9 (expected \",\" or a space)"),
        ("*-*-* 24:00", "hour 24 is out of range at column 7 (expected 0..23)"),
        ("*-*-* 23:60", "minute 60 is out of range at column 10 (expected 0..59)"),
        ("*-*-* 00:00:60", "second 60 is out of range at column 13 (expected 0..59.999999)"),
        ("*:*/5", "unexpected \"/\" at column 4 (expected \":\" between minute and second, or the end)"),
        ("10:00 ", "unexpected \" \" at column 6 (expected \":\" between minute and second, or the end)"),
        ("*:*:11..11", "second range 11..11 is empty at column 5 (expected 0..59.999999)"),
        ("*-*-31/1", "day 31/1 never repeats at column 5 (expected 1..31)"),
        ("*-2~29", "day 29 is out of range at column 5 (expected 1..28 days before the end of the month)"),
        ("1969-12-31", "year 1969 is out of range at column 1 (expected 1970..2199)"),
        ("2200-01-01", "year 2200 is out of range at column 1 (expected 1970..2199)"),
        ("@-1", "year 1969 is out of range at column 1 (expected 1970..2199)"),
        (
            "UTC",
            "unknown weekday or shorthand \"UTC\" at column 1 (expected Mon..Sun, minutely, hourly, daily, weekly, monthly, quarterly, semiannually, yearly or a date)",
        ),
        (
            "*-*-* 10:00 america/new_york",
            "unknown time zone \"america/new_york\" at column 13 (expected UTC or a time zone name from /usr/share/zoneinfo such as Europe/Berlin, case-sensitive)",
        ),
        ("10.5:00", "unexpected \".\" at column 3 (expected \",\", \"..\", \"/\", \"-\", \"~\", \":\" or a space)"),
        ("10:00:00.", "unexpected end at column 10 (expected digits after the decimal point)"),
        ("*-1..12/0-1", "repetition of zero at column 9 (expected a positive step)"),
        (
            "1~2-3",
            "unexpected \"-\" at column 4 (expected a space after the day (\"~\" only goes between month and day))",
        ),
        ("99999999999:00", "number \"99999999999\" is too large at column 1"),
        (
            "hourly UTC x",
            "unknown weekday or shorthand \"hourly\" at column 1 (expected Mon..Sun, minutely, hourly, daily, weekly, monthly, quarterly, semiannually, yearly or a date)",
        ),
        ("Mon..", "unexpected end at column 6 (expected the weekday that ends the range)"),
        ("Mon..Wed..Fri", "a weekday range cannot continue at column 9 (expected \",\" or a space)"),
        ("*-*-* 24:00", "hour 24 is out of range at column 7 (expected 0..23)"),
        ("*-*-* 23:60", "minute 60 is out of range at column 10 (expected 0..59)"),
        ("*-*-* 00:00:60", "second 60 is out of range at column 13 (expected 0..59.999999)"),
        ("Fri..Mon", "weekday range \"Fri..Mon\" runs backwards at column 1 (write it from Mon towards Sun)"),
    ] {
        check(input, &format!("error: {expected}"));
    }
}

#[test]
fn error_message_names_expression_column_and_expectation() {
    let err = CalendarEvent::parse_with_local("Mon-Fry 09:00", &utc()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid calendar expression \"Mon-Fry 09:00\": unknown weekday \"Fry\" at column 5 (expected Mon, Tue, Wed, Thu, Fri, Sat or Sun)"
    );
    assert_eq!(err.column(), Some(5));
    assert_eq!(err.expression(), "Mon-Fry 09:00");
}

#[test]
fn local_abbreviations_are_zone_suffixes() {
    let ny = TimeZone::get("America/New_York").unwrap();
    let ev = CalendarEvent::parse_with_local("Mon 09:00 est", &ny).unwrap();
    assert_eq!(ev.normalized(), "Mon *-*-* 09:00:00 EST");
    assert_eq!(ev.timezone(), Some("EST"));
    // Without New York as the local zone, "EST" is the zone file of that name.
    let ev = CalendarEvent::parse_with_local("Mon 09:00 EST", &utc()).unwrap();
    assert_eq!(ev.timezone(), Some("EST"));
}

#[test]
fn elapses_like_systemd() {
    let cases: &[(&str, &str, &str, &[&str])] = &[
        (
            "UTC",
            "2026-03-08T00:00:00Z",
            "Mon-Fri 09:00 America/New_York",
            &["2026-03-09T13:00:00Z", "2026-03-10T13:00:00Z", "2026-03-11T13:00:00Z"],
        ),
        (
            "America/New_York",
            "2026-03-07T12:00:00Z",
            "*-*-* 02:30",
            &["2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z", "2026-03-11T06:30:00Z"],
        ),
        (
            "America/New_York",
            "2026-03-08T06:30:00Z",
            "*:0/20",
            &["2026-03-08T06:40:00Z", "2026-03-08T07:00:00Z", "2026-03-08T07:20:00Z", "2026-03-08T07:40:00Z"],
        ),
        (
            "America/New_York",
            "2026-11-01T04:30:00Z",
            "*-*-* 01:30",
            &["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z", "2026-11-03T06:30:00Z"],
        ),
        ("America/New_York", "2026-11-01T05:45:00Z", "*-*-* 01:30", &["2026-11-02T06:30:00Z", "2026-11-03T06:30:00Z"]),
        (
            "America/New_York",
            "2026-11-01T04:00:00Z",
            "*-*-* 01:*:00/30",
            &["2026-11-01T05:00:00Z", "2026-11-01T05:00:30Z", "2026-11-01T05:01:00Z", "2026-11-01T05:01:30Z"],
        ),
        (
            "Europe/Berlin",
            "2026-03-29T00:00:00Z",
            "*-*-* 02:*:00/30",
            &["2026-03-30T00:00:00Z", "2026-03-30T00:00:30Z", "2026-03-30T00:01:00Z"],
        ),
        (
            "Europe/Berlin",
            "2026-10-25T00:00:00Z",
            "*-*-* 02:30",
            &["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z", "2026-10-27T01:30:00Z"],
        ),
        ("Europe/Berlin", "2026-03-28T23:30:00Z", "Sun *-*-* 02:00", &["2026-04-05T00:00:00Z", "2026-04-12T00:00:00Z"]),
        (
            "Australia/Lord_Howe",
            "2026-10-03T15:00:00Z",
            "*:0/15",
            &["2026-10-03T15:15:00Z", "2026-10-03T15:30:00Z", "2026-10-03T15:45:00Z", "2026-10-03T16:00:00Z"],
        ),
        (
            "Australia/Lord_Howe",
            "2026-04-04T14:00:00Z",
            "*-*-* 01:45",
            &["2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z", "2026-04-06T15:15:00Z"],
        ),
        (
            "Australia/Lord_Howe",
            "2026-04-04T14:50:00Z",
            "*:0/20",
            &["2026-04-04T15:30:00Z", "2026-04-04T15:50:00Z", "2026-04-04T16:10:00Z", "2026-04-04T16:30:00Z"],
        ),
        (
            "Europe/Dublin",
            "2026-03-28T23:00:00Z",
            "hourly",
            &["2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z"],
        ),
        (
            "UTC",
            "2026-01-30T00:00:00Z",
            "*-*-31",
            &["2026-01-31T00:00:00Z", "2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z"],
        ),
        ("UTC", "2026-01-01T00:00:00Z", "*-02-29", &["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"]),
        (
            "UTC",
            "2026-01-01T00:00:00Z",
            "*-02~1",
            &["2026-02-28T00:00:00Z", "2027-02-28T00:00:00Z", "2028-02-29T00:00:00Z"],
        ),
        (
            "UTC",
            "2026-01-01T00:00:00Z",
            "*-*~03/2",
            &["2026-01-29T00:00:00Z", "2026-01-31T00:00:00Z", "2026-02-26T00:00:00Z", "2026-02-28T00:00:00Z"],
        ),
        (
            "UTC",
            "2026-01-29T00:00:00Z",
            "*-*-29..31",
            &["2026-01-30T00:00:00Z", "2026-01-31T00:00:00Z", "2026-03-29T00:00:00Z", "2026-03-30T00:00:00Z"],
        ),
        (
            "UTC",
            "2026-01-25T00:00:00Z",
            "*-*-1/10",
            &["2026-01-31T00:00:00Z", "2026-02-01T00:00:00Z", "2026-02-11T00:00:00Z", "2026-02-21T00:00:00Z"],
        ),
        (
            "UTC",
            "2026-01-01T00:00:00Z",
            "quarterly",
            &["2026-04-01T00:00:00Z", "2026-07-01T00:00:00Z", "2026-10-01T00:00:00Z"],
        ),
        ("UTC", "2026-01-01T00:00:00Z", "Sat 2030-*-* 12:00", &["2030-01-05T12:00:00Z", "2030-01-12T12:00:00Z"]),
        (
            "UTC",
            "2026-01-01T00:00:00Z",
            "Fri *-*-13",
            &["2026-02-13T00:00:00Z", "2026-03-13T00:00:00Z", "2026-11-13T00:00:00Z"],
        ),
        ("UTC", "2026-01-01T00:00:00Z", "2026..2030/2-1-1", &["2028-01-01T00:00:00Z", "2030-01-01T00:00:00Z"]),
        ("UTC", "2026-01-01T00:00:00Z", "@1800000000", &["2027-01-15T08:00:00Z"]),
        ("UTC", "2028-01-01T00:00:00Z", "@1800000000", &[]),
        ("America/New_York", "2026-01-01T00:00:00Z", "daily UTC", &["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"]),
        ("UTC", "2026-01-01T00:00:00Z", "weekly Asia/Kolkata", &["2026-01-04T18:30:00Z", "2026-01-11T18:30:00Z"]),
    ];
    for &(zone, base, input, expected) in cases {
        check_next(zone, base, input, expected);
    }
}

#[test]
fn fractional_seconds_keep_microseconds() {
    let ev = CalendarEvent::parse_with_local("*:*:0/0.25", &utc()).unwrap();
    let base: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let got: Vec<String> = ev.elapses_after(base, &utc()).take(3).map(|t| t.to_string()).collect();
    assert_eq!(got, ["2026-01-01T00:00:00.25Z", "2026-01-01T00:00:00.5Z", "2026-01-01T00:00:00.75Z"]);
}

#[test]
fn next_elapse_is_strictly_after() {
    let ev = CalendarEvent::parse_with_local("*-*-* 12:00", &utc()).unwrap();
    let noon: Timestamp = "2026-01-01T12:00:00Z".parse().unwrap();
    assert_eq!(ev.next_elapse(noon, &utc()), Some("2026-01-02T12:00:00Z".parse().unwrap()));
}

#[test]
fn from_zoned_round_trips() {
    for (instant, zone, expected) in [
        ("2026-11-26T19:05:00Z", "America/New_York", "2026-11-26 14:05:00 America/New_York"),
        ("2026-11-01T05:30:00Z", "America/New_York", "2026-11-01 05:30:00 UTC"),
        ("2026-06-01T10:00:00.5Z", "Europe/Berlin", "2026-06-01 12:00:00.500000 Europe/Berlin"),
        ("2026-06-01T10:00:00Z", "UTC", "2026-06-01 10:00:00 UTC"),
    ] {
        let ts: Timestamp = instant.parse().unwrap();
        let tz = TimeZone::get(zone).unwrap();
        let expr = CalendarEvent::from_zoned(&ts.to_zoned_datetime(tz.clone()));
        assert_eq!(expr, expected);
        let ev = CalendarEvent::parse_with_local(&expr, &tz).unwrap();
        let before = Timestamp::from_second(ts.as_second() - 60).unwrap();
        assert_eq!(ev.next_elapse(before, &tz), Some(ts), "{expr}");
    }
    let offset = jiff::tz::Offset::from_seconds(5 * 3600 + 1800).unwrap();
    let fixed = "2026-11-26T08:35:00Z".parse::<Timestamp>().unwrap().to_zoned_datetime(TimeZone::fixed(offset));
    assert_eq!(CalendarEvent::from_zoned(&fixed), "2026-11-26 08:35:00 UTC");
}

proptest! {
    #[test]
    fn parser_never_panics(input in "\\PC{0,40}") {
        let _ = CalendarEvent::parse_with_local(&input, &utc());
    }

    #[test]
    fn grammar_like_input_never_panics_and_normalizes_stably(
        input in "[MTWFSadehinorstuwy*0-9,.~:/@ -]{0,30}( UTC| Europe/Berlin)?"
    ) {
        if let Ok(ev) = CalendarEvent::parse_with_local(&input, &utc()) {
            let normalized = ev.normalized();
            let again = CalendarEvent::parse_with_local(&normalized, &utc()).map(|e| e.normalized());
            prop_assert_eq!(again.as_deref(), Ok(normalized.as_str()));
            let base: Timestamp = "2026-03-08T06:59:59Z".parse().unwrap();
            let _ = ev.elapses_after(base, &utc()).take(3).count();
        }
    }
}
