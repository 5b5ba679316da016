//! The MARS flow for the dense engine (docs/SPEC.md section 6): per-layer
//! symmetric quantization of the (BatchNorm-folded) weights to `w_bits`,
//! then CIM-aware block pruning whose unit is exactly what the hardware
//! skips: one compute phase (W rows) of one tile (output pass x row block),
//! across every lane of the pass. The tiles hold the weight columns and the
//! tile's phase valid bits (`skip`) or slot codes (`compact`).

use super::report::{sqnr_db, LayerStats};
use super::{LayerWeights, Tile};
use crate::config::{Config, Derived, Sparsity};
use crate::golden::{bits_from_fn, Bits};
use crate::network::model::Layer;

/// One pruning unit: phase `h` of row block `block` of output pass `pass`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Unit {
    pass: usize,
    block: usize,
    h: usize,
}

/// A dense layer: weights quantized to `w_bits` with one step per layer
/// (max |w| / (2^(w_bits-1) - 1)), then the units with the least energy
/// (the squares of their weights, each weighted by its input column's mean
/// square with `moments`) pruned until `sparsity` of them are zero (but never every unit of a
/// layer). With `compact` storage no tile
/// keeps more units than it has slots; the units that limit drops are
/// counted (`slot_limited_tiles`).
pub fn dense_layer(
    config: &Config,
    d: &Derived,
    l: &Layer,
    sparsity: f64,
    moments: Option<&[f64]>,
) -> LayerWeights {
    let (rows, w, lanes) = (
        config.rows as usize,
        config.wl_parallel as usize,
        d.lanes as usize,
    );
    let phases = rows / w;
    let qmax = ((1i32 << (config.w_bits - 1)) - 1) as f32;
    let step = l
        .weights
        .iter()
        .fold(0f32, |m, x| m.max(x.abs()))
        .max(1e-12)
        / qmax;
    let q: Vec<i32> = l
        .weights
        .iter()
        .map(|x| (x / step).round().clamp(-qmax, qmax) as i32)
        .collect();
    let blocks = l.fan_in.div_ceil(rows);
    let passes = l.out_channels.div_ceil(lanes);
    // Units that hold real weights (the padding past fan_in holds none),
    // with the float energy of their quantized weights.
    let mut units = Vec::new();
    for pass in 0..passes {
        let channels = pass * lanes..((pass + 1) * lanes).min(l.out_channels);
        for block in 0..blocks {
            for h in 0..phases {
                let lo = block * rows + h * w;
                if lo >= l.fan_in {
                    continue;
                }
                let hi = (lo + w).min(l.fan_in);
                // By output effect: each column's square weighted by its
                // input's mean square (tools/projection.py sums alike).
                let q = &q;
                let energy: f64 = channels
                    .clone()
                    .flat_map(|c| (lo..hi).map(move |k| (q[c * l.fan_in + k], k)))
                    .map(|(v, k)| (v as f64).powi(2) * moments.map_or(1.0, |m| m[k]))
                    .sum();
                units.push((energy, Unit { pass, block, h }));
            }
        }
    }
    // A layer pruned to nothing computes nothing: keep at least one unit.
    let target = (((1.0 - sparsity) * units.len() as f64).round() as usize).max(units.len().min(1));
    units.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let slots = match config.sparsity {
        Sparsity::Compact => config.slots as usize,
        _ => phases,
    };
    let mut kept = vec![vec![vec![false; phases]; blocks]; passes];
    let mut used = vec![vec![0usize; blocks]; passes];
    let mut limited = vec![vec![false; blocks]; passes];
    let mut kept_count = 0;
    for &(energy, u) in &units {
        if kept_count == target {
            break;
        }
        if used[u.pass][u.block] == slots {
            limited[u.pass][u.block] = true;
            continue;
        }
        // A unit of zeros costs cycles and changes nothing: never keep it.
        if energy > 0.0 {
            kept[u.pass][u.block][u.h] = true;
            used[u.pass][u.block] += 1;
            kept_count += 1;
        }
    }
    let kept_at = |c: usize, k: usize| {
        let (block, r) = (k / rows, k % rows);
        kept[c / lanes][block][r / w]
    };
    let mut effective = vec![0f32; q.len()];
    let mut kept_weights = 0u64;
    for c in 0..l.out_channels {
        for k in 0..l.fan_in {
            if kept_at(c, k) {
                effective[c * l.fan_in + k] = q[c * l.fan_in + k] as f32 * step;
                kept_weights += 1;
            }
        }
    }
    let tiles: Vec<Tile> = (0..passes)
        .flat_map(|pass| (0..blocks).map(move |b| (pass, b)))
        .map(|(pass, block)| dense_tile(config, d, l, &q, pass, block, &kept[pass][block]))
        .collect();
    // Issue steps per vector of each tile: act_bits x max(1, issued blocks)
    // (dense storage issues every phase of every tile).
    let issued: u64 = tiles
        .iter()
        .map(|t| {
            let n = match config.sparsity {
                Sparsity::None => phases,
                Sparsity::Skip => t.phase_valid.iter().filter(|&&v| v).count(),
                Sparsity::Compact => t
                    .slot_codes
                    .iter()
                    .filter(|&&k| (k as usize) < phases)
                    .count(),
            };
            (config.act_bits as usize * n.max(1)) as u64
        })
        .sum();
    let dense_issued = (tiles.len() * phases * config.act_bits as usize) as u64;
    let memory_bits = match config.sparsity {
        Sparsity::None => 0,
        Sparsity::Skip => phases as u64,
        Sparsity::Compact => slots as u64 * crate::ir::clog2(phases as u64 + 1) as u64,
    } * tiles.len() as u64;
    let stats = LayerStats {
        name: l.name.clone(),
        weights: l.out_channels * l.fan_in,
        row_blocks: blocks,
        passes,
        alpha: step,
        beta: 0.0,
        kept_tiles: kept_count,
        tiles: units.len(),
        sqnr_db: sqnr_db(&l.weights, &effective),
        non_repeating_violations: 0,
        index_bits: 0,
        error_bits: 0,
        mask_bits: 0,
        scale_bits: (config.scale_bits + config.shift_bits) as u64,
        host_weight_bits: 0,
        dense_weight_bits: kept_weights * config.w_bits as u64,
        sparsity_memory_bits: memory_bits,
        slot_limited_tiles: limited.iter().flatten().filter(|&&x| x).count(),
        issue_steps_per_vector: issued,
        dense_issue_steps_per_vector: dense_issued,
        adc_shift: None,
    };
    LayerWeights {
        tiles,
        host: None,
        effective,
        alpha: step,
        beta: 0.0,
        stats,
    }
}

