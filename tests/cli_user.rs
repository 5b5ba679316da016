//! The command line as a new user meets it (each case found by trying the
//! README): refusals in one line with exit 2 and no panic, output folders
//! that hold exactly one run, JSON for scripts.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn cimpool(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cimpool"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run cimpool")
}

fn digits(file: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/digits")
        .join(file)
        .display()
        .to_string()
}

/// A refusal: exit 2, one line on stderr naming `words`, no panic.
fn refused(out: &Output, words: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    for w in words {
        assert!(err.contains(w), "`{w}` missing from: {err}");
    }
}

#[test]
fn dense_with_benes_and_single_lane_dense_are_refused_by_validation() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let dense = ["gen", "--engine", "dense", "--w-bits", "4", "--out", "d"];
    assert!(cimpool(&dense, dir).status.success());
    // The README's order: a dense package in the folder, then benes on it.
    let out = cimpool(
        &[
            "gen",
            "--config",
            "d/cim_config.toml",
            "--set",
            "crossbar=benes",
            "--out",
            "b",
        ],
        dir,
    );
    refused(&out, &["crossbar", "dense"]);
    let out = cimpool(
        &[
            "gen", "--engine", "dense", "--macros", "1", "--rows", "2", "--cols", "2", "--w-bits",
            "2", "--out", "one",
        ],
        dir,
    );
    refused(&out, &["cols", "2 lanes"]);
    let out = cimpool(
        &["route", "--config", "d/cim_config.toml", "--indices", "0,1"],
        dir,
    );
    refused(&out, &["dense"]);
}

#[test]
fn route_checks_its_indices_and_writes_json() {
    let tmp = tempfile::tempdir().unwrap();
    let out = cimpool(&["route", "--pool", "8", "--indices", "0,1,2"], tmp.path());
    refused(&out, &["3 values", "pool = 8"]);
    let out = cimpool(
        &["route", "--pool", "8", "--indices", "0,1,2,3,4,5,6,9"],
        tmp.path(),
    );
    refused(&out, &["9", "slot 7"]);
    let out = cimpool(
        &[
            "route",
            "--pool",
            "8",
            "--crossbar",
            "benes",
            "--indices",
            "3,1,0,2,7,5,4,6",
            "--json",
            "-",
        ],
        tmp.path(),
    );
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["slots"].as_array().unwrap().len(), 8);
    assert_eq!(v["switch_bits"], 20);
}

#[test]
fn cosim_refuses_a_blackbox_package() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let gen = [
        "gen",
        "--macros",
        "1",
        "--rows",
        "8",
        "--cols",
        "8",
        "--pool",
        "4",
        "--storage",
        "blackbox",
        "--out",
        "bb",
    ];
    assert!(cimpool(&gen, dir).status.success());
    let out = cimpool(&["cosim", "--rtl", "bb", "--build", "build"], dir);
    refused(&out, &["blackbox", "flops"]);
}

#[test]
fn a_regenerated_package_leaves_no_file_of_the_one_before() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let small = ["--macros", "1", "--rows", "8", "--cols", "8", "--pool", "4"];
    let args = |extra: &[&'static str]| -> Vec<&str> {
        let mut a = vec!["gen"];
        a.extend_from_slice(&small);
        a.extend_from_slice(extra);
        a
    };
    assert!(cimpool(&args(&["--storage", "blackbox"]), dir)
        .status
        .success());
    assert!(dir.join("hdl/macros").is_dir());
    let out = cimpool(&args(&[]), dir);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("replaced the package"));
    assert!(
        !dir.join("hdl/macros").exists(),
        "the blackbox views stayed"
    );
    // A folder of the user's own is not overwritten, unless forced.
    std::fs::create_dir(dir.join("notes")).unwrap();
    std::fs::write(dir.join("notes/todo.txt"), "mine").unwrap();
    refused(
        &cimpool(&args(&["--out", "notes"]), dir),
        &["notes", "--force"],
    );
    assert!(dir.join("notes/todo.txt").exists());
    assert!(cimpool(&args(&["--out", "notes", "--force"]), dir)
        .status
        .success());
    assert!(dir.join("notes/files.f").exists() && !dir.join("notes/todo.txt").exists());
    // --out naming a file is bad input.
    std::fs::write(dir.join("file"), "x").unwrap();
    refused(&cimpool(&args(&["--out", "file"]), dir), &["is a file"]);
    // No staging folder is left behind.
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".partial-"))
        .collect();
    assert!(left.is_empty());
}

