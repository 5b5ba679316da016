//! The run-time ADC steps of a compressed network with a lossy ADC: chosen
//! per layer on calibration data (`adc_calib`), or given by a JSON file
//! (e.g. the steps `tools/adc_train.py` learned), written into the images;
//! and the golden accuracy through the ADC next to exact read-out.

use super::{adc_calib, Progress};
use crate::compress::Compressed;
use crate::config::default_adc_shift;
use crate::error::{Error, Result};
use crate::images;
use crate::network::tensors::Dataset;
use crate::run;
use std::collections::BTreeMap;
use std::path::Path;

/// Calibration samples the ADC step choice uses (at most).
pub const CALIBRATION_SAMPLES: usize = 64;

/// Each layer's ADC step chosen on (up to 64) calibration samples to come
/// closest to exact read-out, optionally with the mean ADC error moved into
/// the bias; the images in `dir` rewritten with them. Returns the lines that
/// say what was chosen (none with exact read-out).
pub fn calibrate(
    c: &mut Compressed,
    calibration: &[Vec<i64>],
    dir: &Path,
    correct_bias: bool,
) -> Result<Vec<String>> {
    let max = default_adc_shift(c.config.wl_parallel, c.config.adc_bits);
    if max == 0 {
        return Ok(vec![]);
    }
    let samples = &calibration[..calibration.len().min(CALIBRATION_SAMPLES)];
    let mut imgs = images::read(dir)?;
    let cal = adc_calib::calibrate(&mut imgs, samples, correct_bias)?;
    let mut chosen = Vec::new();
    let mut corrected = Vec::new();
    for (li, (l, shift)) in c.layers.iter_mut().zip(&cal.shifts).enumerate() {
        if let Some(sh) = *shift {
            l.scales.adc_shift = sh;
            l.stats.adc_shift = Some(sh);
            chosen.push(format!("{} {sh}", l.name));
        }
        let delta = &cal.bias_corrections[li];
        if !delta.is_empty() {
            for (b, d) in l.scales.bias_int.iter_mut().zip(delta) {
                *b += d;
            }
            let mean = delta.iter().map(|&d| d as f64).sum::<f64>()
                / delta.len() as f64
                / 2f64.powi(l.scales.shift as i32);
            corrected.push(format!(
                "{} (mean {mean:+.2} output units, error {:.2} -> {:.2})",
                l.name,
                cal.errors[li][cal.shifts[li].unwrap_or(0) as usize],
                cal.corrected_errors[li].unwrap_or(0.0)
            ));
        }
    }
    images::write(c, dir)?;
    let mut lines = vec![format!(
        "ADC steps (adc_shift, 0..={max}; the generation-time step is {max}) chosen per layer on {} calibration samples to come closest to exact read-out: {}",
        samples.len(),
        chosen.join(", ")
    )];
    if !corrected.is_empty() {
        lines.push(format!(
            "ADC error moved into the bias (mean squared output error vs exact read-out): {}",
            corrected.join(", ")
        ));
    }
    Ok(lines)
}

/// The ADC steps a JSON file gives (`{"layer": adc_shift}`), written into
/// the images in `dir`; layers it leaves out keep the generation-time step.
pub fn set_from_file(c: &mut Compressed, path: &Path, dir: &Path) -> Result<Vec<String>> {
    let bad = |why: String| Error::Usage(format!("{}: {why}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let shifts: BTreeMap<String, serde_json::Value> = serde_json::from_str(&text).map_err(|e| {
        bad(format!(
            "not a JSON object of layer names to ADC shifts: {e}"
        ))
    })?;
    let max = default_adc_shift(c.config.wl_parallel, c.config.adc_bits);
    if max == 0 && !shifts.is_empty() {
        return Err(bad(format!(
            "adc_bits = {} with wl_parallel = {} reads out exactly: there is no ADC step to set",
            c.config.adc_bits, c.config.wl_parallel
        )));
    }
    for (name, value) in &shifts {
        let layer = c
            .layers
            .iter_mut()
            .find(|l| &l.name == name)
            .ok_or_else(|| bad(format!("no engine layer `{name}` in the network")))?;
        let sh = value
            .as_u64()
            .filter(|&v| v <= max as u64)
            .ok_or_else(|| {
                bad(format!(
                    "layer `{name}`: adc_shift = {value} is outside 0..={max} (bits(wl_parallel) - adc_bits)"
                ))
            })? as u32;
        layer.scales.adc_shift = sh;
        layer.stats.adc_shift = Some(sh);
    }
    images::write(c, dir)?;
    if shifts.is_empty() {
        return Ok(vec![]);
    }
    Ok(vec![format!(
        "ADC steps (adc_shift) from {}: {}",
        path.display(),
        shifts
            .iter()
            .map(|(n, v)| format!("{n} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    )])
}

/// Golden accuracy of the images in `dir` through their ADC and with exact
/// read-out of the same loads.
pub fn accuracies(dir: &Path, data: &Dataset, progress: &dyn Progress) -> Result<(f64, f64)> {
    let imgs = images::read(dir)?;
    let exact = adc_calib::exact_readout(&imgs);
    progress.stage(
        "golden model, through the ADC and with exact read-out",
        2 * data.x.len() as u64,
    );
    let adc = run::golden(&imgs, &data.x, |i, _| progress.set(i as u64))?;
    let n = data.x.len() as u64;
    let ex = run::golden(&exact, &data.x, |i, _| progress.set(n + i as u64))?;
    progress.finish();
    Ok((run::accuracy(&adc, &data.y), run::accuracy(&ex, &data.y)))
}
