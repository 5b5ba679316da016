//! The mean square of every engine layer's input columns on the
//! calibration inputs, `E[x_j^2]`: how much a weight error in column j
//! moves the layer's outputs. Activation-aware clipping
//! (`weight_clip`) and pruning (`compress --prune-by-output`) weigh
//! weight errors by it; `moments.npz` in the images holds it (one float64
//! array per layer, named by the layer) so that training and a later
//! compression weigh alike.

use crate::network::graph::{self, Source};
use crate::network::model::Network;
use crate::network::tensors::Tensor;
use std::collections::BTreeMap;
use std::path::Path;

/// The mean square of every engine layer's im2col input columns over the
/// calibration inputs, in the given network's float arithmetic.
pub fn input_moments(
    net: &Network,
    calibration: &[Vec<i64>],
) -> Result<Vec<Vec<f64>>, super::CompressError> {
    let g = &net.graph;
    if let Some((s, x)) = calibration
        .iter()
        .enumerate()
        .find(|(_, x)| x.len() != g.input.len())
    {
        return Err(super::CompressError::Calibration(format!(
            "sample {s} has {} values where the network takes {}",
            x.len(),
            g.input.len()
        )));
    }
    // Sums of squares of every map a layer reads, element by element.
    let mut reads = vec![false; g.nodes.len()];
    let mut input_read = false;
    for n in &g.nodes {
        if let graph::Op::Layer(_) = n.op {
            match n.inputs[0] {
                Source::Input => input_read = true,
                Source::Node(j) => reads[j] = true,
            }
        }
    }
    let mut sums: Vec<Vec<f64>> = vec![vec![]; g.nodes.len()];
    let mut input_sums: Vec<f64> = vec![];
    let add = |acc: &mut Vec<f64>, y: &[f32]| {
        acc.resize(y.len(), 0.0);
        acc.iter_mut()
            .zip(y)
            .for_each(|(a, &v)| *a += v as f64 * v as f64);
    };
    for x in calibration {
        let x: Vec<f32> = x
            .iter()
            .map(|&v| v as f32 * net.input_scale as f32)
            .collect();
        if input_read {
            add(&mut input_sums, &graph::from_chw(g.input, &x));
        }
        let layer = |li: usize| graph::FloatLayer {
            weights: &net.layers[li].weights,
            bias: &net.layers[li].bias,
            geometry: &net.layers[li].geometry,
            relu: net.layers[li].relu,
            clip: net.layers[li].clip,
        };
        g.forward_float(&layer, &x, &mut |i, y| {
            if reads[i] {
                add(&mut sums[i], y);
            }
        });
    }
    let n = calibration.len().max(1) as f64;
    let mut moments = vec![vec![]; net.layers.len()];
    for node in &g.nodes {
        if let graph::Op::Layer(li) = node.op {
            let map = match node.inputs[0] {
                Source::Input => &input_sums,
                Source::Node(j) => &sums[j],
            };
            let geo = &net.layers[li].geometry;
            let mean: Vec<f64> = if map.is_empty() {
                vec![0.0; geo.inputs()]
            } else {
                map.iter().map(|s| s / n).collect()
            };
            // The im2col columns' mean over the output positions (padding
            // reads 0).
            let rows = geo.im2col(&mean, 0.0);
            let mut m = vec![0.0; geo.fan_in()];
            for r in &rows {
                m.iter_mut().zip(r).for_each(|(a, v)| *a += v);
            }
            // Rounded to float32, as moments.npz holds them: a compression
            // that reads them back weighs exactly as this one.
            m.iter_mut()
                .for_each(|a| *a = (*a / rows.len() as f64) as f32 as f64);
            moments[li] = m;
        }
    }
    Ok(moments)
}

/// Writes `moments.npz` (one float32 array per layer) into `dir`.
pub fn write(dir: &Path, net: &Network, moments: &[Vec<f64>]) -> Result<(), String> {
    let path = dir.join("moments.npz");
    let cannot = |e: String| format!("cannot write {}: {e}", path.display());
    let file = std::fs::File::create(&path).map_err(|e| cannot(e.to_string()))?;
    let mut npz = ndarray_npy::NpzWriter::new(std::io::BufWriter::new(file));
    for (l, m) in net.layers.iter().zip(moments) {
        let a = ndarray::Array1::from_iter(m.iter().map(|&v| v as f32));
        npz.add_array(l.name.as_str(), &a)
            .map_err(|e| cannot(e.to_string()))?;
    }
    npz.finish().map_err(|e| cannot(e.to_string()))?;
    Ok(())
}

/// Moments read back (`--moments FILE`), checked against the network:
/// one array per layer of its fan-in, none negative.
pub fn from_tensors(
    net: &Network,
    tensors: &BTreeMap<String, Tensor>,
) -> Result<Vec<Vec<f64>>, String> {
    net.layers
        .iter()
        .map(|l| {
            let t = tensors
                .get(&l.name)
                .ok_or_else(|| format!("no array `{}` (the layers: {})", l.name, names(net)))?;
            if t.data.len() != l.fan_in {
                return Err(format!(
                    "`{}` holds {} values where the layer has fan-in {}",
                    l.name,
                    t.data.len(),
                    l.fan_in
                ));
            }
            if let Some(v) = t
                .data
                .iter()
                .find(|v| v.is_nan() || **v < 0.0 || v.is_infinite())
            {
                return Err(format!(
                    "`{}` holds {v}: a mean square is finite and >= 0",
                    l.name
                ));
            }
            Ok(t.data.iter().map(|&v| v as f64).collect())
        })
        .collect()
}

fn names(net: &Network) -> String {
    net.layers
        .iter()
        .map(|l| l.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::model::ModelDesc;

    /// A 3x3 convolution with padding 1 on a 2x2 input [[1, 2], [3, 4]]:
    /// each im2col column's mean square over the four output positions
    /// (padding reads 0), then an fc layer on the conv's output map.
    #[test]
    fn moments_are_the_im2col_columns_mean_squares() {
        let desc = ModelDesc::from_toml(
            "input_scale = 1.0\ninput_shape = [1, 2, 2]\n\
             [[layer]]\nname = \"c\"\nkind = \"conv\"\npadding = 1\nrelu = true\n\
             [[layer]]\nname = \"f\"\nkind = \"fc\"\n",
        )
        .unwrap();
        let mut t = BTreeMap::new();
        let tensor = |shape: Vec<usize>, data: Vec<f32>| Tensor { shape, data };
        t.insert(
            "c.weight".into(),
            tensor(
                vec![1, 1, 3, 3],
                vec![0.0; 8].into_iter().chain([1.0]).collect(),
            ),
        );
        t.insert("c.bias".into(), tensor(vec![1], vec![0.5]));
        t.insert("f.weight".into(), tensor(vec![1, 4], vec![1.0; 4]));
        t.insert("f.bias".into(), tensor(vec![1], vec![0.0]));
        let net = desc.network(&t).unwrap();
        let m = input_moments(&net, &[vec![1, 2, 3, 4]]).unwrap();
        let expect = [0.25, 1.25, 1.0, 2.5, 7.5, 5.0, 2.25, 6.25, 4.0];
        assert_eq!(m[0], expect);
        // The conv's output at (y, x) is x[y+1][x+1] + 0.5 (its one weight
        // is the kernel's last cell): [[4.5, 0.5], [0.5, 0.5]], each an fc
        // column of its own.
        assert_eq!(m[1], [20.25, 0.25, 0.25, 0.25]);
    }
}
