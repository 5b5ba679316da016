//! The selected nodes of an ONNX graph, in order: constants are folded
//! (`constants`), operators on feature maps become description nodes.
//! Each feature-map value carries its ONNX shape (batch 1), so `Shape`
//! chains fold and reshapes can be checked to be flattens.

use super::constants::{self as k, Const, Data};
use super::select;
use super::{Imported, OnnxError, Options, SUPPORTED};
use crate::diagnostics::printable;
use crate::network::model::{ModelDesc, NodeDesc, OpKind};
use crate::network::tensors::Tensor;
use onnx_rs::ast::{Attribute, Dimension, Graph, Node, TensorProto, TypeValue};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The largest padding, stride or window taken (far past any real network;
/// it keeps map arithmetic on corrupt attributes from overflowing).
const MAX_PAD: i64 = 1 << 16;

/// Operators folded when all their inputs are constants.
const FOLDABLE: &[&str] = &[
    "Identity",
    "Dropout",
    "Cast",
    "ConstantOfShape",
    "Shape",
    "Gather",
    "Unsqueeze",
    "Squeeze",
    "Concat",
    "Slice",
    "Reshape",
    "Flatten",
    "Transpose",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Sum",
];
/// Operators taken on feature maps.
const ON_MAPS: &[&str] = &[
    "Conv",
    "Gemm",
    "MatMul",
    "BatchNormalization",
    "Relu",
    "Clip",
    "Add",
    "Sum",
    "Concat",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "Flatten",
    "Reshape",
    "Squeeze",
    "Unsqueeze",
    "Pad",
    "Identity",
    "Dropout",
    "Cast",
    "Scaler",
    "Transpose",
];

/// `(x - offset) * scale` per feature, not yet folded into the layer that
/// reads it (scikit-learn's `Scaler`).
#[derive(Clone, Debug)]
struct Affine {
    offset: Vec<f32>,
    scale: Vec<f32>,
}

/// A feature map: the description node producing it, its ONNX shape
/// (batch 1), zero padding a `Pad` added for the next Conv, and a pending
/// affine map.
#[derive(Clone, Debug)]
struct MapValue {
    node: String,
    shape: Vec<usize>,
    pad: usize,
    affine: Option<Affine>,
    /// A channel shuffle not yet folded (pure data movement): channel
    /// (or, after a flatten, feature) `c` of this ONNX value is channel
    /// `perm[c]` of the description node's output. The layer that reads
    /// the map takes its weights' inputs in that order instead.
    perm: Option<Vec<usize>>,
}

#[derive(Clone, Debug)]
enum Value {
    Const(Const),
    Map(MapValue),
}

struct Importer<'a> {
    path: PathBuf,
    dir: &'a Path,
    init: BTreeMap<&'a str, &'a TensorProto<'a>>,
    values: BTreeMap<String, Value>,
    /// ONNX value name -> how many selected nodes read it.
    readers: BTreeMap<String, usize>,
    nodes: Vec<NodeDesc>,
    tensors: BTreeMap<String, Tensor>,
    notes: Vec<String>,
}

fn blank(name: &str, op: OpKind) -> NodeDesc {
    NodeDesc::new(name, op)
}

pub(super) fn lower(
    path: &Path,
    dir: &Path,
    graph: &Graph,
    options: &Options,
) -> Result<Imported, OnnxError> {
    let graph_err = |reason: String| OnnxError::Graph {
        path: path.into(),
        reason: printable(&reason),
    };
    let sel = select::select(graph, options.output.as_deref()).map_err(graph_err)?;
    let live: Vec<&Node> = graph
        .node
        .iter()
        .zip(&sel.live)
        .filter(|(_, &l)| l)
        .map(|(n, _)| n)
        .collect();
    let mut unsupported: BTreeMap<&str, usize> = BTreeMap::new();
    for n in &live {
        let op = n.op_type.as_str();
        if op != "Constant" && !FOLDABLE.contains(&op) && !ON_MAPS.contains(&op) {
            *unsupported.entry(op).or_default() += 1;
        }
    }
    if !unsupported.is_empty() {
        let list: Vec<String> = unsupported
            .iter()
            .map(|(op, c)| format!("{op} x{c}"))
            .collect();
        return Err(OnnxError::Unsupported {
            path: path.into(),
            list: list.join(", "),
            supported: SUPPORTED,
        });
    }
    let mut imp = Importer {
        path: path.into(),
        dir,
        init: graph.initializer.iter().map(|t| (t.name(), t)).collect(),
        values: BTreeMap::new(),
        readers: BTreeMap::new(),
        nodes: vec![],
        tensors: BTreeMap::new(),
        notes: sel.notes,
    };
    for n in &live {
        for i in n.input.iter().filter(|i| !i.is_empty()) {
            *imp.readers.entry(i.to_string()).or_default() += 1;
        }
    }
    let input = graph
        .input
        .iter()
        .find(|v| !imp.init.contains_key(v.name))
        .ok_or_else(|| imp.graph_err("it has no input besides its initializers"))?;
    let shape =
        input_shape(input.r#type.as_ref().and_then(|t| t.value.as_ref())).ok_or_else(|| {
            imp.graph_err(&format!(
                "input `{}` has no fixed (N, C, H, W) or (N, F) shape",
                input.name
            ))
        })?;
    k::count(&shape).map_err(|r| imp.graph_err(&format!("input `{}`: {r}", input.name)))?;
    let input_shape = if shape.len() == 4 {
        shape[1..].to_vec()
    } else {
        vec![shape[1], 1, 1]
    };
    imp.values.insert(
        input.name.to_string(),
        Value::Map(MapValue {
            node: "input".into(),
            shape,
            pad: 0,
            affine: None,
            perm: None,
        }),
    );
    for n in &live {
        imp.node(n)?;
    }
    let out = match imp.values.get(&sel.output) {
        Some(Value::Map(m)) => m.clone(),
        _ => {
            return Err(imp.graph_err(&format!(
                "its output `{}` is not computed from the network input",
                sel.output
            )))
        }
    };
    if imp.nodes.is_empty() {
        return Err(imp.graph_err("the graph has no layers"));
    }
    if out.perm.is_some() {
        return Err(imp.graph_err(&format!(
            "its output `{}` is channel-shuffled; cimpool folds a shuffle into the layer that reads it",
            sel.output
        )));
    }
    if imp.nodes.last().map(|d| &d.name) != Some(&out.node) || out.affine.is_some() || out.pad > 0 {
        return Err(imp.graph_err(&format!(
            "its output `{}` is not the last operation on the network's path",
            sel.output
        )));
    }
    Ok(Imported {
        description: ModelDesc {
            input_scale: options.input_scale,
            input_shape: Some(input_shape),
            layer: vec![],
            node: imp.nodes,
        },
        tensors: imp.tensors,
        notes: imp.notes,
    })
}

