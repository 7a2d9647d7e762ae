//! The keys every exec hook shares (`[[track]] kind = "exec"`, `[[vrrs.client]] kind =
//! "exec"`): `command` (argv, absolute program path) and `user`/`group` to run as.

use super::{Checker, Reader};
use crate::config::RunAs;
use std::path::Path;

impl Checker<'_> {
    /// `command`: a non-empty argv whose program is an absolute path (no PATH search: what
    /// runs must not depend on the runtime's environment). `example` completes the message.
    pub(super) fn hook_command(&mut self, r: &Reader<'_>, example: &str) -> Option<Vec<String>> {
        let e = self.required(r, "command")?;
        let list = self.strings(&e)?;
        let Some((el, program)) = list.first() else {
            self.error(
                &e.span,
                &e.path,
                format!("`command` must name a program: it is an argv array such as {example}"),
            );
            return None;
        };
        if !Path::new(program).is_absolute() {
            self.error(
                &el.span,
                &el.path,
                format!(
                    "the program `{program}` must be an absolute path (there is no PATH search)"
                ),
            );
            return None;
        }
        Some(list.iter().map(|(_, s)| s.to_string()).collect())
    }

    /// `user` and `group`, resolved to ids now (a run never looks a name up). `user` alone
    /// runs in that user's primary group. None after an error.
    pub(super) fn run_as(&mut self, r: &Reader<'_>) -> Option<RunAs> {
        let mut run_as = RunAs::default();
        let mut ok = true;
        if let Some(e) = r.entry("user")
            && let Some(name) = self.string(&e)
        {
            match nix::unistd::User::from_name(name) {
                Ok(Some(u)) => {
                    run_as.uid = Some(u.uid.as_raw());
                    run_as.gid = Some(u.gid.as_raw());
                }
                Ok(None) => {
                    self.error(
                        &e.span,
                        &e.path,
                        format!("user `{name}` does not exist on this machine"),
                    );
                    ok = false;
                }
                Err(err) => {
                    self.error(
                        &e.span,
                        &e.path,
                        format!("cannot look up user `{name}`: {err}"),
                    );
                    ok = false;
                }
            }
        }
        if r.entry("group").is_some() {
            match self.group(r, "group") {
                Some(g) => run_as.gid = Some(g.gid),
                None => ok = false,
            }
        }
        ok.then_some(run_as)
    }
}
