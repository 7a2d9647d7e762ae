//! The first step of a reload's swap on the loop: each running instance's action (keep,
//! reconfigure, restart, remove) looked up in the plan made off the loop, checked against
//! the new kernel snapshot, and the instance list either kept (the usual reload) or rebuilt.
//!
//! Looking up and checking an instance costs ~0.5–1.2 µs of loop time (its plan entry, its
//! device and parent in the snapshot: cache misses), so at thousands of routers it is done a
//! slice per loop turn, like the reconfigurations that follow, when the list can stay as it
//! is: nothing but which equal copy of its configuration a kept instance shares changes
//! meanwhile. A reload that adds, removes or restarts routers works the list out and
//! rebuilds it in one turn (it starts and stops routers anyway).

use super::reload::{RELOAD_SLICE, Swap};
use super::reload_plan::{Planned, ReloadPlan};
use super::{Instance, InstanceKey, Runtime};
use crate::config::RouterConfig;
use crate::kernel::Snapshot;
use crate::reconcile::routers::{self, RouterAction, RouterChange};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// Instances looked up between two looks at the clock and the timers.
const CHECK_EVERY: usize = 32;

/// The running instances' actions being worked out (see the module comment).
pub(super) struct Classifying {
    plan: ReloadPlan,
    /// By position in the instance list: the action and the new configuration.
    planned: Vec<Planned>,
    /// The list can stay as it is: the same instances in the same order (checked at the
    /// start), and so far none restarting and every parent where it was.
    same_list: bool,
}

impl Classifying {
    /// Work out the actions of `instances` running now with `plan`; `same_list`: they are
    /// exactly the new file's instances, in its order.
    pub(super) fn new(plan: ReloadPlan, instances: usize, same_list: bool) -> Classifying {
        Classifying {
            plan,
            planned: Vec::with_capacity(instances),
            same_list,
        }
    }

    /// Slicing pays only when the list may stay: otherwise it is rebuilt in one turn anyway.
    pub(super) fn sliced(&self) -> bool {
        self.same_list
    }
}

/// Each old instance's action, for `continue_reload`'s log line and the reload's report.
pub(super) enum Done {
    /// The list was kept: the action of the instance at each position.
    InPlace(Vec<RouterAction>),
    /// The list was rebuilt: the action of each old instance by key.
    ByKey(HashMap<InstanceKey, RouterAction>),
}

impl Done {
    /// The action of instance `key`, at position `i` of the list now.
    pub(super) fn get(&self, i: usize, key: &InstanceKey) -> Option<&RouterAction> {
        match self {
            Done::InPlace(actions) => actions.get(i),
            Done::ByKey(map) => map.get(key),
        }
    }

    /// Was every old instance kept as it ran (no reconfiguration, restart or removal)?
    pub(super) fn all_kept(&self) -> bool {
        match self {
            Done::InPlace(actions) => actions.iter().all(RouterAction::is_keep),
            Done::ByKey(map) => map.values().all(RouterAction::is_keep),
        }
    }

    /// How many old instances there were.
    pub(super) fn len(&self) -> usize {
        match self {
            Done::InPlace(actions) => actions.len(),
            Done::ByKey(map) => map.len(),
        }
    }

    /// One change per instance: the new file's (its `routers`) in its order (instances it
    /// added: `add`), then those it removed, sorted. Made off the loop: thousands of names.
    pub(super) fn report(self, routers: &[Arc<RouterConfig>]) -> Vec<RouterChange> {
        let mut done = match self {
            // The kept list is the new file's instances in its order.
            Done::InPlace(actions) => {
                return routers
                    .iter()
                    .flat_map(|rc| {
                        rc.families()
                            .into_iter()
                            .map(|family| InstanceKey::new(&rc.interface, rc.vrid, family))
                    })
                    .zip(actions)
                    .map(|(key, action)| change(&key, action))
                    .collect();
            }
            Done::ByKey(map) => map,
        };
        let mut report = Vec::new();
        for rc in routers {
            for family in rc.families() {
                let key = InstanceKey::new(&rc.interface, rc.vrid, family);
                let action = done.remove(&key).unwrap_or(RouterAction::Add);
                report.push(change(&key, action));
            }
        }
        let mut removed: Vec<(InstanceKey, RouterAction)> = done.into_iter().collect();
        removed.sort_by(|a, b| a.0.cmp(&b.0));
        report.extend(
            removed
                .into_iter()
                .map(|(key, action)| change(&key, action)),
        );
        report
    }
}

