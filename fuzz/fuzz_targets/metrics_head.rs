//! The metrics listener's request-head parser faces whoever can reach `metrics-listen`:
//! it must never panic, and headers other than `Accept` must not change its answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netvrrp::daemon::metrics_http::{negotiate, parse_head, to_text004};

fuzz_target!(|data: &[u8]| {
    let verdict = parse_head(data);
    let mut more = data.to_vec();
    more.extend_from_slice(b"\r\nX-Extra: y");
    // A head that parsed stays the same with one more ordinary header (a head that did not
    // may become valid: the extra line can complete a broken last line).
    if matches!(verdict, netvrrp::daemon::metrics_http::Request::Metrics { .. }) {
        assert_eq!(parse_head(&more), verdict);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = negotiate(Some(text));
        let classic = to_text004(text);
        assert!(!classic.lines().any(|l| l == "# EOF"));
    }
});
