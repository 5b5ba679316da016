//! Reading trained weights and labelled data: `.npy`, `.npz` (NumPy) and
//! `.safetensors`, with every problem reported by file, tensor and rule.

use crate::diagnostics::{one_line, printable};
use crate::golden::{bits_from_fn, Bits};
use ndarray::{ArrayD, IxDyn};
use ndarray_npy::{NpzReader, ReadNpyExt};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

/// A float tensor in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

#[derive(Debug, thiserror::Error)]
pub enum TensorError {
    #[error("cannot open {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("{path}: unsupported file type; give a .npy, .npz or .safetensors file")]
    Extension { path: String },
    #[error(
        "{path}: unsupported data file; give an .npz with `x` (and labels `y`) or an IDX images \
         file named like t10k-images-idx3-ubyte[.gz] next to its labels file"
    )]
    DataExtension { path: String },
    // Tensor names come from the file: printed escaped (one line).
    #[error("{path}: tensor `{}`: {}", printable(.name), printable(.reason))]
    Tensor {
        path: String,
        name: String,
        reason: String,
    },
    #[error("{path}: not a valid {format} file: {reason}")]
    Format {
        path: String,
        format: &'static str,
        reason: String,
    },
    #[error("{path}: no tensor `{}` (it has: {})", printable(.name), printable(.available))]
    Missing {
        path: String,
        name: String,
        available: String,
    },
}

fn open(path: &Path) -> Result<File, TensorError> {
    File::open(path).map_err(|e| TensorError::Open {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// An `.npz` archive and the names of its arrays.
fn open_npz(path: &Path) -> Result<(NpzReader<File>, Vec<String>), TensorError> {
    let format = |e: &dyn std::fmt::Display| TensorError::Format {
        path: path.display().to_string(),
        format: "npz",
        reason: one_line(&e.to_string()),
    };
    let mut npz = NpzReader::new(open(path)?).map_err(|e| format(&e))?;
    let names = npz.names().map_err(|e| format(&e))?;
    Ok((npz, names))
}

fn from_array(a: ArrayD<f32>) -> Tensor {
    Tensor {
        shape: a.shape().to_vec(),
        data: a.iter().copied().collect(),
    }
}

/// Float tensors of a weights file, by name. A `.npy` file holds one tensor,
/// named after the file stem. float64 is converted to float32.
pub fn read_tensors(path: &Path) -> Result<BTreeMap<String, Tensor>, TensorError> {
    let p = path.display().to_string();
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match ext {
        "npy" => {
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("tensor")
                .to_string();
            let t = read_npy_float(path).map_err(|reason| TensorError::Tensor {
                path: p,
                name: name.clone(),
                reason,
            })?;
            Ok(BTreeMap::from([(name, t)]))
        }
        "npz" => {
            let (mut npz, names) = open_npz(path)?;
            let mut out = BTreeMap::new();
            for name in names {
                let clean = name.trim_end_matches(".npy").to_string();
                let t = npz_float(&mut npz, &name).map_err(|reason| TensorError::Tensor {
                    path: p.clone(),
                    name: clean.clone(),
                    reason,
                })?;
                out.insert(clean, t);
            }
            Ok(out)
        }
        "safetensors" => read_safetensors(path),
        _ => Err(TensorError::Extension { path: p }),
    }
}

fn read_npy_float(path: &Path) -> Result<Tensor, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    match ArrayD::<f32>::read_npy(&bytes[..]) {
        Ok(a) => Ok(from_array(a)),
        // Another dtype: float64 is converted, the rest is refused.
        Err(ndarray_npy::ReadNpyError::WrongDescriptor(_)) => {
            match ArrayD::<f64>::read_npy(&bytes[..]) {
                Ok(a) => Ok(from_array(a.mapv(|v| v as f32))),
                Err(e) => Err(npy_reason(e)),
            }
        }
        Err(e) => Err(npy_reason(e)),
    }
}

fn npy_reason(e: ndarray_npy::ReadNpyError) -> String {
    use ndarray_npy::ReadNpyError as E;
    match e {
        E::WrongDescriptor(d) => {
            format!("dtype {d:?} is not supported; store weights as float32 or float64")
        }
        E::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "the file ends before the data its header describes (truncated?)".to_string()
        }
        E::MissingData => {
            "the file ends before the data its header describes (truncated?)".to_string()
        }
        // The header parser quotes the header under its message.
        other => one_line(other.to_string().lines().next().unwrap_or_default()),
    }
}

fn npz_reason(e: ndarray_npy::ReadNpzError) -> String {
    match e {
        ndarray_npy::ReadNpzError::Npy(e) => npy_reason(e),
        other => one_line(&other.to_string()),
    }
}

fn npz_float(npz: &mut NpzReader<File>, name: &str) -> Result<Tensor, String> {
    match npz.by_name::<ndarray::OwnedRepr<f32>, IxDyn>(name) {
        Ok(a) => Ok(from_array(a)),
        Err(ndarray_npy::ReadNpzError::Npy(ndarray_npy::ReadNpyError::WrongDescriptor(_))) => {
            match npz.by_name::<ndarray::OwnedRepr<f64>, IxDyn>(name) {
                Ok(a) => Ok(from_array(a.mapv(|v| v as f32))),
                Err(e) => Err(npz_reason(e)),
            }
        }
        Err(e) => Err(npz_reason(e)),
    }
}

fn read_safetensors(path: &Path) -> Result<BTreeMap<String, Tensor>, TensorError> {
    let p = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| TensorError::Open {
        path: p.clone(),
        reason: e.to_string(),
    })?;
    // The crate checks the header against the buffer: offsets inside the
    // data, sizes that match dtype x shape, no overlaps.
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| TensorError::Format {
        path: p.clone(),
        format: "safetensors",
        reason: one_line(&e.to_string()),
    })?;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let data = view.data();
        let values: Vec<f32> = match view.dtype() {
            safetensors::Dtype::F32 => data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect(),
            safetensors::Dtype::F64 => data
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32)
                .collect(),
            other => {
                return Err(TensorError::Tensor {
                    path: p,
                    name,
                    reason: format!(
                        "dtype {other:?} is not supported; store weights as F32 or F64"
                    ),
                })
            }
        };
        out.insert(
            name,
            Tensor {
                shape: view.shape().to_vec(),
                data: values,
            },
        );
    }
    Ok(out)
}