/// The (N, C, H, W) or (N, F) shape of the input, batch 1 (a symbolic batch
/// dimension is fine; the others must be fixed).
fn input_shape(t: Option<&TypeValue>) -> Option<Vec<usize>> {
    let TypeValue::Tensor(t) = t? else {
        return None;
    };
    let dims: Vec<Option<usize>> = t
        .shape
        .as_ref()?
        .dim
        .iter()
        .map(|d| match d.value {
            Dimension::Value(v) if v > 0 => Some(v as usize),
            _ => None,
        })
        .collect();
    match dims.as_slice() {
        [_, Some(c), Some(h), Some(w)] => Some(vec![1, *c, *h, *w]),
        [_, Some(f)] => Some(vec![1, *f]),
        _ => None,
    }
}

fn attr<'n>(n: &'n Node, name: &str) -> Option<&'n Attribute<'n>> {
    n.attribute.iter().find(|a| a.name == name)
}

fn ints(n: &Node, name: &str, default: &[i64]) -> Vec<i64> {
    attr(n, name)
        .map(|a| a.ints.clone())
        .unwrap_or_else(|| default.to_vec())
}

fn int(n: &Node, name: &str, default: i64) -> i64 {
    attr(n, name).map_or(default, |a| a.i)
}

fn node_name(n: &Node) -> String {
    let base = if n.name.is_empty() {
        n.output.first().copied().unwrap_or("node")
    } else {
        n.name
    };
    base.trim_start_matches('/').replace('/', ".")
}

/// ONNX float types of `Cast`'s `to`: float, float16, double, bfloat16.
fn casts_to_float(to: i64) -> bool {
    matches!(to, 1 | 10 | 11 | 16)
}

impl<'a> Importer<'a> {
    fn graph_err(&self, reason: &str) -> OnnxError {
        OnnxError::Graph {
            path: self.path.clone(),
            reason: printable(reason),
        }
    }

    fn err(&self, n: &Node, reason: impl Into<String>) -> OnnxError {
        OnnxError::Node {
            path: self.path.clone(),
            node: printable(&node_name(n)),
            op: printable(n.op_type.as_str()),
            reason: printable(&reason.into()),
        }
    }

    /// The value named `v`: computed earlier, or an initializer (read now).
    fn value(&mut self, n: &Node, v: &str) -> Result<Value, OnnxError> {
        if let Some(x) = self.values.get(v) {
            return Ok(x.clone());
        }
        if let Some(t) = self.init.get(v) {
            let c =
                k::read(t, self.dir).map_err(|r| self.err(n, format!("initializer `{v}`: {r}")))?;
            self.values.insert(v.to_string(), Value::Const(c.clone()));
            return Ok(Value::Const(c));
        }
        Err(self.err(n, format!("reads `{v}`, which no earlier node produces")))
    }

    fn constant(&mut self, n: &Node, v: &str) -> Result<Const, OnnxError> {
        match self.value(n, v)? {
            Value::Const(c) => Ok(c),
            Value::Map(_) => Err(self.err(
                n,
                format!("`{v}` is computed from the network input; cimpool needs it constant"),
            )),
        }
    }

    fn map(&mut self, n: &Node, v: &str) -> Result<MapValue, OnnxError> {
        let m = self.view(n, v)?;
        if m.shape.len() == 5 {
            return Err(self.err(
                n,
                format!("its input is a 5-D view {:?} of a feature map: cimpool takes one only in a channel shuffle (Reshape to (N, g, C/g, H, W), Transpose (0, 2, 1, 3, 4), Reshape back)", m.shape),
            ));
        }
        Ok(m)
    }

    /// A feature map, or a 5-D view of one inside a channel shuffle.
    fn view(&mut self, n: &Node, v: &str) -> Result<MapValue, OnnxError> {
        match self.value(n, v)? {
            Value::Map(m) => Ok(m),
            Value::Const(_) => Err(self.err(n, format!("`{v}` is a constant, not a feature map"))),
        }
    }

    /// Refuses a map with a pending channel shuffle where `what` cannot
    /// take one.
    fn unshuffled(&self, n: &Node, m: &MapValue, what: &str) -> Result<(), OnnxError> {
        if m.perm.is_some() {
            return Err(self.err(
                n,
                format!("{what} after a channel shuffle is not supported: cimpool folds a shuffle into the Conv, Gemm or MatMul that reads it (through ReLU, pooling, Pad, Add of equally shuffled maps and flatten)"),
            ));
        }
        Ok(())
    }

    /// Sets the pending shuffle of the value node `n` just produced.
    fn carry_perm(&mut self, n: &Node, perm: Option<Vec<usize>>) {
        if let Some(Value::Map(m)) = self.values.get_mut(n.output[0]) {
            m.perm = perm;
        }
    }

    /// A map read by an operator that takes no pending Pad or Scaler.
    fn plain_map(&mut self, n: &Node, v: &str) -> Result<MapValue, OnnxError> {
        let m = self.map(n, v)?;
        if m.pad > 0 {
            return Err(self.err(n, "a Pad is supported only right before a Conv"));
        }
        if m.affine.is_some() {
            return Err(self.err(
                n,
                "a Scaler is supported only right before a fully connected layer (Gemm / MatMul)",
            ));
        }
        Ok(m)
    }

    fn set(&mut self, n: &Node, v: Value) {
        self.values.insert(n.output[0].to_string(), v);
    }

