//! keepalived `vrrp_sync_group`s → VRRS leader names, and `notify*` scripts → exec
//! clients.

use super::*;

impl Cx<'_> {
    pub(super) fn sync_group(&mut self, st: &Statement) {
        let Some(name) = st.args().first() else {
            self.d
                .error(st.loc(), "vrrp_sync_group needs a name".to_string());
            return;
        };
        let members = st
            .children()
            .iter()
            .filter(|c| c.keyword() == "group")
            .flat_map(|c| {
                // Members one a line, or several on one line.
                c.children()
                    .iter()
                    .flat_map(|m| m.words.iter().cloned())
                    .chain(c.args().iter().cloned())
            })
            .collect();
        let keeps_weights = st.children().iter().any(|c| {
            matches!(
                c.keyword(),
                "sync_group_tracking_weight" | "global_tracking"
            )
        });
        self.groups.push(Group {
            name: name.text.clone(),
            loc: st.loc(),
            members,
            statement: st.clone(),
            keeps_weights,
        });
    }

    pub(super) fn group_of(&self, instance: &str) -> Option<&Group> {
        self.groups
            .iter()
            .find(|g| g.members.iter().any(|m| m.text == instance))
    }

    /// notify*: a [[vrrs.client]] of kind exec following `leader`.
    pub(super) fn notify(&mut self, n: &Statement, leader: &str) -> Option<Client> {
        let kw = n.keyword();
        let Some(script) = n.args().first() else {
            self.d.error(n.loc(), format!("`{kw}` needs a script"));
            return None;
        };
        let mut notes = vec![format!("{}: {}", n.loc(), words(&n.words))];
        if n.args().len() > 1 {
            self.d.warn(
                n.args()[1].loc.clone(),
                format!(
                    "{kw}: user/group not kept: exec clients run as the netvrrp runtime's user"
                ),
            );
            notes.push("user/group not kept: the command runs as the runtime's user".to_string());
        }
        let argv = split_script(script);
        let state = match kw {
            "notify" => {
                notes.push(
                    "keepalived appended the arguments TYPE NAME STATE PRIORITY; netvrrp passes NETVRRP_NAME and NETVRRP_STATE (initialize, backup, master) in the environment instead: adapt the script".to_string(),
                );
                return Some(Client {
                    leader: leader.to_string(),
                    command: argv,
                    notes,
                });
            }
            "notify_master" => "master",
            "notify_backup" => "backup",
            "notify_fault" => {
                notes.push(
                    "netvrrp has no FAULT state: a router that cannot run is in Initialize"
                        .to_string(),
                );
                "initialize"
            }
            _ => {
                // notify_stop, notify_deleted, notify_master_rx_lower_pri.
                self.skip(n, "no netvrrp equivalent");
                return None;
            }
        };
        notes.push(format!(
            "runs on every transition in netvrrp; the shell wrapper keeps keepalived's \"only on {state}\""
        ));
        let mut command = vec![
            "/bin/sh".to_string(),
            "-c".to_string(),
            format!("[ \"$NETVRRP_STATE\" = {state} ] || exit 0; exec \"$0\" \"$@\""),
        ];
        command.extend(argv);
        Some(Client {
            leader: leader.to_string(),
            command,
            notes,
        })
    }

    /// Sync groups: a leader name served by the first member; group tracking applies to
    /// every member; group notify scripts follow the leader name.
    pub(super) fn groups_apply(&mut self, insts: &mut [Inst], imp: &mut Imported) {
        let groups = std::mem::take(&mut self.groups);
        for g in &groups {
            let mut members: Vec<usize> = Vec::new();
            for m in &g.members {
                match insts.iter().position(|i| i.name == m.text) {
                    Some(i) => members.push(i),
                    None => self.d.warn(
                        m.loc.clone(),
                        format!(
                            "vrrp_sync_group {}: no vrrp_instance {} was imported",
                            g.name, m.text
                        ),
                    ),
                }
            }
            let Some(&first) = members.first() else {
                continue;
            };
            // A group name that is also an instance's leader name gets a suffix.
            let mut leader = g.name.clone();
            if insts.iter().any(|i| i.router.vrrs_leader.contains(&leader)) {
                leader.push_str("-group");
            }
            let inst = &mut insts[first];
            inst.router.vrrs_leader.push(leader.clone());
            inst.router.note(
                "vrrs-leader",
                format!(
                    "{}: vrrp_sync_group {}: the group's name follows this router",
                    g.loc, g.name
                ),
            );
            let first_name = insts[first].name.clone();
            for &other in &members[1..] {
                let o = &insts[other];
                self.d.warn(
                    o.loc.clone(),
                    format!(
                        "vrrp_instance {} was in vrrp_sync_group {}: netvrrp elects it on its own; give it the same priorities as {first_name} so that both move together",
                        o.name, g.name
                    ),
                );
                insts[other].router.note(
                    "",
                    format!("{}: in vrrp_sync_group {} with {first_name}: netvrrp elects it on its own (same priorities keep them together)", g.loc, g.name),
                );
            }
            for c in g.statement.children() {
                match c.keyword() {
                    "group" => {}
                    "sync_group_tracking_weight" | "global_tracking" => {
                        insts[first].router.note(
                            "",
                            format!(
                                "{}: {}: the members keep the weights of what they track themselves, as in keepalived",
                                c.loc(),
                                c.keyword()
                            ),
                        );
                    }
                    "track_interface" => {
                        for t in c.children() {
                            let Some(w) = t.words.first().cloned() else {
                                continue;
                            };
                            let (weight, reverse) = self.weight(t, Some(0));
                            for &m in &members {
                                self.track_interface(
                                    &mut insts[m].router,
                                    &w,
                                    weight.unwrap_or(0),
                                    reverse,
                                );
                            }
                        }
                    }
                    "track_script" | "track_process" | "track_file" => {
                        for t in c.children() {
                            let Some(w) = t.words.first().cloned() else {
                                continue;
                            };
                            let (weight, reverse) = self.weight(t, None);
                            let Some((kind, name, weight, reverse)) =
                                self.resolve(c, &w, weight, reverse)
                            else {
                                continue;
                            };
                            for &m in &members {
                                self.track_object(
                                    &mut insts[m].router,
                                    &w,
                                    kind,
                                    &name,
                                    weight,
                                    reverse,
                                );
                            }
                        }
                    }
                    "notify" | "notify_master" | "notify_backup" | "notify_fault"
                    | "notify_stop" | "notify_deleted" => {
                        if let Some(client) = self.notify(c, &leader) {
                            imp.clients.push(client);
                        }
                    }
                    _ => {
                        let n = self.skip(c, "no netvrrp equivalent");
                        insts[first].router.note("", n);
                    }
                }
            }
        }
        self.groups = groups;
    }
}
