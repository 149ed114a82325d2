//! Normalization, validation and the "Normalized form", as systemd 252 does them.

use std::fmt::{self, Write as _};

use super::error::{CalendarError, ErrorAt};
use super::{CalendarEvent, Chain, Component, Zone, tm};

const USEC_PER_SEC: i64 = 1_000_000;
const ALL_WEEKDAYS: u8 = 0x7f;
pub(super) const MIN_YEAR: i64 = 1970;
pub(super) const MAX_YEAR: i64 = 2199;

/// `@EPOCH`: a single UTC instant.
pub(super) fn from_epoch(ev: &mut CalendarEvent, secs: i64) {
    // Out-of-range instants become an out-of-range year, which `validate` rejects.
    let secs = secs.clamp(-86_400, tm::days_from_civil(MAX_YEAR + 1, 1, 1) * 86_400);
    let t = tm::Tm::from_naive(secs, false);
    let one = |v: i64| vec![Component::value(v)];
    ev.year = one(t.year);
    ev.month = one(t.mon + 1);
    ev.day = one(t.mday);
    ev.hour = one(t.hour);
    ev.minute = one(t.min);
    ev.microsecond = one(t.sec * USEC_PER_SEC);
    ev.zone = Zone::Utc;
}

pub(super) fn normalize(ev: &mut CalendarEvent) {
    if ev.weekdays.is_some_and(|b| b == 0 || b >= ALL_WEEKDAYS) {
        ev.weekdays = None;
    }
    if ev.end_of_month && ev.day.is_empty() {
        ev.end_of_month = false;
    }
    for c in &mut ev.year {
        for v in [&mut c.start, &mut c.stop] {
            if (0..70).contains(v) {
                *v += 2000;
            } else if (70..100).contains(v) {
                *v += 1900;
            }
        }
    }
    for chain in [&mut ev.year, &mut ev.month, &mut ev.day, &mut ev.hour, &mut ev.minute] {
        normalize_chain(chain, false);
    }
    normalize_chain(&mut ev.microsecond, true);
}

fn normalize_chain(chain: &mut Chain, usec: bool) {
    for c in chain.iter_mut() {
        // Make the length of a range a multiple of its step.
        if c.stop > c.start && c.repeat > 0 {
            c.stop -= (c.stop - c.start) % c.repeat;
        }
        // A range or repetition that can never fire twice is a single value; systemd 252 does
        // not apply this to a seconds range without an explicit step (`5..5` is rejected
        // there, `5..5/1` accepted), which `validate` then rejects.
        let implied_seconds_range = usec && !c.explicit_repeat;
        if !implied_seconds_range && ((c.stop > c.start && c.stop < c.start + c.repeat) || c.stop == c.start) {
            c.repeat = 0;
            c.stop = -1;
        }
    }
    chain.sort_by_key(Component::key);
    chain.dedup_by_key(|c| c.key());
}

pub(super) fn validate(ev: &CalendarEvent, err: ErrorAt<'_>) -> Result<(), CalendarError> {
    check_chain(&ev.year, "year", MIN_YEAR, MAX_YEAR, false, err)?;
    check_chain(&ev.month, "month", 1, 12, false, err)?;
    check_chain(&ev.day, "day", 1, 31, ev.end_of_month, err)?;
    check_chain(&ev.hour, "hour", 0, 23, false, err)?;
    check_chain(&ev.minute, "minute", 0, 59, false, err)?;
    check_chain(&ev.microsecond, "second", 0, 60 * USEC_PER_SEC - 1, false, err)
}

