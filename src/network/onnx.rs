//! ONNX import: a graph of Conv, Gemm / MatMul (+ Add of a bias),
//! BatchNormalization, Relu, Add, MaxPool, AveragePool, GlobalAveragePool,
//! Flatten / Reshape becomes a model description and its tensors, so a
//! standard network needs no hand-written description. BatchNormalization
//! and Relu fold into the layer (or add) before them; the format is read by
//! the `onnx-rs` crate, and everything it gives is checked here.

use super::model::{ModelDesc, NodeDesc, OpKind};
use super::tensors::Tensor;
use onnx_rs::ast::{Attribute, DataType, Dimension, Node, OpType, TensorProto, TypeValue};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// An ONNX file that cannot be imported.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path} is not a valid ONNX file: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("{path}: node `{node}` ({op}): {reason}")]
    Node {
        path: PathBuf,
        node: String,
        op: String,
        reason: String,
    },
    #[error("{path}: {reason}")]
    Graph { path: PathBuf, reason: String },
}

/// The operators the importer understands.
pub const SUPPORTED: &str = "Conv, Gemm, MatMul, BatchNormalization, Relu, Add, MaxPool, AveragePool, GlobalAveragePool, Flatten, Reshape, Identity, Dropout";

/// Reads `path`: the model description (with `input_scale`) and the weight
/// tensors under the names the description uses.
pub fn import(
    path: &Path,
    input_scale: f64,
) -> Result<(ModelDesc, BTreeMap<String, Tensor>), OnnxError> {
    let bytes = std::fs::read(path).map_err(|e| OnnxError::Read {
        path: path.into(),
        reason: e.to_string(),
    })?;
    let model = onnx_rs::parse(&bytes).map_err(|e| OnnxError::Format {
        path: path.into(),
        reason: e.to_string(),
    })?;
    let graph = model.graph.as_ref().ok_or_else(|| OnnxError::Format {
        path: path.into(),
        reason: "it holds no graph".into(),
    })?;
    let mut imp = Importer {
        path: path.into(),
        init: BTreeMap::new(),
        produced: BTreeMap::new(),
        readers: BTreeMap::new(),
        nodes: vec![],
        tensors: BTreeMap::new(),
    };
    for t in &graph.initializer {
        imp.init.insert(t.name().to_string(), t);
    }
    for n in &graph.node {
        for i in &n.input {
            *imp.readers.entry(i.to_string()).or_default() += 1;
        }
    }
    let input = graph
        .input
        .iter()
        .find(|v| !imp.init.contains_key(v.name))
        .ok_or_else(|| imp.graph_err("it has no input besides its initializers"))?;
    imp.produced
        .insert(input.name.to_string(), "input".to_string());
    let input_shape = input_shape(input.r#type.as_ref().and_then(|t| t.value.as_ref()))
        .ok_or_else(|| {
            imp.graph_err(&format!(
                "input `{}` has no fixed (N, C, H, W) or (N, F) shape",
                input.name
            ))
        })?;
    for n in &graph.node {
        imp.node(n)?;
    }
    let Importer { nodes, tensors, .. } = imp;
    if nodes.is_empty() {
        return Err(OnnxError::Graph {
            path: path.into(),
            reason: "the graph has no layers".into(),
        });
    }
    Ok((
        ModelDesc {
            input_scale,
            input_shape: Some(input_shape),
            layer: vec![],
            node: nodes,
        },
        tensors,
    ))
}

/// [channels, height, width] of an (N, C, H, W) or (N, F) input.
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
        [_, Some(c), Some(h), Some(w)] => Some(vec![*c, *h, *w]),
        [_, Some(f)] => Some(vec![*f, 1, 1]),
        _ => None,
    }
}

struct Importer<'a> {
    path: PathBuf,
    init: BTreeMap<String, &'a TensorProto<'a>>,
    /// ONNX value name -> the description node that produces it.
    produced: BTreeMap<String, String>,
    /// ONNX value name -> how many nodes read it.
    readers: BTreeMap<String, usize>,
    nodes: Vec<NodeDesc>,
    tensors: BTreeMap<String, Tensor>,
}

fn blank(name: &str, op: OpKind) -> NodeDesc {
    NodeDesc {
        name: name.into(),
        op,
        inputs: None,
        relu: false,
        bn: None,
        shape: None,
        stride: None,
        padding: 0,
        kernel: None,
        max_pool: None,
        uncompressed: false,
    }
}

