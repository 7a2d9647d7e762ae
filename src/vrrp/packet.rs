//! VRRP wire format (RFC 9568 section 5 for v3, RFC 3768 section 5 for v2), sans-IO:
//! encode, decode with a typed error per reason, checksums, and the gratuitous ARP /
//! unsolicited NA payloads sent on becoming Master.
//!
//! ```text
//!  0                   1                   2                   3
//!  |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
//!  v3: |(rsvd) |     Max Adver Int (12 bits, centiseconds)  |   Checksum    |
//!  v2: |  Auth Type    |   Adver Int (seconds)  |          Checksum           |
//!  |                      IPvX Address(es)                      ...
//!  v2 only: 8 bytes of authentication data (zero with auth type 0)
//! ```
//!
//! Checksums: v2 covers the message only. v3/IPv6 covers the message and the IPv6
//! pseudo-header. v3/IPv4 is ambiguous in practice: keepalived and FRR include an IPv4
//! pseudo-header (src, dst, 0, 112, length); RFC 9568 as read by others does not. We send
//! the form the router is configured for and accept either on receive, reporting which one
//! matched so the runtime can count what each peer uses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const VRRP_PROTOCOL: u8 = 112;
const TYPE_ADVERTISEMENT: u8 = 1;
const HEADER_LEN: usize = 8;
const V2_AUTH_LEN: usize = 8;
/// Largest advert we accept: a full Ethernet MTU of IPv4 addresses.
pub const MAX_ADVERT_LEN: usize = 1500;

/// One advertisement, independent of the version's field layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    /// 2 or 3.
    pub version: u8,
    pub vrid: u8,
    pub priority: u8,
    /// Advertisement interval in centiseconds (v2: the seconds field × 100).
    pub interval_cs: u16,
    /// The virtual addresses (all of one family).
    pub addresses: Vec<IpAddr>,
}

impl Advert {
    pub fn new(
        version: u8,
        vrid: u8,
        priority: u8,
        interval_cs: u16,
        addresses: &[IpAddr],
    ) -> Advert {
        Advert {
            version,
            vrid,
            priority,
            interval_cs,
            addresses: addresses.to_vec(),
        }
    }
}

/// Which VRRPv3/IPv4 checksum form a received advert used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChecksumForm {
    WithPseudoHeader,
    MessageOnly,
}

/// A decoded, checked advert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub advert: Advert,
    /// Only for VRRPv3 over IPv4.
    pub checksum_form: Option<ChecksumForm>,
}

impl std::ops::Deref for Decoded {
    type Target = Advert;
    fn deref(&self) -> &Advert {
        &self.advert
    }
}

/// Why a received packet was dropped. One variant (and one counter) per reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("TTL/hop limit {0}, expected 255")]
    BadTtl(u8),
    #[error("shorter than a VRRP header ({0} bytes)")]
    Truncated(usize),
    #[error("larger than {MAX_ADVERT_LEN} bytes ({0})")]
    Oversized(usize),
    #[error("version {0} where {1} is configured")]
    BadVersion(u8, u8),
    #[error("type {0}, expected 1 (advertisement)")]
    BadType(u8),
    /// RFC 9568 section 5.2.5 (and verified erratum 8299 to section 7.1): the minimum count is
    /// 1, and an advert with none MUST be discarded.
    #[error("address count 0 (the minimum is 1)")]
    NoAddresses,
    #[error("count {count} needs {needed} bytes, {present} present")]
    BadLength {
        count: u8,
        needed: usize,
        present: usize,
    },
    #[error("checksum {found:#06x} does not verify")]
    BadChecksum { found: u16 },
    #[error("VRRPv2 authentication type {0}, only 0 is supported")]
    BadAuthType(u8),
    #[error("sent to {0}, not to the VRRP group (or in unicast mode to us)")]
    BadDestination(IpAddr),
}

fn addr_len(ip: IpAddr) -> usize {
    match ip {
        IpAddr::V4(_) => 4,
        IpAddr::V6(_) => 16,
    }
}