    fn weight(&mut self, n: &Node, v: &str) -> Result<Tensor, OnnxError> {
        let c = self.constant(n, v)?;
        if matches!(c.data, Data::I(_)) {
            return Err(self.err(n, format!("`{v}` holds integers, not float weights")));
        }
        Ok(Tensor {
            shape: c.shape.clone(),
            data: c.to_f32(),
        })
    }

    fn desc_mut(&mut self, name: &str) -> Option<&mut NodeDesc> {
        self.nodes.iter_mut().find(|d| d.name == name)
    }

    /// Appends description node `d` reading `inputs`; the node's first
    /// output becomes a map of `shape`.
    fn push(&mut self, n: &Node, mut d: NodeDesc, inputs: Vec<String>, shape: Vec<usize>) {
        d.inputs = Some(inputs);
        self.set(
            n,
            Value::Map(MapValue {
                node: d.name.clone(),
                shape,
                pad: 0,
                affine: None,
                perm: None,
            }),
        );
        self.nodes.push(d);
    }

    fn unique_name(&self, base: String) -> String {
        if self.nodes.iter().any(|d| d.name == base) || base == "input" {
            format!("{base}_{}", self.nodes.len())
        } else {
            base
        }
    }

    /// A name for a layer: its weight initializer's prefix (`layer1.0.conv1`
    /// for `layer1.0.conv1.weight`), else the node's own name.
    fn layer_name(&self, n: &Node, weight: &str) -> String {
        let name = weight
            .strip_suffix(".weight")
            .map(str::to_string)
            .unwrap_or_else(|| node_name(n));
        self.unique_name(name)
    }

    fn node(&mut self, n: &Node) -> Result<(), OnnxError> {
        let op = n.op_type.as_str();
        if n.output.is_empty() || (op != "Constant" && n.input.iter().all(|i| i.is_empty())) {
            return Err(self.err(
                n,
                format!(
                    "a node needs at least one input and one output (it has {} and {})",
                    n.input.len(),
                    n.output.len()
                ),
            ));
        }
        if op == "Constant" {
            let c = k::constant_node(&n.attribute, self.dir).map_err(|r| self.err(n, r))?;
            self.set(n, Value::Const(c));
            return Ok(());
        }
        let mut inputs = vec![];
        for i in &n.input {
            inputs.push(if i.is_empty() {
                None
            } else {
                Some(self.value(n, i)?)
            });
        }
        let all_const = inputs
            .iter()
            .flatten()
            .all(|v| matches!(v, Value::Const(_)));
        if FOLDABLE.contains(&op) && all_const {
            let c: Vec<Option<&Const>> = inputs
                .iter()
                .map(|v| match v {
                    Some(Value::Const(c)) => Some(c),
                    _ => None,
                })
                .collect();
            let folded = self.fold(n, &c).map_err(|r| self.err(n, r))?;
            self.set(n, Value::Const(folded));
            return Ok(());
        }
        if op == "Shape" {
            let m = self.view(n, n.input[0])?;
            let shape = Const::ints(
                vec![m.shape.len()],
                m.shape.iter().map(|&d| d as i64).collect(),
            );
            let rank = m.shape.len() as i64;
            let start = int(n, "start", 0);
            let end = attr(n, "end").map_or(rank, |a| a.i);
            let s = k::slice(&shape, &[start], &[end], &[0], &[]).map_err(|r| self.err(n, r))?;
            self.set(n, Value::Const(s));
            return Ok(());
        }
        match op {
            "Conv" => self.conv(n),
            "Gemm" | "MatMul" => self.fc(n),
            "BatchNormalization" => self.batch_norm(n),
            "Relu" => self.activation(n, None),
            "Clip" => self.clip(n),
            "Add" | "Sum" => self.add(n),
            "Concat" => self.concat(n),
            "MaxPool" | "AveragePool" => self.pool(n),
            "GlobalAveragePool" => {
                let m = self.plain_map(n, n.input[0])?;
                if m.shape.len() != 4 {
                    return Err(self.err(n, format!("input of shape {:?} is not a (N, C, H, W) map", m.shape)));
                }
                let name = self.unique_name(node_name(n));
                let shape = vec![1, m.shape[1], 1, 1];
                self.push(n, blank(&name, OpKind::GlobalAvgPool), vec![m.node], shape);
                self.carry_perm(n, m.perm);
                Ok(())
            }
            "Flatten" | "Reshape" | "Squeeze" | "Unsqueeze" => self.reshape(n),
            "Transpose" => self.shuffle(n),
            "Pad" => self.pad(n),
            "Identity" | "Dropout" | "Cast" => {
                if op == "Cast" && !casts_to_float(int(n, "to", 1)) {
                    return Err(self.err(n, "a Cast of a feature map to a non-float type"));
                }
                let m = self.map(n, n.input[0])?;
                self.set(n, Value::Map(m));
                Ok(())
            }
            "Scaler" => self.scaler(n),
            _ => Err(self.err(
                n,
                format!("`{op}` on a feature map is not supported (only constant arithmetic folds); cimpool imports {SUPPORTED}"),
            )),
        }
    }

