//! What a reload does to each running instance, worked out on a blocking thread before the
//! loop swaps (see [`super::reload`]): comparing thousands of routers on the election loop's
//! thread held adverts back for milliseconds. The loop only looks the answers up.

use super::InstanceKey;
use crate::config::RouterConfig;
use crate::reconcile::routers::{self, RouterAction};
use crate::types::Family;
use std::collections::HashMap;
use std::sync::Arc;

/// The action and the new configuration of one running instance (None: it leaves the file or
/// restarts).
pub(super) type Planned = (RouterAction, Option<Arc<RouterConfig>>);

/// The comparison of the running routers with a new file's.
pub(super) struct ReloadPlan {
    /// The running routers the actions were computed against: the loop uses the plan only
    /// while exactly these run (another reload may have swapped in since), which also keeps
    /// the addresses in `actions` unique.
    against: Vec<Arc<RouterConfig>>,
    /// Per instance of a running router, by the address of its shared configuration and its
    /// family (no copy of its name: at 4,000 routers the plan is part of a reload's peak).
    actions: HashMap<(usize, Family), Planned>,
}

impl ReloadPlan {
    /// Compare `running` (the runtime's routers, shared with their instances) with the new
    /// file's `routers`, as [`routers::instance_action`] does for `diff`.
    pub fn new(running: Vec<Arc<RouterConfig>>, routers: &[Arc<RouterConfig>]) -> ReloadPlan {
        let by_router: HashMap<(&str, u8), &Arc<RouterConfig>> = routers
            .iter()
            .map(|r| ((r.interface.as_str(), r.vrid), r))
            .collect();
        let mut actions = HashMap::with_capacity(running.len());
        for old in &running {
            let desired = by_router.get(&(old.interface.as_str(), old.vrid)).copied();
            for family in old.families() {
                let action = routers::instance_action(old, family, desired.map(|rc| &**rc));
                let config = match action {
                    RouterAction::Keep | RouterAction::Reconfigure { .. } => desired.cloned(),
                    _ => None,
                };
                actions.insert((address(old), family), (action, config));
            }
        }
        ReloadPlan {
            against: running,
            actions,
        }
    }

    /// Was the plan made against the routers running now (the same shared copies)?
    pub fn is_current(&self, running: &[Arc<RouterConfig>]) -> bool {
        self.against.len() == running.len()
            && self
                .against
                .iter()
                .zip(running)
                .all(|(a, b)| Arc::ptr_eq(a, b))
    }

    /// The action of the running instance of `family` whose configuration is `config` (each
    /// is taken once).
    pub fn take(&mut self, config: &Arc<RouterConfig>, family: Family) -> Option<Planned> {
        self.actions.remove(&(address(config), family))
    }
}

fn address(config: &Arc<RouterConfig>) -> usize {
    Arc::as_ptr(config) as usize
}

/// Do `instances` (their keys, in order) run exactly the instances of `routers`, in the
/// file's order?
pub(super) fn same_instances<'a>(
    mut instances: impl Iterator<Item = &'a InstanceKey>,
    routers: &[Arc<RouterConfig>],
) -> bool {
    for rc in routers {
        for family in rc.families() {
            match instances.next() {
                Some(k)
                    if k.interface == rc.interface && k.vrid == rc.vrid && k.family == family => {}
                _ => return false,
            }
        }
    }
    instances.next().is_none()
}

