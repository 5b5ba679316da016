//! Running a compressed network: on the golden model from its memory images
//! (the integer path the hardware computes), and in float for reference.

use super::images::Images;
use super::model::Layer;
use super::tensors::Dataset;
use super::{float_layer, CompressedLayer};
use crate::golden::Engine;
use crate::loadport::LoadPort;

/// Integer outputs of the last layer for every input, computed layer by
/// layer on the golden model with the weights the images load. Each tile is
/// loaded once; every sample's accumulators are kept between its row
/// blocks, which is what the engine computes for one sample at a time.
pub fn golden(
    images: &Images,
    inputs: &[Vec<i64>],
    mut progress: impl FnMut(usize, usize),
) -> anyhow::Result<Vec<Vec<i64>>> {
    let base = &images.config;
    let rows = base.rows as usize;
    let lanes = (base.macros * base.cols) as usize;
    let act_max = (1i64 << base.act_bits) - 1;
    let mut acts: Vec<Vec<i64>> = inputs.to_vec();
    let total: usize = images.tiles.iter().map(|t| t.len()).sum();
    let mut done = 0;
    for (li, layer) in images.manifest.layers.iter().enumerate() {
        if let Some((s, a)) = acts
            .iter()
            .enumerate()
            .find(|(_, a)| a.len() != layer.fan_in)
        {
            anyhow::bail!(
                "layer `{}` takes {} inputs but sample {s} has {}",
                layer.name,
                layer.fan_in,
                a.len()
            );
        }
        if let Some(v) = acts.iter().flatten().find(|&&v| v < 0 || v > act_max) {
            anyhow::bail!(
                "layer `{}`: input value {v} is outside 0..={act_max} (act_bits = {}, unsigned)",
                layer.name,
                base.act_bits
            );
        }
        let mut config = base.clone();
        config.relu = layer.relu;
        let mut port = LoadPort::new(&config);
        let mut weights = port.empty_weights();
        for load in &images.pool {
            port.apply(&mut weights, load);
        }
        let mut outputs = vec![vec![0i64; layer.out_channels]; acts.len()];
        let mut saved: Vec<(Vec<i128>, Vec<i128>)> = vec![(vec![], vec![]); acts.len()];
        for (ti, tile) in layer.tiles.iter().enumerate() {
            for load in &images.tiles[li][ti] {
                port.apply(&mut weights, load);
            }
            let mut engine = Engine::new(&config, weights.clone());
            let (first, last) = (tile.block == 0, tile.block + 1 == layer.row_blocks);
            for (s, x) in acts.iter().enumerate() {
                if !first {
                    engine.acc_pool = saved[s].0.clone();
                    engine.acc_err = saved[s].1.clone();
                }
                let mut v = x[tile.rows[0]..tile.rows[1]].to_vec();
                v.resize(rows, 0);
                let r = engine.step(&v, first, last);
                if let Some(out) = r.outputs {
                    for c in tile.channels[0]..tile.channels[1] {
                        outputs[s][c] = out[c - tile.pass * lanes];
                    }
                } else {
                    saved[s] = (engine.acc_pool.clone(), engine.acc_err.clone());
                }
            }
            done += 1;
            progress(done, total);
        }
        acts = outputs;
    }
    Ok(acts)
}

/// Float forward pass; each layer is (weights, bias, fan-in, relu).
fn forward<'a>(
    layers: impl Iterator<Item = (&'a [f32], &'a [f32], usize, bool)>,
    x: Vec<f32>,
) -> Vec<f32> {
    layers.fold(x, |a, (w, b, fan_in, relu)| {
        float_layer(w, b, fan_in, &a, relu)
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
    let scaled = |x: &Vec<i64>| x.iter().map(|&v| v as f32 * input_scale as f32).collect();
    let original = || {
        layers
            .iter()
            .map(|l| (&l.weights[..], &l.bias[..], l.fan_in, l.relu))
    };
    let effective = || {
        compressed
            .iter()
            .map(|l| (&l.effective[..], &l.bias[..], l.fan_in, l.relu))
    };
    let float: Vec<Vec<f32>> = data
        .x
        .iter()
        .map(|x| forward(original(), scaled(x)))
        .collect();
    let comp: Vec<Vec<f32>> = data
        .x
        .iter()
        .map(|x| forward(effective(), scaled(x)))
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
