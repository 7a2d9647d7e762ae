//! The receive path's IP header parsers (`parse_ipv4`, `parse_ipv6`) must never panic and
//! must only return a payload that lies inside the packet, after a header of the length the
//! packet claims.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netvrrp::vrrp::frames::{parse_ipv4, parse_ipv6};

fuzz_target!(|data: &[u8]| {
    if let Some((_, _, ttl, payload)) = parse_ipv4(data) {
        assert_eq!(data[0] >> 4, 4);
        let ihl = usize::from(data[0] & 0x0f) * 4;
        assert!(ihl >= 20);
        assert_eq!(ttl, data[8]);
        // The payload starts right after the header and ends inside the data.
        assert_eq!(payload.as_ptr() as usize, data.as_ptr() as usize + ihl);
        assert!(ihl + payload.len() <= data.len());
    }
    if let Some((_, _, hop_limit, next_header, payload)) = parse_ipv6(data) {
        assert_eq!(data[0] >> 4, 6);
        assert_eq!((hop_limit, next_header), (data[7], data[6]));
        assert_eq!(payload.as_ptr() as usize, data.as_ptr() as usize + 40);
        let claimed = usize::from(u16::from_be_bytes([data[4], data[5]]));
        assert_eq!(payload.len(), claimed.min(data.len() - 40));
    }
});
