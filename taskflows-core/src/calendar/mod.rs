//! systemd calendar events (`OnCalendar=`), natively.
//!
//! [`CalendarEvent::parse`] accepts exactly the syntax of systemd.time(7) as systemd 252
//! does (weekdays, dates and times with lists, ranges, repetitions and `~`, fractional
//! seconds, the shorthands, `@EPOCH`, `UTC`, an IANA zone or the local zone's abbreviation),
//! [`CalendarEvent::normalized`] renders systemd's "Normalized form", and
//! [`CalendarEvent::next_elapse`] finds the same next elapse as `systemd-analyze calendar`,
//! daylight-saving gaps and repeats included: the search mirrors systemd's, with glibc's
//! `mktime` behaviour reproduced over jiff's reading of the zone database.
//!
//! The only I/O is jiff reading `/usr/share/zoneinfo` (and `TZ`/`/etc/localtime` when
//! [`CalendarEvent::parse`] needs the local zone's abbreviations).

mod error;
mod grammar;
mod next;
mod normalize;
mod numbers;
mod parse;
mod tm;
mod zone;

#[cfg(test)]
mod tests;

use jiff::Timestamp;
use jiff::tz::TimeZone;

pub use error::CalendarError;

/// A parsed, normalized and valid systemd calendar event such as `Mon..Fri *-*-* 09:00:00`.
///
/// A value only exists if systemd 252 accepts the expression.
#[derive(Debug, Clone)]
pub struct CalendarEvent {
    /// Bit 0 is Monday … bit 6 Sunday; `None` matches every day.
    weekdays: Option<u8>,
    year: Chain,
    month: Chain,
    day: Chain,
    hour: Chain,
    minute: Chain,
    /// Seconds, in microseconds.
    microsecond: Chain,
    /// `day` counts back from the end of the month (`~`).
    end_of_month: bool,
    zone: Zone,
}

/// A list of values for one field; empty means "any value" (`*`).
type Chain = Vec<Component>;

/// `start`, `start..stop` or `start[..stop]/repeat`; `stop` is -1 when absent.
#[derive(Debug, Clone, Copy)]
struct Component {
    start: i64,
    stop: i64,
    repeat: i64,
    /// The step was written (`/R`) rather than implied by a range.
    explicit_repeat: bool,
    /// Byte offset in the expression, for error messages.
    at: usize,
}

impl Component {
    fn value(start: i64) -> Component {
        Component { start, stop: -1, repeat: 0, explicit_repeat: false, at: 0 }
    }

    fn key(&self) -> (i64, i64, i64) {
        (self.start, self.stop, self.repeat)
    }
}

/// Which clock an event is evaluated in.
#[derive(Debug, Clone)]
enum Zone {
    /// The `local` zone given to [`CalendarEvent::next_elapse`].
    Local,
    /// ` UTC` (any case) or an `@EPOCH` expression.
    Utc,
    /// The local zone's standard (`dst == false`) or daylight-saving abbreviation, e.g.
    /// `EST`/`EDT` while the local zone is America/New_York; stored as the local zone named it.
    LocalAbbreviation { dst: bool, name: String },
    /// An IANA zone name, e.g. `America/New_York`.
    Named { name: String, tz: TimeZone },
}

impl CalendarEvent {
    /// Parses an expression, using the system's local zone (`TZ`, else `/etc/localtime`) only
    /// to recognise its abbreviations as suffixes (e.g. `EST` in New York) like systemd does.
    pub fn parse(expr: &str) -> Result<CalendarEvent, CalendarError> {
        parse::parse(expr, None)
    }

    /// Parses an expression as if `local` were the local zone.
    pub fn parse_with_local(expr: &str, local: &TimeZone) -> Result<CalendarEvent, CalendarError> {
        parse::parse(expr, Some(local))
    }

    /// systemd's "Normalized form", e.g. `Mon..Fri *-*-* 09:00:00 America/New_York`.
    pub fn normalized(&self) -> String {
        self.to_string()
    }

    /// The zone suffix: `UTC`, an IANA name, or a local abbreviation such as `EST`.
    pub fn timezone(&self) -> Option<&str> {
        match &self.zone {
            Zone::Local => None,
            Zone::Utc => Some("UTC"),
            Zone::LocalAbbreviation { name, .. } | Zone::Named { name, .. } => Some(name),
        }
    }

    /// Whether the zone suffix is the local zone's own abbreviation (`EST` while the local
    /// zone is America/New_York), which pins standard or daylight-saving time like systemd.
    pub fn uses_local_abbreviation(&self) -> bool {
        matches!(self.zone, Zone::LocalAbbreviation { .. })
    }

    /// The first elapse strictly after `after`, or `None` if the event never elapses again.
    ///
    /// `local` is the zone of an expression without a zone suffix.
    pub fn next_elapse(&self, after: Timestamp, local: &TimeZone) -> Option<Timestamp> {
        next::next_elapse(self, after, local).ok()
    }

    /// Like [`next_elapse`](Self::next_elapse), but tells "never elapses again" apart from
    /// systemd's give-up after 1000 search steps (`systemd-analyze` then reports an error).
    pub fn try_next_elapse(&self, after: Timestamp, local: &TimeZone) -> Result<Timestamp, NoElapse> {
        next::next_elapse(self, after, local)
    }

    /// The elapses after `after`, in order (`.take(n)` for the next N).
    pub fn elapses_after<'a>(&'a self, after: Timestamp, local: &'a TimeZone) -> Elapses<'a> {
        Elapses { event: self, next: Some(after), local }
    }

    /// An expression systemd accepts that elapses exactly once, at `dt`.
    ///
    /// Uses `dt`'s IANA zone when it has one whose name systemd accepts and the wall-clock
    /// time is unambiguous there; otherwise (fixed offsets, folds, gaps) the time in UTC.
    /// Sub-microsecond precision is truncated.
    pub fn from_zoned(dt: &jiff::ZonedDateTime) -> String {
        zone::from_zoned(dt)
    }
}

impl std::str::FromStr for CalendarEvent {
    type Err = CalendarError;

    fn from_str(s: &str) -> Result<CalendarEvent, CalendarError> {
        CalendarEvent::parse(s)
    }
}

/// Why [`CalendarEvent::try_next_elapse`] found no elapse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoElapse {
    /// The event does not elapse after the base time (e.g. a date in the past).
    #[error("the calendar event never elapses again")]
    Never,
    /// The search gave up after 1000 steps, as systemd does ("Infinite loop in calendar
    /// calculation"), typically an explicit DST abbreviation that no date can satisfy.
    #[error("the next elapse search gave up after 1000 steps, as systemd does")]
    GaveUp,
}

/// Iterator over the elapses of a [`CalendarEvent`], from [`CalendarEvent::elapses_after`].
#[derive(Debug, Clone)]
pub struct Elapses<'a> {
    event: &'a CalendarEvent,
    next: Option<Timestamp>,
    local: &'a TimeZone,
}

impl Iterator for Elapses<'_> {
    type Item = Timestamp;

    fn next(&mut self) -> Option<Timestamp> {
        let found = self.event.next_elapse(self.next?, self.local);
        self.next = found;
        found
    }
}

/// Whether `tz` counts as UTC the way systemd's `in_utc_timezone()` does (no offset, no DST).
pub fn is_utc_like(tz: &TimeZone) -> bool {
    zone::is_utc_like(tz)
}
