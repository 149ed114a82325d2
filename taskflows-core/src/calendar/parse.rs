//! The parser: systemd 252's grammar, with an error that says where and what was expected.

use jiff::tz::TimeZone;

use super::error::{CalendarError, ErrorAt, quoted};
use super::{CalendarEvent, Chain, Component, Zone, normalize, zone};

const USEC_PER_SEC: i64 = 1_000_000;
/// systemd refuses lists of more than this many extra values.
const COMPONENTS_MAX: usize = 240;
const EXPECTED_WEEKDAY: &str = " (expected Mon, Tue, Wed, Thu, Fri, Sat or Sun)";

const WEEKDAYS: [(&str, u8); 14] = [
    ("Monday", 0),
    ("Mon", 0),
    ("Tuesday", 1),
    ("Tue", 1),
    ("Wednesday", 2),
    ("Wed", 2),
    ("Thursday", 3),
    ("Thu", 3),
    ("Friday", 4),
    ("Fri", 4),
    ("Saturday", 5),
    ("Sat", 5),
    ("Sunday", 6),
    ("Sun", 6),
];

/// A shorthand: (name, months, day of month, Mondays only, the largest field pinned to 0).
type Shorthand = (&'static str, &'static [i64], Option<i64>, bool, Fields);

const SHORTHANDS: &[Shorthand] = &[
    ("minutely", &[], None, false, Fields::Second),
    ("hourly", &[], None, false, Fields::Minute),
    ("daily", &[], None, false, Fields::Hour),
    ("monthly", &[], Some(1), false, Fields::Hour),
    ("annually", &[1], Some(1), false, Fields::Hour),
    ("yearly", &[1], Some(1), false, Fields::Hour),
    ("anually", &[1], Some(1), false, Fields::Hour),
    ("weekly", &[], None, true, Fields::Hour),
    ("quarterly", &[1, 4, 7, 10], Some(1), false, Fields::Hour),
    ("biannually", &[1, 7], Some(1), false, Fields::Hour),
    ("bi-annually", &[1, 7], Some(1), false, Fields::Hour),
    ("semiannually", &[1, 7], Some(1), false, Fields::Hour),
    ("semi-annually", &[1, 7], Some(1), false, Fields::Hour),
];

/// The smallest-but-one field a shorthand pins to zero (everything below it is zero too).
#[derive(Clone, Copy, PartialEq, PartialOrd)]
enum Fields {
    Second,
    Minute,
    Hour,
}

pub(super) fn parse(expr: &str, local: Option<&TimeZone>) -> Result<CalendarEvent, CalendarError> {
    let err = ErrorAt { expr };
    if let Some(pos) = expr.find('\0') {
        return Err(err.at(pos, "NUL character", ""));
    }
    let (body, zone) = split_zone(expr, local);
    let mut ev = CalendarEvent {
        weekdays: None,
        year: Vec::new(),
        month: Vec::new(),
        day: Vec::new(),
        hour: Vec::new(),
        minute: Vec::new(),
        microsecond: Vec::new(),
        end_of_month: false,
        zone,
    };
    let mut bits = 0u8;
    if body.is_empty() {
        return Err(if expr.is_empty() {
            err.whole("empty expression (expected e.g. \"Mon..Fri *-*-* 09:00\" or \"daily\")")
        } else {
            err.at(0, "missing date and time before the time zone", "")
        });
    }
    if let Some(&(_, months, day, weekly, fields)) = SHORTHANDS
        .iter()
        .find(|(name, ..)| name.eq_ignore_ascii_case(body))
    {
        ev.month = months.iter().map(|&m| Component::value(m)).collect();
        ev.day = day.into_iter().map(Component::value).collect();
        if weekly {
            bits = 1;
        }
        ev.microsecond = vec![Component::value(0)];
        if fields >= Fields::Minute {
            ev.minute = vec![Component::value(0)];
        }
        if fields >= Fields::Hour {
            ev.hour = vec![Component::value(0)];
        }
    } else {
        let mut p = Parser {
            s: body.as_bytes(),
            pos: 0,
            err,
        };
        let parsed = p.weekdays(&mut bits).and_then(|()| {
            if !p.date(&mut ev)? {
                p.time(&mut ev)?;
            }
            if p.pos < p.s.len() {
                let what = format!("unexpected {}", quoted(err.word(p.pos)));
                return Err(err.at(p.pos, what, " (expected the end of the expression)"));
            }
            Ok(())
        });
        if let Err(e) = parsed {
            return Err(unknown_zone(expr, &ev.zone, p.pos).unwrap_or(e));
        }
    }
    ev.weekdays = Some(bits);
    normalize::normalize(&mut ev);
    normalize::validate(&ev, err)?;
    Ok(ev)
}

