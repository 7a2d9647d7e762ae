//! `router-advertisements` of a `[[vrrp]]` (netvrrp.toml(5), "ROUTER ADVERTISEMENTS"):
//! `true`, or a table of settings checked against RFC 4861 / RFC 8106 limits.

use super::{Checker, Entry, Reader, Tbl, parse_v6};
use crate::config::ra::{
    DEFAULT_MAX_INTERVAL_MS, RaConfig, default_lifetime_s, default_min_interval_ms,
    default_rdnss_lifetime_s,
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
        match (e.value, e.item.and_then(Tbl::from_item)) {
            (Some(Value::Boolean(b)), _) if !*b.value() => return None,
            (Some(Value::Boolean(_)), _) => {}
            (_, Some(tbl)) => {
                let t = Reader {
                    tbl,
                    path: e.path.clone(),
                };
                self.ra_settings(&t, &mut ra)?;
            }
            _ => {
                self.type_error(&e, "boolean or table");
                return None;
            }
        }
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
