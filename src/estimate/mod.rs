//! `cimpool estimate`: what a whole network costs on each engine. A
//! workload (from shapes or from compressed images) and a configuration go
//! through the closed-form model (constants with their sources in
//! constants.toml) and, on request, through our synthesized RTL; both
//! sources are reported side by side, never mixed (docs/ESTIMATE.md).

pub mod anchors;
pub mod constants;
pub mod model;
pub mod plot;
pub mod sensitivity;
pub mod synth;
pub mod workload;

use crate::config::Config;
use constants::Constants;
use model::{ChipEstimate, LayerEstimate, AREA_PARTS, ENERGY_PARTS};
use serde::Serialize;
use std::fmt::Write;
use workload::{StoredBits, Workload};

/// One configuration's estimate for one workload.
#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    pub label: String,
    pub workload: String,
    pub config: Config,
    pub weights: u64,
    pub stored_bits: StoredBits,
    pub bits_per_weight: f64,
    pub compression_vs_8bit: f64,
    /// Real weight cells / cells of the occupied macros, on chip.
    pub utilization: f64,
    pub layers: Vec<LayerEstimate>,
    /// Every weight on chip.
    pub on_chip: ChipEstimate,
    /// One engine; weights streamed from DRAM each inference.
    pub streamed: ChipEstimate,
    /// One engine, each tile loaded once per batch of `batch` images
    /// (`model::batched`), per image; its partial-sum buffer (bits).
    pub batch: u64,
    pub batched: ChipEstimate,
    pub psum_buffer_bits: u64,
    /// One engine, our synthesized RTL (`--synth`), at the target node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub synthesized_engine: Option<synth::SynthArea>,
    /// One engine's periphery timed in osu018 (`--timing`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timed_engine: Option<synth::TimedEngine>,
}

/// A short name of a configuration, from the parameters that set its cost.
pub fn label(config: &Config) -> String {
    let mut s = format!(
        "{} {}x{}x{} W{}",
        if config.is_dense() { "dense" } else { "pool" },
        config.macros,
        config.rows,
        config.cols,
        config.wl_parallel
    );
    if config.is_dense() {
        let _ = write!(s, " {}b", config.w_bits);
        if config.sparsity != crate::config::Sparsity::None {
            let _ = write!(s, " {}", config.sparsity);
        }
    } else {
        let _ = write!(s, " P{}", config.pool);
    }
    if config.adc_bits > 0 {
        let _ = write!(s, " ADC{}", config.adc_bits);
    }
    s
}

/// The estimate of one configuration; `batch` images share each tile load
/// in the batched schedule.
pub fn estimate(k: &Constants, label: String, config: &Config, w: &Workload, batch: u64) -> Entry {
    let layers = model::layers(k, config, w);
    let on_chip = model::on_chip(k, config, w, &layers);
    let streamed = model::streamed(k, config, w, &layers);
    let (batched, psum_buffer_bits) = model::batched(k, config, w, &layers, batch);
    let real: u64 = layers.iter().map(|l| l.real_cells).sum();
    let d = crate::config::Derived::new(config);
    let occupied = on_chip.macros * (config.cols * d.macro_rows) as u64;
    let stored = w.stored();
    Entry {
        label,
        workload: w.source.clone(),
        config: config.clone(),
        weights: w.weights(),
        stored_bits: stored,
        bits_per_weight: w.bits_per_weight(),
        compression_vs_8bit: 8.0 / w.bits_per_weight(),
        utilization: real as f64 / occupied.max(1) as f64,
        layers,
        on_chip,
        streamed,
        batch,
        batched,
        psum_buffer_bits,
        synthesized_engine: None,
        timed_engine: None,
    }
}

/// The whole answer of one `estimate` run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub constants: Constants,
    pub entries: Vec<Entry>,
}

fn mm2(um2: f64) -> f64 {
    um2 * 1e-6
}

fn nj(fj: f64) -> f64 {
    fj * 1e-6
}