/// Ones-complement sum of 16-bit words.
fn sum16(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

fn pseudo_sum(src: IpAddr, dst: IpAddr, len: usize, proto: u8) -> u32 {
    let mut acc = 0;
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            acc = sum16(&s.octets(), acc);
            acc = sum16(&d.octets(), acc);
            acc += u32::from(proto);
            acc += len as u32;
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            acc = sum16(&s.octets(), acc);
            acc = sum16(&d.octets(), acc);
            acc += len as u32;
            acc += u32::from(proto);
        }
        _ => {}
    }
    acc
}

/// Internet checksum of `msg` (checksum field zeroed by the caller), with or without a
/// pseudo-header.
pub fn checksum(msg: &[u8], pseudo: Option<(IpAddr, IpAddr, u8)>) -> u16 {
    let acc = match pseudo {
        Some((s, d, proto)) => pseudo_sum(s, d, msg.len(), proto),
        None => 0,
    };
    fold(sum16(msg, acc))
}

/// Encode the VRRP message (no IP header). `src`/`dst` feed the pseudo-header.
pub fn encode(advert: &Advert, src: IpAddr, dst: IpAddr, pseudo_header_v4: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + advert.addresses.len() * 16 + V2_AUTH_LEN);
    encode_into(
        &mut out,
        &AdvertFields {
            version: advert.version,
            vrid: advert.vrid,
            priority: advert.priority,
            interval_cs: advert.interval_cs,
            addresses: &advert.addresses,
        },
        src,
        dst,
        pseudo_header_v4,
    );
    out
}

/// An advert's fields by reference: what the send path encodes from without building an
/// [`Advert`] (whose address list would be a heap copy per advert).
#[derive(Debug, Clone, Copy)]
pub struct AdvertFields<'a> {
    pub version: u8,
    pub vrid: u8,
    pub priority: u8,
    pub interval_cs: u16,
    pub addresses: &'a [IpAddr],
}

/// Append the VRRP message for `advert` to `out` (whatever `out` holds before is left alone
/// and not covered by the checksum).
pub fn encode_into(
    out: &mut Vec<u8>,
    advert: &AdvertFields<'_>,
    src: IpAddr,
    dst: IpAddr,
    pseudo_header_v4: bool,
) {
    let start = out.len();
    let count = advert.addresses.len().min(255);
    out.push((advert.version << 4) | TYPE_ADVERTISEMENT);
    out.push(advert.vrid);
    out.push(advert.priority);
    out.push(count as u8);
    if advert.version == 2 {
        out.push(0); // auth type 0
        out.push(u8::try_from(advert.interval_cs / 100).unwrap_or(u8::MAX));
    } else {
        out.extend_from_slice(&(advert.interval_cs & 0x0fff).to_be_bytes());
    }
    out.extend_from_slice(&[0, 0]);
    for a in advert.addresses.iter().take(count) {
        match a {
            IpAddr::V4(v) => out.extend_from_slice(&v.octets()),
            IpAddr::V6(v) => out.extend_from_slice(&v.octets()),
        }
    }
    if advert.version == 2 {
        out.extend_from_slice(&[0; V2_AUTH_LEN]);
    }
    let pseudo = match (advert.version, src) {
        (2, _) => None,
        (_, IpAddr::V6(_)) => Some((src, dst, VRRP_PROTOCOL)),
        (_, IpAddr::V4(_)) if pseudo_header_v4 => Some((src, dst, VRRP_PROTOCOL)),
        _ => None,
    };
    let ck = checksum(&out[start..], pseudo);
    out[start + 6..start + 8].copy_from_slice(&ck.to_be_bytes());
}

/// What the receiver knows about a packet besides its bytes.
#[derive(Debug, Clone, Copy)]
pub struct RxContext {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// TTL / hop limit as received.
    pub ttl: u8,
    /// The version configured for the router the packet is for.
    pub version: u8,
}