fn check_chain(
    chain: &Chain,
    field: &str,
    from: i64,
    to: i64,
    eom: bool,
    err: ErrorAt<'_>,
) -> Result<(), CalendarError> {
    let usec = field == "second";
    let show = |v: i64| if usec { seconds(v) } else { v.to_string() };
    for (i, c) in chain.iter().enumerate() {
        // Days counted from the end of the month may only reach 28 back; systemd 252 lowers
        // that limit by another 3 for each further value in the list (`~1,26` is rejected).
        let to = if eom { to - 3 * (i as i64 + 1) } else { to };
        let allowed = if eom {
            format!(" (expected {from}..{to} days before the end of the month)")
        } else {
            format!(" (expected {}..{})", show(from), show(to))
        };
        let bad = |what: String| Err(err.at(c.at, what, &allowed));
        if c.start < from || c.start > to {
            return bad(format!("{field} {} is out of range", show(c.start)));
        }
        if c.repeat > to - from {
            return bad(format!("{field} step {} is too large", show(c.repeat)));
        }
        if c.stop >= 0 {
            if c.stop < from || c.stop > to {
                return bad(format!("{field} {} is out of range", show(c.stop)));
            }
            if c.start + c.repeat > c.stop {
                return bad(format!("{field} range {}..{} is empty", show(c.start), show(c.stop)));
            }
        } else if (eom && c.start - c.repeat < from) || (!eom && c.start + c.repeat > to) {
            return bad(format!("{field} {}/{} never repeats", show(c.start), show(c.repeat)));
        }
    }
    Ok(())
}

fn seconds(usec: i64) -> String {
    if usec % USEC_PER_SEC == 0 {
        (usec / USEC_PER_SEC).to_string()
    } else {
        format!("{}.{:06}", usec / USEC_PER_SEC, usec % USEC_PER_SEC)
    }
}

fn write_weekdays(f: &mut fmt::Formatter<'_>, bits: u8) -> fmt::Result {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let mut need_comma = false;
    let mut run_start: Option<usize> = None;
    let close = |f: &mut fmt::Formatter<'_>, l: usize, x: usize| -> fmt::Result {
        if x > l + 1 {
            f.write_str(if x > l + 2 { ".." } else { "," })?;
            f.write_str(DAYS[x - 1])?;
        }
        Ok(())
    };
    for (x, day) in DAYS.iter().enumerate() {
        if bits & (1 << x) != 0 {
            if run_start.is_none() {
                if need_comma {
                    f.write_char(',')?;
                }
                need_comma = true;
                f.write_str(day)?;
                run_start = Some(x);
            }
        } else if let Some(l) = run_start.take() {
            close(f, l, x)?;
        }
    }
    if let Some(l) = run_start {
        close(f, l, DAYS.len())?;
    }
    Ok(())
}

fn write_chain(f: &mut fmt::Formatter<'_>, width: usize, chain: &Chain, usec: bool) -> fmt::Result {
    let d = if usec { USEC_PER_SEC } else { 1 };
    if chain.is_empty() || (usec && chain.len() == 1 && chain[0].key() == (0, -1, USEC_PER_SEC)) {
        return f.write_char('*');
    }
    for (i, c) in chain.iter().enumerate() {
        if i > 0 {
            f.write_char(',')?;
        }
        write!(f, "{:0width$}", c.start / d)?;
        if c.start % d > 0 {
            write!(f, ".{:06}", c.start % d)?;
        }
        if c.stop > 0 {
            write!(f, "..{:0width$}", c.stop / d)?;
        }
        if c.stop % d > 0 {
            write!(f, ".{:06}", c.stop % d)?;
        }
        if c.repeat > 0 && !(c.stop > 0 && c.repeat == d) {
            write!(f, "/{}", c.repeat / d)?;
        }
        if c.repeat % d > 0 {
            write!(f, ".{:06}", c.repeat % d)?;
        }
    }
    Ok(())
}

impl fmt::Display for CalendarEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(bits) = self.weekdays {
            write_weekdays(f, bits)?;
            f.write_char(' ')?;
        }
        write_chain(f, 4, &self.year, false)?;
        f.write_char('-')?;
        write_chain(f, 2, &self.month, false)?;
        f.write_char(if self.end_of_month { '~' } else { '-' })?;
        write_chain(f, 2, &self.day, false)?;
        f.write_char(' ')?;
        write_chain(f, 2, &self.hour, false)?;
        f.write_char(':')?;
        write_chain(f, 2, &self.minute, false)?;
        f.write_char(':')?;
        write_chain(f, 2, &self.microsecond, true)?;
        match &self.zone {
            Zone::Local => Ok(()),
            Zone::Utc => f.write_str(" UTC"),
            Zone::LocalAbbreviation { name, .. } | Zone::Named { name, .. } => write!(f, " {name}"),
        }
    }
}
