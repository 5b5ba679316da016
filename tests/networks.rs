//! Real network shapes: ONNX import (checked against numpy's float outputs
//! and against the hand-written description of the same network), a
//! residual network on the golden model against a plain integer reference
//! of every node, one residual block's layers under Verilator from their
//! images, and bad ONNX files refused with one line and exit code 2.

mod common;

use cimpool::compress;
use cimpool::config::Config;
use cimpool::cosim::scenario::{Command, Scenario};
use cimpool::network::graph::{Op, Source};
use cimpool::network::{self, model::ModelDesc, onnx, tensors};

/// An ONNX file's description and tensors (its default output).
fn import(
    path: &std::path::Path,
    input_scale: f64,
) -> Result<
    (
        ModelDesc,
        std::collections::BTreeMap<String, tensors::Tensor>,
    ),
    onnx::OnnxError,
> {
    let imported = onnx::import(
        path,
        &onnx::Options {
            input_scale,
            output: None,
        },
    )?;
    Ok((imported.description, imported.tensors))
}
use cimpool::{images, run};
use std::path::{Path, PathBuf};

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path)
}

fn float_outputs(net: &network::model::Network, x: &[Vec<i64>]) -> Vec<Vec<f32>> {
    x.iter()
        .map(|x| {
            let x: Vec<f32> = x
                .iter()
                .map(|&v| v as f32 * net.input_scale as f32)
                .collect();
            let layer = |li: usize| {
                let l = &net.layers[li];
                network::graph::FloatLayer {
                    weights: &l.weights,
                    bias: &l.bias,
                    geometry: &l.geometry,
                    relu: l.relu,
                    clip: l.clip,
                }
            };
            net.graph.forward_float(&layer, &x, &mut |_, _| {})
        })
        .collect()
}

/// cimpool's float evaluation of `net` equals the numpy outputs `out` of
/// fixture `io` on its inputs `x`.
fn assert_float_matches_numpy(net: &network::model::Network, io: &str) {
    let data = tensors::read_dataset(&fixture(io), false).unwrap();
    let file = std::fs::File::open(fixture(io)).unwrap();
    let want: ndarray::Array2<f32> = ndarray_npy::NpzReader::new(file)
        .unwrap()
        .by_name("out")
        .unwrap();
    let got = float_outputs(net, &data.x);
    for (s, y) in got.iter().enumerate() {
        for (k, &v) in y.iter().enumerate() {
            let w = want[[s, k]];
            assert!(
                (v - w).abs() < 1e-4,
                "sample {s} output {k}: cimpool {v}, numpy {w}"
            );
        }
    }
}

fn resblock() -> network::model::Network {
    let (desc, ts) = import(&fixture("onnx/resblock.onnx"), 1.0 / 16.0).unwrap();
    desc.network(&ts).unwrap()
}

/// BatchNormalization (with a non-default epsilon), Relu, padded MaxPool,
/// strided Conv, a downsample branch, Add, AveragePool, GlobalAveragePool,
/// Flatten (of a 1x1 map) and MatMul + Add: cimpool's float evaluation of the import equals
/// numpy's forward pass of the same weights.
#[test]
fn onnx_residual_network_imports_and_matches_numpy() {
    let net = resblock();
    let ops: Vec<String> = net
        .graph
        .nodes
        .iter()
        .map(|n| match &n.op {
            Op::Layer(li) => format!("layer {}", net.layers[*li].name),
            Op::Add { relu } => format!("add relu={relu}"),
            other => format!("{other:?}").split('(').next().unwrap().to_string(),
        })
        .collect();
    assert_eq!(
        ops,
        [
            "layer conv1",
            "MaxPool",
            "layer layer1.0.conv1",
            "layer layer1.0.conv2",
            "layer layer1.0.downsample.0",
            "add relu=true",
            "AvgPool",
            "AvgPool",
            // The Flatten of the 1x1 global pool moves nothing: no node.
            "layer fc",
        ]
    );
    assert_float_matches_numpy(&net, "onnx/resblock_io.npz");
}