/// Decode and check one received VRRP message (RFC 9568 section 7.1 order: TTL, version,
/// type, length, checksum; the VRID is the caller's, who knows the configured ones).
pub fn decode(payload: &[u8], ctx: &RxContext) -> Result<Decoded, DecodeError> {
    let group: IpAddr = match ctx.dst {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12)),
    };
    decode_to(payload, ctx, group)
}

/// [`decode`] for a packet that must have been sent to `expected` (unicast mode: our own
/// address instead of the VRRP group).
pub fn decode_to(
    payload: &[u8],
    ctx: &RxContext,
    expected: IpAddr,
) -> Result<Decoded, DecodeError> {
    if ctx.ttl != 255 {
        return Err(DecodeError::BadTtl(ctx.ttl));
    }
    if payload.len() < HEADER_LEN {
        return Err(DecodeError::Truncated(payload.len()));
    }
    if payload.len() > MAX_ADVERT_LEN {
        return Err(DecodeError::Oversized(payload.len()));
    }
    if ctx.dst != expected {
        return Err(DecodeError::BadDestination(ctx.dst));
    }
    let version = payload[0] >> 4;
    if version != ctx.version {
        return Err(DecodeError::BadVersion(version, ctx.version));
    }
    let kind = payload[0] & 0x0f;
    if kind != TYPE_ADVERTISEMENT {
        return Err(DecodeError::BadType(kind));
    }
    let count = payload[3];
    if count == 0 {
        return Err(DecodeError::NoAddresses);
    }
    let alen = addr_len(ctx.src);
    let trailer = if version == 2 { V2_AUTH_LEN } else { 0 };
    let needed = HEADER_LEN + usize::from(count) * alen + trailer;
    // RFC 3768 lets v2 senders omit the authentication data; accept exactly with or without.
    let v2_no_auth = version == 2 && payload.len() == needed - V2_AUTH_LEN;
    if payload.len() != needed && !v2_no_auth {
        return Err(DecodeError::BadLength {
            count,
            needed,
            present: payload.len(),
        });
    }
    let found = u16::from_be_bytes([payload[6], payload[7]]);
    let verifies = |pseudo: Option<(IpAddr, IpAddr, u8)>| {
        let acc = match pseudo {
            Some((s, d, p)) => pseudo_sum(s, d, payload.len(), p),
            None => 0,
        };
        fold(sum16(payload, acc)) == 0
    };
    let checksum_form = match (version, ctx.src) {
        (2, _) => {
            if !verifies(None) {
                return Err(DecodeError::BadChecksum { found });
            }
            None
        }
        (_, IpAddr::V6(_)) => {
            if !verifies(Some((ctx.src, ctx.dst, VRRP_PROTOCOL))) {
                return Err(DecodeError::BadChecksum { found });
            }
            None
        }
        (_, IpAddr::V4(_)) => {
            if verifies(Some((ctx.src, ctx.dst, VRRP_PROTOCOL))) {
                Some(ChecksumForm::WithPseudoHeader)
            } else if verifies(None) {
                Some(ChecksumForm::MessageOnly)
            } else {
                return Err(DecodeError::BadChecksum { found });
            }
        }
    };
    let interval_cs = if version == 2 {
        if payload[4] != 0 {
            return Err(DecodeError::BadAuthType(payload[4]));
        }
        u16::from(payload[5]) * 100
    } else {
        u16::from_be_bytes([payload[4], payload[5]]) & 0x0fff
    };
    let mut addresses = Vec::with_capacity(usize::from(count));
    for chunk in payload[HEADER_LEN..HEADER_LEN + usize::from(count) * alen].chunks_exact(alen) {
        addresses.push(match alen {
            4 => IpAddr::V4(Ipv4Addr::new(chunk[0], chunk[1], chunk[2], chunk[3])),
            _ => {
                let mut o = [0u8; 16];
                o.copy_from_slice(chunk);
                IpAddr::V6(Ipv6Addr::from(o))
            }
        });
    }
    Ok(Decoded {
        advert: Advert {
            version,
            vrid: payload[1],
            priority: payload[2],
            interval_cs,
            addresses,
        },
        checksum_form,
    })
}

