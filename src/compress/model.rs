//! The network to compress: a small TOML description (layer order, kinds,
//! activations, BatchNorm to fold) checked against the weight tensors, or
//! inferred from them when unambiguous (a chain of 2-D `*.weight` tensors).

use super::geometry::Geometry;
use super::tensors::Tensor;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerKind {
    Fc,
    Conv,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerDesc {
    /// Tensor prefix: `<name>.weight`, optional `<name>.bias`.
    pub name: String,
    pub kind: LayerKind,
    #[serde(default)]
    pub relu: bool,
    /// Prefix of a BatchNorm after this layer (`<bn>.weight`, `.bias`,
    /// `.running_mean`, `.running_var`), folded into weights and bias.
    #[serde(default)]
    pub bn: Option<String>,
    /// Expected weight shape; checked when given.
    #[serde(default)]
    pub shape: Option<Vec<usize>>,
    /// Convolution stride and zero padding (on every side).
    #[serde(default = "one")]
    pub stride: usize,
    #[serde(default)]
    pub padding: usize,
    /// Max pooling (window = stride) after this layer and its ReLU.
    #[serde(default)]
    pub max_pool: Option<usize>,
    /// Keep this layer out of the pool: 8-bit weights run on the host
    /// (SPEC section 4: a first layer with few input channels).
    #[serde(default)]
    pub uncompressed: bool,
}

fn one() -> usize {
    1
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelDesc {
    /// Float value of one unit of the integer network input.
    pub input_scale: f64,
    /// Input map [channels, height, width] (PyTorch order; samples are
    /// flattened that way). Needed when the first layer is a convolution.
    #[serde(default)]
    pub input_shape: Option<Vec<usize>>,
    pub layer: Vec<LayerDesc>,
}

/// One layer after BN folding, weights flattened per output channel in SPEC
/// section 4 order ((ky, kx, c), c fastest).
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    pub name: String,
    pub kind: LayerKind,
    pub relu: bool,
    /// Runs on the host with 8-bit weights instead of the engine.
    pub uncompressed: bool,
    pub out_channels: usize,
    pub fan_in: usize,
    /// Input map, kernel, output map and pooling.
    pub geometry: Geometry,
    /// `out_channels * fan_in`, channel-major.
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ModelError {
    #[error("model description: {0}")]
    Parse(String),
    #[error("layer `{layer}`: {reason}")]
    Layer { layer: String, reason: String },
    #[error("cannot infer the layer order: {0}; give a model description with --model")]
    Ambiguous(String),
}

fn layer_err(layer: &str, reason: impl Into<String>) -> ModelError {
    ModelError::Layer {
        layer: layer.to_string(),
        reason: reason.into(),
    }
}

impl ModelDesc {
    /// Reads a model description file; errors name the file.
    pub fn from_file(path: &std::path::Path) -> Result<ModelDesc, ModelError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ModelError::Parse(format!("cannot read {}: {e}", path.display())))?;
        ModelDesc::from_toml(&text).map_err(|e| match e {
            ModelError::Parse(reason) => ModelError::Parse(format!("{}: {reason}", path.display())),
            other => other,
        })
    }

    pub fn from_toml(text: &str) -> Result<ModelDesc, ModelError> {
        let d: ModelDesc = toml::from_str(text).map_err(|e| {
            ModelError::Parse(
                e.to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        })?;
        if !(d.input_scale > 0.0 && d.input_scale.is_finite()) {
            return Err(ModelError::Parse(format!(
                "input_scale = {} is invalid: it must be a positive number",
                d.input_scale
            )));
        }
        if d.layer.is_empty() {
            return Err(ModelError::Parse("no [[layer]] entries".into()));
        }
        if let Some(s) = &d.input_shape {
            if s.len() != 3 || s.contains(&0) {
                return Err(ModelError::Parse(format!(
                    "input_shape = {s:?} is invalid: it must be [channels, height, width], each at least 1"
                )));
            }
        }
        for l in &d.layer {
            if l.stride == 0 {
                return Err(layer_err(
                    &l.name,
                    "stride = 0 is invalid: it must be at least 1",
                ));
            }
            if l.max_pool == Some(0) {
                return Err(layer_err(
                    &l.name,
                    "max_pool = 0 is invalid: it must be at least 1",
                ));
            }
        }
        Ok(d)
    }

    /// A description from the tensors alone: every `X.weight` is 2-D, and
    /// ordered by name they chain (in features = previous out features);
    /// ReLU between layers, none after the last.
    pub fn infer(
        tensors: &BTreeMap<String, Tensor>,
        input_scale: f64,
    ) -> Result<ModelDesc, ModelError> {
        let mut names: Vec<(&String, &Tensor)> = tensors
            .iter()
            .filter(|(n, _)| n.ends_with(".weight"))
            .collect();
        if names.is_empty() {
            return Err(ModelError::Ambiguous("no `*.weight` tensors".into()));
        }
        if let Some((n, t)) = names.iter().find(|(_, t)| t.shape.len() != 2) {
            return Err(ModelError::Ambiguous(format!(
                "`{n}` has shape {:?} (only chains of 2-D weights are inferred)",
                t.shape
            )));
        }
        names.sort_by_key(|(n, _)| natural_key(n));
        for w in names.windows(2) {
            if w[0].1.shape[0] != w[1].1.shape[1] {
                return Err(ModelError::Ambiguous(format!(
                    "`{}` {:?} does not feed `{}` {:?}",
                    w[0].0, w[0].1.shape, w[1].0, w[1].1.shape
                )));
            }
        }
        let last = names.len() - 1;
        Ok(ModelDesc {
            input_scale,
            input_shape: None,
            layer: names
                .iter()
                .enumerate()
                .map(|(i, (n, _))| LayerDesc {
                    name: n.trim_end_matches(".weight").to_string(),
                    kind: LayerKind::Fc,
                    relu: i < last,
                    bn: None,
                    shape: None,
                    stride: 1,
                    padding: 0,
                    max_pool: None,
                    uncompressed: false,
                })
                .collect(),
        })
    }

    /// Layers with shapes checked and BatchNorm folded.
    pub fn layers(&self, tensors: &BTreeMap<String, Tensor>) -> Result<Vec<Layer>, ModelError> {
        let mut layers = Vec::new();
        let mut prev_out: Option<(String, usize)> = None;
        // The current activation map (height, width, channels), when known.
        let mut map: Option<(usize, usize, usize)> =
            self.input_shape.as_ref().map(|s| (s[1], s[2], s[0]));
        for d in &self.layer {
            let get = |suffix: &str| tensors.get(&format!("{}.{suffix}", d.name));
            let w = get("weight").ok_or_else(|| {
                layer_err(
                    &d.name,
                    format!("no tensor `{}.weight` in the weights file", d.name),
                )
            })?;
            if let Some(shape) = &d.shape {
                if shape != &w.shape {
                    return Err(layer_err(
                        &d.name,
                        format!(
                            "`{}.weight` has shape {:?}, the description says {:?}",
                            d.name, w.shape, shape
                        ),
                    ));
                }
            }
            let (cout, cin, kh, kw) = match (d.kind, w.shape.as_slice()) {
                // An fc layer on a map: its columns are the map flattened
                // in (c, y, x) order, a convolution covering the map.
                (LayerKind::Fc, &[o, i]) => match map {
                    Some((h, wd, c)) if h * wd > 1 && i == h * wd * c => (o, c, h, wd),
                    _ => (o, i, 1, 1),
                },
                (LayerKind::Conv, &[o, i, h, k]) => (o, i, h, k),
                (kind, s) => {
                    return Err(layer_err(
                        &d.name,
                        format!(
                            "`{}.weight` has shape {s:?}; a {kind:?} layer needs {}",
                            d.name,
                            if kind == LayerKind::Fc {
                                "(out, in)"
                            } else {
                                "(out, in, kh, kw)"
                            }
                        ),
                    ))
                }
            };
            if let Some((prev, n)) = &prev_out {
                if d.kind == LayerKind::Fc && *n != cin * kh * kw {
                    return Err(layer_err(
                        &d.name,
                        format!("takes {cin} inputs but `{prev}` gives {n} outputs"),
                    ));
                }
            }
            let geometry = geometry_of(d, map, cout, cin, kh, kw)?;
            map = Some((geometry.pooled().0, geometry.pooled().1, cout));
            let fan_in = cin * kh * kw;
            // (out, in, kh, kw) -> per out channel (ky, kx, c), c fastest.
            let mut weights = vec![0f32; cout * fan_in];
            for o in 0..cout {
                for c in 0..cin {
                    for y in 0..kh {
                        for x in 0..kw {
                            weights[o * fan_in + (y * kw + x) * cin + c] =
                                w.data[((o * cin + c) * kh + y) * kw + x];
                        }
                    }
                }
            }
            let mut bias = match get("bias") {
                Some(b) if b.shape == [cout] => b.data.clone(),
                Some(b) => {
                    return Err(layer_err(
                        &d.name,
                        format!(
                            "`{}.bias` has shape {:?}; expected [{cout}]",
                            d.name, b.shape
                        ),
                    ))
                }
                None => vec![0.0; cout],
            };
            if let Some(bn) = &d.bn {
                fold_batch_norm(&d.name, bn, tensors, fan_in, &mut weights, &mut bias)?;
            }
            prev_out = Some((d.name.clone(), geometry.outputs()));
            layers.push(Layer {
                name: d.name.clone(),
                kind: d.kind,
                relu: d.relu,
                uncompressed: d.uncompressed,
                out_channels: cout,
                fan_in,
                geometry,
                weights,
                bias,
            });
        }
        Ok(layers)
    }
}

/// Input map, kernel and output map of layer `d` (weights (cout, cin, kh,
/// kw)) on the map `map` (height, width, channels) the previous layer left.
fn geometry_of(
    d: &LayerDesc,
    map: Option<(usize, usize, usize)>,
    cout: usize,
    cin: usize,
    kh: usize,
    kw: usize,
) -> Result<Geometry, ModelError> {
    let pool = d.max_pool.unwrap_or(1);
    if d.kind == LayerKind::Fc && (d.stride != 1 || d.padding != 0) {
        return Err(layer_err(
            &d.name,
            format!(
                "stride = {} / padding = {} apply to conv layers only; an fc layer takes 1 / 0",
                d.stride, d.padding
            ),
        ));
    }
    let g = match (d.kind, map) {
        (LayerKind::Fc, Some((h, w, c))) if kh > 1 || kw > 1 => Geometry {
            in_h: h,
            in_w: w,
            in_c: c,
            kernel_h: kh,
            kernel_w: kw,
            ..Geometry::flat(cin * kh * kw, cout)
        },
        (LayerKind::Fc, _) => Geometry::flat(cin, cout),
        (LayerKind::Conv, None) => {
            return Err(layer_err(
                &d.name,
                "a convolution needs the input map: give input_shape = [channels, height, width] in the model description",
            ))
        }
        (LayerKind::Conv, Some((h, w, c))) => {
            if c != cin {
                return Err(layer_err(
                    &d.name,
                    format!("takes {cin} input channels but its input map has {c}"),
                ));
            }
            let span = |n: usize, k: usize| (n + 2 * d.padding).checked_sub(k).map(|s| s / d.stride + 1);
            let (Some(out_h), Some(out_w)) = (span(h, kh), span(w, kw)) else {
                return Err(layer_err(
                    &d.name,
                    format!(
                        "kernel {kh}x{kw} is larger than its {h}x{w} input map with padding {}",
                        d.padding
                    ),
                ));
            };
            Geometry {
                in_h: h,
                in_w: w,
                in_c: c,
                kernel_h: kh,
                kernel_w: kw,
                stride: d.stride,
                padding: d.padding,
                out_h,
                out_w,
                out_c: cout,
                max_pool: 1,
            }
        }
    };
    if pool > g.out_h.min(g.out_w) {
        return Err(layer_err(
            &d.name,
            format!(
                "max_pool = {pool} is larger than its {}x{} output map",
                g.out_h, g.out_w
            ),
        ));
    }
    Ok(Geometry {
        max_pool: pool,
        ..g
    })
}

/// `w' = w * g / sqrt(var + eps)`, `b' = (b - mean) * g / sqrt(var + eps) + beta`.
fn fold_batch_norm(
    layer: &str,
    bn: &str,
    tensors: &BTreeMap<String, Tensor>,
    fan_in: usize,
    weights: &mut [f32],
    bias: &mut [f32],
) -> Result<(), ModelError> {
    const EPS: f32 = 1e-5;
    let cout = bias.len();
    let get = |s: &str| {
        let name = format!("{bn}.{s}");
        match tensors.get(&name) {
            Some(t) if t.shape == [cout] => Ok(t.data.clone()),
            Some(t) => Err(layer_err(
                layer,
                format!(
                    "BatchNorm tensor `{name}` has shape {:?}; expected [{cout}]",
                    t.shape
                ),
            )),
            None => Err(layer_err(layer, format!("no BatchNorm tensor `{name}`"))),
        }
    };
    let (gamma, beta, mean, var) = (
        get("weight")?,
        get("bias")?,
        get("running_mean")?,
        get("running_var")?,
    );
    for o in 0..cout {
        if var[o] < 0.0 {
            return Err(layer_err(
                layer,
                format!("`{bn}.running_var`[{o}] = {} is negative", var[o]),
            ));
        }
        let k = gamma[o] / (var[o] + EPS).sqrt();
        weights[o * fan_in..(o + 1) * fan_in]
            .iter_mut()
            .for_each(|w| *w *= k);
        bias[o] = (bias[o] - mean[o]) * k + beta[o];
    }
    Ok(())
}

/// Sorts `fc2` before `fc10`.
fn natural_key(name: &str) -> Vec<(String, u64)> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut num = String::new();
    for ch in name.chars() {
        if ch.is_ascii_digit() {
            num.push(ch);
        } else {
            if !num.is_empty() {
                parts.push((std::mem::take(&mut text), num.parse().unwrap_or(0)));
                num.clear();
            }
            text.push(ch);
        }
    }
    parts.push((text, num.parse().unwrap_or(0)));
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[usize], data: Vec<f32>) -> Tensor {
        Tensor {
            shape: shape.to_vec(),
            data,
        }
    }

    #[test]
    fn batch_norm_folds_into_weights_and_bias() {
        let mut ts = BTreeMap::new();
        ts.insert("fc.weight".into(), t(&[2, 2], vec![1.0, 2.0, 3.0, 4.0]));
        ts.insert("fc.bias".into(), t(&[2], vec![0.5, -0.5]));
        ts.insert("bn.weight".into(), t(&[2], vec![2.0, 1.0]));
        ts.insert("bn.bias".into(), t(&[2], vec![0.0, 1.0]));
        ts.insert("bn.running_mean".into(), t(&[2], vec![0.5, 0.5]));
        ts.insert(
            "bn.running_var".into(),
            t(&[2], vec![4.0 - 1e-5, 1.0 - 1e-5]),
        );
        let d = ModelDesc::from_toml(
            "input_scale = 1.0\n[[layer]]\nname = \"fc\"\nkind = \"fc\"\nbn = \"bn\"",
        )
        .unwrap();
        let l = &d.layers(&ts).unwrap()[0];
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-4);
        assert!(close(&l.weights, &[1.0, 2.0, 3.0, 4.0]), "{:?}", l.weights);
        assert!(close(&l.bias, &[0.0, 0.0]), "{:?}", l.bias);
    }

    #[test]
    fn conv_weights_flatten_channel_fastest() {
        let mut ts = BTreeMap::new();
        // (out 1, in 2, 1, 2): w[c][x] = 10 c + x.
        ts.insert(
            "c.weight".into(),
            t(&[1, 2, 1, 2], vec![0.0, 1.0, 10.0, 11.0]),
        );
        let d = ModelDesc::from_toml(
            "input_scale = 1.0\ninput_shape = [2, 1, 2]\n[[layer]]\nname = \"c\"\nkind = \"conv\"",
        )
        .unwrap();
        assert_eq!(
            d.layers(&ts).unwrap()[0].weights,
            vec![0.0, 10.0, 1.0, 11.0]
        );
    }

    #[test]
    fn fc_after_a_map_reads_pytorch_flatten_order() {
        let mut ts = BTreeMap::new();
        // Conv 1 -> 2 channels, 1x1, on a 1x2 map; then fc on the 1x2x2 map.
        ts.insert("c.weight".into(), t(&[2, 1, 1, 1], vec![1.0, 2.0]));
        // PyTorch columns (c, y, x): [c0x0, c0x1, c1x0, c1x1].
        ts.insert("f.weight".into(), t(&[1, 4], vec![1.0, 2.0, 3.0, 4.0]));
        let d = ModelDesc::from_toml(
            "input_scale = 1.0\ninput_shape = [1, 1, 2]\n[[layer]]\nname = \"c\"\nkind = \"conv\"\n[[layer]]\nname = \"f\"\nkind = \"fc\"",
        )
        .unwrap();
        let layers = d.layers(&ts).unwrap();
        let f = &layers[1];
        assert_eq!(
            (f.geometry.kernel_h, f.geometry.kernel_w, f.geometry.in_c),
            (1, 2, 2)
        );
        // Engine order (y, x, c): [x0c0, x0c1, x1c0, x1c1].
        assert_eq!(f.weights, vec![1.0, 3.0, 2.0, 4.0]);
        assert_eq!(f.geometry.positions(), 1);
    }

    #[test]
    fn bad_conv_geometry_is_named() {
        let mut ts = BTreeMap::new();
        ts.insert("c.weight".into(), t(&[1, 1, 3, 3], vec![0.0; 9]));
        let err = |text: &str| {
            ModelDesc::from_toml(text)
                .and_then(|d| d.layers(&ts))
                .unwrap_err()
                .to_string()
        };
        let conv = "[[layer]]\nname = \"c\"\nkind = \"conv\"\n";
        assert!(err(&format!("input_scale = 1.0\n{conv}")).contains("give input_shape"));
        assert!(err(&format!(
            "input_scale = 1.0\ninput_shape = [1, 2, 2]\n{conv}"
        ))
        .contains("kernel 3x3 is larger than its 2x2 input map with padding 0"));
        assert!(err(&format!(
            "input_scale = 1.0\ninput_shape = [2, 4, 4]\n{conv}"
        ))
        .contains("takes 1 input channels but its input map has 2"));
        assert!(err(&format!(
            "input_scale = 1.0\ninput_shape = [1, 4, 4]\n{conv}max_pool = 3\n"
        ))
        .contains("max_pool = 3 is larger than its 2x2 output map"));
        assert!(err(&format!(
            "input_scale = 1.0\ninput_shape = [1, 4, 4]\n{conv}stride = 0\n"
        ))
        .contains("stride = 0 is invalid"));
        assert!(err(
            "input_scale = 1.0\ninput_shape = [1, 4]\n[[layer]]\nname = \"c\"\nkind = \"fc\"\n"
        )
        .contains("input_shape = [1, 4] is invalid"));
    }

    #[test]
    fn shape_mismatches_are_named() {
        let mut ts = BTreeMap::new();
        ts.insert("fc1.weight".into(), t(&[3, 4], vec![0.0; 12]));
        ts.insert("fc2.weight".into(), t(&[2, 5], vec![0.0; 10]));
        let d = ModelDesc::from_toml(
            "input_scale = 1.0\n[[layer]]\nname = \"fc1\"\nkind = \"fc\"\nshape = [4, 3]\n",
        )
        .unwrap();
        assert_eq!(
            d.layers(&ts).unwrap_err().to_string(),
            "layer `fc1`: `fc1.weight` has shape [3, 4], the description says [4, 3]"
        );
        let chain = ModelDesc::from_toml(
            "input_scale = 1.0\n[[layer]]\nname = \"fc1\"\nkind = \"fc\"\n[[layer]]\nname = \"fc2\"\nkind = \"fc\"\n",
        )
        .unwrap();
        assert_eq!(
            chain.layers(&ts).unwrap_err().to_string(),
            "layer `fc2`: takes 5 inputs but `fc1` gives 3 outputs"
        );
        assert!(ModelDesc::infer(&ts, 1.0)
            .unwrap_err()
            .to_string()
            .contains("`fc1.weight` [3, 4] does not feed `fc2.weight` [2, 5]"));
    }
}