    /// Constant folding of one node.
    fn fold(&self, n: &Node, c: &[Option<&Const>]) -> Result<Const, String> {
        let op = n.op_type.as_str();
        let a = c
            .first()
            .copied()
            .flatten()
            .ok_or("its first input is missing")?;
        let opt = |i: usize| c.get(i).copied().flatten();
        Ok(match op {
            "Identity" | "Dropout" => a.clone(),
            "Cast" => {
                if casts_to_float(int(n, "to", 1)) {
                    Const::floats(a.shape.clone(), a.to_f32())
                } else {
                    Const::ints(a.shape.clone(), a.to_i64())
                }
            }
            "ConstantOfShape" => {
                let value = attr(n, "value")
                    .and_then(|v| v.t.as_ref())
                    .map(|t| k::read(t, self.dir))
                    .transpose()?;
                k::constant_of_shape(a, value.as_ref())?
            }
            "Shape" => Const::ints(
                vec![a.shape.len()],
                a.shape.iter().map(|&d| d as i64).collect(),
            ),
            "Gather" => k::gather(a, opt(1).ok_or("Gather needs indices")?, int(n, "axis", 0))?,
            "Unsqueeze" | "Squeeze" => {
                let axes = match opt(1) {
                    Some(x) => x.to_i64(),
                    None => ints(n, "axes", &[]),
                };
                let shape = if op == "Unsqueeze" {
                    k::unsqueeze_shape(&a.shape, &axes)?
                } else {
                    k::squeeze_shape(&a.shape, &axes)?
                };
                Const {
                    shape,
                    data: a.data.clone(),
                }
            }
            "Concat" => {
                let parts: Vec<&Const> = c.iter().flatten().copied().collect();
                k::concat(&parts, int(n, "axis", 0))?
            }
            "Slice" => {
                let get = |i: usize, name: &str| match opt(i) {
                    Some(x) => x.to_i64(),
                    None => ints(n, name, &[]),
                };
                let (starts, ends) = (get(1, "starts"), get(2, "ends"));
                let axes = get(3, "axes");
                let steps = opt(4).map(|x| x.to_i64()).unwrap_or_default();
                k::slice(a, &starts, &ends, &axes, &steps)?
            }
            "Reshape" => {
                let target = opt(1).ok_or("Reshape needs a shape")?.to_i64();
                let shape = k::reshape_target(&a.shape, &target, int(n, "allowzero", 0) != 0)?;
                Const {
                    shape,
                    data: a.data.clone(),
                }
            }
            "Flatten" => {
                let ax = k::axis(int(n, "axis", 1), a.shape.len() + 1)?;
                let outer: usize = a.shape[..ax].iter().product();
                Const {
                    shape: vec![outer, a.len() / outer.max(1)],
                    data: a.data.clone(),
                }
            }
            "Transpose" => k::transpose(a, &ints(n, "perm", &[]))?,
            "Add" | "Sub" | "Mul" | "Div" => k::binary(a, opt(1).ok_or("needs two inputs")?, op)?,
            "Sum" => {
                let mut acc = a.clone();
                for x in c.iter().skip(1).flatten() {
                    acc = k::binary(&acc, x, "Add")?;
                }
                acc
            }
            _ => unreachable!("FOLDABLE lists the folded operators"),
        })
    }

    /// Symmetric padding from `pads` / `auto_pad` for a `kernel` and `stride`.
    fn padding(&self, n: &Node, kernel: usize, stride: usize) -> Result<usize, OnnxError> {
        let auto = attr(n, "auto_pad").map(|a| String::from_utf8_lossy(a.s).to_string());
        match auto.as_deref() {
            None | Some("NOTSET") | Some("") => {}
            Some("VALID") => return Ok(0),
            Some("SAME_UPPER") | Some("SAME_LOWER") if stride == 1 && kernel % 2 == 1 => {
                return Ok((kernel - 1) / 2)
            }
            Some(a) => {
                return Err(self.err(
                    n,
                    format!("auto_pad {a} with kernel {kernel} and stride {stride} pads unevenly; cimpool takes equal padding"),
                ))
            }
        }
        let pads = ints(n, "pads", &[0, 0, 0, 0]);
        if pads
            .iter()
            .any(|&p| p != pads[0] || !(0..=MAX_PAD).contains(&p))
        {
            return Err(self.err(
                n,
                format!("pads {pads:?}: cimpool takes equal padding on every side"),
            ));
        }
        Ok(pads.first().copied().unwrap_or(0) as usize)
    }

    fn stride(&self, n: &Node) -> Result<usize, OnnxError> {
        let s = ints(n, "strides", &[1, 1]);
        if s.len() != 2 || s[0] != s[1] || !(1..=MAX_PAD).contains(&s[0]) {
            return Err(self.err(n, format!("strides {s:?}: cimpool takes equal strides")));
        }
        Ok(s[0] as usize)
    }

    fn conv(&mut self, n: &Node) -> Result<(), OnnxError> {
        if n.input.len() < 2 {
            return Err(self.err(n, "a Conv needs an input and weights"));
        }
        let m = self.map(n, n.input[0])?;
        if m.affine.is_some() || m.shape.len() != 4 {
            return Err(self.err(
                n,
                format!(
                    "its input of shape {:?} is not a plain (N, C, H, W) map",
                    m.shape
                ),
            ));
        }
        let mut w = self.weight(n, n.input[1])?;
        if w.shape.len() != 4 || w.shape[2] != w.shape[3] {
            return Err(self.err(
                n,
                format!("weights {:?}: cimpool takes square 2-D kernels", w.shape),
            ));
        }
        if ints(n, "dilations", &[1, 1]).iter().any(|&d| d != 1) {
            return Err(self.err(n, "dilated convolutions are not supported"));
        }
        let channels = m.shape[1];
        let groups = int(n, "group", 1);
        let (out_ch, kk) = (w.shape[0], w.shape[2]);
        if groups < 1
            || groups as usize > channels
            || channels % groups as usize != 0
            || out_ch % groups as usize != 0
            || w.shape[1].checked_mul(groups as usize) != Some(channels)
        {
            return Err(self.err(
                n,
                format!(
                    "weights {:?} with group = {groups} do not fit an input of {channels} channels",
                    w.shape
                ),
            ));
        }
        let name = self.layer_name(n, n.input[1]);
        if groups > 1 {
            w = block_diagonal(&w, groups as usize);
            self.notes.push(format!(
                "note: `{name}` is a grouped convolution ({groups} groups): it runs on the engine as a dense one with block-diagonal weights ({groups} times its multiply-accumulates)"
            ));
        }
        if let Some(perm) = &m.perm {
            // ONNX input channel c is channel perm[c] of the map the
            // description node reads: the weights take it there.
            w = permute_inputs(&w, perm);
        }
        let stride = self.stride(n)?;
        let padding = self.padding(n, kk, stride)? + m.pad;
        let (h, wd) = (m.shape[2] - 2 * m.pad, m.shape[3] - 2 * m.pad);
        let span = |x: usize| (x + 2 * padding).checked_sub(kk).map(|s| s / stride + 1);
        let (Some(oh), Some(ow)) = (span(h), span(wd)) else {
            return Err(self.err(
                n,
                format!("its {kk}x{kk} kernel is larger than its {h}x{wd} input"),
            ));
        };
        let mut d = blank(&name, OpKind::Conv);
        d.shape = Some(w.shape.clone());
        d.stride = Some(stride);
        d.padding = padding;
        self.tensors.insert(format!("{name}.weight"), w);
        if let Some(b) = n.input.get(2).filter(|b| !b.is_empty()) {
            let b = self.weight(n, b)?;
            self.tensors.insert(format!("{name}.bias"), flat(b));
        }
        self.push(n, d, vec![m.node], vec![1, out_ch, oh, ow]);
        Ok(())
    }

