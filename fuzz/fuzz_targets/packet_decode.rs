//! The advert decoder (the owned decode and the in-place view) must never panic, whatever
//! the bytes, source, TTL or version, and the two must agree; anything
//! it accepts must survive an encode/decode round trip unchanged (and, for VRRPv3, re-encode
//! to exactly the bytes received).
#![no_main]

use libfuzzer_sys::fuzz_target;
use netvrrp::vrrp::packet::{RxContext, decode, encode, view};
use std::net::IpAddr;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let (knobs, payload) = data.split_at(2);
    let (src, dst): (IpAddr, IpAddr) = if knobs[0] & 1 == 0 {
        ("10.0.0.1".parse().unwrap(), "224.0.0.18".parse().unwrap())
    } else {
        ("fe80::1".parse().unwrap(), "ff02::12".parse().unwrap())
    };
    let ttl = if knobs[0] & 2 == 0 { 255 } else { knobs[1] };
    let version = if knobs[0] & 4 == 0 { 3 } else { 2 };
    let ctx = RxContext { src, dst, ttl, version };
    // The in-place view (the runtime's receive path) accepts exactly what decode accepts
    // and reads the same fields.
    assert_eq!(view(payload, &ctx).map(|v| v.to_decoded()), decode(payload, &ctx));
    if let Ok(d) = decode(payload, &ctx) {
        let with = d.checksum_form != Some(netvrrp::vrrp::packet::ChecksumForm::MessageOnly);
        let again = encode(&d.advert, src, dst, with);
        let round = decode(&again, &RxContext { ttl: 255, ..ctx }).expect("our own encoding decodes");
        assert_eq!(round.advert, d.advert);
        // VRRPv2 senders may omit or fill the authentication data; v3 has none, but its 4
        // reserved bits are ignored on receive and sent as zero.
        if version == 3 && payload[4] & 0xf0 == 0 {
            assert_eq!(&again[..], payload);
        }
    }
});
