//! The closed-form model (docs/ESTIMATE.md): counts of cells, gates, adders,
//! ADCs and flops from the configuration and the workload, priced with the
//! constants. Two chips are modelled: every weight on chip (as many engines
//! of the configuration as the macros need), and one engine of the
//! configuration streaming its tiles from DRAM.

use super::constants::{adder_tree_full_adders, Constants, DenseAdderTree};
use super::workload::{LayerWork, Workload};
use crate::config::{Config, Crossbar, Derived};
use crate::golden::timing::{Inputs, Schedule};
use serde::Serialize;

/// Area components, in report order. The first three scale with the stored
/// bits; the rest is logic.
pub const AREA_PARTS: [&str; 10] = [
    "weight bitcells",
    "pool bitcells",
    "side memories",
    "per-cell logic",
    "column read-out",
    "shift-accumulate",
    "crossbar + index",
    "lane datapath",
    "control + input buffer",
    "partial-sum buffer",
];
/// The batched schedule's partial-sum buffer in AREA_PARTS and ENERGY_PARTS.
const PSUM_AREA: usize = 9;
const PSUM_ENERGY: usize = 8;
const HOST_ENERGY: usize = 7;
const STORAGE_PARTS: usize = 3;

/// Energy components per inference, in report order.
pub const ENERGY_PARTS: [&str; 9] = [
    "cell products",
    "column read-out",
    "shift-accumulate",
    "crossbar",
    "lane datapath",
    "weight writes",
    "DRAM weight traffic",
    "host layers (8-bit MACs)",
    "partial-sum buffer",
];

/// A breakdown: one value per part, in the parts' order.
pub type Parts = Vec<f64>;

/// Area of one macro of `columns` columns and `rows` physical word lines:
/// (bitcells, per-cell logic, read-out, shift-accumulate), um^2.
fn macro_area(k: &Constants, config: &Config, d: &Derived, rows: u32, columns: u32) -> [f64; 4] {
    let parts = closed_form_macro_area(k, config, d, rows, columns);
    if k.macro_area_um2 > 0.0 {
        // The user's weight macro area, split as the closed form splits it.
        let reference: f64 = closed_form_macro_area(k, config, d, d.macro_rows, config.cols)
            .iter()
            .sum();
        let scale = k.macro_area_um2 / reference;
        parts.map(|a| a * scale)
    } else {
        parts
    }
}

fn closed_form_macro_area(
    k: &Constants,
    config: &Config,
    d: &Derived,
    rows: u32,
    columns: u32,
) -> [f64; 4] {
    let cells = (rows * columns) as f64;
    let (tree, accumulated) = exact_read_out_per_column(k, config, d);
    let read_out = if config.adc_bits == 0 {
        tree * k.full_adder()
    } else {
        k.adc(config.adc_bits) / k.columns_per_adc as f64
    };
    [
        cells * k.bitcell(),
        cells * k.nand2(),
        columns as f64 * read_out,
        columns as f64 * accumulated * (k.full_adder() + k.flop()),
    ]
}

/// Whether the dense engine sums a weight's products in one tree
/// (`dense_adder_tree = "per_weight"`, exact read-out only).
fn per_weight_trees(k: &Constants, config: &Config) -> bool {
    config.is_dense() && config.adc_bits == 0 && k.dense_adder_tree == DenseAdderTree::PerWeight
}

/// Per physical column: full adders of its share of the read-out trees and
/// bits it shift-accumulates. A tree per column sums W 1-bit products into
/// `column_bits`; a tree per weight sums W products of `w_bits` bits, its
/// cost shared by the weight's w_bits columns (a lossy read-out has no
/// tree: the first figure is then unused).
fn exact_read_out_per_column(k: &Constants, config: &Config, d: &Derived) -> (f64, f64) {
    if per_weight_trees(k, config) {
        let b = config.w_bits;
        (
            adder_tree_full_adders(config.wl_parallel, b) / b as f64,
            (d.column_bits + b - 1) as f64 / b as f64,
        )
    } else {
        (
            adder_tree_full_adders(config.wl_parallel, 1),
            d.column_bits as f64,
        )
    }
}

/// `count` macros of area `m` into a breakdown: their bitcells into part
/// `bitcells` (weight or pool), the rest into per-cell logic, read-out and
/// shift-accumulate.
fn add_macros(area: &mut Parts, m: [f64; 4], count: f64, bitcells: usize) {
    area[bitcells] += count * m[0];
    area[3] += count * m[1];
    area[4] += count * m[2];
    area[5] += count * m[3];
}

