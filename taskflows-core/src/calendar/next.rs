//! The next elapse: systemd's field-by-field search over broken-down time.
//!
//! Each field is advanced to its next matching value; a field with no match carries into
//! the next larger field; after every step the time is renormalized through `mktime` and
//! the search restarts when normalization moved it (a day past the month's end, an hour
//! skipped by a daylight-saving gap), exactly as systemd's `find_next` does.
//!
//! One addition mirrors the systemd 252 Debian ships (its backported fix for negative DST,
//! inferred from its answers): when normalization takes the search back before its previous
//! step, the search keeps `mktime`'s `tm_isdst` from then on instead of resetting it.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::normalize::MAX_YEAR;
use super::tm::{Clock, Tm};
use super::{CalendarEvent, Chain, NoElapse, Zone};

const USEC_PER_SEC: i64 = 1_000_000;
/// Largest instant systemd formats (9999-12-30 23:59:59.999999 UTC); later bases never elapse.
const USEC_FORMATTABLE_MAX: i64 = 253_402_214_399_999_999;
/// systemd gives up after this many steps ("Infinite loop in calendar calculation").
const MAX_STEPS: u32 = 1000;

pub(super) fn next_elapse(ev: &CalendarEvent, after: Timestamp, local: &TimeZone) -> Result<Timestamp, NoElapse> {
    let usec = after.as_second() * USEC_PER_SEC + i64::from(after.subsec_microsecond());
    if usec > USEC_FORMATTABLE_MAX {
        return Err(NoElapse::Never);
    }
    // systemd works in whole microseconds: a base with nanoseconds counts as its microsecond.
    let usec = usec + 1;
    let (tz, dst) = match &ev.zone {
        Zone::Utc => (None, -1),
        Zone::Local => (Some(local), -1),
        Zone::LocalAbbreviation { dst, .. } => (Some(local), i32::from(*dst)),
        Zone::Named { tz, .. } => (Some(tz), -1),
    };
    let mut clock = Clock::new(tz);
    let t = usec.div_euclid(USEC_PER_SEC);
    let mut tm = clock.localtime(t).ok_or(NoElapse::Never)?;
    let mut tm_usec = usec.rem_euclid(USEC_PER_SEC);
    find_next(ev, &mut clock, dst, &mut tm, &mut tm_usec)?;
    let t = clock.mktime(&mut tm).ok_or(NoElapse::Never)?;
    let nanos = i32::try_from(tm_usec * 1000).map_err(|_| NoElapse::Never)?;
    Timestamp::new(t, nanos).map_err(|_| NoElapse::Never)
}

/// `Some(true)` when `tm` is already normalized, `Some(false)` when `mktime` moved it (and
/// `tm` now holds the normalized value), `None` when it went backwards or left the range.
fn within_bounds(clock: &mut Clock<'_>, tm: &mut Tm) -> Option<bool> {
    if tm.year > MAX_YEAR {
        return None;
    }
    let mut t = *tm;
    clock.mktime(&mut t)?;
    match t.same_fields(tm) {
        std::cmp::Ordering::Less => None,
        std::cmp::Ordering::Equal => Some(true),
        std::cmp::Ordering::Greater => {
            // Normalizing Feb 31 gives Mar 3 and would skip Mar 1: restart the unit below
            // the largest one that changed (smaller ones were already reset by the caller).
            if t.year != tm.year {
                t.mon = 0;
            } else if t.mon != tm.mon {
                t.mday = 1;
            } else if t.mday != tm.mday {
                t.hour = 0;
            } else if t.hour != tm.hour {
                t.min = 0;
            } else if t.min != tm.min {
                t.sec = 0;
            }
            *tm = t;
            Some(false)
        }
    }
}

/// `within_bounds` for a field step: `moved` says whether the step changed the field; an
/// unchanged, already normalized time only needs the year limit checked.
fn checked(clock: &mut Clock<'_>, tm: &mut Tm, moved: bool, fast: bool) -> Option<bool> {
    if !moved && fast {
        return (tm.year <= MAX_YEAR).then_some(true);
    }
    within_bounds(clock, tm)
}

fn matches_weekday(bits: Option<u8>, clock: &mut Clock<'_>, tm: &Tm, fast: bool) -> bool {
    let Some(bits) = bits else { return true };
    let mut t = *tm;
    if fast {
        // Already normalized: only the day of the week is missing.
        t.wday = (tm.naive().div_euclid(86_400) + 4).rem_euclid(7);
    } else if clock.mktime(&mut t).is_none() {
        return false;
    }
    let k = if t.wday == 0 { 6 } else { t.wday - 1 };
    bits & (1 << k) != 0
}

/// The day of the month that is `day` days before the next month starts, if it is in `tm`'s month.
fn end_of_month(clock: &mut Clock<'_>, tm: &Tm, day: i64) -> i64 {
    let mut t = *tm;
    t.mon += 1;
    t.mday = 1 - day;
    match clock.mktime(&mut t) {
        Some(_) if t.mon == tm.mon => t.mday,
        _ => -1,
    }
}

