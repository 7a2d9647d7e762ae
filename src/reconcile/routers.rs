//! What a reload does to each VRRP instance: keep it, reconfigure it in place (naming the
//! attributes), restart it (naming the identity change that forces it), add or remove it.
//!
//! Pure: the runtime's reload uses it to decide, and `diff`, `check` and `apply --dry-run`
//! use it on the configuration the runtime reports, so both always agree. Instances are
//! matched by (interface, VRID, family): a change of any of these is a removal and an
//! addition; only a change of version restarts an instance; everything else is applied to
//! the running state machine (RFC 9568 lets every other parameter change).

use crate::config::RouterConfig;
use crate::types::Family;
use serde::{Deserialize, Serialize};

/// The action for one instance (interface, VRID, family).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum RouterAction {
    /// Nothing changed.
    Keep,
    /// Changed in place, no transition: the `netvrrp.toml` keys that changed.
    Reconfigure { attributes: Vec<String> },
    /// Left (priority 0 if Master) and started afresh: why.
    Restart { reason: String },
    /// A new instance.
    Add,
    /// No longer in the file: leaves (priority 0 if Master).
    Remove,
}

impl RouterAction {
    /// Does this action change anything?
    pub fn is_keep(&self) -> bool {
        matches!(self, RouterAction::Keep)
    }

    /// The past-tense word `apply` reports.
    pub fn done_word(&self) -> &'static str {
        match self {
            RouterAction::Keep => "kept",
            RouterAction::Reconfigure { .. } => "reconfigured",
            RouterAction::Restart { .. } => "restarted",
            RouterAction::Add => "added",
            RouterAction::Remove => "removed",
        }
    }

    /// The word `diff` and `apply --dry-run` report.
    pub fn word(&self) -> &'static str {
        match self {
            RouterAction::Keep => "keep",
            RouterAction::Reconfigure { .. } => "reconfigure",
            RouterAction::Restart { .. } => "restart",
            RouterAction::Add => "add",
            RouterAction::Remove => "remove",
        }
    }

    /// The attributes or the reason, for text output ("" when there is none).
    pub fn detail(&self) -> String {
        match self {
            RouterAction::Reconfigure { attributes } => attributes.join(", "),
            RouterAction::Restart { reason } => reason.clone(),
            _ => String::new(),
        }
    }
}

/// One instance and what happens to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterChange {
    pub interface: String,
    pub vrid: u8,
    pub family: Family,
    #[serde(flatten)]
    pub action: RouterAction,
}

impl std::fmt::Display for RouterChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} vrid {} {}: {}",
            self.interface,
            self.vrid,
            self.family,
            self.action.word()
        )?;
        let detail = self.action.detail();
        if !detail.is_empty() {
            write!(f, " ({detail})")?;
        }
        Ok(())
    }
}

/// What a reload did (the reply to a `reload` control request, printed by `apply`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadReport {
    pub schema: u32,
    /// Every instance with what was done to it (`keep` included).
    pub routers: Vec<RouterChange>,
    /// Instances running after the reload.
    pub instances: usize,
    /// `[runtime]` keys the file changes that only a restart applies
    /// ([`super::restart_pending`]); `apply` says so. Not in `apply --json`, whose `settings`
    /// already lists them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restart_pending: Vec<String>,
}

impl ReloadReport {
    /// What starting a runtime on `routers` does: every instance is added.
    pub fn started(routers: &[RouterConfig]) -> ReloadReport {
        let routers = plan(&[], routers);
        ReloadReport {
            schema: super::SCHEMA,
            instances: routers.len(),
            routers,
            restart_pending: Vec::new(),
        }
    }

    /// Did the reload change anything?
    pub fn changed(&self) -> bool {
        self.routers.iter().any(|c| !c.action.is_keep())
    }

    /// One line per instance that changed, in the past tense.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        for c in self.routers.iter().filter(|c| !c.action.is_keep()) {
            out += &format!(
                "runtime: {} vrid {} {}: {}",
                c.interface,
                c.vrid,
                c.family,
                c.action.done_word()
            );
            let detail = c.action.detail();
            if !detail.is_empty() {
                out += &format!(" ({detail})");
            }
            out.push('\n');
        }
        for key in &self.restart_pending {
            out += &format!(
                "runtime: [runtime] {key}: `netvrrp stop`, then `netvrrp apply` (a failover \
                 where it is Master)\n"
            );
        }
        out
    }
}

/// The keys (as written in netvrrp.toml) whose values differ between the running and the
/// desired configuration of the `family` instance of one router. The other family's VIP
/// list is not this instance's business.
pub fn changed_attributes(old: &RouterConfig, new: &RouterConfig, family: Family) -> Vec<String> {
    let mut out = Vec::new();
    let mut differs = |key: &str, changed: bool| {
        if changed {
            out.push(key.to_string());
        }
    };
    differs("name", old.name != new.name);
    differs("priority", old.priority != new.priority);
    differs(
        "advertisement-interval",
        old.advertisement_interval_ms != new.advertisement_interval_ms,
    );
    differs("preempt", old.preempt != new.preempt);
    differs(
        "preempt-delay",
        old.preempt_delay_ms != new.preempt_delay_ms,
    );
    differs("accept-mode", old.accept_mode != new.accept_mode);
    differs(
        "checksum-with-ipv4-pseudoheader",
        old.checksum_with_ipv4_pseudoheader != new.checksum_with_ipv4_pseudoheader,
    );
    differs("shutdown", old.shutdown != new.shutdown);
    differs("garp-bursts", old.garp_bursts != new.garp_bursts);
    differs(
        "garp-burst-interval",
        old.garp_burst_interval_ms != new.garp_burst_interval_ms,
    );
    match family {
        Family::Ipv4 => differs("ipv4", old.ipv4 != new.ipv4),
        Family::Ipv6 => {
            differs("ipv6", old.ipv6 != new.ipv6);
            differs(
                "router-advertisements",
                old.router_advertisements != new.router_advertisements,
            );
        }
    }
    differs("vrrs-leader", old.vrrs_leader != new.vrrs_leader);
    differs(
        "vrrs-leader-family",
        old.leader_family() != new.leader_family(),
    );
    differs("track", old.track != new.track);
    differs("peers", old.peers != new.peers);
    differs("unicast-peers", old.unicast_peers != new.unicast_peers);
    out
}

