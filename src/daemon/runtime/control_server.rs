//! The control server: each connection classified from SO_PEERCRED, requests read with
//! limits and handed to the loop, subscriptions streamed.

use super::*;
use crate::contract::{StreamEvent, StreamLine, TrackRow};
use crate::vrrs::show::ClientRow;

/// Who is on the other end of a control connection (see [`super::access`]).
pub(super) async fn classify(
    stream: &tokio::net::UnixStream,
    policy: crate::daemon::access::Policy,
) -> Result<crate::daemon::access::Peer, String> {
    let cred = stream
        .peer_cred()
        .map_err(|e| format!("cannot identify the peer: {e}"))?;
    let (uid, gid) = (cred.uid(), cred.gid());
    let own = nix::unistd::geteuid().as_raw();
    if uid == 0 || uid == own {
        return policy.classify(uid, gid, own, Vec::new);
    }
    // The group database may be remote (NSS): look it up off the event loop.
    tokio::task::spawn_blocking(move || {
        policy.classify(uid, gid, own, || {
            crate::daemon::access::database_groups(uid, gid)
        })
    })
    .await
    .map_err(|e| format!("group lookup failed: {e}"))?
}

/// One control connection: read request lines, forward them to the loop, write replies. A
/// subscribe request turns the connection into an event stream.
pub(super) async fn serve_connection(
    stream: tokio::net::UnixStream,
    ctl: mpsc::Sender<Control>,
    peer: crate::daemon::access::Peer,
    admission: &crate::daemon::admission::Admission,
) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read).take(control::MAX_REQUEST as u64);
    let mut line = String::new();
    loop {
        line.clear();
        // Idle between requests for at most IDLE_TIMEOUT (an idle connection holds a slot);
        // once a request starts, it must end within REQUEST_TIMEOUT.
        match tokio::time::timeout(crate::daemon::admission::IDLE_TIMEOUT, reader.fill_buf()).await
        {
            // Err(_): idle too long.
            Err(_) | Ok(Ok([]) | Err(_)) => return,
            Ok(Ok(_)) => {}
        }
        match tokio::time::timeout(control::REQUEST_TIMEOUT, reader.read_line(&mut line)).await {
            Err(_elapsed) => {
                let msg = serde_json::to_string(&Reply::err("request not completed in time"))
                    .unwrap_or_default();
                let _ = write.write_all(format!("{msg}\n").as_bytes()).await;
                return;
            }
            Ok(Ok(0) | Err(_)) => return,
            Ok(Ok(_)) => {}
        }
        if !line.ends_with('\n') {
            let msg =
                serde_json::to_string(&Reply::err("request too long or not newline-terminated"))
                    .unwrap_or_default();
            let _ = write.write_all(format!("{msg}\n").as_bytes()).await;
            return;
        }
        reader.set_limit(control::MAX_REQUEST as u64);
        // Replies with a row per instance or router (megabytes at thousands) are written out
        // on a blocking thread, not on the election loop's, which this task shares. The
        // others stay here: a `stop` reply must be out before the runtime's thread ends.
        let mut sizable = false;
        let reply = match control::parse_request(&line) {
            Err(e) => Reply::err(e),
            Ok(_)
                if let Some(Err(why)) = control::parse_identity(&line)
                    .map(|asked| crate::daemon::identity::check_request(&asked)) =>
            {
                Reply::err(why)
            }
            Ok(req) if let Err(why) = peer.permits(&req) => {
                admission.refused_request(peer.uid, &why);
                Reply::err(why)
            }
            Ok(Request::Subscribe { names }) => {
                stream_events(&mut write, &ctl, &names).await;
                return;
            }
            Ok(req) => {
                sizable = matches!(
                    req,
                    Request::ShowVrrp
                        | Request::ShowVrrs { .. }
                        | Request::ShowTrack { .. }
                        | Request::Reload { .. }
                        | Request::Running
                );
                let (tx, rx) = oneshot::channel();
                if ctl
                    .send(Control::Request(req, peer.clone(), tx))
                    .await
                    .is_err()
                {
                    return;
                }
                match rx.await {
                    Ok(r) => r,
                    Err(_) => return,
                }
            }
        };
        let text = if sizable {
            tokio::task::spawn_blocking(move || serde_json::to_string(&reply)).await
        } else {
            Ok(serde_json::to_string(&reply))
        };
        let Ok(Ok(mut text)) = text else {
            return;
        };
        text.push('\n');
        if write.write_all(text.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Answer one error line and close (the connection limit is reached).
pub(super) async fn refuse_connection(mut stream: tokio::net::UnixStream, why: &str) {
    use tokio::io::AsyncWriteExt;
    let msg = serde_json::to_string(&Reply::err(why)).unwrap_or_default();
    let _ = tokio::time::timeout(
        Duration::from_secs(1),
        stream.write_all(format!("{msg}\n").as_bytes()),
    )
    .await;
}

/// A subscriber connection: the state each wanted name is in now, then every change, in
/// order, one JSON object per line, until either side goes away.
pub(super) async fn stream_events(
    write: &mut tokio::net::unix::OwnedWriteHalf,
    ctl: &mpsc::Sender<Control>,
    names: &[String],
) {
    use tokio::io::AsyncWriteExt;
    let (tx, rx) = oneshot::channel();
    if ctl.send(Control::Subscribe(tx)).await.is_err() {
        return;
    }
    let Ok((current, mut events, mut tracks, track_names)) = rx.await else {
        return;
    };
    // A name nobody serves would wait silently forever: say so and which names exist.
    fn name_of(line: &StreamEvent) -> Option<&str> {
        match line {
            StreamEvent::Current { name, .. } => Some(name.as_str()),
            _ => None,
        }
    }
    let mut known: Vec<&str> = current
        .iter()
        .filter_map(name_of)
        .chain(track_names.iter().map(String::as_str))
        .collect();
    known.sort_unstable();
    known.dedup();
    let unknown: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| !known.contains(n))
        .collect();
    if !unknown.is_empty() {
        let why = format!(
            "unknown VRRS leader, router or track name(s) {}; known: {}",
            unknown.join(", "),
            if known.is_empty() {
                "none (subscribe without names streams every VRRP state change)".to_string()
            } else {
                known.join(", ")
            }
        );
        let msg = serde_json::to_string(&Reply::err(why)).unwrap_or_default();
        let _ = write.write_all(format!("{msg}\n").as_bytes()).await;
        return;
    }
    let wanted = |n: &str| names.is_empty() || names.iter().any(|w| w == n);
    // A name that is both a leader's and a router's is streamed once, as the leader's.
    let leaders: Vec<String> = current
        .iter()
        .filter_map(|line| match line {
            StreamEvent::Current {
                name,
                instance: None,
                ..
            } => Some(name.clone()),
            _ => None,
        })
        .collect();
    let mut lines: Vec<StreamEvent> = current
        .into_iter()
        .filter(|line| match line {
            StreamEvent::Current { name, instance, .. } => {
                wanted(name) && !(instance.is_some() && leaders.contains(name))
            }
            _ => false,
        })
        .collect();
    loop {
        for line in lines.drain(..) {
            let Ok(text) = serde_json::to_string(&StreamLine::from(line)) else {
                continue;
            };
            if write
                .write_all(format!("{text}\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
        let received = tokio::select! {
            ev = events.recv() => ev,
            t = tracks.recv() => {
                match t {
                    Ok(t) if wanted(&t.name) => lines.push(StreamEvent::Track {
                        name: t.name,
                        kind: t.kind,
                        state: if t.up { "up" } else { "down" },
                        result: t.result,
                        time: t.time,
                    }),
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        lines.push(StreamEvent::Lagged { missed })
                    }
                    // The set lives as long as the runtime: only state events end a stream.
                    Err(broadcast::error::RecvError::Closed) => {}
                }
                continue;
            }
        };
        match received {
            Ok(published) => {
                if names.is_empty() && published.names.is_empty() {
                    // Without names every state change is wanted, those of instances no
                    // VRRS name follows (a plain VRRP configuration) included: under the
                    // router's own name when it has one, as its `current` line said.
                    lines.push(StreamEvent::Change {
                        name: published.event.router.clone(),
                        change: published.event.clone(),
                    });
                }
                for name in published.names.iter().filter(|n| wanted(n)) {
                    lines.push(StreamEvent::Change {
                        name: Some(name.clone()),
                        change: published.event.clone(),
                    });
                }
                // By router name (asked for by name: without names the line above or the
                // leader lines already carry the change).
                if let Some(router) = published.event.router.as_deref()
                    && !names.is_empty()
                    && wanted(router)
                    && !published.names.iter().any(|n| n == router)
                {
                    lines.push(StreamEvent::Change {
                        name: Some(router.to_string()),
                        change: published.event.clone(),
                    });
                }
            }
            // A subscriber that cannot keep up is told how much it missed, never waited for.
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                lines.push(StreamEvent::Lagged { missed })
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// What the loop does after a control message.
pub(super) enum AfterControl {
    Go,
    Stop,
}

/// What a reload prepared off the loop needs: the thread it is prepared on (with its
/// netlink connection), the way back to the loop's commit arm, and where failures are
/// counted.
pub(super) struct ReloadPaths {
    pub thread: super::reload_thread::ReloadThread,
    pub commits: mpsc::Sender<reload::Commit>,
    pub failed: mpsc::UnboundedSender<()>,
}

impl Runtime {
    /// Answer one control message on the loop (a reload is only started here: it is read
    /// and dumped off the loop, and swapped by the commit arm).
    pub(super) fn on_control(&mut self, msg: Control, reloads: &ReloadPaths) -> AfterControl {
        let (req, peer, reply) = match msg {
            Control::Subscribe(reply) => {
                let mut rows: Vec<StreamEvent> = self
                    .vrrs
                    .show_server()
                    .into_iter()
                    .map(|row| StreamEvent::Current {
                        name: row.name,
                        state: row.state,
                        previous: row.previous_state,
                        vmac: row.vmac,
                        vips: row.vips,
                        instance: None,
                    })
                    .collect();
                // Named routers can be subscribed to by name, one line per instance.
                rows.extend(self.instances.iter().filter_map(|inst| {
                    Some(StreamEvent::Current {
                        name: inst.config.name.clone()?,
                        state: inst.router.state(),
                        previous: None,
                        vmac: inst.vmac,
                        vips: inst.vips.clone(),
                        instance: Some(crate::contract::InstanceRef {
                            interface: inst.key.interface.clone(),
                            vrid: inst.key.vrid,
                            family: inst.key.family,
                        }),
                    })
                }));
                let _ = reply.send((
                    rows,
                    self.events.subscribe(),
                    self.tracks.subscribe(),
                    self.tracks.names(),
                ));
                return AfterControl::Go;
            }
            Control::Request(req, peer, reply) => (req, peer, reply),
        };
        // A read-only member sees the rows without what `running` guards (argv, paths,
        // output): netvrrp(8), CONTROL SOCKET ACCESS.
        let read_only = peer.access == crate::daemon::access::Access::Read;
        let answer = match req {
            Request::Ping => Reply::ok(
                json!({"pid": std::process::id(), "reloads": self.reloads, "config_sha256": self.stats.config_sha256}),
            ),
            Request::ShowVrrp => Reply::rows(self.show_vrrp()),
            Request::ShowTrack { name } => {
                let rows = self.tracks.show(name.as_deref());
                if read_only {
                    Reply::rows(rows.into_iter().map(TrackRow::redacted).collect::<Vec<_>>())
                } else {
                    Reply::rows(rows)
                }
            }
            Request::ShowVrrs { what } => match what.as_str() {
                "server" => Reply::rows(self.vrrs.show_server()),
                "pathway" => Reply::rows(self.vrrs.show_pathway()),
                "client" => {
                    let rows = self.vrrs.show_client(Some(&lock(&self.runners)));
                    if read_only {
                        Reply::rows(
                            rows.into_iter()
                                .map(ClientRow::redacted)
                                .collect::<Vec<_>>(),
                        )
                    } else {
                        Reply::rows(rows)
                    }
                }
                other => Reply::err(format!(
                    "unknown VRRS object {other:?} (server, pathway, client)"
                )),
            },
            Request::Reload { file, answer_by } => {
                match crate::daemon::access::reload_allowed(peer.trusted(), &file, &self.file) {
                    Err(why) => Reply::err(why),
                    Ok(()) => {
                        // Read and dump on the reload thread; the commit arm swaps.
                        let (kernel, commits, failed) = (
                            reloads.thread.kernel(),
                            reloads.commits.clone(),
                            reloads.failed.clone(),
                        );
                        reloads.thread.spawn_task(async move {
                            let answer =
                                match reload::prepare(kernel, file, answer_by, commits, failed)
                                    .await
                                {
                                    // A row per instance (thousands): not on the loop's thread.
                                    Ok(report) => {
                                        tokio::task::spawn_blocking(move || Reply::data(&report))
                                            .await
                                            .unwrap_or_else(|e| {
                                                Reply::err(format!("reload report: {e}"))
                                            })
                                    }
                                    Err(e) => Reply::err(e),
                                };
                            let _ = reply.send(answer);
                        });
                        return AfterControl::Go;
                    }
                }
            }
            Request::Running => Reply::data(&self.running_state()),
            Request::Stop => {
                let _ = reply.send(Reply::ok(json!("stopping")));
                return AfterControl::Stop;
            }
            Request::Subscribe { .. } => Reply::err("subscribe is handled by the connection"),
            Request::Debug { category, on } => {
                crate::daemon::debug::answer(category.as_deref(), on)
            }
        };
        let _ = reply.send(answer);
        AfterControl::Go
    }
}
