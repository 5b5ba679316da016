//! Compressing a network (SPEC sections 4-5): weight pools for the pool
//! engine, quantization and block pruning for the dense engine, integer
//! scales, and channel morphing. Reads `network`, feeds `images`.
//!
//! Pool engine: BN folding (`network::model`) -> row-block vectors -> pool by k-means on
//! normalised vectors, then sign (`pool`) -> assignment (highest cosine; with
//! `benes` a min-cost matching per lane group and row block) -> alpha, error
//! bits, beta, structured error pruning -> integer alpha / beta / shift /
//! bias from calibrated activation ranges -> tiles (written by `images`).

pub mod assign;
pub mod choices;
pub mod dense;
pub mod moments;
pub mod morph;
pub mod pool;
pub mod report;
pub mod residual;
pub mod scales;
pub mod utilization;
pub mod weight_clip;

use crate::config::{Config, Derived};
use crate::golden::{bit, bits_from_fn, Bits};
use crate::network::model::{self, Layer, Network};
use crate::network::{geometry, graph};
pub use report::{Budget, LayerStats};
pub use scales::LayerScales;

#[derive(Clone, Debug)]
pub struct Options {
    /// Share of (channel, row block) error tiles kept, 0..=1.
    pub keep_ratio: f64,
    pub iterations: usize,
    pub seed: u64,
    /// A pool to use as it is (fine-tuning trains the weights against a
    /// fixed pool, see `make train`); `None` builds one.
    pub pool: Option<Vec<Bits>>,
    /// Dense engine: share of phase blocks pruned, 0..1.
    pub sparsity: f64,
    /// Every node's output scale as given (e.g. the ones an earlier set of
    /// images held, which training assumed), instead of calibrating them.
    pub scales: Option<Vec<f64>>,
    /// Pool engine: every pooled layer's assignment and kept error tiles as
    /// given (the training tool's), instead of choosing them.
    pub choices: Option<choices::Choices>,
    /// Per layer, the mean square of each input column (`moments`): prune
    /// by output effect, each error tile's (pool engine) or phase block's
    /// (dense engine) energy weighted by its columns' moments
    /// (`compress --prune-by-output`). `None`: by weight energy.
    pub moments: Option<Vec<Vec<f64>>>,
}

/// The defaults `cimpool compress` uses: half the error tiles kept, 25
/// k-means iterations, seed 1, a pool built, no pruning, scales calibrated.
impl Default for Options {
    fn default() -> Options {
        Options {
            keep_ratio: 0.5,
            iterations: 25,
            seed: 1,
            pool: None,
            sparsity: 0.0,
            scales: None,
            choices: None,
            moments: None,
        }
    }
}

/// One (output-channel pass, row block) of a layer: what the engine holds
/// while that block's input vectors stream through (as `golden::Weights`).
#[derive(Clone, Debug, PartialEq)]
pub struct Tile {
    pub pass: usize,
    pub block: usize,
    /// Pool engine, per lane: pool index, error mask, error column (unused
    /// lanes: mask 0). The dense engine has no index or mask, and `error`
    /// holds its weight columns (macro * cols + col).
    pub index: Vec<u32>,
    pub mask: Vec<bool>,
    pub error: Vec<Bits>,
    /// Dense engine: phase valid bits (`skip`) or slot codes (`compact`).
    pub phase_valid: Vec<bool>,
    pub slot_codes: Vec<u32>,
}

/// What a layer's weights become: tiles for the engine (or 8-bit host
/// weights), their float view and the layer's float scales.
#[derive(Clone, Debug)]
pub struct LayerWeights {
    pub tiles: Vec<Tile>,
    /// An uncompressed layer: its 8-bit weights (channel-major, engine
    /// column order), run on the host with the same integer scaling,
    /// `accP = sum w x` and alpha the weight step. No tiles then.
    pub host: Option<Vec<i8>>,
    /// Float view: W_eff = alpha p + beta m e.
    pub effective: Vec<f32>,
    pub alpha: f32,
    pub beta: f32,
    pub stats: LayerStats,
}

/// A compressed layer: its weights and its integer path.
#[derive(Clone, Debug)]
pub struct CompressedLayer {
    pub name: String,
    pub relu: bool,
    pub out_channels: usize,
    pub fan_in: usize,
    pub geometry: geometry::Geometry,
    pub row_blocks: usize,
    pub passes: usize,
    pub tiles: Vec<Tile>,
    pub host: Option<Vec<i8>>,
    pub effective: Vec<f32>,
    /// The folded float bias.
    pub bias: Vec<f32>,
    pub alpha: f32,
    pub beta: f32,
    pub scales: LayerScales,
    pub stats: LayerStats,
}

