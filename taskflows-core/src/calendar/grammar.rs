//! The grammar of weekdays, dates and times (systemd 252's `parse_weekdays`,
//! `parse_date` and `parse_calendar_time`), with errors that say what was expected.

use super::error::{CalendarError, ErrorAt, quoted};
use super::{CalendarEvent, Component, normalize};

const EXPECTED_WEEKDAY: &str = " (expected Mon, Tue, Wed, Thu, Fri, Sat or Sun)";

/// Weekday names as systemd matches them: long names first, case-insensitive prefixes.
pub(super) const WEEKDAYS: [(&str, u8); 14] = [
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

/// A cursor over the expression (without its zone suffix); reads past the end as NUL,
/// like the C string systemd walks.
pub(super) struct Parser<'a> {
    pub(super) s: &'a [u8],
    pub(super) pos: usize,
    pub(super) err: ErrorAt<'a>,
}

impl Parser<'_> {
    pub(super) fn peek(&self) -> u8 {
        self.peek_at(0)
    }

    pub(super) fn peek_at(&self, ahead: usize) -> u8 {
        self.s.get(self.pos + ahead).copied().unwrap_or(0)
    }

    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    pub(super) fn skip_spaces(&mut self) {
        while self.peek() == b' ' {
            self.pos += 1;
        }
    }

    pub(super) fn unexpected(&self, expected: &str) -> CalendarError {
        if self.at_end() {
            return self.err.at(self.pos, "unexpected end", &format!(" (expected {expected})"));
        }
        let what = format!("unexpected {}", quoted(self.err.word(self.pos)));
        self.err.at(self.pos, what, &format!(" (expected {expected})"))
    }

    /// `Mon`, `monday`, lists and ranges (`..` or `-`); absent weekdays are fine.
    pub(super) fn weekdays(&mut self, bits: &mut u8) -> Result<(), CalendarError> {
        let mut range_start: Option<(u8, usize)> = None;
        let mut first = true;
        loop {
            let rest = &self.s[self.pos..];
            let found = WEEKDAYS
                .iter()
                .find(|(name, _)| rest.len() >= name.len() && rest[..name.len()].eq_ignore_ascii_case(name.as_bytes()));
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
                    let what =
                        format!("weekday range {} runs backwards", quoted(&self.err.expr[l_at..at + name.len()]));
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
    pub(super) fn date(&mut self, ev: &mut CalendarEvent) -> Result<bool, CalendarError> {
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
            return Err(self.unexpected("a space after the day (\"~\" only goes between month and day)"));
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

    pub(super) fn date_separator(&mut self, ev: &mut CalendarEvent, expected: &str) -> Result<(), CalendarError> {
        match self.peek() {
            b'~' => ev.end_of_month = true,
            b'-' => {}
            _ => return Err(self.unexpected(expected)),
        }
        self.pos += 1;
        Ok(())
    }

    /// `HOUR:MINUTE[:SECOND]`; nothing at all means 00:00:00.
    pub(super) fn time(&mut self, ev: &mut CalendarEvent) -> Result<(), CalendarError> {
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
}
