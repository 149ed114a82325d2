//! Field values: `*`, lists, ranges, repetitions and (for seconds) fractions, read the
//! way systemd 252's `prepend_component` and `parse_component_decimal` read them.

use super::error::{CalendarError, quoted};
use super::grammar::Parser;
use super::{Chain, Component};

const USEC_PER_SEC: i64 = 1_000_000;
/// systemd refuses lists of more than this many extra values.
const COMPONENTS_MAX: usize = 240;

impl Parser<'_> {
    /// `*` or a comma-separated list of `N`, `N..M`, `N/R`, `N..M/R`.
    pub(super) fn chain(&mut self, usec: bool) -> Result<Chain, CalendarError> {
        if self.peek() == b'*' {
            self.pos += 1;
            return Ok(if usec {
                vec![Component { start: 0, stop: -1, repeat: USEC_PER_SEC, explicit_repeat: true, at: self.pos - 1 }]
            } else {
                Vec::new()
            });
        }
        let mut chain = Vec::new();
        loop {
            if chain.len() > COMPONENTS_MAX {
                return Err(self.err.at(self.pos, "too many values in one list", " (at most 241)"));
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
                    return Err(self.err.at(rep_at, "repetition of zero", " (expected a positive step)"));
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
            chain.push(Component { start, stop, repeat, explicit_repeat, at });
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
            return Err(self.unexpected(if usec { "a number of seconds" } else { "a number or \"*\"" }));
        }
        let too_big = |p: &Self| p.err.at(at, format!("number {} is too large", quoted(p.err.word(at))), "");
        let mut value: u64 = 0;
        while self.peek().is_ascii_digit() {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(self.peek() - b'0')))
                .ok_or_else(|| too_big(self))?;
            self.pos += 1;
        }
        if usec {
            value = value.checked_mul(USEC_PER_SEC as u64).ok_or_else(|| too_big(self))?;
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
    pub(super) fn strtoul_signed(&mut self) -> Result<i64, CalendarError> {
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
        let value = if negative { value.wrapping_neg() } else { value };
        Ok(value as i64)
    }
}