/// When parsing failed at or after the last space and the last word reads like a zone name,
/// the real problem is that word: an unknown (or wrongly cased) time zone.
fn unknown_zone(expr: &str, zone: &Zone, failed_at: usize) -> Option<CalendarError> {
    if !matches!(zone, Zone::Local) {
        return None;
    }
    let space = expr.rfind(' ')?;
    let word = &expr[space + 1..];
    let zone_like = word.contains('/')
        || (word.len() >= 3
            && word.bytes().all(|b| b.is_ascii_alphabetic())
            && !word.eq_ignore_ascii_case("utc"));
    if failed_at < space || !zone_like || WEEKDAYS.iter().any(|(d, _)| d.eq_ignore_ascii_case(word))
    {
        return None;
    }
    let what = format!("unknown time zone {}", quoted(word));
    Some(ErrorAt { expr }.at(
        space + 1,
        what,
        " (expected UTC or a time zone name from /usr/share/zoneinfo such as Europe/Berlin, case-sensitive)",
    ))
}

/// Splits off ` UTC`, a local abbreviation or an IANA zone, like systemd: in that order.
fn split_zone<'a>(expr: &'a str, local: Option<&TimeZone>) -> (&'a str, Zone) {
    let bytes = expr.as_bytes();
    if bytes.len() >= 4 && bytes[bytes.len() - 4..].eq_ignore_ascii_case(b" UTC") {
        return (&expr[..expr.len() - 4], Zone::Utc);
    }
    let last_space = expr.rfind(' ');
    if let Some(space) = last_space {
        let word = &expr[space + 1..];
        // An abbreviation is a suffix after a space; only plausible words need the local zone.
        if !word.is_empty()
            && word
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-')
        {
            let names = match local {
                Some(tz) => zone::local_names(tz),
                None => zone::local_names(&TimeZone::try_system().unwrap_or(TimeZone::UTC)),
            };
            for (dst, name) in [(false, &names.std), (true, &names.dst)] {
                if name.is_empty() || name.len() > expr.len() {
                    continue;
                }
                let e = expr.len() - name.len();
                if e == 0
                    || !bytes[e..].eq_ignore_ascii_case(name.as_bytes())
                    || bytes[e - 1] != b' '
                {
                    continue;
                }
                return (
                    &expr[..e - 1],
                    Zone::LocalAbbreviation {
                        dst,
                        name: name.clone(),
                    },
                );
            }
        }
        if let Some(tz) = zone::lookup(word) {
            return (
                &expr[..space],
                Zone::Named {
                    name: word.to_owned(),
                    tz,
                },
            );
        }
    }
    (expr, Zone::Local)
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    err: ErrorAt<'a>,
}

