//! Who may use the control socket, and for what.
//!
//! The kernel tells us who connected (SO_PEERCRED: uid, primary gid and pid at `connect()`
//! time; the client cannot forge them). Root and the runtime's own user may send every
//! request. `[runtime] control-group` members may too, except reloading a file other than
//! the running one ([`reload_allowed`]); `control-read-group` members may only read (`ping`,
//! `show`, `subscribe`).
//!
//! Supplementary groups are taken from the group database for the peer's uid
//! (`getgrouplist(3)`), not from `/proc/<pid>/status`. The pid SO_PEERCRED reports can exit
//! and be reused between `connect()` and our read of `/proc` (the client may even hand the
//! socket to another process and exit on purpose), so `/proc` could describe a different
//! process; the database lookup is keyed by the kernel-reported uid and has no such race.
//! Where it differs — a process that dropped a supplementary group, or a session started
//! before the user was added, counts by the database — it crosses no boundary: that user
//! could log in again and have exactly those groups. Membership
//! is resolved per connection, so `gpasswd -d` takes effect for the next connection without
//! a reload.

use super::control::Request;
use crate::config::{GroupRef, RuntimeConfig};
use std::path::Path;

/// What a connected peer may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Every request (root, the runtime's user, `control-group`).
    Full,
    /// `ping`, `show`, `subscribe` (`control-read-group`).
    Read,
}

/// The groups of `[runtime]`, as the runtime uses them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    pub control: Option<GroupRef>,
    pub read: Option<GroupRef>,
}

impl Policy {
    pub fn from_config(rc: &RuntimeConfig) -> Policy {
        Policy {
            control: rc.control_group.clone(),
            read: rc.control_read_group.clone(),
        }
    }

    /// Mode of the socket file. Root-only without groups. With groups the file is 0666 and
    /// every connection is checked here: a socket file has one group owner but there may be
    /// two groups (ACLs would add a dependency on the filesystem), and a refused peer then
    /// gets a reply that names the missing group instead of a bare EACCES. A peer that is
    /// not allowed is answered and disconnected before one byte of its request is read.
    pub fn socket_mode(&self) -> u32 {
        if self.control.is_some() || self.read.is_some() {
            0o666
        } else {
            0o600
        }
    }

    /// Classify a peer from its SO_PEERCRED uid and primary gid; `groups` yields its
    /// supplementary groups (only called when needed). Err: why it is refused.
    pub fn classify(
        &self,
        uid: u32,
        gid: u32,
        own_uid: u32,
        groups: impl FnOnce() -> Vec<u32>,
    ) -> Result<Peer, String> {
        let full = |uid| Peer {
            uid,
            access: Access::Full,
            own_uid,
            policy: self.clone(),
        };
        if uid == 0 || uid == own_uid {
            return Ok(full(uid));
        }
        if self.control.is_none() && self.read.is_none() {
            return Err(format!(
                "permission denied: uid {uid} is not root and no control-group or \
                 control-read-group is configured in [runtime]"
            ));
        }
        let groups = groups();
        let member = |g: &Option<GroupRef>| {
            g.as_ref()
                .is_some_and(|g| g.gid == gid || groups.contains(&g.gid))
        };
        if member(&self.control) {
            return Ok(full(uid));
        }
        if member(&self.read) {
            return Ok(Peer {
                uid,
                access: Access::Read,
                own_uid,
                policy: self.clone(),
            });
        }
        Err(format!(
            "permission denied: uid {uid} is neither root nor a member of {}",
            self.names()
        ))
    }

    fn names(&self) -> String {
        let mut v = Vec::new();
        if let Some(g) = &self.control {
            v.push(format!("control-group `{}`", g.name));
        }
        if let Some(g) = &self.read {
            v.push(format!("control-read-group `{}`", g.name));
        }
        v.join(" or ")
    }
}

/// A classified connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Peer {
    pub uid: u32,
    pub access: Access,
    own_uid: u32,
    policy: Policy,
}

impl Peer {
    /// Root or the runtime's own user (not merely a `control-group` member).
    pub fn trusted(&self) -> bool {
        self.uid == 0 || self.uid == self.own_uid
    }

    /// May this peer send this request? Err: the reply to send instead.
    pub fn permits(&self, req: &Request) -> Result<(), String> {
        let (what, changes) = match req {
            Request::Ping
            | Request::ShowVrrp
            | Request::ShowVrrs { .. }
            | Request::ShowTrack { .. } => ("show", false),
            Request::Subscribe { .. } => ("subscribe", false),
            Request::Stop => ("stop", true),
            Request::Reload { .. } => ("reload", true),
            // The running configuration names exec programs and file paths: like the file.
            Request::Running => ("running", true),
            // Switching is authorised like `stop` (it can fill the log); asking like `show`.
            Request::Debug { category, on } => ("debug", category.is_some() || on.is_some()),
        };
        if changes && self.access == Access::Read {
            let need = match &self.policy.control {
                Some(g) => format!("root or membership in control-group `{}`", g.name),
                None => "root (no control-group is configured)".to_string(),
            };
            return Err(format!(
                "permission denied: `{what}` needs {need}; uid {} may only show and subscribe",
                self.uid
            ));
        }
        Ok(())
    }
}

