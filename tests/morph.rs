//! Macro-size-aware morphing (issue 14, stage 1): the plan stays within its
//! tile budget and never holds fewer real weights at the network's own
//! budget; residual adds keep their channel counts equal; a grown network
//! computes what the original did; `compress --morph` writes a network that
//! compresses like any other; a budget that cannot hold the network exits 2.

use cimpool::compress::morph;
use cimpool::config::Config;
use cimpool::network::graph::FloatLayer;
use cimpool::network::model::{ModelDesc, Network};
use cimpool::network::{builtin, tensors};
use std::path::{Path, PathBuf};
use std::process::Command;

fn digits(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/digits")
        .join(name)
}

fn digits_config() -> Config {
    let c = Config::from_toml(&std::fs::read_to_string(digits("hw.toml")).unwrap())
        .unwrap()
        .resolved();
    c.validate().unwrap();
    c
}

fn outputs(net: &Network, x: &[f32]) -> Vec<f32> {
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
    net.graph.forward_float(&layer, x, &mut |_, _| {})
}

#[test]
fn a_grown_network_computes_what_the_original_did() {
    let desc =
        ModelDesc::from_toml(&std::fs::read_to_string(digits("model.toml")).unwrap()).unwrap();
    let net = desc
        .network(&tensors::read_tensors(&digits("mlp.npz")).unwrap())
        .unwrap();
    let config = digits_config();
    // 8 tiles: fc1 fills a second pass of lanes (128 -> 256 channels).
    let (plan, ch) = morph::plan(&net, &config, Some(8)).unwrap();
    assert_eq!(plan.tiles_before, 5);
    assert!(plan.tiles_after <= 8);
    assert_eq!(plan.layers[0], ("fc1".to_string(), 128, 256), "{plan:?}");
    assert!(plan.utilization_after > plan.utilization_before, "{plan:?}");
    let (d2, t2) = morph::apply(&net, &desc, &ch, 1);
    let grown = d2.network(&t2).unwrap();
    assert_eq!(grown.layers[1].fan_in, 256);
    let test = tensors::read_dataset(&digits("test.npz"), true).unwrap();
    for x in test.x.iter().take(50) {
        let x: Vec<f32> = x.iter().map(|&v| v as f32 / 16.0).collect();
        let (a, b) = (outputs(&net, &x), outputs(&grown, &x));
        for (p, q) in a.iter().zip(&b) {
            assert!((p - q).abs() <= 1e-4 * p.abs().max(1.0), "{a:?} vs {b:?}");
        }
    }
}

#[test]
fn residual_networks_morph_within_the_budget_and_keep_adds_consistent() {
    let desc = builtin::network("resnet-fmnist").unwrap();
    let net = desc.network(&builtin::random_weights(&desc, 1)).unwrap();
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/fmnist/hw.toml"),
    )
    .unwrap();
    let config = Config::from_toml(&text).unwrap().resolved();
    for budget in [None, Some(24), Some(64)] {
        let (plan, ch) = morph::plan(&net, &config, budget).unwrap();
        assert!(plan.tiles_after <= plan.budget, "{plan:?}");
        if budget.is_none() {
            assert!(
                plan.utilization_after >= plan.utilization_before,
                "{plan:?}"
            );
        }
        // The morphed network builds: every add still sums equal shapes.
        let (d2, t2) = morph::apply(&net, &desc, &ch, 1);
        let m = d2.network(&t2).unwrap();
        let out = |name: &str| {
            m.layers
                .iter()
                .find(|l| l.name == name)
                .unwrap()
                .out_channels
        };
        // The stem and the first block's second conv meet in an add.
        assert_eq!(out("conv1"), out("layer1.0.conv2"), "{plan:?}");
        assert_eq!(out("fc"), 10, "the classes stay");
    }
}

fn cimpool(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cimpool"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn compress_morph_writes_a_network_that_compresses_like_any_other() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let common = |out: &Path| -> Vec<String> {
        [
            "--config",
            &digits("hw.toml").display().to_string(),
            "--calib",
            &digits("calib.npz").display().to_string(),
            "--keep",
            "0.5",
            "--out",
            &out.display().to_string(),
        ]
        .map(String::from)
        .to_vec()
    };
    let mut first = vec![
        "compress".to_string(),
        "--weights".into(),
        digits("cnn.npz").display().to_string(),
        "--model".into(),
        digits("cnn.toml").display().to_string(),
        "--morph".into(),
    ];
    first.extend(common(&a));
    let out = cimpool(&first.iter().map(String::as_str).collect::<Vec<_>>());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("morph: 6 tiles -> 6"), "{text}");
    // The written description and weights give the same images.
    let mut second = vec![
        "compress".to_string(),
        "--weights".into(),
        a.join("morphed.npz").display().to_string(),
        "--model".into(),
        a.join("morphed.toml").display().to_string(),
    ];
    second.extend(common(&b));
    let out = cimpool(&second.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "conv1.hex",
        "conv2.hex",
        "fc.hex",
        "pool.hex",
        "manifest.json",
    ] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn a_budget_that_cannot_hold_the_network_exits_2() {
    let out = cimpool(&[
        "report",
        "utilization",
        "--network",
        "resnet18-cifar",
        "--morph",
        "--morph-budget",
        "10",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("morph budget: 10 tiles cannot hold the network"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn a_written_folded_network_compresses_to_the_same_images() {
    let tmp = tempfile::tempdir().unwrap();
    let fm = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/fmnist");
    let f = |n: &str| fm.join(n).display().to_string();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let common = [
        "--config",
        &f("hw.toml"),
        "--calib",
        &f("calib.npz"),
        "--pool",
        &f("pool.npy"),
        "--keep",
        "0.5",
    ];
    let (ad, bd) = (a.display().to_string(), b.display().to_string());
    let first = cimpool(
        &[
            &[
                "compress",
                "--network",
                "resnet-fmnist",
                "--weights",
                &f("resnet_finetuned.npz"),
            ][..],
            &common,
            &["--write-folded", "--out", &ad],
        ]
        .concat(),
    );
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let toml = std::fs::read_to_string(a.join("folded.toml")).unwrap();
    assert!(!toml.contains("bn = "), "BatchNorm folded away:\n{toml}");
    let (m, w) = (a.join("folded.toml"), a.join("folded.npz"));
    let second = cimpool(
        &[
            &[
                "compress",
                "--model",
                &m.display().to_string(),
                "--weights",
                &w.display().to_string(),
            ][..],
            &common,
            &["--out", &bd],
        ]
        .concat(),
    );
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let mut compared = 0;
    for e in std::fs::read_dir(&a).unwrap() {
        let name = e.unwrap().file_name();
        let n = name.to_string_lossy();
        if n.ends_with(".hex") || n == "manifest.json" {
            assert_eq!(
                std::fs::read(a.join(&name)).unwrap(),
                std::fs::read(b.join(&name)).unwrap(),
                "{n}"
            );
            compared += 1;
        }
    }
    assert!(compared >= 11, "{compared} files");
}
