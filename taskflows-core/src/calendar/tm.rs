//! A `struct tm` with glibc's `mktime`/`localtime_r` (and `timegm`/`gmtime_r`) semantics.
//!
//! systemd's search normalizes broken-down times through `mktime`; matching its answers in
//! daylight-saving gaps and folds means matching glibc 2.36: out-of-range fields roll over;
//! the offset is found by probing from the offset the previous call settled on, so a time in
//! a fold resolves to the side that offset belongs to, and a time in a gap to the side glibc's
//! oscillation rule prefers; an explicit `tm_isdst` that disagrees borrows the offset of the
//! nearest time (in steps of 601200 s) that has it. Zone data comes from jiff.

use std::cell::{Cell, RefCell};

use jiff::Timestamp;
use jiff::tz::TimeZone;

const DAY: i64 = 86_400;

/// Days from 1970-01-01 to the given proleptic Gregorian date (month 1-based).
pub(super) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month 1-based, day) of a day count from 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Broken-down time; fields may be out of range until normalized. `year` is the full year,
/// `mon` is 0-based, `isdst` is -1 (unknown), 0 or 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Tm {
    pub(super) year: i64,
    pub(super) mon: i64,
    pub(super) mday: i64,
    pub(super) hour: i64,
    pub(super) min: i64,
    pub(super) sec: i64,
    pub(super) isdst: i32,
    /// 0 = Sunday, like C.
    pub(super) wday: i64,
}

impl Tm {
    /// Wall-clock seconds since 1970-01-01 00:00:00 of the (possibly out-of-range) fields.
    pub(super) fn naive(&self) -> i64 {
        let year = self.year + self.mon.div_euclid(12);
        let mon = self.mon.rem_euclid(12);
        (days_from_civil(year, mon + 1, 1) + self.mday - 1) * DAY + self.hour * 3600 + self.min * 60 + self.sec
    }

    pub(super) fn from_naive(secs: i64, isdst: bool) -> Tm {
        let days = secs.div_euclid(DAY);
        let rem = secs.rem_euclid(DAY);
        let (year, month, mday) = civil_from_days(days);
        Tm {
            year,
            mon: month - 1,
            mday,
            hour: rem / 3600,
            min: rem % 3600 / 60,
            sec: rem % 60,
            isdst: i32::from(isdst),
            wday: (days + 4).rem_euclid(7),
        }
    }

    /// Same wall-clock fields (the comparison systemd's `tm_within_bounds` makes).
    pub(super) fn same_fields(&self, other: &Tm) -> std::cmp::Ordering {
        (self.year, self.mon, self.mday, self.hour, self.min, self.sec)
            .cmp(&(other.year, other.mon, other.mday, other.hour, other.min, other.sec))
    }
}

/// `mktime`/`localtime_r` in one zone (with glibc's remembered offset), or `timegm`/`gmtime_r`.
pub(super) struct Clock<'a> {
    tz: Option<&'a TimeZone>,
    /// glibc's `localtime_offset`: the offset the last `mktime` settled on, its first guess.
    guess: i64,
    /// The last offset looked up and the instants `[start, end)` it holds for: the search
    /// probes nearby times over and over, and zone lookups dominate its cost.
    span: Cell<Option<OffsetSpan>>,
    /// The last `mktime` fell into a gap (glibc's oscillation case).
    pub(super) last_gap: bool,
}

#[derive(Clone, Copy)]
struct OffsetSpan {
    start: i64,
    end: i64,
    offset: i64,
    dst: bool,
}

thread_local! {
    /// Offset spans of named zones looked up recently on this thread, shared by searches.
    static RECENT: RefCell<RecentSpans> = const { RefCell::new(RecentSpans { entries: Vec::new(), next: 0 }) };
}

struct RecentSpans {
    entries: Vec<(String, OffsetSpan)>,
    next: usize,
}

impl RecentSpans {
    const CAPACITY: usize = 32;

    fn find(&self, name: &str, t: i64) -> Option<OffsetSpan> {
        self.entries.iter().find(|(n, span)| (span.start..span.end).contains(&t) && n == name).map(|(_, span)| *span)
    }

    fn insert(&mut self, name: &str, span: OffsetSpan) {
        if self.entries.len() < Self::CAPACITY {
            self.entries.push((name.to_owned(), span));
        } else {
            self.entries[self.next] = (name.to_owned(), span);
            self.next = (self.next + 1) % Self::CAPACITY;
        }
    }
}

