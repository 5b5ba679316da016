//! ONNX files as real exporters write them (fixtures/onnx/torch, sklearn:
//! tools/make_onnx_exporters.py) and the model graphs that ship in the
//! `onnx` wheel (build/venv, made by `make venv`, which `make test` runs):
//! they import, compute what the exporting framework computed, and what
//! remains unsupported is refused in one line.

mod common;

use cimpool::network::{graph::FloatLayer, model::Network, onnx, tensors};
use std::path::{Path, PathBuf};

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path)
}

fn import(path: &Path, input_scale: f64) -> onnx::Imported {
    onnx::import(
        path,
        &onnx::Options {
            input_scale,
            output: None,
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn float_outputs(net: &Network, x: &[Vec<i64>]) -> Vec<Vec<f32>> {
    x.iter()
        .map(|x| {
            let x: Vec<f32> = x
                .iter()
                .map(|&v| v as f32 * net.input_scale as f32)
                .collect();
            let layer = |li: usize| {
                let l = &net.layers[li];
                FloatLayer {
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

fn npz_f32(path: &Path, name: &str) -> ndarray::Array2<f32> {
    let file = std::fs::File::open(path).unwrap();
    ndarray_npy::NpzReader::new(file)
        .unwrap()
        .by_name(name)
        .unwrap()
}

fn npz_i64(path: &Path, name: &str) -> ndarray::Array1<i64> {
    let file = std::fs::File::open(path).unwrap();
    ndarray_npy::NpzReader::new(file)
        .unwrap()
        .by_name(name)
        .unwrap()
}

fn assert_close(got: &[Vec<f32>], want: &ndarray::Array2<f32>, tol: f32, what: &str) {
    assert_eq!(got.len(), want.nrows(), "{what}: samples");
    for (s, y) in got.iter().enumerate() {
        assert_eq!(y.len(), want.ncols(), "{what}: outputs");
        for (k, &v) in y.iter().enumerate() {
            let w = want[[s, k]];
            assert!(
                (v - w).abs() <= tol * (1.0 + w.abs()),
                "{what}: sample {s} output {k}: cimpool {v}, exporter {w}"
            );
        }
    }
}

/// PyTorch's default (dynamo) exporter, weights in `model.onnx.data`, and
/// the legacy exporter (Identity aliases of initializers, a `Shape` chain
/// for `x.view(x.size(0), -1)`, reversed-slice padding): both import into
/// the same network, whose float outputs are PyTorch's scores before the
/// softmax. The network holds BatchNorm, a residual add, an explicit pad,
/// a depthwise conv with ReLU6, a channel concat and average pooling.
#[test]
fn pytorch_exports_import_and_compute_what_pytorch_did() {
    let io = fixture("onnx/torch/io.npz");
    let data = tensors::read_dataset(&io, false).unwrap();
    let logits = npz_f32(&io, "logits");
    let mut layer_counts = vec![];
    for file in ["onnx/torch/dynamo/model.onnx", "onnx/torch/legacy.onnx"] {
        let imported = import(&fixture(file), 1.0 / 16.0);
        let notes = imported.notes.join("\n");
        assert!(
            notes.contains("trailing Softmax dropped"),
            "{file}: {notes}"
        );
        assert!(
            notes.contains("grouped convolution (8 groups)"),
            "{file}: {notes}"
        );
        let net = imported.description.network(&imported.tensors).unwrap();
        // stem, conv1, conv2, dw, pw, branch, fc.
        assert_eq!(net.layers.len(), 7, "{file}");
        assert_eq!(
            net.layers.iter().filter(|l| l.clip == Some(6.0)).count(),
            2,
            "{file}: the two ReLU6"
        );
        let concat = net
            .graph
            .nodes
            .iter()
            .find(|n| n.op == cimpool::network::graph::Op::Concat)
            .expect("a concat node");
        assert_eq!(concat.out.c, 24, "{file}");
        assert_close(&float_outputs(&net, &data.x), &logits, 1e-4, file);
        let est = common::cimpool(&["estimate", "--onnx", &fixture(file).display().to_string()]);
        assert!(
            est.status.success(),
            "estimate {file}: {}",
            common::text(&est)
        );
        layer_counts.push(
            net.layers
                .iter()
                .map(|l| l.weights.len())
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(
        layer_counts[0], layer_counts[1],
        "both exporters give one network"
    );
}

/// The dynamo export without its external data file: one line naming the
/// missing file, exit 2.
#[test]
fn missing_external_data_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.onnx");
    std::fs::copy(fixture("onnx/torch/dynamo/model.onnx"), &model).unwrap();
    let e = onnx::import(
        &model,
        &onnx::Options {
            input_scale: 1.0,
            output: None,
        },
    )
    .err()
    .expect("refused")
    .to_string();
    assert!(
        e.contains("external data file") && e.contains("model.onnx.data"),
        "{e}"
    );
    common::assert_refused(
        &[
            "compress",
            "--onnx",
            &model.display().to_string(),
            "--calib",
            &fixture("onnx/torch/io.npz").display().to_string(),
            "--out",
            &dir.path().join("out").display().to_string(),
        ],
        "model.onnx.data",
    );
    assert!(
        !dir.path().join("out").exists(),
        "no output folder on a refusal"
    );
}

/// scikit-learn MLPClassifier, alone and after a StandardScaler, as
/// skl2onnx writes them: the label branch (ArgMax, ArrayFeatureExtractor,
/// Reshape, Cast) and ZipMap / Softmax are cut, the Scaler folds into the
/// first layer, and the softmax of cimpool's float scores is
/// `predict_proba`.
#[test]
fn sklearn_exports_import_and_compute_predict_proba() {
    let io = fixture("onnx/sklearn/io.npz");
    let data = tensors::read_dataset(&io, false).unwrap();
    for name in ["mlp", "scaled_mlp"] {
        let imported = import(&fixture(&format!("onnx/sklearn/{name}.onnx")), 1.0);
        let notes = imported.notes.join("\n");
        assert!(
            notes.contains("`output_label` (a class label) left out"),
            "{notes}"
        );
        assert!(
            notes.contains("trailing ZipMap, Softmax dropped"),
            "{notes}"
        );
        let net = imported.description.network(&imported.tensors).unwrap();
        assert_eq!(net.layers.len(), 2, "{name}");
        let file = fixture(&format!("onnx/sklearn/{name}.onnx"))
            .display()
            .to_string();
        let est = common::cimpool(&["estimate", "--onnx", &file, "--set", "pool=8"]);
        assert!(
            est.status.success(),
            "estimate {name}: {}",
            common::text(&est)
        );
        let probs: Vec<Vec<f32>> = float_outputs(&net, &data.x)
            .into_iter()
            .map(|z| {
                let m = z.iter().cloned().fold(f32::MIN, f32::max);
                let e: Vec<f32> = z.iter().map(|v| (v - m).exp()).collect();
                let s: f32 = e.iter().sum();
                e.iter().map(|v| v / s).collect()
            })
            .collect();
        assert_close(&probs, &npz_f32(&io, &format!("{name}_proba")), 1e-4, name);
        let predicted = npz_i64(&io, &format!("{name}_y"));
        for (s, p) in probs.iter().enumerate() {
            assert_eq!(
                cimpool::network::float::argmax(p) as i64,
                predicted[s],
                "{name}: sample {s}"
            );
        }
    }
    // Choosing the output by name; a name the graph lacks is refused.
    let scaled = fixture("onnx/sklearn/scaled_mlp.onnx");
    let chosen = onnx::import(
        &scaled,
        &onnx::Options {
            input_scale: 1.0,
            output: Some("output_probability".into()),
        },
    )
    .unwrap();
    assert_eq!(chosen.description.nodes().len(), 2);
    let s = scaled.display().to_string();
    let est = common::cimpool(&[
        "estimate",
        "--onnx",
        &s,
        "--onnx-output",
        "output_probability",
        "--set",
        "pool=8",
    ]);
    assert!(est.status.success(), "{}", common::text(&est));
    common::assert_refused(
        &["estimate", "--onnx", &s, "--onnx-output", "nope"],
        "--onnx-output `nope` is not a value of the graph",
    );
    common::assert_refused(
        &[
            "compress",
            "--onnx",
            &scaled.display().to_string(),
            "--onnx-output",
            "nope",
            "--calib",
            &io.display().to_string(),
        ],
        "--onnx-output `nope` is not a value of the graph (its outputs are output_label, output_probability)",
    );
}

/// The model graphs of the `onnx` wheel's backend test data (ONNX model
/// zoo architectures with constant-fill weights, every initializer a
/// `ConstantOfShape`).
fn light_models() -> PathBuf {
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("build/venv/lib");
    let found = std::fs::read_dir(&lib).ok().and_then(|d| {
        d.flatten()
            .map(|p| p.path().join("site-packages/onnx/backend/test/data/light"))
            .find(|p| p.is_dir())
    });
    found.unwrap_or_else(|| {
        panic!(
            "the onnx wheel's test models are missing under {}: run `make venv` (make test does)",
            lib.display()
        )
    })
}

/// Every unsupported operator of a graph in one line, with counts: AlexNet
/// and ZFNet have LRN; a mid-graph operator on feature maps is named at
/// its node (DenseNet's per-channel Mul after a BatchNorm).
#[test]
fn unsupported_operators_are_listed_in_one_line() {
    let light = light_models();
    for net in ["bvlc_alexnet", "zfnet512", "inception_v1"] {
        let f = light.join(format!("light_{net}.onnx"));
        common::assert_refused(
            &["estimate", "--onnx", &f.display().to_string()],
            "unsupported operators: LRN x2;",
        );
    }
    common::assert_refused(
        &[
            "estimate",
            "--onnx",
            &light.join("light_densenet121.onnx").display().to_string(),
        ],
        "(Mul): `Mul` on a feature map is not supported",
    );
}

/// SqueezeNet (channel concats), ResNet-50 (Sum, BatchNorm) and VGG-19
/// from the model zoo import, estimate and compress; SqueezeNet also runs
/// on the golden model (its concats on the host).
#[test]
fn model_zoo_graphs_import_estimate_and_compress() {
    let light = light_models();
    let dir = tempfile::tempdir().unwrap();
    // Two seeded 3x224x224 calibration images.
    let calib = dir.path().join("calib.npz");
    {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let x = ndarray::Array2::<u8>::from_shape_fn((2, 3 * 224 * 224), |_| rng.gen());
        let y = ndarray::Array1::<i64>::zeros(2);
        let mut w = ndarray_npy::NpzWriter::new(std::fs::File::create(&calib).unwrap());
        w.add_array("x", &x).unwrap();
        w.add_array("y", &y).unwrap();
        w.finish().unwrap();
    }
    for (net, layers) in [("squeezenet", 26), ("resnet50", 54), ("vgg19", 19)] {
        let f = light.join(format!("light_{net}.onnx"));
        let f = f.display().to_string();
        let est = common::cimpool(&["estimate", "--onnx", &f, "--json", "-"]);
        assert!(est.status.success(), "{net}: {}", common::text(&est));
        let report: serde_json::Value = serde_json::from_slice(&est.stdout)
            .unwrap_or_else(|e| panic!("{net}: estimate --json - is not JSON on stdout: {e}"));
        assert!(
            report["entries"].as_array().is_some_and(|e| !e.is_empty()),
            "{net}"
        );
        let out = dir.path().join(net);
        let c = common::cimpool(&[
            "compress",
            "--onnx",
            &f,
            "--calib",
            &calib.display().to_string(),
            "--input-scale",
            "0.01",
            "--out",
            &out.display().to_string(),
        ]);
        assert!(c.status.success(), "{net}: {}", common::text(&c));
        let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
        let m: serde_json::Value = serde_json::from_str(&manifest).unwrap();
        assert_eq!(m["layers"].as_array().unwrap().len(), layers, "{net}");
        if net == "squeezenet" {
            let r = common::cimpool(&[
                "run",
                "--images",
                &out.display().to_string(),
                "--data",
                &calib.display().to_string(),
            ]);
            assert!(r.status.success(), "{}", common::text(&r));
            assert!(
                manifest.contains("\"op\": \"concat\""),
                "squeezenet has concats"
            );
        }
        std::fs::remove_dir_all(&out).unwrap();
    }
}