/// Energy of one column in one compute phase of one bit plane: its W
/// products, its read-out (adder tree or ADC conversion), its
/// shift-accumulate (fJ).
fn column_phase_energy(k: &Constants, config: &Config, d: &Derived) -> [f64; 3] {
    let (tree, accumulated) = exact_read_out_per_column(k, config, d);
    let read_out = if config.adc_bits == 0 {
        tree * k.full_adder_energy()
    } else {
        k.adc_energy(config.adc_bits)
    };
    let parts = [
        config.wl_parallel as f64 * k.gate_energy(),
        read_out,
        accumulated * k.full_adder_energy(),
    ];
    if k.macro_fj_per_op > 0.0 {
        // The user's energy per 1-bit operation: W of them per column and
        // phase, split as the closed form splits it.
        let scale = config.wl_parallel as f64 * k.macro_fj_per_op / parts.iter().sum::<f64>();
        parts.map(|e| e * scale)
    } else {
        parts
    }
}

/// Full adders recombining a dense lane's `w_bits` column sums (none when
/// a tree per weight already summed them).
fn recombination_full_adders(k: &Constants, config: &Config, d: &Derived) -> f64 {
    if per_weight_trees(k, config) {
        0.0
    } else {
        config.w_bits as f64 * d.lane_value_bits.unwrap_or(0) as f64
    }
}

/// One macro of the configuration in isolation (the regression anchors):
/// its area (bitcells, per-cell logic, read-out, shift-accumulate, um^2) and
/// the energy of one compute phase of one bit plane (products, read-out,
/// shift-accumulate, fJ).
pub fn one_macro(k: &Constants, config: &Config) -> ([f64; 4], [f64; 3]) {
    let d = Derived::new(config);
    let cols = config.cols as f64;
    (
        macro_area(k, config, &d, d.macro_rows, config.cols),
        column_phase_energy(k, config, &d).map(|e| cols * e),
    )
}

/// Crossbar mux2 cells of one engine (values of `column_bits` bits).
fn crossbar_mux2(config: &Config, d: &Derived) -> f64 {
    if config.is_dense() {
        return 0.0;
    }
    let p = config.pool as f64;
    let per_unit = match config.crossbar {
        Crossbar::Mux => p * (p - 1.0),
        Crossbar::Benes => d.crossbar_levels as f64 * p,
    };
    d.crossbar_units as f64 * per_unit * d.column_bits as f64
}

/// The logic of one engine besides its weight macros, by AREA_PARTS.
fn engine_periphery(k: &Constants, config: &Config, d: &Derived) -> Parts {
    let mut a = vec![0.0; AREA_PARTS.len()];
    let (fa, flop) = (k.full_adder(), k.flop());
    let lanes = d.lanes as f64;
    let acc = d.accumulator_bits as f64;
    let multiplier = config.scale_bits as f64 * acc * fa;
    if config.is_dense() {
        let recombine = recombination_full_adders(k, config, d) * fa;
        a[7] = lanes * (recombine + acc * (fa + flop)) + d.out_lanes as f64 * multiplier;
        a[6] = d.issue_mask_bits.unwrap_or(0) as f64 * flop;
    } else {
        add_macros(
            &mut a,
            macro_area(k, config, d, config.rows, config.pool),
            1.0,
            1,
        );
        // The loaded tile's select fields and mask bits, and the crossbar.
        a[6] = lanes * (d.index_bits as f64 + 1.0) * flop + crossbar_mux2(config, d) * k.mux2();
        // accP and accE per lane; alpha x accP and beta x accE per output lane.
        a[7] = lanes * 2.0 * acc * (fa + flop) + d.out_lanes as f64 * 2.0 * multiplier;
    }
    a[8] = (config.rows * config.act_bits) as f64 * flop + k.control_nand2 * k.nand2();
    a
}

/// One engine of the configuration (its N weight macros and periphery).
pub fn engine_area(k: &Constants, config: &Config) -> Parts {
    let d = Derived::new(config);
    let mut a = engine_periphery(k, config, &d);
    let m = macro_area(k, config, &d, d.macro_rows, config.cols);
    add_macros(&mut a, m, config.macros as f64, 0);
    a
}

