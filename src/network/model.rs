//! The network to compress: a TOML description (nodes, their inputs, kinds,
//! activations, BatchNorm to fold) checked against the weight tensors, or
//! inferred from them when unambiguous (a chain of 2-D `*.weight` tensors).
//! The result is a `Network`: a graph of engine layers and host operations.

use super::geometry::Geometry;
use super::graph::{Graph, Map, Node, Op, Source, Window};
use super::tensors::Tensor;
use crate::diagnostics::printable;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The engine layers' kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerKind {
    Fc,
    Conv,
}

/// What a description node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    Conv,
    Fc,
    Add,
    /// Feature maps of one size joined along channels (docs/SPEC.md section 4).
    Concat,
    MaxPool,
    AvgPool,
    GlobalAvgPool,
    Flatten,
}

/// One node of a model description (`[[node]]`, or `[[layer]]` in the
/// chain form, where `kind` names the op).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeDesc {
    /// Node name; for conv / fc the tensor prefix (`<name>.weight`, optional
    /// `<name>.bias`).
    pub name: String,
    #[serde(alias = "kind")]
    pub op: OpKind,
    /// Names of the nodes read (`input` is the network input); default: the
    /// node before.
    #[serde(default)]
    pub inputs: Option<Vec<String>>,
    #[serde(default)]
    pub relu: bool,
    /// With `relu` on a conv / fc: the top of the activation (6 for ReLU6,
    /// PyTorch's `Clip(0, 6)`). The layer's output scale puts it at the top
    /// of the output range, so the requantizer's saturation is the clip.
    #[serde(default)]
    pub clip: Option<f64>,
    /// Prefix of a BatchNorm after this layer (`<bn>.weight`, `.bias`,
    /// `.running_mean`, `.running_var`), folded into weights and bias.
    #[serde(default)]
    pub bn: Option<String>,
    /// Expected weight shape; checked when given.
    #[serde(default)]
    pub shape: Option<Vec<usize>>,
    /// Convolution or pooling stride (pools: default the kernel).
    #[serde(default)]
    pub stride: Option<usize>,
    /// Zero padding on every side (pools: positions outside are ignored).
    #[serde(default)]
    pub padding: usize,
    /// Pooling window (square).
    #[serde(default)]
    pub kernel: Option<usize>,
    /// Shorthand on a conv / fc: max pooling (window = stride) after it.
    #[serde(default)]
    pub max_pool: Option<usize>,
    /// Keep this layer out of the pool: 8-bit weights run on the host
    /// (docs/SPEC.md section 4: a first layer with few input channels).
    #[serde(default)]
    pub uncompressed: bool,
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
    /// A chain of layers (each reads the one before).
    #[serde(default)]
    pub layer: Vec<NodeDesc>,
    /// A graph of nodes.
    #[serde(default)]
    pub node: Vec<NodeDesc>,
}

/// A network ready to compress: its graph and its engine layers.
#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    pub input_scale: f64,
    pub graph: Graph,
    pub layers: Vec<Layer>,
}

/// One layer after BN folding, weights flattened per output channel in SPEC
/// section 4 order ((ky, kx, c), c fastest).
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    pub name: String,
    pub kind: LayerKind,
    pub relu: bool,
    /// The top of a clipped ReLU (ReLU6): the output scale is fixed so
    /// that it is the largest output value.
    pub clip: Option<f32>,
    /// Runs on the host with 8-bit weights instead of the engine.
    pub uncompressed: bool,
    pub out_channels: usize,
    pub fan_in: usize,
    /// Input map, kernel and output map.
    pub geometry: Geometry,
    /// `out_channels * fan_in`, channel-major.
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ModelError {
    // Names come from the user's files (a quoted TOML name may hold a
    // newline): printed escaped, so an error stays one line.
    #[error("model description: {}", printable(.0))]
    Parse(String),
    #[error("layer `{}`: {}", printable(.layer), printable(.reason))]
    Layer { layer: String, reason: String },
    #[error(
        "cannot infer the layer order: {}; give a model description with --model",
        printable(.0)
    )]
    Ambiguous(String),
}

