//! `cimpool report area`: synthesizes a package with Yosys, maps it onto a
//! Liberty (by default the area-only sky130_fd_sc_hd one that ships with
//! cimpool), and attributes every module's own cells to a block of the
//! architecture by walking the IR hierarchy, so instance counts come from the
//! design itself and each unique module is synthesized once.

use super::{FlowError, MacroGeometry};
use crate::config::Config;
use crate::ir::{Design, Role};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;
use std::process::Command;

/// The area-only Liberty built by `tools/sky130_area_lib.py` (provenance in its header).
pub const SKY130_AREA_LIB: &str = include_str!("../../tools/sky130hd_area.lib");

/// Blocks of the area breakdown, in report order.
pub const BLOCKS: [&str; 8] = [
    "storage",
    "column compute + ADC",
    "shift-accumulate",
    "index memory + decoder",
    "crossbar",
    "lane accumulators + requantizer",
    "control + input sequencer",
    "hard macros (storage + compute, estimated)",
];

// Indices into BLOCKS.
const STORAGE: usize = 0;
const COLUMN_COMPUTE: usize = 1;
pub(crate) const CONTROL: usize = 6;
const HARD_MACROS: usize = 7;

/// The block a module's own cells belong to, from its role; `None` for
/// shared leaves (popcount, ADC), which take the block of the module
/// instantiating them. A macro's flops move to storage in `attribute`.
pub(crate) fn block_of(role: Option<Role>) -> Option<usize> {
    Some(match role? {
        Role::Macro => COLUMN_COMPUTE,
        Role::ShiftAccumulate => 2,
        Role::IndexMemory => 3,
        Role::Crossbar => 4,
        Role::LaneDatapath => 5,
        Role::Control => CONTROL,
    })
}

/// Own cells of one synthesized module (submodule instances excluded).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModuleStat {
    pub cells: u64,
    pub area: f64,
    pub flop_cells: u64,
    pub flop_area: f64,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct AreaReport {
    /// Per block: (cells, area in um^2).
    pub blocks: Vec<(String, u64, f64)>,
    pub total_area: f64,
    pub liberty: String,
}

impl AreaReport {
    pub fn table(&self) -> String {
        let mut s = String::from("| block | cells | area (um^2) | share |\n|---|---:|---:|---:|\n");
        for (name, cells, area) in &self.blocks {
            let share = 100.0 * area / self.total_area;
            let _ = writeln!(s, "| {name} | {cells} | {area:.0} | {share:.1}% |");
        }
        let cells: u64 = self.blocks.iter().map(|b| b.1).sum();
        let _ = writeln!(s, "| **total** | {cells} | {:.0} | 100% |", self.total_area);
        s
    }
}

/// Base module name of a Yosys module (`$paramod\name\P=v` -> `name`).
fn base_name(yosys_name: &str) -> String {
    let n = yosys_name.trim_start_matches('\\');
    if n.starts_with("$paramod") {
        n.split('\\').nth(1).unwrap_or(n).to_string()
    } else {
        n.to_string()
    }
}

/// Area of a Liberty cell and whether it stores state (an `ff` or `latch`
/// group).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CellInfo {
    pub area: f64,
    pub sequential: bool,
}

pub fn liberty_cells(liberty: &str) -> BTreeMap<String, CellInfo> {
    let mut cells: BTreeMap<String, CellInfo> = BTreeMap::new();
    let mut cell: Option<String> = None;
    for line in liberty.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("cell (").or_else(|| t.strip_prefix("cell(")) {
            cell = rest
                .split(')')
                .next()
                .map(|c| c.trim().trim_matches('"').to_string());
            continue;
        }
        let Some(c) = &cell else { continue };
        let info = cells.entry(c.clone()).or_default();
        if let Some(rest) = t.strip_prefix("area") {
            if let Some(v) = rest
                .trim_start_matches([' ', ':'])
                .split(';')
                .next()
                .and_then(|v| v.trim().parse().ok())
            {
                info.area = v;
            }
        } else if ["ff", "latch", "ff_bank", "latch_bank"]
            .iter()
            .any(|g| t.starts_with(&format!("{g} (")) || t.starts_with(&format!("{g}(")))
        {
            info.sequential = true;
        }
    }
    cells
}

