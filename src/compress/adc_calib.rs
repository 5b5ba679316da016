//! Post-training ADC calibration (docs/SPEC.md section 7): with a lossy
//! ADC, each engine layer gets the run-time ADC step (`adc_shift`) whose
//! outputs come closest to exact read-out on calibration data. Layers are
//! taken in network order, each fed by the golden model's outputs of the
//! layers before it with their chosen steps, as the hardware will run.

use super::graph::{from_chw, Op, Source};
use super::images::Images;
use super::run::{self, RunError};
use crate::config::{default_adc_shift, Config};
use crate::loadport::LoadPort;

/// The chosen step of every layer (`None`: a host layer, or exact read-out)
/// and, per layer, the mean squared output error of each candidate step.
#[derive(Clone, Debug, PartialEq)]
pub struct AdcCalibration {
    pub shifts: Vec<Option<u32>>,
    pub errors: Vec<Vec<f64>>,
}

/// Chooses every layer's ADC step on `inputs` (network inputs) and writes
/// it into `images`' scale words.
pub fn calibrate(images: &mut Images, inputs: &[Vec<i64>]) -> Result<AdcCalibration, RunError> {
    let layers = images.manifest.layers.len();
    let mut out = AdcCalibration {
        shifts: vec![None; layers],
        errors: vec![vec![]; layers],
    };
    let max = default_adc_shift(images.config.wl_parallel, images.config.adc_bits);
    if max == 0 {
        return Ok(out);
    }
    // Exact read-out of the same loads: the scale word's other fields sit
    // below `adc_shift`, so the exact layout decodes them alike.
    let mut exact = images.clone();
    exact.config = Config {
        adc_bits: 0,
        ..images.config.clone()
    };
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
        out.errors[li] = errors;
    }
    Ok(out)
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
