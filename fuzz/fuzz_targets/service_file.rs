//! Service files: parsing never panics, not even to report an error; for a file that parses,
//! each service's stored definition (`service_definitions`, what `tf` keeps to re-create it)
//! parses back to the same spec and re-serializes to the same text, and rendering it (user and
//! system scope, default context) never panics and is deterministic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use taskflows_core::file::{parse_service_file, service_definitions};
use taskflows_core::{RenderContext, Scope, render};

fuzz_target!(|data: &[u8]| {
    let Ok(content) = std::str::from_utf8(data) else {
        return;
    };
    let specs = match parse_service_file("fuzz.toml", content) {
        Ok(specs) => specs,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let definitions = service_definitions(content).expect("a file that parsed has definitions");
    assert_eq!(definitions.len(), specs.len(), "one definition per service");
    for ((name, text), spec) in definitions.iter().zip(&specs) {
        assert_eq!(name, spec.name.as_str());
        let again = parse_service_file(name, text).unwrap_or_else(|e| panic!("definition does not parse: {e}\n{text}"));
        assert_eq!(again.as_slice(), std::slice::from_ref(spec), "definition reads back different\n{text}");
        let twice = service_definitions(text).expect("a definition re-serializes");
        assert_eq!(twice, [(name.clone(), text.clone())], "definition is not stable");
        for scope in [Scope::System, Scope::User] {
            let ctx = RenderContext::new(scope);
            let first = render(spec, &ctx).map_err(|e| e.to_string());
            let second = render(spec, &ctx).map_err(|e| e.to_string());
            assert_eq!(
                first.map(|f| format!("{f:?}")),
                second.map(|f| format!("{f:?}")),
                "rendering is not deterministic"
            );
        }
    }
});
