//! Weight-pool compression of a trained network (SPEC sections 4-5), the
//! memory images the hardware loads, and running the compressed network on
//! the golden model.
//!
//! Pipeline: BN folding (`model`) -> row-block vectors -> pool by k-means on
//! normalised vectors, then sign (`pool`) -> assignment (highest cosine; with
//! `benes` a min-cost matching per lane group and row block) -> alpha, error
//! bits, beta, structured error pruning -> integer alpha / beta / shift /
//! bias from calibrated activation ranges -> tiles (`images`).

pub mod geometry;
pub mod images;
pub mod model;
pub mod pool;
pub mod run;
pub mod tensors;

use crate::benes::check_permutation;
use crate::config::{Config, Crossbar, Derived};
use crate::golden::{bit, bits_from_fn, Bits};
use model::Layer;
use pool::dot;
use serde::Serialize;

#[derive(Clone, Debug)]
pub struct Options {
    /// Share of (channel, row block) error tiles kept, 0..=1.
    pub keep_ratio: f64,
    pub iterations: usize,
    pub seed: u64,
    /// A pool to use as it is (fine-tuning trains the weights against a
    /// fixed pool, see `tools/finetune_digits.py`); `None` builds one.
    pub pool: Option<Vec<Bits>>,
}

/// One (output-channel pass, row block) of a layer: what the engine holds
/// while that block's input vectors stream through.
#[derive(Clone, Debug, PartialEq)]
pub struct Tile {
    pub pass: usize,
    pub block: usize,
    /// Per lane: pool index, error mask, error column (unused lanes: mask 0).
    pub index: Vec<u32>,
    pub mask: Vec<bool>,
    pub error: Vec<Bits>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LayerStats {
    pub name: String,
    pub weights: usize,
    pub row_blocks: usize,
    pub passes: usize,
    pub alpha: f32,
    pub beta: f32,
    pub kept_tiles: usize,
    pub tiles: usize,
    pub sqnr_db: f64,
    /// Lanes of a (group, row block) sharing a pool index with an earlier
    /// lane: legal for `mux`, impossible for `benes`.
    pub non_repeating_violations: usize,
    pub index_bits: u64,
    pub error_bits: u64,
    pub mask_bits: u64,
    pub scale_bits: u64,
    /// 8-bit weights of an uncompressed layer.
    pub host_weight_bits: u64,
}

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
    /// An uncompressed layer: its 8-bit weights (channel-major, engine
    /// column order), run on the host with the same integer scaling,
    /// `accP = sum w x` and alpha the weight step. No tiles then.
    pub host: Option<Vec<i8>>,
    /// Float view: W_eff = alpha p + beta m e, and the folded bias.
    pub effective: Vec<f32>,
    pub bias: Vec<f32>,
    pub alpha: f32,
    pub beta: f32,
    /// Integer path: input and output activation scales and the hardware
    /// scales (`y = (alpha_i accP + beta_i accE + bias_i) >> shift`).
    pub input_scale: f64,
    pub output_scale: f64,
    pub alpha_int: i64,
    pub beta_int: i64,
    pub shift: u32,
    pub bias_int: Vec<i64>,
    pub stats: LayerStats,
}

