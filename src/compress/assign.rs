//! Step 3 of docs/SPEC.md section 5: each row-block vector to a pool vector.
//! `mux` takes the pool vector of highest cosine similarity; `benes` needs
//! the indices of every (lane group, row block) to be a permutation and
//! takes the maximum-similarity perfect matching (Kuhn-Munkres).

use super::block_of;
use super::pool::dot;
use crate::benes::check_permutation;
use crate::config::{Config, Crossbar};
use crate::network::model::Layer;

/// The pool index of every vector of a layer.
pub struct Assignment {
    /// `index[c][b]`: pool vector of channel c's row block b.
    pub index: Vec<Vec<u32>>,
    /// `lanes[pass][b][lane]`: what the index memory holds for each tile;
    /// lanes without a channel take indices that keep a Benes group a
    /// permutation (0 for `mux`).
    pub lanes: Vec<Vec<Vec<u32>>>,
    /// Lanes of a (group, row block) sharing a pool index with an earlier
    /// lane: legal for `mux`, impossible for `benes`.
    pub violations: usize,
}

/// Assigns every row block of `l` to a pool vector (`pool_pm` holds the
/// pool as +-1 floats).
pub fn assign(config: &Config, lanes: usize, l: &Layer, pool_pm: &[Vec<f32>]) -> Assignment {
    let (rows, p) = (config.rows as usize, config.pool as usize);
    let blocks = l.fan_in.div_ceil(rows);
    let mut index = vec![vec![0u32; blocks]; l.out_channels];
    for_groups(lanes, p, l.out_channels, blocks, |b, channels| {
        let scores: Vec<Vec<f32>> = channels
            .iter()
            .map(|&c| {
                let v = block_of(l, c, b, rows);
                pool_pm.iter().map(|q| dot(&v, q)).collect()
            })
            .collect();
        let chosen = match config.crossbar {
            Crossbar::Mux => scores.iter().map(|s| best(s)).collect(),
            Crossbar::Benes => max_score_matching(&scores, p),
        };
        for (i, &c) in channels.iter().enumerate() {
            index[c][b] = chosen[i];
        }
    });
    lay_out(config, lanes, l.out_channels, blocks, index)
}

/// An assignment given from outside (`compress --choices`); `benes` refuses
/// one whose groups are not permutations.
pub fn pinned(
    config: &Config,
    lanes: usize,
    l: &Layer,
    index: &[Vec<u32>],
) -> Result<Assignment, String> {
    let blocks = l.fan_in.div_ceil(config.rows as usize);
    let a = lay_out(config, lanes, l.out_channels, blocks, index.to_vec());
    if config.crossbar == Crossbar::Benes && a.violations > 0 {
        return Err(format!(
            "the choices repeat a pool index within a lane group {} times; the benes crossbar needs distinct indices",
            a.violations
        ));
    }
    Ok(a)
}

/// Calls `f(block, channels)` for every (pass, lane group of P lanes, row
/// block) with the group's channels.
fn for_groups(
    lanes: usize,
    p: usize,
    out_channels: usize,
    blocks: usize,
    mut f: impl FnMut(usize, Vec<usize>),
) {
    for pass in 0..out_channels.div_ceil(lanes) {
        for b in 0..blocks {
            for g in 0..lanes / p {
                let first = pass * lanes + g * p;
                f(b, (first..(first + p).min(out_channels)).collect());
            }
        }
    }
}

/// What the index memory holds for every tile, from the channels' indices.
fn lay_out(
    config: &Config,
    lanes: usize,
    out_channels: usize,
    blocks: usize,
    index: Vec<Vec<u32>>,
) -> Assignment {
    let p = config.pool as usize;
    let passes = out_channels.div_ceil(lanes);
    let mut lane_index = vec![vec![vec![0u32; lanes]; blocks]; passes];
    let mut violations = 0;
    for (pass, pass_index) in lane_index.iter_mut().enumerate() {
        for (b, block_index) in pass_index.iter_mut().enumerate() {
            for g in 0..lanes / p {
                let first = pass * lanes + g * p;
                let channels: Vec<usize> = (first..(first + p).min(out_channels)).collect();
                let mut seen = vec![false; p];
                let mut group = vec![0u32; p];
                for (i, &c) in channels.iter().enumerate() {
                    let k = index[c][b];
                    violations += seen[k as usize] as usize;
                    seen[k as usize] = true;
                    group[i] = k;
                }
                // Lanes without a channel take the unused indices, so a
                // Benes group is still a permutation.
                let mut unused = (0..p as u32).filter(|&k| !seen[k as usize]);
                for slot in group.iter_mut().skip(channels.len()) {
                    *slot = match config.crossbar {
                        Crossbar::Benes => unused.next().unwrap_or(0),
                        Crossbar::Mux => 0,
                    };
                }
                if config.crossbar == Crossbar::Benes && violations == 0 {
                    debug_assert!(check_permutation(&group, p as u32).is_ok());
                }
                block_index[g * p..(g + 1) * p].copy_from_slice(&group);
            }
        }
    }
    Assignment {
        index,
        lanes: lane_index,
        violations,
    }
}

/// The pool vector of highest score (the first of equals).
fn best(scores: &[f32]) -> u32 {
    scores
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (k, &v)| {
            if v > best.1 {
                (k, v)
            } else {
                best
            }
        })
        .0 as u32
}

/// Maximum-score perfect matching of channels to distinct pool vectors
/// (Kuhn-Munkres on scores scaled to integers).
fn max_score_matching(scores: &[Vec<f32>], p: usize) -> Vec<u32> {
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