/// Channel shuffles as torchvision exports them (Reshape to (N, g, C/g, H,
/// W), Transpose (0, 2, 1, 3, 4), Reshape back) before a depthwise conv,
/// before a max pool and a 1x1 conv, and before the global pool and the
/// classifier: no node is added (each shuffle is folded into the inputs of
/// the layer that reads it), and cimpool's float evaluation equals numpy's.
/// The network then compresses and runs on the golden model.
#[test]
fn onnx_channel_shuffles_fold_into_the_next_layer() {
    let (desc, ts) = import(&fixture("onnx/shuffle.onnx"), 1.0 / 16.0).unwrap();
    let net = desc.network(&ts).unwrap();
    let ops: Vec<String> = net
        .graph
        .nodes
        .iter()
        .map(|n| match &n.op {
            Op::Layer(li) => format!("layer {}", net.layers[*li].name),
            other => format!("{other:?}").split('(').next().unwrap().to_string(),
        })
        .collect();
    assert_eq!(
        ops,
        [
            "layer conv1",
            "layer dw",
            "layer pw",
            "MaxPool",
            "layer mix",
            "AvgPool",
            "layer fc"
        ]
    );
    assert_float_matches_numpy(&net, "onnx/shuffle_io.npz");
    // Compressed, every node on the golden model equals the plain integer
    // reference (the permuted weights are ordinary weights to the engine).
    let (c, imgs, _dir) = compressed(&net, "onnx/shuffle_io.npz");
    assert_eq!(c.layers.len(), 5);
    assert_golden_equals_reference(&c, &imgs, "onnx/shuffle_io.npz", true);
}

/// The digits CNN from ONNX (explicit Flatten + Gemm) computes what its
/// hand-written description (an fc reading the map) computes.
#[test]
fn onnx_digits_cnn_equals_its_description() {
    let (desc, ts) = import(&fixture("digits/cnn.onnx"), 0.0625).unwrap();
    let from_onnx = desc.network(&ts).unwrap();
    let toml = ModelDesc::from_file(&fixture("digits/cnn.toml")).unwrap();
    let from_toml = toml
        .network(&tensors::read_tensors(&fixture("digits/cnn.npz")).unwrap())
        .unwrap();
    assert_eq!(from_onnx.layers.len(), from_toml.layers.len());
    let test = tensors::read_dataset(&fixture("digits/test.npz"), true).unwrap();
    let a = float_outputs(&from_onnx, &test.x[..40]);
    let b = float_outputs(&from_toml, &test.x[..40]);
    for (x, y) in a.iter().zip(&b) {
        for (p, q) in x.iter().zip(y) {
            assert!((p - q).abs() < 1e-4, "{p} vs {q}");
        }
    }
}

fn hw() -> Config {
    let c = Config::from_toml(&std::fs::read_to_string(fixture("digits/hw.toml")).unwrap())
        .unwrap()
        .resolved();
    c.validate().unwrap();
    c
}

/// The residual network compressed, written as images and read back.
fn compressed_resblock() -> (compress::Compressed, images::Images, tempfile::TempDir) {
    compressed(&resblock(), "onnx/resblock_io.npz")
}

/// `net` compressed on the calibration inputs of fixture `calib`, written as
/// images and read back.
fn compressed(
    net: &network::model::Network,
    calib: &str,
) -> (compress::Compressed, images::Images, tempfile::TempDir) {
    let calib = tensors::read_dataset(&fixture(calib), false).unwrap();
    let options = compress::Options {
        keep_ratio: 0.75,
        iterations: 10,
        seed: 1,
        pool: None,
        sparsity: 0.0,
        scales: None,
        choices: None,
        moments: None,
    };
    // A small pool: the network has few row-block vectors.
    let mut config = hw();
    config.pool = 16;
    config.validate().unwrap();
    let c = compress::compress(&config, net, &calib.x, &options, |_, _, _| {}).unwrap();
    let dir = tempfile::tempdir().unwrap();
    images::write(&c, dir.path()).unwrap();
    let imgs = images::read(dir.path()).unwrap();
    (c, imgs, dir)
}

