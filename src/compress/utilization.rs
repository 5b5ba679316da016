//! How well a network fills the macros of a configuration (Lin & Chang's
//! array utilization): per engine layer the tiles it occupies, the cells
//! holding real weights against the cells those tiles occupy (row-block
//! padding and the lanes left empty in the last pass are waste), and how
//! often tiles are loaded per inference. Shapes only: no weights needed.

use crate::config::{Config, Derived};
use crate::network::model::{Layer, Network};
use serde::Serialize;
use std::fmt::Write;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerUtilization {
    pub name: String,
    pub out_channels: usize,
    pub fan_in: usize,
    pub passes: usize,
    pub row_blocks: usize,
    /// Input vectors per inference: the layer's output positions.
    pub vectors: usize,
    /// Weight cells holding real weights (one error bit per weight for the
    /// pool engine, w_bits for the dense engine).
    pub real_cells: u64,
    /// Weight cells of the tiles the layer occupies: every tile fills the
    /// N error (weight) macros.
    pub occupied_cells: u64,
    /// Tile loads per inference: each tile once when the layer has one row
    /// block (all vectors stream through a loaded tile); per vector and
    /// tile otherwise, since the lane accumulators hold one vector's sums.
    pub tile_loads: u64,
}

impl LayerUtilization {
    pub fn utilization(&self) -> f64 {
        self.real_cells as f64 / self.occupied_cells.max(1) as f64
    }
}

/// The utilization of every engine layer of `net` (host layers run on the
/// host and occupy no macro).
pub fn utilization(config: &Config, net: &Network) -> Vec<LayerUtilization> {
    net.layers
        .iter()
        .filter(|l| !l.uncompressed)
        .map(|l| layer(config, l))
        .collect()
}

fn layer(config: &Config, l: &Layer) -> LayerUtilization {
    let d = Derived::new(config);
    let (rows, lanes) = (config.rows as usize, d.lanes as usize);
    let cells_per_weight = if config.is_dense() {
        config.w_bits as u64
    } else {
        1
    };
    let passes = l.out_channels.div_ceil(lanes);
    let row_blocks = l.fan_in.div_ceil(rows);
    let tiles = (passes * row_blocks) as u64;
    let tile_cells = (config.macros * config.cols * d.macro_rows) as u64;
    let vectors = l.geometry.positions();
    LayerUtilization {
        name: l.name.clone(),
        out_channels: l.out_channels,
        fan_in: l.fan_in,
        passes,
        row_blocks,
        vectors,
        real_cells: (l.out_channels * l.fan_in) as u64 * cells_per_weight,
        occupied_cells: tiles * tile_cells,
        tile_loads: if row_blocks == 1 {
            tiles
        } else {
            tiles * vectors as u64
        },
    }
}

/// The network's utilization: real weight cells over occupied cells.
pub fn total(layers: &[LayerUtilization]) -> f64 {
    let real: u64 = layers.iter().map(|l| l.real_cells).sum();
    let occupied: u64 = layers.iter().map(|l| l.occupied_cells).sum();
    real as f64 / occupied.max(1) as f64
}

/// The report as a Markdown table.
pub fn table(config: &Config, layers: &[LayerUtilization]) -> String {
    let d = Derived::new(config);
    let mut s = format!(
        "Tiles of {} {} macros of {}x{} ({} lanes, {} rows per row block):\n\n\
         | layer | channels x fan-in | passes x row blocks | vectors per inference | real / occupied weight cells | utilization | tile loads per inference |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
        config.macros,
        if config.is_dense() { "weight" } else { "error" },
        d.macro_rows,
        config.cols,
        d.lanes,
        config.rows
    );
    for l in layers {
        let _ = writeln!(
            s,
            "| {} | {} x {} | {} x {} | {} | {} / {} | {:.1}% | {} |",
            l.name,
            l.out_channels,
            l.fan_in,
            l.passes,
            l.row_blocks,
            l.vectors,
            l.real_cells,
            l.occupied_cells,
            100.0 * l.utilization(),
            l.tile_loads
        );
    }
    let loads: u64 = layers.iter().map(|l| l.tile_loads).sum();
    let _ = writeln!(
        s,
        "\nnetwork: {:.1}% of the occupied weight cells hold real weights; {} tile loads per inference",
        100.0 * total(layers),
        loads
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::builtin;

    /// The digits MLP on 2 macros of 64x64 (128 lanes): fc1 64 -> 128 fills
    /// one tile exactly; fc3 (10 x 128) uses 10 of 128 lanes in 2 blocks.
    #[test]
    fn padding_and_empty_lanes_count_as_occupied() {
        let c = Config::from_toml("macros = 2\nrows = 64\ncols = 64\npool = 64")
            .unwrap()
            .resolved();
        let desc = crate::network::model::ModelDesc::from_toml(
            "input_scale = 1.0\n[[layer]]\nname = 'fc1'\nkind = 'fc'\nrelu = true\nshape = [128, 64]\n\
             [[layer]]\nname = 'fc3'\nkind = 'fc'\nshape = [10, 128]\n",
        )
        .unwrap();
        let net = desc.network(&builtin::random_weights(&desc, 1)).unwrap();
        let u = utilization(&c, &net);
        assert_eq!((u[0].passes, u[0].row_blocks, u[0].tile_loads), (1, 1, 1));
        assert_eq!(u[0].utilization(), 1.0);
        assert_eq!((u[1].passes, u[1].row_blocks), (1, 2));
        assert_eq!(u[1].real_cells, 1280);
        assert_eq!(u[1].occupied_cells, 2 * 2 * 64 * 64);
        // Two row blocks: both tiles are reloaded for the one vector.
        assert_eq!(u[1].tile_loads, 2);
        let all = total(&u);
        assert!((all - (8192.0 + 1280.0) / (3.0 * 8192.0)).abs() < 1e-12);
        // The dense engine at 4 bits: 4 cells per weight, 32 lanes.
        let dense = Config::from_toml("engine = 'dense'\nmacros = 2\nrows = 64\ncols = 64")
            .unwrap()
            .resolved();
        let u = utilization(&dense, &net);
        assert_eq!((u[0].passes, u[0].real_cells), (4, 4 * 8192));
        assert_eq!(u[0].utilization(), 1.0);
    }
}
