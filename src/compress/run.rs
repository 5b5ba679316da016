//! Running a compressed network: on the golden model from its memory images
//! (the integer path the hardware computes), and in float for reference.

use super::geometry::Geometry;
use super::images::Images;
use super::model::Layer;
use super::tensors::Dataset;
use super::{float_map, CompressedLayer};
use crate::golden::{fast, requantize, Engine};
use crate::loadport::{LoadError, LoadPort};

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
    #[error("layer `{layer}`: {source}")]
    Load { layer: String, source: LoadError },
}

/// Integer outputs of the last layer for every input (flattened in
/// (c, y, x) order), computed layer by layer on the golden model with the
/// weights the images load. Software between layers does what the engine
/// does not: im2col of each map into input vectors, and max pooling. Each
/// tile is loaded once; every input vector's accumulators are kept between
/// its row blocks, which is what the engine computes for one vector at a
/// time.
pub fn golden(
    images: &Images,
    inputs: &[Vec<i64>],
    mut progress: impl FnMut(usize, usize),
) -> Result<Vec<Vec<i64>>, RunError> {
    let base = &images.config;
    let act_max = (1i64 << base.act_bits) - 1;
    let Some(first) = images.manifest.layers.first() else {
        return Err(RunError::NoLayers);
    };
    if let Some((s, x)) = inputs
        .iter()
        .enumerate()
        .find(|(_, x)| x.len() != first.geometry.inputs())
    {
        return Err(RunError::SampleLength {
            layer: first.name.clone(),
            want: first.geometry.inputs(),
            sample: s,
            got: x.len(),
        });
    }
    let mut acts: Vec<Vec<i64>> = inputs.iter().map(|x| first.geometry.from_chw(x)).collect();
    let total: usize = images.tiles.iter().map(|t| t.len()).sum();
    let mut done = 0;
    for (li, layer) in images.manifest.layers.iter().enumerate() {
        if let Some(&v) = acts.iter().flatten().find(|&&v| v < 0 || v > act_max) {
            return Err(RunError::InputRange {
                layer: layer.name.clone(),
                value: v,
                max: act_max,
                bits: base.act_bits,
            });
        }
        let g = &layer.geometry;
        let vectors: Vec<Vec<i64>> = acts.iter().flat_map(|a| g.im2col(a, 0)).collect();
        let outputs = match &images.host[li] {
            Some(w) => host_layer(images, li, w, &vectors),
            None => run_layer(images, li, &vectors, |_| {
                done += 1;
                progress(done, total);
            })
            .map_err(|source| RunError::Load {
                layer: layer.name.clone(),
                source,
            })?,
        };
        acts = outputs
            .chunks(g.positions())
            .map(|maps| g.max_pool(&maps.concat()))
            .collect();
    }
    Ok(acts)
}

