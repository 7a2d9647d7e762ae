//! A small reader for classic pcap files (what `tcpdump -w` writes) and a decoder for the
//! frames the interop tests care about: VRRP v2/v3 over IPv4/IPv6, ARP, ICMP and ICMPv6.
//!
//! Pure Rust on purpose: the format is a 24-byte header plus 16-byte records, and decoding
//! here (rather than asking tcpdump to print) means the tests check the bytes themselves,
//! including both VRRPv3 checksum forms, which tcpdump cannot report.
//!
//! The reader tolerates a truncated last record, so a capture that tcpdump (`-U`) is still
//! writing can be read while a test polls it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const ETH_P_IP: u16 = 0x0800;
const ETH_P_ARP: u16 = 0x0806;
const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_8021Q: u16 = 0x8100;
const IPPROTO_ICMP: u8 = 1;
const IPPROTO_ICMPV6: u8 = 58;
pub const IPPROTO_VRRP: u8 = 112;
const LINKTYPE_ETHERNET: u32 = 1;

/// An Ethernet address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// The VRRP virtual MAC of `vrid`: 00:00:5e:00:01:VRID (IPv4) / 00:00:5e:00:02:VRID (IPv6).
    pub fn vrrp(family: Family, vrid: u8) -> Mac {
        let f = match family {
            Family::V4 => 1,
            Family::V6 => 2,
        };
        Mac([0, 0, 0x5e, 0, f, vrid])
    }

    /// Is this any VRRP virtual MAC (either family)?
    pub fn is_vrrp(&self) -> bool {
        self.0[..4] == [0, 0, 0x5e, 0] && (self.0[4] == 1 || self.0[4] == 2)
    }

    /// Parses "aa:bb:cc:dd:ee:ff".
    pub fn parse(s: &str) -> Option<Mac> {
        let mut m = [0u8; 6];
        let mut parts = s.split(':');
        for b in m.iter_mut() {
            *b = u8::from_str_radix(parts.next()?, 16).ok()?;
        }
        parts.next().is_none().then_some(Mac(m))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Address family of a VRRP instance.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Family {
    V4,
    V6,
}

/// Which checksum a VRRP advert carries. VRRPv3 over IPv4 is ambiguous in practice: keepalived
/// 2.2.7 and FRR 8.4.4 include the IPv4 pseudo-header, RFC 9568 and some vendors do not.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Checksum {
    /// Valid when computed over the IP pseudo-header + message (VRRPv3; the only form for IPv6).
    PseudoHeader,
    /// Valid when computed over the message only (VRRPv2; RFC 9568 VRRPv3/IPv4).
    MessageOnly,
    /// Valid in neither form.
    Bad,
}

/// A decoded VRRP advertisement.
#[derive(Clone, Debug, PartialEq)]
pub struct Vrrp {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit (RFC: must be 255).
    pub ttl: u8,
    /// IPv4 TOS / IPv6 traffic class.
    pub tos: u8,
    pub version: u8,
    /// VRRP message type (1 = advertisement).
    pub kind: u8,
    pub vrid: u8,
    pub priority: u8,
    /// "Count IPvX Addr" field as sent.
    pub count: u8,
    /// The interval field in wire units: centiseconds for v3 (12 bits), seconds for v2.
    pub adver_int: u16,
    /// VRRPv2 authentication type; None for v3.
    pub auth_type: Option<u8>,
    pub checksum: u16,
    pub checksum_form: Checksum,
    /// The addresses in the advert (as many as fit, whatever `count` says).
    pub addrs: Vec<IpAddr>,
    /// The VRRP message bytes (IP payload).
    pub message: Vec<u8>,
}

impl Vrrp {
    pub fn family(&self) -> Family {
        if self.src.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        }
    }

    /// The advertisement interval as a duration (v3 centiseconds, v2 seconds).
    pub fn interval(&self) -> Duration {
        if self.version == 2 {
            Duration::from_secs(self.adver_int.into())
        } else {
            Duration::from_millis(u64::from(self.adver_int) * 10)
        }
    }
}