/// Integer weight of output channel `co`, input row `k` of compressed layer
/// `l`: alpha_i pm(pool[idx]) + beta_i m pm(err), from its tiles.
fn int_weight(c: &compress::Compressed, li: usize, co: usize, k: usize) -> i64 {
    use cimpool::golden::bit;
    let l = &c.layers[li];
    let (rows, lanes) = (
        c.config.rows as usize,
        (c.config.macros * c.config.cols) as usize,
    );
    let t = l
        .tiles
        .iter()
        .find(|t| t.block == k / rows && t.pass == co / lanes)
        .unwrap();
    let (lane, r) = (co % lanes, (k % rows) as u32);
    let pm = |b: bool| if b { 1i64 } else { -1 };
    l.scales.alpha_int * pm(bit(&c.pool[t.index[lane] as usize], r))
        + if t.mask[lane] {
            l.scales.beta_int * pm(bit(&t.error[lane], r))
        } else {
            0
        }
}

fn round_shift(v: i128, s: u32) -> i128 {
    if s == 0 {
        v
    } else {
        (v + (1 << (s - 1))) >> s
    }
}

fn saturate(v: i128, relu: bool, bits: u32) -> i64 {
    let v = if relu { v.max(0) } else { v };
    let (lo, hi) = if relu {
        (0, (1i128 << bits) - 1)
    } else {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    };
    v.clamp(lo, hi) as i64
}

/// The plain integer reference of one node on (y, x, c) maps, written
/// without im2col, tiles or the library's host operations.
fn reference_node(c: &compress::Compressed, i: usize, inputs: &[&Vec<i64>]) -> Vec<i64> {
    let g = &c.graph;
    let n = &g.nodes[i];
    let m = g.map_of(n.inputs[0]);
    let ob = c.config.out_bits;
    match &n.op {
        Op::Layer(li) => {
            let l = &c.layers[*li];
            let geo = &l.geometry;
            let mut out = Vec::new();
            for oy in 0..geo.out_h {
                for ox in 0..geo.out_w {
                    for co in 0..geo.out_c {
                        let mut acc = 0i128;
                        for ky in 0..geo.kernel_h {
                            for kx in 0..geo.kernel_w {
                                let y = (oy * geo.stride + ky) as i64 - geo.padding as i64;
                                let x = (ox * geo.stride + kx) as i64 - geo.padding as i64;
                                if y < 0 || x < 0 || y >= geo.in_h as i64 || x >= geo.in_w as i64 {
                                    continue;
                                }
                                for ci in 0..geo.in_c {
                                    let a = inputs[0]
                                        [(y as usize * geo.in_w + x as usize) * geo.in_c + ci];
                                    let k = (ky * geo.kernel_w + kx) * geo.in_c + ci;
                                    acc += (int_weight(c, *li, co, k) * a) as i128;
                                }
                            }
                        }
                        let v = acc + l.scales.bias_int[co] as i128;
                        out.push(saturate(round_shift(v, l.scales.shift), l.relu, ob));
                    }
                }
            }
            out
        }
        Op::Add { relu } => {
            let s = c.adds[i].unwrap();
            inputs[0]
                .iter()
                .zip(inputs[1])
                .map(|(&a, &b)| {
                    let v = s.ma as i128 * a as i128 + s.mb as i128 * b as i128;
                    saturate(round_shift(v, s.k), *relu, ob)
                })
                .collect()
        }
        Op::MaxPool(w) | Op::AvgPool(w) => {
            let o = w.out(m).unwrap();
            let mut out = Vec::new();
            for oy in 0..o.h {
                for ox in 0..o.w {
                    for ch in 0..m.c {
                        let mut vals = Vec::new();
                        for dy in 0..w.kernel_h {
                            for dx in 0..w.kernel_w {
                                let y = (oy * w.stride + dy) as i64 - w.padding as i64;
                                let x = (ox * w.stride + dx) as i64 - w.padding as i64;
                                if y >= 0 && x >= 0 && (y as usize) < m.h && (x as usize) < m.w {
                                    vals.push(
                                        inputs[0][(y as usize * m.w + x as usize) * m.c + ch],
                                    );
                                }
                            }
                        }
                        out.push(match n.op {
                            Op::MaxPool(_) => *vals.iter().max().unwrap(),
                            _ => {
                                let (s, k) = (vals.iter().sum::<i64>(), vals.len() as i64);
                                (2 * s + k).div_euclid(2 * k)
                            }
                        });
                    }
                }
            }
            out
        }
        Op::Concat => {
            // Each input at the output scale (multiplier over 2^16, round
            // half up), channel blocks one after another at each position.
            let sy = c.scales[i];
            let mut out = Vec::new();
            for p in 0..m.h * m.w {
                for (k, src) in n.inputs.iter().enumerate() {
                    let (si, ci) = match src {
                        Source::Input => (c.input_scale, g.input.c),
                        Source::Node(j) => (c.scales[*j], g.nodes[*j].out.c),
                    };
                    let mult = (si / sy * 65536.0).round() as i128;
                    for ch in 0..ci {
                        let v = mult * inputs[k][p * ci + ch] as i128;
                        out.push(saturate(round_shift(v, 16), !n.signed, ob));
                    }
                }
            }
            out
        }
        Op::Flatten => {
            let mut out = vec![0; m.len()];
            for y in 0..m.h {
                for x in 0..m.w {
                    for ch in 0..m.c {
                        out[(ch * m.h + y) * m.w + x] = inputs[0][(y * m.w + x) * m.c + ch];
                    }
                }
            }
            out
        }
    }
}

