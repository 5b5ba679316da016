//! The synthesized sources: our own RTL synthesized by Yosys on the
//! area-only sky130 Liberty (`report area`'s blocks, `--synth`), and one
//! engine's periphery (black-box macros) timed in the osu018 timing flow
//! (`report timing`, `--timing`): its area in real cells and its Fmax.
//! Both cached per configuration so a sweep of estimates synthesizes each
//! design once, and scaled to the target node. Never mixed into the closed
//! form.

use super::constants::Constants;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::flow::area::{self, AreaReport};
use serde::{Deserialize, Serialize};
use std::hash::Hasher;
use std::path::{Path, PathBuf};

/// sky130 is the 130 nm row of the scaling table.
pub const SKY130_NM: f64 = 130.0;
/// osu018 is a 180 nm library.
pub const OSU018_NM: f64 = 180.0;

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

/// One engine's periphery (the macros black boxes) timed in the osu018 flow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimedEngine {
    /// Fmax of the periphery in osu018 (180 nm), MHz: what `report timing
    /// --hierarchical` measures, not node-scaled.
    pub fmax_mhz: f64,
    /// The block whose path sets it.
    pub critical_block: String,
    /// Standard-cell area in osu018 (um^2), macros excluded.
    pub osu018_um2: f64,
    /// The same at the target node (area table extrapolated to 180 nm).
    pub area_um2: f64,
    pub cells: u64,
    pub cached: bool,
}

/// The saved part of a timing run.
#[derive(Serialize, Deserialize)]
struct TimingCache {
    fmax_mhz: f64,
    critical_block: String,
    osu018_um2: f64,
    cells: u64,
}

/// One engine of `config` (black-box macros), timed with `report timing
/// --hierarchical` in osu018, from `cache` when an earlier run stored it.
/// Minutes for a large engine (the default package: about 9 min on 2 cores).
pub fn engine_timing(
    k: &Constants,
    config: &Config,
    cache: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<TimedEngine> {
    let mut periphery = config.clone();
    periphery.storage = crate::config::Storage::Blackbox;
    let dir: PathBuf = cache.join(format!("timing-{}", cache_key(&periphery)));
    let file = dir.join("timing.json");
    let io = |p: &Path, e: std::io::Error| Error::Usage(format!("{}: {e}", p.display()));
    let (saved, cached) = match std::fs::read_to_string(&file) {
        Ok(text) => (
            serde_json::from_str::<TimingCache>(&text)
                .map_err(|e| Error::Usage(format!("{}: {e}; delete it", file.display())))?,
            true,
        ),
        Err(_) => {
            let rtl = dir.join("rtl");
            crate::package::build(&periphery)?.write(&rtl)?;
            let options = crate::flow::timing::TimingOptions {
                hierarchical: true,
                ..Default::default()
            };
            let r = crate::flow::timing::report(&rtl, &options, |s| progress(s))?;
            let critical = r
                .blocks
                .iter()
                .min_by(|a, b| a.worst_slack_ns.total_cmp(&b.worst_slack_ns))
                .map(|b| b.block.clone())
                .unwrap_or_default();
            let saved = TimingCache {
                fmax_mhz: r.fmax_mhz,
                critical_block: critical,
                osu018_um2: r.area.total_area,
                cells: r.cells,
            };
            let text = serde_json::to_string(&saved).expect("serializes");
            std::fs::write(&file, text).map_err(|e| io(&file, e))?;
            (saved, false)
        }
    };
    Ok(TimedEngine {
        fmax_mhz: saved.fmax_mhz,
        critical_block: saved.critical_block,
        osu018_um2: saved.osu018_um2,
        area_um2: saved.osu018_um2 * k.area_factor_extrapolated(OSU018_NM),
        cells: saved.cells,
        cached,
    })
}
