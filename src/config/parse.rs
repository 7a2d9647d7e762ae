//! Parsing and validation (to be written).
use super::{Config, ConfigErrors};
use std::path::Path;

/// Read and validate a file.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let _ = path;
    todo!()
}

/// Parse and validate text; `file` names it in messages.
pub fn parse_str(text: &str, file: &str) -> Result<Config, ConfigErrors> {
    let _ = (text, file);
    todo!()
}