/// Every node of the compressed residual network on the golden model (from
/// its images) equals the plain integer reference fed with the golden
/// model's own inputs to that node: engine layers (runtime ReLU on and
/// off), the residual add with its multipliers, both poolings and flatten.
#[test]
fn residual_network_on_the_golden_model_equals_a_plain_integer_reference() {
    let (c, imgs, _dir) = compressed_resblock();
    assert_golden_equals_reference(&c, &imgs, "onnx/resblock_io.npz", true);
}

/// The same on PyTorch's export (tests/onnx_exporters.rs): a channel concat
/// of a ReLU6 branch and a ReLU branch (two scales), the block-diagonal
/// depthwise conv, ReLU6 as the requantizer's saturation at its fixed scale.
#[test]
fn pytorch_network_with_concat_and_relu6_on_the_golden_model_equals_the_reference() {
    // Input scale 8 (not the fixture's 1/16): activations large enough
    // for the ReLU6 layers to clip.
    let (desc, ts) = import(&fixture("onnx/torch/dynamo/model.onnx"), 8.0).unwrap();
    let net = desc.network(&ts).unwrap();
    let (c, imgs, _dir) = compressed(&net, "onnx/torch/io.npz");
    let concat = c
        .graph
        .nodes
        .iter()
        .position(|n| n.op == Op::Concat)
        .unwrap();
    let scales: Vec<f64> = c.graph.nodes[concat]
        .inputs
        .iter()
        .map(|s| match s {
            Source::Node(j) => c.scales[*j],
            Source::Input => c.input_scale,
        })
        .collect();
    assert!(scales[0] != scales[1], "the concat rescales: {scales:?}");
    // ReLU6 layers: output scale 6 / 255.
    for (i, n) in c.graph.nodes.iter().enumerate() {
        if let Op::Layer(li) = n.op {
            if net.layers[li].clip.is_some() {
                assert!((c.scales[i] - 6.0 / 255.0).abs() < 1e-12, "{}", n.name);
            }
        }
    }
    let top = assert_golden_equals_reference(&c, &imgs, "onnx/torch/io.npz", false);
    assert!(top, "a ReLU6 layer reaches its top (255)");
}

