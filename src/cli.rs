//! Command-line definitions (clap). Kept in sync with man/netvrrp.8 by a test.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Default location of the runtime's control socket, pid, lock and state files.
pub const DEFAULT_RUN_DIR: &str = "/run/netvrrp";
/// Default configuration file.
pub const DEFAULT_CONFIG: &str = "/etc/network/vrrp.toml";

#[derive(Debug, Parser)]
#[command(
    name = "netvrrp",
    version,
    about = "Declarative VRRP configurator and VRRP/VRRS runtime for Linux",
    after_help = "Exit codes: 0 success/in sync, 1 operational failure, 2 usage error, \
                  3 drift found, 65 invalid configuration. See netvrrp(8)."
)]
pub struct Cli {
    /// Run everything inside this named network namespace (like `ip -n`).
    // ValueHint::Other: not file names; the completion scripts offer `ip netns list` (see
    // crate::completions).
    #[arg(long, global = true, value_name = "NAME", value_hint = clap::ValueHint::Other)]
    pub netns: Option<String>,
    /// Directory of the control socket, pid, lock and state files.
    #[arg(long, global = true, value_name = "DIR", default_value = DEFAULT_RUN_DIR)]
    pub run_dir: PathBuf,
    /// More logging (default info; -v debug, -vv trace); RUST_LOG filters are honoured too.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less logging (errors only).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Log format: compact text (default), or one JSON object per line for log shippers (under
    /// systemd, with stderr on the journal, native journald entries instead).
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct FileArg {
    /// The configuration file.
    #[arg(short = 'f', long = "file", value_name = "FILE", default_value = DEFAULT_CONFIG)]
    pub file: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse and check the file; print nothing but errors.
    Validate {
        #[command(flatten)]
        file: FileArg,
    },
    /// Show what apply would change (unified diff of the managed state, then the operations).
    Diff {
        #[command(flatten)]
        file: FileArg,
        /// Machine-readable output: {"schema", "changes", "in_sync", "kernel_in_sync",
        /// "runtime"} (netvrrp(8), JSON FIELDS).
        #[arg(long)]
        json: bool,
        /// Exit 3 when the kernel or the runtime differs from the file, 0 when in sync.
        #[arg(long)]
        exit_code: bool,
        /// Compare the kernel only, not the runtime (whether one runs this file, and what
        /// it runs).
        #[arg(long)]
        no_runtime: bool,
    },
    /// Reconcile the kernel with the file, verify, then start or reload the runtime.
    Apply {
        #[command(flatten)]
        file: FileArg,
        /// Print the plan and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Only reconcile the kernel; do not start or reload the runtime.
        #[arg(long)]
        no_runtime: bool,
    },
    /// Compare every desired attribute with the kernel and the runtime (like `ifquery
    /// --check`).
    Check {
        #[command(flatten)]
        file: FileArg,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Check the kernel only, not the runtime.
        #[arg(long)]
        no_runtime: bool,
    },
    /// Discover VRRP macvlans (by virtual MAC) and print the TOML describing them; or
    /// translate a keepalived or FRR configuration.
    Autoconfigure {
        /// VRRP version to write, 2 or 3 (IPv6 needs 3).
        // `--version` is the old spelling, kept as a hidden alias: it read like the global
        // `--version`.
        #[arg(long = "vrrp-version", alias = "version", value_parser = vrrp_version())]
        version: Option<u8>,
        /// Translate this keepalived.conf (and what it includes) instead of discovering.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["version", "from_frr"])]
        from_keepalived: Option<PathBuf>,
        /// Translate this frr.conf (or `vtysh -c 'show running-config'` output) instead of
        /// discovering.
        #[arg(long, value_name = "FILE", conflicts_with = "version")]
        from_frr: Option<PathBuf>,
        /// Write (merge into) this file instead of printing.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Run the runtime in the foreground: apply, then run elections (SIGHUP reloads,
    /// SIGTERM stops gracefully).
    Run {
        #[command(flatten)]
        file: FileArg,
        /// Detach from the terminal (used by `apply` to spawn the runtime).
        #[arg(long, hide = true)]
        spawned: bool,
        /// Started again by the supervisor after the runtime died: reconcile the kernel.
        #[arg(long, hide = true, requires = "spawned")]
        restarted: bool,
    },
    /// The supervisor `apply` starts outside systemd: runs `run --spawned` and restarts it
    /// when it dies abnormally (src/daemon/supervisor.rs).
    #[command(hide = true)]
    Supervise {
        #[command(flatten)]
        file: FileArg,
    },
    /// Live state from the runtime; alone, one line per VRRP router.
    Show {
        #[command(subcommand)]
        what: Option<ShowCommand>,
    },
    /// Stream pushed VRRS state changes as JSON lines until interrupted.
    Subscribe {
        /// Leader names (all when none).
        names: Vec<String>,
    },
    /// Stop the runtime gracefully (priority-0 adverts, protodown on).
    Stop,
    /// Switch a debug log category of the runtime on or off, live (no restart); alone, say
    /// which are on.
    Debug {
        /// protocol, packets (every advert sent and received), kernel, vrrs, track, or all.
        #[arg(value_parser = ["protocol", "packets", "kernel", "vrrs", "track", "all"], requires = "state")]
        category: Option<String>,
        #[arg(value_enum)]
        state: Option<OnOff>,
    },
    /// Stop the runtime and remove the devices and addresses netvrrp owns for the file.
    Down {
        #[command(flatten)]
        file: FileArg,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum ShowCommand {
    /// VRRP routers: state, priorities, timers, counters.
    Vrrp {
        /// Only routers on this interface.
        // Completed with the machine's links (see crate::completions).
        #[arg(long, value_hint = clap::ValueHint::Other)]
        interface: Option<String>,
        /// Only this VRID (1-255; 0 is no VRID).
        #[arg(value_parser = clap::value_parser!(u8).range(1..=255))]
        vrid: Option<u8>,
        /// One line per router, as `netvrrp show` alone (also spelled `brief`, or FRR's
        /// `summary`, after `show vrrp`).
        #[arg(long)]
        brief: bool,
        /// Machine-readable output (the same rows with or without --brief).
        #[arg(long)]
        json: bool,
    },
    /// Health-tracking objects ([[track]]): state, since when, last result, check output.
    Track {
        /// Only this object.
        name: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// VRRS servers, pathways and clients.
    Vrrs {
        #[arg(value_enum)]
        what: VrrsWhat,
        /// Only this leader name.
        name: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// 2 or 3, as possible values so that completions offer them.
fn vrrp_version() -> impl clap::builder::TypedValueParser<Value = u8> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(["2", "3"]).map(|v| if v == "2" { 2 } else { 3 })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum VrrsWhat {
    Server,
    Pathway,
    Client,
}

/// FRR's spelling of `show vrrp`: `show vrrp interface IF [VRID] [summary] [json]` becomes
/// `show vrrp --interface IF [VRID] [--brief] [--json]`, so an operator's FRR habits (and
/// scripts) work as they are; `brief` is the word for `--brief` too, as in `ip -brief`. Only
/// the words after `show vrrp` are touched.
pub fn frr_spelling<I, T>(args: I) -> Vec<std::ffi::OsString>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString>,
{
    let mut out: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    let Some(vrrp) = out
        .windows(2)
        .position(|w| w[0] == "show" && w[1] == "vrrp")
        .map(|i| i + 2)
    else {
        return out;
    };
    let mut i = vrrp;
    while i < out.len() {
        if out[i] == "interface" && i + 1 < out.len() {
            out[i] = "--interface".into();
            // The next word is the interface name, whatever it is.
            i += 2;
            continue;
        }
        if out[i] == "json" {
            out[i] = "--json".into();
        } else if out[i] == "brief" || out[i] == "summary" {
            out[i] = "--brief".into();
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Cli {
        Cli::try_parse_from(frr_spelling(line.split_whitespace())).unwrap()
    }

    #[test]
    fn show_vrrp_as_frr_spells_it() {
        for (line, want_if, want_vrid, want_brief, want_json) in [
            (
                "netvrrp show vrrp interface eth0 5",
                Some("eth0"),
                Some(5),
                false,
                false,
            ),
            (
                "netvrrp show vrrp interface eth0",
                Some("eth0"),
                None,
                false,
                false,
            ),
            (
                "netvrrp show vrrp interface json 7 json",
                Some("json"),
                Some(7),
                false,
                true,
            ),
            (
                "netvrrp --run-dir /x show vrrp 9 json",
                None,
                Some(9),
                false,
                true,
            ),
            (
                "netvrrp show vrrp --interface eth1 --json",
                Some("eth1"),
                None,
                false,
                true,
            ),
            ("netvrrp show vrrp brief", None, None, true, false),
            ("netvrrp show vrrp --brief", None, None, true, false),
            (
                "netvrrp show vrrp interface brief 5 summary",
                Some("brief"),
                Some(5),
                true,
                false,
            ),
            ("netvrrp show vrrp summary json", None, None, true, true),
        ] {
            let Command::Show {
                what:
                    Some(ShowCommand::Vrrp {
                        interface,
                        vrid,
                        brief,
                        json,
                    }),
            } = parse(line).command
            else {
                panic!("{line}: not show vrrp");
            };
            assert_eq!(interface.as_deref(), want_if, "{line}");
            assert_eq!(vrid, want_vrid, "{line}");
            assert_eq!(brief, want_brief, "{line}");
            assert_eq!(json, want_json, "{line}");
        }
        // Other commands are left alone; VRID 0 is still no VRID.
        let args = frr_spelling(["netvrrp", "show", "vrrs", "server", "interface"]);
        assert_eq!(args[4], "interface");
        let args = frr_spelling(["netvrrp", "show", "track", "brief"]);
        assert_eq!(args[3], "brief");
        for line in ["netvrrp show vrrp 0", "netvrrp show vrrp brief 0"] {
            let err = Cli::try_parse_from(frr_spelling(line.split_whitespace())).unwrap_err();
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::ValueValidation,
                "{line}"
            );
        }
    }
}

/// `on` / `off` of `netvrrp debug`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}