/// One shared copy of each router, in file order, in a vector of its own size.
/// `into_iter().map(Arc::new).collect()` would reuse the parser's vector in place (Rust's
/// in-place collection): its whole buffer, ~1.4 MB at 4,000 routers, would then hold 8-byte
/// pointers for the runtime's life. The routers are moved out from the back and the parser's
/// vector shrunk as it empties, so the copies reuse its memory instead of adding a second
/// full set of routers to a reload's peak.
pub(super) fn shared(mut routers: Vec<RouterConfig>) -> Vec<Arc<RouterConfig>> {
    /// Routers moved between two shrinks of the parser's vector.
    const SHRINK_EVERY: usize = 256;
    let mut shared = Vec::with_capacity(routers.len());
    while let Some(router) = routers.pop() {
        shared.push(Arc::new(router));
        if routers.len().is_multiple_of(SHRINK_EVERY) {
            routers.shrink_to_fit();
        }
    }
    shared.reverse();
    shared
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(interface: &str, vrid: u8, priority: u8, ipv6: bool) -> Arc<RouterConfig> {
        let mut text = format!(
            "[[vrrp]]\ninterface = \"{interface}\"\nvrid = {vrid}\npriority = {priority}\nipv4 = [\"10.0.0.{vrid}/24\"]\n"
        );
        if ipv6 {
            text += &format!("ipv6 = [\"fe80::{vrid}/64\"]\n");
        }
        let mut config = crate::config::parse_str(&text, "test.toml").expect("test config parses");
        Arc::new(config.routers.remove(0))
    }

    #[test]
    fn same_instances_means_the_same_keys_in_the_same_order() {
        let routers = vec![router("p0", 1, 200, true), router("p1", 2, 200, false)];
        let key = |i: &str, vrid, family| InstanceKey::new(i, vrid, family);
        let running = [
            key("p0", 1, Family::Ipv4),
            key("p0", 1, Family::Ipv6),
            key("p1", 2, Family::Ipv4),
        ];
        assert!(same_instances(running.iter(), &routers));
        assert!(!same_instances(running.iter().rev(), &routers));
        assert!(!same_instances(running[..2].iter(), &routers));
        assert!(!same_instances(running.iter(), &routers[..1]));
    }

    #[test]
    fn shared_routers_do_not_keep_the_parsers_buffer() {
        let routers: Vec<RouterConfig> = (1..=100)
            .map(|vrid| (*router("p0", vrid, 200, false)).clone())
            .collect();
        let expected: Vec<u8> = routers.iter().map(|r| r.vrid).collect();
        let shared = shared(routers);
        assert_eq!(shared.len(), 100);
        assert_eq!(shared.capacity(), 100);
        let order: Vec<u8> = shared.iter().map(|r| r.vrid).collect();
        assert_eq!(order, expected, "file order is kept");
    }

    #[test]
    fn each_running_instance_gets_the_action_diff_shows() {
        let running = vec![
            router("p0", 1, 200, false),
            router("p0", 2, 200, true),
            router("p0", 3, 200, false),
        ];
        let routers = vec![
            router("p0", 1, 200, false),
            router("p0", 2, 150, false),
            router("p0", 4, 200, false),
        ];
        let mut plan = ReloadPlan::new(running.clone(), &routers);
        assert!(plan.is_current(&running));
        assert!(!plan.is_current(&routers));
        let (action, config) = plan.take(&running[0], Family::Ipv4).expect("planned");
        assert_eq!(action, RouterAction::Keep);
        assert!(Arc::ptr_eq(&config.expect("kept"), &routers[0]));
        let (action, config) = plan.take(&running[1], Family::Ipv4).expect("planned");
        assert_eq!(
            action,
            RouterAction::Reconfigure {
                attributes: vec!["priority".into()]
            }
        );
        assert!(Arc::ptr_eq(&config.expect("reconfigured"), &routers[1]));
        // The IPv6 instance of router 2 and router 3 left the file.
        for (rc, family) in [(&running[1], Family::Ipv6), (&running[2], Family::Ipv4)] {
            let (action, config) = plan.take(rc, family).expect("planned");
            assert_eq!(action, RouterAction::Remove);
            assert!(config.is_none());
        }
        // Only running configurations have actions; each is taken once.
        assert!(plan.take(&routers[2], Family::Ipv4).is_none());
        assert!(plan.take(&running[0], Family::Ipv4).is_none());
    }
}