/// Every node on the golden model equals the reference; whether a ReLU6
/// layer's output reached 255.
fn assert_golden_equals_reference(
    c: &compress::Compressed,
    imgs: &images::Images,
    io: &str,
    want_signed: bool,
) -> bool {
    let data = tensors::read_dataset(&fixture(io), false).unwrap();
    let x = &data.x[..6];
    let g = &imgs.graph;
    let maps: Vec<Vec<Vec<i64>>> = (0..g.nodes.len())
        .map(|i| run::golden_at(imgs, x, i, |_, _| {}).unwrap())
        .collect();
    let input: Vec<Vec<i64>> = x
        .iter()
        .map(|s| network::graph::from_chw(g.input, s))
        .collect();
    let mut signed_seen = false;
    let mut clipped_top = false;
    for (i, n) in g.nodes.iter().enumerate() {
        for s in 0..x.len() {
            let ins: Vec<&Vec<i64>> = n
                .inputs
                .iter()
                .map(|src| match src {
                    Source::Input => &input[s],
                    Source::Node(j) => &maps[*j][s],
                })
                .collect();
            let want = reference_node(c, i, &ins);
            assert_eq!(maps[i][s], want, "node `{}`, sample {s}", n.name);
            signed_seen |= want.iter().any(|&v| v < 0);
            if matches!(n.op, Op::Layer(_)) && (c.scales[i] - 6.0 / 255.0).abs() < 1e-12 {
                clipped_top |= want.contains(&255);
            }
        }
    }
    if want_signed {
        assert!(signed_seen, "layers without ReLU produce negative values");
    }
    clipped_top
}

/// The engine layers of the residual block (conv1, conv2 without ReLU, the
/// strided 1x1 downsample) under Verilator from the compressor's images,
/// fed with the golden model's maps: bit-exact on every output beat, so the
/// block's add (on the host, checked above) sees what the RTL computes.
#[test]
fn residual_block_layers_run_bit_exact_under_verilator_from_their_images() {
    common::require_tool("verilator");
    let (_, imgs, _dir) = compressed_resblock();
    let data = tensors::read_dataset(&fixture("onnx/resblock_io.npz"), false).unwrap();
    let x = &data.x[..2];
    let g = &imgs.graph;
    let (_tmp, pkg) = common::generate(&imgs.config);
    let build = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cosim");
    let mut commands: Vec<Command> = imgs.pool.iter().cloned().map(Command::Load).collect();
    let mut outputs = 0;
    for name in ["layer1.0.conv1", "layer1.0.conv2", "layer1.0.downsample.0"] {
        let li = imgs
            .manifest
            .layers
            .iter()
            .position(|l| l.name == name)
            .unwrap();
        let node = g.nodes.iter().position(|n| n.op == Op::Layer(li)).unwrap();
        let Source::Node(src) = g.nodes[node].inputs[0] else {
            panic!("{name} reads a node")
        };
        let maps = run::golden_at(&imgs, x, src, |_, _| {}).unwrap();
        let layer = &imgs.manifest.layers[li];
        for map in &maps {
            for v in layer.geometry.im2col(map, 0) {
                outputs += 1;
                for (ti, tile) in layer.tiles.iter().enumerate() {
                    commands.extend(imgs.tiles[li][ti].iter().cloned().map(Command::Load));
                    let mut cut = v[tile.rows[0]..tile.rows[1]].to_vec();
                    cut.resize(imgs.config.rows as usize, 0);
                    commands.push(Command::Input {
                        x: cut,
                        first: tile.block == 0,
                        last: tile.block + 1 == layer.row_blocks,
                    });
                }
            }
        }
    }
    let r = cimpool::cosim::cosimulate_scenario(
        &pkg,
        &build,
        &Scenario { commands },
        Default::default(),
    )
    .unwrap_or_else(|e| panic!("co-simulation of the residual block failed:\n{e}"));
    assert_eq!(r.output_vectors, outputs);
    eprintln!("residual block under Verilator: {r}");
}

