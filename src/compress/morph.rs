//! Macro-size-aware morphing (Lin & Chang, stage 1; docs/COMPRESSION.md):
//! output channels are reallocated so the network's weights fill the macro
//! tiles they occupy, under a budget of tiles.
//!
//! Channels come in groups: a layer's outputs, joined with others by
//! residual adds (the maps an add sums must keep equal channel counts), and
//! passed through pooling and flatten to the layers that read them. The
//! network input and the last layer's outputs are fixed. For a choice of
//! channel counts, layer l occupies `ceil(out / L) * ceil(fan_in / R)`
//! tiles; the morph picks the counts (each between half and four times the
//! original) that hold the most real weights within the budget: every
//! combination when at most two groups are free, else coordinate ascent
//! from the original counts (from the smallest when those exceed the
//! budget). Deterministic.
//!
//! Channels are then cut or added: a group keeps its most important
//! channels (importance: the L2 norm of each channel's BN-folded output
//! weights summed over the group's layers, the usual filter-norm saliency,
//! which BN folding makes comparable across layers); added channels get
//! small seeded random input weights and zero output weights, so a grown
//! network computes what its kept channels did, and fine-tuning
//! (tools/adc_train.py) trains the new ones. The result is a plain network
//! (BatchNorm folded) that compress, run and the RTL take like any other.

use crate::config::Config;
use crate::network::graph::{Op, Source};
use crate::network::model::{LayerKind, ModelDesc, Network};
use crate::network::tensors::Tensor;
use std::collections::BTreeMap;

/// Why a network cannot be morphed as asked.
#[derive(Debug, thiserror::Error)]
pub enum MorphError {
    #[error(
        "morph budget: {budget} tiles cannot hold the network (its smallest morph needs {needed}); give --morph-budget >= {needed}"
    )]
    Budget { budget: usize, needed: usize },
    #[error("morphing does not take concat nodes (`{0}` joins channel groups of several layers); compress without --morph")]
    Concat(String),
}

/// The channel count chosen for each group, and what it does to the tiles.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MorphPlan {
    /// Per engine layer: (name, output channels before, after).
    pub layers: Vec<(String, usize, usize)>,
    pub tiles_before: usize,
    pub tiles_after: usize,
    pub budget: usize,
    pub utilization_before: f64,
    pub utilization_after: f64,
}

impl MorphPlan {
    /// `T tiles -> T' (budget B), utilization U% -> U'%; output channels ...`.
    pub fn summary(&self) -> String {
        let changes: Vec<String> = self
            .layers
            .iter()
            .filter(|(_, a, b)| a != b)
            .map(|(n, a, b)| format!("{n} {a} -> {b}"))
            .collect();
        format!(
            "{} tiles -> {} (budget {}), utilization {:.1}% -> {:.1}%; output channels {}",
            self.tiles_before,
            self.tiles_after,
            self.budget,
            100.0 * self.utilization_before,
            100.0 * self.utilization_after,
            if changes.is_empty() {
                "unchanged".to_string()
            } else {
                changes.join(", ")
            }
        )
    }
}

/// Channel groups of a network: the group of each layer's outputs and of
/// each layer's input, and which groups may change.
struct Groups {
    of_layer_out: Vec<usize>,
    of_layer_in: Vec<usize>,
    original: Vec<usize>,
    free: Vec<bool>,
}

const INPUT: usize = 0;

fn groups(net: &Network) -> Groups {
    let g = &net.graph;
    let n_layers = net.layers.len();
    // Union-find over 1 + layers ids (0: the network input).
    let mut parent: Vec<usize> = (0..=n_layers).collect();
    fn find(p: &mut [usize], x: usize) -> usize {
        let mut r = x;
        while p[r] != r {
            r = p[r];
        }
        p[x] = r;
        r
    }
    let mut node_group = vec![INPUT; g.nodes.len()];
    let mut fixed = vec![false; n_layers + 1];
    fixed[INPUT] = true;
    let mut in_group = vec![INPUT; n_layers];
    let src = |node_group: &[usize], s: Source| match s {
        Source::Input => INPUT,
        Source::Node(j) => node_group[j],
    };
    for (i, node) in g.nodes.iter().enumerate() {
        let a = src(&node_group, node.inputs[0]);
        node_group[i] = match node.op {
            Op::Layer(li) => {
                in_group[li] = a;
                li + 1
            }
            Op::Add { .. } => {
                let b = src(&node_group, node.inputs[1]);
                let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
                parent[rb] = ra;
                ra
            }
            // `plan` refuses graphs with a concat.
            Op::Concat => {
                fixed[a] = true;
                a
            }
            Op::MaxPool(_) | Op::AvgPool(_) => a,
            Op::Flatten => {
                // A flatten of a map larger than 1x1 interleaves channels
                // with positions in another order: keep those channels.
                let m = g.map_of(node.inputs[0]);
                if m.h * m.w > 1 {
                    fixed[a] = true;
                }
                a
            }
        };
    }
    if let Some(Op::Layer(li)) = g.nodes.last().map(|n| &n.op) {
        fixed[li + 1] = true;
    }
    let root: Vec<usize> = (0..=n_layers).map(|x| find(&mut parent, x)).collect();
    let mut free = vec![true; n_layers + 1];
    for x in 0..=n_layers {
        if fixed[x] {
            free[root[x]] = false;
        }
    }
    let mut original = vec![0; n_layers + 1];
    original[INPUT] = g.input.c;
    for (li, l) in net.layers.iter().enumerate() {
        original[root[li + 1]] = l.out_channels;
    }
    Groups {
        of_layer_out: (0..n_layers).map(|li| root[li + 1]).collect(),
        of_layer_in: in_group.iter().map(|&x| root[x]).collect(),
        original,
        free: (0..=n_layers)
            .map(|x| free[root[x]] && root[x] == x)
            .collect(),
    }
}

