//! tools/lane_scales.py (issue 27, "per-lane scales"): the weight SQNR of a
//! pool-engine network with compress's per-layer alpha and beta, the
//! layer's least-squares pair and each output channel's least-squares
//! pair, on the same choices. Each is the best over a larger set than the
//! one before, so the columns must not fall; a dense folder and choices
//! that do not fit are refused in one line.

mod common;

use std::path::Path;
use std::process::Output;

fn digits(name: &str) -> String {
    common::fixture("digits", name)
}

fn lane_scales(args: &[&str]) -> Output {
    common::train_tool("lane_scales.py", args)
}

/// Compresses the digits CNN (`extra` flags) into `dir`, weights folded.
fn compress(dir: &Path, extra: &[&str]) {
    let (w, m, hw, calib) = (
        digits("cnn.npz"),
        digits("cnn.toml"),
        digits("hw.toml"),
        digits("calib.npz"),
    );
    let out = dir.display().to_string();
    let mut args = vec![
        "compress",
        "--weights",
        &w,
        "--model",
        &m,
        "--config",
        &hw,
        "--calib",
        &calib,
        "--write-folded",
        "--out",
        &out,
    ];
    args.extend(extra);
    let o = common::cimpool(&args);
    assert!(o.status.success(), "{}", common::text(&o));
}

#[test]
fn per_lane_scales_never_reconstruct_worse_than_per_layer_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pt");
    compress(&dir, &["--keep", "0.5"]);
    let (images, folded) = (
        dir.display().to_string(),
        dir.join("folded.npz").display().to_string(),
    );
    let out = lane_scales(&["--images", &images, "--weights", &folded, "--json"]);
    assert!(out.status.success(), "{}", common::text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["keep"], 0.5);
    let layers = report["layers"].as_array().unwrap();
    let names: Vec<&str> = layers
        .iter()
        .map(|l| l["layer"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["conv1", "conv2", "fc"]);
    let weights: u64 = layers.iter().map(|l| l["weights"].as_u64().unwrap()).sum();
    assert_eq!(weights, 16 * 9 + 32 * 16 * 9 + 10 * 128);
    // compress's own scales: the SQNR its report gives for the layer.
    let compressed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    for (l, c) in layers.iter().zip(compressed["layers"].as_array().unwrap()) {
        let s = &l["sqnr_db"];
        let (layer, layer_ls, lane_ls) = (
            s["layer"].as_f64().unwrap(),
            s["layer_ls"].as_f64().unwrap(),
            s["lane_ls"].as_f64().unwrap(),
        );
        let reported = c["sqnr_db"].as_f64().unwrap();
        assert!(
            (layer - reported).abs() < 0.01,
            "{}: {layer} dB here, compress reported {reported}",
            l["layer"]
        );
        assert!(layer_ls >= layer - 1e-9, "{l}");
        assert!(lane_ls >= layer_ls - 1e-9, "{l}");
        assert!(l["channel_rms_spread"].as_f64().unwrap() >= 1.0, "{l}");
    }
}

/// The ResNet-20 fixture, fine-tuned and pinned to training's choices (as
/// `make train` writes its images): with `--choices` the first column is
/// the SQNR compress reports for each of the 22 layers, and the report's
/// keep ratio is the pinned masks' share.
#[test]
fn pinned_choices_give_compresss_own_sqnr_on_resnet20() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("images");
    let f = |name: &str| common::fixture("fmnist", name);
    let (weights, choices, images) = (
        f("resnet20_finetuned.npz"),
        f("resnet20_choices.npz"),
        dir.display().to_string(),
    );
    let o = common::compress_resnet20_fixture(&dir);
    assert!(o.status.success(), "{}", common::text(&o));
    let out = lane_scales(&[
        "--images",
        &images,
        "--weights",
        &weights,
        "--choices",
        &choices,
        "--json",
    ]);
    assert!(out.status.success(), "{}", common::text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        (report["keep"].as_f64().unwrap() - 0.35).abs() < 0.005,
        "{}",
        report["keep"]
    );
    let compressed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let (layers, reported) = (
        report["layers"].as_array().unwrap(),
        compressed["layers"].as_array().unwrap(),
    );
    assert_eq!(layers.len(), 22);
    for (l, c) in layers.iter().zip(reported) {
        let (here, there) = (
            l["sqnr_db"]["layer"].as_f64().unwrap(),
            c["sqnr_db"].as_f64().unwrap(),
        );
        assert!(
            (here - there).abs() < 0.01,
            "{}: {here} vs {there}",
            l["layer"]
        );
        assert!(
            l["sqnr_db"]["lane_ls"].as_f64().unwrap() >= here - 1e-9,
            "{l}"
        );
    }
}

#[test]
fn bad_folders_and_choices_are_refused_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dense");
    compress(&dir, &["--engine", "dense", "--w-bits", "4"]);
    let (images, folded) = (
        dir.display().to_string(),
        dir.join("folded.npz").display().to_string(),
    );
    let pool_dir = tmp.path().join("pool");
    compress(&pool_dir, &[]);
    let (pool, pool_folded) = (
        pool_dir.display().to_string(),
        pool_dir.join("folded.npz").display().to_string(),
    );
    let other_choices = common::fixture("fmnist", "resnet20_choices.npz");
    for (args, needle) in [
        (
            vec!["--images", images.as_str(), "--weights", folded.as_str()],
            "a dense-engine folder",
        ),
        (
            vec!["--images", "/nonexistent", "--weights", folded.as_str()],
            "no manifest.json",
        ),
        // Choices without the images' layers (ResNet-20's for the digits CNN).
        (
            vec![
                "--images",
                pool.as_str(),
                "--weights",
                pool_folded.as_str(),
                "--choices",
                other_choices.as_str(),
            ],
            "no `conv2.index`",
        ),
    ] {
        let out = lane_scales(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.trim().lines().count() == 1 && err.contains(needle),
            "{args:?}: {err}"
        );
    }
}
