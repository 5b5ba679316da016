//! The second area source: our own RTL synthesized by Yosys on the
//! area-only sky130 Liberty (`report area`'s blocks), cached per
//! configuration so a sweep of estimates synthesizes each design once, and
//! scaled from 130 nm to the target node. Never mixed into the closed form.

use super::constants::Constants;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::flow::area::{self, AreaReport};
use serde::{Deserialize, Serialize};
use std::hash::Hasher;
use std::path::{Path, PathBuf};

/// sky130 is the 130 nm row of the scaling table.
pub const SKY130_NM: f64 = 130.0;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SynthArea {
    /// Per `report area` block: (name, cells, sky130 area um^2).
    pub blocks: Vec<(String, u64, f64)>,
    pub total_sky130_um2: f64,
    /// The same at the target node.
    pub total_um2: f64,
    pub cached: bool,
}

fn cache_key(config: &Config) -> String {
    let mut h = crate::cosim::verilate::Fnv(0xcbf29ce484222325);
    h.write(env!("CARGO_PKG_VERSION").as_bytes());
    h.write(config.to_toml().as_bytes());
    h.write(area::SKY130_AREA_LIB.as_bytes());
    format!("{:016x}", h.finish())
}

/// The synthesized area of one engine of `config`, from `cache` when an
/// earlier run stored it, else by generating the package and running Yosys.
pub fn engine_area(k: &Constants, config: &Config, cache: &Path) -> Result<SynthArea> {
    let dir: PathBuf = cache.join(cache_key(config));
    let file = dir.join("area.json");
    let io = |p: &Path, e: std::io::Error| Error::Usage(format!("{}: {e}", p.display()));
    let (report, cached) = match std::fs::read_to_string(&file) {
        Ok(text) => (
            serde_json::from_str::<(Vec<(String, u64, f64)>, f64)>(&text)
                .map_err(|e| Error::Usage(format!("{}: {e}; delete it", file.display())))?,
            true,
        ),
        Err(_) => {
            let rtl = dir.join("rtl");
            crate::package::build(config)?.write(&rtl)?;
            let AreaReport {
                blocks, total_area, ..
            } = area::report(&rtl, None)?;
            let text = serde_json::to_string(&(&blocks, total_area)).expect("serializes");
            std::fs::write(&file, text).map_err(|e| io(&file, e))?;
            ((blocks, total_area), false)
        }
    };
    let (blocks, total) = report;
    Ok(SynthArea {
        blocks,
        total_sky130_um2: total,
        total_um2: total * k.area_factor_from(SKY130_NM),
        cached,
    })
}
