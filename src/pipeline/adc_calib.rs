//! Post-training ADC calibration (docs/SPEC.md section 7): with a lossy
//! ADC, each engine layer gets the run-time ADC step (`adc_shift`) whose
//! outputs come closest to exact read-out on calibration data. Layers are
//! taken in network order, each fed by the golden model's outputs of the
//! layers before it with their chosen steps, as the hardware will run.

use crate::config::{default_adc_shift, Config};
use crate::images::Images;
use crate::loadport::LoadPort;
use crate::network::graph::{from_chw, Op, Source};
use crate::run::{self, RunError};

/// The chosen step of every layer (`None`: a host layer, or exact read-out)
/// and, per layer, the mean squared output error of each candidate step;
/// the bias correction added to each output channel's integer bias (empty
/// when it did not lower the error) and the error after it.
#[derive(Clone, Debug, PartialEq)]
pub struct AdcCalibration {
    pub shifts: Vec<Option<u32>>,
    pub errors: Vec<Vec<f64>>,
    pub bias_corrections: Vec<Vec<i64>>,
    pub corrected_errors: Vec<Option<f64>>,
}

/// Chooses every layer's ADC step on `inputs` (network inputs) and writes
/// it into `images`' scale words.
/// With `correct_bias`, each layer's mean ADC error per output channel also
/// moves into its bias when that lowers the error.
pub fn calibrate(
    images: &mut Images,
    inputs: &[Vec<i64>],
    correct_bias: bool,
) -> Result<AdcCalibration, RunError> {
    let layers = images.manifest.layers.len();
    let mut out = AdcCalibration {
        shifts: vec![None; layers],
        errors: vec![vec![]; layers],
        bias_corrections: vec![vec![]; layers],
        corrected_errors: vec![None; layers],
    };
    let max = default_adc_shift(images.config.wl_parallel, images.config.adc_bits);
    if max == 0 {
        return Ok(out);
    }
    let exact = exact_readout(images);
    let nodes = images.graph.nodes.clone();
    for node in &nodes {
        let Op::Layer(li) = node.op else { continue };
        if images.host[li].is_some() {
            continue;
        }
        let maps = match node.inputs[0] {
            Source::Input => inputs
                .iter()
                .map(|x| from_chw(images.graph.input, x))
                .collect(),
            Source::Node(j) => run::golden_at(images, inputs, j, |_, _| {})?,
        };
        let want = run::layer(&exact, li, &maps)?;
        let mut errors = Vec::new();
        for sh in 0..=max {
            set_shift(images, li, sh);
            let got = run::layer(images, li, &maps)?;
            errors.push(mse(&got, &want));
        }
        let best = (0..=max)
            .min_by(|&a, &b| errors[a as usize].total_cmp(&errors[b as usize]))
            .expect("at least one step");
        set_shift(images, li, best);
        out.shifts[li] = Some(best);
        // The floor ADC's error is one-sided: its mean, per output channel,
        // moves into the bias when that lowers the error.
        if correct_bias {
            let got = run::layer(images, li, &maps)?;
            let correction = mean_error(images, li, &got, &want);
            if correction.iter().any(|&d| d != 0) {
                let saved = images.tiles[li].clone();
                let after = match add_bias(images, li, &correction) {
                    Ok(()) => Some(mse(&run::layer(images, li, &maps)?, &want)),
                    Err(_) => None, // a corrected bias outside its field
                };
                match after {
                    Some(e) if e < errors[best as usize] => {
                        out.bias_corrections[li] = correction;
                        out.corrected_errors[li] = Some(e);
                    }
                    _ => images.tiles[li] = saved,
                }
            }
        }
        out.errors[li] = errors;
    }
    Ok(out)
}

/// Per output channel, the mean of exact minus ADC outputs over the outputs
/// that neither saturates, in integer bias units (output units x 2^shift).
fn mean_error(images: &Images, li: usize, got: &[Vec<i64>], want: &[Vec<i64>]) -> Vec<i64> {
    let layer = &images.manifest.layers[li];
    let out_bits = images.config.out_bits;
    let (lo, hi) = if layer.relu {
        (0, (1i64 << out_bits) - 1)
    } else {
        (-(1i64 << (out_bits - 1)), (1i64 << (out_bits - 1)) - 1)
    };
    let n = layer.out_channels;
    let mut sum = vec![0f64; n];
    let mut count = vec![0usize; n];
    for (g, w) in got.iter().zip(want) {
        for (i, (&a, &b)) in g.iter().zip(w).enumerate() {
            if a > lo && a < hi && b > lo && b < hi {
                sum[i % n] += (b - a) as f64;
                count[i % n] += 1;
            }
        }
    }
    let k = 2f64.powi(layer.shift as i32);
    sum.iter()
        .zip(&count)
        .map(|(&s, &c)| {
            if c == 0 {
                0
            } else {
                (s / c as f64 * k).round() as i64
            }
        })
        .collect()
}

/// Adds `delta` to the integer bias of every output channel of layer `li`
/// in its tiles' loads.
fn add_bias(images: &mut Images, li: usize, delta: &[i64]) -> Result<(), RunError> {
    let tiles = crate::images::decode_layer(images, li)?;
    let lanes = images.config.lanes() as usize;
    let port = LoadPort::new(&images.config);
    let layer = images.manifest.layers[li].clone();
    for (ti, (tile, mut w)) in layer.tiles.iter().zip(tiles).enumerate() {
        let (lo, hi) = (tile.channels[0], tile.channels[1]);
        for (l, d) in delta[lo..hi].iter().enumerate() {
            w.bias[lo - tile.pass * lanes + l] += d;
        }
        images.tiles[li][ti] = port.all(&w).map_err(|source| crate::images::DecodeError {
            layer: layer.name.clone(),
            source,
        })?;
    }
    Ok(())
}

/// The same loads read out exactly (no ADC): the scale word's other fields
/// sit below `adc_shift`, so the exact layout decodes them alike.
pub fn exact_readout(images: &Images) -> Images {
    let mut exact = images.clone();
    exact.config = Config {
        adc_bits: 0,
        ..images.config.clone()
    };
    exact
}

/// Rewrites the scale word of every tile of layer `li` with ADC step `sh`.
fn set_shift(images: &mut Images, li: usize, sh: u32) {
    let mut port = LoadPort::new(&images.config);
    let sel = images
        .manifest
        .load
        .target(crate::config::layout::SCALES)
        .sel;
    for tile in images.tiles[li].iter_mut() {
        for load in tile.iter_mut().filter(|l| l.sel == sel) {
            let mut w = port.empty_weights();
            port.apply(&mut w, load)
                .expect("the images' own scale word decodes");
            w.scales.adc_shift = sh;
            *load = port.scales(&w.scales).expect("the step is in range");
        }
    }
}

fn mse(a: &[Vec<i64>], b: &[Vec<i64>]) -> f64 {
    let (mut sum, mut n) = (0f64, 0usize);
    for (x, y) in a.iter().zip(b) {
        for (&p, &q) in x.iter().zip(y) {
            sum += ((p - q) as f64).powi(2);
            n += 1;
        }
    }
    sum / n.max(1) as f64
}
