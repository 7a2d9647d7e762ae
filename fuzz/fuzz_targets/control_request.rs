//! The control-socket request parser must never panic on any line.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    let _ = netvrrp::daemon::control::parse_request(&line);
});