#[test]
fn compress_replaces_its_images_warns_about_unused_tensors_and_needs_calib_only_when_used() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (w, m, hw, calib) = (
        digits("mlp.npz"),
        digits("model.toml"),
        digits("hw.toml"),
        digits("calib.npz"),
    );
    let base = [
        "compress",
        "--weights",
        &w,
        "--model",
        &m,
        "--config",
        &hw,
        "--keep",
        "1",
    ];
    let with = |extra: &[&str]| -> Output {
        let mut a: Vec<&str> = base.to_vec();
        a.extend_from_slice(extra);
        cimpool(&a, dir)
    };
    let out = with(&["--calib", &calib, "--out", "img"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(dir.join("img/stale.hex"), "0").unwrap();
    let out = with(&["--calib", &calib, "--out", "img"]);
    assert!(out.status.success());
    assert!(
        !dir.join("img/stale.hex").exists(),
        "a file of the earlier run stayed"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("replacing the images there"));
    // Nothing sets the scales: one line naming --calib.
    refused(&with(&["--out", "img2"]), &["--calib"]);
    assert!(!dir.join("img2").exists(), "a refused run leaves no folder");
    // --scales-from sets them, and exact read-out uses nothing else.
    let out = with(&["--scales-from", "img", "--out", "img3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.join("img3/manifest.json").exists());
    // --out naming a file: bad input.
    std::fs::write(dir.join("file"), "x").unwrap();
    refused(&with(&["--calib", &calib, "--out", "file"]), &["is a file"]);
    // A description that leaves out a layer: the rest compresses, with a warning.
    let one_layer = dir.join("one.toml");
    let text = std::fs::read_to_string(&m).unwrap();
    let first: Vec<&str> = text.split("[[layer]]").collect();
    std::fs::write(&one_layer, format!("{}[[layer]]{}", first[0], first[1])).unwrap();
    let out = cimpool(
        &[
            "compress",
            "--weights",
            &w,
            "--model",
            one_layer.to_str().unwrap(),
            "--config",
            &hw,
            "--calib",
            &calib,
            "--out",
            "img4",
        ],
        dir,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning:") && err.contains("no node of the description reads"),
        "{err}"
    );
}

#[test]
fn run_writes_json_for_scripts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (w, m, hw, calib, test) = (
        digits("mlp.npz"),
        digits("model.toml"),
        digits("hw.toml"),
        digits("calib.npz"),
        digits("test.npz"),
    );
    let out = cimpool(
        &[
            "compress",
            "--weights",
            &w,
            "--model",
            &m,
            "--config",
            &hw,
            "--calib",
            &calib,
            "--keep",
            "1",
            "--out",
            "img",
        ],
        dir,
    );
    assert!(out.status.success());
    let out = cimpool(
        &["run", "--images", "img", "--data", &test, "--json", "-"],
        dir,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let acc = v["accuracy"].as_f64().unwrap();
    assert!(acc > 0.8 && acc <= 1.0, "{v}");
    assert_eq!(v["samples"].as_u64().unwrap(), 360);
}

#[test]
fn the_port_document_states_sparse_timing_compact_rows_and_output_sign() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let gen = [
        "gen",
        "--engine",
        "dense",
        "--w-bits",
        "4",
        "--macros",
        "2",
        "--rows",
        "64",
        "--cols",
        "16",
        "--wl-parallel",
        "16",
        "--sparsity",
        "compact",
        "--slots",
        "2",
        "--out",
        "d",
    ];
    assert!(cimpool(&gen, dir).status.success());
    let doc = std::fs::read_to_string(dir.join("d/cim_top.md")).unwrap();
    assert!(
        !doc.contains("row d of a column is the weight's element d"),
        "{doc}"
    );
    assert!(doc.contains("phase block its slot"));
    assert!(!doc.contains("cycles at best"));
    assert!(doc.contains("fewer on a sparse tile"));
    assert!(doc.contains("two's complement while it is 0"));
    assert!(cimpool(&["gen", "--out", "p"], dir).status.success());
    let doc = std::fs::read_to_string(dir.join("p/cim_top.md")).unwrap();
    assert!(doc.contains("cycles at best"));
}