impl<'a> Importer<'a> {
    fn graph_err(&self, reason: &str) -> OnnxError {
        OnnxError::Graph {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    fn err(&self, n: &Node, reason: impl Into<String>) -> OnnxError {
        OnnxError::Node {
            path: self.path.clone(),
            node: node_name(n),
            op: n.op_type.as_str().to_string(),
            reason: reason.into(),
        }
    }

    /// The float tensor of initializer `name`, its data checked against its dims.
    fn tensor(&self, n: &Node, name: &str) -> Result<Tensor, OnnxError> {
        let t = self.init.get(name).ok_or_else(|| {
            self.err(
                n,
                format!("`{name}` is not an initializer (weights must be constants)"),
            )
        })?;
        if t.data_type() != DataType::Float {
            return Err(self.err(
                n,
                format!("initializer `{name}` is {:?}, not float32", t.data_type()),
            ));
        }
        let shape: Vec<usize> = t.dims().iter().map(|&d| d.max(0) as usize).collect();
        let data = t.as_f32().map(|d| d.into_owned()).unwrap_or_default();
        if data.len() != shape.iter().product::<usize>() {
            return Err(self.err(
                n,
                format!(
                    "initializer `{name}` holds {} values for its shape {shape:?}",
                    data.len()
                ),
            ));
        }
        Ok(Tensor { shape, data })
    }

    /// The description node producing ONNX value `v`.
    fn source(&self, n: &Node, v: &str) -> Result<String, OnnxError> {
        self.produced
            .get(v)
            .cloned()
            .ok_or_else(|| self.err(n, format!("reads `{v}`, which no earlier node produces")))
    }

    fn desc_mut(&mut self, name: &str) -> Option<&mut NodeDesc> {
        self.nodes.iter_mut().find(|d| d.name == name)
    }

    /// Ints of attribute `name`, or `default`.
    fn ints(n: &Node, name: &str, default: &[i64]) -> Vec<i64> {
        attr(n, name)
            .map(|a| a.ints.clone())
            .unwrap_or_else(|| default.to_vec())
    }

    fn push(&mut self, n: &Node, mut d: NodeDesc, input: &str) -> Result<(), OnnxError> {
        let src = self.source(n, input)?;
        d.inputs = Some(vec![src]);
        self.produced
            .insert(n.output[0].to_string(), d.name.clone());
        self.nodes.push(d);
        Ok(())
    }

    /// A name for a layer: its weight initializer's prefix (`layer1.0.conv1`
    /// for `layer1.0.conv1.weight`), else the node's own name.
    fn layer_name(&self, n: &Node, weight: &str) -> String {
        let name = weight
            .strip_suffix(".weight")
            .map(str::to_string)
            .unwrap_or_else(|| node_name(n));
        if self.nodes.iter().any(|d| d.name == name) {
            format!("{name}_{}", self.nodes.len())
        } else {
            name
        }
    }

    fn node(&mut self, n: &Node) -> Result<(), OnnxError> {
        // Every supported operator reads its first input and names its
        // first output; a node without them is malformed, not a panic.
        if n.input.is_empty() || n.output.is_empty() {
            return Err(self.err(
                n,
                format!(
                    "a node needs at least one input and one output (it has {} and {})",
                    n.input.len(),
                    n.output.len()
                ),
            ));
        }
        match n.op_type {
            OpType::Conv => self.conv(n),
            OpType::Gemm | OpType::MatMul => self.fc(n),
            OpType::BatchNormalization => self.batch_norm(n),
            OpType::Relu => self.relu(n),
            OpType::Add => self.add(n),
            OpType::MaxPool | OpType::AveragePool => self.pool(n),
            OpType::GlobalAveragePool => {
                let name = node_name(n);
                self.push(n, blank(&name, OpKind::GlobalAvgPool), n.input[0])
            }
            OpType::Flatten | OpType::Reshape => {
                if n.op_type == OpType::Flatten && attr(n, "axis").is_some_and(|a| a.i != 1) {
                    return Err(
                        self.err(n, "only axis = 1 (keep the batch dimension) is supported")
                    );
                }
                let name = node_name(n);
                self.push(n, blank(&name, OpKind::Flatten), n.input[0])
            }
            OpType::Identity | OpType::Dropout => {
                let src = self.source(n, n.input[0])?;
                self.produced.insert(n.output[0].to_string(), src);
                Ok(())
            }
            _ => Err(self.err(
                n,
                format!(
                    "operator `{}` is not supported; cimpool imports {SUPPORTED}",
                    n.op_type.as_str()
                ),
            )),
        }
    }

    fn conv(&mut self, n: &Node) -> Result<(), OnnxError> {
        if n.input.len() < 2 {
            return Err(self.err(n, "a Conv needs an input and weights"));
        }
        let w = self.tensor(n, n.input[1])?;
        if w.shape.len() != 4 || w.shape[2] != w.shape[3] {
            return Err(self.err(
                n,
                format!("weights {:?}: cimpool takes square 2-D kernels", w.shape),
            ));
        }
        if attr(n, "group").is_some_and(|a| a.i != 1) {
            return Err(self.err(n, "grouped convolutions are not supported"));
        }
        if Self::ints(n, "dilations", &[1, 1]).iter().any(|&d| d != 1) {
            return Err(self.err(n, "dilated convolutions are not supported"));
        }
        let strides = Self::ints(n, "strides", &[1, 1]);
        let pads = Self::ints(n, "pads", &[0, 0, 0, 0]);
        if strides.len() != 2 || strides[0] != strides[1] || pads.iter().any(|&p| p != pads[0]) {
            return Err(self.err(
                n,
                format!(
                    "strides {strides:?} / pads {pads:?}: cimpool takes equal strides and padding"
                ),
            ));
        }
        let name = self.layer_name(n, n.input[1]);
        let mut d = blank(&name, OpKind::Conv);
        d.shape = Some(w.shape.clone());
        d.stride = Some(strides[0] as usize);
        d.padding = pads[0] as usize;
        self.tensors.insert(format!("{name}.weight"), w);
        if let Some(b) = n.input.get(2).filter(|b| !b.is_empty()) {
            let b = self.tensor(n, b)?;
            self.tensors.insert(format!("{name}.bias"), b);
        }
        self.push(n, d, n.input[0])
    }

    fn fc(&mut self, n: &Node) -> Result<(), OnnxError> {
        if n.input.len() < 2 {
            return Err(self.err(n, "needs an input and weights"));
        }
        let mut w = self.tensor(n, n.input[1])?;
        if w.shape.len() != 2 {
            return Err(self.err(n, format!("weights {:?}: a 2-D matrix is needed", w.shape)));
        }
        let gemm = n.op_type == OpType::Gemm;
        if gemm {
            let a = |name: &str, default: f32| attr(n, name).map_or(default, |a| a.f);
            if attr(n, "transA").is_some_and(|a| a.i != 0)
                || a("alpha", 1.0) != 1.0
                || a("beta", 1.0) != 1.0
            {
                return Err(self.err(
                    n,
                    "only Gemm with transA = 0, alpha = beta = 1 is supported",
                ));
            }
        }
        // cimpool keeps (out, in) like PyTorch's Linear: MatMul and Gemm
        // without transB carry (in, out).
        if !gemm || attr(n, "transB").map_or(true, |a| a.i == 0) {
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
        let name = self.layer_name(n, n.input[1]);
        let mut d = blank(&name, OpKind::Fc);
        d.shape = Some(w.shape.clone());
        self.tensors.insert(format!("{name}.weight"), w);
        if let Some(c) = n.input.get(2).filter(|c| gemm && !c.is_empty()) {
            let b = self.tensor(n, c)?;
            self.tensors.insert(format!("{name}.bias"), b);
        }
        self.push(n, d, n.input[0])
    }

    /// The conv / fc producing ONNX value `v`, when nothing else reads it.
    fn sole_layer(&self, n: &Node, v: &str) -> Result<String, OnnxError> {
        let src = self.source(n, v)?;
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
                format!("reads `{v}`, which no conv or fc layer produces"),
            )),
        }
    }

