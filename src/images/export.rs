//! The integer network a set of memory images loads, as plain arrays
//! (`cimpool export`): what an outside model of the hardware (the ADC-aware
//! training of `tools/adc_train.py`) needs to compute exactly what the
//! golden model computes, without decoding load words.
//!
//! Per engine layer `n`, in the manifest's channel order and the im2col row
//! order of docs/SPEC.md section 4 (row blocks of R rows, padded):
//! - pool engine: `n.pool_bits` and `n.error_bits` (out, blocks * R), the
//!   cells of the pool vector each channel selects and of its error column
//!   (1 = +1); `n.mask` (out, blocks), the error mask of each tile;
//!   `n.index` (out, blocks), the pool index each channel's tile selects;
//! - dense engine: `n.weight` (out, blocks * R), the `w_bits` weights as the
//!   engine reads them (0 in phase blocks it skips);
//! - host layer: `n.weight` (out, fan_in), its 8-bit weights;
//! - every layer: `n.bias` (out) and `n.scales` = [alpha, beta, shift,
//!   adc_shift, relu] from its scale word.
//!
//! The graph (host operations, activation scales) is the images'
//! manifest.json; the configuration is their cim_config.toml.

use super::Images;
use super::{decode_layer, DecodeError};
use crate::golden::{bit, Engine, Scales};
use ndarray::{Array1, Array2};

/// One named array of the export.
pub enum Exported {
    Int(Array2<i64>),
    Bits(Array2<u8>),
    Vector(Array1<i64>),
}

pub fn arrays(images: &Images) -> Result<Vec<(String, Exported)>, DecodeError> {
    let c = &images.config;
    let rows = c.rows as usize;
    let lanes = c.lanes() as usize;
    let mut out = Vec::new();
    for (li, layer) in images.manifest.layers.iter().enumerate() {
        let n = &layer.name;
        let outs = layer.out_channels;
        let scales_of = |s: &Scales| {
            Array1::from(vec![
                s.alpha,
                s.beta,
                s.shift as i64,
                s.adc_shift as i64,
                s.relu as i64,
            ])
        };
        if let Some(w) = &images.host[li] {
            let weight = Array2::from_shape_fn((outs, layer.fan_in), |(o, k)| {
                w[o * layer.fan_in + k] as i64
            });
            out.push((format!("{n}.weight"), Exported::Int(weight)));
            out.push((
                format!("{n}.bias"),
                Exported::Vector(Array1::from(layer.host_bias.clone())),
            ));
            let s = Scales {
                alpha: layer.alpha,
                beta: 0,
                shift: layer.shift,
                relu: layer.relu,
                adc_shift: 0,
            };
            out.push((format!("{n}.scales"), Exported::Vector(scales_of(&s))));
            continue;
        }
        let tiles = decode_layer(images, li)?;
        let width = layer.row_blocks * rows;
        let mut bias = Array1::zeros(outs);
        let mut scales = None;
        if c.is_dense() {
            let mut weight = Array2::zeros((outs, width));
            for (tile, w) in layer.tiles.iter().zip(&tiles) {
                let engine = Engine::new(c, w.clone());
                for ch in tile.channels[0]..tile.channels[1] {
                    let l = ch - tile.pass * lanes;
                    for r in 0..rows {
                        weight[[ch, tile.block * rows + r]] = engine.dense_weight(l, r as u32);
                    }
                    bias[ch] = w.bias[l];
                }
                scales.get_or_insert_with(|| scales_of(&w.scales));
            }
            out.push((format!("{n}.weight"), Exported::Int(weight)));
        } else {
            let mut pool_bits = Array2::zeros((outs, width));
            let mut error_bits = Array2::zeros((outs, width));
            let mut mask = Array2::zeros((outs, layer.row_blocks));
            let mut index = Array2::zeros((outs, layer.row_blocks));
            for (tile, w) in layer.tiles.iter().zip(&tiles) {
                for ch in tile.channels[0]..tile.channels[1] {
                    let l = ch - tile.pass * lanes;
                    let p = &w.pool[w.index[l] as usize];
                    for r in 0..rows {
                        pool_bits[[ch, tile.block * rows + r]] = bit(p, r as u32) as u8;
                        error_bits[[ch, tile.block * rows + r]] = bit(&w.error[l], r as u32) as u8;
                    }
                    mask[[ch, tile.block]] = w.mask[l] as u8;
                    index[[ch, tile.block]] = w.index[l] as i64;
                    bias[ch] = w.bias[l];
                }
                scales.get_or_insert_with(|| scales_of(&w.scales));
            }
            out.push((format!("{n}.pool_bits"), Exported::Bits(pool_bits)));
            out.push((format!("{n}.error_bits"), Exported::Bits(error_bits)));
            out.push((format!("{n}.mask"), Exported::Bits(mask)));
            out.push((format!("{n}.index"), Exported::Int(index)));
        }
        out.push((format!("{n}.bias"), Exported::Vector(bias)));
        out.push((
            format!("{n}.scales"),
            Exported::Vector(scales.unwrap_or_else(|| Array1::zeros(5))),
        ));
    }
    Ok(out)
}

/// Writes [`arrays`] of `images` as an .npz file; returns the array count.
pub fn write_npz(images: &Images, path: &std::path::Path) -> Result<usize, super::ImagesError> {
    let cannot = |reason: String| super::ImagesError::Write {
        path: path.to_path_buf(),
        reason,
    };
    let arrays = arrays(images)?;
    let file = std::fs::File::create(path).map_err(|e| cannot(e.to_string()))?;
    let mut npz = ndarray_npy::NpzWriter::new(std::io::BufWriter::new(file));
    for (name, array) in &arrays {
        match array {
            Exported::Int(a) => npz.add_array(name.as_str(), a),
            Exported::Bits(a) => npz.add_array(name.as_str(), a),
            Exported::Vector(a) => npz.add_array(name.as_str(), a),
        }
        .map_err(|e| cannot(e.to_string()))?;
    }
    npz.finish().map_err(|e| cannot(e.to_string()))?;
    Ok(arrays.len())
}

/// Every sample's integer outputs (samples x outputs) as an int64 .npy file.
pub fn write_outputs(
    path: &std::path::Path,
    outputs: &[Vec<i64>],
) -> Result<(), super::ImagesError> {
    use ndarray_npy::WriteNpyExt;
    let cannot = |reason: String| super::ImagesError::Write {
        path: path.to_path_buf(),
        reason,
    };
    let width = outputs.first().map_or(0, Vec::len);
    let array = ndarray::Array2::from_shape_fn((outputs.len(), width), |(s, o)| outputs[s][o]);
    let file = std::fs::File::create(path).map_err(|e| cannot(e.to_string()))?;
    array
        .write_npy(std::io::BufWriter::new(file))
        .map_err(|e| cannot(e.to_string()))
}
