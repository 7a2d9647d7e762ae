//! `netvrrp debug [CATEGORY on|off]`: the runtime's debug log categories switched live over
//! the control socket (as FRR's `debug vrrp`), so a problem can be looked at without the
//! restart (a failover) a changed RUST_LOG would cost. Switching is authorised like `stop`;
//! asking which are on like `show`. The filter itself: [`crate::log_filter`].

use super::control::{Reply, Request, request};
use crate::exit;
use serde_json::json;
use std::path::Path;

/// The runtime's answer to a debug request (`category: None`: only report).
pub fn answer(category: Option<&str>, on: Option<bool>) -> Reply {
    let result = match (category, on) {
        (Some(c), Some(on)) => crate::log_filter::set_debug(c, on).inspect(|now| {
            tracing::info!(target: "netvrrp::protocol", category = c, on, debug = %now.join(","), "debug categories changed");
        }),
        (None, None) => Ok(crate::log_filter::debug_categories()),
        _ => Err("a debug request needs both a category and on/off, or neither".to_string()),
    };
    match result {
        Ok(now) => Reply::ok(json!({
            "debug": now,
            "categories": crate::log_filter::CATEGORIES,
        })),
        Err(e) => Reply::err(e),
    }
}

/// The CLI side: send the request, print which categories are on.
pub fn command(run_dir: &Path, category: Option<&str>, on: Option<bool>) -> i32 {
    let req = Request::Debug {
        category: category.map(str::to_string),
        on,
    };
    match request(run_dir, &req) {
        Ok(data) => {
            let on: Vec<&str> = data["debug"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                .unwrap_or_default();
            if on.is_empty() {
                println!("debug: none");
            } else {
                println!("debug: {}", on.join(" "));
            }
            exit::OK
        }
        Err(e) => {
            crate::report!("{e:#}");
            exit::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_a_request_is_refused() {
        let r = answer(Some("packets"), None);
        assert!(!r.ok);
        let r = answer(None, Some(true));
        assert!(!r.ok);
    }
}
