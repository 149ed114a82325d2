//! A `struct tm` with glibc's `mktime`/`localtime_r` (and `timegm`/`gmtime_r`) semantics.
//!
//! systemd's search normalizes broken-down times through `mktime`; matching its answers in
//! daylight-saving gaps and folds means matching glibc: out-of-range fields roll over, a time
//! in a gap moves by the gap, a time in a fold resolves by the offset of the previous call,
//! and an explicit `tm_isdst` picks the offset of the nearest time with that flag.

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
        (days_from_civil(year, mon + 1, 1) + self.mday - 1) * DAY
            + self.hour * 3600
            + self.min * 60
            + self.sec
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
        (
            self.year, self.mon, self.mday, self.hour, self.min, self.sec,
        )
            .cmp(&(
                other.year, other.mon, other.mday, other.hour, other.min, other.sec,
            ))
    }
}

/// `mktime`/`localtime_r` in one zone (with glibc's remembered offset), or `timegm`/`gmtime_r`.
pub(super) struct Clock<'a> {
    tz: Option<&'a TimeZone>,
    /// glibc's `localtime_offset`: the offset the last `mktime` settled on, its first guess.
    guess: i64,
}

/// Seconds glibc searches either side of a time for one with the requested `tm_isdst`.
const ISDST_STRIDE: i64 = 601_200;
const ISDST_BOUND: i64 = 536_454_000 / 2 + ISDST_STRIDE;

impl<'a> Clock<'a> {
    pub(super) fn new(tz: Option<&'a TimeZone>) -> Clock<'a> {
        Clock { tz, guess: 0 }
    }

    /// `localtime_r` (or `gmtime_r`); `None` outside the supported range.
    pub(super) fn localtime(&self, t: i64) -> Option<Tm> {
        let Some(tz) = self.tz else {
            return Some(Tm::from_naive(t, false));
        };
        let info = tz.to_offset_info(Timestamp::from_second(t).ok()?);
        let offset = i64::from(info.offset().seconds());
        Some(Tm::from_naive(t + offset, info.dst().is_dst()))
    }

    /// `mktime` (or `timegm`): normalizes `tm` in place and returns the instant.
    pub(super) fn mktime(&mut self, tm: &mut Tm) -> Option<i64> {
        let req = tm.naive();
        let Some(_) = self.tz else {
            *tm = Tm::from_naive(req, false);
            return Some(req);
        };
        let (t, lt) = self.resolve(req, tm.isdst)?;
        self.guess = req - t;
        *tm = lt;
        Some(t)
    }

    fn resolve(&self, req: i64, isdst: i32) -> Option<(i64, Tm)> {
        let mut t = req - self.guess;
        let mut prev: Option<(i64, Tm)> = None;
        for _ in 0..6 {
            let lt = self.localtime(t)?;
            let gt = t + (req - lt.naive());
            if gt == t {
                return self.match_isdst(req, isdst, t, lt);
            }
            if let Some((pt, plt)) = prev
                && pt == gt
            {
                // Oscillating: `req` is in a gap. glibc returns the instant on the side whose
                // tm_isdst differs from the request (the DST one when none was requested).
                let (after_gap, before_gap) = if lt.naive() > req {
                    ((t, lt), (pt, plt))
                } else {
                    ((pt, plt), (t, lt))
                };
                let want_dst = isdst != 1;
                return Some(if (after_gap.1.isdst == 1) == want_dst {
                    after_gap
                } else if (before_gap.1.isdst == 1) == want_dst {
                    before_gap
                } else {
                    after_gap
                });
            }
            prev = Some((t, lt));
            t = gt;
        }
        None
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
