//! Decoding a layer's loads into the weights every tile holds, as the
//! hardware would apply them.

use super::Images;
use crate::golden::Weights;
use crate::loadport::{LoadError, LoadPort};

/// A load the images hold that the port cannot apply.
#[derive(Debug, thiserror::Error)]
#[error("layer `{layer}`: {source}")]
pub struct DecodeError {
    pub layer: String,
    pub source: LoadError,
}

/// The weights every tile of layer `li` loads (decoded as the hardware
/// would), with its manifest entry; empty for a host layer.
pub fn decode_layer(images: &Images, li: usize) -> Result<Vec<Weights>, DecodeError> {
    let layer = &images.manifest.layers[li];
    if images.host[li].is_some() {
        return Ok(vec![]);
    }
    let load_err = |source| DecodeError {
        layer: layer.name.clone(),
        source,
    };
    let mut port = LoadPort::new(&images.config);
    let mut weights = port.empty_weights();
    for load in &images.pool {
        port.apply(&mut weights, load).map_err(load_err)?;
    }
    let mut out = Vec::with_capacity(layer.tiles.len());
    for ti in 0..layer.tiles.len() {
        for load in &images.tiles[li][ti] {
            port.apply(&mut weights, load).map_err(load_err)?;
        }
        out.push(weights.clone());
    }
    Ok(out)
}
