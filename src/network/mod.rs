//! Reading networks: weights and data sets (`tensors`, `idx`), model
//! descriptions and BatchNorm folding (`model`), ONNX import (`onnx`),
//! built-in shapes (`builtin`), the network graph with the host's integer
//! operations (`graph`, `geometry`), and the float forward pass (`float`).
//! Everything downstream (compression, images, golden runs) starts from the
//! `model::Network` built here.

pub mod builtin;
pub mod float;
pub mod geometry;
pub mod graph;
pub mod idx;
pub mod model;
pub mod onnx;
pub mod tensors;