/// A labelled data set: `x` (samples, features) of unsigned pixels or
/// integer activations and `y` (samples) of class labels, from an `.npz`
/// (arrays `x` and `y`) or an IDX images file with its labels file next to it.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub x: Vec<Vec<i64>>,
    pub y: Vec<i64>,
}

pub fn read_dataset(path: &Path, need_labels: bool) -> Result<Dataset, TensorError> {
    if super::idx::is_idx(path) {
        return super::idx::read_idx_dataset(path, need_labels);
    }
    let p = path.display().to_string();
    if path.extension().and_then(|e| e.to_str()) != Some("npz") {
        return Err(TensorError::DataExtension { path: p });
    }
    let (mut npz, names) = open_npz(path)?;
    let find = |want: &str| {
        names
            .iter()
            .find(|n| n.trim_end_matches(".npy") == want)
            .cloned()
    };
    let missing = |want: &str| TensorError::Missing {
        path: p.clone(),
        name: want.to_string(),
        available: names.join(", "),
    };
    let bad = |name: &str, reason: String| TensorError::Tensor {
        path: p.clone(),
        name: name.to_string(),
        reason,
    };
    let xname = find("x").ok_or_else(|| missing("x"))?;
    let x: ArrayD<i64> = match npz.by_name::<ndarray::OwnedRepr<u8>, IxDyn>(&xname) {
        Ok(a) => a.mapv(|v| v as i64),
        Err(_) => npz
            .by_name::<ndarray::OwnedRepr<i64>, IxDyn>(&xname)
            .map_err(|e| {
                use ndarray_npy::{ReadNpyError, ReadNpzError};
                bad(
                    "x",
                    match e {
                        ReadNpzError::Npy(ReadNpyError::WrongDescriptor(d)) => format!(
                            "dtype {d:?} is not supported; store the integer network inputs as uint8 or int64"
                        ),
                        e => format!("{}; expected uint8 or int64 values", npz_reason(e)),
                    },
                )
            })?,
    };
    if x.ndim() != 2 && x.ndim() != 4 {
        return Err(bad(
            "x",
            format!(
                "shape {:?}; expected (samples, features) or (samples, channels, height, width)",
                x.shape()
            ),
        ));
    }
    // Row-major: an (N, C, H, W) sample flattens in (c, y, x) order.
    let rows: Vec<Vec<i64>> = x
        .outer_iter()
        .map(|r| r.iter().copied().collect())
        .collect();
    let y = match find("y") {
        Some(yname) => {
            let y = npz
                .by_name::<ndarray::OwnedRepr<i64>, IxDyn>(&yname)
                .map_err(|e| bad("y", format!("{}; expected int64 labels", npz_reason(e))))?;
            if y.shape() != [rows.len()] {
                return Err(bad(
                    "y",
                    format!(
                        "shape {:?}; expected ({},) to match x",
                        y.shape(),
                        rows.len()
                    ),
                ));
            }
            y.iter().copied().collect()
        }
        None if need_labels => return Err(missing("y")),
        None => Vec::new(),
    };
    Ok(Dataset { x: rows, y })
}