impl Parser<'_> {
    fn peek(&self) -> u8 {
        self.peek_at(0)
    }

    fn peek_at(&self, ahead: usize) -> u8 {
        self.s.get(self.pos + ahead).copied().unwrap_or(0)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn skip_spaces(&mut self) {
        while self.peek() == b' ' {
            self.pos += 1;
        }
    }

    fn unexpected(&self, expected: &str) -> CalendarError {
        if self.at_end() {
            return self.err.at(
                self.pos,
                "unexpected end",
                &format!(" (expected {expected})"),
            );
        }
        let what = format!("unexpected {}", quoted(self.err.word(self.pos)));
        self.err
            .at(self.pos, what, &format!(" (expected {expected})"))
    }

    /// `Mon`, `monday`, lists and ranges (`..` or `-`); absent weekdays are fine.
    fn weekdays(&mut self, bits: &mut u8) -> Result<(), CalendarError> {
        let mut range_start: Option<(u8, usize)> = None;
        let mut first = true;
        loop {
            let rest = &self.s[self.pos..];
            let found = WEEKDAYS.iter().find(|(name, _)| {
                rest.len() >= name.len() && rest[..name.len()].eq_ignore_ascii_case(name.as_bytes())
            });
            let Some(&(name, nr)) = found else {
                if first {
                    return Ok(());
                }
                let what = format!("unknown weekday {}", quoted(self.err.word(self.pos)));
                return Err(self.err.at(self.pos, what, EXPECTED_WEEKDAY));
            };
            let at = self.pos;
            if !matches!(self.peek_at(name.len()), 0 | b'-' | b'.' | b',' | b' ') {
                let what = format!("unknown weekday {}", quoted(self.err.word(at)));
                return Err(self.err.at(at, what, EXPECTED_WEEKDAY));
            }
            *bits |= 1 << nr;
            if let Some((l, l_at)) = range_start {
                if l > nr {
                    let what = format!(
                        "weekday range {} runs backwards",
                        quoted(&self.err.expr[l_at..at + name.len()])
                    );
                    return Err(self.err.at(l_at, what, " (write it from Mon towards Sun)"));
                }
                for j in l + 1..nr {
                    *bits |= 1 << j;
                }
            }
            self.pos += name.len();
            match self.peek() {
                0 => return Ok(()),
                b' ' => {
                    self.skip_spaces();
                    return Ok(());
                }
                b'.' | b'-' if range_start.is_some() => {
                    return Err(self.err.at(
                        self.pos,
                        "a weekday range cannot continue",
                        " (expected \",\" or a space)",
                    ));
                }
                b'.' => {
                    if self.peek_at(1) != b'.' {
                        return Err(self.err.at(
                            self.pos,
                            "single \".\" after a weekday",
                            " (expected \"..\", \",\" or a space)",
                        ));
                    }
                    range_start = Some((nr, at));
                    self.pos += 2;
                }
                b'-' => {
                    range_start = Some((nr, at));
                    self.pos += 1;
                }
                _ => {
                    range_start = None;
                    self.pos += 1;
                }
            }
            if matches!(self.peek(), 0 | b' ') {
                if range_start.is_some() {
                    return Err(self.unexpected("the weekday that ends the range"));
                }
                self.skip_spaces();
                return Ok(());
            }
            first = false;
        }
    }

    /// `@EPOCH`, `[YEAR-]MONTH-DAY` or `MONTH~DAY`; returns true after `@EPOCH` (no time).
    fn date(&mut self, ev: &mut CalendarEvent) -> Result<bool, CalendarError> {
        if self.at_end() {
            return Ok(false);
        }
        if self.peek() == b'@' {
            self.pos += 1;
            let secs = self.strtoul_signed()?;
            normalize::from_epoch(ev, secs);
            return Ok(true);
        }
        let start = self.pos;
        let first = self.chain(false)?;
        if matches!(self.peek(), 0 | b':') {
            self.pos = start;
            return Ok(false);
        }
        self.date_separator(ev, "\"-\", \"~\" or \":\" after the first number")?;
        let second = self.chain(false)?;
        if matches!(self.peek(), 0 | b' ') {
            self.skip_spaces();
            ev.month = first;
            ev.day = second;
            return Ok(false);
        }
        if ev.end_of_month {
            return Err(
                self.unexpected("a space after the day (\"~\" only goes between month and day)")
            );
        }
        self.date_separator(ev, "\"-\" or \"~\" between month and day")?;
        let third = self.chain(false)?;
        if !matches!(self.peek(), 0 | b' ') {
            return Err(self.unexpected("a space after the date"));
        }
        self.skip_spaces();
        ev.year = first;
        ev.month = second;
        ev.day = third;
        Ok(false)
    }

    fn date_separator(
        &mut self,
        ev: &mut CalendarEvent,
        expected: &str,
    ) -> Result<(), CalendarError> {
        match self.peek() {
            b'~' => ev.end_of_month = true,
            b'-' => {}
            _ => return Err(self.unexpected(expected)),
        }
        self.pos += 1;
        Ok(())
    }

    /// `HOUR:MINUTE[:SECOND]`; nothing at all means 00:00:00.
    fn time(&mut self, ev: &mut CalendarEvent) -> Result<(), CalendarError> {
        if self.at_end() {
            ev.hour = vec![Component::value(0)];
            ev.minute = vec![Component::value(0)];
            ev.microsecond = vec![Component::value(0)];
            return Ok(());
        }
        let hour = self.chain(false)?;
        if self.peek() != b':' {
            return Err(self.unexpected("\":\" between hour and minute"));
        }
        self.pos += 1;
        let minute = self.chain(false)?;
        let second = if self.at_end() {
            vec![Component::value(0)]
        } else {
            if self.peek() != b':' {
                return Err(self.unexpected("\":\" between minute and second, or the end"));
            }
            self.pos += 1;
            let second = self.chain(true)?;
            if !self.at_end() {
                return Err(self.unexpected("the end after the seconds"));
            }
            second
        };
        ev.hour = hour;
        ev.minute = minute;
        ev.microsecond = second;
        Ok(())
    }

    /// `*` or a comma-separated list of `N`, `N..M`, `N/R`, `N..M/R`.
    fn chain(&mut self, usec: bool) -> Result<Chain, CalendarError> {
        if self.peek() == b'*' {
            self.pos += 1;
            return Ok(if usec {
                vec![Component {
                    start: 0,
                    stop: -1,
                    repeat: USEC_PER_SEC,
                    explicit_repeat: true,
                    at: self.pos - 1,
                }]
            } else {
                Vec::new()
            });
        }
        let mut chain = Vec::new();
        loop {
            if chain.len() > COMPONENTS_MAX {
                return Err(self
                    .err
                    .at(self.pos, "too many values in one list", " (at most 241)"));
            }
            let at = self.pos;
            let start = self.decimal(usec)?;
            let (mut stop, mut repeat, mut explicit_repeat) = (-1, 0, false);
            if self.peek() == b'.' && self.peek_at(1) == b'.' {
                self.pos += 2;
                stop = self.decimal(usec)?;
                repeat = if usec { USEC_PER_SEC } else { 1 };
            }
            if self.peek() == b'/' {
                self.pos += 1;
                let rep_at = self.pos;
                repeat = self.decimal(usec)?;
                explicit_repeat = true;
                if repeat == 0 {
                    return Err(self.err.at(
                        rep_at,
                        "repetition of zero",
                        " (expected a positive step)",
                    ));
                }
            }
            if !matches!(self.peek(), 0 | b' ' | b',' | b'-' | b'~' | b':') {
                let expected = if usec {
                    "\",\", \"..\", \"/\" or the end"
                } else {
                    "\",\", \"..\", \"/\", \"-\", \"~\", \":\" or a space"
                };
                return Err(self.unexpected(expected));
            }
            chain.push(Component {
                start,
                stop,
                repeat,
                explicit_repeat,
                at,
            });
            if self.peek() != b',' {
                return Ok(chain);
            }
            self.pos += 1;
        }
    }

    /// A decimal number (in microseconds with an optional fraction when `usec`).
    fn decimal(&mut self, usec: bool) -> Result<i64, CalendarError> {
        let at = self.pos;
        if !self.peek().is_ascii_digit() {
            if at == 0 && self.peek().is_ascii_alphabetic() {
                let what = format!("unknown weekday or shorthand {}", quoted(self.err.word(at)));
                return Err(self.err.at(at, what, " (expected Mon..Sun, minutely, hourly, daily, weekly, monthly, quarterly, semiannually, yearly or a date)"));
            }
            return Err(self.unexpected(if usec {
                "a number of seconds"
            } else {
                "a number or \"*\""
            }));
        }
        let too_big = |p: &Self| {
            p.err.at(
                at,
                format!("number {} is too large", quoted(p.err.word(at))),
                "",
            )
        };
        let mut value: u64 = 0;
        while self.peek().is_ascii_digit() {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(self.peek() - b'0')))
                .ok_or_else(|| too_big(self))?;
            self.pos += 1;
        }
        if usec {
            value = value
                .checked_mul(USEC_PER_SEC as u64)
                .ok_or_else(|| too_big(self))?;
            if self.peek() == b'.' && self.peek_at(1) != b'.' {
                self.pos += 1;
                let add = self.fraction()?;
                value = value.checked_add(add).ok_or_else(|| too_big(self))?;
            }
        }
        if value > i32::MAX as u64 {
            return Err(too_big(self));
        }
        Ok(value as i64)
    }

    /// Six digits of fraction, rounded on the seventh; further digits are ignored.
    fn fraction(&mut self) -> Result<u64, CalendarError> {
        let mut val: u64 = 0;
        for i in 0..6 {
            if !self.peek().is_ascii_digit() {
                if i == 0 {
                    return Err(self.unexpected("digits after the decimal point"));
                }
                val *= 10u64.pow(6 - i);
                break;
            }
            val = val * 10 + u64::from(self.peek() - b'0');
            self.pos += 1;
        }
        if (b'5'..=b'9').contains(&self.peek()) {
            val += 1;
        }
        while self.peek().is_ascii_digit() {
            self.pos += 1;
        }
        Ok(val)
    }

    /// `strtoul` as systemd uses it for `@EPOCH`: spaces, a sign, then base-10 digits.
    fn strtoul_signed(&mut self) -> Result<i64, CalendarError> {
        while matches!(self.peek(), b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
            self.pos += 1;
        }
        let negative = match self.peek() {
            b'-' => {
                self.pos += 1;
                true
            }
            b'+' => {
                self.pos += 1;
                false
            }
            _ => false,
        };
        if !self.peek().is_ascii_digit() {
            return Err(self.unexpected("seconds since the epoch after \"@\""));
        }
        let at = self.pos;
        let mut value: u64 = 0;
        while self.peek().is_ascii_digit() {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(self.peek() - b'0')))
                .ok_or_else(|| self.err.at(at, "epoch seconds too large", ""))?;
            self.pos += 1;
        }
        let value = if negative {
            value.wrapping_neg()
        } else {
            value
        };
        Ok(value as i64)
    }
}
