//! The identity of one VRRP instance in the runtime's tables.

use crate::types::Family;
use serde::{Deserialize, Serialize};

/// One VRRP instance: the configured router (interface, VRID) and the address family.
/// Stored as the JSON array `[interface, vrid, family]` (masters.json keeps the form it had
/// when this was a tuple, so a runtime resumes the Masters of the one before an upgrade).
/// Ordered by interface, then VRID, then family.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(from = "(String, u8, Family)", into = "(String, u8, Family)")]
pub struct InstanceKey {
    pub interface: String,
    pub vrid: u8,
    pub family: Family,
}

impl InstanceKey {
    pub fn new(interface: &str, vrid: u8, family: Family) -> InstanceKey {
        InstanceKey {
            interface: interface.to_string(),
            vrid,
            family,
        }
    }
}

impl From<(String, u8, Family)> for InstanceKey {
    fn from((interface, vrid, family): (String, u8, Family)) -> InstanceKey {
        InstanceKey {
            interface,
            vrid,
            family,
        }
    }
}

impl From<InstanceKey> for (String, u8, Family) {
    fn from(k: InstanceKey) -> (String, u8, Family) {
        (k.interface, k.vrid, k.family)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_the_masters_json_form() {
        let keys = vec![InstanceKey::new("eth0", 7, Family::Ipv6)];
        let text = serde_json::to_string(&keys).unwrap();
        assert_eq!(text, r#"[["eth0",7,"ipv6"]]"#);
        let back: Vec<InstanceKey> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, keys);
    }
}