/// A decoded ARP packet (Ethernet/IPv4 only).
#[derive(Clone, Debug, PartialEq)]
pub struct Arp {
    /// 1 = request, 2 = reply.
    pub op: u16,
    pub sender_mac: Mac,
    pub sender_ip: Ipv4Addr,
    pub target_mac: Mac,
    pub target_ip: Ipv4Addr,
}

impl Arp {
    /// Gratuitous ARP: sender address = target address (what a new VRRP master sends).
    pub fn is_gratuitous(&self) -> bool {
        self.sender_ip == self.target_ip
    }
}

/// A decoded ICMP or ICMPv6 packet (header fields only, plus the rest of the message).
#[derive(Clone, Debug, PartialEq)]
pub struct Icmp {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub ttl: u8,
    /// ICMP type (e.g. 0/8 echo reply/request; ICMPv6 128/129 echo, 135/136 NS/NA).
    pub kind: u8,
    pub code: u8,
    /// The message after the 4-byte type/code/checksum header.
    pub body: Vec<u8>,
}

impl Icmp {
    /// Target address of an ICMPv6 neighbour solicitation (135) or advertisement (136).
    pub fn nd_target(&self) -> Option<Ipv6Addr> {
        if !matches!(self.kind, 135 | 136) || self.body.len() < 20 || self.src.is_ipv4() {
            return None;
        }
        Some(Ipv6Addr::from(
            <[u8; 16]>::try_from(&self.body[4..20]).ok()?,
        ))
    }

    /// Flags byte of a neighbour advertisement: 0x80 Router, 0x40 Solicited, 0x20 Override.
    pub fn na_flags(&self) -> Option<u8> {
        (self.kind == 136 && self.src.is_ipv6() && !self.body.is_empty()).then(|| self.body[0])
    }

    /// The link-layer address option (source 1 / target 2) of an ND message.
    pub fn nd_lladdr(&self, option: u8) -> Option<Mac> {
        let mut opts = self.body.get(20..)?;
        while opts.len() >= 8 {
            let len = usize::from(opts[1]) * 8;
            if len == 0 || len > opts.len() {
                return None;
            }
            if opts[0] == option {
                return Some(Mac(opts[2..8].try_into().ok()?));
            }
            opts = &opts[len..];
        }
        None
    }
}

/// What a frame carries, as far as the tests care.
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    Vrrp(Vrrp),
    Arp(Arp),
    Icmp(Icmp),
    Icmp6(Icmp),
    Other,
}

/// One captured frame.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// Capture time (tcpdump: CLOCK_REALTIME, so comparable with `SystemTime::now()`).
    pub ts: SystemTime,
    pub src_mac: Mac,
    pub dst_mac: Mac,
    /// The innermost ethertype (after an 802.1Q tag, if any).
    pub ethertype: u16,
    pub payload: Payload,
    /// The whole frame as captured.
    pub raw: Vec<u8>,
}

impl Frame {
    pub fn vrrp(&self) -> Option<&Vrrp> {
        match &self.payload {
            Payload::Vrrp(v) => Some(v),
            _ => None,
        }
    }

    pub fn arp(&self) -> Option<&Arp> {
        match &self.payload {
            Payload::Arp(a) => Some(a),
            _ => None,
        }
    }

    /// ICMP or ICMPv6.
    pub fn icmp(&self) -> Option<&Icmp> {
        match &self.payload {
            Payload::Icmp(i) | Payload::Icmp6(i) => Some(i),
            _ => None,
        }
    }