/// A fixed pool: an int8 or float `.npy` (as `cimpool compress` writes to
/// `pool.npy`), or the one float tensor (or the tensor `pool`) of an `.npz` /
/// `.safetensors` file; shape (pool, rows), values all +-1 or all 0/1 (SPEC:
/// bit 1 is +1, bit 0 is -1).
pub fn read_pool(path: &Path, pool: usize, rows: usize) -> Result<Vec<Bits>, TensorError> {
    let p = path.display().to_string();
    let signs_npy = || -> Option<Tensor> {
        let bytes = std::fs::read(path).ok()?;
        let a = ArrayD::<i8>::read_npy(&bytes[..]).ok()?;
        Some(from_array(a.mapv(|v| v as f32)))
    };
    let mut tensors = match path.extension().and_then(|e| e.to_str()) {
        Some("npy") => match signs_npy() {
            Some(t) => BTreeMap::from([("pool".to_string(), t)]),
            None => read_tensors(path)?,
        },
        _ => read_tensors(path)?,
    };
    let (name, t) = match tensors.remove("pool") {
        Some(t) => ("pool".to_string(), t),
        None if tensors.len() == 1 => tensors.pop_first().expect("one tensor"),
        None => {
            return Err(TensorError::Missing {
                path: p,
                name: "pool".into(),
                available: tensors.keys().cloned().collect::<Vec<_>>().join(", "),
            })
        }
    };
    let bad = |reason: String| TensorError::Tensor {
        path: p.clone(),
        name: name.clone(),
        reason,
    };
    if t.shape != [pool, rows] {
        return Err(bad(format!(
            "shape {:?}; the hardware needs (pool, rows) = ({pool}, {rows})",
            t.shape
        )));
    }
    let signs = t.data.iter().all(|&v| v == 1.0 || v == -1.0);
    let bits = t.data.iter().all(|&v| v == 1.0 || v == 0.0);
    if !signs && !bits {
        let odd = t
            .data
            .iter()
            .position(|&v| v != 1.0 && v != -1.0 && v != 0.0)
            .unwrap_or(0);
        return Err(bad(format!(
            "value {} at ({}, {}); pool vectors hold +1/-1 (or 1/0) only",
            t.data[odd],
            odd / rows,
            odd % rows
        )));
    }
    Ok(t.data
        .chunks_exact(rows)
        .map(|v| bits_from_fn(rows as u32, |r| v[r as usize] > 0.0))
        .collect())
}
