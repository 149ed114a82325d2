//! Env files (`env_file =`, `KEY=VALUE` lines): parsing never panics; what parses has valid
//! single-line values and, written back one `KEY="VALUE"` line each, reads back the same.

#![no_main]

use libfuzzer_sys::fuzz_target;
use taskflows_core::parse_env_file;

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
    assert!(vars.len() <= content.lines().count(), "more variables than lines");
    let mut written = String::new();
    for (key, value) in &vars {
        assert!(!value.contains(['\n', '\0']), "{key}'s value {value:?} is not one line");
        written.push_str(&format!("{key}=\"{value}\"\n"));
    }
    let again = parse_env_file(&written).unwrap_or_else(|e| panic!("written back, does not parse: {e}\n{written}"));
    assert_eq!(again, vars, "written back, reads different\n{written}");
});