    /// Seconds since the epoch, for log lines that line up with tcpdump's.
    pub fn secs(&self) -> f64 {
        self.ts
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    }
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.6} {} > {} ", self.secs(), self.src_mac, self.dst_mac)?;
        match &self.payload {
            Payload::Vrrp(v) => write!(
                f,
                "VRRPv{} {} > {} ttl {} vrid {} prio {} intvl {} {:?} addrs {:?}",
                v.version,
                v.src,
                v.dst,
                v.ttl,
                v.vrid,
                v.priority,
                v.adver_int,
                v.checksum_form,
                v.addrs
            ),
            Payload::Arp(a) => write!(
                f,
                "ARP op {} {} ({}) -> {} ({})",
                a.op, a.sender_ip, a.sender_mac, a.target_ip, a.target_mac
            ),
            Payload::Icmp(i) | Payload::Icmp6(i) => {
                write!(f, "ICMP type {} {} > {}", i.kind, i.src, i.dst)
            }
            Payload::Other => write!(f, "ethertype {:#06x}", self.ethertype),
        }
    }
}

/// Reads a pcap file. See [`parse`].
pub fn read(path: &Path) -> Result<Vec<Frame>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses a classic pcap (either byte order, microsecond or nanosecond timestamps) of
/// Ethernet frames. A file shorter than the global header (tcpdump has not flushed it yet)
/// yields no frames; a truncated last record is ignored.
pub fn parse(bytes: &[u8]) -> Result<Vec<Frame>, String> {
    if bytes.len() < 24 {
        return Ok(Vec::new());
    }
    let magic: [u8; 4] = bytes[..4].try_into().unwrap();
    let (big_endian, nano) = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] => (false, false),
        [0xa1, 0xb2, 0xc3, 0xd4] => (true, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => (false, true),
        [0xa1, 0xb2, 0x3c, 0x4d] => (true, true),
        [0x0a, 0x0d, 0x0d, 0x0a] => return Err("pcapng is not supported (use tcpdump -w)".into()),
        _ => return Err(format!("not a pcap file (magic {magic:02x?})")),
    };
    let u32_at = |off: usize| {
        let b: [u8; 4] = bytes[off..off + 4].try_into().unwrap();
        if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    // The upper bits of the link type field carry FCS information (pcap spec).
    let linktype = u32_at(20) & 0x0fff_ffff;
    if linktype != LINKTYPE_ETHERNET {
        return Err(format!("link type {linktype} is not Ethernet"));
    }
    let mut frames = Vec::new();
    let mut off = 24;
    while off + 16 <= bytes.len() {
        let (sec, frac, incl) = (u32_at(off), u32_at(off + 4), u32_at(off + 8) as usize);
        off += 16;
        if off + incl > bytes.len() {
            break; // still being written
        }
        let sub = if nano {
            Duration::from_nanos(frac.into())
        } else {
            Duration::from_micros(frac.into())
        };
        let ts = UNIX_EPOCH + Duration::from_secs(sec.into()) + sub;
        frames.push(decode_ethernet(ts, &bytes[off..off + incl]));
        off += incl;
    }
    Ok(frames)
}