/// Yosys' own state-holding cells (before mapping onto a Liberty).
fn internal_flop(cell: &str) -> bool {
    cell.starts_with("$_")
        && (cell.contains("DFF") || cell.contains("DLATCH") || cell.contains("SR_"))
}

/// Parses `stat` output into own statistics per base module name (averaged
/// over parameter variants such as the tiles' TILE_ID).
pub fn parse_stat(
    log: &str,
    cells: &BTreeMap<String, CellInfo>,
    modules: &[String],
) -> BTreeMap<String, ModuleStat> {
    let mut variants: BTreeMap<String, Vec<ModuleStat>> = BTreeMap::new();
    let mut current: Option<(String, ModuleStat)> = None;
    let mut in_cells = false;
    let flush = |cur: &mut Option<(String, ModuleStat)>,
                 v: &mut BTreeMap<String, Vec<ModuleStat>>| {
        if let Some((name, st)) = cur.take() {
            v.entry(name).or_default().push(st);
        }
    };
    for line in log.lines() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix("=== ").and_then(|r| r.strip_suffix(" ===")) {
            flush(&mut current, &mut variants);
            in_cells = false;
            if name != "design hierarchy" {
                current = Some((base_name(name), ModuleStat::default()));
            }
            continue;
        }
        let Some((_, st)) = current.as_mut() else {
            continue;
        };
        if t.starts_with("Number of cells:") {
            in_cells = true;
            continue;
        }
        if in_cells {
            let mut parts = t.split_whitespace();
            match (
                parts.next(),
                parts.next().and_then(|n| n.parse::<u64>().ok()),
            ) {
                (Some(ty), Some(n)) => {
                    let ty_base = base_name(ty);
                    if modules.contains(&ty_base) {
                        continue; // a submodule instance, counted in its own module
                    }
                    let info = cells.get(ty).copied().unwrap_or_default();
                    let area = info.area * n as f64;
                    st.cells += n;
                    st.area += area;
                    if info.sequential || internal_flop(ty) {
                        st.flop_cells += n;
                        st.flop_area += area;
                    }
                }
                _ => in_cells = false,
            }
        }
    }
    flush(&mut current, &mut variants);
    variants
        .into_iter()
        .map(|(name, vs)| {
            let k = vs.len() as f64;
            let avg = ModuleStat {
                cells: (vs.iter().map(|v| v.cells).sum::<u64>() as f64 / k).round() as u64,
                area: vs.iter().map(|v| v.area).sum::<f64>() / k,
                flop_cells: (vs.iter().map(|v| v.flop_cells).sum::<u64>() as f64 / k).round()
                    as u64,
                flop_area: vs.iter().map(|v| v.flop_area).sum::<f64>() / k,
            };
            (name, avg)
        })
        .collect()
}

/// Attributes own statistics to blocks along the IR hierarchy.
pub fn attribute(
    config: &Config,
    design: &Design,
    stats: &BTreeMap<String, ModuleStat>,
    liberty: &str,
) -> AreaReport {
    let mut blocks = vec![(0u64, 0f64); BLOCKS.len()];
    fn walk(
        config: &Config,
        design: &Design,
        stats: &BTreeMap<String, ModuleStat>,
        module: &str,
        inherited: usize,
        blocks: &mut Vec<(u64, f64)>,
    ) {
        let m = design.module(module).expect("instantiated module exists");
        let block = block_of(m.role).unwrap_or(inherited);
        if m.blackbox {
            let g = MacroGeometry::new(config, m);
            blocks[HARD_MACROS].0 += 1;
            blocks[HARD_MACROS].1 += g.area;
        } else if let Some(st) = stats.get(module) {
            let storage = if m.role == Some(Role::Macro) {
                (st.flop_cells, st.flop_area)
            } else {
                (0, 0.0)
            };
            blocks[STORAGE].0 += storage.0;
            blocks[STORAGE].1 += storage.1;
            blocks[block].0 += st.cells - storage.0;
            blocks[block].1 += st.area - storage.1;
        }
        for inst in &m.instances {
            walk(config, design, stats, &inst.module, block, blocks);
        }
    }
    walk(config, design, stats, &design.top, CONTROL, &mut blocks);
    let total_area = blocks.iter().map(|b| b.1).sum();
    AreaReport {
        blocks: BLOCKS
            .iter()
            .zip(blocks)
            .filter(|(_, b)| b.0 > 0)
            .map(|(n, b)| (n.to_string(), b.0, b.1))
            .collect(),
        total_area,
        liberty: liberty.to_string(),
    }
}

