//! The network in float: forward passes for reference, and scoring
//! outputs against labels (the float and the golden integer paths share it).

use super::geometry::Geometry;

/// Eight independent partial sums so the loop vectorises.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// A layer on one sample's (y, x, c) map in float: `relu(W x + b)` at
/// every output position, before pooling.
pub fn float_map(w: &[f32], b: &[f32], g: &Geometry, x: &[f32], relu: bool) -> Vec<f32> {
    g.im2col(x, 0.0)
        .iter()
        .flat_map(|row| float_layer(w, b, g.fan_in(), row, relu))
        .collect()
}

/// `relu(W x + b)` in float for one input vector.
pub fn float_layer(w: &[f32], b: &[f32], fan_in: usize, x: &[f32], relu: bool) -> Vec<f32> {
    w.chunks_exact(fan_in)
        .zip(b)
        .map(|(row, &bias)| {
            let v = dot(row, x) + bias;
            if relu {
                v.max(0.0)
            } else {
                v
            }
        })
        .collect()
}

pub fn argmax<T: PartialOrd + Copy>(v: &[T]) -> usize {
    (0..v.len()).fold(0, |best, i| if v[i] > v[best] { i } else { best })
}

/// Share of samples whose largest output is the label.
pub fn accuracy<T: PartialOrd + Copy>(outputs: &[Vec<T>], labels: &[i64]) -> f64 {
    let right = outputs
        .iter()
        .zip(labels)
        .filter(|(o, &y)| argmax(o) as i64 == y)
        .count();
    right as f64 / labels.len().max(1) as f64
}
