//! Pool-engine choices pinned from outside: the pool vector of every
//! (channel, row block) and the kept error tiles, as the training tool
//! (tools/adc_train.py `--choices`) made them for the weights it trained.
//! Compress then rebuilds exactly the network training evaluated: a near
//! tie (two pool vectors of equal score, two tiles of equal residual
//! energy) cannot fall the other way in a second computation.
//!
//! The file is an `.npz` with, per pooled layer, `<layer>.index` (channels
//! x row blocks, integers < pool) and `<layer>.mask` (channels x row
//! blocks, 0 / 1).

use ndarray::Array2;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One layer's pinned choices.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerChoices {
    /// `index[c][b]`: pool vector of channel c's row block b.
    pub index: Vec<Vec<u32>>,
    /// `mask[c][b]`: channel c's error tile of row block b is kept.
    pub mask: Vec<Vec<bool>>,
}

/// Every pooled layer's choices, by layer name.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Choices {
    pub layers: BTreeMap<String, LayerChoices>,
}

#[derive(Debug, thiserror::Error)]
pub enum ChoicesError {
    #[error("cannot read choices {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("choices {path}: `{name}`: {reason}")]
    Array {
        path: PathBuf,
        name: String,
        reason: String,
    },
}

impl Choices {
    /// Reads a choices `.npz`.
    pub fn read(path: &Path) -> Result<Choices, ChoicesError> {
        let read_err = |reason: String| ChoicesError::Read {
            path: path.into(),
            reason,
        };
        let file = std::fs::File::open(path).map_err(|e| read_err(e.to_string()))?;
        let mut npz = ndarray_npy::NpzReader::new(file).map_err(|e| read_err(e.to_string()))?;
        let names = npz.names().map_err(|e| read_err(e.to_string()))?;
        let arr_err = |name: &str, reason: String| ChoicesError::Array {
            path: path.into(),
            name: name.to_string(),
            reason,
        };
        let mut index: BTreeMap<String, Array2<i64>> = BTreeMap::new();
        let mut mask: BTreeMap<String, Array2<u8>> = BTreeMap::new();
        for name in names {
            let key = name.trim_end_matches(".npy").to_string();
            if let Some(layer) = key.strip_suffix(".index") {
                let a: Array2<i64> = npz
                    .by_name(&name)
                    .map_err(|e| arr_err(&key, format!("{e}; expected a 2-D int64 array")))?;
                index.insert(layer.to_string(), a);
            } else if let Some(layer) = key.strip_suffix(".mask") {
                let a: Array2<u8> = match npz.by_name::<ndarray::OwnedRepr<u8>, ndarray::Ix2>(&name)
                {
                    Ok(a) => a,
                    Err(_) => npz
                        .by_name::<ndarray::OwnedRepr<bool>, ndarray::Ix2>(&name)
                        .map(|a| a.mapv(u8::from))
                        .map_err(|e| {
                            arr_err(&key, format!("{e}; expected a 2-D uint8 or bool array"))
                        })?,
                };
                mask.insert(layer.to_string(), a);
            } else {
                return Err(arr_err(
                    &key,
                    "unknown array: a choices file holds `<layer>.index` and `<layer>.mask`".into(),
                ));
            }
        }
        let mut layers = BTreeMap::new();
        for (layer, idx) in index {
            let m = mask.remove(&layer).ok_or_else(|| {
                arr_err(
                    &format!("{layer}.mask"),
                    "missing (its .index is there)".into(),
                )
            })?;
            if m.dim() != idx.dim() {
                return Err(arr_err(
                    &format!("{layer}.mask"),
                    format!("shape {:?}, its .index has {:?}", m.dim(), idx.dim()),
                ));
            }
            if let Some(&v) = idx.iter().find(|&&v| v < 0 || v > u32::MAX as i64) {
                return Err(arr_err(
                    &format!("{layer}.index"),
                    format!("index {v} is negative or too large"),
                ));
            }
            if let Some(&v) = m.iter().find(|&&v| v > 1) {
                return Err(arr_err(
                    &format!("{layer}.mask"),
                    format!("value {v}: a mask holds 0 or 1"),
                ));
            }
            layers.insert(
                layer,
                LayerChoices {
                    index: idx
                        .rows()
                        .into_iter()
                        .map(|r| r.iter().map(|&v| v as u32).collect())
                        .collect(),
                    mask: m
                        .rows()
                        .into_iter()
                        .map(|r| r.iter().map(|&v| v == 1).collect())
                        .collect(),
                },
            );
        }
        if let Some(layer) = mask.keys().next() {
            return Err(arr_err(
                &format!("{layer}.index"),
                "missing (its .mask is there)".into(),
            ));
        }
        Ok(Choices { layers })
    }

    /// Layer `name`'s choices, checked against its channels, row blocks and
    /// the pool size.
    pub fn layer(
        &self,
        name: &str,
        channels: usize,
        blocks: usize,
        pool: usize,
    ) -> Result<&LayerChoices, String> {
        let c = self
            .layers
            .get(name)
            .ok_or_else(|| format!("the choices hold no `{name}.index` / `{name}.mask`"))?;
        if c.index.len() != channels || c.index.iter().any(|r| r.len() != blocks) {
            return Err(format!(
                "the choices are ({}, {}); the layer has {channels} channels x {blocks} row blocks",
                c.index.len(),
                c.index.first().map_or(0, Vec::len)
            ));
        }
        if let Some(&k) = c.index.iter().flatten().find(|&&k| k as usize >= pool) {
            return Err(format!(
                "pool index {k} in the choices: the pool has {pool} vectors"
            ));
        }
        Ok(c)
    }
}