#[derive(Clone, Debug)]
pub struct Compressed {
    pub config: Config,
    pub pool: Vec<Bits>,
    pub layers: Vec<CompressedLayer>,
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

/// Compresses `layers` for the hardware `config` (resolved); `calibration`
/// holds integer network inputs that set the activation scales.
pub fn compress(
    config: &Config,
    layers: &[Layer],
    input_scale: f64,
    calibration: &[Vec<i64>],
    options: &Options,
    mut progress: impl FnMut(&str, usize, usize),
) -> Result<Compressed, CompressError> {
    if !(0.0..=1.0).contains(&options.keep_ratio) {
        return Err(CompressError::KeepRatio(options.keep_ratio));
    }
    let d = Derived::new(config);
    let (rows, p) = (config.rows as usize, config.pool as usize);
    // 1. Row-block vectors of every layer.
    let mut vectors = Vec::new();
    if layers.iter().all(|l| l.uncompressed) {
        return Err(CompressError::NothingToCompress);
    }
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
    // 2. Pool: k-means on normalised vectors, sign of the centres.
    let (pool, pool_kmeans) = match &options.pool {
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
                &pool::normalized(&vectors, rows),
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
    };
    let pool_pm: Vec<Vec<f32>> = pool
        .iter()
        .map(|b| (0..rows as u32).map(|r| pm(bit(b, r))).collect())
        .collect();

    let mut out = Vec::new();
    let mut scale_in = input_scale;
    let first = layers.first().map(|l| l.geometry);
    let mut acts: Vec<Vec<f32>> = calibration
        .iter()
        .map(|x| {
            let x: Vec<f32> = x.iter().map(|&v| v as f32 * input_scale as f32).collect();
            match first {
                Some(g) if g.inputs() == x.len() => g.from_chw(&x),
                _ => x,
            }
        })
        .collect();
    for (li, l) in layers.iter().enumerate() {
        progress("assign + scale", li + 1, layers.len());
        let mut cl = if l.uncompressed {
            host_layer(config, l)
        } else {
            compress_layer(config, &d, l, &pool_pm, options.keep_ratio)
        };
        // 3. Integer scales from the calibrated output range.
        // The engine emits the outputs before pooling: they set the scale.
        let mut peak = 1e-6f32;
        for a in acts.iter_mut() {
            if a.len() != l.geometry.inputs() {
                return Err(CompressError::Calibration(format!(
                    "a sample has {} values where layer `{}` takes {}",
                    a.len(),
                    l.name,
                    l.geometry.inputs()
                )));
            }
            let out = float_map(&cl.effective, &cl.bias, &l.geometry, a, l.relu);
            peak = out.iter().fold(peak, |m, v| m.max(v.abs()));
            *a = l.geometry.max_pool(&out);
        }
        let peak = peak as f64;
        let levels = if l.relu {
            (1u64 << config.out_bits) - 1
        } else {
            (1u64 << (config.out_bits - 1)) - 1
        };
        cl.input_scale = scale_in;
        cl.output_scale = peak / levels as f64;
        integer_scales(config, &mut cl)?;
        scale_in = cl.output_scale;
        out.push(cl);
    }
    Ok(Compressed {
        config: config.clone(),
        pool,
        layers: out,
        input_scale,
        pool_kmeans,
    })
}

/// A layer on one sample's (y, x, c) map in float: `relu(W x + b)` at
/// every output position, before pooling.
pub fn float_map(w: &[f32], b: &[f32], g: &geometry::Geometry, x: &[f32], relu: bool) -> Vec<f32> {
    g.im2col(x, 0.0)
        .iter()
        .flat_map(|row| float_layer(w, b, g.fan_in(), row, relu))
        .collect()
}

/// `relu(W x + b)` in float for one input vector.
pub fn float_layer(w: &[f32], b: &[f32], fan_in: usize, x: &[f32], relu: bool) -> Vec<f32> {
    w.chunks_exact(fan_in)
        .zip(b)
        .map(|(row, &bias)| {
            let v = dot(row, x) + bias;
            if relu {
                v.max(0.0)
            } else {
                v
            }
        })
        .collect()
}

fn compress_layer(
    config: &Config,
    d: &Derived,
    l: &Layer,
    pool_pm: &[Vec<f32>],
    keep_ratio: f64,
) -> CompressedLayer {
    let (rows, p, lanes) = (config.rows as usize, config.pool as usize, d.lanes as usize);
    let blocks = l.fan_in.div_ceil(rows);
    let passes = l.out_channels.div_ceil(lanes);
    let tile_vec = |c: usize, b: usize| block_of(l, c, b, rows);
    // Assignment: index[c][b].
    let mut index = vec![vec![0u32; blocks]; l.out_channels];
    let mut lane_index: Vec<Vec<Vec<u32>>> = vec![vec![vec![0; lanes]; blocks]; passes];
    let mut violations = 0;
    for (pass, pass_index) in lane_index.iter_mut().enumerate() {
        for (b, block_index) in pass_index.iter_mut().enumerate() {
            for g in 0..lanes / p {
                let first = pass * lanes + g * p;
                let channels: Vec<usize> = (first..(first + p).min(l.out_channels)).collect();
                let scores: Vec<Vec<f32>> = channels
                    .iter()
                    .map(|&c| {
                        let v = tile_vec(c, b);
                        pool_pm.iter().map(|q| dot(&v, q)).collect()
                    })
                    .collect();
                let chosen: Vec<u32> = match config.crossbar {
                    Crossbar::Mux => scores
                        .iter()
                        .map(|s| {
                            s.iter()
                                .enumerate()
                                .fold((0, f32::NEG_INFINITY), |best, (k, &v)| {
                                    if v > best.1 {
                                        (k, v)
                                    } else {
                                        best
                                    }
                                })
                                .0 as u32
                        })
                        .collect(),
                    Crossbar::Benes => min_cost_assignment(&scores, p),
                };
                let mut group = vec![u32::MAX; p];
                for (i, &c) in channels.iter().enumerate() {
                    index[c][b] = chosen[i];
                    group[i] = chosen[i];
                }
                let mut seen = vec![false; p];
                for &k in &chosen {
                    if seen[k as usize] {
                        violations += 1;
                    }
                    seen[k as usize] = true;
                }
                // Lanes without a channel take the unused indices, so a
                // Benes group is still a permutation.
                let mut unused = (0..p as u32).filter(|&k| !seen[k as usize]);
                for slot in group.iter_mut().skip(channels.len()) {
                    *slot = match config.crossbar {
                        Crossbar::Benes => unused.next().expect("enough unused indices"),
                        Crossbar::Mux => 0,
                    };
                }
                if config.crossbar == Crossbar::Benes {
                    debug_assert!(check_permutation(&group, p as u32).is_ok());
                }
                block_index[g * p..(g + 1) * p].copy_from_slice(&group);
            }
        }
    }
    // alpha: mean of w . p over the real weights.
    let count = (l.out_channels * l.fan_in) as f64;
    let mut proj = 0f64;
    for c in 0..l.out_channels {
        for b in 0..blocks {
            proj += dot(&tile_vec(c, b), &pool_pm[index[c][b] as usize]) as f64;
        }
    }
    let alpha = (proj / count) as f32;
    // Residuals, error bits, beta, tile energies.
    let mut err_bits = vec![vec![Vec::new(); blocks]; l.out_channels];
    let mut energy = Vec::new();
    let mut abs_sum = 0f64;
    for c in 0..l.out_channels {
        for b in 0..blocks {
            let v = tile_vec(c, b);
            let q = &pool_pm[index[c][b] as usize];
            let real = (l.fan_in - b * rows).min(rows);
            let r: Vec<f32> = (0..rows).map(|i| v[i] - alpha * q[i]).collect();
            abs_sum += r[..real].iter().map(|x| x.abs() as f64).sum::<f64>();
            energy.push((r[..real].iter().map(|x| (x * x) as f64).sum::<f64>(), c, b));
            err_bits[c][b] = r;
        }
    }
    let beta = (abs_sum / count) as f32;
    let tiles_total = energy.len();
    let keep = ((keep_ratio * tiles_total as f64).round() as usize).min(tiles_total);
    energy.sort_by(|a, b| b.0.total_cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2))));
    let mut mask = vec![vec![false; blocks]; l.out_channels];
    for &(_, c, b) in energy.iter().take(keep) {
        mask[c][b] = true;
    }
    let mut effective = vec![0f32; l.out_channels * l.fan_in];
    for c in 0..l.out_channels {
        for k in 0..l.fan_in {
            let (b, r) = (k / rows, k % rows);
            let q = pool_pm[index[c][b] as usize][r];
            let e = if mask[c][b] {
                beta * pm(err_bits[c][b][r] >= 0.0)
            } else {
                0.0
            };
            effective[c * l.fan_in + k] = alpha * q + e;
        }
    }
    let tiles: Vec<Tile> = (0..passes)
        .flat_map(|pass| (0..blocks).map(move |b| (pass, b)))
        .map(|(pass, b)| {
            let lane_channel = |lane: usize| {
                let c = pass * lanes + lane;
                (c < l.out_channels).then_some(c)
            };
            Tile {
                pass,
                block: b,
                index: lane_index[pass][b].clone(),
                mask: (0..lanes)
                    .map(|ln| lane_channel(ln).is_some_and(|c| mask[c][b]))
                    .collect(),
                error: (0..lanes)
                    .map(|ln| match lane_channel(ln) {
                        Some(c) if mask[c][b] => {
                            bits_from_fn(rows as u32, |r| err_bits[c][b][r as usize] >= 0.0)
                        }
                        _ => bits_from_fn(rows as u32, |_| false),
                    })
                    .collect(),
            }
        })
        .collect();
    let real_tiles = (l.out_channels * blocks) as u64;
    let stats = LayerStats {
        name: l.name.clone(),
        weights: l.out_channels * l.fan_in,
        row_blocks: blocks,
        passes,
        alpha,
        beta,
        kept_tiles: keep,
        tiles: tiles_total,
        sqnr_db: sqnr_db(&l.weights, &effective),
        non_repeating_violations: violations,
        index_bits: real_tiles * d.index_bits as u64,
        error_bits: keep as u64 * rows as u64,
        mask_bits: real_tiles,
        scale_bits: (2 * config.scale_bits + config.shift_bits) as u64,
        host_weight_bits: 0,
    };
    CompressedLayer {
        tiles,
        ..CompressedLayer::unscaled(l, effective, stats)
    }
}

