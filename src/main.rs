use clap::Parser;
use netvrrp::cli::Cli;

fn main() {
    let cli = Cli::parse();
    netvrrp::logging::init(cli.verbose, cli.quiet);
    // Enter the namespace before any thread exists: every thread the runtime starts later
    // inherits it, and so do netlink sockets and /proc/sys/net.
    if let Some(ns) = &cli.netns
        && let Err(e) = netvrrp::kernel::enter_netns(ns)
    {
        eprintln!("netvrrp: {e:#}");
        std::process::exit(netvrrp::exit::FAILURE);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("netvrrp: cannot start the async runtime: {e}");
            std::process::exit(netvrrp::exit::FAILURE);
        }
    };
    let code = runtime.block_on(netvrrp::commands::dispatch(&cli));
    std::process::exit(code);
}