    fn fc(&mut self, n: &Node) -> Result<(), OnnxError> {
        if n.input.len() < 2 {
            return Err(self.err(n, "needs an input and weights"));
        }
        let m = self.map(n, n.input[0])?;
        if m.pad > 0 {
            return Err(self.err(n, "a Pad is supported only right before a Conv"));
        }
        let features: usize = m.shape[1..].iter().product();
        if m.shape.len() != 2 && m.shape[2..].iter().any(|&d| d != 1) {
            return Err(self.err(
                n,
                format!(
                    "its input of shape {:?} is not flat: flatten it first",
                    m.shape
                ),
            ));
        }
        let mut w = self.weight(n, n.input[1])?;
        if w.shape.len() != 2 {
            return Err(self.err(n, format!("weights {:?}: a 2-D matrix is needed", w.shape)));
        }
        let gemm = n.op_type.as_str() == "Gemm";
        let (mut alpha, mut beta) = (1.0f32, 1.0f32);
        if gemm {
            if int(n, "transA", 0) != 0 {
                return Err(self.err(n, "only Gemm with transA = 0 is supported"));
            }
            alpha = attr(n, "alpha").map_or(1.0, |a| a.f);
            beta = attr(n, "beta").map_or(1.0, |a| a.f);
        }
        // cimpool keeps (out, in) like PyTorch's Linear: MatMul and Gemm
        // without transB carry (in, out).
        if !gemm || int(n, "transB", 0) == 0 {
            let (rows, cols) = (w.shape[0], w.shape[1]);
            let data = (0..cols)
                .flat_map(|o| (0..rows).map(move |i| (i, o)))
                .map(|(i, o)| w.data[i * cols + o])
                .collect();
            w = Tensor {
                shape: vec![cols, rows],
                data,
            };
        }
        if w.shape[1] != features {
            return Err(self.err(
                n,
                format!(
                    "weights {:?} take {} features, its input has {features}",
                    w.shape, w.shape[1]
                ),
            ));
        }
        w.data.iter_mut().for_each(|v| *v *= alpha);
        let out = w.shape[0];
        let mut bias = vec![0f32; out];
        let mut has_bias = false;
        if let Some(c) = n.input.get(2).filter(|c| gemm && !c.is_empty()) {
            let b = self.weight(n, c)?;
            bias = broadcast(&b, out).ok_or_else(|| {
                self.err(n, format!("bias of shape {:?} for {out} outputs", b.shape))
            })?;
            bias.iter_mut().for_each(|v| *v *= beta);
            has_bias = true;
        }
        if let Some(a) = &m.affine {
            // W ((x - o) s) + b = (W s) x + (b - W (o s)).
            for (row, b) in w.data.chunks_exact_mut(features).zip(bias.iter_mut()) {
                for (i, v) in row.iter_mut().enumerate() {
                    *b -= *v * a.scale[i] * a.offset[i];
                    *v *= a.scale[i];
                }
            }
            has_bias = true;
        }
        if let Some(perm) = &m.perm {
            w = permute_inputs(&w, perm);
        }
        let name = self.layer_name(n, n.input[1]);
        let mut d = blank(&name, OpKind::Fc);
        d.shape = Some(w.shape.clone());
        self.tensors.insert(format!("{name}.weight"), w);
        if has_bias {
            self.tensors.insert(
                format!("{name}.bias"),
                Tensor {
                    shape: vec![out],
                    data: bias,
                },
            );
        }
        self.push(n, d, vec![m.node], vec![1, out]);
        Ok(())
    }

    /// The conv / fc producing map `v`, when nothing else reads it.
    fn sole_layer(&mut self, n: &Node, v: &str) -> Result<String, OnnxError> {
        let src = self.plain_map(n, v)?.node;
        let layer = self
            .nodes
            .iter()
            .find(|d| d.name == src && matches!(d.op, OpKind::Conv | OpKind::Fc));
        match layer {
            Some(d) if self.readers.get(v).copied().unwrap_or(0) == 1 => Ok(d.name.clone()),
            Some(_) => Err(self.err(
                n,
                format!("`{v}` is also read elsewhere, so this cannot fold into its layer"),
            )),
            None => Err(self.err(
                n,
                format!("reads `{v}`, which no conv or fc layer produces (cimpool folds this into the layer before it)"),
            )),
        }
    }

    fn batch_norm(&mut self, n: &Node) -> Result<(), OnnxError> {
        if n.input.len() < 5 {
            return Err(self.err(n, "needs scale, bias, mean and variance"));
        }
        let layer = self.sole_layer(n, n.input[0])?;
        if self.desc_mut(&layer).expect("found").bn.is_some()
            || self.desc_mut(&layer).expect("found").relu
        {
            return Err(self.err(
                n,
                format!("layer `{layer}` already has a BatchNormalization or activation"),
            ));
        }
        let shuffled = self.map(n, n.input[0])?;
        self.unshuffled(n, &shuffled, "a BatchNormalization")?;
        let eps = attr(n, "epsilon").map_or(1e-5, |a| a.f);
        let bn = format!("{layer}.bn");
        let names = ["weight", "bias", "running_mean", "running_var"];
        for (i, s) in names.iter().enumerate() {
            let mut t = flat(self.weight(n, n.input[i + 1])?);
            if *s == "running_var" {
                // cimpool folds with eps = 1e-5: carry this node's epsilon.
                t.data.iter_mut().for_each(|v| *v += eps - 1e-5);
            }
            self.tensors.insert(format!("{bn}.{s}"), t);
        }
        self.desc_mut(&layer).expect("found above").bn = Some(bn);
        let m = self.map(n, n.input[0])?;
        self.set(n, Value::Map(m));
        Ok(())
    }

