//! What a network asks of an engine, layer by layer: its shape, the input
//! vectors per inference, and what compression stores for it. Either
//! predicted from the shapes (a keep ratio or a block sparsity assumed
//! uniform) or read from an actually compressed image folder (its
//! report.json, written by `compress`), so both paths feed one model.

use crate::config::{Config, Derived, Sparsity};
use crate::network::model::Network;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The bits compression stores for one layer (`compress`'s accounting,
/// report.json `bits_per_weight`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct StoredBits {
    /// Weight cells: error bits (pool engine) or `w_bits`-bit weights (dense).
    pub cells: u64,
    pub index: u64,
    pub masks: u64,
    pub scales: u64,
    /// Dense engine: valid bits or slot codes.
    pub sparsity: u64,
    /// 8-bit weights of a layer the host computes.
    pub host: u64,
    /// Pool engine: the pool (P vectors of R bits), once per network.
    pub pool: u64,
}

impl StoredBits {
    pub fn total(&self) -> u64 {
        self.cells + self.index + self.masks + self.scales + self.sparsity + self.host + self.pool
    }
    /// Bits next to the cells: index memory, masks, scales, valid bits.
    pub fn side(&self) -> u64 {
        self.index + self.masks + self.scales + self.sparsity
    }
    pub fn add(&mut self, o: &StoredBits) {
        self.cells += o.cells;
        self.index += o.index;
        self.masks += o.masks;
        self.scales += o.scales;
        self.sparsity += o.sparsity;
        self.host += o.host;
        self.pool += o.pool;
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerWork {
    pub name: String,
    pub out_channels: usize,
    pub fan_in: usize,
    /// Input vectors per inference (the layer's output positions).
    pub vectors: u64,
    /// Computed by the host with 8-bit weights: no macro.
    pub host: bool,
    /// Pool engine: error vectors (channel, row block) kept; dense engine:
    /// every (channel, row block), pruned blocks are skipped in time only.
    pub kept_vectors: u64,
    /// Mean compute (issue) steps per bit plane of one engine tile: the
    /// phases, fewer with block sparsity the controller skips.
    pub issue_steps: f64,
    pub stored: StoredBits,
}

impl LayerWork {
    pub fn weights(&self) -> u64 {
        (self.out_channels * self.fan_in) as u64
    }
    pub fn row_blocks(&self, config: &Config) -> u64 {
        self.fan_in.div_ceil(config.rows as usize) as u64
    }
}

/// Where a workload came from, for the report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Workload {
    pub source: String,
    pub layers: Vec<LayerWork>,
    /// Pool engine: bits of the pool.
    pub pool_bits: u64,
}

impl Workload {
    pub fn stored(&self) -> StoredBits {
        let mut s = StoredBits {
            pool: self.pool_bits,
            ..StoredBits::default()
        };
        for l in &self.layers {
            s.add(&l.stored);
        }
        s
    }
    pub fn weights(&self) -> u64 {
        self.layers.iter().map(LayerWork::weights).sum()
    }
    pub fn bits_per_weight(&self) -> f64 {
        self.stored().total() as f64 / self.weights().max(1) as f64
    }
}

fn pool_bits(config: &Config) -> u64 {
    if config.is_dense() {
        0
    } else {
        (config.pool * config.rows) as u64
    }
}

/// The workload predicted from shapes: a share `keep` of the pool engine's
/// error vectors kept, a share `sparsity` of the dense engine's phase
/// blocks pruned (uniformly; what the controller skips depends on
/// `sparsity` in the config).
pub fn from_shapes(
    source: &str,
    config: &Config,
    net: &Network,
    keep: f64,
    sparsity: f64,
) -> Workload {
    let d = Derived::new(config);
    let layers = net
        .layers
        .iter()
        .map(|l| {
            let blocks = l.fan_in.div_ceil(config.rows as usize) as u64;
            let vectors = l.geometry.positions() as u64;
            let weights = (l.out_channels * l.fan_in) as u64;
            let units = l.out_channels as u64 * blocks;
            let mut stored = StoredBits::default();
            let (mut kept_vectors, mut issue_steps) = (units, d.phases as f64);
            if l.uncompressed {
                stored.host = 8 * weights;
                stored.scales = (config.scale_bits + config.shift_bits) as u64;
            } else if config.is_dense() {
                // Compact storage holds at most `slots` of the phase blocks.
                let kept = match config.sparsity {
                    Sparsity::Compact => {
                        (1.0 - sparsity).min(d.issue_blocks as f64 / d.phases as f64)
                    }
                    _ => 1.0 - sparsity,
                };
                stored.cells = (weights as f64 * kept).round() as u64 * config.w_bits as u64;
                stored.scales = (config.scale_bits + config.shift_bits) as u64;
                let passes = l.out_channels.div_ceil(d.lanes as usize) as u64;
                let tiles = passes * blocks;
                stored.sparsity = tiles
                    * match config.sparsity {
                        Sparsity::None => 0,
                        Sparsity::Skip => d.phases as u64,
                        Sparsity::Compact => {
                            d.issue_blocks as u64 * crate::ir::clog2(d.phases as u64 + 1) as u64
                        }
                    };
                if config.sparsity != Sparsity::None {
                    issue_steps = (d.phases as f64 * kept).max(1.0).min(d.issue_blocks as f64);
                }
            } else {
                kept_vectors = (units as f64 * keep).round() as u64;
                stored.cells = kept_vectors * config.rows as u64;
                stored.index = units * d.index_bits as u64;
                stored.masks = units;
                stored.scales = (2 * config.scale_bits + config.shift_bits) as u64;
            }
            LayerWork {
                name: l.name.clone(),
                out_channels: l.out_channels,
                fan_in: l.fan_in,
                vectors,
                host: l.uncompressed,
                kept_vectors,
                issue_steps,
                stored,
            }
        })
        .collect();
    Workload {
        source: source.to_string(),
        layers,
        pool_bits: pool_bits(config),
    }
}

/// The fields of report.json the estimate reads.
#[derive(Deserialize)]
struct ReportFile {
    layers: Vec<ReportLayer>,
}

#[derive(Deserialize)]
struct ReportLayer {
    name: String,
    weights: usize,
    row_blocks: usize,
    passes: usize,
    kept_tiles: usize,
    index_bits: u64,
    error_bits: u64,
    mask_bits: u64,
    scale_bits: u64,
    host_weight_bits: u64,
    dense_weight_bits: u64,
    sparsity_memory_bits: u64,
    issue_steps_per_vector: u64,
}

/// The workload of a compressed image folder: its configuration, the
/// manifest's layer shapes and positions, report.json's stored bits, kept
/// error vectors and issue steps.
pub fn from_images(dir: &Path) -> Result<(Config, Workload), crate::error::Error> {
    use crate::error::Error;
    let images = crate::images::read(dir)?;
    let path = dir.join("report.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::Usage(format!(
            "cannot read {}: {e}; `cimpool compress` writes it next to the images",
            path.display()
        ))
    })?;
    let report: ReportFile = serde_json::from_str(&text)
        .map_err(|e| Error::Usage(format!("{}: {e}", path.display())))?;
    let config = images.config.clone();
    let d = Derived::new(&config);
    let mut layers = Vec::new();
    for m in &images.manifest.layers {
        let r = report
            .layers
            .iter()
            .find(|r| r.name == m.name)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "{}: no layer `{}` of the manifest",
                    path.display(),
                    m.name
                ))
            })?;
        if r.weights != m.out_channels * m.fan_in {
            return Err(Error::Usage(format!(
                "{}: layer `{}` has {} weights, the manifest {} x {}",
                path.display(),
                m.name,
                r.weights,
                m.out_channels,
                m.fan_in
            )));
        }
        let tiles = (r.passes * r.row_blocks).max(1) as f64;
        let dense = config.is_dense();
        let issue_steps = if dense && !m.host {
            r.issue_steps_per_vector as f64 / (config.act_bits as f64 * tiles)
        } else {
            d.phases as f64
        };
        let units = (m.out_channels * r.row_blocks) as u64;
        layers.push(LayerWork {
            name: m.name.clone(),
            out_channels: m.out_channels,
            fan_in: m.fan_in,
            vectors: m.geometry.positions() as u64,
            host: m.host,
            kept_vectors: if dense { units } else { r.kept_tiles as u64 },
            issue_steps,
            stored: StoredBits {
                cells: r.error_bits + r.dense_weight_bits,
                index: r.index_bits,
                masks: r.mask_bits,
                scales: r.scale_bits,
                sparsity: r.sparsity_memory_bits,
                host: r.host_weight_bits,
                pool: 0,
            },
        });
    }
    let workload = Workload {
        source: dir.display().to_string(),
        layers,
        pool_bits: pool_bits(&config),
    };
    Ok((config, workload))
}