impl Runtime {
    /// Work out the actions of the next instances of `c` against the snapshot swapped in and
    /// the new file's `routers`: all of them, or with `slice` (when it began, and the loop
    /// time then) until [`RELOAD_SLICE`] has passed or a router timer is due. Whether all
    /// are done.
    pub(super) fn classify(
        &mut self,
        c: &mut Classifying,
        routers: &[Arc<RouterConfig>],
        slice: Option<(std::time::Instant, crate::vrrp::router::Time)>,
    ) -> bool {
        let snapshot = self.snapshot.clone();
        // By name, only if some instance has no device (see `device_now`).
        let mut by_name: Option<HashMap<&str, u32>> = None;
        while c.planned.len() < self.instances.len() {
            let inst = &mut self.instances[c.planned.len()];
            let (mut action, desired) =
                c.plan
                    .take(&inst.config, inst.key.family)
                    .unwrap_or_else(|| {
                        // Not reached (every instance runs a router of `self.routers`):
                        // compare here.
                        let desired = routers
                            .iter()
                            .find(|r| r.interface == inst.key.interface && r.vrid == inst.key.vrid);
                        let action = routers::instance_action(
                            &inst.config,
                            inst.key.family,
                            desired.map(|rc| &**rc),
                        );
                        (action, desired.cloned())
                    });
            let mut stays = matches!(
                action,
                RouterAction::Keep | RouterAction::Reconfigure { .. }
            );
            if stays && device_now(inst, &snapshot, &mut by_name) != inst.device_index {
                action = RouterAction::Restart {
                    reason: "vrrp device re-created".into(),
                };
                stays = false;
            }
            if let (RouterAction::Keep, Some(rc)) = (&action, &desired) {
                // Equal: share the new file's copy and let the old one go.
                inst.config = rc.clone();
            }
            // A parent gone from the snapshot puts its routers in the waiting list (`install`).
            c.same_list &= stays
                && snapshot
                    .by_index(inst.parent_index)
                    .is_some_and(|p| p.name == inst.key.interface);
            c.planned.push((action, desired));
            if let Some((began, loop_began)) = slice
                && c.planned.len().is_multiple_of(CHECK_EVERY)
                && (began.elapsed() >= RELOAD_SLICE || self.timers.is_due(loop_began))
            {
                break;
            }
        }
        c.planned.len() == self.instances.len()
    }

    /// Once every action is known: keep the list (the instances to reconfigure go to
    /// `swap.pending`) or rebuild it, stopping the instances that leave or restart and
    /// starting the new ones. The actions go to `swap.done`.
    pub(super) async fn settle(&mut self, swap: &mut Swap, c: Classifying) {
        let Classifying {
            plan,
            planned,
            same_list,
        } = c;
        swap.garbage.push(Box::new(plan));
        if same_list {
            swap.pending = planned
                .iter()
                .enumerate()
                .filter_map(|(i, (action, rc))| match (action, rc) {
                    (RouterAction::Reconfigure { .. }, Some(rc)) => Some((i, rc.clone())),
                    _ => None,
                })
                .collect();
            swap.done = Done::InPlace(planned.into_iter().map(|(action, _)| action).collect());
            return;
        }
        let now = self.now();
        let old = std::mem::take(&mut self.instances);
        let mut done: HashMap<InstanceKey, RouterAction> = HashMap::with_capacity(old.len());
        let mut keep = Vec::with_capacity(old.len());
        // The instances to reconfigure, by key (their positions change with the list), and
        // their new configuration.
        let mut live: Vec<(InstanceKey, Arc<RouterConfig>)> = Vec::new();
        for (inst, (action, desired)) in old.into_iter().zip(planned) {
            let key = inst.key.clone();
            match (&action, desired) {
                (RouterAction::Keep, Some(_)) => keep.push(inst),
                (RouterAction::Reconfigure { .. }, Some(rc)) => {
                    live.push((key.clone(), rc));
                    keep.push(inst);
                }
                _ => self.leave_detached(inst, now).await,
            }
            done.insert(key, action);
        }
        let snapshot = self.snapshot.clone();
        self.install(&swap.routers, &snapshot, keep).await;
        let position: HashMap<&InstanceKey, usize> = self
            .instances
            .iter()
            .enumerate()
            .map(|(i, inst)| (&inst.key, i))
            .collect();
        // Positions stay valid until the swap is done: only a reload rebuilds the list, and
        // the loop takes no other commit while one is in progress.
        swap.pending = live
            .into_iter()
            .filter_map(|(key, rc)| position.get(&key).map(|&i| (i, rc)))
            .collect::<VecDeque<_>>();
        swap.done = Done::ByKey(done);
    }
}

