//! `router-advertisements` of a `[[vrrp]]` (netvrrp.toml(5), "ROUTER ADVERTISEMENTS"):
//! `true`, or a table of settings checked against RFC 4861 / RFC 8106 limits.

use super::{Checker, Entry, Reader, Tbl, parse_v6};
use crate::config::ra::{
    DEFAULT_MAX_INTERVAL_MS, IPV6_MIN_MTU, RA_PREFIX_LEN, RA_RDNSS_ADDR_LEN, RaConfig,
    default_lifetime_s, default_min_interval_ms, default_rdnss_lifetime_s,
};
use ipnet::Ipv6Net;
use std::net::Ipv6Addr;
use std::ops::RangeInclusive;
use toml_edit::Value;

pub(super) const KEY: &str = "router-advertisements";
const KEYS: &[&str] = &[
    "min-interval-ms",
    "max-interval-ms",
    "lifetime-s",
    "hop-limit",
    "managed",
    "other-config",
    "prefixes",
    "autonomous",
    "valid-lifetime-s",
    "preferred-lifetime-s",
    "rdnss",
    "rdnss-lifetime-s",
    "mtu",
];
/// RFC 4861 6.2.1: MaxRtrAdvInterval 4..=1800 s; MinRtrAdvInterval at least 3 s.
const MAX_INTERVAL_RANGE: RangeInclusive<i64> = 4_000..=1_800_000;
const MIN_INTERVAL_RANGE: RangeInclusive<i64> = 3_000..=1_350_000;
/// RFC 4861 6.2.1: AdvDefaultLifetime 0 or MaxRtrAdvInterval..=9000 s.
const LIFETIME_RANGE: RangeInclusive<i64> = 0..=9000;
const HOP_LIMIT_RANGE: RangeInclusive<i64> = 0..=255;
const PREFIX_LIFETIME_RANGE: RangeInclusive<i64> = 0..=0xFFFF_FFFF;
/// IPv6's minimum link MTU up to the largest the MTU option's field can say sensibly.
const MTU_RANGE: RangeInclusive<i64> = 1280..=65_535;