    /// `Clip(x, 0, max)`: a ReLU with its top at `max` (ReLU6 for 6).
    fn clip(&mut self, n: &Node) -> Result<(), OnnxError> {
        let bound = |imp: &mut Self, i: usize, name: &str| -> Result<Option<f32>, OnnxError> {
            if let Some(v) = n.input.get(i).filter(|v| !v.is_empty()) {
                let c = imp.constant(n, v)?;
                return Ok(c.to_f32().first().copied());
            }
            Ok(attr(n, name).map(|a| a.f))
        };
        let (lo, hi) = (bound(self, 1, "min")?, bound(self, 2, "max")?);
        if lo != Some(0.0) {
            return Err(self.err(
                n,
                format!("min {lo:?}: cimpool takes a Clip from 0 (a ReLU with a top)"),
            ));
        }
        match hi {
            Some(h) if !(h > 0.0 && h.is_finite()) => {
                Err(self.err(n, format!("max {h}: it must be a positive number")))
            }
            _ => self.activation(n, hi.filter(|h| h.is_finite())),
        }
    }

    /// Relu (and Clip) fold into the layer or add before them; a max pool
    /// in between commutes with them (max(relu(a), relu(b)) = relu(max(a, b))).
    fn activation(&mut self, n: &Node, top: Option<f32>) -> Result<(), OnnxError> {
        let m = self.plain_map(n, n.input[0])?;
        let mut target = m.node.clone();
        loop {
            let Some(d) = self.nodes.iter().find(|d| d.name == target) else {
                return Err(self.err(n, "an activation on the network input is not supported"));
            };
            match d.op {
                OpKind::Conv | OpKind::Fc => break,
                OpKind::Add if top.is_none() => break,
                OpKind::MaxPool => {
                    target = d.inputs.as_ref().expect("imported nodes name inputs")[0].clone()
                }
                op => {
                    return Err(self.err(
                        n,
                        format!("this activation after a {op:?} node is not supported"),
                    ))
                }
            }
        }
        if self.readers.get(n.input[0]).copied().unwrap_or(0) != 1 {
            return Err(self.err(
                n,
                format!("`{}` is also read before its activation", n.input[0]),
            ));
        }
        let d = self.desc_mut(&target).expect("found above");
        if d.relu {
            return Err(self.err(n, format!("`{target}` already has an activation")));
        }
        d.relu = true;
        d.clip = top.map(f64::from);
        self.set(n, Value::Map(m));
        Ok(())
    }

    fn add(&mut self, n: &Node) -> Result<(), OnnxError> {
        let mut maps = vec![];
        let mut consts = vec![];
        for i in n.input.iter().filter(|i| !i.is_empty()) {
            match self.value(n, i)? {
                Value::Map(_) => maps.push(*i),
                Value::Const(c) => consts.push(c),
            }
        }
        if n.op_type.as_str() == "Add" && maps.len() + consts.len() != 2 {
            return Err(self.err(n, "an Add of two inputs is needed"));
        }
        // A constant operand is a layer's bias (MatMul + Add).
        if !consts.is_empty() {
            if maps.len() != 1 || consts.len() != 1 {
                return Err(self.err(n, "only a constant bias can be added to one feature map"));
            }
            let layer = self.sole_layer(n, maps[0])?;
            if self.desc_mut(&layer).expect("found").bn.is_some()
                || self.desc_mut(&layer).expect("found").relu
            {
                return Err(self.err(
                    n,
                    format!("a bias after `{layer}`'s BatchNormalization or activation"),
                ));
            }
            let out = self.map(n, maps[0])?;
            let channels = out.shape[1];
            let b = Tensor {
                shape: consts[0].shape.clone(),
                data: consts[0].to_f32(),
            };
            let b = broadcast(&b, channels).ok_or_else(|| {
                self.err(
                    n,
                    format!(
                        "a constant of shape {:?} is not a bias of {channels} channels",
                        consts[0].shape
                    ),
                )
            })?;
            let key = format!("{layer}.bias");
            let t = self.tensors.entry(key).or_insert_with(|| Tensor {
                shape: vec![channels],
                data: vec![0.0; channels],
            });
            t.data.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
            self.set(n, Value::Map(out));
            return Ok(());
        }
        let mut acc = self.plain_map(n, maps[0])?;
        for (k, v) in maps.iter().enumerate().skip(1) {
            let b = self.plain_map(n, v)?;
            if b.perm != acc.perm {
                // Equally shuffled maps add channel by channel; others would
                // need the shuffle carried out.
                self.unshuffled(n, &b, "an Add of maps shuffled differently")?;
                self.unshuffled(n, &acc, "an Add of maps shuffled differently")?;
            }
            if b.shape != acc.shape {
                return Err(self.err(
                    n,
                    format!(
                        "adds maps of shapes {:?} and {:?}; an add needs equal shapes",
                        acc.shape, b.shape
                    ),
                ));
            }
            let base = node_name(n);
            let name = self.unique_name(if maps.len() > 2 {
                format!("{base}.{k}")
            } else {
                base
            });
            let mut d = blank(&name, OpKind::Add);
            d.inputs = Some(vec![acc.node.clone(), b.node]);
            self.nodes.push(d);
            acc.node = name;
        }
        self.set(n, Value::Map(acc));
        Ok(())
    }

    fn concat(&mut self, n: &Node) -> Result<(), OnnxError> {
        let mut parts = vec![];
        for i in n.input.iter().filter(|i| !i.is_empty()) {
            let p = self.plain_map(n, i)?;
            self.unshuffled(n, &p, "a Concat")?;
            parts.push(p);
        }
        let rank = parts[0].shape.len();
        let ax = k::axis(int(n, "axis", 1), rank).map_err(|r| self.err(n, r))?;
        let same = |p: &MapValue| {
            p.shape.len() == rank && (0..rank).all(|d| d == ax || p.shape[d] == parts[0].shape[d])
        };
        if ax != 1 || !parts.iter().all(same) {
            let shapes: Vec<_> = parts.iter().map(|p| p.shape.clone()).collect();
            return Err(self.err(
                n,
                format!("a Concat of {shapes:?} along axis {ax}: cimpool joins maps of one size along channels (axis 1)"),
            ));
        }
        let mut shape = parts[0].shape.clone();
        shape[1] = parts.iter().map(|p| p.shape[1]).sum();
        let name = self.unique_name(node_name(n));
        let d = blank(&name, OpKind::Concat);
        self.push(n, d, parts.into_iter().map(|p| p.node).collect(), shape);
        Ok(())
    }