    fn batch_norm(&mut self, n: &Node) -> Result<(), OnnxError> {
        if n.input.len() < 5 {
            return Err(self.err(n, "needs scale, bias, mean and variance"));
        }
        let layer = self.sole_layer(n, n.input[0])?;
        let eps = attr(n, "epsilon").map_or(1e-5, |a| a.f);
        let bn = format!("{layer}.bn");
        let names = ["weight", "bias", "running_mean", "running_var"];
        for (i, s) in names.iter().enumerate() {
            let mut t = self.tensor(n, n.input[i + 1])?;
            if *s == "running_var" {
                // cimpool folds with eps = 1e-5: carry this node's epsilon.
                t.data.iter_mut().for_each(|v| *v += eps - 1e-5);
            }
            self.tensors.insert(format!("{bn}.{s}"), t);
        }
        self.desc_mut(&layer).expect("found above").bn = Some(bn);
        self.produced.insert(n.output[0].to_string(), layer);
        Ok(())
    }

    /// Relu folds into the layer or add before it; a max pool in between
    /// commutes with it (max(relu(a), relu(b)) = relu(max(a, b))).
    fn relu(&mut self, n: &Node) -> Result<(), OnnxError> {
        let src = self.source(n, n.input[0])?;
        let mut target = src.clone();
        loop {
            let Some(d) = self.nodes.iter().find(|d| d.name == target) else {
                return Err(self.err(n, "a Relu on the network input is not supported"));
            };
            match d.op {
                OpKind::Conv | OpKind::Fc | OpKind::Add => break,
                OpKind::MaxPool => {
                    target = d.inputs.as_ref().expect("imported nodes name inputs")[0].clone()
                }
                op => {
                    return Err(self.err(n, format!("a Relu after a {op:?} node is not supported")))
                }
            }
        }
        if self.readers.get(n.input[0]).copied().unwrap_or(0) != 1 {
            return Err(self.err(n, format!("`{}` is also read before its Relu", n.input[0])));
        }
        self.desc_mut(&target).expect("found above").relu = true;
        self.produced.insert(n.output[0].to_string(), src);
        Ok(())
    }