/// Seconds glibc searches either side of a time for one with the requested `tm_isdst`.
const ISDST_STRIDE: i64 = 601_200;
const ISDST_BOUND: i64 = 536_454_000 / 2 + ISDST_STRIDE;

impl<'a> Clock<'a> {
    pub(super) fn new(tz: Option<&'a TimeZone>) -> Clock<'a> {
        Clock { tz, guess: 0, span: Cell::new(None), last_gap: false }
    }

    /// `localtime_r` (or `gmtime_r`); `None` outside the supported range.
    pub(super) fn localtime(&self, t: i64) -> Option<Tm> {
        let Some(tz) = self.tz else {
            return Some(Tm::from_naive(t, false));
        };
        if let Some(span) = self.span.get()
            && (span.start..span.end).contains(&t)
        {
            return Some(Tm::from_naive(t + span.offset, span.dst));
        }
        let name = tz.iana_name();
        if let Some(span) = name.and_then(|name| RECENT.with(|r| r.borrow().find(name, t))) {
            self.span.set(Some(span));
            return Some(Tm::from_naive(t + span.offset, span.dst));
        }
        let ts = Timestamp::from_second(t).ok()?;
        let info = tz.to_offset_info(ts);
        let at_or_before = Timestamp::from_second(t + 1).ok()?;
        let span = OffsetSpan {
            start: tz.preceding(at_or_before).next().map_or(i64::MIN, |tr| tr.timestamp().as_second()),
            end: tz.following(ts).next().map_or(i64::MAX, |tr| tr.timestamp().as_second()),
            offset: i64::from(info.offset().seconds()),
            dst: info.dst().is_dst(),
        };
        self.span.set(Some(span));
        if let Some(name) = name {
            RECENT.with(|r| r.borrow_mut().insert(name, span));
        }
        Some(Tm::from_naive(t + span.offset, span.dst))
    }

    /// `mktime` (or `timegm`): normalizes `tm` in place and returns the instant.
    pub(super) fn mktime(&mut self, tm: &mut Tm) -> Option<i64> {
        let req = tm.naive();
        let Some(_) = self.tz else {
            self.last_gap = false;
            *tm = Tm::from_naive(req, false);
            return Some(req);
        };
        let (t, lt) = self.resolve(req, tm.isdst)?;
        self.guess = req - t;
        *tm = lt;
        Some(t)
    }

    /// glibc's probing loop: start from the remembered offset, step by the error, and when
    /// the steps oscillate between the two sides of a gap, stop on the side its rule prefers.
    fn resolve(&mut self, req: i64, isdst: i32) -> Option<(i64, Tm)> {
        let t0 = req - self.guess;
        let (mut t, mut t1, mut t2) = (t0, t0, t0);
        let mut dst2 = false;
        let mut remaining_probes = 6;
        self.last_gap = false;
        loop {
            let lt = self.localtime(t)?;
            let dt = req - lt.naive();
            if dt == 0 {
                return self.match_isdst(req, isdst, t, lt);
            }
            let tm_dst = lt.isdst != 0;
            let prefer_here = if isdst < 0 { dst2 <= tm_dst } else { (isdst != 0) != tm_dst };
            if t == t1 && t != t2 && prefer_here {
                self.last_gap = true;
                return Some((t, lt));
            }
            remaining_probes -= 1;
            if remaining_probes == 0 {
                return None;
            }
            (t1, t2, t, dst2) = (t2, t, t + dt, tm_dst);
        }
    }

    fn match_isdst(&self, req: i64, isdst: i32, t: i64, lt: Tm) -> Option<(i64, Tm)> {
        if isdst < 0 || (isdst != 0) == (lt.isdst != 0) {
            return Some((t, lt));
        }
        let mut delta = ISDST_STRIDE;
        while delta < ISDST_BOUND {
            for dir in [-1, 1] {
                let ot = t + delta * dir;
                let olt = self.localtime(ot)?;
                if (olt.isdst != 0) == (isdst != 0) {
                    let gt = ot + (req - olt.naive());
                    return Some((gt, self.localtime(gt)?));
                }
            }
            delta += ISDST_STRIDE;
        }
        None
    }
}