    fn pool(&mut self, n: &Node) -> Result<(), OnnxError> {
        let m = self.plain_map(n, n.input[0])?;
        let kernel = ints(n, "kernel_shape", &[]);
        if kernel.len() != 2 || kernel[0] != kernel[1] || !(1..=MAX_PAD).contains(&kernel[0]) {
            return Err(self.err(
                n,
                format!("kernel_shape {kernel:?}: cimpool takes square 2-D windows"),
            ));
        }
        if m.shape.len() != 4 {
            return Err(self.err(
                n,
                format!("input of shape {:?} is not a (N, C, H, W) map", m.shape),
            ));
        }
        if int(n, "ceil_mode", 0) != 0 {
            return Err(self.err(n, "ceil_mode = 1 is not supported"));
        }
        let kk = kernel[0] as usize;
        let stride = self.stride(n)?;
        let padding = self.padding(n, kk, stride)?;
        let span = |x: usize| (x + 2 * padding).checked_sub(kk).map(|s| s / stride + 1);
        let (Some(oh), Some(ow)) = (span(m.shape[2]), span(m.shape[3])) else {
            return Err(self.err(
                n,
                format!("its window is larger than its {:?} input", m.shape),
            ));
        };
        let op = if n.op_type.as_str() == "MaxPool" {
            OpKind::MaxPool
        } else {
            OpKind::AvgPool
        };
        let name = self.unique_name(node_name(n));
        let mut d = blank(&name, op);
        d.kernel = Some(kk);
        d.stride = Some(stride);
        d.padding = padding;
        let shape = vec![1, m.shape[1], oh, ow];
        self.push(n, d, vec![m.node], shape);
        // Pooling works channel by channel: a shuffle passes through.
        self.carry_perm(n, m.perm);
        Ok(())
    }

    /// Flatten, Reshape, Squeeze, Unsqueeze of a feature map: a flatten of
    /// an (N, C, H, W) map, or no data movement at all.
    fn reshape(&mut self, n: &Node) -> Result<(), OnnxError> {
        let op = n.op_type.as_str();
        let m = self.view(n, n.input[0])?;
        let fail = |imp: &Self, r: String| imp.err(n, r);
        let target: Vec<usize> = match op {
            "Flatten" => {
                let ax =
                    k::axis(int(n, "axis", 1), m.shape.len() + 1).map_err(|r| fail(self, r))?;
                let outer: usize = m.shape[..ax].iter().product();
                vec![outer, m.shape.iter().product::<usize>() / outer.max(1)]
            }
            "Reshape" => {
                let t = self
                    .constant(n, n.input.get(1).copied().unwrap_or(""))?
                    .to_i64();
                k::reshape_target(&m.shape, &t, int(n, "allowzero", 0) != 0)
                    .map_err(|r| fail(self, r))?
            }
            _ => {
                let axes = match n.input.get(1).filter(|v| !v.is_empty()) {
                    Some(v) => self.constant(n, v)?.to_i64(),
                    None => ints(n, "axes", &[]),
                };
                if op == "Squeeze" {
                    k::squeeze_shape(&m.shape, &axes)
                } else {
                    k::unsqueeze_shape(&m.shape, &axes)
                }
                .map_err(|r| fail(self, r))?
            }
        };
        let total: usize = m.shape.iter().product();
        let spatial = |s: &[usize]| s.len() == 4 && s[2] * s[3] > 1;
        if target.first() != Some(&1) {
            return Err(self.err(
                n,
                format!(
                    "reshapes {:?} to {target:?}: cimpool keeps the batch dimension first",
                    m.shape
                ),
            ));
        }
        if m.affine.is_some() || m.pad > 0 {
            return Err(self.err(n, "a reshape after a Scaler or Pad is not supported"));
        }
        // A channel shuffle's views: (N, C, H, W) as (N, g, C/g, H, W) and
        // back; the channels keep their flattened order, so nothing moves.
        let grouped = |four: &[usize], five: &[usize]| {
            four.len() == 4
                && five.len() == 5
                && five[1] * five[2] == four[1]
                && five[3..] == four[2..]
        };
        if grouped(&m.shape, &target) || grouped(&target, &m.shape) {
            self.set(n, Value::Map(MapValue { shape: target, ..m }));
            return Ok(());
        }
        if m.shape.len() == 5 {
            return Err(self.err(
                n,
                format!("reshapes the 5-D view {:?} to {target:?}: cimpool takes a channel shuffle's view back to (N, C, H, W) only", m.shape),
            ));
        }
        if spatial(&m.shape) && target == [1, total] {
            let name = self.unique_name(node_name(n));
            // A shuffle before a flatten becomes one of the features:
            // channel c's positions move with it.
            let positions = m.shape[2] * m.shape[3];
            let perm = m.perm.as_ref().map(|p| {
                p.iter()
                    .flat_map(|&c| (0..positions).map(move |s| c * positions + s))
                    .collect()
            });
            self.push(n, blank(&name, OpKind::Flatten), vec![m.node], target);
            self.carry_perm(n, perm);
            return Ok(());
        }
        // Without spatial extent on either side, (N, C, 1, 1) and (N, C)
        // hold the values in one order: nothing moves.
        if !spatial(&m.shape) && !spatial(&target) && (target.len() == 2 || target.len() == 4) {
            self.set(n, Value::Map(MapValue { shape: target, ..m }));
            return Ok(());
        }
        if target == m.shape {
            self.set(n, Value::Map(m));
            return Ok(());
        }
        Err(self.err(
            n,
            format!("reshapes {:?} to {target:?}, which moves data; cimpool takes reshapes that flatten (N, C, H, W) to (N, C*H*W)", m.shape),
        ))
    }

