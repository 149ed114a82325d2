//! `tf calendar`: `systemd-analyze calendar`, natively.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ZonedDateTime, civil};
use taskflows_core::calendar::{CalendarEvent, NoElapse, is_utc_like};

/// Validate calendar expressions and show their next elapses, like `systemd-analyze calendar`.
#[derive(Debug, clap::Args)]
pub(crate) struct CalendarArgs {
    /// How many next elapses to show (default 1).
    #[arg(long)]
    iterations: Option<u32>,
    /// Compute elapses after this time instead of now (`2026-03-08 00:00 UTC`, `@1700000000`).
    #[arg(long)]
    base_time: Option<String>,
    /// Print a JSON array instead of systemd's table.
    #[arg(long)]
    json: bool,
    /// Calendar expressions, e.g. `Mon..Fri 09:00 America/New_York`.
    #[arg(required = true)]
    exprs: Vec<String>,
}

pub(crate) fn run(args: &CalendarArgs) -> anyhow::Result<ExitCode> {
    let local = TimeZone::try_system().unwrap_or(TimeZone::UTC);
    let now = Timestamp::now();
    let base = match &args.base_time {
        Some(text) => parse_base_time(text, &local).with_context(|| format!("invalid --base-time {text:?}"))?,
        None => now,
    };
    let mut failed = false;
    let mut out = String::new();
    let mut json = Vec::new();
    for (i, expr) in args.exprs.iter().enumerate() {
        match CalendarEvent::parse_with_local(expr, &local) {
            Err(err) => {
                eprintln!("{err}");
                failed = true;
            }
            Ok(event) => match elapses(&event, base, &local, args.iterations.unwrap_or(1)) {
                Err(err) => {
                    eprintln!("failed to determine next elapse for {expr:?}: {err}");
                    failed = true;
                }
                Ok(elapses) if args.json => json.push(to_json(expr, &event, &elapses, &local)),
                Ok(elapses) => table(&mut out, expr, &event, &elapses, &local, now),
            },
        }
        if !args.json && i + 1 < args.exprs.len() {
            out.push('\n');
        }
    }
    if args.json {
        out = serde_json::to_string_pretty(&json)?;
        out.push('\n');
    }
    // A closed pipe is quiet: main knows it when it sees it.
    {
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(out.as_bytes())?;
        stdout.flush()?;
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// The next `n` elapses after `base`; fewer when the event stops elapsing.
fn elapses(event: &CalendarEvent, base: Timestamp, local: &TimeZone, n: u32) -> Result<Vec<Timestamp>, NoElapse> {
    let mut found = Vec::new();
    let mut after = base;
    for _ in 0..n {
        match event.try_next_elapse(after, local) {
            Ok(next) => {
                found.push(next);
                after = next;
            }
            Err(NoElapse::Never) => break,
            Err(err) => return Err(err),
        }
    }
    Ok(found)
}

/// Writes to stdout; a closed pipe (`tf calendar … | head`) is not an error.
fn table(out: &mut String, expr: &str, event: &CalendarEvent, elapses: &[Timestamp], local: &TimeZone, now: Timestamp) {
    let normalized = event.normalized();
    let mut rows: Vec<(String, String)> = Vec::new();
    if normalized != expr {
        rows.push(("Original form:".into(), expr.into()));
    }
    rows.push(("Normalized form:".into(), normalized));
    if elapses.is_empty() {
        rows.push(("Next elapse:".into(), "never".into()));
    }
    let in_utc = is_utc_like(local);
    for (i, &next) in elapses.iter().enumerate() {
        let label = if i == 0 { "Next elapse:".to_owned() } else { format!("Iter. #{}:", i + 1) };
        rows.push((label, timestamp(&next.to_zoned_datetime(local.clone()))));
        if !in_utc {
            rows.push(("(in UTC):".into(), timestamp(&next.to_zoned_datetime(TimeZone::UTC))));
        }
        rows.push(("From now:".into(), relative(next, now)));
    }
    let width = rows.iter().map(|(label, _)| label.chars().count()).max().unwrap_or(0);
    for (label, value) in rows {
        let _ = writeln!(out, "{label:>width$} {value}");
    }
}

/// systemd's `format_timestamp`: `Mon 2026-03-09 09:00:00 EDT`.
fn timestamp(zoned: &ZonedDateTime) -> String {
    zoned.strftime("%a %Y-%m-%d %H:%M:%S %Z").to_string()
}

/// systemd's `format_timestamp_relative`: `3 weeks 2 days left`, `8 months 19 days ago`.
fn relative(t: Timestamp, now: Timestamp) -> String {
    const SEC: i128 = 1_000_000;
    const MINUTE: i128 = 60 * SEC;
    const HOUR: i128 = 60 * MINUTE;
    const DAY: i128 = 24 * HOUR;
    const WEEK: i128 = 7 * DAY;
    const MONTH: i128 = 2_629_800 * SEC;
    const YEAR: i128 = 31_557_600 * SEC;
    let (t, n) = (t.as_microsecond() as i128, now.as_microsecond() as i128);
    let (d, s) = if n > t { (n - t, "ago") } else { (t - n, "left") };
    let plural = |v: i128, one: &str, many: &str| {
        if v == 1 { one.to_owned() } else { many.to_owned() }
    };
    if d >= YEAR {
        let (y, m) = (d / YEAR, d % YEAR / MONTH);
        format!("{y} {} {m} {} {s}", plural(y, "year", "years"), plural(m, "month", "months"))
    } else if d >= MONTH {
        let (m, days) = (d / MONTH, d % MONTH / DAY);
        format!("{m} {} {days} {} {s}", plural(m, "month", "months"), plural(days, "day", "days"))
    } else if d >= WEEK {
        let (w, days) = (d / WEEK, d % WEEK / DAY);
        format!("{w} {} {days} {} {s}", plural(w, "week", "weeks"), plural(days, "day", "days"))
    } else if d >= 2 * DAY {
        format!("{} days {s}", d / DAY)
    } else if d >= 25 * HOUR {
        format!("1 day {}h {s}", (d - DAY) / HOUR)
    } else if d >= 6 * HOUR {
        format!("{}h {s}", d / HOUR)
    } else if d >= HOUR {
        format!("{}h {}min {s}", d / HOUR, d % HOUR / MINUTE)
    } else if d >= 5 * MINUTE {
        format!("{}min {s}", d / MINUTE)
    } else if d >= MINUTE {
        format!("{}min {}s {s}", d / MINUTE, d % MINUTE / SEC)
    } else if d >= SEC {
        format!("{}s {s}", d / SEC)
    } else if d >= 1000 {
        format!("{}ms {s}", d / 1000)
    } else if d > 0 {
        format!("{d}us {s}")
    } else {
        "now".to_owned()
    }
}

fn to_json(expr: &str, event: &CalendarEvent, elapses: &[Timestamp], local: &TimeZone) -> serde_json::Value {
    let zone = event
        .timezone()
        .and_then(|name| if name == "UTC" { Some(TimeZone::UTC) } else { TimeZone::get(name).ok() })
        .unwrap_or_else(|| local.clone());
    let next: Vec<String> = elapses
        .iter()
        .map(|t| t.to_zoned_datetime(zone.clone()).strftime("%Y-%m-%dT%H:%M:%S%.f%:z").to_string())
        .collect();
    serde_json::json!({
        "original": expr,
        "normalized": event.normalized(),
        "time_zone": zone.iana_name().unwrap_or("UTC"),
        "next_elapses": next,
    })
}

/// The `--base-time` forms people use: `@EPOCH`, `now`, RFC 3339, or
/// `YYYY-MM-DD[ HH:MM[:SS[.frac]]][ UTC|ZONE]` in the local zone unless a zone is given.
fn parse_base_time(text: &str, local: &TimeZone) -> anyhow::Result<Timestamp> {
    let text = text.trim();
    if text == "now" {
        return Ok(Timestamp::now());
    }
    if let Some(epoch) = text.strip_prefix('@') {
        return Ok(Timestamp::from_second(epoch.parse()?)?);
    }
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Ok(ts);
    }
    let (civil_text, tz) = match text.rsplit_once(' ') {
        Some((rest, "UTC" | "utc" | "Z")) => (rest, TimeZone::UTC),
        Some((rest, name)) if name.contains('/') => (rest, TimeZone::get(name)?),
        _ => (text, local.clone()),
    };
    let dt: civil::DateTime = match civil_text.parse() {
        Ok(dt) => dt,
        Err(_) => match civil_text.parse::<civil::Date>() {
            Ok(date) => date.to_datetime(civil::Time::midnight()),
            Err(_) => {
                bail!("expected e.g. \"2026-03-08 00:00:00 UTC\", \"@1700000000\" or RFC 3339")
            }
        },
    };
    Ok(tz.to_ambiguous_zoned_datetime(dt).compatible()?.timestamp())
}
