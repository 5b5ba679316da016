//! Step 6 of docs/SPEC.md section 5: the integer scales of a layer, from
//! its float scales and the activation scales that calibration set.

use super::CompressError;
use crate::config::Config;

/// A layer's integer path: `y = (alpha_int accP + beta_int accE +
/// bias_int) >> shift`, with input and output activations in units of
/// `input_scale` and `output_scale`.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerScales {
    pub input_scale: f64,
    pub output_scale: f64,
    pub alpha_int: i64,
    pub beta_int: i64,
    pub shift: u32,
    pub bias_int: Vec<i64>,
    /// The ADC's step 2^adc_shift for this layer (lossy ADC; 0 otherwise).
    pub adc_shift: u32,
}

/// `alpha_int / 2^s = alpha * s_in / s_out` (likewise beta), `bias_int / 2^s
/// = b / s_out`: the largest shift whose integers fit their fields.
pub fn integer_scales(
    config: &Config,
    layer: &str,
    (alpha, beta): (f32, f32),
    bias: &[f32],
    input_scale: f64,
    output_scale: f64,
) -> Result<LayerScales, CompressError> {
    let ratio = input_scale / output_scale;
    let smax = ((1i128 << (config.scale_bits - 1)) - 1) as f64;
    let bmax = ((1i128 << (config.bias_bits - 1)) - 1) as f64;
    let max_shift = (1u32 << config.shift_bits) - 1;
    let fits = |s: u32| {
        let k = 2f64.powi(s as i32);
        (alpha as f64 * ratio * k).abs().round() <= smax
            && (beta as f64 * ratio * k).abs().round() <= smax
            && bias
                .iter()
                .all(|&b| (b as f64 / output_scale * k).abs().round() <= bmax)
    };
    let shift = (0..=max_shift.min(62))
        .rev()
        .find(|&s| fits(s))
        .ok_or_else(|| CompressError::Scales {
            layer: layer.to_string(),
            reason: format!(
                "alpha = {alpha}, beta = {beta} or a bias does not fit scale_bits = {} / bias_bits = {} even with shift 0; widen them",
                config.scale_bits, config.bias_bits
            ),
        })?;
    let k = 2f64.powi(shift as i32);
    Ok(LayerScales {
        input_scale,
        output_scale,
        alpha_int: (alpha as f64 * ratio * k).round() as i64,
        beta_int: (beta as f64 * ratio * k).round() as i64,
        shift,
        bias_int: bias
            .iter()
            .map(|&b| (b as f64 / output_scale * k).round() as i64)
            .collect(),
        adc_shift: crate::config::Derived::new(config).adc_shift,
    })
}
