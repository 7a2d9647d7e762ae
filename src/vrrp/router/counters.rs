//! The statistics of one instance (`show vrrp`, metrics).

use super::*;

/// Statistics of one instance; the single place `show vrrp` reads. The first group is kept by
/// the state machine; the second by the runtime and codec through [`Router::counters_mut`]
/// (packets dropped before they become an [`Input::Advert`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct Counters {
    // --- kept by the state machine ---
    /// Adverts sent, priority-0 ones included.
    pub adverts_sent: u64,
    /// Adverts handed to the state machine (in any state).
    pub adverts_received: u64,
    pub priority_zero_sent: u64,
    pub priority_zero_received: u64,
    /// Gratuitous ARP / unsolicited NA bursts started.
    pub gratuitous_bursts_sent: u64,
    /// State changes of any kind.
    pub transitions: u64,
    pub became_master: u64,
    pub became_backup: u64,
    /// Transitions out of Master (to Backup or Initialize).
    pub released_master: u64,
    /// Adverts received while we are the configured address owner (priority 255): another
    /// router claims our addresses (erratum 8298 to RFC 9568 section 7.1).
    pub owner_conflicts: u64,
    /// VRRPv3 adverts whose interval differs from our configured Advertisement_Interval
    /// (RFC 9568 section 7.1; processed anyway).
    pub interval_mismatches: u64,
    /// Lesser adverts (VRRPv3; priority 0 in both versions) received as Master and not
    /// answered, because their sender
    /// (or [`LESSER_REPLY_SENDERS`] others) was answered less than one
    /// Advertisement_Interval ago.
    pub lesser_adverts_unanswered: u64,
    /// Adverts discarded for their interval: VRRPv2 interval different from ours
    /// (RFC 3768 section 7.1), or an interval of 0. The codec may count here too.
    pub interval_errors: u64,

    // --- kept by the runtime / codec ---
    /// TTL / hop limit other than 255.
    pub ttl_errors: u64,
    pub version_errors: u64,
    /// Type other than 1 (advertisement).
    pub type_errors: u64,
    /// Packets for a VRID nobody runs on this interface: counted by every instance on that
    /// (parent, family), since no instance owns them.
    pub vrid_errors: u64,
    /// Length not matching the address count (count larger or smaller than the addresses
    /// present).
    pub length_errors: u64,
    /// Address count 0 (RFC 9568 section 5.2.5, erratum 8299).
    pub zero_count_errors: u64,
    /// Shorter than the 8-byte VRRP header (under 2 bytes: counted like `vrid_errors`).
    pub truncated_errors: u64,
    /// Larger than the biggest advert (1500 bytes of VRRP message).
    pub oversized_errors: u64,
    pub checksum_errors: u64,
    /// VRRPv2 authentication type other than 0.
    pub auth_type_errors: u64,
    /// Sent to a destination other than the VRRP group (in unicast mode: other than our
    /// address). The address list itself is not compared with the configured VIPs (RFC 9568
    /// section 7.1 makes that a MAY). Serialized under its historical name so `show vrrp
    /// --json` and the metrics keep their counter (netvrrp(8), JSON FIELDS).
    #[serde(rename = "address_list_errors")]
    pub destination_errors: u64,
    /// Source not in the configured `peers` allowlist.
    pub peer_not_allowed: u64,
    /// VRRPv3/IPv4 adverts whose checksum covers the IPv4 pseudo-header (FRR, keepalived).
    pub checksum_with_pseudoheader_received: u64,
    /// VRRPv3/IPv4 adverts whose checksum does not (RFC 9568 as written).
    pub checksum_without_pseudoheader_received: u64,
    /// Packets (adverts, GARP, NA) the kernel refused to send.
    pub send_errors: u64,
    /// Protodown-off requests the kernel refused on the way to Master (e.g. EBUSY: another
    /// program holds a protodown reason bit); the instance goes to Initialize then.
    pub protodown_errors: u64,
    /// Individual gratuitous ARP / NA packets sent.
    pub gratuitous_packets_sent: u64,
}
