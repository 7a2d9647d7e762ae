//! `router-advertisements` of a `[[vrrp]]`: what the Master of an IPv6 virtual router puts
//! in its Router Advertisements (RFC 4861 section 6.2.1, RFC 8106), resolved at parse time
//! (netvrrp.toml(5), "ROUTER ADVERTISEMENTS").

use ipnet::Ipv6Net;

/// RFC 4861 MaxRtrAdvInterval default, ms.
pub const DEFAULT_MAX_INTERVAL_MS: u32 = 600_000;
/// RFC 4861 AdvCurHopLimit default (the Internet's default TTL).
pub const DEFAULT_HOP_LIMIT: u8 = 64;
/// RFC 4861 AdvValidLifetime default, s (30 days).
pub const DEFAULT_VALID_LIFETIME_S: u32 = 2_592_000;
/// RFC 4861 AdvPreferredLifetime default, s (7 days).
pub const DEFAULT_PREFERRED_LIFETIME_S: u32 = 604_800;
/// IPv6's minimum link MTU (RFC 8200 section 5): every link carries a packet this long, so
/// an RA that fits needs no fragmentation (RFC 4861 hosts drop fragmented RAs anyway).
pub const IPV6_MIN_MTU: usize = 1280;
/// Bytes of an RA packet: IPv6 header, RA head, the source link-layer address option.
const RA_FIXED_LEN: usize = 40 + 16 + 8;
const RA_MTU_OPTION_LEN: usize = 8;
/// One Prefix Information option.
pub const RA_PREFIX_LEN: usize = 32;
const RA_RDNSS_HEAD_LEN: usize = 8;
/// One RDNSS address.
pub const RA_RDNSS_ADDR_LEN: usize = 16;

/// The Router Advertisements of one router (its IPv6 instance), every value resolved (a
/// value type, so the protocol core reads it too: [`crate::vrrp::ra::RaParams`]).
pub type RaConfig = crate::types::RaSettings;

impl RaConfig {
    /// Every default, for a router whose IPv6 VIPs are `vips`: `router-advertisements = true`.
    pub fn defaults(vips: &[Ipv6Net]) -> Self {
        let max = DEFAULT_MAX_INTERVAL_MS;
        RaConfig {
            min_interval_ms: default_min_interval_ms(max),
            max_interval_ms: max,
            lifetime_s: default_lifetime_s(max),
            hop_limit: DEFAULT_HOP_LIMIT,
            managed: false,
            other_config: false,
            prefixes: vip_prefixes(vips),
            autonomous: true,
            valid_lifetime_s: DEFAULT_VALID_LIFETIME_S,
            preferred_lifetime_s: DEFAULT_PREFERRED_LIFETIME_S,
            rdnss: Vec::new(),
            rdnss_lifetime_s: default_rdnss_lifetime_s(max),
            mtu: None,
        }
    }

    /// Length of the IPv6 packet carrying this Router Advertisement (what
    /// `vrrp::ra::RaParams::message` builds, plus the IPv6 header).
    pub fn packet_len(&self) -> usize {
        let mtu = if self.mtu.is_some() {
            RA_MTU_OPTION_LEN
        } else {
            0
        };
        let rdnss = if self.rdnss.is_empty() {
            0
        } else {
            RA_RDNSS_HEAD_LEN + RA_RDNSS_ADDR_LEN * self.rdnss.len()
        };
        RA_FIXED_LEN + mtu + RA_PREFIX_LEN * self.prefixes.len() + rdnss
    }
}

/// RFC 4861: a third of the maximum when that is at least 3 s, else the lowest allowed.
pub fn default_min_interval_ms(max_ms: u32) -> u32 {
    (max_ms / 100 * 33).max(3000).min(max_ms / 4 * 3)
}

/// RFC 4861 AdvDefaultLifetime default: 3 × MaxRtrAdvInterval (at most 9000 s).
pub fn default_lifetime_s(max_ms: u32) -> u16 {
    u16::try_from((max_ms / 1000 * 3).min(9000)).unwrap_or(9000)
}

/// RFC 8106: the RDNSS lifetime defaults to at least 3 × MaxRtrAdvInterval.
pub fn default_rdnss_lifetime_s(max_ms: u32) -> u32 {
    max_ms / 1000 * 3
}

/// The on-link prefixes of the global (not link-local) VIPs, in file order, without repeats.
pub fn vip_prefixes(vips: &[Ipv6Net]) -> Vec<Ipv6Net> {
    let mut out: Vec<Ipv6Net> = Vec::new();
    for v in vips.iter().filter(|v| !v.addr().is_unicast_link_local()) {
        let p = v.trunc();
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_rfc_4861() {
        assert_eq!(default_min_interval_ms(600_000), 198_000);
        // Below 9 s a third would be under 3 s: 3 s, still at most 0.75 × max.
        assert_eq!(default_min_interval_ms(4_000), 3_000);
        assert_eq!(default_min_interval_ms(8_000), 3_000);
        assert_eq!(default_lifetime_s(600_000), 1800);
        assert_eq!(default_lifetime_s(1_800_000), 5400);
        assert_eq!(default_rdnss_lifetime_s(600_000), 1800);
        let vips: Vec<Ipv6Net> = [
            "fe80::5/64",
            "2001:db8:5::1/64",
            "2001:db8:5::2/64",
            "2001:db8:6::1/48",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let p: Vec<String> = vip_prefixes(&vips).iter().map(|p| p.to_string()).collect();
        assert_eq!(p, ["2001:db8:5::/64", "2001:db8:6::/48"]);
    }
}
