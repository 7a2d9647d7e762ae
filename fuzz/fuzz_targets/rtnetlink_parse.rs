//! The rtnetlink payload parsers (RTM_NEWLINK/DELLINK, RTM_NEWADDR/DELADDR) read what the
//! kernel sends: they must never panic on any bytes, and what they return must come from
//! the fixed header where the header says so.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netvrrp::kernel::wire;

fuzz_target!(|data: &[u8]| {
    if let Some(link) = wire::link(data) {
        // ifinfomsg: ifi_index at offset 4.
        assert_eq!(link.index.to_ne_bytes(), data[4..8]);
    }
    if let Some((index, net)) = wire::address(data) {
        // ifaddrmsg: family, prefix length, flags, scope, index.
        assert_eq!(index.to_ne_bytes(), data[4..8]);
        assert_eq!(net.prefix_len(), data[1]);
    }
});