#[derive(Clone, Debug, Serialize)]
pub struct LayerEstimate {
    pub name: String,
    pub host: bool,
    pub weights: u64,
    /// Macros holding the layer on chip (weight or error macros).
    pub macros: u64,
    /// Tiles of the configuration's N macros the layer takes on one engine.
    pub engine_tiles: u64,
    /// Tile loads per inference on one engine (once per tile with one row
    /// block; per vector and tile otherwise).
    pub tile_loads: u64,
    pub load_words_per_tile: u64,
    /// Real weight cells / cells of the macros it occupies on chip.
    pub utilization: f64,
    pub real_cells: u64,
    pub stored_bits: u64,
    /// Cycles per inference on one engine, tile loads included.
    pub cycles: u64,
    /// The compute part of `cycles` (no loads): what a chip holding every
    /// tile spends, divided among its engines.
    pub compute_cycles: u64,
    /// Compute energy per inference (fJ), by ENERGY_PARTS (no DRAM).
    pub energy_fj: Parts,
    /// Batched schedule (every tile loaded once per batch): partial sums of
    /// one image held between row blocks (bits), and the energy of writing
    /// and reading them back per inference (fJ).
    pub psum_bits: u64,
    pub psum_fj: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ChipEstimate {
    pub macros: u64,
    pub engines: u64,
    pub area_um2: Parts,
    pub energy_fj: Parts,
    pub cycles: u64,
}

impl ChipEstimate {
    pub fn area(&self) -> f64 {
        self.area_um2.iter().sum()
    }
    pub fn storage_area(&self) -> f64 {
        self.area_um2[..STORAGE_PARTS].iter().sum()
    }
    pub fn energy(&self) -> f64 {
        self.energy_fj.iter().sum()
    }
}

/// Weight cells per macro of the layer's weights: `w_bits` columns per
/// output lane (dense), one error column per lane (pool).
fn lanes_per_macro(config: &Config) -> u64 {
    if config.is_dense() {
        (config.cols / config.w_bits) as u64
    } else {
        config.cols as u64
    }
}

/// Macros the layer's stored weights occupy on chip: per row block, its
/// kept error columns (pool) or its output channels (dense), packed into
/// macros.
fn layer_macros(config: &Config, l: &LayerWork) -> u64 {
    if l.host {
        return 0;
    }
    let blocks = l.row_blocks(config);
    let per_block = if config.is_dense() {
        l.out_channels as u64
    } else {
        l.kept_vectors.div_ceil(blocks.max(1))
    };
    blocks * per_block.div_ceil(lanes_per_macro(config))
}

/// Cells holding real weights: `w_bits` per kept (unpruned) weight
/// (dense); one error bit per weight of a kept error vector (pool).
fn real_cells(config: &Config, l: &LayerWork) -> u64 {
    if config.is_dense() {
        l.stored.cells
    } else {
        let units = (l.out_channels as u64 * l.row_blocks(config)).max(1);
        (l.weights() as u128 * l.kept_vectors as u128 / units as u128) as u64
    }
}

/// Cycles between accepted vectors when a tile issues `steps` blocks per
/// plane: the cycle model co-simulation checks, run to its steady state.
pub fn cycles_per_vector(config: &Config, steps: u32) -> u32 {
    let mut s = Schedule::new(config);
    s.set_issue_steps(steps.max(1));
    let input = Inputs {
        in_valid: true,
        in_first: true,
        in_last: false,
        out_ready: true,
    };
    let mut accepted = Vec::new();
    let mut cycle = 0u32;
    while accepted.len() < 4 {
        if s.tick(input).accepted {
            accepted.push(cycle);
        }
        cycle += 1;
    }
    accepted[3] - accepted[2]
}

/// Load-port writes of one tile (`images::tile_loads`): error columns, lane
/// words and scales; or weight columns, lane biases, sparsity word, scales.
pub fn load_words_per_tile(config: &Config) -> u64 {
    let d = Derived::new(config);
    if config.is_dense() {
        let sparsity = (config.sparsity != crate::config::Sparsity::None) as u64;
        (config.macros * config.cols) as u64 + d.lanes as u64 + sparsity + 1
    } else {
        2 * d.lanes as u64 + 1
    }
}

fn layer(k: &Constants, config: &Config, d: &Derived, l: &LayerWork) -> LayerEstimate {
    let blocks = l.row_blocks(config);
    let macros = layer_macros(config, l);
    let occupied = macros * (config.cols * d.macro_rows) as u64;
    let mut e = vec![0.0; ENERGY_PARTS.len()];
    let (mut engine_tiles, mut tile_loads, mut cycles, mut compute_cycles) = (0, 0, 0, 0);
    let words = load_words_per_tile(config);
    let (mut psum_bits, mut psum_fj) = (0, 0.0);
    if l.host {
        e[HOST_ENERGY] = l.weights() as f64 * l.vectors as f64 * k.host_mac_energy();
    } else {
        let v = l.vectors as f64;
        let planes = config.act_bits as f64;
        let steps = planes * l.issue_steps;
        let column = column_phase_energy(k, config, d);
        // Column-phases computed per inference: the weight macros' columns,
        // then (pool engine) the pool macro's for every tile.
        let mut active = v * macros as f64 * steps * config.cols as f64;
        let out = l.out_channels as f64;
        let acc = d.accumulator_bits as f64;
        let multiply = config.scale_bits as f64 * acc * k.full_adder_energy();
        let passes = l.out_channels.div_ceil(d.lanes as usize) as f64;
        if config.is_dense() {
            let recombine = recombination_full_adders(k, config, d) * k.full_adder_energy();
            e[4] += v * blocks as f64 * out * (recombine + acc * k.full_adder_energy());
            e[4] += v * out * multiply;
        } else {
            // The pool macro runs for every tile (pass, row block).
            active += v * blocks as f64 * passes * steps * config.pool as f64;
            let levels = match config.crossbar {
                Crossbar::Mux => d.index_bits as f64,
                Crossbar::Benes => d.crossbar_levels as f64,
            };
            e[3] += v * blocks as f64 * out * d.column_bits as f64 * levels * k.mux2_energy();
            e[4] += v * blocks as f64 * out * 2.0 * acc * k.full_adder_energy();
            e[4] += v * out * 2.0 * multiply;
        }
        for (part, per_column) in column.iter().enumerate() {
            e[part] += active * per_column;
        }
        // One engine: tiles of N macros, loaded once when the layer has one
        // row block, per vector otherwise (the accumulators hold one vector).
        engine_tiles = passes as u64 * blocks;
        tile_loads = if blocks == 1 {
            engine_tiles
        } else {
            engine_tiles * l.vectors
        };
        let lo = l.issue_steps.floor().max(1.0);
        let frac = l.issue_steps - lo;
        let cpv_lo = cycles_per_vector(config, lo as u32) as f64;
        let cpv = if frac > 0.0 {
            cpv_lo + frac * (cycles_per_vector(config, lo as u32 + 1) as f64 - cpv_lo)
        } else {
            cpv_lo
        };
        let drains = if blocks == 1 {
            engine_tiles
        } else {
            passes as u64 * l.vectors
        };
        compute_cycles = (l.vectors as f64 * engine_tiles as f64 * cpv).round() as u64
            + drains * d.first_beat_latency as u64;
        cycles = tile_loads * words + compute_cycles;
        if blocks > 1 {
            // Each vector's sums leave the lanes after every row block but
            // the last and come back for the next (accumulator width).
            let bits = l.vectors * l.out_channels as u64 * d.accumulator_bits as u64;
            psum_bits = bits;
            psum_fj = (bits * (blocks - 1)) as f64 * k.sram_write_and_read_energy();
        }
    }
    LayerEstimate {
        name: l.name.clone(),
        host: l.host,
        weights: l.weights(),
        macros,
        engine_tiles,
        tile_loads,
        load_words_per_tile: words,
        utilization: if occupied == 0 {
            0.0
        } else {
            real_cells(config, l) as f64 / occupied as f64
        },
        real_cells: if l.host { 0 } else { real_cells(config, l) },
        stored_bits: l.stored.total(),
        cycles,
        compute_cycles,
        energy_fj: e,
        psum_bits,
        psum_fj,
    }
}

pub fn layers(k: &Constants, config: &Config, w: &Workload) -> Vec<LayerEstimate> {
    let d = Derived::new(config);
    w.layers.iter().map(|l| layer(k, config, &d, l)).collect()
}

fn sum_parts(layers: &[LayerEstimate]) -> Parts {
    let mut e = vec![0.0; ENERGY_PARTS.len()];
    for l in layers {
        for (a, b) in e.iter_mut().zip(&l.energy_fj) {
            *a += b;
        }
    }
    e
}

/// Every weight on chip: enough engines for the macros, the side memories
/// in bitcells; weights written once, not per inference.
pub fn on_chip(
    k: &Constants,
    config: &Config,
    w: &Workload,
    layers: &[LayerEstimate],
) -> ChipEstimate {
    let d = Derived::new(config);
    let macros: u64 = layers.iter().map(|l| l.macros).sum();
    let engines = macros.div_ceil(config.macros as u64).max(1);
    let mut area = engine_periphery(k, config, &d);
    for a in area.iter_mut() {
        *a *= engines as f64;
    }
    let m = macro_area(k, config, &d, d.macro_rows, config.cols);
    add_macros(&mut area, m, macros as f64, 0);
    let stored = w.stored();
    area[2] += stored.side() as f64 * k.bitcell();
    // Engines run their tiles in parallel; a layer waits for the previous one.
    let cycles = layers
        .iter()
        .map(|l| {
            let parallel = l.engine_tiles.clamp(1, engines);
            l.compute_cycles.div_ceil(parallel)
        })
        .sum();
    ChipEstimate {
        macros,
        engines,
        area_um2: area,
        energy_fj: sum_parts(layers),
        cycles,
    }
}

/// One engine of the configuration; the stored weights stream from DRAM
/// once per inference (a host buffer keeps a tile's reloads on chip) and
/// are written into the macros at every tile load. The 8-bit weights of
/// layers the host computes come from DRAM too (their compute is in the
/// layers' energy, as 8-bit MACs).
pub fn streamed(
    k: &Constants,
    config: &Config,
    w: &Workload,
    layers: &[LayerEstimate],
) -> ChipEstimate {
    let d = Derived::new(config);
    let stored = w.stored();
    let mut energy = sum_parts(layers);
    let written: f64 = layers
        .iter()
        .map(|l| (l.tile_loads * l.load_words_per_tile) as f64 * d.load_data_bits as f64)
        .sum();
    energy[5] = written * k.write_energy_per_bit();
    energy[6] = stored.total() as f64 * k.dram_energy_per_bit();
    ChipEstimate {
        macros: config.macros as u64,
        engines: 1,
        area_um2: engine_area(k, config),
        energy_fj: energy,
        cycles: layers.iter().map(|l| l.cycles).sum(),
    }
}

/// One engine, each tile loaded once per batch of `batch` images: every
/// vector of every image of the batch runs on a tile before the next tile
/// loads, so a layer of several row blocks keeps its partial sums in an
/// on-chip buffer between row blocks (sized for the batch's largest layer).
/// The stored bits come from DRAM once per batch. A schedule cimpool's RTL
/// does not run (its lanes hold one vector's sums): the estimate shows what
/// it would save and what buffer it needs. Figures are per image.
pub fn batched(
    k: &Constants,
    config: &Config,
    w: &Workload,
    layers: &[LayerEstimate],
    batch: u64,
) -> (ChipEstimate, u64) {
    let d = Derived::new(config);
    let b = batch.max(1) as f64;
    let mut energy = sum_parts(layers);
    let written: f64 = layers
        .iter()
        .map(|l| (l.engine_tiles * l.load_words_per_tile) as f64 * d.load_data_bits as f64)
        .sum();
    energy[5] = written * k.write_energy_per_bit() / b;
    energy[6] = w.stored().total() as f64 * k.dram_energy_per_bit() / b;
    energy[PSUM_ENERGY] = layers.iter().map(|l| l.psum_fj).sum();
    let buffer = batch.max(1) * layers.iter().map(|l| l.psum_bits).max().unwrap_or(0);
    let mut area = engine_area(k, config);
    area[PSUM_AREA] = buffer as f64 * k.sram_bit();
    let cycles = layers
        .iter()
        .map(|l| l.compute_cycles as f64 + (l.engine_tiles * l.load_words_per_tile) as f64 / b)
        .sum::<f64>()
        .round() as u64;
    (
        ChipEstimate {
            macros: config.macros as u64,
            engines: 1,
            area_um2: area,
            energy_fj: energy,
            cycles,
        },
        buffer,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimate::workload::from_shapes;
    use crate::network::builtin;

    fn resnet18_macros(w_bits: u32) -> u64 {
        let config = Config::from_toml(&format!(
            "engine = 'dense'\nw_bits = {w_bits}\nmacros = 8\nrows = 128\ncols = 128"
        ))
        .unwrap()
        .resolved();
        let desc = builtin::network("resnet18").unwrap();
        let net = desc.network(&builtin::random_weights(&desc, 1)).unwrap();
        let w = from_shapes("resnet18", &config, &net, 1.0, 0.0);
        let k = Constants::default();
        layers(&k, &config, &w).iter().map(|l| l.macros).sum()
    }

    /// Our own count of 128x128 macros holding ResNet-18 (ImageNet) at
    /// 4 bits: 2,864; at 8 bits twice the columns per channel.
    #[test]
    fn resnet18_macro_counts() {
        assert_eq!(resnet18_macros(4), 2864);
        assert_eq!(resnet18_macros(8), 5724);
    }

    #[test]
    fn cycles_per_vector_is_the_derived_figure_without_sparsity() {
        for toml in [
            "",
            "macros = 2\nrows = 32\ncols = 32\npool = 8\nwl_parallel = 8\nact_bits = 3",
        ] {
            let c = Config::from_toml(toml).unwrap().resolved();
            let d = Derived::new(&c);
            assert_eq!(cycles_per_vector(&c, d.issue_blocks), d.cycles_per_vector);
        }
        // Fewer issue steps, fewer cycles (dense, skip).
        let c =
            Config::from_toml("engine = 'dense'\nrows = 128\nwl_parallel = 16\nsparsity = 'skip'")
                .unwrap()
                .resolved();
        assert!(cycles_per_vector(&c, 2) < cycles_per_vector(&c, 8));
    }
}

#[cfg(test)]
mod user_macro_tests {
    use super::*;

    /// A user's macro area and energy per operation replace the closed
    /// form's totals and keep its split; the pool macro scales alike.
    #[test]
    fn own_silicon_replaces_the_closed_form_totals() {
        let c = Config::from_toml("").unwrap().resolved();
        let d = Derived::new(&c);
        let k0 = Constants::default();
        let k = Constants {
            macro_area_um2: 50_000.0,
            macro_fj_per_op: 2.0,
            ..Constants::default()
        };
        let (a0, e0) = one_macro(&k0, &c);
        let (a, e) = one_macro(&k, &c);
        assert!((a.iter().sum::<f64>() - 50_000.0).abs() < 1e-6);
        let ops = (c.cols * c.wl_parallel) as f64;
        assert!((e.iter().sum::<f64>() - ops * 2.0).abs() < 1e-6);
        for i in 0..3 {
            assert!((a[i] / a[3] - a0[i] / a0[3]).abs() < 1e-9);
            assert!((e[i] / e[2] - e0[i] / e0[2]).abs() < 1e-9);
        }
        let pool = |k: &Constants| macro_area(k, &c, &d, c.rows, c.pool).iter().sum::<f64>();
        let ratio = pool(&k) / pool(&k0);
        assert!((ratio - 50_000.0 / a0.iter().sum::<f64>()).abs() < 1e-9);
    }
}

#[cfg(test)]
mod per_weight_tree_tests {
    use super::*;

    /// A 128x128 macro of 4-bit weights at W = 128: per-cell logic, read-out
    /// and shift-accumulate come to 0.179 mm^2 with a 1-bit tree per column
    /// and 0.111 mm^2 with a 4-bit tree per weight (ZigZag-IMC's digital IMC,
    /// the figures the estimator audit computed), and the per-weight tree
    /// leaves nothing to recombine in the lane.
    #[test]
    fn a_tree_per_weight_is_the_cheaper_dense_read_out() {
        let c = Config::from_toml(
            "engine = 'dense'\nw_bits = 4\nrows = 128\ncols = 128\nwl_parallel = 128",
        )
        .unwrap()
        .resolved();
        let d = Derived::new(&c);
        let periphery = |tree| {
            let k = Constants {
                dense_adder_tree: tree,
                ..Constants::default()
            };
            let (a, e) = one_macro(&k, &c);
            (
                (a[1] + a[2] + a[3]) * 1e-6,
                e,
                recombination_full_adders(&k, &c, &d),
            )
        };
        let (column, e_column, r_column) = periphery(DenseAdderTree::PerColumn);
        let (weight, e_weight, r_weight) = periphery(DenseAdderTree::PerWeight);
        assert!((column - 0.179).abs() < 0.002, "{column}");
        assert!((weight - 0.111).abs() < 0.002, "{weight}");
        assert!(r_column > 0.0 && r_weight == 0.0);
        // Same products, cheaper read-out and accumulation.
        assert_eq!(e_column[0], e_weight[0]);
        assert!(e_weight[1] < e_column[1] && e_weight[2] < e_column[2]);
        // The pool engine and a lossy read-out are untouched.
        let k = Constants {
            dense_adder_tree: DenseAdderTree::PerWeight,
            ..Constants::default()
        };
        for toml in ["", "engine = 'dense'\nw_bits = 4\nadc_bits = 5"] {
            let c = Config::from_toml(toml).unwrap().resolved();
            assert_eq!(one_macro(&k, &c), one_macro(&Constants::default(), &c));
        }
    }
}