/// Decodes one Ethernet frame. Anything malformed or uninteresting becomes `Payload::Other`
/// rather than an error: a capture on a shared bridge may hold anything.
pub fn decode_ethernet(ts: SystemTime, data: &[u8]) -> Frame {
    let mut frame = Frame {
        ts,
        src_mac: Mac::default(),
        dst_mac: Mac::default(),
        ethertype: 0,
        payload: Payload::Other,
        raw: data.to_vec(),
    };
    if data.len() < 14 {
        return frame;
    }
    frame.dst_mac = Mac(data[0..6].try_into().unwrap());
    frame.src_mac = Mac(data[6..12].try_into().unwrap());
    let mut ethertype = be16(&data[12..]);
    let mut l3 = &data[14..];
    if ethertype == ETH_P_8021Q && l3.len() >= 4 {
        ethertype = be16(&l3[2..]);
        l3 = &l3[4..];
    }
    frame.ethertype = ethertype;
    frame.payload = match ethertype {
        ETH_P_IP => decode_ipv4(l3),
        ETH_P_IPV6 => decode_ipv6(l3),
        ETH_P_ARP => decode_arp(l3),
        _ => None,
    }
    .unwrap_or(Payload::Other);
    frame
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn decode_ipv4(p: &[u8]) -> Option<Payload> {
    if p.len() < 20 || p[0] >> 4 != 4 {
        return None;
    }
    // Honour IHL (options) and the total length (Ethernet padding follows short packets).
    let ihl = usize::from(p[0] & 0x0f) * 4;
    let total = usize::from(be16(&p[2..]));
    if ihl < 20 || total < ihl || total > p.len() {
        return None;
    }
    let (tos, ttl, proto) = (p[1], p[8], p[9]);
    let src = Ipv4Addr::from(<[u8; 4]>::try_from(&p[12..16]).unwrap());
    let dst = Ipv4Addr::from(<[u8; 4]>::try_from(&p[16..20]).unwrap());
    let body = &p[ihl..total];
    match proto {
        IPPROTO_VRRP => {
            let mut pseudo = Vec::with_capacity(12);
            pseudo.extend_from_slice(&src.octets());
            pseudo.extend_from_slice(&dst.octets());
            pseudo.extend_from_slice(&[0, IPPROTO_VRRP]);
            pseudo.extend_from_slice(&(body.len() as u16).to_be_bytes());
            decode_vrrp(src.into(), dst.into(), ttl, tos, body, &pseudo).map(Payload::Vrrp)
        }
        IPPROTO_ICMP => decode_icmp(src.into(), dst.into(), ttl, body).map(Payload::Icmp),
        _ => None,
    }
}

fn decode_ipv6(p: &[u8]) -> Option<Payload> {
    if p.len() < 40 || p[0] >> 4 != 6 {
        return None;
    }
    let tclass = ((p[0] & 0x0f) << 4) | (p[1] >> 4);
    let plen = usize::from(be16(&p[4..]));
    let (mut next, hlim) = (p[6], p[7]);
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&p[8..24]).unwrap());
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&p[24..40]).unwrap());
    let mut body = p.get(40..40 + plen)?;
    // Skip hop-by-hop, routing and destination options headers (MLD reports carry a
    // hop-by-hop header); VRRP itself never has any.
    while matches!(next, 0 | 43 | 60) && body.len() >= 8 {
        let len = (usize::from(body[1]) + 1) * 8;
        next = body[0];
        body = body.get(len..)?;
    }
    match next {
        IPPROTO_VRRP => {
            let mut pseudo = Vec::with_capacity(40);
            pseudo.extend_from_slice(&src.octets());
            pseudo.extend_from_slice(&dst.octets());
            pseudo.extend_from_slice(&(body.len() as u32).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, IPPROTO_VRRP]);
            decode_vrrp(src.into(), dst.into(), hlim, tclass, body, &pseudo).map(Payload::Vrrp)
        }
        IPPROTO_ICMPV6 => decode_icmp(src.into(), dst.into(), hlim, body).map(Payload::Icmp6),
        _ => None,
    }
}

fn decode_vrrp(
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    tos: u8,
    m: &[u8],
    pseudo: &[u8],
) -> Option<Vrrp> {
    if m.len() < 8 {
        return None;
    }
    let version = m[0] >> 4;
    let (adver_int, auth_type) = match version {
        2 => (u16::from(m[5]), Some(m[4])),
        _ => (be16(&m[4..]) & 0x0fff, None),
    };
    let alen = if src.is_ipv4() { 4 } else { 16 };
    // v2 carries 8 bytes of authentication data after the addresses.
    let addr_bytes = if version == 2 {
        m.len().saturating_sub(8 + 8)
    } else {
        m.len() - 8
    };
    let addrs = m[8..8 + addr_bytes]
        .chunks_exact(alen)
        .map(|c| match <[u8; 4]>::try_from(c) {
            Ok(a) => IpAddr::from(a),
            Err(_) => IpAddr::from(<[u8; 16]>::try_from(c).unwrap()),
        })
        .collect();
    let checksum_form = if internet_checksum(&[pseudo, m]) == 0 {
        Checksum::PseudoHeader
    } else if internet_checksum(&[m]) == 0 {
        Checksum::MessageOnly
    } else {
        Checksum::Bad
    };
    Some(Vrrp {
        src,
        dst,
        ttl,
        tos,
        version,
        kind: m[0] & 0x0f,
        vrid: m[1],
        priority: m[2],
        count: m[3],
        adver_int,
        auth_type,
        checksum: be16(&m[6..]),
        checksum_form,
        addrs,
        message: m.to_vec(),
    })
}

