use netvrrp::cli::Cli;

fn main() {
    use clap::{CommandFactory, FromArgMatches};
    // FRR's spellings (`show vrrp interface IF [VRID]`) are rewritten before parsing.
    let matches = Cli::command().get_matches_from(netvrrp::cli::frr_spelling(std::env::args_os()));
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    // One runtime per namespace: without --run-dir, --netns NAME has its own run-dir.
    if matches.value_source("run_dir") == Some(clap::parser::ValueSource::DefaultValue) {
        cli.run_dir = netvrrp::daemon::identity::default_run_dir(cli.netns.as_deref());
    }

    netvrrp::logging::init(cli.verbose, cli.quiet, cli.log_format);
    // A runtime spawned by `apply` writes its log file through stdout/stderr: capped.
    if matches!(
        cli.command,
        netvrrp::cli::Command::Run { spawned: true, .. }
    ) {
        netvrrp::daemon::log_file::watch_stderr(netvrrp::daemon::log_path(&cli.run_dir));
    }
    // Short-lived commands die quietly on a closed pipe (`netvrrp diff | head`) like other
    // Unix tools. The runtime keeps SIGPIPE ignored: a control client hanging up must only
    // fail that write, never kill the elections.
    if !matches!(cli.command, netvrrp::cli::Command::Run { .. }) {
        // SAFETY: resetting a signal disposition to its default before any thread exists.
        unsafe {
            let _ = nix::sys::signal::signal(
                nix::sys::signal::Signal::SIGPIPE,
                nix::sys::signal::SigHandler::SigDfl,
            );
        }
    }
    // Enter the namespace before any thread exists: every thread the runtime starts later
    // inherits it, and so do netlink sockets and /proc/sys/net. The control-socket clients
    // only need the socket's path, which no network namespace hides; skipping setns (which
    // needs CAP_SYS_ADMIN) lets members of control groups use them as they are written for
    // root.
    use netvrrp::cli::Command as C;
    let socket_only = matches!(cli.command, C::Show { .. } | C::Subscribe { .. } | C::Stop);
    // Before entering the namespace: `--netns NAME` is found by name from here.
    netvrrp::daemon::identity::set_target(cli.netns.as_deref(), socket_only);
    // The commands that change the host or run elections refuse a kernel too old for them,
    // before they touch anything (src/host.rs).
    if matches!(cli.command, C::Apply { dry_run: false, .. } | C::Run { .. })
        && let Err(e) = netvrrp::host::check_kernel()
    {
        eprintln!("netvrrp: {e}");
        std::process::exit(netvrrp::exit::FAILURE);
    }
    // The process events connector answers only in the initial network namespace: the
    // runtime opens it here, before entering another one (see netvrrp::track::process).
    // `apply` may start a runtime, and hands the socket over to it.
    if matches!(
        cli.command,
        C::Run { .. } | C::Apply { .. } | C::Supervise { .. }
    ) {
        netvrrp::track::process::preopen();
    }
    if let Some(ns) = cli.netns.as_ref().filter(|_| !socket_only)
        && let Err(e) = netvrrp::kernel::enter_netns(ns)
    {
        netvrrp::report!("{e:#}");
        std::process::exit(netvrrp::exit::FAILURE);
    }
    // Two sockets per VRRP instance: thousands of instances need more than the default 1024
    // descriptors. Raise the soft limit to the hard one; failing that is not fatal.
    if let Ok((_, hard)) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
    {
        let _ =
            nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, hard, hard);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            netvrrp::report!("cannot start the async runtime: {e}");
            std::process::exit(netvrrp::exit::FAILURE);
        }
    };
    let code = runtime.block_on(netvrrp::commands::dispatch(&cli));
    std::process::exit(code);
}