/// Reconstruction SQNR of `effective` against the float weights, in dB.
fn sqnr_db(weights: &[f32], effective: &[f32]) -> f64 {
    let (sig, noise) = weights
        .iter()
        .zip(effective)
        .fold((0f64, 0f64), |(s, n), (&w, &e)| {
            (s + (w as f64).powi(2), n + (w as f64 - e as f64).powi(2))
        });
    10.0 * (sig / noise.max(1e-30)).log10()
}

impl CompressedLayer {
    /// Layer `l` with its effective weights and statistics, before integer
    /// scales are chosen; no tiles, no host weights.
    fn unscaled(l: &Layer, effective: Vec<f32>, stats: LayerStats) -> CompressedLayer {
        CompressedLayer {
            name: l.name.clone(),
            relu: l.relu,
            out_channels: l.out_channels,
            fan_in: l.fan_in,
            geometry: l.geometry,
            row_blocks: stats.row_blocks,
            passes: stats.passes,
            tiles: vec![],
            host: None,
            effective,
            bias: l.bias.clone(),
            alpha: stats.alpha,
            beta: stats.beta,
            input_scale: 0.0,
            output_scale: 0.0,
            alpha_int: 0,
            beta_int: 0,
            shift: 0,
            bias_int: vec![],
            stats,
        }
    }
}

