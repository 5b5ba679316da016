//! Built-in network shapes, as model descriptions with PyTorch /
//! torchvision state-dict names, and seeded random weights for them, so
//! `compress` and `run` can be exercised on a ResNet without training.

use super::model::{ModelDesc, NodeDesc, OpKind};
use super::tensors::Tensor;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

/// The built-in networks: (name, what).
pub const NETWORKS: [(&str, &str); 4] = [
    (
        "resnet18",
        "torchvision ResNet-18 for ImageNet: 3x224x224, 7x7 stem, max pool, 1000 classes",
    ),
    (
        "resnet18-cifar",
        "ResNet-18 for CIFAR: 3x32x32, 3x3 stem, no max pool, 10 classes",
    ),
    (
        "resnet-fmnist",
        "a small residual CNN for Fashion-MNIST: 1x28x28, 3 stages of one basic block (16, 32, 64 channels), 10 classes",
    ),
    (
        "resnet20-fmnist",
        "ResNet-20 (He et al.'s CIFAR depth) for Fashion-MNIST: 1x28x28, 3 stages of three basic blocks (16, 32, 64 channels), 10 classes, 0.27 M weights",
    ),
];

/// The description of built-in network `name`.
pub fn network(name: &str) -> Option<ModelDesc> {
    Some(match name {
        "resnet18" => resnet(
            [3, 224, 224],
            Stem::ImageNet,
            &[(64, 2), (128, 2), (256, 2), (512, 2)],
            1000,
        ),
        "resnet18-cifar" => resnet(
            [3, 32, 32],
            Stem::Small(64),
            &[(64, 2), (128, 2), (256, 2), (512, 2)],
            10,
        ),
        "resnet-fmnist" => resnet(
            [1, 28, 28],
            Stem::Small(16),
            &[(16, 1), (32, 1), (64, 1)],
            10,
        ),
        "resnet20-fmnist" => resnet(
            [1, 28, 28],
            Stem::Small(16),
            &[(16, 3), (32, 3), (64, 3)],
            10,
        ),
        _ => return None,
    })
}

enum Stem {
    /// conv 7x7 / 2, max pool 3x3 / 2 (64 channels).
    ImageNet,
    /// conv 3x3 / 1 with this many channels.
    Small(usize),
}

fn node(name: &str, op: OpKind) -> NodeDesc {
    NodeDesc::new(name, op)
}

fn conv(
    name: &str,
    bn: &str,
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    relu: bool,
) -> NodeDesc {
    NodeDesc {
        bn: Some(bn.into()),
        shape: Some(vec![cout, cin, k, k]),
        stride: Some(stride),
        padding: k / 2,
        relu,
        ..node(name, OpKind::Conv)
    }
}

/// A ResNet of basic blocks: `stages` are (channels, blocks); a stage after
/// the first halves the map in its first block (3x3 / 2 conv and a 1x1 / 2
/// downsample with BatchNorm on the shortcut).
fn resnet(input: [usize; 3], stem: Stem, stages: &[(usize, usize)], classes: usize) -> ModelDesc {
    let mut nodes = Vec::new();
    let mut c = match stem {
        Stem::ImageNet => {
            nodes.push(conv("conv1", "bn1", input[0], 64, 7, 2, true));
            nodes.push(NodeDesc {
                kernel: Some(3),
                stride: Some(2),
                padding: 1,
                ..node("maxpool", OpKind::MaxPool)
            });
            64
        }
        Stem::Small(width) => {
            nodes.push(conv("conv1", "bn1", input[0], width, 3, 1, true));
            width
        }
    };
    let mut prev = nodes.last().unwrap().name.clone();
    for (si, &(width, blocks)) in stages.iter().enumerate() {
        for b in 0..blocks {
            let p = format!("layer{}.{b}", si + 1);
            let stride = if si > 0 && b == 0 { 2 } else { 1 };
            nodes.push(conv(
                &format!("{p}.conv1"),
                &format!("{p}.bn1"),
                c,
                width,
                3,
                stride,
                true,
            ));
            nodes.push(conv(
                &format!("{p}.conv2"),
                &format!("{p}.bn2"),
                width,
                width,
                3,
                1,
                false,
            ));
            let shortcut = if stride != 1 || c != width {
                nodes.push(NodeDesc {
                    inputs: Some(vec![prev.clone()]),
                    ..conv(
                        &format!("{p}.downsample.0"),
                        &format!("{p}.downsample.1"),
                        c,
                        width,
                        1,
                        stride,
                        false,
                    )
                });
                format!("{p}.downsample.0")
            } else {
                prev.clone()
            };
            nodes.push(NodeDesc {
                inputs: Some(vec![format!("{p}.conv2"), shortcut]),
                relu: true,
                ..node(&format!("{p}.add"), OpKind::Add)
            });
            prev = format!("{p}.add");
            c = width;
        }
    }
    nodes.push(node("avgpool", OpKind::GlobalAvgPool));
    nodes.push(node("flatten", OpKind::Flatten));
    nodes.push(NodeDesc {
        shape: Some(vec![classes, c]),
        ..node("fc", OpKind::Fc)
    });
    ModelDesc {
        input_scale: 1.0 / 255.0,
        input_shape: Some(input.to_vec()),
        layer: vec![],
        node: nodes,
    }
}