/// A truncated file, bytes that are not ONNX, and an unsupported operator:
/// one line naming the file (and the node and operator), exit code 2.
#[test]
fn bad_onnx_files_are_refused_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture("onnx/resblock.onnx")).unwrap();
    let truncated = dir.path().join("truncated.onnx");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let garbage = dir.path().join("garbage.onnx");
    std::fs::write(&garbage, b"\xff\xff\xff\xff not protobuf").unwrap();
    for f in [&truncated, &garbage] {
        let e = import(f, 1.0).unwrap_err().to_string();
        assert!(
            e.contains(&*f.display().to_string()) && e.contains("not a valid ONNX file"),
            "{e}"
        );
        assert_compress_refuses(f, "onnx/resblock_io.npz", "not a valid ONNX file");
    }
    // The residual network with one Relu turned into a Sigmoid.
    let sigmoid = edited_onnx(dir.path(), "onnx/resblock.onnx", "/relu/Relu", |relu| {
        relu.op_type = onnx_rs::ast::OpType::Sigmoid
    });
    let e = import(&sigmoid, 1.0).unwrap_err().to_string();
    assert!(e.contains("unsupported operators: Sigmoid x1;"), "{e}");
    assert_compress_refuses(
        &sigmoid,
        "onnx/resblock_io.npz",
        "unsupported operators: Sigmoid x1;",
    );
}

/// A copy of the ONNX fixture `name` in `dir` with its node `node` edited.
fn edited_onnx(
    dir: &Path,
    name: &str,
    node: &str,
    edit: impl FnOnce(&mut onnx_rs::ast::Node),
) -> PathBuf {
    let bytes = std::fs::read(fixture(name)).unwrap();
    let mut model = onnx_rs::parse(&bytes).unwrap();
    let graph = model.graph.as_mut().unwrap();
    edit(graph.node.iter_mut().find(|n| n.name == node).unwrap());
    let path = dir.join(format!("edited-{}", name.replace('/', "-")));
    std::fs::write(&path, onnx_rs::encode(&model)).unwrap();
    path
}

/// `cimpool compress --onnx` refuses `onnx` (calibrated on the fixture
/// `io`) in one line that says `needle`.
fn assert_compress_refuses(onnx: &Path, io: &str, needle: &str) {
    common::assert_refused(
        &[
            "compress",
            "--onnx",
            &onnx.display().to_string(),
            "--calib",
            &fixture(io).display().to_string(),
        ],
        needle,
    );
}

/// A Transpose of a feature map that is not a channel shuffle moves data
/// cimpool does not move: refused in one line naming the node.
#[test]
fn a_transpose_that_is_not_a_channel_shuffle_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bad = edited_onnx(
        dir.path(),
        "onnx/shuffle.onnx",
        "/shuffle2/Transpose",
        |t| t.attribute[0].ints = vec![0, 1, 2, 4, 3],
    );
    assert_compress_refuses(
        &bad,
        "onnx/shuffle_io.npz",
        "cimpool takes a Transpose of a map only in a channel shuffle",
    );
}

/// `report utilization` from shapes alone: the residual CNN on 2 macros of
/// 64x64 fills 29.4% of the cells its tiles occupy (its 16-channel layers
/// use 16 of 128 lanes); a description without shapes needs --weights.
#[test]
fn utilization_report_counts_real_and_occupied_cells() {
    let out = common::cimpool(&[
        "report",
        "utilization",
        "--network",
        "resnet-fmnist",
        "--config",
        "fixtures/fmnist/hw.toml",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("| conv1 | 16 x 9 | 1 x 1 | 784 | 144 / 8192 | 1.8% | 1 |"),
        "{text}"
    );
    assert!(
        text.contains("network: 29.4% of the occupied weight cells hold real weights"),
        "{text}"
    );
    common::assert_refused(
        &[
            "report",
            "utilization",
            "--model",
            "fixtures/fmnist/mlp.toml",
            "--config",
            "fixtures/fmnist/hw.toml",
        ],
        "layer `fc1` has no `shape` in the description: add one or give --weights",
    );
}
