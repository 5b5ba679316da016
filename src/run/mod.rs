//! Running a compressed network on the golden model from its memory images:
//! the integer path the hardware computes.

use crate::golden::{fast, requantize, Engine, Weights};
use crate::images::{decode_layer, DecodeError, Images};
pub use crate::network::float::{accuracy, argmax};
use crate::network::graph::{concat, flatten, from_chw, Op, Source};
use rayon::prelude::*;

/// Inputs the images cannot run on, or images whose loads do not decode.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the images hold no layers")]
    NoLayers,
    #[error("layer `{layer}` takes {want} inputs but sample {sample} has {got}")]
    SampleLength {
        layer: String,
        want: usize,
        sample: usize,
        got: usize,
    },
    #[error(
        "layer `{layer}`: input value {value} is outside 0..={max} (act_bits = {bits}, unsigned)"
    )]
    InputRange {
        layer: String,
        value: i64,
        max: i64,
        bits: u32,
    },
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// Samples run through the graph together: maps of a chunk stay in memory,
/// and every layer's tiles serve the whole chunk.
const CHUNK: usize = 256;

/// Integer outputs of the network's last node for every input (a sample is
/// flattened in PyTorch (c, y, x) order), computed node by node with the
/// weights the images load: engine layers on the golden model, the host's
/// operations (im2col, add, pooling, flatten) as docs/SPEC.md section 4
/// defines them. Each tile is decoded once; every input vector's sums are
/// kept between its row blocks, which is what the engine computes for one
/// vector at a time. `progress` counts samples.
pub fn golden(
    images: &Images,
    inputs: &[Vec<i64>],
    progress: impl FnMut(usize, usize),
) -> Result<Vec<Vec<i64>>, RunError> {
    golden_at(images, inputs, images.graph.nodes.len() - 1, progress)
}

/// `golden`, stopping at node `stop`: its output maps ((y, x, c) order).
pub fn golden_at(
    images: &Images,
    inputs: &[Vec<i64>],
    stop: usize,
    mut progress: impl FnMut(usize, usize),
) -> Result<Vec<Vec<i64>>, RunError> {
    let g = &images.graph;
    if images.manifest.layers.is_empty() {
        return Err(RunError::NoLayers);
    }
    if let Some((s, x)) = inputs
        .iter()
        .enumerate()
        .find(|(_, x)| x.len() != g.input.len())
    {
        return Err(RunError::SampleLength {
            layer: g.nodes[0].name.clone(),
            want: g.input.len(),
            sample: s,
            got: x.len(),
        });
    }
    let tiles = (0..images.manifest.layers.len())
        .map(|li| decode_layer(images, li))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::with_capacity(inputs.len());
    for (k, chunk) in inputs.chunks(CHUNK).enumerate() {
        out.extend(run_chunk(images, &tiles, chunk, stop)?);
        progress((k * CHUNK + chunk.len()).min(inputs.len()), inputs.len());
    }
    Ok(out)
}

/// One chunk of samples through every node.
fn run_chunk(
    images: &Images,
    tiles: &[Vec<Weights>],
    inputs: &[Vec<i64>],
    stop: usize,
) -> Result<Vec<Vec<i64>>, RunError> {
    let g = &images.graph;
    let last = g.last_readers();
    let input: Vec<Vec<i64>> = inputs.iter().map(|x| from_chw(g.input, x)).collect();
    let mut maps: Vec<Option<Vec<Vec<i64>>>> = vec![None; g.nodes.len()];
    for (i, n) in g.nodes.iter().enumerate() {
        let get = |s: Source| -> &Vec<Vec<i64>> {
            match s {
                Source::Input => &input,
                Source::Node(j) => maps[j].as_ref().expect("inputs come first"),
            }
        };
        let a = get(n.inputs[0]);
        let m = g.map_of(n.inputs[0]);
        let entry = &images.manifest.nodes[i];
        let y: Vec<Vec<i64>> = match &n.op {
            Op::Layer(li) => layer_maps(images, *li, &tiles[*li], a)?,
            Op::Add { relu } => {
                let scales = entry.add.expect("checked when the manifest was read");
                a.iter()
                    .zip(get(n.inputs[1]))
                    .map(|(p, q)| scales.apply(p, q, *relu, images.config.out_bits))
                    .collect()
            }
            Op::MaxPool(w) => a.iter().map(|x| w.max_pool(m, x)).collect(),
            Op::AvgPool(w) => a.iter().map(|x| w.avg_pool_int(m, x)).collect(),
            Op::Concat => {
                let scales = entry
                    .concat
                    .as_ref()
                    .expect("checked when the manifest was read");
                (0..a.len())
                    .map(|s| {
                        let parts: Vec<(Vec<i64>, usize)> = n
                            .inputs
                            .iter()
                            .enumerate()
                            .map(|(k, &src)| {
                                let x = scales.rescale(
                                    k,
                                    &get(src)[s],
                                    n.signed,
                                    images.config.out_bits,
                                );
                                (x, g.map_of(src).c)
                            })
                            .collect();
                        let views: Vec<(&[i64], usize)> =
                            parts.iter().map(|(x, c)| (x.as_slice(), *c)).collect();
                        concat(&views)
                    })
                    .collect()
            }
            Op::Flatten => a.iter().map(|x| flatten(m, x)).collect(),
        };
        if i == stop {
            return Ok(y);
        }
        maps[i] = Some(y);
        for s in &n.inputs {
            if let Source::Node(j) = *s {
                if last[j] == i {
                    maps[j] = None;
                }
            }
        }
    }
    Ok(maps.pop().flatten().unwrap_or_default())
}