/// Synthesizes the package in `package_dir` with Yosys onto `liberty`
/// (default: the shipped sky130 area-only Liberty) and reports area by block.
pub fn report(package_dir: &Path, liberty: Option<&Path>) -> Result<AreaReport, FlowError> {
    let config = super::package_config(package_dir)?;
    let design = crate::gen::generate(&config);
    let work = scratch_dir()?;
    let result = report_in(&work, package_dir, &config, &design, liberty);
    let _ = std::fs::remove_dir_all(&work);
    result
}

pub(crate) fn report_in(
    work: &Path,
    package_dir: &Path,
    config: &Config,
    design: &Design,
    liberty: Option<&Path>,
) -> Result<AreaReport, FlowError> {
    let (lib_path, lib_text, lib_name) = match liberty {
        Some(p) => (
            p.canonicalize().map_err(FlowError::io(p))?,
            std::fs::read_to_string(p).map_err(FlowError::io(p))?,
            p.display().to_string(),
        ),
        None => {
            let p = work.join("sky130hd_area.lib");
            std::fs::write(&p, SKY130_AREA_LIB).map_err(FlowError::io(&p))?;
            (
                p,
                SKY130_AREA_LIB.to_string(),
                "sky130_fd_sc_hd area-only (tools/sky130hd_area.lib)".to_string(),
            )
        }
    };
    let files: Vec<String> = super::file_order(design)
        .iter()
        .map(|f| {
            let path = package_dir.join(f);
            path.canonicalize()
                .map(|p| p.display().to_string())
                .map_err(FlowError::io(&path))
        })
        .collect::<Result<_, _>>()?;
    let (lib, top) = (lib_path.display(), &design.top);
    let script = format!(
        "read_liberty -lib {lib}; read_verilog {}; hierarchy -check -top {top}; synth -top {top}; dfflibmap -liberty {lib}; \
         abc -liberty {lib}; opt_clean; check -assert; tee -o {}/stat.txt stat -liberty {lib}",
        files.join(" "),
        work.display()
    );
    run_yosys(&script, work).map_err(|e| e.context(&package_dir.display().to_string()))?;
    let stat_path = work.join("stat.txt");
    let stat = std::fs::read_to_string(&stat_path).map_err(FlowError::io(&stat_path))?;
    let modules: Vec<String> = design.modules.keys().cloned().collect();
    let stats = parse_stat(&stat, &liberty_cells(&lib_text), &modules);
    Ok(attribute(config, design, &stats, &lib_name))
}

/// Runs a Yosys script in `dir`; on failure the error holds the log's tail.
pub(crate) fn run_yosys(script: &str, dir: &Path) -> Result<(), FlowError> {
    let out = Command::new("yosys")
        .args(["-q", "-p", script])
        .current_dir(dir)
        .output()
        .map_err(|e| FlowError::NoYosys(e.to_string()))?;
    if !out.status.success() {
        let log = String::from_utf8_lossy(&out.stderr).to_string()
            + &String::from_utf8_lossy(&out.stdout);
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        return Err(FlowError::Yosys {
            context: String::new(),
            log: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        });
    }
    Ok(())
}

pub(crate) fn scratch_dir() -> Result<std::path::PathBuf, FlowError> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("cimpool-area-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(FlowError::io(&dir))?;
    Ok(dir)
}
