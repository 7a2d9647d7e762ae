//! netvrrp: a declarative VRRP configurator and VRRP/VRRS runtime for Linux.
//!
//! Data flows one way: file → [`config`] → [`desired`] state → [`plan`] (diff against a
//! [`kernel`] snapshot) → [`apply`] → runtime ([`daemon`]). The layers, which may import
//! which (checked by tests/architecture.rs) and where each feature lives: docs/architecture.md.

pub mod apply;
pub mod cli;
pub mod commands;
pub mod completions;
pub mod config;
pub mod contract;
pub mod daemon;
pub mod desired;
pub mod hook;
pub mod host;
pub mod import;
pub mod kernel;
pub mod log_filter;
pub mod logging;
pub mod plan;
pub mod reconcile;
pub mod risk;
pub mod security;
pub mod track;
pub mod types;
pub mod vrrp;
pub mod vrrs;

/// Exit codes of the command line (documented in netvrrp(8)).
pub mod exit {
    pub const OK: i32 = 0;
    pub const FAILURE: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const DRIFT: i32 = 3;
    pub const DATAERR: i32 = 65;
}