    fn add(&mut self, n: &Node) -> Result<(), OnnxError> {
        if n.input.len() != 2 {
            return Err(self.err(n, "an Add of two inputs is needed"));
        }
        // A constant operand is a layer's bias (MatMul + Add).
        if let Some((v, c)) = [(0, 1), (1, 0)]
            .into_iter()
            .find(|&(_, c)| self.init.contains_key(n.input[c]))
        {
            let layer = self.sole_layer(n, n.input[v])?;
            let b = self.tensor(n, n.input[c])?;
            let key = format!("{layer}.bias");
            if self.tensors.contains_key(&key) {
                return Err(self.err(n, format!("layer `{layer}` already has a bias")));
            }
            self.tensors.insert(
                key,
                Tensor {
                    shape: vec![b.data.len()],
                    data: b.data,
                },
            );
            self.produced.insert(n.output[0].to_string(), layer);
            return Ok(());
        }
        let (a, b) = (self.source(n, n.input[0])?, self.source(n, n.input[1])?);
        let mut d = blank(&node_name(n), OpKind::Add);
        d.inputs = Some(vec![a, b]);
        self.produced
            .insert(n.output[0].to_string(), d.name.clone());
        self.nodes.push(d);
        Ok(())
    }

    fn pool(&mut self, n: &Node) -> Result<(), OnnxError> {
        let kernel = Self::ints(n, "kernel_shape", &[]);
        if kernel.len() != 2 || kernel[0] != kernel[1] {
            return Err(self.err(
                n,
                format!("kernel_shape {kernel:?}: cimpool takes square 2-D windows"),
            ));
        }
        let strides = Self::ints(n, "strides", &[1, 1]);
        let pads = Self::ints(n, "pads", &[0, 0, 0, 0]);
        if strides.len() != 2 || strides[0] != strides[1] || pads.iter().any(|&p| p != pads[0]) {
            return Err(self.err(
                n,
                format!(
                    "strides {strides:?} / pads {pads:?}: cimpool takes equal strides and padding"
                ),
            ));
        }
        if attr(n, "ceil_mode").is_some_and(|a| a.i != 0) {
            return Err(self.err(n, "ceil_mode = 1 is not supported"));
        }
        let op = if n.op_type == OpType::MaxPool {
            OpKind::MaxPool
        } else {
            OpKind::AvgPool
        };
        let mut d = blank(&node_name(n), op);
        d.kernel = Some(kernel[0] as usize);
        d.stride = Some(strides[0] as usize);
        d.padding = pads[0] as usize;
        self.push(n, d, n.input[0])
    }
}

fn attr<'n>(n: &'n Node, name: &str) -> Option<&'n Attribute<'n>> {
    n.attribute.iter().find(|a| a.name == name)
}

fn node_name(n: &Node) -> String {
    let base = if n.name.is_empty() {
        n.output.first().copied().unwrap_or("node")
    } else {
        n.name
    };
    base.trim_start_matches('/').replace('/', ".")
}
