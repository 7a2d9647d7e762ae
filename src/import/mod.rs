//! Importers: `netvrrp autoconfigure --from-keepalived FILE` and `--from-frr FILE`.
//!
//! One job per file: [`keepalived_lex`] reads keepalived.conf syntax (includes, quotes,
//! blocks), [`keepalived`] and [`frr`] translate each dialect into the [`model`], and
//! [`render`] writes the model as netvrrp.toml(5) text (fresh, or merged into an existing
//! file) and checks that the result validates. Whatever has no netvrrp equivalent becomes a
//! comment in the output and a warning naming its file and line.
//!
//! keepalived's tracking becomes netvrrp tracking (netvrrp.toml(5), TRACKING): each
//! `vrrp_script`, `vrrp_track_process` and `track_file` a `[[track]]` object of kind exec,
//! process or file, each use a router `track` entry. Weights translate by meaning: a
//! negative one is a decrement, a positive one raises the base priority and is a decrement
//! of the same size, 0 (keepalived's FAULT; the default of scripts and interfaces) is
//! `fault = true`.

pub mod devices;
pub mod frr;
mod glob;
pub mod keepalived;
pub mod keepalived_lex;
pub mod model;
pub mod render;

use crate::config::Location;
use std::fmt;
use std::path::Path;

/// One problem or remark tied to a place in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diag {
    pub loc: Location,
    pub message: String,
}

impl Diag {
    pub fn new(loc: Location, message: String) -> Diag {
        Diag { loc, message }
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.loc, self.message)
    }
}

/// Everything an import found wrong: errors stop it (nothing is written), warnings do not.
#[derive(Debug, Default)]
pub struct Diags {
    pub errors: Vec<Diag>,
    pub warnings: Vec<Diag>,
}

impl Diags {
    pub fn warn(&mut self, loc: Location, message: String) {
        self.warnings.push(Diag::new(loc, message));
    }
    pub fn error(&mut self, loc: Location, message: String) {
        self.errors.push(Diag::new(loc, message));
    }
}

/// Which daemon's configuration is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Keepalived,
    Frr,
}

impl Dialect {
    pub fn flag(self) -> &'static str {
        match self {
            Dialect::Keepalived => "--from-keepalived",
            Dialect::Frr => "--from-frr",
        }
    }
}

/// Read and translate `path`. Err: the errors (never empty); the warnings are in `diags`
/// either way.
pub fn translate(dialect: Dialect, path: &Path, diags: &mut Diags) -> Option<model::Imported> {
    let imported = match dialect {
        Dialect::Keepalived => keepalived::import(path, diags),
        Dialect::Frr => frr::import(path, diags),
    };
    if diags.errors.is_empty() {
        imported
    } else {
        None
    }
}

/// Translate `path` and render it: fresh, or merged into `existing` (the text of the `-o`
/// file). Err: what to print (errors at their file:line:column), exit 65.
pub fn import_to_text(
    dialect: Dialect,
    path: &Path,
    existing: Option<&str>,
    diags: &mut Diags,
) -> Result<String, Vec<String>> {
    let Some(imported) = translate(dialect, path, diags) else {
        return Err(diags.errors.iter().map(|e| e.to_string()).collect());
    };
    render::render(&imported, existing).map_err(|e| vec![e])
}

/// The command: translate, print warnings, write stdout or `output`. Returns the exit code.
/// Diagnostics go through the command reporter, so `--log-format json` (and journald) get
/// them as events like every other command's.
pub fn run(dialect: Dialect, path: &Path, output: Option<&Path>) -> i32 {
    let existing = match output {
        Some(out) => match std::fs::read_to_string(out) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                crate::report!("cannot read {}: {e}", out.display());
                return crate::exit::FAILURE;
            }
        },
        None => None,
    };
    let mut diags = Diags::default();
    let result = import_to_text(dialect, path, existing.as_deref(), &mut diags);
    for w in &diags.warnings {
        crate::report_plain!("{}: warning: {}", w.loc, w.message);
    }
    let text = match result {
        Ok(t) => t,
        Err(errors) => {
            for e in &errors {
                crate::report_plain!("{e}");
            }
            crate::report!(
                "{} error(s) in {}; nothing was written",
                errors.len(),
                path.display()
            );
            return crate::exit::DATAERR;
        }
    };
    if !diags.warnings.is_empty() {
        crate::report!(
            "{} warning(s): what they name is a comment in the output; review it before applying",
            diags.warnings.len()
        );
    }
    match output {
        Some(out) => match std::fs::write(out, text) {
            Ok(()) => crate::exit::OK,
            Err(e) => {
                crate::report!("cannot write {}: {e}", out.display());
                crate::exit::FAILURE
            }
        },
        None => {
            print!("{text}");
            crate::exit::OK
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::{Diags, model::Imported};

    /// Every truncation of a corpus file (tests/import/`corpus`), with each of `extras`
    /// appended, through `translate`: errors, or a model that renders to a file that
    /// validates; never a panic.
    pub fn mangled(
        corpus: &str,
        extras: &[&str],
        translate: impl Fn(&str, &mut Diags) -> Imported,
    ) {
        let path = format!("{}/tests/import/{corpus}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(!text.is_empty(), "{path}");
        let lines: Vec<&str> = text.lines().collect();
        for n in 0..=lines.len() {
            for extra in extras {
                let cut = format!("{}\n{extra}\n", lines[..n].join("\n"));
                let mut d = Diags::default();
                let imp = translate(&cut, &mut d);
                if d.errors.is_empty() {
                    super::render::render(&imp, None)
                        .unwrap_or_else(|e| panic!("{e}\n--- input:\n{cut}"));
                }
            }
        }
    }
}
