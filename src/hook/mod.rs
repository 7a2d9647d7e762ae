//! Running an operator's program (an exec `[[track]]` check, a VRRS `exec` client) the same
//! way everywhere: argv only (no shell), an absolute program path (validate requires it),
//! a cleared environment ([`PATH`] plus the caller's `NETVRRP_*` variables), cwd `/`,
//! optionally another user and group, and the whole process tree killed at the timeout,
//! setsid() or not (a child subreaper, [`subreaper`]). The runtime spawned by `apply`
//! inherits the operator's shell; none of it reaches a hook.

mod helper;
pub mod run;
pub mod subreaper;

use crate::config::RunAs;

/// The only PATH a hook gets (Debian's default for root, without the operator's
/// additions).
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Lines of a run's output (stdout and stderr, interleaved) kept.
pub const OUTPUT_LINES: usize = 10;

/// One program to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// argv; the first element is the absolute program path.
    pub argv: Vec<String>,
    /// `NETVRRP_*` variables (names without the prefix are refused by [`Hook::environment`]).
    pub env: Vec<(String, String)>,
    pub run_as: RunAs,
}

impl Hook {
    pub fn new(argv: Vec<String>, run_as: RunAs) -> Hook {
        Hook {
            argv,
            env: Vec::new(),
            run_as,
        }
    }

    /// The whole environment of a run: PATH, then the `NETVRRP_*` variables (anything else
    /// the caller set is dropped: only those names are documented).
    pub fn environment(&self) -> Vec<String> {
        std::iter::once(format!("PATH={PATH}"))
            .chain(
                self.env
                    .iter()
                    .filter(|(k, _)| k.starts_with("NETVRRP_"))
                    .map(|(k, v)| format!("{k}={v}")),
            )
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_is_path_and_netvrrp_variables_only() {
        let mut h = Hook::new(vec!["/bin/true".into()], RunAs::default());
        h.env = vec![
            ("NETVRRP_STATE".into(), "master".into()),
            ("LD_PRELOAD".into(), "/tmp/x.so".into()),
        ];
        assert_eq!(
            h.environment(),
            [format!("PATH={PATH}"), "NETVRRP_STATE=master".into()]
        );
    }
}