/// An IPv4 packet around `payload` (no options): TOS 0xc0 (network control), DF set with
/// identification 0 (an atomic datagram, RFC 6864), TTL 255, header checksum filled in.
pub fn ipv4_packet(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; IPV4_HEADER_LEN];
    p.extend_from_slice(payload);
    write_ipv4_header(&mut p, src, dst, protocol);
    p
}

pub const IPV4_HEADER_LEN: usize = 20;
pub const IPV6_HEADER_LEN: usize = 40;

/// Fill in the IPv4 header at the start of `packet` (its first [`IPV4_HEADER_LEN`] bytes,
/// reserved by the caller) for the payload that follows it; see [`ipv4_packet`].
pub fn write_ipv4_header(packet: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr, protocol: u8) {
    let total = u16::try_from(packet.len()).unwrap_or(u16::MAX);
    let h = &mut packet[..IPV4_HEADER_LEN];
    h[0..2].copy_from_slice(&[0x45, 0xc0]);
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[4..8].copy_from_slice(&[0, 0, 0x40, 0]); // identification 0, DF, fragment offset 0
    h[8] = 255;
    h[9] = protocol;
    h[10..12].copy_from_slice(&[0, 0]);
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let ck = checksum(h, None);
    h[10..12].copy_from_slice(&ck.to_be_bytes());
}

/// An IPv6 packet around `payload`: traffic class 0xc0 (network control), hop limit 255.
pub fn ipv6_packet(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; IPV6_HEADER_LEN];
    p.extend_from_slice(payload);
    write_ipv6_header(&mut p, src, dst, next_header);
    p
}

/// Fill in the IPv6 header at the start of `packet` (its first [`IPV6_HEADER_LEN`] bytes,
/// reserved by the caller) for the payload that follows it; see [`ipv6_packet`].
pub fn write_ipv6_header(packet: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr, next_header: u8) {
    let payload_len =
        u16::try_from(packet.len().saturating_sub(IPV6_HEADER_LEN)).unwrap_or(u16::MAX);
    let h = &mut packet[..IPV6_HEADER_LEN];
    // version 6, traffic class 0xc0, flow label 0
    h[0..4].copy_from_slice(&[0x6c, 0x00, 0x00, 0x00]);
    h[4..6].copy_from_slice(&payload_len.to_be_bytes());
    h[6] = next_header;
    h[7] = 255;
    h[8..24].copy_from_slice(&src.octets());
    h[24..40].copy_from_slice(&dst.octets());
}

/// The 28-byte ARP payload of a gratuitous ARP request for `vip` from `vmac` (sender and
/// target protocol address both the VIP, as keepalived and FRR send; the Ethernet header,
/// broadcast, is added by the packet socket).
pub fn gratuitous_arp(vmac: crate::types::MacAddr, vip: Ipv4Addr) -> [u8; 28] {
    let mut p = [0u8; 28];
    p[0..2].copy_from_slice(&1u16.to_be_bytes()); // Ethernet
    p[2..4].copy_from_slice(&0x0800u16.to_be_bytes()); // IPv4
    p[4] = 6;
    p[5] = 4;
    p[6..8].copy_from_slice(&1u16.to_be_bytes()); // request
    p[8..14].copy_from_slice(&vmac.octets());
    p[14..18].copy_from_slice(&vip.octets());
    // target hardware address stays zero
    p[24..28].copy_from_slice(&vip.octets());
    p
}