/// The action for one running instance given the router that now describes it (None: the
/// router or this family left the file).
pub fn instance_action(
    running: &RouterConfig,
    family: Family,
    desired: Option<&RouterConfig>,
) -> RouterAction {
    let Some(new) = desired.filter(|d| d.families().contains(&family)) else {
        return RouterAction::Remove;
    };
    if new.version != running.version {
        return RouterAction::Restart {
            reason: format!(
                "version {} -> {}",
                running.version.number(),
                new.version.number()
            ),
        };
    }
    let attributes = changed_attributes(running, new, family);
    if attributes.is_empty() {
        RouterAction::Keep
    } else {
        RouterAction::Reconfigure { attributes }
    }
}

/// The router of `routers` with this interface and VRID, if any.
pub fn find<'a>(
    routers: &'a [RouterConfig],
    interface: &str,
    vrid: u8,
) -> Option<&'a RouterConfig> {
    routers
        .iter()
        .find(|r| r.interface == interface && r.vrid == vrid)
}

/// Every instance of `running` and `desired` with its action, in the desired file's order
/// (removed instances last).
pub fn plan(running: &[RouterConfig], desired: &[RouterConfig]) -> Vec<RouterChange> {
    let mut out = Vec::new();
    for new in desired {
        for family in new.families() {
            let action = match find(running, &new.interface, new.vrid)
                .filter(|old| old.families().contains(&family))
            {
                Some(old) => instance_action(old, family, Some(new)),
                None => RouterAction::Add,
            };
            out.push(RouterChange {
                interface: new.interface.clone(),
                vrid: new.vrid,
                family,
                action,
            });
        }
    }
    for old in running {
        for family in old.families() {
            let still = find(desired, &old.interface, old.vrid)
                .is_some_and(|n| n.families().contains(&family));
            if !still {
                out.push(RouterChange {
                    interface: old.interface.clone(),
                    vrid: old.vrid,
                    family,
                    action: RouterAction::Remove,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(text: &str) -> Vec<RouterConfig> {
        crate::config::parse_str(text, "t.toml").unwrap().routers
    }

    const BASE: &str = r#"
[[vrrp]]
interface = "eth0"
vrid = 1
priority = 200
ipv4 = ["192.0.2.1/24"]
ipv6 = ["2001:db8::1/64"]
"#;

    #[test]
    fn a_priority_edit_reconfigures_both_instances() {
        let old = router(BASE);
        let new = router(&BASE.replace("priority = 200", "priority = 150"));
        let p = plan(&old, &new);
        assert_eq!(p.len(), 2);
        for c in &p {
            assert_eq!(
                c.action,
                RouterAction::Reconfigure {
                    attributes: vec!["priority".into()]
                }
            );
        }
    }

    #[test]
    fn an_ipv6_vip_edit_leaves_the_ipv4_instance_alone() {
        let old = router(BASE);
        let new = router(&BASE.replace("2001:db8::1/64", "2001:db8::2/64"));
        let p = plan(&old, &new);
        assert_eq!(p[0].family, Family::Ipv4);
        assert_eq!(p[0].action, RouterAction::Keep);
        assert_eq!(
            p[1].action,
            RouterAction::Reconfigure {
                attributes: vec!["ipv6".into()]
            }
        );
    }

    #[test]
    fn only_identity_restarts_and_families_come_and_go() {
        let old = router(BASE);
        let new = router(&format!(
            "{}version = 2\n",
            BASE.replace("ipv6 = [\"2001:db8::1/64\"]", "")
        ));
        let p = plan(&old, &new);
        assert_eq!(
            p[0].action,
            RouterAction::Restart {
                reason: "version 3 -> 2".into()
            }
        );
        assert_eq!(p[1].family, Family::Ipv6);
        assert_eq!(p[1].action, RouterAction::Remove);
        let added = plan(&[], &old);
        assert!(added.iter().all(|c| c.action == RouterAction::Add));
    }

    #[test]
    fn the_location_and_unchanged_keys_are_not_changes() {
        let old = router(BASE);
        let new = router(&format!("\n\n{BASE}"));
        assert!(plan(&old, &new).iter().all(|c| c.action.is_keep()));
    }

    #[test]
    fn the_json_names_the_action_and_attributes() {
        let c = RouterChange {
            interface: "eth0".into(),
            vrid: 1,
            family: Family::Ipv4,
            action: RouterAction::Reconfigure {
                attributes: vec!["priority".into()],
            },
        };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["action"], "reconfigure");
        assert_eq!(v["attributes"][0], "priority");
        let back: RouterChange = serde_json::from_value(v).unwrap();
        assert_eq!(back, c);
        assert_eq!(c.to_string(), "eth0 vrid 1 ipv4: reconfigure (priority)");
    }
}