/// Every channel group's count as the network has it: `apply` with these
/// writes the network unchanged, BatchNorm folded.
pub fn counts(net: &Network) -> Vec<usize> {
    groups(net).original
}

/// Tiles and real weights of the network with group channel counts `ch`.
fn cost(net: &Network, gr: &Groups, ch: &[usize], c: &Config) -> (usize, usize) {
    let (rows, lanes) = (c.rows as usize, c.lanes() as usize);
    let mut tiles = 0;
    let mut real = 0;
    for (li, l) in net.layers.iter().enumerate() {
        let cin = l.geometry.in_c;
        let per_channel = l.fan_in / cin;
        let fan_in = per_channel * ch[gr.of_layer_in[li]];
        let out = ch[gr.of_layer_out[li]];
        tiles += out.div_ceil(lanes) * fan_in.div_ceil(rows);
        real += out * fan_in;
    }
    (tiles, real)
}

/// The channel counts that hold the most real weights within `budget`
/// tiles (default: the network's own tiles).
pub fn plan(
    net: &Network,
    c: &Config,
    budget: Option<usize>,
) -> Result<(MorphPlan, Vec<usize>), MorphError> {
    if let Some(n) = net.graph.nodes.iter().find(|n| n.op == Op::Concat) {
        return Err(MorphError::Concat(n.name.clone()));
    }
    let gr = groups(net);
    let (tiles_before, real_before) = cost(net, &gr, &gr.original, c);
    let budget = budget.unwrap_or(tiles_before);
    let range = |g: usize| {
        if gr.free[g] {
            (gr.original[g].div_ceil(2).max(1), gr.original[g] * 4)
        } else {
            (gr.original[g], gr.original[g])
        }
    };
    let mut ch: Vec<usize> = (0..gr.original.len()).map(|g| range(g).0).collect();
    let (needed, _) = cost(net, &gr, &ch, c);
    if needed > budget {
        return Err(MorphError::Budget { budget, needed });
    }
    let free: Vec<usize> = (0..ch.len()).filter(|&g| gr.free[g]).collect();
    if free.len() <= 2 {
        // Few groups: every combination.
        let mut best: Option<(usize, usize, Vec<usize>)> = None;
        let ranges: Vec<(usize, usize)> = free.iter().map(|&g| range(g)).collect();
        let mut idx: Vec<usize> = ranges.iter().map(|r| r.0).collect();
        loop {
            for (k, &g) in free.iter().enumerate() {
                ch[g] = idx[k];
            }
            let (t, r) = cost(net, &gr, &ch, c);
            let distance: usize = free.iter().map(|&g| ch[g].abs_diff(gr.original[g])).sum();
            if t <= budget
                && best
                    .as_ref()
                    .map_or(true, |b| r > b.0 || (r == b.0 && distance < b.1))
            {
                best = Some((r, distance, ch.clone()));
            }
            let mut k = 0;
            while k < idx.len() {
                if idx[k] < ranges[k].1 {
                    idx[k] += 1;
                    break;
                }
                idx[k] = ranges[k].0;
                k += 1;
            }
            if k == idx.len() {
                break;
            }
        }
        ch = best.expect("the smallest network fits").2;
        return Ok((
            summary(net, &gr, &ch, c, budget, tiles_before, real_before),
            ch,
        ));
    }
    // Many groups: coordinate ascent from the original counts when they fit
    // the budget (the result then holds at least as many weights).
    if tiles_before <= budget {
        ch = gr.original.clone();
    }
    // Coordinate ascent: each group in turn takes the count that holds the
    // most real weights within the budget (ties: the one nearest its
    // original count), until nothing changes.
    for _round in 0..32 {
        let mut changed = false;
        for g in 0..ch.len() {
            if !gr.free[g] {
                continue;
            }
            let (lo, hi) = range(g);
            let before = ch[g];
            let mut best = (before, cost(net, &gr, &ch, c).1);
            for v in lo..=hi {
                ch[g] = v;
                let (t, r) = cost(net, &gr, &ch, c);
                let nearer = v.abs_diff(gr.original[g]) < best.0.abs_diff(gr.original[g]);
                if t <= budget && (r > best.1 || (r == best.1 && nearer)) {
                    best = (v, r);
                }
            }
            changed |= best.0 != before;
            ch[g] = best.0;
        }
        if !changed {
            break;
        }
    }
    Ok((
        summary(net, &gr, &ch, c, budget, tiles_before, real_before),
        ch,
    ))
}