/// ICMPv6 Neighbor Advertisement for `target` with the Router and Override flags and a
/// target link-layer address option carrying `vmac`, checksum left zero (the caller fills it
/// in over the pseudo-header of the packet it builds).
pub fn unsolicited_na(vmac: crate::types::MacAddr, target: Ipv6Addr) -> [u8; 32] {
    let mut p = [0u8; 32];
    p[0] = 136; // Neighbor Advertisement
    p[4] = 0x80 | 0x20; // R (router) and O (override); S is clear: nobody solicited
    p[8..24].copy_from_slice(&target.octets());
    p[24] = 2; // target link-layer address option
    p[25] = 1; // length in units of 8 bytes
    p[26..32].copy_from_slice(&vmac.octets());
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const SRC4: &str = "10.99.0.1";
    const VIP4: &str = "10.99.0.254";
    const VIP6: &str = "2001:db8:99::254";

    fn ctx(src: &str, version: u8) -> RxContext {
        let src: IpAddr = src.parse().unwrap();
        let dst = match src {
            IpAddr::V4(_) => "224.0.0.18".parse().unwrap(),
            IpAddr::V6(_) => "ff02::12".parse().unwrap(),
        };
        RxContext {
            src,
            dst,
            ttl: 255,
            version,
        }
    }

    /// The VRRP payloads captured from keepalived 2.2.7 and FRR 8.4.4 (tests/vectors/*.txt,
    /// `vrrp_hex`): name, hex, source, version, priority, interval cs, checksum form.
    /// name, hex, source, version, priority, interval cs, checksum form.
    type Vector = (
        &'static str,
        &'static str,
        &'static str,
        u8,
        u8,
        u16,
        Option<ChecksumForm>,
    );

    fn vectors() -> Vec<Vector> {
        use ChecksumForm::WithPseudoHeader as P;
        vec![
            (
                "frr-v2-ipv4",
                "210ac80100010b920a6300fe0000000000000000",
                SRC4,
                2,
                200,
                100,
                None,
            ),
            (
                "frr-v3-ipv4-100ms",
                "310ac801000a10960a6300fe",
                SRC4,
                3,
                200,
                10,
                Some(P),
            ),
            (
                "frr-v3-ipv4-prio0",
                "310a00010064d83c0a6300fe",
                SRC4,
                3,
                0,
                100,
                Some(P),
            ),
            (
                "frr-v3-ipv4",
                "310ac8010064103c0a6300fe",
                SRC4,
                3,
                200,
                100,
                Some(P),
            ),
            (
                "frr-v3-ipv6",
                "310ac801006436a320010db8009900000000000000000254",
                "fe80::6227:224d:b6b3:6600",
                3,
                200,
                100,
                None,
            ),
            (
                "keepalived-v2-ipv4",
                "210ac80100010b920a6300fe0000000000000000",
                SRC4,
                2,
                200,
                100,
                None,
            ),
            (
                "keepalived-v3-ipv4-100ms",
                "310ac801000a10960a6300fe",
                SRC4,
                3,
                200,
                10,
                Some(P),
            ),
            (
                "keepalived-v3-ipv4-prio0",
                "310a00010064d83c0a6300fe",
                SRC4,
                3,
                0,
                100,
                Some(P),
            ),
            (
                "keepalived-v3-ipv4",
                "310ac8010064103c0a6300fe",
                SRC4,
                3,
                200,
                100,
                Some(P),
            ),
            (
                "keepalived-v3-ipv6",
                "310ac8010064d83120010db8009900000000000000000254",
                "fe80::99:ff:fe00:1",
                3,
                200,
                100,
                None,
            ),
        ]
    }

    #[test]
    fn captured_vectors_decode_and_reencode_bit_for_bit() {
        for (name, h, src, version, prio, interval, form) in vectors() {
            let bytes = hex(h);
            let c = ctx(src, version);
            let d = decode(&bytes, &c).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(d.vrid, 10, "{name}");
            assert_eq!(d.priority, prio, "{name}");
            assert_eq!(d.interval_cs, interval, "{name}");
            assert_eq!(d.checksum_form, form, "{name}");
            let vip: IpAddr = if src.contains(':') { VIP6 } else { VIP4 }.parse().unwrap();
            assert_eq!(d.addresses, vec![vip], "{name}");
            let again = encode(&d.advert, c.src, c.dst, true);
            assert_eq!(again, bytes, "{name}: re-encoding differs");
        }
    }

    #[test]
    fn message_only_form_is_sent_on_request_and_accepted() {
        let a = Advert::new(3, 10, 200, 100, &[VIP4.parse().unwrap()]);
        let c = ctx(SRC4, 3);
        let bytes = encode(&a, c.src, c.dst, false);
        // The lab measured 0xfb2e for this message without the pseudo-header.
        assert_eq!(&bytes[6..8], &[0xfb, 0x2e]);
        let d = decode(&bytes, &c).unwrap();
        assert_eq!(d.checksum_form, Some(ChecksumForm::MessageOnly));
    }

    // ledger: R9568-5.1.1.2-a R9568-5.1.1.3-b R9568-5.2.1-a R9568-5.2.2-a R9568-5.2.5-a
    // ledger: R9568-7.1-a R9568-7.1-b R9568-7.1-c R9568-7.1-g R9568-7.1-i R9568-7.1-l R9568-8.4-a
    // ledger: R3768-5.3.1-a
    // ledger: R3768-5.3.8-a R3768-7.1-a R3768-7.1-b R3768-7.1-c R3768-7.1-d R3768-7.1-f
    #[test]
    fn each_malformation_has_its_own_error() {
        let good = hex("310ac8010064103c0a6300fe");
        let c = ctx(SRC4, 3);
        assert_eq!(
            decode(&good, &RxContext { ttl: 254, ..c }),
            Err(DecodeError::BadTtl(254))
        );
        assert_eq!(decode(&good[..7], &c), Err(DecodeError::Truncated(7)));
        assert_eq!(
            decode(&good, &RxContext { version: 2, ..c }),
            Err(DecodeError::BadVersion(3, 2))
        );
        let mut t = good.clone();
        t[0] = 0x32;
        assert_eq!(decode(&t, &c), Err(DecodeError::BadType(2)));
        let mut n = good.clone();
        n[3] = 2;
        assert!(matches!(
            decode(&n, &c),
            Err(DecodeError::BadLength { count: 2, .. })
        ));
        // Count 0 with no address: consistent length, still discarded (erratum 8299).
        let mut zero = good[..8].to_vec();
        zero[3] = 0;
        zero[6] = 0;
        zero[7] = 0;
        let ck0 = checksum(&zero, None);
        zero[6..8].copy_from_slice(&ck0.to_be_bytes());
        assert_eq!(decode(&zero, &c), Err(DecodeError::NoAddresses));
        let mut extra = good.clone();
        extra.extend_from_slice(&[0, 0, 0, 0]);
        assert!(matches!(
            decode(&extra, &c),
            Err(DecodeError::BadLength { .. })
        ));
        let mut ck = good.clone();
        ck[7] ^= 1;
        assert!(matches!(
            decode(&ck, &c),
            Err(DecodeError::BadChecksum { .. })
        ));
        let mut v2 = hex("210ac80100010b920a6300fe0000000000000000");
        v2[4] = 1; // auth type 1, checksum fixed up so only the auth type is wrong
        v2[6] = 0;
        v2[7] = 0;
        let ck2 = checksum(&v2, None);
        v2[6..8].copy_from_slice(&ck2.to_be_bytes());
        assert_eq!(
            decode(&v2, &RxContext { version: 2, ..c }),
            Err(DecodeError::BadAuthType(1))
        );
        assert_eq!(
            decode(&vec![0x31; 2000], &c),
            Err(DecodeError::Oversized(2000))
        );
        assert!(matches!(
            decode(
                &good,
                &RxContext {
                    dst: "10.99.0.2".parse().unwrap(),
                    ..c
                }
            ),
            Err(DecodeError::BadDestination(_))
        ));
    }

    /// Unicast mode: the advert must be addressed to us (and its checksum covers that
    /// destination); one sent to the group, or to somebody else, is refused.
    #[test]
    fn unicast_destination() {
        let (src, us): (IpAddr, IpAddr) = ("fe80::2".parse().unwrap(), "fe80::1".parse().unwrap());
        let advert = Advert::new(3, 10, 200, 100, &["2001:db8::10".parse().unwrap()]);
        let bytes = encode(&advert, src, us, false);
        let c = RxContext {
            src,
            dst: us,
            ttl: 255,
            version: 3,
        };
        assert_eq!(
            decode_to(&bytes, &c, us).map(|d| d.advert.priority),
            Ok(200)
        );
        assert_eq!(decode(&bytes, &c), Err(DecodeError::BadDestination(us)));
        let other: IpAddr = "fe80::3".parse().unwrap();
        assert_eq!(
            decode_to(&bytes, &RxContext { dst: other, ..c }, us),
            Err(DecodeError::BadDestination(other))
        );
        let v4 = Advert::new(3, 10, 200, 100, &["192.0.2.10".parse().unwrap()]);
        let (s4, d4): (IpAddr, IpAddr) =
            ("192.0.2.2".parse().unwrap(), "192.0.2.1".parse().unwrap());
        let bytes = encode(&v4, s4, d4, true);
        let c4 = RxContext {
            src: s4,
            dst: d4,
            ttl: 255,
            version: 3,
        };
        assert!(decode_to(&bytes, &c4, d4).is_ok());
        assert_eq!(
            decode_to(&bytes, &RxContext { ttl: 64, ..c4 }, d4),
            Err(DecodeError::BadTtl(64))
        );
    }

    /// Ledger: R9568-5.1.2.3-b (hop limit 255 required), R9568-5.2.8-a (IPv6: the checksum
    /// covers the pseudo-header; message-only is refused), R9568-7.1-d.
    #[test]
    fn ipv6_hop_limit_and_pseudo_header_checksum() {
        let src = "fe80::99:ff:fe00:1";
        let good = hex("310ac8010064d83120010db8009900000000000000000254");
        let c = ctx(src, 3);
        assert!(decode(&good, &c).is_ok());
        assert_eq!(
            decode(&good, &RxContext { ttl: 64, ..c }),
            Err(DecodeError::BadTtl(64))
        );
        let mut msg_only = good.clone();
        msg_only[6..8].copy_from_slice(&[0, 0]);
        let ck = checksum(&msg_only, None);
        msg_only[6..8].copy_from_slice(&ck.to_be_bytes());
        assert!(matches!(
            decode(&msg_only, &c),
            Err(DecodeError::BadChecksum { .. })
        ));
    }

    /// Ledger: R9568-5.2.9-b. An advert's addresses are all of the IP header's family: the
    /// receiver reads them with that family's length, so IPv6 addresses behind an IPv4 header
    /// (or the reverse) never decode as addresses of the other family.
    #[test]
    fn addresses_take_the_family_of_the_ip_header() {
        let v6: Vec<IpAddr> = vec!["fe80::1".parse().unwrap(), VIP6.parse().unwrap()];
        let c6 = ctx("fe80::99:ff:fe00:1", 3);
        let bytes = encode(&Advert::new(3, 10, 200, 100, &v6), c6.src, c6.dst, true);
        let d = decode(&bytes, &c6).unwrap();
        assert_eq!(d.addresses, v6);
        assert!(d.addresses.iter().all(IpAddr::is_ipv6));
        // The same message behind an IPv4 header: count 2 needs 8 address bytes, 32 are there.
        let c4 = ctx(SRC4, 3);
        let mut as_v4 = bytes.clone();
        as_v4[6..8].copy_from_slice(&[0, 0]);
        let ck = checksum(&as_v4, Some((c4.src, c4.dst, VRRP_PROTOCOL)));
        as_v4[6..8].copy_from_slice(&ck.to_be_bytes());
        assert!(matches!(
            decode(&as_v4, &c4),
            Err(DecodeError::BadLength { count: 2, .. })
        ));
        let v4: Vec<IpAddr> = vec![VIP4.parse().unwrap(), SRC4.parse().unwrap()];
        let bytes = encode(&Advert::new(3, 10, 200, 100, &v4), c4.src, c4.dst, true);
        let d = decode(&bytes, &c4).unwrap();
        assert_eq!(d.addresses, v4);
        assert!(d.addresses.iter().all(IpAddr::is_ipv4));
    }

    /// Ledger: R9568-5.2.6-a (reserved bits zero on send), R9568-5.2.6-b (ignored on receipt).
    #[test]
    fn reserved_bits_zero_on_send_ignored_on_receive() {
        let a = Advert::new(3, 10, 200, 0xffff, &[VIP4.parse().unwrap()]);
        let c = ctx(SRC4, 3);
        let bytes = encode(&a, c.src, c.dst, true);
        assert_eq!(bytes[4] >> 4, 0, "reserved bits sent as zero");
        assert_eq!(decode(&bytes, &c).unwrap().interval_cs, 0x0fff);
        let mut rsvd = hex("310ac8010064103c0a6300fe");
        rsvd[4] |= 0xf0;
        // Fix the checksum up so that only the reserved bits differ.
        rsvd[6..8].copy_from_slice(&[0, 0]);
        let ck = checksum(&rsvd, Some((c.src, c.dst, VRRP_PROTOCOL)));
        rsvd[6..8].copy_from_slice(&ck.to_be_bytes());
        let d = decode(&rsvd, &c).expect("reserved bits must be ignored");
        assert_eq!(d.interval_cs, 100);
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..20_000 {
            let len = (next() % 80) as usize;
            let mut buf: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if round % 2 == 0 && !buf.is_empty() {
                buf[0] = 0x31; // get past the version check more often
            }
            for (src, version) in [(SRC4, 3), ("fe80::1", 3), (SRC4, 2)] {
                let _ = decode(&buf, &ctx(src, version));
            }
        }
    }

    // ledger: R9568-5.1.1.3-a R9568-7.2-b
    #[test]
    fn ipv4_header_for_adverts() {
        let src: Ipv4Addr = SRC4.parse().unwrap();
        let dst = Ipv4Addr::new(224, 0, 0, 18);
        let msg = hex("310ac8010064103c0a6300fe");
        let p = ipv4_packet(src, dst, VRRP_PROTOCOL, &msg);
        assert_eq!(p.len(), 32);
        assert_eq!(&p[..2], &[0x45, 0xc0]);
        assert_eq!(u16::from_be_bytes([p[2], p[3]]), 32);
        assert_eq!((p[8], p[9]), (255, VRRP_PROTOCOL));
        assert_eq!(checksum(&p[..20], None), 0, "header checksum verifies");
        assert_eq!(&p[12..16], &src.octets());
        assert_eq!(&p[16..20], &dst.octets());
        assert_eq!(&p[20..], &msg[..]);
        // What the receive side parses back.
        let (s, d, ttl, payload) = crate::vrrp::net::parse_ipv4(&p).unwrap();
        assert_eq!((s, d, ttl, payload), (src, dst, 255, &msg[..]));
    }

    // ledger: R9568-6.4.1-b R9568-8.2.2-e
    #[test]
    fn gratuitous_payloads() {
        let vmac = crate::types::MacAddr::vrrp(crate::types::Family::Ipv4, 10);
        let arp = gratuitous_arp(vmac, VIP4.parse().unwrap());
        assert_eq!(&arp[8..14], &vmac.octets());
        assert_eq!(&arp[14..18], &arp[24..28]);
        let na = unsolicited_na(vmac, VIP6.parse().unwrap());
        assert_eq!(na[0], 136);
        assert_eq!(na[4], 0xa0);
        assert_eq!(&na[26..32], &vmac.octets());
    }
}
