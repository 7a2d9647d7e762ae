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
    #[arg(long, global = true, value_name = "NAME")]
    pub netns: Option<String>,
    /// Directory of the control socket, pid, lock and state files.
    #[arg(long, global = true, value_name = "DIR", default_value = DEFAULT_RUN_DIR)]
    pub run_dir: PathBuf,
    /// More logging (-v info, -vv debug, -vvv trace); RUST_LOG filters are honoured too.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less logging (errors only).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Log format: compact text (default), or one JSON object per line for log shippers.
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
        /// Machine-readable output: {"changes": [...], "in_sync": bool}.
        #[arg(long)]
        json: bool,
        /// Exit 3 when the kernel differs from the file, 0 when in sync.
        #[arg(long)]
        exit_code: bool,
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
    /// Compare every desired attribute with the kernel (like `ifquery --check`).
    Check {
        #[command(flatten)]
        file: FileArg,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Discover VRRP macvlans (by virtual MAC) and print the TOML describing them.
    Autoconfigure {
        /// VRRP version to write (IPv6 needs 3).
        #[arg(long, value_parser = clap::value_parser!(u8).range(2..=3))]
        version: Option<u8>,
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
    },
    /// Live state from the runtime.
    Show {
        #[command(subcommand)]
        what: ShowCommand,
    },
    /// Stream pushed VRRS state changes as JSON lines until interrupted.
    Subscribe {
        /// Leader names (all when none).
        names: Vec<String>,
    },
    /// Stop the runtime gracefully (priority-0 adverts, protodown on).
    Stop,
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
        #[arg(long)]
        interface: Option<String>,
        /// Only this VRID.
        vrid: Option<u8>,
        /// Machine-readable output.
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