fn decode_icmp(src: IpAddr, dst: IpAddr, ttl: u8, m: &[u8]) -> Option<Icmp> {
    (m.len() >= 4).then(|| Icmp {
        src,
        dst,
        ttl,
        kind: m[0],
        code: m[1],
        body: m[4..].to_vec(),
    })
}

fn decode_arp(p: &[u8]) -> Option<Payload> {
    // Ethernet/IPv4 ARP only: htype 1, ptype 0x0800, hlen 6, plen 4.
    if p.len() < 28 || be16(p) != 1 || be16(&p[2..]) != ETH_P_IP || p[4] != 6 || p[5] != 4 {
        return None;
    }
    Some(Payload::Arp(Arp {
        op: be16(&p[6..]),
        sender_mac: Mac(p[8..14].try_into().unwrap()),
        sender_ip: Ipv4Addr::from(<[u8; 4]>::try_from(&p[14..18]).unwrap()),
        target_mac: Mac(p[18..24].try_into().unwrap()),
        target_ip: Ipv4Addr::from(<[u8; 4]>::try_from(&p[24..28]).unwrap()),
    }))
}

/// RFC 1071 one's-complement sum over the concatenation of `parts` (each part padded as if
/// it were followed by the next); 0 means "the embedded checksum is valid".
pub fn internet_checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    let mut odd: Option<u8> = None;
    for b in parts.iter().flat_map(|p| p.iter().copied()) {
        match odd.take() {
            Some(hi) => sum += u32::from(u16::from_be_bytes([hi, b])),
            None => odd = Some(b),
        }
    }
    if let Some(hi) = odd {
        sum += u32::from(u16::from_be_bytes([hi, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
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

    // Real adverts captured on this project's lab bridge (tcpdump -w), copied from the shared
    // vectors so these tests depend on nothing outside the repository.
    /// keepalived 2.2.7, VRRPv3 IPv4, VRID 10, prio 200, 10 cs, pseudo-header checksum 0x1096.
    const KA_V3_V4: &str = "01005e000012029900000001080045c0002000870000ff70cfb00a630001e0000012310ac801000a10960a6300fe";
    /// keepalived 2.2.7, VRRPv2 IPv4, VRID 10, prio 200, 1 s, auth type 0.
    const KA_V2_V4: &str = "01005e000012029900000001080045c00028000d0000ff70d0220a630001e0000012210ac80100010b920a6300fe0000000000000000";
    /// FRR 8.4.4, VRRPv3 IPv6, VRID 10, prio 200, 100 cs, from the vrrp6 macvlan.
    const FRR_V3_V6: &str = "33330000001200005e00020a86dd6c0914ac001870fffe800000000000006227224db6b36600ff020000000000000000000000000012310ac801006436a320010db8009900000000000000000254";
    /// FRR 8.4.4, VRRPv3 IPv4, priority 0 (sent on SIGTERM), from the vrrp4 macvlan.
    const FRR_V3_V4_PRIO0: &str = "01005e00001200005e00010a080045c000203a734000ff7055c40a630001e0000012310a00010064d83c0a6300fe";

    /// A gratuitous ARP request from the IPv4 virtual MAC of VRID 10 for 10.99.0.254, padded
    /// to the Ethernet minimum like a real NIC would.
    fn garp() -> Vec<u8> {
        let mut f = hex("ffffffffffff00005e00010a0806");
        f.extend(hex("0001080006040001"));
        f.extend(hex("00005e00010a0a6300fe"));
        f.extend(hex("0000000000000a6300fe"));
        f.resize(60, 0);
        f
    }

    /// An unsolicited neighbour advertisement for 2001:db8:99::254 with the R and O flags
    /// and a target link-layer option (what a VRRP IPv6 master sends).
    fn unsolicited_na() -> Vec<u8> {
        let src = hex("fe800000000000000000000000000001");
        let dst = hex("ff020000000000000000000000000001");
        let mut icmp = hex("88000000a0000000");
        icmp.extend(hex("20010db8009900000000000000000254"));
        icmp.extend(hex("020100005e00020a"));
        let mut pseudo = src.clone();
        pseudo.extend(dst.clone());
        pseudo.extend((icmp.len() as u32).to_be_bytes());
        pseudo.extend([0, 0, 0, IPPROTO_ICMPV6]);
        let ck = internet_checksum(&[&pseudo, &icmp]);
        icmp[2..4].copy_from_slice(&ck.to_be_bytes());
        let mut f = hex("33330000000100005e00020a86dd");
        f.extend(hex("60000000"));
        f.extend((icmp.len() as u16).to_be_bytes());
        f.extend([IPPROTO_ICMPV6, 255]);
        f.extend(src);
        f.extend(dst);
        f.extend(icmp);
        f
    }

    /// Builds a pcap file in the given flavour.
    fn pcap(frames: &[(u32, u32, Vec<u8>)], big_endian: bool, nano: bool) -> Vec<u8> {
        let w32 = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let w16 = |v: u16| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut out = Vec::new();
        out.extend(w32(if nano { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
        out.extend(w16(2));
        out.extend(w16(4));
        out.extend(w32(0)); // thiszone
        out.extend(w32(0)); // sigfigs
        out.extend(w32(262_144)); // snaplen
        out.extend(w32(LINKTYPE_ETHERNET));
        for (sec, frac, data) in frames {
            out.extend(w32(*sec));
            out.extend(w32(*frac));
            out.extend(w32(data.len() as u32));
            out.extend(w32(data.len() as u32));
            out.extend(data);
        }
        out
    }

    fn sample() -> Vec<(u32, u32, Vec<u8>)> {
        vec![
            (1_795_313_767, 141_695_123, hex(KA_V3_V4)),
            (1_795_313_767, 241_695_000, hex(KA_V2_V4)),
            (1_795_313_768, 1, hex(FRR_V3_V6)),
            (1_795_313_768, 2, hex(FRR_V3_V4_PRIO0)),
            (1_795_313_769, 0, garp()),
            (1_795_313_769, 5, unsolicited_na()),
        ]
    }

    #[test]
    fn pcap_decodes_captured_vrrp_adverts() {
        let frames = parse(&pcap(&sample(), false, true)).unwrap();
        assert_eq!(frames.len(), 6);

        let f = &frames[0];
        assert_eq!(f.ts, UNIX_EPOCH + Duration::new(1_795_313_767, 141_695_123));
        assert_eq!(f.src_mac, Mac::parse("02:99:00:00:00:01").unwrap());
        assert_eq!(f.dst_mac.to_string(), "01:00:5e:00:00:12");
        let v = f.vrrp().expect("vrrp");
        assert_eq!(v.src, "10.99.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(v.dst, "224.0.0.18".parse::<IpAddr>().unwrap());
        assert_eq!(
            (v.ttl, v.tos, v.version, v.kind, v.vrid, v.priority),
            (255, 0xc0, 3, 1, 10, 200)
        );
        assert_eq!(
            (v.count, v.adver_int, v.interval()),
            (1, 10, Duration::from_millis(100))
        );
        assert_eq!(v.checksum, 0x1096);
        assert_eq!(v.checksum_form, Checksum::PseudoHeader);
        assert_eq!(v.addrs, vec!["10.99.0.254".parse::<IpAddr>().unwrap()]);
        assert_eq!(v.family(), Family::V4);

        let v = frames[1].vrrp().expect("v2");
        assert_eq!((v.version, v.adver_int, v.auth_type), (2, 1, Some(0)));
        assert_eq!(v.interval(), Duration::from_secs(1));
        assert_eq!(v.checksum_form, Checksum::MessageOnly);
        assert_eq!(v.addrs, vec!["10.99.0.254".parse::<IpAddr>().unwrap()]);

        let f = &frames[2];
        assert_eq!(f.src_mac, Mac::vrrp(Family::V6, 10));
        let v = f.vrrp().expect("v6");
        assert_eq!(
            v.src,
            "fe80::6227:224d:b6b3:6600".parse::<IpAddr>().unwrap()
        );
        assert_eq!(v.dst, "ff02::12".parse::<IpAddr>().unwrap());
        assert_eq!(
            (v.ttl, v.tos, v.priority, v.adver_int),
            (255, 0xc0, 200, 100)
        );
        assert_eq!(v.checksum_form, Checksum::PseudoHeader);
        assert_eq!(v.addrs, vec!["2001:db8:99::254".parse::<IpAddr>().unwrap()]);
        assert_eq!(v.family(), Family::V6);

        let f = &frames[3];
        assert_eq!(f.src_mac, Mac::vrrp(Family::V4, 10));
        assert!(f.src_mac.is_vrrp());
        assert_eq!(f.vrrp().unwrap().priority, 0);

        let a = frames[4].arp().expect("arp");
        assert_eq!(a.op, 1);
        assert!(a.is_gratuitous());
        assert_eq!(a.sender_mac, Mac::vrrp(Family::V4, 10));
        assert_eq!(a.target_ip, Ipv4Addr::new(10, 99, 0, 254));

        let na = frames[5].icmp().expect("icmp6");
        assert!(matches!(frames[5].payload, Payload::Icmp6(_)));
        assert_eq!((na.kind, na.ttl), (136, 255));
        assert_eq!(na.nd_target(), Some("2001:db8:99::254".parse().unwrap()));
        assert_eq!(na.na_flags(), Some(0xa0));
        assert_eq!(na.nd_lladdr(2), Some(Mac::vrrp(Family::V6, 10)));
        assert_eq!(na.nd_lladdr(1), None);
    }

    #[test]
    fn pcap_checksum_forms_are_told_apart() {
        // Same keepalived advert with the message-only checksum (0xfb88, from the vector's
        // "ck_msg_only" line), and with a corrupted one.
        let mut msg_only = hex(KA_V3_V4);
        msg_only[40..42].copy_from_slice(&[0xfb, 0x88]);
        let mut bad = hex(KA_V3_V4);
        bad[40] ^= 0x55;
        let frames = parse(&pcap(&[(1, 0, msg_only), (2, 0, bad)], false, false)).unwrap();
        assert_eq!(
            frames[0].vrrp().unwrap().checksum_form,
            Checksum::MessageOnly
        );
        assert_eq!(frames[1].vrrp().unwrap().checksum_form, Checksum::Bad);
    }

    #[test]
    fn pcap_byte_orders_resolutions_and_truncation() {
        let le_ns = parse(&pcap(&sample(), false, true)).unwrap();
        let be_ns = parse(&pcap(&sample(), true, true)).unwrap();
        assert_eq!(le_ns, be_ns);
        // Microsecond files: the fraction field is microseconds.
        let us = parse(&pcap(&[(10, 250_000, hex(KA_V3_V4))], true, false)).unwrap();
        assert_eq!(us[0].ts, UNIX_EPOCH + Duration::from_millis(10_250));
        // A capture still being written: the partial last record is left out.
        let full = pcap(&sample(), false, true);
        assert_eq!(parse(&full[..full.len() - 3]).unwrap().len(), 5);
        assert_eq!(parse(&full[..10]).unwrap().len(), 0);
        // Ethernet padding after a short IPv4 packet is not part of the VRRP message.
        let mut padded = hex(KA_V3_V4);
        padded.resize(60, 0);
        let p = parse(&pcap(&[(1, 0, padded)], false, false)).unwrap();
        assert_eq!(p[0].vrrp().unwrap().checksum_form, Checksum::PseudoHeader);
        assert_eq!(p[0].vrrp().unwrap().message.len(), 12);
        // Not pcap at all.
        assert!(
            parse(&[0x0a, 0x0d, 0x0d, 0x0a].repeat(8))
                .unwrap_err()
                .contains("pcapng")
        );
        assert!(parse(&[0u8; 32]).is_err());
    }
}
