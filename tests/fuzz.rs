//! Replays the fuzzing seeds (the fixtures) and every input a fuzzing run
//! once crashed on (`fuzz/regressions/<target>/`) through the harnesses, on
//! the ordinary build: a fixed parser stays fixed without the fuzzer.

use cimpool::fuzzing::{run, Outcome, Target, TARGETS};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A compressed image folder of the digits MLP, as `make fuzz` seeds it.
fn images(dir: &Path) -> PathBuf {
    let out = dir.join("images");
    let d = root().join("fixtures/digits");
    let status = Command::new(env!("CARGO_BIN_EXE_cimpool"))
        .arg("compress")
        .arg("--weights")
        .arg(d.join("mlp.npz"))
        .arg("--model")
        .arg(d.join("model.toml"))
        .arg("--config")
        .arg(d.join("hw.toml"))
        .arg("--calib")
        .arg(d.join("calib.npz"))
        .arg("--out")
        .arg(&out)
        .output()
        .expect("cimpool runs");
    assert!(status.status.success(), "{status:?}");
    out
}

/// The seeds `tools/fuzz.sh` starts each corpus from, which must parse.
fn seeds(target: Target) -> Vec<PathBuf> {
    let r = root();
    let f = |p: &str| r.join(p);
    match target {
        Target::Config => vec![f("src/config/default.toml"), f("fixtures/digits/hw.toml")],
        Target::Model => vec![
            f("fixtures/digits/model.toml"),
            f("fixtures/digits/cnn.toml"),
        ],
        Target::Npy => vec![f("fixtures/digits/pool.npy")],
        Target::Npz => vec![f("fixtures/digits/calib.npz"), f("fixtures/digits/mlp.npz")],
        Target::Safetensors => vec![f("fixtures/digits/mlp.safetensors")],
        Target::Onnx => vec![f("fixtures/onnx/resblock.onnx")],
        Target::Idx => vec![f("fixtures/fmnist/t10k-images-idx3-ubyte.gz")],
        Target::Images => vec![],
        Target::Space => vec![f("examples/sweep/digits.toml")],
        Target::Constants => vec![f("src/estimate/constants.toml")],
    }
}

#[test]
fn seeds_parse_and_crashes_found_by_fuzzing_stay_fixed() {
    let tmp = tempfile::tempdir().unwrap();
    let images = images(tmp.path());
    let mut replayed = 0;
    for target in TARGETS {
        for seed in seeds(target) {
            let data = std::fs::read(&seed).unwrap();
            assert_eq!(
                run(target, &data, Some(&images)),
                Outcome::Accepted,
                "{} seed {}",
                target.name(),
                seed.display()
            );
        }
        let crashes = root().join("fuzz/regressions").join(target.name());
        for entry in std::fs::read_dir(&crashes).into_iter().flatten().flatten() {
            let data = std::fs::read(entry.path()).unwrap();
            // The harness panics on a panic or a multi-line rejection.
            let _ = run(target, &data, Some(&images));
            replayed += 1;
        }
    }
    // Each image file in turn, unchanged, still reads.
    for name in cimpool::fuzzing::image_files(&images) {
        let input = cimpool::fuzzing::images_input(&images, &name).unwrap();
        assert_eq!(
            run(Target::Images, &input, Some(&images)),
            Outcome::Accepted,
            "{name}"
        );
    }
    cimpool::fuzzing::remove_scratch();
    assert!(
        replayed > 0,
        "fuzz/regressions holds the inputs fuzzing found"
    );
}

#[test]
fn rejections_are_one_line_and_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let images = images(tmp.path());
    for target in TARGETS {
        for bad in [&b""[..], b"\x00\x01garbage\n[", b"macros = -1\n"] {
            let input: Vec<u8> = match target {
                // Replace the manifest (file 4 in name order) with garbage.
                Target::Images => {
                    let names = cimpool::fuzzing::image_files(&images);
                    let i = names.iter().position(|n| n == "manifest.json").unwrap();
                    [&[i as u8][..], bad].concat()
                }
                _ => bad.to_vec(),
            };
            match run(target, &input, Some(&images)) {
                Outcome::Rejected(message) => {
                    // Constants are overrides, not a file.
                    if target != Target::Constants && !message.is_empty() {
                        assert!(
                            message.contains("cimpool-fuzz-")
                                || message.contains("config text")
                                || message.starts_with("manifest")
                                || message.contains('/'),
                            "{}: {message}",
                            target.name()
                        );
                    }
                }
                Outcome::Accepted => assert!(
                    // An empty TOML is all defaults; an empty constants
                    // override changes nothing.
                    matches!(target, Target::Config | Target::Constants) && bad.is_empty(),
                    "{} accepted {bad:?}",
                    target.name()
                ),
            }
        }
    }
    cimpool::fuzzing::remove_scratch();
}

/// A manifest is outside text too: a node's name, op or input holding a
/// newline (hand-edited or damaged) is rejected on one line, the text
/// escaped. The harness itself panics on a multi-line rejection.
#[test]
fn a_manifest_with_a_newline_in_a_name_is_rejected_on_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let images = images(tmp.path());
    let input = cimpool::fuzzing::images_input(&images, "manifest.json").unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&input[1..]).unwrap();
    let cases: [&[(usize, &str, &str)]; 3] = [
        &[(0, "op", "la\nyer")],
        &[(0, "name", "fc\n1"), (0, "op", "la\nyer")],
        &[(1, "inputs", "fc\n1")],
    ];
    for case in cases {
        let mut m = manifest.clone();
        for &(node, field, value) in case {
            let text = serde_json::Value::String(value.into());
            m["nodes"][node][field] = if field == "inputs" {
                serde_json::Value::Array(vec![text])
            } else {
                text
            };
        }
        let data = [&input[..1], &serde_json::to_vec(&m).unwrap()].concat();
        match run(Target::Images, &data, Some(&images)) {
            Outcome::Rejected(message) => {
                for &(_, _, value) in case {
                    assert!(message.contains(&value.replace('\n', "\\n")), "{message}");
                }
            }
            Outcome::Accepted => panic!("{case:?} was accepted"),
        }
    }
    cimpool::fuzzing::remove_scratch();
}
