//! ONNX import: the file as PyTorch (both exporters), scikit-learn
//! (skl2onnx) and the ONNX model zoo write it becomes a model description
//! and its tensors, so a standard network needs no hand-written
//! description. Three steps, one module each:
//!
//! - `select`: the output to import (label branches and trailing
//!   `Softmax` / `LogSoftmax` / `ArgMax` cut, with a note) and the nodes it
//!   needs;
//! - `constants`: initializers (inline or in external data files) and
//!   constant folding, so weight aliases and `Shape` -> ... -> `Reshape`
//!   flatten chains disappear;
//! - `lower`: the remaining operators on feature maps as description nodes
//!   (BatchNormalization, Relu and Clip fold into the layer before them).
//!
//! Operators that remain unsupported are listed together, with counts, in
//! one error. The format is read by the `onnx-rs` crate; everything it
//! gives is checked here.

pub mod constants;
mod lower;
pub mod select;

use super::model::ModelDesc;
use super::tensors::Tensor;
use crate::diagnostics::printable;
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
    // Operator and tensor names come from the file (one may hold a
    // newline): printed escaped, so an error stays one line.
    #[error("{path}: {}", printable(.reason))]
    Graph { path: PathBuf, reason: String },
    #[error("{path}: unsupported operators: {}; cimpool imports {supported}", printable(.list))]
    Unsupported {
        path: PathBuf,
        list: String,
        supported: &'static str,
    },
}

/// The operators the importer takes on feature maps.
pub const SUPPORTED: &str = "Conv (also grouped and depthwise), Gemm, MatMul, BatchNormalization, Relu, Clip (0..max), Add, Sum, Concat (channels), MaxPool, AveragePool, GlobalAveragePool, Flatten, Reshape / Squeeze / Unsqueeze (as flatten), channel shuffles (Reshape, Transpose, Reshape: folded into the next layer), Pad (into the next Conv), Identity, Dropout, Cast, Scaler (into the first layer); constant folding of Constant, ConstantOfShape, Shape, Gather, Slice, Concat, Transpose, Add, Sub, Mul, Div; trailing Softmax, LogSoftmax, ArgMax, ZipMap are dropped";

/// What an import gives: the description (with `input_scale`), the weight
/// tensors under the names it uses, and notes for the user (what was cut).
pub struct Imported {
    pub description: ModelDesc,
    pub tensors: BTreeMap<String, Tensor>,
    pub notes: Vec<String>,
}

/// How to import.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Float value of one unit of the integer network input.
    pub input_scale: f64,
    /// The graph value to import as the network's output (default: the
    /// one score output).
    pub output: Option<String>,
}

/// Reads the ONNX file at `path` (external data files relative to its folder).
pub fn import(path: &Path, options: &Options) -> Result<Imported, OnnxError> {
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
    let dir = path.parent().unwrap_or(Path::new("."));
    lower::lower(path, dir, graph, options)
}
