//! The config loader/validator must never panic and must report errors with a position.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(errors) = netvrrp::config::parse_str(text, "fuzz.toml") {
        assert!(!errors.0.is_empty());
        for e in &errors.0 {
            assert!(!e.message.is_empty());
        }
    }
});
