//! `cimpool report xbar`: the two crossbars (`mux`, `benes`) synthesized
//! with Yosys for several pool sizes P at the data width of the configured
//! lanes, next to the pool macro and the error macros of the same config, so
//! the crossbar + index decoder overhead reads as a share of the engine.
//!
//! Every figure is measured on the generated modules: cells and area on the
//! area-only sky130 Liberty, transistors from `stat -tech cmos` on Yosys'
//! internal gates (before mapping), depth as the longest path in mapped
//! cells (`ltp -noff`).

use super::area::{parse_stat, ModuleStat, SKY130_AREA_LIB};
use super::FlowError;
use crate::config::{Config, Crossbar, Derived};
use crate::gen::array::macro_name;
use crate::gen::crossbar::{POOL_CROSSBAR_BENES, POOL_CROSSBAR_MUX};
use crate::gen::pool::POOL_INDEX_DECODER;
use crate::ir::Role;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// Synthesis figures of one module.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Synthesized {
    pub cells: u64,
    pub area: f64,
    pub transistors: u64,
    /// Longest path in mapped cells (combinational modules only).
    pub depth: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct XbarRow {
    pub pool: u32,
    pub crossbar: Crossbar,
    pub data_bits: u32,
    /// Physical crossbars X of the configuration with this pool.
    pub units: u32,
    pub crossbar_unit: Synthesized,
    pub decoder: Synthesized,
    pub pool_macro: Synthesized,
    pub error_macro: Synthesized,
    pub error_macros: u32,
}

impl XbarRow {
    pub fn overhead_area(&self) -> f64 {
        self.units as f64 * self.crossbar_unit.area + self.decoder.area
    }
    /// Crossbars + decoder as a share of crossbars + decoder + pool macro +
    /// error macros.
    pub fn overhead_share(&self) -> f64 {
        let macros = self.pool_macro.area + self.error_macros as f64 * self.error_macro.area;
        self.overhead_area() / (self.overhead_area() + macros)
    }
}

pub fn table(rows: &[XbarRow]) -> String {
    let mut s = String::from(
        "| P | crossbar | data bits | X | cells / crossbar | transistors / crossbar | depth (cells) | decoder cells | crossbars + decoder (um^2) | pool macro (um^2) | error macros (um^2) | share of engine |\n\
         |---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {:.0} | {:.0} ({} x {:.0}) | {:.1}% |",
            r.pool,
            r.crossbar,
            r.data_bits,
            r.units,
            r.crossbar_unit.cells,
            r.crossbar_unit.transistors,
            r.crossbar_unit
                .depth
                .map_or("-".to_string(), |d| d.to_string()),
            r.decoder.cells,
            r.overhead_area(),
            r.pool_macro.area,
            r.error_macros as f64 * r.error_macro.area,
            r.error_macros,
            r.error_macro.area,
            100.0 * r.overhead_share()
        );
    }
    s
}

/// What `cimpool report xbar` prints.
pub fn summary(base: &Config, rows: &[XbarRow], elapsed: std::time::Duration) -> String {
    let c = base.resolved();
    format!(
        "Crossbars vs macros for {} error macros of {}x{} (sky130_fd_sc_hd area-only Liberty), Yosys {:.0} s:\n\n{}\n\
         share of engine = (X crossbars + index decoder) / (that + pool macro + error macros), \
         the macros synthesized as storage = \"flops\" cells.\n",
        c.macros,
        c.rows,
        c.cols,
        elapsed.as_secs_f64(),
        table(rows)
    )
}

/// The configuration of one table row: the user's with this pool size and
/// crossbar.
pub fn row_config(base: &Config, pool: u32, crossbar: Crossbar) -> Result<Config, FlowError> {
    let mut c = base.resolved();
    c.pool = pool;
    c.crossbar = crossbar;
    c.crossbar_units = 0;
    c.validate().map_err(|e| FlowError::Invalid(Box::new(e)))?;
    Ok(c)
}

/// Synthesizes both crossbars for every pool size in `pools`.
pub fn report(
    base: &Config,
    pools: &[u32],
    mut progress: impl FnMut(&str),
) -> Result<Vec<XbarRow>, FlowError> {
    let mut rows = Vec::new();
    let mut macro_cache: BTreeMap<String, Synthesized> = BTreeMap::new();
    for &pool in pools {
        for crossbar in [Crossbar::Mux, Crossbar::Benes] {
            let c = row_config(base, pool, crossbar)?;
            let d = Derived::new(&c);
            progress(&format!("P = {pool}, {crossbar}"));
            let design = crate::gen::generate(&c);
            let xbar = match crossbar {
                Crossbar::Mux => POOL_CROSSBAR_MUX,
                Crossbar::Benes => POOL_CROSSBAR_BENES,
            };
            let pool_macro = macro_name(c.rows, pool);
            let error_macro = macro_name(c.rows, c.cols);
            let mut wanted = vec![xbar.to_string(), POOL_INDEX_DECODER.to_string()];
            for m in [&pool_macro, &error_macro] {
                if !macro_cache.contains_key(m) && !wanted.contains(m) {
                    wanted.push(m.clone());
                }
            }
            let mut got = synthesize(&design, &wanted)?;
            for m in [&pool_macro, &error_macro] {
                if let Some(s) = got.remove(m) {
                    macro_cache.insert(m.clone(), s);
                }
            }
            rows.push(XbarRow {
                pool,
                crossbar,
                data_bits: d.column_bits,
                units: d.crossbar_units,
                crossbar_unit: got[xbar].clone(),
                decoder: got[POOL_INDEX_DECODER].clone(),
                pool_macro: macro_cache[&pool_macro].clone(),
                error_macro: macro_cache[&error_macro].clone(),
                error_macros: c.macros,
            });
        }
    }
    Ok(rows)
}