fn layer_err(layer: &str, reason: impl Into<String>) -> ModelError {
    ModelError::Layer {
        layer: layer.to_string(),
        reason: reason.into(),
    }
}

impl NodeDesc {
    /// A node reading the node before, with every option at its default.
    pub fn new(name: &str, op: OpKind) -> NodeDesc {
        NodeDesc {
            name: name.into(),
            op,
            inputs: None,
            relu: false,
            clip: None,
            bn: None,
            shape: None,
            stride: None,
            padding: 0,
            kernel: None,
            max_pool: None,
            uncompressed: false,
        }
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
        let d: ModelDesc = toml::from_str(text)
            .map_err(|e| ModelError::Parse(crate::diagnostics::toml_error(text, &e)))?;
        if !(d.input_scale > 0.0 && d.input_scale.is_finite()) {
            return Err(ModelError::Parse(format!(
                "input_scale = {} is invalid: it must be a positive number",
                d.input_scale
            )));
        }
        if d.layer.is_empty() && d.node.is_empty() {
            return Err(ModelError::Parse(
                "no [[node]] (or [[layer]]) entries".into(),
            ));
        }
        if !d.layer.is_empty() && !d.node.is_empty() {
            return Err(ModelError::Parse(
                "both [[layer]] and [[node]] entries: give the network as one of them".into(),
            ));
        }
        if let Some(s) = &d.input_shape {
            if s.len() != 3 || s.contains(&0) {
                return Err(ModelError::Parse(format!(
                    "input_shape = {s:?} is invalid: it must be [channels, height, width], each at least 1"
                )));
            }
        }
        for l in d.nodes() {
            for (field, v) in [
                ("stride", l.stride),
                ("max_pool", l.max_pool),
                ("kernel", l.kernel),
            ] {
                if v == Some(0) {
                    return Err(layer_err(
                        &l.name,
                        format!("{field} = 0 is invalid: it must be at least 1"),
                    ));
                }
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
                .map(|(i, (n, _))| NodeDesc {
                    relu: i < last,
                    ..NodeDesc::new(n.trim_end_matches(".weight"), OpKind::Fc)
                })
                .collect(),
            node: vec![],
        })
    }

    /// The description's nodes, in order.
    pub fn nodes(&self) -> &[NodeDesc] {
        if self.node.is_empty() {
            &self.layer
        } else {
            &self.node
        }
    }

    /// Tensors no node of the description reads: neither a conv / fc
    /// node's `<name>.*` nor a BatchNorm's `<bn>.*`. A description that
    /// leaves out a layer compresses the rest silently otherwise.
    pub fn unused_tensors(&self, tensors: &BTreeMap<String, Tensor>) -> Vec<String> {
        let read: std::collections::BTreeSet<&str> = self
            .nodes()
            .iter()
            .filter(|n| matches!(n.op, OpKind::Conv | OpKind::Fc))
            .map(|n| n.name.as_str())
            .chain(self.nodes().iter().filter_map(|n| n.bn.as_deref()))
            .collect();
        tensors
            .keys()
            .filter(|name| {
                let prefix = name.rsplit_once('.').map_or(name.as_str(), |(p, _)| p);
                !read.contains(prefix)
            })
            .cloned()
            .collect()
    }

    /// The network: every node checked against its inputs' maps and the
    /// weight tensors, BatchNorm folded.
    pub fn network(&self, tensors: &BTreeMap<String, Tensor>) -> Result<Network, ModelError> {
        let input = self.input_map(tensors)?;
        let mut b = Builder {
            tensors,
            graph: Graph {
                input,
                nodes: vec![],
            },
            layers: vec![],
            names: BTreeMap::from([("input".to_string(), Source::Input)]),
        };
        let mut prev = Source::Input;
        for d in self.nodes() {
            let inputs = b.inputs_of(d, prev)?;
            let node = b.node(d, &inputs)?;
            prev = b.push(node)?;
            if let Some(k) = d.max_pool.filter(|&k| k > 1) {
                let window = Window {
                    kernel_h: k,
                    kernel_w: k,
                    stride: k,
                    padding: 0,
                };
                let node = b.pool(&format!("{}.max_pool", d.name), prev, window, true)?;
                prev = b.push(node)?;
            }
        }
        Ok(Network {
            input_scale: self.input_scale,
            graph: b.graph,
            layers: b.layers,
        })
    }