/// Seeded random weights for every tensor `desc` needs: Kaiming-normal
/// conv and fc weights, BatchNorm statistics near identity, small biases.
pub fn random_weights(desc: &ModelDesc, seed: u64) -> BTreeMap<String, Tensor> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut normal = move |sd: f32| {
        // Box-Muller.
        let (u, v): (f32, f32) = (rng.gen_range(1e-7..1.0), rng.gen());
        sd * (-2.0 * u.ln()).sqrt() * (2.0 * std::f32::consts::PI * v).cos()
    };
    let mut out = BTreeMap::new();
    for n in desc.nodes() {
        let Some(shape) = &n.shape else { continue };
        let fan_in: usize = shape[1..].iter().product();
        let sd = (2.0 / fan_in as f32).sqrt();
        let len: usize = shape.iter().product();
        let data = (0..len).map(|_| normal(sd)).collect();
        out.insert(
            format!("{}.weight", n.name),
            Tensor {
                shape: shape.clone(),
                data,
            },
        );
        let cout = shape[0];
        let mut vec = |name: String, f: &mut dyn FnMut() -> f32| {
            out.insert(
                name,
                Tensor {
                    shape: vec![cout],
                    data: (0..cout).map(|_| f()).collect(),
                },
            );
        };
        match &n.bn {
            Some(bn) => {
                vec(format!("{bn}.weight"), &mut || 1.0 + normal(0.1));
                vec(format!("{bn}.bias"), &mut || normal(0.1));
                vec(format!("{bn}.running_mean"), &mut || normal(0.1));
                vec(format!("{bn}.running_var"), &mut || 1.0 + normal(0.1).abs());
            }
            None => vec(format!("{}.bias", n.name), &mut || normal(0.01)),
        }
    }
    out
}

/// Parameters of a description's tensors: (all, conv / fc weights only).
pub fn parameter_counts(desc: &ModelDesc) -> (usize, usize) {
    let mut all = 0;
    let mut weights = 0;
    for n in desc.nodes() {
        let Some(shape) = &n.shape else { continue };
        let w: usize = shape.iter().product();
        weights += w;
        // BatchNorm has a weight and a bias per channel (its running
        // statistics are buffers, not parameters); a layer without one has a bias.
        all += w + if n.bn.is_some() {
            2 * shape[0]
        } else {
            shape[0]
        };
    }
    (all, weights)
}

/// The TOML text of a description (what `cimpool model` prints).
pub fn to_toml(name: &str, desc: &ModelDesc) -> String {
    describe(
        &format!(
            "# Built-in network `{name}` (cimpool model {name}): a model description with\n# PyTorch / torchvision state-dict names. Node ops: docs/COMPRESSION.md.\n"
        ),
        desc,
    )
}