/// Moves `val` to the next value of `chain` at or after it: `Some(false)` if it already
/// matched, `Some(true)` if it moved, `None` if nothing matches.
fn find_matching(
    ev: &CalendarEvent,
    chain: &Chain,
    is_day: bool,
    clock: &mut Clock<'_>,
    tm: &Tm,
    val: &mut i64,
) -> Option<bool> {
    if chain.is_empty() {
        return Some(false);
    }
    let mut best: Option<i64> = None;
    for c in chain {
        let (mut start, mut stop) = (c.start, c.stop);
        if ev.end_of_month && is_day {
            start = end_of_month(clock, tm, start);
            stop = end_of_month(clock, tm, stop);
            if stop > 0 {
                std::mem::swap(&mut start, &mut stop);
            }
        }
        if start >= *val {
            if best.is_none_or(|d| start < d) {
                best = Some(start);
            }
        } else if c.repeat > 0 {
            let k = start + c.repeat * ((*val - start + c.repeat - 1) / c.repeat);
            if best.is_none_or(|d| k < d) && (stop < 0 || k <= stop) {
                best = Some(k);
            }
        }
    }
    let d = best?;
    let moved = *val != d;
    *val = d;
    Some(moved)
}

fn find_next(
    ev: &CalendarEvent,
    clock: &mut Clock<'_>,
    dst: i32,
    tm: &mut Tm,
    tm_usec: &mut i64,
) -> Result<(), NoElapse> {
    let mut c = *tm;
    let mut usec = *tm_usec;
    let mut keep_isdst = false;
    let mut previous: Option<Tm> = None;
    for _ in 0..MAX_STEPS {
        let before = c;
        let _ = clock.mktime(&mut c);
        if !keep_isdst && previous.is_some_and(|p: Tm| c.same_fields(&p) == std::cmp::Ordering::Less) {
            // Normalization took us back before where the previous step stood (a gap that
            // resolved to its earlier side, e.g. Europe/Dublin's negative DST): systemd 252
            // as Debian ships it then keeps mktime's tm_isdst from here on, and normalizing
            // again with it moves forwards.
            keep_isdst = true;
            let mut retry = before;
            retry.isdst = c.isdst;
            if clock.mktime(&mut retry).is_some() {
                c = retry;
            }
        }
        previous = Some(c);
        if !keep_isdst {
            c.isdst = dst;
        }
        // `c` is normalized now; with tm_isdst unknown (or mktime's own) re-normalizing
        // unchanged fields cannot move them, so those checks are skipped.
        let fast = dst < 0 || keep_isdst;

        let mut year = c.year;
        let r = find_matching(ev, &ev.year, false, clock, &c, &mut year).ok_or(NoElapse::Never)?;
        c.year = year;
        if r {
            (c.mon, c.mday, c.hour, c.min, c.sec, usec) = (0, 1, 0, 0, 0, 0);
        }
        if checked(clock, &mut c, r, fast) != Some(true) {
            return Err(NoElapse::Never);
        }

        let mut mon = c.mon + 1;
        let r = find_matching(ev, &ev.month, false, clock, &c, &mut mon);
        c.mon = mon - 1;
        if r == Some(true) {
            (c.mday, c.hour, c.min, c.sec, usec) = (1, 0, 0, 0, 0);
        }
        match r.and_then(|moved| checked(clock, &mut c, moved, fast)) {
            None => {
                c.year += 1;
                (c.mon, c.mday, c.hour, c.min, c.sec, usec) = (0, 1, 0, 0, 0, 0);
                continue;
            }
            Some(false) => continue,
            Some(true) => {}
        }

        let mut mday = c.mday;
        let r = find_matching(ev, &ev.day, true, clock, &c, &mut mday);
        c.mday = mday;
        if r == Some(true) {
            (c.hour, c.min, c.sec, usec) = (0, 0, 0, 0);
        }
        match r.and_then(|moved| checked(clock, &mut c, moved, fast)) {
            None => {
                c.mon += 1;
                (c.mday, c.hour, c.min, c.sec, usec) = (1, 0, 0, 0, 0);
                continue;
            }
            Some(false) => continue,
            Some(true) => {}
        }

        if !matches_weekday(ev.weekdays, clock, &c, fast) {
            c.mday += 1;
            (c.hour, c.min, c.sec, usec) = (0, 0, 0, 0);
            continue;
        }

        let mut hour = c.hour;
        let r = find_matching(ev, &ev.hour, false, clock, &c, &mut hour);
        c.hour = hour;
        if r == Some(true) {
            (c.min, c.sec, usec) = (0, 0, 0);
        }
        match r.and_then(|moved| checked(clock, &mut c, moved, fast)) {
            None => {
                c.mday += 1;
                (c.hour, c.min, c.sec, usec) = (0, 0, 0, 0);
                continue;
            }
            Some(false) => continue,
            Some(true) => {}
        }

        let mut min = c.min;
        let r = find_matching(ev, &ev.minute, false, clock, &c, &mut min);
        c.min = min;
        if r == Some(true) {
            (c.sec, usec) = (0, 0);
        }
        match r.and_then(|moved| checked(clock, &mut c, moved, fast)) {
            None => {
                c.hour += 1;
                (c.min, c.sec, usec) = (0, 0, 0);
                continue;
            }
            Some(false) => continue,
            Some(true) => {}
        }

        let mut sec = c.sec * USEC_PER_SEC + usec;
        let r = find_matching(ev, &ev.microsecond, false, clock, &c, &mut sec);
        usec = sec % USEC_PER_SEC;
        c.sec = sec / USEC_PER_SEC;
        match r.and_then(|moved| checked(clock, &mut c, moved, fast)) {
            None => {
                c.min += 1;
                (c.sec, usec) = (0, 0);
                continue;
            }
            Some(false) => continue,
            Some(true) => {}
        }

        *tm = c;
        *tm_usec = usec;
        return Ok(());
    }
    Err(NoElapse::GaveUp)
}
