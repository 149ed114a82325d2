//! The calendar parser (and, for what it accepts, normalization and the next-elapse
//! search) must never panic on any input.
//!
//! `cargo xtask fuzz calendar_parse` (docs/testing.md).

#![no_main]

use jiff::Timestamp;
use jiff::tz::TimeZone;
use libfuzzer_sys::fuzz_target;
use taskflows_core::calendar::CalendarEvent;

fuzz_target!(|data: &[u8]| {
    let Ok(expr) = std::str::from_utf8(data) else {
        return;
    };
    let local = TimeZone::get("America/New_York").unwrap_or(TimeZone::UTC);
    if let Ok(event) = CalendarEvent::parse_with_local(expr, &local) {
        let normalized = event.normalized();
        let again = CalendarEvent::parse_with_local(&normalized, &local).expect("normalized form parses");
        assert_eq!(again.normalized(), normalized);
        let base = Timestamp::from_second(1_772_953_200).unwrap(); // around a DST change
        let _ = event.elapses_after(base, &local).take(3).count();
    }
});
