//! Benchmark helper for bench/provision.sh: provision N macvlans (each with one IPv4
//! address) through `Kernel::execute_many`, the same operations the `ip -batch` side runs.
//!
//! provision_bench --netns NS --parent veth0 [--count 1000] [--threads]
//!
//! Per device: create (MAC in the request, mode bridge), addrgenmode none, address,
//! protodown on, up. Prints the time of the execution alone; the script times the process.

use anyhow::{Context, bail};
use netvrrp::kernel::{Kernel, Outcome, enter_netns};
use netvrrp::plan::Op;
use netvrrp::types::{AddrGenMode, MacAddr};
use std::time::Instant;

struct Args {
    netns: Option<String>,
    parent: String,
    count: usize,
    threads: bool,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        netns: None,
        parent: "veth0".into(),
        count: 1000,
        threads: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--netns" => args.netns = Some(it.next().context("--netns NAME")?),
            "--parent" => args.parent = it.next().context("--parent DEV")?,
            "--count" => args.count = it.next().context("--count N")?.parse()?,
            "--threads" => args.threads = true,
            other => bail!("unknown argument {other:?}"),
        }
    }
    if args.count > 65536 {
        bail!("--count is at most 65536 (one MAC/subnet per device)");
    }
    Ok(args)
}

/// The plan the `ip -batch` file of bench/provision.sh mirrors line by line.
fn plan(parent: &str, parent_index: u32, count: usize) -> anyhow::Result<Vec<Op>> {
    let mut ops = Vec::with_capacity(count * 5);
    for i in 0..count {
        let device = format!("bench{i}");
        let (hi, lo) = ((i / 256) as u8, (i % 256) as u8);
        ops.push(Op::CreateMacvlan {
            device: device.clone(),
            parent: parent.into(),
            parent_index,
            mac: MacAddr([0x02, 0, 0, 0, hi, lo]),
        });
        ops.push(Op::SetAddrGenMode {
            device: device.clone(),
            mode: AddrGenMode::None,
            previous: None,
        });
        ops.push(Op::AddAddress {
            device: device.clone(),
            address: format!("10.{hi}.{lo}.1/24").parse()?,
        });
        ops.push(Op::SetProtodown {
            device: device.clone(),
            on: true,
            previous: false,
        });
        ops.push(Op::SetAdmin {
            device,
            up: true,
            previous: false,
        });
    }
    Ok(ops)
}

async fn run(args: Args) -> anyhow::Result<()> {
    let kernel = Kernel::connect().await?;
    let parent_index = kernel.ifindex(&args.parent).await?;
    let ops = plan(&args.parent, parent_index, args.count)?;
    let start = Instant::now();
    let outcomes = kernel.execute_many(&ops).await;
    let elapsed = start.elapsed();
    let failed: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Failed(e) => Some(e.to_string()),
            _ => None,
        })
        .collect();
    let done = outcomes.iter().filter(|o| o.is_done()).count();
    println!(
        "execute_many: {} ops in {:.1} ms ({done} done, {} failed)",
        ops.len(),
        elapsed.as_secs_f64() * 1e3,
        failed.len()
    );
    if let Some(first) = failed.first() {
        bail!("{} operations failed, first: {first}", failed.len());
    }
    if done != ops.len() {
        bail!("only {done} of {} operations ran", ops.len());
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    if let Some(ns) = &args.netns {
        // Before the runtime exists, so every thread starts in the namespace.
        enter_netns(ns)?;
    }
    let mut builder = if args.threads {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = builder.enable_all().build()?;
    runtime.block_on(run(args))
}
