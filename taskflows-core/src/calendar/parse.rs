//! The entry point: zone suffix, shorthands, then the grammar; normalized and validated.

use jiff::tz::TimeZone;

use super::error::{CalendarError, ErrorAt, quoted};
use super::grammar::{Parser, WEEKDAYS};
use super::{CalendarEvent, Component, Zone, normalize, zone};

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
    if let Some(&(_, months, day, weekly, fields)) =
        SHORTHANDS.iter().find(|(name, ..)| name.eq_ignore_ascii_case(body))
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
        let mut p = Parser { s: body.as_bytes(), pos: 0, err };
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
        || (word.len() >= 3 && word.bytes().all(|b| b.is_ascii_alphabetic()) && !word.eq_ignore_ascii_case("utc"));
    if failed_at < space || !zone_like || WEEKDAYS.iter().any(|(d, _)| d.eq_ignore_ascii_case(word)) {
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
        if !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-') {
            let names = match local {
                Some(tz) => zone::local_names(tz),
                None => zone::local_names(&TimeZone::try_system().unwrap_or(TimeZone::UTC)),
            };
            for (dst, name) in [(false, &names.std), (true, &names.dst)] {
                if name.is_empty() || name.len() > expr.len() {
                    continue;
                }
                let e = expr.len() - name.len();
                if e == 0 || !bytes[e..].eq_ignore_ascii_case(name.as_bytes()) || bytes[e - 1] != b' ' {
                    continue;
                }
                return (&expr[..e - 1], Zone::LocalAbbreviation { dst, name: name.clone() });
            }
        }
        if let Some(tz) = zone::lookup(word) {
            return (&expr[..space], Zone::Named { name: word.to_owned(), tz });
        }
    }
    (expr, Zone::Local)
}
