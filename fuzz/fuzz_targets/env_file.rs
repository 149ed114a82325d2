//! Env files (`env_file =`, as systemd reads them): parsing never panics; what parses has no NUL
//! or control character but tab and line feed in its values, and, written back one
//! `KEY='VALUE'` line each (the quoting taskflows writes its own env files with), reads back the
//! same.

#![no_main]

use libfuzzer_sys::fuzz_target;
use taskflows_core::{env_file_quote, parse_env_file};

fuzz_target!(|data: &[u8]| {
    let Ok(content) = std::str::from_utf8(data) else {
        return;
    };
    let vars = match parse_env_file(content) {
        Ok(vars) => vars,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let line_ends = content.chars().filter(|c| matches!(c, '\n' | '\r')).count();
    assert!(vars.len() <= line_ends + 1, "more variables than lines");
    let mut written = String::new();
    for (key, value) in &vars {
        assert!(!value.chars().any(|c| c.is_control() && c != '\t' && c != '\n'), "{key}'s value {value:?}");
        written.push_str(&format!("{key}={}\n", env_file_quote(value)));
    }
    let again = parse_env_file(&written).unwrap_or_else(|e| panic!("written back, does not parse: {e}\n{written}"));
    assert_eq!(again, vars, "written back, reads different\n{written}");
});