impl CompressedLayer {
    fn new(l: &Layer, w: LayerWeights, scales: LayerScales) -> CompressedLayer {
        CompressedLayer {
            name: l.name.clone(),
            relu: l.relu,
            out_channels: l.out_channels,
            fan_in: l.fan_in,
            geometry: l.geometry,
            row_blocks: w.stats.row_blocks,
            passes: w.stats.passes,
            tiles: w.tiles,
            host: w.host,
            effective: w.effective,
            bias: l.bias.clone(),
            alpha: w.alpha,
            beta: w.beta,
            scales,
            stats: w.stats,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Compressed {
    pub config: Config,
    pub pool: Vec<Bits>,
    pub layers: Vec<CompressedLayer>,
    /// The network's graph (its layer nodes index `layers`).
    pub graph: graph::Graph,
    /// The scale of every node's output (float value of one integer unit).
    pub scales: Vec<f64>,
    /// The integer multipliers of every add node.
    pub adds: Vec<Option<graph::AddScales>>,
    pub input_scale: f64,
    /// k-means objective and iterations; `None` for a given pool.
    pub pool_kmeans: Option<(f64, usize)>,
}

#[derive(Debug, thiserror::Error)]
pub enum CompressError {
    #[error("{0}")]
    Model(#[from] model::ModelError),
    #[error("keep ratio (--keep) = {0} is invalid: it must be between 0 and 1")]
    KeepRatio(f64),
    #[error("block sparsity (--sparsity) = {0} is invalid: it must be between 0 and 1 (below 1: something must be kept)")]
    Sparsity(f64),
    #[error("block sparsity (--sparsity) = {sparsity} keeps more phase blocks per tile than compact storage holds: slots = {slots} of {phases} phases needs --sparsity >= {min:.3} (or more slots)")]
    SlotLimit {
        sparsity: f64,
        slots: u32,
        phases: u32,
        min: f64,
    },
    #[error("every layer is marked `uncompressed`: nothing to build a pool from")]
    NothingToCompress,
    #[error("the network has {vectors} row-block vectors, fewer than the {pool} pool vectors; use a smaller pool")]
    TooFewVectors { vectors: usize, pool: usize },
    #[error("layer `{layer}`: {reason}")]
    Scales { layer: String, reason: String },
    #[error("the given pool has {vectors} vectors; the hardware needs pool = {pool} vectors of rows = {rows} bits")]
    PoolShape {
        vectors: usize,
        pool: usize,
        rows: usize,
    },
    #[error("calibration data: {0}")]
    Calibration(String),
    #[error("layer `{layer}`: {reason}")]
    Choices { layer: String, reason: String },
}

fn pm(b: bool) -> f32 {
    if b {
        1.0
    } else {
        -1.0
    }
}

/// Row block `b` of channel `c`, zero-padded to `rows`.
fn block_of(layer: &Layer, c: usize, b: usize, rows: usize) -> Vec<f32> {
    let w = &layer.weights[c * layer.fan_in..(c + 1) * layer.fan_in];
    let lo = b * rows;
    let hi = (lo + rows).min(layer.fan_in);
    let mut v = w[lo..hi].to_vec();
    v.resize(rows, 0.0);
    v
}

fn moments_of(options: &Options, layer: usize) -> Option<&[f64]> {
    options.moments.as_ref().map(|m| m[layer].as_slice())
}

/// Compresses `net` for the hardware `config` (resolved); `calibration`
/// holds integer network inputs that set the activation scales.
pub fn compress(
    config: &Config,
    net: &Network,
    calibration: &[Vec<i64>],
    options: &Options,
    mut progress: impl FnMut(&str, usize, usize),
) -> Result<Compressed, CompressError> {
    if !(0.0..=1.0).contains(&options.keep_ratio) {
        return Err(CompressError::KeepRatio(options.keep_ratio));
    }
    if !(0.0..1.0).contains(&options.sparsity) {
        return Err(CompressError::Sparsity(options.sparsity));
    }
    if config.is_dense() && config.sparsity == crate::config::Sparsity::Compact {
        let phases = config.rows / config.wl_parallel;
        let min = 1.0 - config.slots as f64 / phases as f64;
        if options.sparsity < min - 1e-9 {
            return Err(CompressError::SlotLimit {
                sparsity: options.sparsity,
                slots: config.slots,
                phases,
                min,
            });
        }
    }
    let d = Derived::new(config);
    let (rows, p) = (config.rows as usize, config.pool as usize);
    let layers = &net.layers;
    // 1. Row-block vectors of every layer.
    if layers.iter().all(|l| l.uncompressed) {
        return Err(CompressError::NothingToCompress);
    }
    if config.is_dense() {
        let weights = layers
            .iter()
            .enumerate()
            .map(|(li, l)| {
                progress("quantize and prune", li + 1, layers.len());
                if l.uncompressed {
                    residual::host_layer(config, l)
                } else {
                    dense::dense_layer(config, &d, l, options.sparsity, moments_of(options, li))
                }
            })
            .collect();
        return finish(
            config,
            net,
            weights,
            calibration,
            options,
            vec![],
            None,
            &mut progress,
        );
    }
    let mut vectors = Vec::new();
    for l in layers.iter().filter(|l| !l.uncompressed) {
        for c in 0..l.out_channels {
            for b in 0..l.fan_in.div_ceil(rows) {
                vectors.extend(block_of(l, c, b, rows));
            }
        }
    }
    let n = vectors.len() / rows;
    if n < p {
        return Err(CompressError::TooFewVectors {
            vectors: n,
            pool: p,
        });
    }
    let (pool, pool_kmeans) = build_pool(&vectors, rows, p, options, &mut progress)?;
    let pool_pm: Vec<Vec<f32>> = pool
        .iter()
        .map(|b| (0..rows as u32).map(|r| pm(bit(b, r))).collect())
        .collect();
    // 2-4. Assignment, error bits, scales, pruning: each layer on its own.
    let mut weights = Vec::new();
    for (li, l) in layers.iter().enumerate() {
        progress("assign", li + 1, layers.len());
        weights.push(if l.uncompressed {
            residual::host_layer(config, l)
        } else if let Some(given) = &options.choices {
            let err = |reason: String| CompressError::Choices {
                layer: l.name.clone(),
                reason,
            };
            let c = given
                .layer(&l.name, l.out_channels, l.fan_in.div_ceil(rows), p)
                .map_err(err)?;
            let a = assign::pinned(config, d.lanes as usize, l, &c.index).map_err(err)?;
            residual::pooled_layer(
                config,
                &d,
                l,
                &a,
                &pool_pm,
                residual::Keep::Mask(&c.mask),
                moments_of(options, li),
            )
        } else {
            let a = assign::assign(config, d.lanes as usize, l, &pool_pm);
            residual::pooled_layer(
                config,
                &d,
                l,
                &a,
                &pool_pm,
                residual::Keep::Ratio(options.keep_ratio),
                moments_of(options, li),
            )
        });
    }
    finish(
        config,
        net,
        weights,
        calibration,
        options,
        pool,
        pool_kmeans,
        &mut progress,
    )
}

/// Step 6 for either engine: every node's output scale from the compressed
/// network's float outputs on the calibration data, then the integer
/// scales.
#[allow(clippy::too_many_arguments)]
fn finish(
    config: &Config,
    net: &Network,
    weights: Vec<LayerWeights>,
    calibration: &[Vec<i64>],
    options: &Options,
    pool: Vec<Bits>,
    pool_kmeans: Option<(f64, usize)>,
    progress: &mut impl FnMut(&str, usize, usize),
) -> Result<Compressed, CompressError> {
    let layers = &net.layers;
    // The float forward passes over the calibration inputs: seconds on a
    // ResNet-18, so they get a stage of their own.
    progress(
        "activation scales (float passes over the calibration inputs)",
        0,
        1,
    );
    let scales = match &options.scales {
        Some(s) if s.len() == net.graph.nodes.len() => s.clone(),
        Some(s) => {
            return Err(CompressError::Calibration(format!(
                "{} activation scales given for a network of {} nodes",
                s.len(),
                net.graph.nodes.len()
            )))
        }
        None => calibrate(config, net, &weights, calibration)?,
    };
    progress(
        "activation scales (float passes over the calibration inputs)",
        1,
        1,
    );
    let scale_of = |s: graph::Source| match s {
        graph::Source::Input => net.input_scale,
        graph::Source::Node(j) => scales[j],
    };
    let mut out: Vec<Option<CompressedLayer>> = vec![None; layers.len()];
    let mut adds = vec![None; net.graph.nodes.len()];
    for (i, node) in net.graph.nodes.iter().enumerate() {
        match node.op {
            graph::Op::Layer(li) => {
                let (l, w) = (&layers[li], weights[li].clone());
                let s = scales::integer_scales(
                    config,
                    &l.name,
                    (w.alpha, w.beta),
                    &l.bias,
                    scale_of(node.inputs[0]),
                    scales[i],
                )?;
                out[li] = Some(CompressedLayer::new(l, w, s));
            }
            graph::Op::Add { .. } => {
                adds[i] = Some(graph::AddScales::new(
                    scale_of(node.inputs[0]),
                    scale_of(node.inputs[1]),
                    scales[i],
                ));
            }
            _ => {}
        }
    }
    Ok(Compressed {
        config: config.clone(),
        pool,
        layers: out
            .into_iter()
            .map(|l| l.expect("every layer is a node"))
            .collect(),
        graph: net.graph.clone(),
        scales,
        adds,
        input_scale: net.input_scale,
        pool_kmeans,
    })
}

/// The output scale of every node: engine layers and adds from the peak of
/// their float outputs (the compressed weights' view) on the calibration
/// data over the output range; pools and flatten keep their input's scale.
fn calibrate(
    config: &Config,
    net: &Network,
    weights: &[LayerWeights],
    calibration: &[Vec<i64>],
) -> Result<Vec<f64>, CompressError> {
    let g = &net.graph;
    let mut peaks = vec![1e-6f32; g.nodes.len()];
    for (s, x) in calibration.iter().enumerate() {
        if x.len() != g.input.len() {
            return Err(CompressError::Calibration(format!(
                "sample {s} has {} values where the network takes {}",
                x.len(),
                g.input.len()
            )));
        }
        let x: Vec<f32> = x
            .iter()
            .map(|&v| v as f32 * net.input_scale as f32)
            .collect();
        let layer = |li: usize| graph::FloatLayer {
            weights: &weights[li].effective,
            bias: &net.layers[li].bias,
            geometry: &net.layers[li].geometry,
            relu: net.layers[li].relu,
            clip: net.layers[li].clip,
        };
        g.forward_float(&layer, &x, &mut |i, y| {
            peaks[i] = y.iter().fold(peaks[i], |m, v| m.max(v.abs()));
        });
    }
    let levels = |signed: bool| {
        if signed {
            ((1u64 << (config.out_bits - 1)) - 1) as f64
        } else {
            ((1u64 << config.out_bits) - 1) as f64
        }
    };
    let mut scales = Vec::with_capacity(g.nodes.len());
    for (i, n) in g.nodes.iter().enumerate() {
        let of = |s: graph::Source| match s {
            graph::Source::Input => (net.input_scale, false),
            graph::Source::Node(j) => (scales[j], g.nodes[j].signed),
        };
        let s = match n.op {
            // A clipped ReLU's top is the largest output value.
            graph::Op::Layer(li) if net.layers[li].clip.is_some() => {
                net.layers[li].clip.expect("checked") as f64 / levels(false)
            }
            graph::Op::Layer(_) | graph::Op::Add { .. } => peaks[i] as f64 / levels(n.signed),
            // The widest input's range: no input saturates.
            graph::Op::Concat => {
                n.inputs
                    .iter()
                    .map(|&s| {
                        let (sc, signed) = of(s);
                        sc * levels(signed)
                    })
                    .fold(0.0, f64::max)
                    / levels(n.signed)
            }
            _ => match n.inputs[0] {
                graph::Source::Input => net.input_scale,
                graph::Source::Node(j) => scales[j],
            },
        };
        scales.push(s);
    }
    Ok(scales)
}

/// Step 2 of docs/SPEC.md section 5: the given pool, or k-means on the
/// normalised row-block `vectors` and the sign of each centre; with the
/// k-means objective and iterations when built.
#[allow(clippy::type_complexity)]
fn build_pool(
    vectors: &[f32],
    rows: usize,
    p: usize,
    options: &Options,
    progress: &mut impl FnMut(&str, usize, usize),
) -> Result<(Vec<Bits>, Option<(f64, usize)>), CompressError> {
    Ok(match &options.pool {
        Some(given) => {
            let words = rows.div_ceil(64);
            if given.len() != p || given.iter().any(|b| b.len() != words) {
                return Err(CompressError::PoolShape {
                    vectors: given.len(),
                    pool: p,
                    rows,
                });
            }
            (given.clone(), None)
        }
        None => {
            let iters = options.iterations;
            let km = pool::kmeans(
                &pool::normalized(vectors, rows),
                rows,
                p,
                iters,
                options.seed,
                |i| progress("pool k-means", i, iters),
            );
            let pool: Vec<Bits> = km
                .centers
                .chunks_exact(rows)
                .map(|c| bits_from_fn(rows as u32, |r| c[r as usize] >= 0.0))
                .collect();
            (pool, Some((km.inertia, km.iterations)))
        }
    })
}