impl Checker<'_> {
    /// The router's `router-advertisements`, None when absent, `false` or invalid. `ipv6` are
    /// the router's valid IPv6 VIPs: one must be link-local (the RAs' source, the same on
    /// every router of the VRID).
    pub(super) fn router_advertisements(
        &mut self,
        r: &Reader<'_>,
        ipv6: &[Ipv6Net],
    ) -> Option<RaConfig> {
        let e = r.entry(KEY)?;
        let mut ra = RaConfig::defaults(ipv6);
        let table = match (e.value, e.item.and_then(Tbl::from_item)) {
            (Some(Value::Boolean(b)), _) if !*b.value() => return None,
            (Some(Value::Boolean(_)), _) => None,
            (_, Some(tbl)) => {
                let t = Reader {
                    tbl,
                    path: e.path.clone(),
                };
                self.ra_settings(&t, &mut ra)?;
                Some(t)
            }
            _ => {
                self.type_error(&e, "boolean or table");
                return None;
            }
        };
        self.ra_fits(&e, table.as_ref(), &ra)?;
        if !ipv6.iter().any(|n| n.addr().is_unicast_link_local()) {
            self.error(
                &e.span,
                &e.path,
                "Router Advertisements need the virtual router's link-local address in `ipv6` \
                 (e.g. \"fe80::1/64\"), the same on every router of this VRID: it is the \
                 RAs' source and the hosts' default router, so it must survive a failover",
            );
            return None;
        }
        Some(ra)
    }

    /// The keys of a `router-advertisements` table over the defaults; None when any is wrong.
    fn ra_settings(&mut self, t: &Reader<'_>, ra: &mut RaConfig) -> Option<()> {
        self.check_keys(t, KEYS, &[]);
        let before = self.errors.len();
        let max = t.entry("max-interval-ms");
        if let Some(e) = &max
            && let Some(v) = self.int_as::<u32>(e, MAX_INTERVAL_RANGE, "max-interval-ms")
        {
            ra.max_interval_ms = v;
            ra.min_interval_ms = default_min_interval_ms(v);
            ra.lifetime_s = default_lifetime_s(v);
            ra.rdnss_lifetime_s = default_rdnss_lifetime_s(v);
        }
        if let Some(e) = t.entry("min-interval-ms")
            && let Some(v) = self.int_as::<u32>(&e, MIN_INTERVAL_RANGE, "min-interval-ms")
        {
            if u64::from(v) * 4 > u64::from(ra.max_interval_ms) * 3 {
                let max_at = max.as_ref().map_or_else(
                    || format!("the default {DEFAULT_MAX_INTERVAL_MS}"),
                    |m| format!("{} at {}", ra.max_interval_ms, self.at(&m.span)),
                );
                self.error(
                    &e.span,
                    &e.path,
                    format!(
                        "min-interval-ms {v} is more than 0.75 × max-interval-ms ({max_at}; RFC 4861 6.2.1)"
                    ),
                );
            }
            ra.min_interval_ms = v;
        }
        if let Some(e) = t.entry("lifetime-s")
            && let Some(v) = self.int_as::<u16>(&e, LIFETIME_RANGE, "lifetime-s")
        {
            if v != 0 && u32::from(v) * 1000 < ra.max_interval_ms {
                self.error(
                    &e.span,
                    &e.path,
                    format!(
                        "lifetime-s {v} is shorter than max-interval-ms {} (RFC 4861 6.2.1: 0, or at least the maximum interval, so hosts do not drop the router between two RAs)",
                        ra.max_interval_ms
                    ),
                );
            }
            ra.lifetime_s = v;
        }
        if let Some(e) = t.entry("hop-limit")
            && let Some(v) = self.int_as::<u8>(&e, HOP_LIMIT_RANGE, "hop-limit")
        {
            ra.hop_limit = v;
        }
        for (key, slot) in [
            ("managed", &mut ra.managed),
            ("other-config", &mut ra.other_config),
            ("autonomous", &mut ra.autonomous),
        ] {
            if let Some(e) = t.entry(key)
                && let Some(b) = self.boolean(&e)
            {
                *slot = b;
            }
        }
        if let Some(e) = t.entry("prefixes")
            && let Some(list) = self.strings(&e)
        {
            ra.prefixes = list
                .into_iter()
                .filter_map(|(el, s)| self.ra_prefix(&el, s))
                .collect();
        }
        let valid = t.entry("valid-lifetime-s");
        if let Some(e) = &valid
            && let Some(v) = self.int_as::<u32>(e, PREFIX_LIFETIME_RANGE, "valid-lifetime-s")
        {
            ra.valid_lifetime_s = v;
        }
        if let Some(e) = t.entry("preferred-lifetime-s")
            && let Some(v) = self.int_as::<u32>(&e, PREFIX_LIFETIME_RANGE, "preferred-lifetime-s")
        {
            if v > ra.valid_lifetime_s {
                self.error(
                    &e.span,
                    &e.path,
                    format!(
                        "preferred-lifetime-s {v} is longer than valid-lifetime-s {} (RFC 4862: hosts ignore such a prefix)",
                        ra.valid_lifetime_s
                    ),
                );
            }
            ra.preferred_lifetime_s = v;
        }
        if let Some(e) = t.entry("rdnss")
            && let Some(list) = self.strings(&e)
        {
            ra.rdnss = list
                .into_iter()
                .filter_map(|(el, s)| self.ra_rdnss(&el, s))
                .collect();
        }
        if let Some(e) = t.entry("rdnss-lifetime-s")
            && let Some(v) = self.int_as::<u32>(&e, PREFIX_LIFETIME_RANGE, "rdnss-lifetime-s")
        {
            ra.rdnss_lifetime_s = v;
        }
        if let Some(e) = t.entry("mtu")
            && let Some(v) = self.int_as::<u32>(&e, MTU_RANGE, "mtu")
        {
            ra.mtu = Some(v);
        }
        (self.errors.len() == before).then_some(())
    }

    /// The RA must fit in IPv6's minimum MTU: a check at parse time cannot know the parent's
    /// MTU, and every IPv6 link carries 1280 bytes. The error names the longer list (prefixes
    /// or rdnss), at its key when the file gives it, and how many of it fit.
    fn ra_fits(&mut self, e: &Entry<'_>, t: Option<&Reader<'_>>, ra: &RaConfig) -> Option<()> {
        let len = ra.packet_len();
        if len <= IPV6_MIN_MTU {
            return Some(());
        }
        let (p, r) = (ra.prefixes.len(), ra.rdnss.len());
        let (key, count, each, what) = if p * RA_PREFIX_LEN >= r * RA_RDNSS_ADDR_LEN {
            ("prefixes", p, RA_PREFIX_LEN, "prefixes")
        } else {
            ("rdnss", r, RA_RDNSS_ADDR_LEN, "rdnss addresses")
        };
        let fit = (IPV6_MIN_MTU - (len - count * each)) / each;
        let given = t.and_then(|t| t.entry(key));
        let origin = match (&given, key) {
            (None, "prefixes") => " (the prefixes of the global VIPs in `ipv6`)",
            _ => "",
        };
        let (span, path) = given
            .as_ref()
            .map_or((&e.span, &e.path), |g| (&g.span, &g.path));
        let message = format!(
            "{count} {what}{origin} is too many: the Router Advertisement ({p} {prefixes}, {r} \
             rdnss {addresses}{mtu}) would be {len} bytes, more than IPv6's minimum MTU \
             {IPV6_MIN_MTU}; at most {fit} {what} fit with the other settings",
            prefixes = if p == 1 { "prefix" } else { "prefixes" },
            addresses = if r == 1 { "address" } else { "addresses" },
            mtu = if ra.mtu.is_some() { ", mtu" } else { "" },
        );
        let (span, path) = (span.clone(), path.clone());
        self.error(&span, &path, message);
        None
    }

    fn ra_prefix(&mut self, el: &Entry<'_>, s: &str) -> Option<Ipv6Net> {
        let net = match s.parse::<Ipv6Net>() {
            Ok(n) => n,
            Err(_) => {
                self.error(
                    &el.span,
                    &el.path,
                    format!("`{s}` is not an IPv6 prefix (addr/len)"),
                );
                return None;
            }
        };
        if net.addr().is_unicast_link_local() || net.addr().is_multicast() {
            self.error(
                &el.span,
                &el.path,
                format!("`{s}` is not a prefix hosts can be on (link-local or multicast)"),
            );
            return None;
        }
        Some(net.trunc())
    }

    fn ra_rdnss(&mut self, el: &Entry<'_>, s: &str) -> Option<Ipv6Addr> {
        match parse_v6(s) {
            Ok(n) if n.prefix_len() == 128 && !s.contains('/') => Some(n.addr()),
            Ok(_) => {
                self.error(
                    &el.span,
                    &el.path,
                    format!("`{s}`: a DNS server is an address, without a prefix length"),
                );
                None
            }
            Err(m) => {
                self.error(&el.span, &el.path, m);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{errors, ok};

    const BASE: &str =
        "[[vrrp]]\ninterface = \"eth0\"\nvrid = 5\nipv6 = [\"fe80::5/64\", \"2001:db8:5::1/64\"]\n";

    /// `n` distinct /64 prefixes as TOML strings.
    fn prefixes(n: usize) -> String {
        (0..n)
            .map(|i| format!("\"2001:db8:{i:x}::/64\""))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The only error of `text` as (line, column, key, message); the position is the value's.
    fn only(text: &str) -> (usize, usize, String, String) {
        let mut e = errors(text);
        assert_eq!(e.len(), 1, "expected exactly one error, got {e:#?}");
        e.remove(0)
    }

    #[test]
    fn prefixes_that_fill_the_minimum_mtu_exactly_are_accepted() {
        // 40 + 16 + 8 (source link-layer) + 38 × 32 = 1280.
        let c = ok(&format!(
            "{BASE}router-advertisements = {{ prefixes = [{}] }}\n",
            prefixes(38)
        ));
        let ra = c.routers[0].router_advertisements.clone().unwrap();
        assert_eq!((ra.prefixes.len(), ra.packet_len()), (38, 1280));
    }

    #[test]
    fn too_many_prefixes_are_refused_at_the_key_with_the_count_that_fits() {
        let (l, c, k, m) = only(&format!(
            "{BASE}router-advertisements = {{ prefixes = [{}] }}\n",
            prefixes(39)
        ));
        assert_eq!(
            (l, c, k.as_str()),
            (5, 38, "vrrp[1].router-advertisements.prefixes"),
            "{m}"
        );
        assert!(m.starts_with("39 prefixes is too many"), "{m}");
        assert!(m.contains("1312 bytes"), "{m}");
        assert!(m.contains("at most 38 prefixes fit"), "{m}");
    }

    #[test]
    fn too_many_rdnss_addresses_are_refused_at_their_key() {
        // 1280 - 64 - 8 (mtu) - 32 (one prefix) - 8 (RDNSS head) = 1168: 73 addresses.
        let rdnss = |n: usize| {
            (1..=n)
                .map(|i| format!("\"2001:db8::{i:x}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let fits = ok(&format!(
            "{BASE}router-advertisements = {{ mtu = 1500, rdnss = [{}] }}\n",
            rdnss(73)
        ));
        let ra = fits.routers[0].router_advertisements.clone().unwrap();
        assert_eq!(ra.packet_len(), 1280);
        let (l, c, k, m) = only(&format!(
            "{BASE}router-advertisements = {{ mtu = 1500, rdnss = [{}] }}\n",
            rdnss(74)
        ));
        assert_eq!(
            (l, c, k.as_str()),
            (5, 47, "vrrp[1].router-advertisements.rdnss"),
            "{m}"
        );
        assert!(m.starts_with("74 rdnss addresses is too many"), "{m}");
        assert!(m.contains("at most 73 rdnss addresses fit"), "{m}");
    }

    #[test]
    fn too_many_vip_prefixes_are_refused_at_router_advertisements() {
        // `true`: the prefixes are the global VIPs' (39 distinct /64s).
        let vips: Vec<String> = (0..39)
            .map(|i| format!("\"2001:db8:{i:x}::1/64\""))
            .collect();
        let text = format!(
            "[[vrrp]]\ninterface = \"eth0\"\nvrid = 5\nipv6 = [\"fe80::5/64\", {}]\nrouter-advertisements = true\n",
            vips.join(", ")
        );
        let (l, c, k, m) = only(&text);
        assert_eq!(
            (l, c, k.as_str()),
            (5, 25, "vrrp[1].router-advertisements"),
            "{m}"
        );
        assert!(
            m.starts_with("39 prefixes (the prefixes of the global VIPs in `ipv6`) is too many"),
            "{m}"
        );
    }
}
