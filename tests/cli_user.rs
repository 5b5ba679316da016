//! The command line as a new user meets it (each case found by trying the
//! README): refusals in one line with exit 2 and no panic, output folders
//! that hold exactly one run, JSON for scripts.

use std::path::Path;
use std::process::{Command, Output};

/// `cimpool` with a command line split at spaces, run in `cwd`; `$D/` in it
/// stands for the digits fixtures folder.
fn cimpool(cwd: &Path, line: &str) -> Output {
    let digits = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/digits/");
    Command::new(env!("CARGO_BIN_EXE_cimpool"))
        .args(line.replace("$D/", digits).split_whitespace())
        .current_dir(cwd)
        .output()
        .expect("run cimpool")
}

fn succeeds(cwd: &Path, line: &str) -> Output {
    let out = cimpool(cwd, line);
    assert!(
        out.status.success(),
        "{line}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
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

const SMALL: &str = "--macros 1 --rows 8 --cols 8 --pool 4";
const DIGITS_MLP: &str =
    "compress --weights $D/mlp.npz --model $D/model.toml --config $D/hw.toml --keep 1";

#[test]
fn dense_with_benes_and_single_lane_dense_are_refused_by_validation() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    succeeds(dir, "gen --engine dense --w-bits 4 --out d");
    // The README's order: a dense package in the folder, then benes on it.
    let out = cimpool(
        dir,
        "gen --config d/cim_config.toml --set crossbar=benes --out b",
    );
    refused(&out, &["crossbar", "dense"]);
    let out = cimpool(
        dir,
        "gen --engine dense --macros 1 --rows 2 --cols 2 --w-bits 2 --out one",
    );
    refused(&out, &["cols", "2 lanes"]);
    let out = cimpool(dir, "route --config d/cim_config.toml --indices 0,1");
    refused(&out, &["dense"]);
}

#[test]
fn route_checks_its_indices_and_writes_json() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    refused(
        &cimpool(dir, "route --pool 8 --indices 0,1,2"),
        &["3 values", "pool = 8"],
    );
    refused(
        &cimpool(dir, "route --pool 8 --indices 0,1,2,3,4,5,6,9"),
        &["9", "slot 7"],
    );
    let out = succeeds(
        dir,
        "route --pool 8 --crossbar benes --indices 3,1,0,2,7,5,4,6 --json -",
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["slots"].as_array().unwrap().len(), 8);
    assert_eq!(v["switch_bits"], 20);
}

#[test]
fn cosim_refuses_a_blackbox_package() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    succeeds(dir, &format!("gen {SMALL} --storage blackbox --out bb"));
    let out = cimpool(dir, "cosim --rtl bb --build build");
    refused(&out, &["blackbox", "flops"]);
}

#[test]
fn a_regenerated_package_leaves_no_file_of_the_one_before() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    succeeds(dir, &format!("gen {SMALL} --storage blackbox"));
    assert!(dir.join("hdl/macros").is_dir());
    let out = succeeds(dir, &format!("gen {SMALL}"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("replaced the package"));
    assert!(
        !dir.join("hdl/macros").exists(),
        "the blackbox views stayed"
    );
    // A folder of the user's own is not overwritten, unless forced.
    std::fs::create_dir(dir.join("notes")).unwrap();
    std::fs::write(dir.join("notes/todo.txt"), "mine").unwrap();
    refused(
        &cimpool(dir, &format!("gen {SMALL} --out notes")),
        &["notes", "--force"],
    );
    assert!(dir.join("notes/todo.txt").exists());
    succeeds(dir, &format!("gen {SMALL} --out notes --force"));
    assert!(dir.join("notes/files.f").exists() && !dir.join("notes/todo.txt").exists());
    // --out naming a file is bad input.
    std::fs::write(dir.join("file"), "x").unwrap();
    refused(
        &cimpool(dir, &format!("gen {SMALL} --out file")),
        &["is a file"],
    );
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
    succeeds(dir, &format!("{DIGITS_MLP} --calib $D/calib.npz --out img"));
    std::fs::write(dir.join("img/stale.hex"), "0").unwrap();
    let out = succeeds(dir, &format!("{DIGITS_MLP} --calib $D/calib.npz --out img"));
    assert!(
        !dir.join("img/stale.hex").exists(),
        "a file of the earlier run stayed"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("replacing the images there"));
    // Nothing sets the scales: one line naming --calib.
    refused(
        &cimpool(dir, &format!("{DIGITS_MLP} --out img2")),
        &["--calib"],
    );
    assert!(!dir.join("img2").exists(), "a refused run leaves no folder");
    // --scales-from sets them, and exact read-out uses nothing else.
    succeeds(dir, &format!("{DIGITS_MLP} --scales-from img --out img3"));
    assert!(dir.join("img3/manifest.json").exists());
    // --out naming a file: bad input.
    std::fs::write(dir.join("file"), "x").unwrap();
    refused(
        &cimpool(
            dir,
            &format!("{DIGITS_MLP} --calib $D/calib.npz --out file"),
        ),
        &["is a file"],
    );
    // A description that leaves out a layer: the rest compresses, with a warning.
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/digits/model.toml");
    let text = std::fs::read_to_string(model).unwrap();
    let first: Vec<&str> = text.split("[[layer]]").collect();
    std::fs::write(
        dir.join("one.toml"),
        format!("{}[[layer]]{}", first[0], first[1]),
    )
    .unwrap();
    let out = succeeds(
        dir,
        "compress --weights $D/mlp.npz --model one.toml --config $D/hw.toml --calib $D/calib.npz --out img4",
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
    succeeds(dir, &format!("{DIGITS_MLP} --calib $D/calib.npz --out img"));
    let out = succeeds(dir, "run --images img --data $D/test.npz --json -");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let acc = v["accuracy"].as_f64().unwrap();
    assert!(acc > 0.8 && acc <= 1.0, "{v}");
    assert_eq!(v["samples"].as_u64().unwrap(), 360);
}

#[test]
fn the_port_document_states_sparse_timing_compact_rows_and_output_sign() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    succeeds(
        dir,
        "gen --engine dense --w-bits 4 --macros 2 --rows 64 --cols 16 --wl-parallel 16 --sparsity compact --slots 2 --out d",
    );
    let doc = std::fs::read_to_string(dir.join("d/cim_top.md")).unwrap();
    assert!(
        !doc.contains("row d of a column is the weight's element d"),
        "{doc}"
    );
    assert!(doc.contains("phase block its slot"));
    // A sparse tile's pace is a formula in its computed phase blocks s
    // (checked on the RTL by every co-simulation: `cosim::pace`).
    assert!(doc.contains("at best when every phase block of the tile is computed"));
    assert!(
        doc.contains("is accepted every max(8 x s, 1) cycles"),
        "{doc}"
    );
    assert!(
        doc.contains("8 x s + 5 cycles on a tile that computes s phase blocks"),
        "{doc}"
    );
    assert!(doc.contains("two's complement while it is 0"));
    succeeds(dir, "gen --out p");
    let doc = std::fs::read_to_string(dir.join("p/cim_top.md")).unwrap();
    assert!(doc.contains("cycles at best"));
}