/// Engine layer `li` on input maps ((y, x, c) order, one per sample): im2col,
/// the tiles (or the host's 8-bit weights), the output maps.
fn layer_maps(
    images: &Images,
    li: usize,
    tiles: &[Weights],
    maps: &[Vec<i64>],
) -> Result<Vec<Vec<i64>>, RunError> {
    let layer = &images.manifest.layers[li];
    let act_max = (1i64 << images.config.act_bits) - 1;
    if let Some(&v) = maps.iter().flatten().find(|&&v| v < 0 || v > act_max) {
        return Err(RunError::InputRange {
            layer: layer.name.clone(),
            value: v,
            max: act_max,
            bits: images.config.act_bits,
        });
    }
    let geo = &layer.geometry;
    let outputs = match &images.host[li] {
        Some(w) => {
            let vectors: Vec<Vec<i64>> = maps.iter().flat_map(|x| geo.im2col(x, 0)).collect();
            host_layer(images, li, w, &vectors)
        }
        None => run_layer(images, li, tiles, &Im2col { maps, geo }),
    };
    Ok(outputs
        .chunks(geo.positions())
        .map(|positions| positions.concat())
        .collect())
}

/// Engine layer `li` alone on input maps ((y, x, c) order): its output maps.
pub fn layer(images: &Images, li: usize, maps: &[Vec<i64>]) -> Result<Vec<Vec<i64>>, RunError> {
    layer_maps(images, li, &decode_layer(images, li)?, maps)
}

/// An uncompressed layer on the host: 8-bit weights, then the engine's
/// scaling with `accP = sum w x` and no error term.
fn host_layer(images: &Images, li: usize, w: &[i8], vectors: &[Vec<i64>]) -> Vec<Vec<i64>> {
    let layer = &images.manifest.layers[li];
    vectors
        .par_iter()
        .map(|x| {
            w.chunks_exact(layer.fan_in)
                .zip(&layer.host_bias)
                .map(|(row, &bias)| {
                    let acc: i128 = row
                        .iter()
                        .zip(x)
                        .map(|(&w, &x)| w as i128 * x as i128)
                        .sum();
                    requantize(
                        layer.alpha as i128 * acc + bias as i128,
                        layer.shift,
                        layer.relu,
                        images.config.out_bits,
                    )
                })
                .collect()
        })
        .collect()
}

/// The im2col rows of a layer over a chunk of maps, gathered on demand.
struct Im2col<'a> {
    maps: &'a [Vec<i64>],
    geo: &'a crate::network::geometry::Geometry,
}

impl fast::Vectors for Im2col<'_> {
    fn len(&self) -> usize {
        self.maps.len() * self.geo.positions()
    }
    fn fill(&self, i: usize, rows: std::ops::Range<usize>, out: &mut Vec<i64>) {
        let p = self.geo.positions();
        self.geo.im2col_slice(&self.maps[i / p], i % p, rows, out);
    }
}

/// Every input vector through layer `li`'s tiles (their decoded weights):
/// its output channels. The arithmetic is the batch path (`golden::fast`),
/// or the reference `Engine` when a configuration's sums outgrow 64 bits.
fn run_layer<V: fast::Vectors + ?Sized>(
    images: &Images,
    li: usize,
    tiles: &[Weights],
    vectors: &V,
) -> Vec<Vec<i64>> {
    let layer = &images.manifest.layers[li];
    let rows = images.config.rows as usize;
    let lanes = images.config.lanes() as usize;
    let config = &images.config;
    let n = vectors.len();
    let mut outputs = vec![vec![0i64; layer.out_channels]; n];
    let mut sums = vec![fast::LaneSums::default(); n];
    let mut reference: Vec<(Vec<i128>, Vec<i128>)> = vec![(vec![], vec![]); n];
    for (tile, weights) in layer.tiles.iter().zip(tiles) {
        let (first, last) = (tile.block == 0, tile.block + 1 == layer.row_blocks);
        let used = tile.channels[1] - tile.channels[0];
        let range = tile.rows[0]..tile.rows[1];
        let results: Vec<Option<Vec<i64>>> = if fast::dense_fits(config) {
            let matrix = fast::dense_matrix(config, weights, used);
            fast::dense_accumulate(config, &matrix, used, vectors, range, &mut sums, first);
            sums.par_iter()
                .map(|s| last.then(|| fast::dense_outputs(config, weights, s)))
                .collect()
        } else if fast::fits(config) {
            fast::accumulate(config, weights, used, vectors, range, &mut sums, first);
            sums.par_iter()
                .map(|s| last.then(|| fast::outputs(config, weights, s)))
                .collect()
        } else {
            let mut engine = Engine::new(config, weights.clone());
            let mut v = Vec::new();
            reference
                .iter_mut()
                .enumerate()
                .map(|(i, saved)| {
                    vectors.fill(i, range.clone(), &mut v);
                    v.resize(rows, 0);
                    if !first {
                        (engine.acc_pool, engine.acc_err) = std::mem::take(saved);
                    }
                    let out = engine.step(&v, first, last).outputs;
                    *saved = (engine.acc_pool.clone(), engine.acc_err.clone());
                    out
                })
                .collect()
        };
        for (s, out) in results.into_iter().enumerate() {
            if let Some(out) = out {
                for c in tile.channels[0]..tile.channels[1] {
                    outputs[s][c] = out[c - tile.pass * lanes];
                }
            }
        }
    }
    outputs
}