/// An uncompressed layer: symmetric 8-bit weights with one step per layer
/// (max |w| / 127), which the integer scaling treats as alpha.
fn host_layer(config: &Config, l: &Layer) -> CompressedLayer {
    let step = l
        .weights
        .iter()
        .fold(0f32, |m, w| m.max(w.abs()))
        .max(1e-12)
        / 127.0;
    let q: Vec<i8> = l
        .weights
        .iter()
        .map(|w| (w / step).round().clamp(-127.0, 127.0) as i8)
        .collect();
    let effective: Vec<f32> = q.iter().map(|&v| v as f32 * step).collect();
    let weights = l.out_channels * l.fan_in;
    let stats = LayerStats {
        name: l.name.clone(),
        weights,
        row_blocks: 0,
        passes: 0,
        alpha: step,
        beta: 0.0,
        kept_tiles: 0,
        tiles: 0,
        sqnr_db: sqnr_db(&l.weights, &effective),
        non_repeating_violations: 0,
        index_bits: 0,
        error_bits: 0,
        mask_bits: 0,
        scale_bits: (config.scale_bits + config.shift_bits) as u64,
        host_weight_bits: 8 * weights as u64,
    };
    CompressedLayer {
        host: Some(q),
        ..CompressedLayer::unscaled(l, effective, stats)
    }
}

/// Maximum-score perfect matching of channels to distinct pool vectors
/// (Kuhn-Munkres on scores scaled to integers).
fn min_cost_assignment(scores: &[Vec<f32>], p: usize) -> Vec<u32> {
    if scores.is_empty() {
        return vec![];
    }
    let peak = scores
        .iter()
        .flatten()
        .fold(0f32, |m, v| m.max(v.abs()))
        .max(1e-12);
    let weights = pathfinding::matrix::Matrix::from_rows(scores.iter().map(|row| {
        row.iter()
            .map(|&v| (v / peak * 1e9) as i64)
            .collect::<Vec<_>>()
    }))
    .expect("rectangular score matrix");
    debug_assert_eq!(weights.columns, p);
    let (_, assignment) = pathfinding::kuhn_munkres::kuhn_munkres(&weights);
    assignment.into_iter().map(|k| k as u32).collect()
}

