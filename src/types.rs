//! Small value types shared by every layer.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Address family of one VRRP instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        }
    }
    /// The digit used in device names (`vrrp4-…` / `vrrp6-…`).
    pub fn digit(self) -> u8 {
        match self {
            Family::Ipv4 => 4,
            Family::Ipv6 => 6,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// VRRP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Version {
    /// RFC 3768 (IPv4 only, whole-second intervals).
    V2,
    /// RFC 9568.
    V3,
}

impl Version {
    pub fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

/// An Ethernet MAC address. Parses colon (`00:00:5e:00:01:05`), dash and Cisco dotted
/// (`fe24.fe24.fe24`) forms; displays in lower-case colon form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// The VRRP virtual MAC of RFC 9568 section 7.3: `00:00:5e:00:01:VRID` for IPv4,
    /// `00:00:5e:00:02:VRID` for IPv6.
    pub fn vrrp(family: Family, vrid: u8) -> MacAddr {
        let f = match family {
            Family::Ipv4 => 1,
            Family::Ipv6 => 2,
        };
        MacAddr([0x00, 0x00, 0x5e, 0x00, f, vrid])
    }

    /// If this is a VRRP virtual MAC, its family and VRID.
    pub fn as_vrrp(&self) -> Option<(Family, u8)> {
        match self.0 {
            [0x00, 0x00, 0x5e, 0x00, 0x01, vrid] if vrid != 0 => Some((Family::Ipv4, vrid)),
            [0x00, 0x00, 0x5e, 0x00, 0x02, vrid] if vrid != 0 => Some((Family::Ipv6, vrid)),
            _ => None,
        }
    }

    pub fn octets(&self) -> [u8; 6] {
        self.0
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MAC address {0:?} (expected aa:bb:cc:dd:ee:ff or Cisco aabb.ccdd.eeff)")]
pub struct MacParseError(pub String);

impl FromStr for MacAddr {
    type Err = MacParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || MacParseError(s.to_string());
        let hex: String = if s.contains('.') {
            let parts: Vec<&str> = s.split('.').collect();
            if parts.len() != 3 || parts.iter().any(|p| p.len() != 4) {
                return Err(err());
            }
            parts.concat()
        } else {
            let parts: Vec<&str> = s.split([':', '-']).collect();
            if parts.len() != 6 || parts.iter().any(|p| p.len() != 2) {
                return Err(err());
            }
            parts.concat()
        };
        if hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(err());
        }
        let mut out = [0u8; 6];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| err())?;
        }
        Ok(MacAddr(out))
    }
}

impl Serialize for MacAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// IPv6 address generation mode of a link (IFLA_INET6_ADDR_GEN_MODE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AddrGenMode {
    Eui64,
    None,
    StablePrivacy,
    Random,
}

impl AddrGenMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AddrGenMode::Eui64 => "eui64",
            AddrGenMode::None => "none",
            AddrGenMode::StablePrivacy => "stable_secret",
            AddrGenMode::Random => "random",
        }
    }
}

impl fmt::Display for AddrGenMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Maximum length of a Linux interface name (IFNAMSIZ - 1).
pub const IFNAME_MAX: usize = 15;

/// Seconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS UTC` (no time-zone database
/// needed; the `show` texts print times this way).
pub fn utc_date_time(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// What the Router Advertisements of one virtual router say and how often they go
/// (`router-advertisements` of a `[[vrrp]]`, resolved; see `config::ra`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaSettings {
    /// MinRtrAdvInterval, ms (3 s ..= 0.75 × max).
    pub min_interval_ms: u32,
    /// MaxRtrAdvInterval, ms (4 s ..= 1800 s).
    pub max_interval_ms: u32,
    /// Router Lifetime, s: 0 (not a default router) or max interval ..= 9000.
    pub lifetime_s: u16,
    /// Cur Hop Limit (0: unspecified).
    pub hop_limit: u8,
    /// M flag (addresses from DHCPv6).
    pub managed: bool,
    /// O flag (other configuration from DHCPv6).
    pub other_config: bool,
    /// Prefix Information options; by default the prefixes of the router's global IPv6 VIPs.
    pub prefixes: Vec<ipnet::Ipv6Net>,
    /// A flag of every prefix (SLAAC); the L flag is always set.
    pub autonomous: bool,
    pub valid_lifetime_s: u32,
    pub preferred_lifetime_s: u32,
    /// RDNSS option (RFC 8106) addresses; none: no option.
    pub rdnss: Vec<std::net::Ipv6Addr>,
    /// RDNSS Lifetime, s.
    pub rdnss_lifetime_s: u32,
    /// MTU option; None: not sent.
    pub mtu: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_forms() {
        let a: MacAddr = "fe24.fe24.fe24".parse().unwrap();
        assert_eq!(a.to_string(), "fe:24:fe:24:fe:24");
        let b: MacAddr = "00:00:5E:00:01:0a".parse().unwrap();
        assert_eq!(b, MacAddr::vrrp(Family::Ipv4, 10));
        assert_eq!(b.as_vrrp(), Some((Family::Ipv4, 10)));
        assert!("00:00:5e:00:01".parse::<MacAddr>().is_err());
        assert!("fe24.fe24".parse::<MacAddr>().is_err());
        assert!("zz:00:5e:00:01:0a".parse::<MacAddr>().is_err());
    }
}