/// The memory contents of tile (pass, block): every macro column (bit j of
/// lane o's weights in column j + w_bits o of its macro), laid out for the
/// storage mode, and the tile's valid bits or slot codes.
fn dense_tile(
    config: &Config,
    d: &Derived,
    l: &Layer,
    q: &[i32],
    pass: usize,
    block: usize,
    kept: &[bool],
) -> Tile {
    let (rows, w, lanes) = (
        config.rows as usize,
        config.wl_parallel as usize,
        d.lanes as usize,
    );
    let phases = rows / w;
    let wb = config.w_bits as usize;
    let per_macro = config.cols as usize / wb;
    // Physical block k of the macros holds input phase block `order[k]`.
    let order: Vec<usize> = match config.sparsity {
        Sparsity::Compact => (0..phases).filter(|&h| kept[h]).collect(),
        _ => (0..phases).collect(),
    };
    let weight = |lane: usize, row: usize| -> i32 {
        let (c, k) = (pass * lanes + lane, block * rows + row);
        if c < l.out_channels && k < l.fan_in && kept[row / w] {
            q[c * l.fan_in + k]
        } else {
            0
        }
    };
    let columns: Vec<Bits> = (0..(config.macros * config.cols) as usize)
        .map(|col| {
            let (m, cc) = (col / config.cols as usize, col % config.cols as usize);
            let (lane, j) = (m * per_macro + cc / wb, cc % wb);
            bits_from_fn(d.macro_rows, |r| {
                let (k, i) = (r as usize / w, r as usize % w);
                match order.get(k) {
                    Some(&h) => (weight(lane, h * w + i) >> j) & 1 == 1,
                    None => false,
                }
            })
        })
        .collect();
    Tile {
        pass,
        block,
        index: vec![],
        mask: vec![],
        error: columns,
        phase_valid: match config.sparsity {
            Sparsity::Skip => kept.to_vec(),
            _ => vec![],
        },
        slot_codes: match config.sparsity {
            Sparsity::Compact => (0..config.slots as usize)
                .map(|k| order.get(k).map_or(phases as u32, |&h| h as u32))
                .collect(),
            _ => vec![],
        },
    }
}