    /// The network input's map: `input_shape`, or the first fc's inputs.
    fn input_map(&self, tensors: &BTreeMap<String, Tensor>) -> Result<Map, ModelError> {
        if let Some(s) = &self.input_shape {
            return Ok(Map {
                h: s[1],
                w: s[2],
                c: s[0],
            });
        }
        let first = &self.nodes()[0];
        match (first.op, tensors.get(&format!("{}.weight", first.name))) {
            (OpKind::Fc, Some(t)) if t.shape.len() == 2 => Ok(Map::flat(t.shape[1])),
            (OpKind::Fc, None) => Err(layer_err(
                &first.name,
                format!("no tensor `{}.weight` in the weights file", first.name),
            )),
            _ => Err(layer_err(
                &first.name,
                "a network that starts with a convolution needs its input map: give input_shape = [channels, height, width] in the model description",
            )),
        }
    }
}

/// Builds a network node by node.
struct Builder<'a> {
    tensors: &'a BTreeMap<String, Tensor>,
    graph: Graph,
    layers: Vec<Layer>,
    names: BTreeMap<String, Source>,
}

impl Builder<'_> {
    fn inputs_of(&self, d: &NodeDesc, prev: Source) -> Result<Vec<Source>, ModelError> {
        let want = match d.op {
            OpKind::Add => 2,
            OpKind::Concat => d.inputs.as_ref().map_or(2, |i| i.len().max(2)),
            _ => 1,
        };
        let inputs = match &d.inputs {
            None if want == 1 => vec![prev],
            None => {
                return Err(layer_err(
                    &d.name,
                    format!(
                        "a {:?} node reads {want} or more nodes: give inputs = [\"a\", \"b\"]",
                        d.op
                    ),
                ))
            }
            Some(names) => names
                .iter()
                .map(|n| {
                    self.names.get(n).copied().ok_or_else(|| {
                        layer_err(
                            &d.name,
                            format!("input `{n}` is not an earlier node (or `input`)"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        if inputs.len() != want {
            return Err(layer_err(
                &d.name,
                format!(
                    "reads {} inputs; a {:?} node reads {want}",
                    inputs.len(),
                    d.op
                ),
            ));
        }
        Ok(inputs)
    }

    fn push(&mut self, node: Node) -> Result<Source, ModelError> {
        if self.names.contains_key(&node.name) {
            return Err(layer_err(&node.name, "a second node of this name"));
        }
        let s = Source::Node(self.graph.nodes.len());
        self.names.insert(node.name.clone(), s);
        self.graph.nodes.push(node);
        Ok(s)
    }

    fn signed(&self, s: Source) -> bool {
        match s {
            Source::Input => false,
            Source::Node(i) => self.graph.nodes[i].signed,
        }
    }

    fn node(&mut self, d: &NodeDesc, inputs: &[Source]) -> Result<Node, ModelError> {
        let map = self.graph.map_of(inputs[0]);
        let node = |op, out, signed| Node {
            name: d.name.clone(),
            op,
            inputs: inputs.to_vec(),
            out,
            signed,
        };
        if d.op != OpKind::Conv
            && d.op != OpKind::Fc
            && (d.bn.is_some() || d.uncompressed || d.clip.is_some())
        {
            return Err(layer_err(
                &d.name,
                "bn, clip and uncompressed apply to conv and fc nodes only",
            ));
        }
        if let Some(c) = d.clip {
            if !(d.relu && c > 0.0 && c.is_finite()) {
                return Err(layer_err(
                    &d.name,
                    format!("clip = {c} is invalid: it needs relu = true and a positive top"),
                ));
            }
        }
        Ok(match d.op {
            OpKind::Conv | OpKind::Fc => {
                let layer = self.layer(d, map)?;
                if self.signed(inputs[0]) {
                    return Err(layer_err(
                        &d.name,
                        "its input can be negative (no ReLU before it); the engine takes unsigned activations",
                    ));
                }
                let out = layer.geometry.out_map();
                self.layers.push(layer);
                node(Op::Layer(self.layers.len() - 1), out, !d.relu)
            }
            OpKind::Add => {
                let other = self.graph.map_of(inputs[1]);
                if other != map {
                    return Err(layer_err(
                        &d.name,
                        format!(
                            "adds a {}x{}x{} map to a {}x{}x{} one; an add needs equal shapes",
                            map.c, map.h, map.w, other.c, other.h, other.w
                        ),
                    ));
                }
                let signed = !d.relu && (self.signed(inputs[0]) || self.signed(inputs[1]));
                node(Op::Add { relu: d.relu }, map, signed)
            }
            OpKind::Concat => {
                if d.relu {
                    return Err(layer_err(&d.name, "relu applies to conv, fc and add nodes"));
                }
                let maps: Vec<Map> = inputs.iter().map(|&s| self.graph.map_of(s)).collect();
                if let Some(m) = maps.iter().find(|m| (m.h, m.w) != (map.h, map.w)) {
                    return Err(layer_err(
                        &d.name,
                        format!(
                            "joins a {}x{} map to a {}x{} one; a concat needs maps of one height and width",
                            map.h, map.w, m.h, m.w
                        ),
                    ));
                }
                let out = Map {
                    c: maps.iter().map(|m| m.c).sum(),
                    ..map
                };
                let signed = inputs.iter().any(|&s| self.signed(s));
                node(Op::Concat, out, signed)
            }
            OpKind::MaxPool | OpKind::AvgPool => {
                let k = d
                    .kernel
                    .ok_or_else(|| layer_err(&d.name, "a pool needs its kernel"))?;
                if d.op == OpKind::AvgPool && d.padding > 0 {
                    return Err(layer_err(&d.name, "avg_pool with padding is not supported"));
                }
                let window = Window {
                    kernel_h: k,
                    kernel_w: k,
                    stride: d.stride.unwrap_or(k),
                    padding: d.padding,
                };
                return self.pool(&d.name, inputs[0], window, d.op == OpKind::MaxPool);
            }
            OpKind::GlobalAvgPool => {
                let window = Window {
                    kernel_h: map.h,
                    kernel_w: map.w,
                    stride: 1,
                    padding: 0,
                };
                return self.pool(&d.name, inputs[0], window, false);
            }
            OpKind::Flatten => node(Op::Flatten, Map::flat(map.len()), self.signed(inputs[0])),
        })
    }

    fn pool(&self, name: &str, input: Source, w: Window, max: bool) -> Result<Node, ModelError> {
        let map = self.graph.map_of(input);
        let out = w.out(map).filter(|o| o.h > 0 && o.w > 0).ok_or_else(|| {
            layer_err(
                name,
                format!(
                    "its {}x{} window is larger than its {}x{} input map with padding {}",
                    w.kernel_h, w.kernel_w, map.h, map.w, w.padding
                ),
            )
        })?;
        Ok(Node {
            name: name.to_string(),
            op: if max { Op::MaxPool(w) } else { Op::AvgPool(w) },
            inputs: vec![input],
            out,
            signed: self.signed(input),
        })
    }

    /// A conv or fc layer on the input map `map`, weights reordered to
    /// (ky, kx, c) per output channel and BatchNorm folded.
    fn layer(&self, d: &NodeDesc, map: Map) -> Result<Layer, ModelError> {
        let tensors = self.tensors;
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
        let kind = if d.op == OpKind::Conv {
            LayerKind::Conv
        } else {
            LayerKind::Fc
        };
        let (cout, cin, kh, kw) = match (kind, w.shape.as_slice()) {
            // An fc layer on a map: its columns are the map flattened
            // in (c, y, x) order, a convolution covering the map.
            (LayerKind::Fc, &[o, i]) if map.h * map.w > 1 && i == map.len() => {
                (o, map.c, map.h, map.w)
            }
            (LayerKind::Fc, &[o, i]) => (o, i, 1, 1),
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
        let geometry = geometry_of(d, kind, map, cout, cin, kh, kw)?;
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
        Ok(Layer {
            name: d.name.clone(),
            kind,
            relu: d.relu,
            clip: d.clip.map(|c| c as f32),
            uncompressed: d.uncompressed,
            out_channels: cout,
            fan_in,
            geometry,
            weights,
            bias,
        })
    }
}

impl Network {
    /// The network as a description without BatchNorm and its tensors
    /// (PyTorch layout: conv (out, in, kh, kw), fc (out, in) with a map's
    /// inputs in (c, y, x) order): what `compress --write-folded` writes for
    /// tools that train the engine's weights. `desc` is the description the
    /// network was built from (its nodes, names and options are kept).
    pub fn folded(&self, desc: &ModelDesc) -> (ModelDesc, BTreeMap<String, Tensor>) {
        let mut tensors = BTreeMap::new();
        let mut shapes = BTreeMap::new();
        for l in &self.layers {
            let g = &l.geometry;
            let (kh, kw, cin) = (g.kernel_h, g.kernel_w, g.in_c);
            let mut data = Vec::with_capacity(l.weights.len());
            for o in 0..l.out_channels {
                for i in 0..cin {
                    for y in 0..kh {
                        for x in 0..kw {
                            data.push(l.weights[o * l.fan_in + (y * kw + x) * cin + i]);
                        }
                    }
                }
            }
            let shape = match l.kind {
                LayerKind::Conv => vec![l.out_channels, cin, kh, kw],
                LayerKind::Fc => vec![l.out_channels, l.fan_in],
            };
            shapes.insert(l.name.clone(), shape.clone());
            tensors.insert(format!("{}.weight", l.name), Tensor { shape, data });
            tensors.insert(
                format!("{}.bias", l.name),
                Tensor {
                    shape: vec![l.out_channels],
                    data: l.bias.clone(),
                },
            );
        }
        let mut folded = desc.clone();
        for nodes in [&mut folded.layer, &mut folded.node] {
            for n in nodes.iter_mut() {
                if let Some(shape) = shapes.get(&n.name) {
                    n.bn = None;
                    n.shape = Some(shape.clone());
                }
            }
        }
        (folded, tensors)
    }
}

/// Input map, kernel and output map of layer `d` (weights (cout, cin, kh,
/// kw)) on the map `map` its input leaves.
fn geometry_of(
    d: &NodeDesc,
    kind: LayerKind,
    map: Map,
    cout: usize,
    cin: usize,
    kh: usize,
    kw: usize,
) -> Result<Geometry, ModelError> {
    let stride = d.stride.unwrap_or(1);
    if kind == LayerKind::Fc && (stride != 1 || d.padding != 0) {
        return Err(layer_err(
            &d.name,
            format!(
                "stride = {stride} / padding = {} apply to conv layers only; an fc layer takes 1 / 0",
                d.padding
            ),
        ));
    }
    if kind == LayerKind::Fc {
        if map.len() != cin * kh * kw {
            return Err(layer_err(
                &d.name,
                format!(
                    "takes {} inputs but its input gives {}",
                    cin * kh * kw,
                    map.len()
                ),
            ));
        }
        return Ok(if kh > 1 || kw > 1 {
            Geometry {
                in_h: map.h,
                in_w: map.w,
                in_c: map.c,
                kernel_h: kh,
                kernel_w: kw,
                ..Geometry::flat(cin * kh * kw, cout)
            }
        } else {
            Geometry::flat(cin, cout)
        });
    }
    if map.c != cin {
        return Err(layer_err(
            &d.name,
            format!("takes {cin} input channels but its input map has {}", map.c),
        ));
    }
    let span = |n: usize, k: usize| (n + 2 * d.padding).checked_sub(k).map(|s| s / stride + 1);
    let (Some(out_h), Some(out_w)) = (span(map.h, kh), span(map.w, kw)) else {
        return Err(layer_err(
            &d.name,
            format!(
                "kernel {kh}x{kw} is larger than its {}x{} input map with padding {}",
                map.h, map.w, d.padding
            ),
        ));
    };
    Ok(Geometry {
        in_h: map.h,
        in_w: map.w,
        in_c: map.c,
        kernel_h: kh,
        kernel_w: kw,
        stride,
        padding: d.padding,
        out_h,
        out_w,
        out_c: cout,
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
        let l = &d.network(&ts).unwrap().layers[0];
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-4);
        assert!(close(&l.weights, &[1.0, 2.0, 3.0, 4.0]), "{:?}", l.weights);
        assert!(close(&l.bias, &[0.0, 0.0]), "{:?}", l.bias);
        assert!(d.unused_tensors(&ts).is_empty());
        ts.insert("fc2.weight".into(), t(&[2, 2], vec![0.0; 4]));
        assert_eq!(d.unused_tensors(&ts), vec!["fc2.weight".to_string()]);
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
            d.network(&ts).unwrap().layers[0].weights,
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
            "input_scale = 1.0\ninput_shape = [1, 1, 2]\n[[layer]]\nname = \"c\"\nkind = \"conv\"\nrelu = true\n[[layer]]\nname = \"f\"\nkind = \"fc\"",
        )
        .unwrap();
        let layers = d.network(&ts).unwrap().layers;
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
                .and_then(|d| d.network(&ts))
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
        .contains("its 3x3 window is larger than its 2x2 input map"));
        assert!(err(&format!(
            "input_scale = 1.0\ninput_shape = [1, 4, 4]\n{conv}stride = 0\n"
        ))
        .contains("stride = 0 is invalid"));
        // A residual add of two different shapes is named.
        assert!(err(&format!(
            "input_scale = 1.0\ninput_shape = [1, 4, 4]\n{}",
            "[[node]]\nname = \"c\"\nop = \"conv\"\nrelu = true\n[[node]]\nname = \"s\"\nop = \"add\"\ninputs = [\"c\", \"input\"]\n"
        ))
        .contains("adds a 1x2x2 map to a 1x4x4 one"));
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
            d.network(&ts).unwrap_err().to_string(),
            "layer `fc1`: `fc1.weight` has shape [3, 4], the description says [4, 3]"
        );
        let chain = ModelDesc::from_toml(
            "input_scale = 1.0\n[[layer]]\nname = \"fc1\"\nkind = \"fc\"\n[[layer]]\nname = \"fc2\"\nkind = \"fc\"\n",
        )
        .unwrap();
        assert_eq!(
            chain.network(&ts).unwrap_err().to_string(),
            "layer `fc2`: takes 5 inputs but its input gives 3"
        );
        assert!(ModelDesc::infer(&ts, 1.0)
            .unwrap_err()
            .to_string()
            .contains("`fc1.weight` [3, 4] does not feed `fc2.weight` [2, 5]"));
    }

    #[test]
    fn names_holding_a_newline_are_printed_escaped_on_one_line() {
        let mut ts = BTreeMap::new();
        ts.insert("fc1.weight".into(), t(&[3, 4], vec![0.0; 12]));
        let named = ModelDesc::from_toml(
            "input_scale = 1.0\n[[layer]]\nname = \"fc\\n1\"\nkind = \"fc\"\n",
        )
        .unwrap();
        assert_eq!(
            named.network(&ts).unwrap_err().to_string(),
            "layer `fc\\n1`: no tensor `fc\\n1.weight` in the weights file"
        );
        let fed = ModelDesc::from_toml(
            "input_scale = 1.0\n[[layer]]\nname = \"fc1\"\nkind = \"fc\"\ninputs = [\"x\\ny\"]\n",
        )
        .unwrap();
        assert_eq!(
            fed.network(&ts).unwrap_err().to_string(),
            "layer `fc1`: input `x\\ny` is not an earlier node (or `input`)"
        );
    }
}
