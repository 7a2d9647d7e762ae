//! The event loop of a thread of the runtime's own (the VRRS executor, the reload thread):
//! a current-thread tokio runtime with a netlink socket whose connection task runs on it.

use crate::kernel::Kernel;
use anyhow::Context;

/// An event loop for a thread of the runtime's own, with a netlink socket whose connection
/// task runs on it (hence `enter`), sharing `parent`'s name → ifindex cache.
pub(super) fn own_loop(
    parent: &Kernel,
    whose: &str,
) -> anyhow::Result<(tokio::runtime::Runtime, Kernel)> {
    let executor = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .with_context(|| format!("cannot build {whose}'s event loop"))?;
    let kernel = {
        let _inside = executor.enter();
        parent.sibling_now()?
    };
    Ok((executor, kernel))
}
