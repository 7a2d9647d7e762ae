//! The instance table: install and index the instances of a configuration, feed them
//! inputs and carry out their actions (frames, protodown, events), receive adverts, and
//! bring them in line with the kernel (resync, tracking).

use super::*;

impl Runtime {
    /// Replace the instance list with the one `routers` describe. Instances in `keep` (old
    /// ones that are not restarted) carry over with their state, timers and counters.
    #[allow(clippy::vec_box)] // see `instances`
    pub(super) async fn install(
        &mut self,
        routers: &[Arc<RouterConfig>],
        snapshot: &Snapshot,
        keep: Vec<Box<Instance>>,
    ) {
        let now = self.now();
        let mut keep: HashMap<InstanceKey, Box<Instance>> =
            keep.into_iter().map(|i| (i.key.clone(), i)).collect();
        let mut next: Vec<Box<Instance>> =
            Vec::with_capacity(routers.iter().map(|rc| rc.families().len()).sum());
        let mut started: Vec<usize> = Vec::new();
        // By name: a reload of thousands of routers must not be quadratic on the election
        // loop.
        let links: HashMap<&str, &crate::kernel::LinkInfo> = snapshot
            .links
            .iter()
            .map(|l| (l.name.as_str(), l))
            .collect();
        // Refilled below: what cannot be installed now waits (see `waiting.rs`).
        let was_waiting = std::mem::take(&mut self.not_installed);
        for rc in routers {
            let Some(parent) = links.get(rc.interface.as_str()).copied() else {
                for family in rc.families() {
                    self.wait(
                        &was_waiting,
                        InstanceKey::new(&rc.interface, rc.vrid, family),
                        snapshot,
                    );
                }
                continue;
            };
            for family in rc.families() {
                let key = InstanceKey::new(&rc.interface, rc.vrid, family);
                if let Some(inst) = keep.remove(&key) {
                    next.push(inst);
                    continue;
                }
                let device = crate::desired::router_device_name(family, parent.index, rc.vrid);
                let device_link = links.get(device.as_str()).copied();
                let Some(primary) = primary_address(snapshot, parent.index, family) else {
                    self.wait(&was_waiting, key, snapshot);
                    continue;
                };
                let params = crate::daemon::router_params::router_params(rc, family, primary);
                let router = match Router::new(params) {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!(target: "netvrrp::protocol", interface = %rc.interface, vrid = rc.vrid, %family, "cannot start: {e}");
                        self.not_installed.push(waiting::NotInstalled {
                            key,
                            reason: format!("cannot start: {e}"),
                            retry: false,
                        });
                        continue;
                    }
                };
                let vips: Vec<IpAddr> = rc.addresses(family).iter().map(|n| n.addr()).collect();
                let device_index = device_link.map(|l| l.index);
                let unicast = open_unicast(rc, family, parent.index, primary);
                started.push(next.len());
                next.push(Box::new(Instance {
                    key,
                    config: rc.clone(),
                    router,
                    device,
                    device_index,
                    parent_index: parent.index,
                    vmac: MacAddr::vrrp(family, rc.vrid),
                    vips,
                    primary,
                    unicast,
                    protodown: None,
                    protodown_failed: false,
                    adverts_unrenewed: 0,
                    armed: None,
                    last_change: unix_now(),
                    last_reason: None,
                }));
            }
        }
        // Whatever is left in `keep` was removed or changed: leave gracefully (priority 0).
        let mut keep: Vec<Box<Instance>> = keep.into_values().collect();
        keep.sort_by(|a, b| a.key.cmp(&b.key));
        for old in keep {
            self.leave_detached(old, now).await;
        }
        self.instances = next;
        self.rebuild_indexes();
        self.open_receivers();
        for i in started {
            let link_ok = {
                let inst = &self.instances[i];
                inst.device_index.is_some()
                    && snapshot
                        .by_index(inst.parent_index)
                        .is_some_and(|p| p.carrier)
            };
            if !link_ok {
                self.feed(i, now, Input::LinkDown).await;
            }
            // Before Startup: an owner whose object is down must not start as Master.
            let track: Vec<(usize, bool)> = self.instances[i]
                .config
                .track
                .iter()
                .enumerate()
                .map(|(t, tc)| (t, crate::track::entry_up(tc, snapshot, &self.tracks)))
                .collect();
            for (index, up) in track {
                if !up {
                    self.feed(i, now, Input::TrackChanged { index, up }).await;
                }
            }
            let shutdown = self.instances[i].config.shutdown;
            // Only the first start takes a device over (see `takeover.rs`): an instance a
            // reload restarts starts as any other.
            if !self.holding.is_empty() && !self.resume.contains(&self.instances[i].key) {
                self.holding.remove(&self.instances[i].key);
            }
            if !shutdown {
                self.feed(i, now, Input::Startup).await;
                if self.resume.remove(&self.instances[i].key) {
                    self.feed(i, now, Input::Resume).await;
                }
            } else {
                // Not running, but the device must not carry traffic.
                self.feed(i, now, Input::Shutdown).await;
            }
        }
    }

    pub(super) fn rebuild_indexes(&mut self) {
        self.by_vrid.clear();
        self.timers.clear();
        for (i, inst) in self.instances.iter_mut().enumerate() {
            self.by_vrid
                .insert((inst.parent_index, inst.key.family, inst.key.vrid), i);
            inst.armed = inst.router.next_deadline();
            if let Some(t) = inst.armed {
                self.timers.insert(t, i, inst.interval());
            }
        }
    }

    /// One receive socket per (parent, family) in use; close the ones no longer needed.
    pub(super) fn open_receivers(&mut self) {
        let wanted: BTreeSet<(u32, Family)> = self
            .instances
            .iter()
            .map(|i| (i.parent_index, i.key.family))
            .collect();
        self.receivers.retain(|k, _| wanted.contains(k));
        for (parent, family) in wanted {
            if self.receivers.contains_key(&(parent, family)) {
                continue;
            }
            match RxSocket::open(family, parent) {
                Ok(sock) => {
                    self.receivers.insert((parent, family), sock);
                }
                Err(e) => {
                    tracing::error!(target: "netvrrp::packets", parent, %family, "cannot open receive socket: {e:#}");
                }
            }
        }
    }

    /// Hand one input to instance `i`, carry out its actions, re-arm its timer.
    pub(super) async fn feed(&mut self, i: usize, now: Time, input: Input) {
        self.drive(i, now, |router, now, out| router.handle(now, input, out))
            .await;
        if !self.holding.is_empty() {
            self.after_held_input(i, input).await;
        }
    }

    /// Let `first` act on instance `i`'s router (an input, a reconfiguration), then carry
    /// out its actions and re-arm the timer like [`Runtime::feed`].
    pub(super) async fn drive(
        &mut self,
        i: usize,
        now: Time,
        first: impl FnOnce(&mut Router, Time, &mut Vec<Action>),
    ) {
        let now = now.max(self.floor);
        self.floor = now;
        let mut first = Some(first);
        let mut next_input: Option<Input> = None;
        loop {
            let mut actions = std::mem::take(&mut self.scratch);
            actions.clear();
            if let Some(f) = first.take() {
                f(&mut self.instances[i].router, now, &mut actions);
            } else if let Some(input) = next_input.take() {
                self.instances[i].router.handle(now, input, &mut actions);
            } else {
                self.scratch = actions;
                break;
            }
            let protodown =
                Self::queue_frames(&mut self.frames, &mut self.instances[i], i, &actions);
            self.note_renewal(i, &actions);
            // A new Master's device and filter are open before its first advert leaves
            // (see promotion.rs); every other protodown change waits for the frames.
            let opened = match protodown {
                Some(false) => Some(self.open_for_master(i).await),
                _ => None,
            };
            if protodown.is_some() {
                // A transition: its frames (a new Master's advert and gratuitous packets, a
                // leaving Master's priority 0) go before the logging, events, fan-out and
                // netlink round trips that follow. They leave through the parent.
                self.flush_frames();
            }
            Self::report(&self.events, &mut self.instances[i], &actions);
            let mut fanout = crate::vrrs::Fanout::default();
            for a in &actions {
                if let Action::StateChanged { from, to, reason } = *a {
                    self.filter_dirty = true;
                    self.masters_dirty |= from == State::Master || to == State::Master;
                    let key = &self.instances[i].key;
                    let f = self.vrrs.on_state(
                        unix_now(),
                        &key.interface,
                        key.vrid,
                        key.family,
                        to,
                        reason.as_str(),
                    );
                    fanout.append(f);
                }
            }
            self.scratch = actions;
            // A device taken over live stays as it is until the protocol decides.
            let protodown = protodown.filter(|&on| !(on && self.held(&self.instances[i])));
            if let Some(on) = protodown {
                let refused = match opened {
                    Some(done) => !done,
                    None => !Self::set_protodown(&self.kernel, &mut self.instances[i], on).await,
                };
                if refused && !on && self.instances[i].router.state() == State::Master {
                    // Our adverts no longer depend on the device being up: a Master whose
                    // device stays down must stop advertising, as if its link were gone.
                    let inst = &mut self.instances[i];
                    inst.router.counters_mut().protodown_errors += 1;
                    inst.protodown_failed = true;
                    tracing::error!(target: "netvrrp::kernel", device = %inst.device, "protodown off refused: leaving Master for Initialize until the device's protodown reasons are clear");
                    next_input = Some(Input::LinkDown);
                }
            }
            if !fanout.is_empty() {
                self.carry_out(fanout);
            }
        }
        let inst = &mut self.instances[i];
        let next = inst.router.next_deadline();
        if next != inst.armed {
            if let Some(t) = inst.armed {
                self.timers.remove(t, i);
            }
            if let Some(t) = next {
                self.timers.insert(t, i, inst.interval());
            }
            inst.armed = next;
        }
    }

    /// A Master that advertises renews its dead-man leases (sent after the frames, see
    /// [`Runtime::sync_filter`]) after every advert, or every other one from 500 ms
    /// ([`crate::daemon::filter::adverts_per_renewal`]). A state change counts as a renewal:
    /// the filter sync it causes installs fresh leases.
    fn note_renewal(&mut self, i: usize, actions: &[Action]) {
        let inst = &mut self.instances[i];
        if actions
            .iter()
            .any(|a| matches!(a, Action::StateChanged { .. }))
        {
            inst.adverts_unrenewed = 0;
            return;
        }
        let advertised = actions
            .iter()
            .any(|a| matches!(a, Action::SendAdvert { priority, .. } if *priority > 0));
        if !(self.deadman && advertised && inst.router.state() == State::Master) {
            return;
        }
        let interval = inst.interval();
        inst.adverts_unrenewed = inst.adverts_unrenewed.saturating_add(1);
        if inst.adverts_unrenewed < crate::daemon::filter::adverts_per_renewal(interval) {
            return;
        }
        inst.adverts_unrenewed = 0;
        self.renewals.push(crate::daemon::filter::Renewal {
            device: inst.device_index,
            vips: inst.vips.clone(),
            lease_ms: crate::daemon::filter::lease_for(interval),
        });
    }

    /// Shut down an instance that is no longer in the list (removed or changed by a
    /// reload): priority 0 if it was Master, protodown on.
    pub(super) async fn leave_detached(&mut self, mut inst: Box<Instance>, now: Time) {
        let mut actions = std::mem::take(&mut self.scratch);
        actions.clear();
        inst.router.handle(now, Input::Shutdown, &mut actions);
        let protodown = Self::queue_frames(&mut self.frames, &mut inst, DETACHED, &actions);
        self.flush_frames();
        Self::report(&self.events, &mut inst, &actions);
        self.scratch = actions;
        if let Some(on) = protodown {
            Self::set_protodown(&self.kernel, &mut inst, on).await;
        }
    }

    /// Send every queued frame; a refused one counts as a send error of its instance.
    pub(super) fn flush_frames(&mut self) {
        if self.frames.queued() == 0 {
            return;
        }
        let instances = &mut self.instances;
        self.frames.flush(|(i, kind), e| {
            let Some(inst) = instances.get_mut(i) else {
                tracing::warn!(target: "netvrrp::packets", "frame of a removed router not sent: {e}");
                return;
            };
            let c = inst.router.counters_mut();
            c.send_errors += 1;
            if kind == net::FrameKind::Gratuitous {
                c.gratuitous_packets_sent = c.gratuitous_packets_sent.saturating_sub(1);
            }
            tracing::warn!(target: "netvrrp::packets", device = %inst.device, ?kind, "frame not sent: {e}");
        });
    }

    /// Ask for protodown `on` on the instance's device; false when the kernel refused.
    pub(super) async fn set_protodown(kernel: &Kernel, inst: &mut Instance, on: bool) -> bool {
        let Some(idx) = inst.device_index else {
            return true;
        };
        match kernel.set_protodown(idx, on).await {
            Ok(()) => {
                tracing::debug!(target: "netvrrp::kernel", device = %inst.device, on, "protodown set");
                inst.protodown = Some(on);
                true
            }
            Err(e) => {
                tracing::error!(target: "netvrrp::kernel", device = %inst.device, "cannot set protodown {}: {e:#}", if on { "on" } else { "off" });
                false
            }
        }
    }

    /// Log and publish an instance's state and priority changes.
    pub(super) fn report(
        events: &broadcast::Sender<Published>,
        inst: &mut Instance,
        actions: &[Action],
    ) {
        for action in actions {
            match *action {
                Action::StateChanged { from, to, reason } => {
                    tracing::info!(target: "netvrrp::protocol", router = inst.config.name.as_deref(), interface = %inst.key.interface, vrid = inst.key.vrid, family = %inst.key.family, %from, %to, %reason, "state change");
                    inst.last_change = unix_now();
                    inst.last_reason = Some(reason);
                    let _ = events.send(Published {
                        // A name follows one instance (`leader_family`): the other family's
                        // instance of the same router must not speak for it.
                        names: if inst.key.family == inst.config.leader_family() {
                            inst.config.vrrs_leader.clone()
                        } else {
                            Vec::new()
                        },
                        event: StateEvent {
                            interface: inst.key.interface.clone(),
                            vrid: inst.key.vrid,
                            family: inst.key.family,
                            router: inst.config.name.clone(),
                            previous: from,
                            state: to,
                            reason: reason.to_string(),
                            vmac: inst.vmac,
                            vips: inst.vips.clone(),
                            time: inst.last_change,
                        },
                    });
                }
                Action::EffectivePriorityChanged { from, to } => {
                    tracing::info!(target: "netvrrp::protocol", router = inst.config.name.as_deref(), interface = %inst.key.interface, vrid = inst.key.vrid, family = %inst.key.family, from, to, "effective priority changed");
                }
                Action::OwnerConflict { src, priority } => {
                    tracing::warn!(target: "netvrrp::protocol", interface = %inst.key.interface, vrid = inst.key.vrid, family = %inst.key.family, %src, priority, "another router advertises addresses we own (priority 255 here): misconfiguration; counted in owner_conflicts, logged at most once a minute");
                }
                Action::IntervalMismatch { src, interval_cs } => {
                    tracing::warn!(target: "netvrrp::protocol", interface = %inst.key.interface, vrid = inst.key.vrid, family = %inst.key.family, %src, advertised_ms = u32::from(interval_cs) * 10, configured_ms = inst.config.advertisement_interval_ms, "advert interval differs from ours (followed as RFC 9568 says); counted in interval_mismatches, logged at most once a minute");
                }
                _ => {}
            }
        }
    }

    /// Queue an instance's frames on `frames`, tagged with `tag` (the instance's index, or
    /// [`DETACHED`]), and return the protodown it asks for (the last one), for the caller to
    /// request once the frames are flushed.
    pub(super) fn queue_frames(
        frames: &mut FrameBatch,
        inst: &mut Instance,
        tag: usize,
        actions: &[Action],
    ) -> Option<bool> {
        let mut protodown = None;
        for action in actions {
            match *action {
                Action::SetProtodown(on) => protodown = Some(on),
                Action::SendAdvert {
                    priority,
                    interval_cs,
                } if !inst.config.unicast_peers.is_empty() => {
                    send_unicast_advert(inst, priority, interval_cs)
                }
                Action::SendAdvert {
                    priority,
                    interval_cs,
                } => {
                    if inst.device_index.is_none() {
                        // No device, no router: nothing may speak for its virtual MAC.
                        inst.router.counters_mut().send_errors += 1;
                        continue;
                    }
                    packet_log::sent(inst, priority, interval_cs);
                    let advert = packet::AdvertFields {
                        version: inst.config.version.number(),
                        vrid: inst.key.vrid,
                        priority,
                        interval_cs,
                        addresses: &inst.vips,
                    };
                    frames.push_advert(
                        tag,
                        inst.parent_index,
                        inst.vmac,
                        inst.primary,
                        &advert,
                        inst.config.checksum_with_ipv4_pseudoheader,
                    );
                }
                Action::SendGratuitous { .. } => {
                    if inst.device_index.is_none() {
                        continue;
                    }
                    let src6 = match inst.primary {
                        IpAddr::V6(s) => Some(s),
                        IpAddr::V4(_) => None,
                    };
                    for vip in &inst.vips {
                        match frames.push_gratuitous(tag, inst.parent_index, inst.vmac, *vip, src6)
                        {
                            Ok(()) => inst.router.counters_mut().gratuitous_packets_sent += 1,
                            Err(e) => {
                                inst.router.counters_mut().send_errors += 1;
                                tracing::warn!(target: "netvrrp::packets", device = %inst.device, %vip, "gratuitous packet not sent: {e:#}");
                            }
                        }
                    }
                }
                Action::StateChanged { .. }
                | Action::EffectivePriorityChanged { .. }
                | Action::OwnerConflict { .. }
                | Action::IntervalMismatch { .. } => {}
            }
        }
        protodown
    }

    /// A packet from a receive socket: find its router, check it (read in place, no
    /// allocation), count, dispatch.
    pub(super) async fn on_packet(&mut self, pkt: Received<'_>) {
        let vrid = pkt.vrid();
        let idx = vrid.and_then(|v| {
            self.by_vrid
                .get(&(pkt.parent_index, pkt.family, v))
                .copied()
        });
        let Some(i) = idx else {
            // No instance runs this VRID on this (parent, family), or the packet is too short
            // to carry one: every instance on that parent and family counts it (each sees the
            // same link), as `vrid_errors` or `truncated_errors`.
            let mut attributed = false;
            for inst in self.instances.iter_mut().filter(|inst| {
                inst.parent_index == pkt.parent_index && inst.key.family == pkt.family
            }) {
                let c = inst.router.counters_mut();
                match vrid {
                    Some(_) => c.vrid_errors += 1,
                    None => c.truncated_errors += 1,
                }
                attributed = true;
            }
            if !attributed {
                // The last instance on that parent went away while the packet was queued:
                // nobody's counter to charge.
                tracing::debug!(target: "netvrrp::packets", parent = pkt.parent_index, "dropped: no instance on this parent any more");
            }
            return;
        };
        let now = self.arrival(pkt.arrived);
        let inst = &mut self.instances[i];
        let version = inst.config.version.number();
        let expected = crate::vrrp::unicast::expected_destination(
            pkt.family,
            !inst.config.unicast_peers.is_empty(),
            inst.primary,
        );
        match pkt.view_for(version, expected) {
            Ok(advert) => {
                packet_log::received(inst, pkt.src, &advert);
                let c = inst.router.counters_mut();
                match advert.checksum_form() {
                    Some(packet::ChecksumForm::WithPseudoHeader) => {
                        c.checksum_with_pseudoheader_received += 1
                    }
                    Some(packet::ChecksumForm::MessageOnly) => {
                        c.checksum_without_pseudoheader_received += 1
                    }
                    None => {}
                }
                if !inst.config.hears(pkt.src) {
                    c.peer_not_allowed += 1;
                    return;
                }
                let input = Input::Advert {
                    src: pkt.src,
                    priority: advert.priority(),
                    max_advert_interval_cs: advert.interval_cs(),
                };
                self.feed(i, now, input).await;
            }
            Err(e) => {
                packet_log::dropped(inst, pkt.src, &e);
                net::count_drop(inst.router.counters_mut(), &e)
            }
        }
    }

    /// Read what every receive socket has queued (at most [`RX_BURST`] packets each, so a
    /// flood cannot hold timers back) and hand each packet over.
    pub(super) async fn drain_receivers(&mut self) {
        let mut buf = std::mem::take(&mut self.rx_buf);
        let keys: Vec<(u32, Family)> = self.receivers.keys().copied().collect();
        for key in keys {
            for _ in 0..RX_BURST {
                let Some(sock) = self.receivers.get_mut(&key) else {
                    break;
                };
                match sock.try_recv(&mut buf) {
                    Ok(Some(pkt)) => self.on_packet(pkt).await,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(target: "netvrrp::packets", parent = key.0, family = %key.1, "receive failed: {e}");
                        break;
                    }
                }
            }
        }
        self.rx_buf = buf;
    }

    pub(super) fn is_link_event(ev: &KernelEvent) -> bool {
        matches!(
            ev,
            KernelEvent::LinkChanged(..) | KernelEvent::LinkRemoved { .. }
        )
    }

    /// Re-read the links and bring every instance's link view in line with them.
    pub(super) async fn refresh_links(&mut self) {
        match self.kernel.snapshot().await {
            Ok(snap) => {
                let now = self.now();
                self.resync(Arc::new(snap), now).await;
                self.start_waiting().await;
            }
            Err(e) => {
                tracing::error!(target: "netvrrp::kernel", "cannot re-read the kernel state: {e:#}")
            }
        }
    }

    /// Bring every instance's link view in line with a snapshot: parent carrier, device
    /// presence (and index, after a re-creation), tracked interfaces.
    pub(super) async fn resync(&mut self, snap: Arc<Snapshot>, now: Time) {
        self.snapshot = snap.clone();
        let snap = &*snap;
        // While the executor is still switching pathways, a snapshot shows them half done:
        // reading it would "correct" them back and forth. The link events of the executor's
        // own last changes bring a snapshot of the finished state.
        if self.vrrs_pending.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            let fan = self.vrrs.on_snapshot(snap);
            if !fan.is_empty() {
                self.carry_out(fan);
            }
        }
        // By name once: thousands of instances must not each scan thousands of links.
        let by_name: HashMap<&str, &crate::kernel::LinkInfo> =
            snap.links.iter().map(|l| (l.name.as_str(), l)).collect();
        for i in 0..self.instances.len() {
            // Only a Master from before this snapshot's inputs can tell its device's
            // protodown from the snapshot (one that becomes Master below has just set it).
            let was_master = self.instances[i].router.state() == State::Master;
            let (parent_ok, dev, dev_index, dev_reason, dev_protodown, tracks) = {
                let inst = &self.instances[i];
                let parent_ok = snap.by_index(inst.parent_index).is_some_and(|p| p.carrier);
                let dev = by_name.get(inst.device.as_str()).copied();
                let dev_index = dev.map(|l| l.index);
                let dev_reason = dev.map_or(0, |l| l.protodown_reason);
                let dev_protodown = dev.is_some_and(|l| l.protodown);
                let tracks: Vec<bool> = inst
                    .config
                    .track
                    .iter()
                    .map(|t| crate::track::entry_up(t, snap, &self.tracks))
                    .collect();
                (parent_ok, dev, dev_index, dev_reason, dev_protodown, tracks)
            };
            let drift = self.find_drift(i, dev, snap);
            let drifted = drift.is_some();
            self.note_drift(i, drift);
            let inst = &mut self.instances[i];
            if dev_index != inst.device_index {
                self.filter_dirty = true;
                inst.device_index = dev_index;
                inst.protodown = None;
                inst.protodown_failed = false;
            }
            // After a refused protodown off, wait until nothing else holds the device down
            // (the operator clearing a reason bit is a link event that brings us here).
            if inst.protodown_failed && dev_reason == 0 {
                inst.protodown_failed = false;
            }
            let link_ok = parent_ok && dev_index.is_some() && !inst.protodown_failed && !drifted;
            if link_ok != inst.router.link_up() {
                let input = if link_ok {
                    Input::LinkUp
                } else {
                    Input::LinkDown
                };
                self.feed(i, now, input).await;
            }
            if was_master {
                self.reclaim_protodown(i, dev_protodown, dev_reason).await;
            }
            let known: Vec<bool> = self.instances[i].router.tracked_down().to_vec();
            for (index, up) in tracks.into_iter().enumerate() {
                if known.get(index).copied() == Some(up) {
                    // tracked_down()[index] == up means the view is stale.
                    self.feed(i, now, Input::TrackChanged { index, up }).await;
                }
            }
        }
    }

    /// Feed the state of the `[[track]]` objects named in `names` to every router entry that
    /// follows one of them (the routers ignore a state they already have).
    pub(super) async fn feed_tracks(&mut self, names: &[String]) {
        let now = self.now();
        for i in 0..self.instances.len() {
            let changes: Vec<(usize, bool)> = self.instances[i]
                .config
                .track
                .iter()
                .enumerate()
                .filter(|(_, t)| t.object().is_some_and(|o| names.iter().any(|n| n == o)))
                .map(|(index, t)| {
                    (
                        index,
                        crate::track::entry_up(t, &self.snapshot, &self.tracks),
                    )
                })
                .collect();
            for (index, up) in changes {
                self.feed(i, now, Input::TrackChanged { index, up }).await;
            }
        }
    }
}