/// An uncompressed layer on the host: 8-bit weights, then the engine's
/// scaling with `accP = sum w x` and no error term.
fn host_layer(images: &Images, li: usize, w: &[i8], vectors: &[Vec<i64>]) -> Vec<Vec<i64>> {
    let layer = &images.manifest.layers[li];
    vectors
        .iter()
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

/// Every input vector through layer `li`'s tiles: its output channels. The
/// weights of each tile are what its loads write (decoded as the hardware
/// would); the arithmetic is the batch path (`golden::fast`), or the
/// reference `Engine` when a configuration's sums outgrow 64 bits.
fn run_layer(
    images: &Images,
    li: usize,
    vectors: &[Vec<i64>],
    mut tile_done: impl FnMut(usize),
) -> Result<Vec<Vec<i64>>, LoadError> {
    let layer = &images.manifest.layers[li];
    let rows = images.config.rows as usize;
    let lanes = (images.config.macros * images.config.cols) as usize;
    // ReLU and the ADC step come with the layer's scale word.
    let config = &images.config;
    let mut port = LoadPort::new(config);
    let mut weights = port.empty_weights();
    for load in &images.pool {
        port.apply(&mut weights, load)?;
    }
    let mut outputs = vec![vec![0i64; layer.out_channels]; vectors.len()];
    let mut sums = vec![fast::LaneSums::default(); vectors.len()];
    let mut reference: Vec<(Vec<i128>, Vec<i128>)> = vec![(vec![], vec![]); vectors.len()];
    for (ti, tile) in layer.tiles.iter().enumerate() {
        for load in &images.tiles[li][ti] {
            port.apply(&mut weights, load)?;
        }
        let (first, last) = (tile.block == 0, tile.block + 1 == layer.row_blocks);
        let used = tile.channels[1] - tile.channels[0];
        let cut: Vec<Vec<i64>> = vectors
            .iter()
            .map(|x| {
                let mut v = x[tile.rows[0]..tile.rows[1]].to_vec();
                v.resize(rows, 0);
                v
            })
            .collect();
        let results: Vec<Option<Vec<i64>>> = if fast::fits(config) {
            fast::accumulate(config, &weights, used, &cut, &mut sums, first);
            sums.iter()
                .map(|s| last.then(|| fast::outputs(config, &weights, s)))
                .collect()
        } else {
            let mut engine = Engine::new(config, weights.clone());
            cut.iter()
                .zip(reference.iter_mut())
                .map(|(v, saved)| {
                    if !first {
                        (engine.acc_pool, engine.acc_err) = std::mem::take(saved);
                    }
                    let out = engine.step(v, first, last).outputs;
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
        tile_done(ti);
    }
    Ok(outputs)
}

/// Float forward pass of one sample (flattened in (c, y, x) order); each
/// layer is (weights, bias, geometry, relu).
fn forward<'a>(
    layers: impl Iterator<Item = (&'a [f32], &'a [f32], &'a Geometry, bool)>,
    x: &[f32],
) -> Vec<f32> {
    layers
        .enumerate()
        .fold(x.to_vec(), |a, (i, (w, b, g, relu))| {
            // The network input arrives in (c, y, x) order.
            let a = if i == 0 { g.from_chw(&a) } else { a };
            g.max_pool(&float_map(w, b, g, &a, relu))
        })
}

/// Accuracy on `data` of the float network and of its compressed weights
/// in float arithmetic (integer inputs times `input_scale`).
pub fn float_accuracies(
    layers: &[Layer],
    compressed: &[CompressedLayer],
    data: &Dataset,
    input_scale: f64,
) -> (f64, f64) {
    let scaled =
        |x: &Vec<i64>| -> Vec<f32> { x.iter().map(|&v| v as f32 * input_scale as f32).collect() };
    let original = || {
        layers
            .iter()
            .map(|l| (&l.weights[..], &l.bias[..], &l.geometry, l.relu))
    };
    let effective = || {
        compressed
            .iter()
            .map(|l| (&l.effective[..], &l.bias[..], &l.geometry, l.relu))
    };
    let float: Vec<Vec<f32>> = data
        .x
        .iter()
        .map(|x| forward(original(), &scaled(x)))
        .collect();
    let comp: Vec<Vec<f32>> = data
        .x
        .iter()
        .map(|x| forward(effective(), &scaled(x)))
        .collect();
    (accuracy(&float, &data.y), accuracy(&comp, &data.y))
}

pub fn argmax<T: PartialOrd + Copy>(v: &[T]) -> usize {
    (0..v.len()).fold(0, |best, i| if v[i] > v[best] { i } else { best })
}

/// Share of samples whose largest output is the label.
pub fn accuracy<T: PartialOrd + Copy>(outputs: &[Vec<T>], labels: &[i64]) -> f64 {
    let right = outputs
        .iter()
        .zip(labels)
        .filter(|(o, &y)| argmax(o) as i64 == y)
        .count();
    right as f64 / labels.len().max(1) as f64
}