/// The report's line for instance `key`.
fn change(key: &InstanceKey, action: RouterAction) -> RouterChange {
    RouterChange {
        interface: key.interface.clone(),
        vrid: key.vrid,
        family: key.family,
        action,
    }
}

/// The index of the instance's vrrp device in `snapshot` (None: gone). By index first (a
/// binary search); the by-name map is built the first time an instance needs it.
fn device_now<'s>(
    inst: &Instance,
    snapshot: &'s Snapshot,
    by_name: &mut Option<HashMap<&'s str, u32>>,
) -> Option<u32> {
    if let Some(index) = inst.device_index
        && snapshot
            .by_index(index)
            .is_some_and(|l| l.name == inst.device)
    {
        return Some(index);
    }
    by_name
        .get_or_insert_with(|| {
            snapshot
                .links
                .iter()
                .map(|l| (l.name.as_str(), l.index))
                .collect()
        })
        .get(inst.device.as_str())
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Family;

    /// VRIDs 1 and 2 on eth0 (both families for 1, IPv4 for 2), in file order.
    fn routers() -> Vec<Arc<RouterConfig>> {
        let config = crate::config::parse_str(
            "[[vrrp]]\ninterface = \"eth0\"\nvrid = 1\nipv4 = [\"192.0.2.1/24\"]\nipv6 = [\"2001:db8::1/64\"]\n\n[[vrrp]]\ninterface = \"eth0\"\nvrid = 2\nipv4 = [\"192.0.2.2/24\"]\n",
            "t.toml",
        )
        .unwrap();
        config.routers.into_iter().map(Arc::new).collect()
    }

    /// `done`'s report for [`routers`]: (VRID, family, action) per line.
    fn lines(done: Done) -> Vec<(u8, Family, &'static str)> {
        done.report(&routers())
            .iter()
            .map(|c| (c.vrid, c.family, c.action.word()))
            .collect()
    }

    #[test]
    fn a_kept_list_reports_each_instance_in_file_order() {
        let reconfigure = RouterAction::Reconfigure {
            attributes: vec!["priority".into()],
        };
        let done = Done::InPlace(vec![RouterAction::Keep, reconfigure, RouterAction::Keep]);
        assert!(!done.all_kept());
        assert_eq!(done.len(), 3);
        assert_eq!(
            lines(done),
            [
                (1, Family::Ipv4, "keep"),
                (1, Family::Ipv6, "reconfigure"),
                (2, Family::Ipv4, "keep"),
            ]
        );
        assert!(Done::InPlace(vec![RouterAction::Keep]).all_kept());
    }

    #[test]
    fn a_rebuilt_list_reports_added_instances_and_removed_ones_last_sorted() {
        let key = |vrid, family| InstanceKey::new("eth0", vrid, family);
        let done = Done::ByKey(HashMap::from([
            (key(1, Family::Ipv4), RouterAction::Keep),
            (
                key(1, Family::Ipv6),
                RouterAction::Restart {
                    reason: "version".into(),
                },
            ),
            (key(9, Family::Ipv4), RouterAction::Remove),
            (key(7, Family::Ipv4), RouterAction::Remove),
        ]));
        assert_eq!(done.len(), 4);
        assert_eq!(
            lines(done),
            [
                (1, Family::Ipv4, "keep"),
                (1, Family::Ipv6, "restart"),
                (2, Family::Ipv4, "add"),
                (7, Family::Ipv4, "remove"),
                (9, Family::Ipv4, "remove"),
            ]
        );
    }
}