/// Synthesizes each module of `modules` on its own (flattened) and measures it.
fn synthesize(
    design: &crate::ir::Design,
    modules: &[String],
) -> Result<BTreeMap<String, Synthesized>, FlowError> {
    let work = super::area::scratch_dir()?;
    let result = synthesize_in(&work, design, modules);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn synthesize_in(
    work: &Path,
    design: &crate::ir::Design,
    modules: &[String],
) -> Result<BTreeMap<String, Synthesized>, FlowError> {
    let lib = work.join("sky130hd_area.lib");
    std::fs::write(&lib, SKY130_AREA_LIB).map_err(FlowError::io(&lib))?;
    let mut files = Vec::new();
    for (name, module) in &design.modules {
        let path = work.join(format!("{name}.v"));
        std::fs::write(&path, crate::emit::verilog::print_module(module))
            .map_err(FlowError::io(&path))?;
        files.push(path.display().to_string());
    }
    let lib = lib.display();
    let mut script = format!(
        "read_liberty -lib {lib}; read_verilog {}; design -save base; ",
        files.join(" ")
    );
    for m in modules {
        let combinational = design
            .module(m)
            .is_some_and(|m| m.role != Some(Role::Macro));
        let _ = write!(
            script,
            "design -load base; hierarchy -top {m}; synth -flatten -top {m}; tee -q -o {m}.cmos stat -tech cmos; \
             dfflibmap -liberty {lib}; abc -liberty {lib}; opt_clean; tee -q -o {m}.stat stat -liberty {lib}; "
        );
        if combinational {
            let _ = write!(script, "tee -q -o {m}.ltp ltp -noff; ");
        }
    }
    super::area::run_yosys(&script, work)?;
    let cells = super::area::liberty_cells(SKY130_AREA_LIB);
    let mut result = BTreeMap::new();
    for m in modules {
        let path = |ext: &str| work.join(format!("{m}.{ext}"));
        let read = |ext: &str| std::fs::read_to_string(path(ext));
        let missing = |what: &str| FlowError::Missing {
            what: what.into(),
            module: m.clone(),
        };
        let stat_text = read("stat").map_err(FlowError::io(&path("stat")))?;
        let stat: ModuleStat = parse_stat(&stat_text, &cells, &[])
            .remove(m.as_str())
            .ok_or_else(|| missing("cell statistics"))?;
        let cmos = read("cmos").map_err(FlowError::io(&path("cmos")))?;
        let transistors = parse_transistors(&cmos).ok_or_else(|| missing("transistor estimate"))?;
        let depth = match read("ltp") {
            Ok(text) => Some(parse_ltp(&text).ok_or_else(|| missing("longest path"))?),
            Err(_) => None,
        };
        result.insert(
            m.clone(),
            Synthesized {
                cells: stat.cells,
                area: stat.area,
                transistors,
                depth,
            },
        );
    }
    Ok(result)
}

/// `Estimated number of transistors: N` (Yosys `stat -tech cmos`).
fn parse_transistors(log: &str) -> Option<u64> {
    log.lines().find_map(|l| {
        l.trim()
            .strip_prefix("Estimated number of transistors:")
            .and_then(|v| v.trim().trim_end_matches('+').parse().ok())
    })
}

/// `Longest topological path in <module> (length=N):` (Yosys `ltp`).
fn parse_ltp(log: &str) -> Option<u64> {
    log.lines().find_map(|l| {
        l.split("(length=")
            .nth(1)
            .and_then(|r| r.split(')').next())
            .and_then(|v| v.parse().ok())
    })
}

/// Reads a package's configuration for the report.
pub fn config_of(package_dir: Option<&Path>) -> Result<Config, FlowError> {
    match package_dir {
        Some(dir) => super::package_config(dir),
        None => Ok(Config::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_yosys_figures() {
        assert_eq!(
            parse_transistors("   Estimated number of transistors:      12345+\n"),
            Some(12345)
        );
        assert_eq!(
            parse_ltp("Longest topological path in pool_crossbar_mux (length=17):\n    0: x"),
            Some(17)
        );
    }
}