    /// A Transpose of a feature map: only a channel shuffle's, (N, g, C/g,
    /// H, W) to (N, C/g, g, H, W), which is pure data movement: it becomes
    /// a pending permutation of the channels, folded into the layer that
    /// reads them.
    fn shuffle(&mut self, n: &Node) -> Result<(), OnnxError> {
        let m = self.view(n, n.input[0])?;
        let perm = ints(n, "perm", &[]);
        if m.shape.len() != 5 || perm != [0, 2, 1, 3, 4] {
            return Err(self.err(
                n,
                format!("transposes a feature map of shape {:?} by {perm:?}: cimpool takes a Transpose of a map only in a channel shuffle ((N, g, C/g, H, W) by [0, 2, 1, 3, 4])", m.shape),
            ));
        }
        if m.pad > 0 || m.affine.is_some() {
            return Err(self.err(
                n,
                "a channel shuffle after a Pad or Scaler is not supported",
            ));
        }
        let (a, b) = (m.shape[1], m.shape[2]);
        // Output channel y * a + x is input channel x * b + y.
        let perm: Vec<usize> = (0..a * b)
            .map(|c| {
                let (y, x) = (c / a, c % a);
                let old = x * b + y;
                m.perm.as_ref().map_or(old, |p| p[old])
            })
            .collect();
        let shape = vec![1, b, a, m.shape[3], m.shape[4]];
        self.set(
            n,
            Value::Map(MapValue {
                shape,
                perm: Some(perm),
                ..m
            }),
        );
        Ok(())
    }

    /// A zero Pad of height and width, equal on every side, carried into
    /// the Conv that reads it.
    fn pad(&mut self, n: &Node) -> Result<(), OnnxError> {
        let m = self.plain_map(n, n.input[0])?;
        let mode = attr(n, "mode").map(|a| String::from_utf8_lossy(a.s).to_string());
        if mode.as_deref().is_some_and(|s| s != "constant") {
            return Err(self.err(n, format!("mode {mode:?}: cimpool takes zero padding")));
        }
        let pads = match n.input.get(1).filter(|v| !v.is_empty()) {
            Some(v) => self.constant(n, v)?.to_i64(),
            None => ints(n, "pads", &[]),
        };
        let value = match n.input.get(2).filter(|v| !v.is_empty()) {
            Some(v) => self
                .constant(n, v)?
                .to_f32()
                .first()
                .copied()
                .unwrap_or(0.0),
            None => attr(n, "value").map_or(0.0, |a| a.f),
        };
        let ok = m.shape.len() == 4
            && pads.len() == 8
            && pads[0] == 0
            && pads[1] == 0
            && pads[4] == 0
            && pads[5] == 0
            && [2, 3, 6, 7]
                .iter()
                .all(|&i| pads[i] == pads[2] && pads[i] >= 0)
            && value == 0.0
            && n.input.get(3).map_or(true, |v| v.is_empty());
        if !ok {
            return Err(self.err(
                n,
                format!("pads {pads:?} (value {value}): cimpool takes zero padding, equal on the four sides of height and width"),
            ));
        }
        let p = pads[2] as usize;
        let mut shape = m.shape.clone();
        shape[2] += 2 * p;
        shape[3] += 2 * p;
        self.set(
            n,
            Value::Map(MapValue {
                shape,
                pad: m.pad + p,
                ..m
            }),
        );
        Ok(())
    }

    /// scikit-learn's `Scaler`: `(x - offset) * scale`, folded into the
    /// fully connected layer that reads it.
    fn scaler(&mut self, n: &Node) -> Result<(), OnnxError> {
        let m = self.plain_map(n, n.input[0])?;
        let features: usize = m.shape[1..].iter().product();
        let get = |name: &str| -> Option<Vec<f32>> {
            let v = attr(n, name)?.floats.clone();
            match v.len() {
                1 => Some(vec![v[0]; features]),
                l if l == features => Some(v),
                _ => None,
            }
        };
        let (Some(offset), Some(scale)) = (get("offset"), get("scale")) else {
            return Err(self.err(
                n,
                format!("offset and scale must hold 1 or {features} values"),
            ));
        };
        self.set(
            n,
            Value::Map(MapValue {
                affine: Some(Affine { offset, scale }),
                ..m
            }),
        );
        Ok(())
    }
}

/// A tensor as a 1-D vector.
fn flat(t: Tensor) -> Tensor {
    Tensor {
        shape: vec![t.data.len()],
        data: t.data,
    }
}

/// A bias of `n` values from a tensor of `n` values, or of one.
fn broadcast(t: &Tensor, n: usize) -> Option<Vec<f32>> {
    match t.data.len() {
        l if l == n => Some(t.data.clone()),
        1 => Some(vec![t.data[0]; n]),
        _ => None,
    }
}

/// Weights [O, C, ...] whose input `c` is the map's channel `perm[c]`, as
/// weights reading the map in its own order: input `perm[c]` takes what
/// input `c` held.
fn permute_inputs(w: &Tensor, perm: &[usize]) -> Tensor {
    let (o, c) = (w.shape[0], w.shape[1]);
    let inner: usize = w.shape[2..].iter().product();
    let mut data = vec![0f32; w.data.len()];
    for oc in 0..o {
        for (ic, &to) in perm.iter().enumerate().take(c) {
            let src = (oc * c + ic) * inner;
            let dst = (oc * c + to) * inner;
            data[dst..dst + inner].copy_from_slice(&w.data[src..src + inner]);
        }
    }
    Tensor {
        shape: w.shape.clone(),
        data,
    }
}

/// Grouped conv weights [O, C/g, k, k] as dense [O, C, k, k]: output
/// channel o (group o / (O/g)) keeps its weights on its group's input
/// channels, zeros elsewhere.
fn block_diagonal(w: &Tensor, groups: usize) -> Tensor {
    let (o, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3]);
    let c = cg * groups;
    let per = o / groups;
    let mut data = vec![0f32; o * c * kh * kw];
    for oc in 0..o {
        let g = oc / per;
        for ic in 0..cg {
            let src = (oc * cg + ic) * kh * kw;
            let dst = (oc * c + g * cg + ic) * kh * kw;
            data[dst..dst + kh * kw].copy_from_slice(&w.data[src..src + kh * kw]);
        }
    }
    Tensor {
        shape: vec![o, c, kh, kw],
        data,
    }
}
