//! The command line's own parts: arguments (`args`), progress bars
//! (`progress`) and the printing of estimates (`estimate`) and sweeps
//! (`sweep`). The work itself is the library's.

pub mod args;
pub mod estimate;
pub mod progress;
pub mod sweep;

use cimpool::error::{Error, Result};

/// `--set key=value` arguments as configuration overrides.
pub fn parse_sets(sets: &[String]) -> Result<Vec<(String, String)>> {
    sets.iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.trim().replace('-', "_"), v.trim().to_string()))
                .ok_or_else(|| Error::Usage(format!("--set {kv}: expected key=value")))
        })
        .collect()
}

/// Writes `json` to `path` (`-`: stdout). Returns whether it went to stdout,
/// where it replaces the text output.
pub fn write_json(path: &std::path::Path, json: &str) -> cimpool::error::Result<bool> {
    if path == std::path::Path::new("-") {
        print!("{json}");
        return Ok(true);
    }
    std::fs::write(path, json).map_err(|e| {
        cimpool::error::Error::Usage(format!("cannot write {}: {e}", path.display()))
    })?;
    Ok(false)
}
