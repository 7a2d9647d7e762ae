//! Client updates: a notice per client of a leader that changed state, and the admin state
//! `interface-state` clients need (the runners that deliver notices are in `clients.rs`).

use super::*;

impl Vrrs {
    /// Notices (and interface-state effects) for every client of server `s`.
    pub(super) fn push_clients(
        &mut self,
        s: usize,
        now_unix: f64,
        previous: State,
        state: State,
        reason: &str,
    ) -> Vec<ClientUpdate> {
        let srv = &self.servers[s];
        let (name, vmac, vips) = (srv.name.clone(), srv.vmac, srv.vips.clone());
        let (interface, vrid, family) = (srv.interface.clone(), srv.vrid, srv.family);
        let mut out = Vec::new();
        for c in srv.clients.clone() {
            let client = &mut self.clients[c];
            client.seq += 1;
            let notice = ClientNotice {
                client: c,
                seq: client.seq,
                name: name.clone(),
                event: StateEvent {
                    interface: interface.clone(),
                    vrid,
                    family,
                    router: None,
                    previous,
                    state,
                    reason: reason.to_string(),
                    vmac,
                    vips: vips.clone(),
                    time: now_unix,
                },
            };
            client.last = Some(notice.clone());
            let effect = self.admin_effect(c, true);
            out.push(ClientUpdate {
                client: c,
                effect,
                notice: Some(notice),
            });
        }
        out
    }

    /// Corrections for interface-state clients (all of them, or those acting on `only`).
    pub(super) fn reconcile_clients(&mut self, only: Option<&str>) -> Vec<ClientUpdate> {
        let mut out = Vec::new();
        for c in 0..self.clients.len() {
            if let ClientKind::InterfaceState { interface } = &self.clients[c].config.kind
                && only.is_none_or(|n| n == interface)
                && let Some(effect) = self.admin_effect(c, false)
            {
                out.push(ClientUpdate {
                    client: c,
                    effect: Some(effect),
                    notice: None,
                });
            }
        }
        out
    }

    /// The admin state an interface-state client needs, if the model says it is not there
    /// yet. `edge`: a state change, which acts even when the link is not known at all.
    pub(super) fn admin_effect(&mut self, c: usize, edge: bool) -> Option<ClientEffect> {
        let ClientKind::InterfaceState { interface } = &self.clients[c].config.kind else {
            return None;
        };
        let up = self.clients[c]
            .server
            .and_then(|s| self.servers[s].leader())
            == Some(State::Master);
        match self.links.get_mut(interface) {
            Some(link) if link.admin_up == up => None,
            Some(link) => {
                link.admin_up = up;
                Some(ClientEffect::SetAdminState {
                    interface: interface.clone(),
                    up,
                })
            }
            // Absent (a full snapshot lacks it): nothing to act on.
            None if self.complete || !edge => None,
            None => Some(ClientEffect::SetAdminState {
                interface: interface.clone(),
                up,
            }),
        }
    }
}