impl Report {
    /// Per-layer table of one entry.
    pub fn layer_table(e: &Entry) -> String {
        let mut s = format!(
            "{} on {} ({}):\n\n| layer | weights | macros on chip | utilization | stored bits | engine tiles | tile loads | cycles (one engine) | energy (nJ) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
            e.workload, e.label, e.config.engine
        );
        for l in &e.layers {
            if l.host {
                let _ = writeln!(
                    s,
                    "| {} | {} | host (8-bit) | | {} | | | | |",
                    l.name, l.weights, l.stored_bits
                );
                continue;
            }
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.1}% | {} | {} | {} | {} | {:.1} |",
                l.name,
                l.weights,
                l.macros,
                100.0 * l.utilization,
                l.stored_bits,
                l.engine_tiles,
                l.tile_loads,
                l.cycles,
                nj(l.energy_fj.iter().sum())
            );
        }
        s
    }

    /// The side-by-side summary; ratios against the first entry.
    pub fn summary(&self) -> String {
        let k = &self.constants;
        let energies = if k.node_nm == k.zigzag_node_nm {
            String::new()
        } else {
            format!(
                " **Energies are not node-scaled**: the fJ constants hold at {} nm (set them with --constants); areas are scaled.",
                k.zigzag_node_nm
            )
        };
        let mut s = format!(
            "Closed-form model at {} nm, {} V, clock {} MHz (docs/ESTIMATE.md); ratios against the first column.{energies}\n\n| | {} |\n|---|{}\n",
            k.node_nm,
            k.vdd,
            k.clock_mhz,
            self.entries
                .iter()
                .map(|e| e.label.clone())
                .collect::<Vec<_>>()
                .join(" | "),
            "---:|".repeat(self.entries.len())
        );
        let base = &self.entries[0];
        let row =
            |s: &mut String, name: &str, f: &dyn Fn(&Entry) -> f64, fmt: &dyn Fn(f64) -> String| {
                let b = f(base);
                let cells: Vec<String> = self
                    .entries
                    .iter()
                    .enumerate()
                    .map(|(i, e)| {
                        let v = f(e);
                        if i == 0 || b == 0.0 {
                            fmt(v)
                        } else {
                            format!("{} ({:.2}x)", fmt(v), v / b)
                        }
                    })
                    .collect();
                let _ = writeln!(s, "| {name} | {} |", cells.join(" | "));
            };
        let int = |v: f64| format!("{v:.0}");
        let f3 = |v: f64| format!("{v:.3}");
        let f2 = |v: f64| format!("{v:.2}");
        let pct = |v: f64| format!("{:.1}%", 100.0 * v);
        row(&mut s, "weights", &|e| e.weights as f64, &int);
        row(
            &mut s,
            "stored bits (Mb)",
            &|e| e.stored_bits.total() as f64 * 1e-6,
            &f3,
        );
        row(&mut s, "bits per weight", &|e| e.bits_per_weight, &f3);
        row(
            &mut s,
            "compression vs 8-bit",
            &|e| e.compression_vs_8bit,
            &f2,
        );
        row(&mut s, "macros on chip", &|e| e.on_chip.macros as f64, &int);
        row(
            &mut s,
            "engines on chip",
            &|e| e.on_chip.engines as f64,
            &int,
        );
        row(&mut s, "utilization on chip", &|e| e.utilization, &pct);
        row(
            &mut s,
            "**area on chip (mm^2)**",
            &|e| mm2(e.on_chip.area()),
            &f3,
        );
        row(
            &mut s,
            "- bitcells and memories (scale with stored bits)",
            &|e| mm2(e.on_chip.storage_area()),
            &f3,
        );
        row(
            &mut s,
            "- logic",
            &|e| mm2(e.on_chip.area() - e.on_chip.storage_area()),
            &f3,
        );
        for (i, p) in AREA_PARTS.iter().enumerate() {
            row(
                &mut s,
                &format!("  - {p}"),
                &|e| mm2(e.on_chip.area_um2[i]),
                &f3,
            );
        }
        row(
            &mut s,
            "weights per mm^2, whole chip",
            &|e| e.weights as f64 / mm2(e.on_chip.area()),
            &int,
        );
        row(
            &mut s,
            "weights per mm^2 of bitcells and memories",
            &|e| e.weights as f64 / mm2(e.on_chip.storage_area()),
            &int,
        );
        row(
            &mut s,
            "**energy per inference, on chip (nJ)**",
            &|e| nj(e.on_chip.energy()),
            &f2,
        );
        row(
            &mut s,
            "cycles per inference, on chip",
            &|e| e.on_chip.cycles as f64,
            &int,
        );
        let per_s = |cycles: u64| 1.0 / (cycles.max(1) as f64 * k.cycle_s());
        let rate = |v: f64| format!("{v:.1}");
        row(
            &mut s,
            "images per second, on chip",
            &|e| per_s(e.on_chip.cycles),
            &rate,
        );
        // Iso-area: a chip of the other's area holds copies of this one,
        // each taking its share of the images.
        row(
            &mut s,
            "images per second per mm^2, on chip (iso-area)",
            &|e| per_s(e.on_chip.cycles) / mm2(e.on_chip.area()),
            &f3,
        );
        row(
            &mut s,
            "**one engine: area (mm^2)**",
            &|e| mm2(e.streamed.area()),
            &f3,
        );
        if self.entries.iter().all(|e| e.synthesized_engine.is_some()) {
            row(
                &mut s,
                "one engine: synthesized RTL (mm^2, scaled from sky130)",
                &|e| mm2(e.synthesized_engine.as_ref().unwrap().total_um2),
                &f3,
            );
        }
        if self.entries.iter().all(|e| e.timed_engine.is_some()) {
            let t = |e: &Entry| e.timed_engine.clone().expect("checked above");
            row(
                &mut s,
                "one engine: periphery in osu018 cells (mm^2 at 180 nm, macros excluded)",
                &|e| mm2(t(e).osu018_um2),
                &f3,
            );
            row(
                &mut s,
                "one engine: the same at the target node (area table extrapolated to 180 nm)",
                &|e| mm2(t(e).area_um2),
                &f3,
            );
            row(
                &mut s,
                "one engine: Fmax of the periphery, osu018 (MHz)",
                &|e| t(e).fmax_mhz,
                &rate,
            );
            let at = |e: &Entry, cycles: u64| t(e).fmax_mhz * 1e6 / cycles.max(1) as f64;
            row(
                &mut s,
                "images per second at its own Fmax: on chip",
                &|e| at(e, e.on_chip.cycles),
                &rate,
            );
            row(
                &mut s,
                "images per second at its own Fmax: one engine",
                &|e| at(e, e.streamed.cycles),
                &rate,
            );
        }
        row(
            &mut s,
            "one engine: tile loads per inference",
            &|e| e.layers.iter().map(|l| l.tile_loads).sum::<u64>() as f64,
            &int,
        );
        row(
            &mut s,
            "one engine: cycles per inference",
            &|e| e.streamed.cycles as f64,
            &int,
        );
        row(
            &mut s,
            "one engine: images per second",
            &|e| per_s(e.streamed.cycles),
            &rate,
        );
        row(
            &mut s,
            "**one engine + DRAM: energy per inference (nJ)**",
            &|e| nj(e.streamed.energy()),
            &f2,
        );
        for (i, p) in ENERGY_PARTS.iter().enumerate() {
            if self.entries.iter().all(|e| e.streamed.energy_fj[i] == 0.0) {
                continue;
            }
            row(
                &mut s,
                &format!("  - {p}"),
                &|e| nj(e.streamed.energy_fj[i]),
                &f2,
            );
        }
        let batch = base.batch;
        row(
            &mut s,
            &format!("**one engine, each tile loaded once per batch of {batch}: energy per inference (nJ)**"),
            &|e| nj(e.batched.energy()),
            &f2,
        );
        for (i, p) in ENERGY_PARTS.iter().enumerate().skip(5) {
            if self.entries.iter().all(|e| e.batched.energy_fj[i] == 0.0) {
                continue;
            }
            row(
                &mut s,
                &format!("  - {p}"),
                &|e| nj(e.batched.energy_fj[i]),
                &f2,
            );
        }
        row(
            &mut s,
            "  partial-sum buffer (KB)",
            &|e| e.psum_buffer_bits as f64 / 8192.0,
            &f2,
        );
        row(
            &mut s,
            "  area with the buffer (mm^2)",
            &|e| mm2(e.batched.area()),
            &f3,
        );
        row(
            &mut s,
            "  cycles per inference",
            &|e| e.batched.cycles as f64,
            &int,
        );
        row(
            &mut s,
            "  images per second",
            &|e| per_s(e.batched.cycles),
            &rate,
        );
        s
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serializes") + "\n"
    }
}