/// alpha_i / 2^s = alpha * s_in / s_out (likewise beta), bias_i / 2^s =
/// b / s_out: the largest shift whose integers fit their fields.
fn integer_scales(config: &Config, l: &mut CompressedLayer) -> Result<(), CompressError> {
    let ratio = l.input_scale / l.output_scale;
    let smax = ((1i128 << (config.scale_bits - 1)) - 1) as f64;
    let bmax = ((1i128 << (config.bias_bits - 1)) - 1) as f64;
    let max_shift = (1u32 << config.shift_bits) - 1;
    let fits = |s: u32| {
        let k = 2f64.powi(s as i32);
        (l.alpha as f64 * ratio * k).abs().round() <= smax
            && (l.beta as f64 * ratio * k).abs().round() <= smax
            && l.bias
                .iter()
                .all(|&b| (b as f64 / l.output_scale * k).abs().round() <= bmax)
    };
    let shift = (0..=max_shift.min(62))
        .rev()
        .find(|&s| fits(s))
        .ok_or_else(|| CompressError::Scales {
            layer: l.name.clone(),
            reason: format!(
                "alpha = {}, beta = {} or a bias does not fit scale_bits = {} / bias_bits = {} even with shift 0; widen them",
                l.alpha, l.beta, config.scale_bits, config.bias_bits
            ),
        })?;
    let k = 2f64.powi(shift as i32);
    l.shift = shift;
    l.alpha_int = (l.alpha as f64 * ratio * k).round() as i64;
    l.beta_int = (l.beta as f64 * ratio * k).round() as i64;
    l.bias_int = l
        .bias
        .iter()
        .map(|&b| (b as f64 / l.output_scale * k).round() as i64)
        .collect();
    Ok(())
}

/// Bits per weight of the whole compressed network, by kind.
#[derive(Clone, Debug, Serialize)]
pub struct Budget {
    pub weights: usize,
    pub index: f64,
    pub error: f64,
    pub mask: f64,
    pub scales: f64,
    pub pool: f64,
    /// 8-bit weights of uncompressed layers.
    pub uncompressed: f64,
    pub total: f64,
    pub vs_8bit: f64,
    pub vs_4bit: f64,
}

impl Compressed {
    pub fn budget(&self) -> Budget {
        let weights: usize = self.layers.iter().map(|l| l.stats.weights).sum();
        let w = weights as f64;
        let sum = |f: fn(&LayerStats) -> u64| {
            self.layers.iter().map(|l| f(&l.stats)).sum::<u64>() as f64 / w
        };
        let (index, error, mask, scales) = (
            sum(|s| s.index_bits),
            sum(|s| s.error_bits),
            sum(|s| s.mask_bits),
            sum(|s| s.scale_bits),
        );
        let pool = (self.config.pool * self.config.rows) as f64 / w;
        let uncompressed = sum(|s| s.host_weight_bits);
        let total = index + error + mask + scales + pool + uncompressed;
        Budget {
            weights,
            index,
            error,
            mask,
            scales,
            pool,
            uncompressed,
            total,
            vs_8bit: 8.0 / total,
            vs_4bit: 4.0 / total,
        }
    }

    /// Terminal table of the report.
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut s = String::from(
            "| layer | weights | row blocks | passes | alpha | beta | error tiles kept | SQNR (dB) | non-repeating violations |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for l in &self.layers {
            let t = &l.stats;
            if l.host.is_some() {
                let _ = writeln!(
                    s,
                    "| {} | {} | uncompressed: 8-bit weights on the host, step {:.5} | | | | | {:.2} | |",
                    t.name, t.weights, t.alpha, t.sqnr_db
                );
                continue;
            }
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {:.4} | {:.4} | {} / {} | {:.2} | {} |",
                t.name,
                t.weights,
                t.row_blocks,
                t.passes,
                t.alpha,
                t.beta,
                t.kept_tiles,
                t.tiles,
                t.sqnr_db,
                t.non_repeating_violations
            );
        }
        let b = self.budget();
        let _ = writeln!(
            s,
            "\nbits per weight: {:.3} = indices {:.3} + error bits {:.3} + masks {:.3} + scales {:.4} + pool {:.3}{}; \
             compression {:.1}x vs 8-bit, {:.1}x vs 4-bit",
            b.total,
            b.index,
            b.error,
            b.mask,
            b.scales,
            b.pool,
            if b.uncompressed > 0.0 {
                format!(" + uncompressed layers {:.3}", b.uncompressed)
            } else {
                String::new()
            },
            b.vs_8bit,
            b.vs_4bit
        );
        s
    }
}
