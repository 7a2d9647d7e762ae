//! The live log filter: debug categories switched on and off while the runtime runs, as
//! FRR's `debug vrrp` (`netvrrp debug packets on`), without a restart (which would be a
//! failover). [`layer`] builds the filter the subscriber starts with and keeps its reload
//! handle; [`set_debug`] rebuilds it from the start-up filter plus the categories on.
//!
//! Categories are the event targets: `netvrrp::protocol`, `packets`, `kernel`, `vrrs`,
//! `track`. Turning one off returns it to what the start-up filter (`-v`, `-q`,
//! RUST_LOG) says for it.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use tracing_subscriber::{EnvFilter, Registry, reload};

/// The debug categories, each the suffix of its target `netvrrp::…`.
pub const CATEGORIES: &[&str] = &["protocol", "packets", "kernel", "vrrs", "track"];

struct Live {
    handle: reload::Handle<EnvFilter, Registry>,
    /// The start-up directives (`info`, `-v`'s level, or RUST_LOG).
    base: String,
    on: BTreeSet<&'static str>,
}

static LIVE: OnceLock<Mutex<Live>> = OnceLock::new();

/// Whether packets debug may be on: the per-packet paths test this one atomic before
/// asking tracing (a tracing check per received packet was measurable under a flood of
/// 10,000 bad packets a second, in a debug build: advert gaps of 190-290 ms instead of
/// 110-140 ms in tests/robust_ns.rs `bad_checksum_flood…`).
static PACKETS: AtomicBool = AtomicBool::new(false);

/// Whether the `packets` category may log at debug (see [`PACKETS`]).
pub fn packets_debug() -> bool {
    PACKETS.load(Ordering::Relaxed)
}

/// Whether start-up directives may enable debug anywhere (conservative: any `debug` or
/// `trace` in them).
fn base_has_debug(base: &str) -> bool {
    let b = base.to_ascii_lowercase();
    b.contains("debug") || b.contains("trace")
}

fn live() -> Option<std::sync::MutexGuard<'static, Live>> {
    LIVE.get()
        .map(|m| m.lock().unwrap_or_else(|e| e.into_inner()))
}

/// The filter layer for the subscriber, from `base` directives (an invalid `base`, e.g. a
/// bad RUST_LOG, falls back to `fallback`). Only the first call keeps its handle.
pub fn layer(base: &str, fallback: &str) -> reload::Layer<EnvFilter, Registry> {
    let (base, filter) = match EnvFilter::try_new(base) {
        Ok(f) => (base.to_string(), f),
        Err(_) => (fallback.to_string(), EnvFilter::new(fallback)),
    };
    PACKETS.store(base_has_debug(&base), Ordering::Relaxed);
    let (layer, handle) = reload::Layer::new(filter);
    let _ = LIVE.set(Mutex::new(Live {
        handle,
        base,
        on: BTreeSet::new(),
    }));
    layer
}

/// Switch debug for `category` (one of [`CATEGORIES`], or `all`) on or off; returns the
/// categories on afterwards.
pub fn set_debug(category: &str, on: bool) -> Result<Vec<String>, String> {
    let chosen: Vec<&'static str> = match category {
        "all" => CATEGORIES.to_vec(),
        c => match CATEGORIES.iter().find(|k| **k == c) {
            Some(k) => vec![*k],
            None => {
                return Err(format!(
                    "unknown debug category {c:?} (one of {}, all)",
                    CATEGORIES.join(", ")
                ));
            }
        },
    };
    let mut live = live().ok_or("this process has no live log filter")?;
    for c in chosen {
        if on {
            live.on.insert(c);
        } else {
            live.on.remove(c);
        }
    }
    let directives = directives(&live.base, &live.on);
    let filter = EnvFilter::try_new(&directives)
        .map_err(|e| format!("cannot build the log filter {directives:?}: {e}"))?;
    live.handle
        .reload(filter)
        .map_err(|e| format!("cannot change the log filter: {e}"))?;
    PACKETS.store(
        live.on.contains("packets") || base_has_debug(&live.base),
        Ordering::Relaxed,
    );
    Ok(live.on.iter().map(|c| c.to_string()).collect())
}

/// The debug categories on now (none when this process has no live filter).
pub fn debug_categories() -> Vec<String> {
    live()
        .map(|l| l.on.iter().map(|c| c.to_string()).collect())
        .unwrap_or_default()
}

/// `base` with each category in `on` at debug: the start-up filter's own directive for
/// that target (if any) is replaced, not contradicted.
fn directives(base: &str, on: &BTreeSet<&'static str>) -> String {
    let targets: Vec<String> = on.iter().map(|c| format!("netvrrp::{c}")).collect();
    let mut parts: Vec<String> = base
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .filter(|d| {
            let target = d.split('=').next().unwrap_or("");
            !targets.iter().any(|t| t == target)
        })
        .map(str::to_string)
        .collect();
    parts.extend(targets.into_iter().map(|t| format!("{t}=debug")));
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_replace_their_own_start_up_directive() {
        let on: BTreeSet<&'static str> = ["packets", "vrrs"].into_iter().collect();
        assert_eq!(
            directives("info", &on),
            "info,netvrrp::packets=debug,netvrrp::vrrs=debug"
        );
        assert_eq!(
            directives("warn,netvrrp::packets=error,hyper=off", &on),
            "warn,hyper=off,netvrrp::packets=debug,netvrrp::vrrs=debug"
        );
        assert_eq!(directives("info", &BTreeSet::new()), "info");
        for d in [
            directives("info", &on),
            directives("warn,netvrrp::packets=error", &on),
        ] {
            assert!(EnvFilter::try_new(&d).is_ok(), "{d}");
        }
    }

    #[test]
    fn an_unknown_category_is_refused() {
        let e = set_debug("adverts", true).unwrap_err();
        assert!(
            e.contains("protocol, packets, kernel, vrrs, track, all"),
            "{e}"
        );
    }
}