/// Any model description as TOML (`[[node]]` entries), after `header`.
pub fn describe(header: &str, desc: &ModelDesc) -> String {
    use std::fmt::Write;
    let mut s = header.to_string();
    let _ = writeln!(s, "input_scale = {}", desc.input_scale);
    if let Some(shape) = &desc.input_shape {
        let _ = writeln!(s, "input_shape = {shape:?}");
    }
    for n in desc.nodes() {
        let op = format!("{:?}", n.op);
        let op: String = op
            .chars()
            .enumerate()
            .flat_map(|(i, ch)| {
                if ch.is_uppercase() && i > 0 {
                    vec!['_', ch.to_ascii_lowercase()]
                } else {
                    vec![ch.to_ascii_lowercase()]
                }
            })
            .collect();
        let _ = write!(s, "\n[[node]]\nname = \"{}\"\nop = \"{op}\"\n", n.name);
        if let Some(inputs) = &n.inputs {
            let _ = writeln!(s, "inputs = {inputs:?}");
        }
        if n.relu {
            s.push_str("relu = true\n");
        }
        if let Some(c) = n.clip {
            let _ = writeln!(s, "clip = {c:?}");
        }
        if let Some(bn) = &n.bn {
            let _ = writeln!(s, "bn = \"{bn}\"");
        }
        if let Some(shape) = &n.shape {
            let _ = writeln!(s, "shape = {shape:?}");
        }
        if let Some(k) = n.kernel {
            let _ = writeln!(s, "kernel = {k}");
        }
        if let Some(st) = n.stride {
            let _ = writeln!(s, "stride = {st}");
        }
        if n.padding > 0 {
            let _ = writeln!(s, "padding = {}", n.padding);
        }
        if let Some(k) = n.max_pool {
            let _ = writeln!(s, "max_pool = {k}");
        }
        if n.uncompressed {
            s.push_str("uncompressed = true\n");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resnet18_has_torchvisions_parameter_counts() {
        let d = network("resnet18").unwrap();
        assert_eq!(parameter_counts(&d), (11_689_512, 11_678_912));
        let cifar = network("resnet18-cifar").unwrap();
        assert_eq!(parameter_counts(&cifar).0, 11_173_962);
        let small = network("resnet-fmnist").unwrap();
        assert!(parameter_counts(&small).1 < 300_000);
        // ResNet-20: 19 convolutions (two 1x1 downsamples among 21) and fc,
        // 270,608 conv and fc weights (the 0.27 M of He et al.'s CIFAR net,
        // which has 3 input channels; here 1).
        let r20 = network("resnet20-fmnist").unwrap();
        let r20_net = r20.network(&random_weights(&r20, 3)).unwrap();
        assert_eq!(r20_net.layers.len(), 22);
        assert_eq!(parameter_counts(&r20).1, 270_608);
    }

    #[test]
    fn descriptions_build_networks_and_print_as_toml_that_reads_back() {
        for (name, _) in NETWORKS {
            let d = network(name).unwrap();
            let ts = random_weights(&d, 1);
            let net = d.network(&ts).unwrap_or_else(|e| panic!("{name}: {e}"));
            let out = net.graph.nodes.last().unwrap().out;
            assert_eq!((out.h, out.w), (1, 1), "{name}");
            let back = ModelDesc::from_toml(&to_toml(name, &d)).unwrap();
            assert_eq!(back.network(&ts).unwrap(), net, "{name}");
        }
        let r18 = network("resnet18")
            .unwrap()
            .network(&random_weights(&network("resnet18").unwrap(), 2))
            .unwrap();
        // 20 convolutions + fc; 8 residual adds; stem max pool, avg pool, flatten.
        assert_eq!(r18.layers.len(), 21);
        let adds = r18
            .graph
            .nodes
            .iter()
            .filter(|n| matches!(n.op, super::super::graph::Op::Add { .. }))
            .count();
        assert_eq!(adds, 8);
        // 224 -> 112 (conv1) -> 56 (max pool) -> 28 -> 14 -> 7.
        let maps: Vec<usize> = r18.layers.iter().map(|l| l.geometry.out_h).collect();
        assert_eq!((maps[0], maps[19]), (112, 7));
    }
}