fn summary(
    net: &Network,
    gr: &Groups,
    ch: &[usize],
    c: &Config,
    budget: usize,
    tiles_before: usize,
    real_before: usize,
) -> MorphPlan {
    let (tiles_after, real_after) = cost(net, gr, ch, c);
    let cells = (c.rows * c.lanes()) as f64;
    MorphPlan {
        layers: net
            .layers
            .iter()
            .enumerate()
            .map(|(li, l)| (l.name.clone(), l.out_channels, ch[gr.of_layer_out[li]]))
            .collect(),
        tiles_before,
        tiles_after,
        budget,
        utilization_before: real_before as f64 / (tiles_before as f64 * cells),
        utilization_after: real_after as f64 / (tiles_after as f64 * cells),
    }
}

/// The morphed network: the description (BatchNorm folded away, shapes
/// updated) and its weight tensors.
pub fn apply(
    net: &Network,
    desc: &ModelDesc,
    ch: &[usize],
    seed: u64,
) -> (ModelDesc, BTreeMap<String, Tensor>) {
    use rand::{Rng, SeedableRng};
    let gr = groups(net);
    // Importance of every channel of every group: the L2 norms of its
    // producers' output weights.
    let mut importance: Vec<Vec<f64>> = gr.original.iter().map(|&n| vec![0.0; n]).collect();
    for (li, l) in net.layers.iter().enumerate() {
        let g = gr.of_layer_out[li];
        for (o, imp) in importance[g].iter_mut().enumerate() {
            *imp += l.weights[o * l.fan_in..(o + 1) * l.fan_in]
                .iter()
                .map(|&w| (w as f64).powi(2))
                .sum::<f64>()
                .sqrt();
        }
    }
    // Per group: the original channel each new channel takes (None: added).
    let kept: Vec<Vec<Option<usize>>> = importance
        .iter()
        .enumerate()
        .map(|(g, imp)| {
            let n = ch[g];
            if n >= imp.len() {
                (0..n).map(|i| (i < imp.len()).then_some(i)).collect()
            } else {
                let mut order: Vec<usize> = (0..imp.len()).collect();
                order.sort_by(|&a, &b| imp[b].total_cmp(&imp[a]).then(a.cmp(&b)));
                let mut keep: Vec<usize> = order[..n].to_vec();
                keep.sort_unstable();
                keep.into_iter().map(Some).collect()
            }
        })
        .collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut tensors = BTreeMap::new();
    let mut shapes = BTreeMap::new();
    for (li, l) in net.layers.iter().enumerate() {
        let (outs, ins) = (&kept[gr.of_layer_out[li]], &kept[gr.of_layer_in[li]]);
        let geo = &l.geometry;
        let (kh, kw, cin) = (geo.kernel_h, geo.kernel_w, geo.in_c);
        let rms = (l.weights.iter().map(|&w| (w as f64).powi(2)).sum::<f64>()
            / l.weights.len().max(1) as f64)
            .sqrt();
        // Uniform with a tenth of the layer's RMS as its deviation.
        let half_width = (0.1 * rms * 3f64.sqrt()).max(1e-6) as f32;
        // Written in PyTorch order (out, in, kh, kw).
        let mut data = Vec::with_capacity(outs.len() * ins.len() * kh * kw);
        for o in outs {
            for i in ins {
                for y in 0..kh {
                    for x in 0..kw {
                        data.push(match (o, i) {
                            (Some(o), Some(i)) => l.weights[o * l.fan_in + (y * kw + x) * cin + i],
                            (None, Some(_)) => rng.gen_range(-half_width..half_width),
                            (_, None) => 0.0,
                        });
                    }
                }
            }
        }
        let shape = match l.kind {
            LayerKind::Conv => vec![outs.len(), ins.len(), kh, kw],
            LayerKind::Fc => vec![outs.len(), ins.len() * kh * kw],
        };
        let bias = outs.iter().map(|o| o.map_or(0.0, |o| l.bias[o])).collect();
        shapes.insert(l.name.clone(), shape.clone());
        tensors.insert(format!("{}.weight", l.name), Tensor { shape, data });
        tensors.insert(
            format!("{}.bias", l.name),
            Tensor {
                shape: vec![outs.len()],
                data: bias,
            },
        );
    }
    let mut morphed = desc.clone();
    for nodes in [&mut morphed.layer, &mut morphed.node] {
        for n in nodes.iter_mut() {
            if let Some(shape) = shapes.get(&n.name) {
                n.bn = None;
                n.shape = Some(shape.clone());
            }
        }
    }
    (morphed, tensors)
}
