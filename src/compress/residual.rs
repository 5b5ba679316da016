//! Step 4 of docs/SPEC.md section 5: alpha, the error bits, beta and
//! structured pruning of error tiles, then the effective weights and the
//! tiles the engine loads.

use super::assign::Assignment;
use super::pool::dot;
use super::report::{sqnr_db, LayerStats};
use super::{block_of, pm, LayerWeights, Tile};
use crate::config::{Config, Derived};
use crate::golden::bits_from_fn;
use crate::network::model::Layer;

/// Which error tiles a pooled layer keeps.
pub enum Keep<'a> {
    /// The share with the largest residual energy.
    Ratio(f64),
    /// `mask[c][b]`, as given (`compress --choices`).
    Mask(&'a [Vec<bool>]),
}

/// A pooled layer from its assignment: alpha is the mean projection onto
/// the assigned pool vectors, the error bits are the signs of the residual,
/// beta its mean magnitude; the (channel, row block) error tiles with the
/// largest residual energy are kept up to the keep ratio (or as given).
pub fn pooled_layer(
    config: &Config,
    d: &Derived,
    l: &Layer,
    a: &Assignment,
    pool_pm: &[Vec<f32>],
    keep_tiles: Keep,
    moments: Option<&[f64]>,
) -> LayerWeights {
    let (rows, lanes) = (config.rows as usize, d.lanes as usize);
    let blocks = l.fan_in.div_ceil(rows);
    let passes = l.out_channels.div_ceil(lanes);
    let count = (l.out_channels * l.fan_in) as f64;
    let mut proj = 0f64;
    for c in 0..l.out_channels {
        for b in 0..blocks {
            proj += dot(&block_of(l, c, b, rows), &pool_pm[a.index[c][b] as usize]) as f64;
        }
    }
    let alpha = (proj / count) as f32;
    // Residuals (their signs are the error bits), beta, tile energies.
    let mut residual = vec![vec![Vec::new(); blocks]; l.out_channels];
    let mut energy = Vec::new();
    let mut abs_sum = 0f64;
    for c in 0..l.out_channels {
        for b in 0..blocks {
            let v = block_of(l, c, b, rows);
            let q = &pool_pm[a.index[c][b] as usize];
            let real = (l.fan_in - b * rows).min(rows);
            let r: Vec<f32> = (0..rows).map(|i| v[i] - alpha * q[i]).collect();
            abs_sum += r[..real].iter().map(|x| x.abs() as f64).sum::<f64>();
            // With moments: each residual's square weighted by its input
            // column's mean square (by output effect).
            let e = match moments {
                None => r[..real].iter().map(|x| (x * x) as f64).sum::<f64>(),
                Some(m) => r[..real]
                    .iter()
                    .zip(&m[b * rows..b * rows + real])
                    .map(|(x, w)| (x * x) as f64 * w)
                    .sum::<f64>(),
            };
            energy.push((e, c, b));
            residual[c][b] = r;
        }
    }
    let beta = (abs_sum / count) as f32;
    let tiles_total = energy.len();
    let mut mask = vec![vec![false; blocks]; l.out_channels];
    let keep = match keep_tiles {
        Keep::Ratio(ratio) => {
            let keep = ((ratio * tiles_total as f64).round() as usize).min(tiles_total);
            energy.sort_by(|x, y| y.0.total_cmp(&x.0).then((x.1, x.2).cmp(&(y.1, y.2))));
            for &(_, c, b) in energy.iter().take(keep) {
                mask[c][b] = true;
            }
            keep
        }
        Keep::Mask(given) => {
            mask = given.to_vec();
            mask.iter().flatten().filter(|&&k| k).count()
        }
    };
    let mut effective = vec![0f32; l.out_channels * l.fan_in];
    for c in 0..l.out_channels {
        for k in 0..l.fan_in {
            let (b, r) = (k / rows, k % rows);
            let q = pool_pm[a.index[c][b] as usize][r];
            let e = if mask[c][b] {
                beta * pm(residual[c][b][r] >= 0.0)
            } else {
                0.0
            };
            effective[c * l.fan_in + k] = alpha * q + e;
        }
    }
    let tiles: Vec<Tile> = (0..passes)
        .flat_map(|pass| (0..blocks).map(move |b| (pass, b)))
        .map(|(pass, b)| {
            let channel = |lane: usize| {
                let c = pass * lanes + lane;
                (c < l.out_channels).then_some(c)
            };
            Tile {
                pass,
                block: b,
                index: a.lanes[pass][b].clone(),
                mask: (0..lanes)
                    .map(|ln| channel(ln).is_some_and(|c| mask[c][b]))
                    .collect(),
                error: (0..lanes)
                    .map(|ln| match channel(ln) {
                        Some(c) if mask[c][b] => {
                            bits_from_fn(rows as u32, |r| residual[c][b][r as usize] >= 0.0)
                        }
                        _ => bits_from_fn(rows as u32, |_| false),
                    })
                    .collect(),
                phase_valid: vec![],
                slot_codes: vec![],
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
        non_repeating_violations: a.violations,
        index_bits: real_tiles * d.index_bits as u64,
        error_bits: keep as u64 * rows as u64,
        mask_bits: real_tiles,
        scale_bits: (2 * config.scale_bits + config.shift_bits) as u64,
        host_weight_bits: 0,
        ..LayerStats::default()
    };
    LayerWeights {
        tiles,
        host: None,
        effective,
        alpha,
        beta,
        stats,
    }
}

/// An uncompressed layer: symmetric 8-bit weights with one step per layer
/// (max |w| / 127), which the integer scaling treats as alpha. It runs on
/// the host (docs/SPEC.md section 4).
pub fn host_layer(config: &Config, l: &Layer) -> LayerWeights {
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
        ..LayerStats::default()
    };
    LayerWeights {
        tiles: vec![],
        host: Some(q),
        effective,
        alpha: step,
        beta: 0.0,
        stats,
    }
}
