//! Time zones as systemd sees them: which names it accepts, the local zone's abbreviations
//! (glibc's `tzname`), whether the local zone counts as UTC, and expressions for one instant.

use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{Timestamp, ZonedDateTime};

/// glibc's `tzname[0]`/`tzname[1]` and the offsets behind them (`timezone`/`daylight`).
pub(super) struct LocalNames {
    pub(super) std: String,
    pub(super) dst: String,
    std_offset: i32,
    dst_offset: i32,
}

/// The latest standard and daylight-saving abbreviations of `tz`, searching back from 2200
/// the way glibc scans a zone file's transitions from its end.
pub(super) fn local_names(tz: &TimeZone) -> LocalNames {
    let far = Timestamp::from_second(7_258_118_400).unwrap_or(Timestamp::MAX);
    let mut std: Option<(String, i32)> = None;
    let mut dst: Option<(String, i32)> = None;
    for transition in tz.preceding(far).take(4000) {
        let slot = if transition.dst().is_dst() { &mut dst } else { &mut std };
        if slot.is_none() {
            *slot = Some((transition.abbreviation().to_owned(), transition.offset().seconds()));
            if std.is_some() && dst.is_some() {
                break;
            }
        }
    }
    let std = std.unwrap_or_else(|| {
        let info = tz.to_offset_info(far);
        (info.abbreviation().to_owned(), info.offset().seconds())
    });
    let dst = dst.unwrap_or_else(|| std.clone());
    LocalNames { std: std.0, dst: dst.0, std_offset: std.1, dst_offset: dst.1 }
}

pub(super) fn is_utc_like(tz: &TimeZone) -> bool {
    let names = local_names(tz);
    names.std_offset == 0 && names.dst_offset == 0
}

/// A zone suffix systemd accepts: `UTC`, or a file under /usr/share/zoneinfo named with
/// `[A-Za-z0-9_+-]` components separated by single slashes (case-sensitive).
pub(super) fn lookup(name: &str) -> Option<TimeZone> {
    if name == "UTC" {
        return Some(TimeZone::UTC);
    }
    if !is_acceptable_name(name) {
        return None;
    }
    let tz = jiff::tz::db().get(name).ok()?;
    (tz.iana_name() == Some(name)).then_some(tz)
}

fn is_acceptable_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.ends_with('/')
        && !name.contains("//")
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+' | b'/'))
}

pub(super) fn from_zoned(dt: &ZonedDateTime) -> String {
    let tz = dt.time_zone();
    let usec = dt.timestamp().subsec_microsecond();
    let civil = |z: &ZonedDateTime| {
        let base = z.strftime("%Y-%m-%d %H:%M:%S").to_string();
        if usec == 0 { base } else { format!("{base}.{usec:06}") }
    };
    if let Some(name) = tz.iana_name()
        && name != "UTC"
        && lookup(name).is_some()
        && matches!(tz.to_ambiguous_zoned_datetime(dt.datetime()).offset(), AmbiguousOffset::Unambiguous { .. })
    {
        return format!("{} {name}", civil(dt));
    }
    format!("{} UTC", civil(&dt.with_time_zone(TimeZone::UTC)))
}