/// A reload from a peer that is not root (nor the runtime's user) may only re-read the file
/// the runtime runs (what SIGHUP does): that file was chosen by root. Naming another file
/// would let a `control-group` member make the runtime, as root, act on a file of its own
/// choosing (exec clients run the commands it names); checking that file's owner instead
/// would race with the member renaming things in its own directories.
pub fn reload_allowed(trusted: bool, requested: &Path, running: &Path) -> Result<(), String> {
    if trusted || requested == running {
        return Ok(());
    }
    Err(format!(
        "permission denied: a reload requested by a user other than root may only re-read \
         the running configuration {}, not {}",
        running.display(),
        requested.display()
    ))
}

/// The supplementary groups of `uid` from the group database (see the module comment for
/// why not `/proc`). Blocking (NSS): call it off the event loop.
pub fn database_groups(uid: u32, gid: u32) -> Vec<u32> {
    use nix::unistd::{Gid, Uid, User, getgrouplist};
    let Ok(Some(user)) = User::from_uid(Uid::from_raw(uid)) else {
        return Vec::new();
    };
    let Ok(name) = std::ffi::CString::new(user.name) else {
        return Vec::new();
    };
    getgrouplist(&name, Gid::from_raw(gid))
        .map(|v| v.into_iter().map(|g| g.as_raw()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(control: Option<u32>, read: Option<u32>) -> Policy {
        let g = |name: &str, gid| GroupRef {
            name: name.into(),
            gid,
        };
        Policy {
            control: control.map(|gid| g("ops", gid)),
            read: read.map(|gid| g("viewers", gid)),
        }
    }

    fn access(p: &Policy, uid: u32, gid: u32, groups: &[u32]) -> Result<Access, String> {
        p.classify(uid, gid, 0, || groups.to_vec())
            .map(|p| p.access)
    }

    #[test]
    fn root_only_without_groups() {
        let p = policy(None, None);
        assert_eq!(p.socket_mode(), 0o600);
        assert_eq!(access(&p, 0, 0, &[]), Ok(Access::Full));
        let e = access(&p, 1000, 1000, &[1000]).unwrap_err();
        assert!(e.contains("no control-group"), "{e}");
        // The runtime's own (non-root) user keeps full access.
        assert_eq!(
            p.classify(1000, 1000, 1000, Vec::new).map(|p| p.access),
            Ok(Access::Full)
        );
    }

    #[test]
    fn groups_by_primary_and_supplementary_gid() {
        let p = policy(Some(500), Some(600));
        assert_eq!(p.socket_mode(), 0o666);
        assert_eq!(access(&p, 1000, 500, &[]), Ok(Access::Full));
        assert_eq!(access(&p, 1000, 1000, &[1000, 500]), Ok(Access::Full));
        assert_eq!(access(&p, 1000, 600, &[]), Ok(Access::Read));
        assert_eq!(access(&p, 1000, 1000, &[600]), Ok(Access::Read));
        // In both: full wins.
        assert_eq!(access(&p, 1000, 600, &[500]), Ok(Access::Full));
        let e = access(&p, 1000, 1000, &[1000, 700]).unwrap_err();
        assert!(e.contains("`ops`") && e.contains("`viewers`"), "{e}");
    }

    #[test]
    fn read_only_peers_cannot_change_state() {
        let p = policy(Some(500), Some(600));
        let reader = p.classify(1000, 600, 0, Vec::new).unwrap();
        assert!(reader.permits(&Request::ShowVrrp).is_ok());
        assert!(reader.permits(&Request::Ping).is_ok());
        assert!(
            reader
                .permits(&Request::Subscribe { names: vec![] })
                .is_ok()
        );
        let e = reader.permits(&Request::Stop).unwrap_err();
        assert!(e.contains("`stop`") && e.contains("`ops`"), "{e}");
        let e = reader
            .permits(&Request::Reload {
                file: "/etc/x.toml".into(),
                answer_by: None,
            })
            .unwrap_err();
        assert!(e.contains("`reload`"), "{e}");
        // Debug toggles like stop; asking which are on like show.
        let toggle = Request::Debug {
            category: Some("packets".into()),
            on: Some(true),
        };
        let e = reader.permits(&toggle).unwrap_err();
        assert!(e.contains("`debug`"), "{e}");
        let status = Request::Debug {
            category: None,
            on: None,
        };
        assert!(reader.permits(&status).is_ok());
        let writer = p.classify(1000, 500, 0, Vec::new).unwrap();
        assert!(writer.permits(&Request::Stop).is_ok());
        assert!(writer.permits(&toggle).is_ok());
    }

    #[test]
    fn untrusted_reload_only_of_the_running_file() {
        let p = policy(Some(500), None);
        let member = p.classify(1000, 500, 0, Vec::new).unwrap();
        assert_eq!(member.access, Access::Full);
        assert!(!member.trusted());
        assert!(p.classify(0, 0, 0, Vec::new).unwrap().trusted());
        assert!(p.classify(1000, 1000, 1000, Vec::new).unwrap().trusted());
        let running = Path::new("/etc/network/vrrp.toml");
        assert!(reload_allowed(false, running, running).is_ok());
        assert!(reload_allowed(true, Path::new("/srv/other.toml"), running).is_ok());
        let e = reload_allowed(false, Path::new("/home/u/evil.toml"), running).unwrap_err();
        assert!(
            e.contains("permission denied") && e.contains("/home/u/evil.toml"),
            "{e}"
        );
    }
}
