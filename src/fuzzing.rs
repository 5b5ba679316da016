//! Fuzz harnesses for every parser of outside input (docs/VERIFICATION.md
//! section 10). Each takes arbitrary bytes, hands them to the parser through
//! the same path a user's file takes (a file on disk, read by the public
//! reader), and checks the two properties the project promises: no panic,
//! and every rejection is a one-line error. The libFuzzer binaries in
//! `fuzz/` and the corpus replay in `tests/fuzz.rs` call these.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

/// The parsers under fuzzing, one harness each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A hardware configuration (TOML), parsed, resolved and validated.
    Config,
    /// A model description (TOML).
    Model,
    /// A weights file as `.npy`, and a pool (`--pool`).
    Npy,
    /// A weights file or a data set as `.npz` (a zip of `.npy` arrays).
    Npz,
    /// A weights file as `.safetensors`.
    Safetensors,
    /// An ONNX model, imported into a model description and tensors.
    Onnx,
    /// An IDX images file (plain or gzip), as Fashion-MNIST ships it.
    Idx,
    /// A compressed image folder (manifest, config, $readmemh images, host
    /// weights, report): the first byte picks the file the rest replaces.
    Images,
    /// A sweep space (TOML).
    Space,
    /// Estimator constants (TOML overrides).
    Constants,
}

pub const TARGETS: [Target; 10] = [
    Target::Config,
    Target::Model,
    Target::Npy,
    Target::Npz,
    Target::Safetensors,
    Target::Onnx,
    Target::Idx,
    Target::Images,
    Target::Space,
    Target::Constants,
];

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::Config => "config",
            Target::Model => "model",
            Target::Npy => "npy",
            Target::Npz => "npz",
            Target::Safetensors => "safetensors",
            Target::Onnx => "onnx",
            Target::Idx => "idx",
            Target::Images => "images",
            Target::Space => "space",
            Target::Constants => "constants",
        }
    }

    pub fn from_name(name: &str) -> Option<Target> {
        TARGETS.into_iter().find(|t| t.name() == name)
    }
}

/// What a parser made of an input.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    /// Rejected with this (one-line) message.
    Rejected(String),
}

thread_local! {
    static SCRATCH: RefCell<Option<PathBuf>> = const { RefCell::new(None) };
}

/// A folder private to this thread: fuzzing runs write the same few file
/// names in it over and over.
fn scratch() -> PathBuf {
    SCRATCH.with(|s| {
        s.borrow_mut()
            .get_or_insert_with(|| {
                let dir = std::env::temp_dir().join(format!(
                    "cimpool-fuzz-{}-{:?}",
                    std::process::id(),
                    std::thread::current().id()
                ));
                std::fs::create_dir_all(&dir).expect("temporary folder");
                dir.canonicalize().expect("temporary folder")
            })
            .clone()
    })
}

/// Removes this thread's scratch folder (the next run makes a new one).
/// The libFuzzer binary never returns to call it; tests do.
pub fn remove_scratch() {
    SCRATCH.with(|s| {
        if let Some(dir) = s.borrow_mut().take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    });
}

fn file_with(name: &str, data: &[u8]) -> PathBuf {
    let path = scratch().join(name);
    std::fs::write(&path, data).expect("scratch file");
    path
}

fn judge<T, E: std::fmt::Display>(r: Result<T, E>) -> Outcome {
    match r {
        Ok(_) => Outcome::Accepted,
        Err(e) => {
            let message = e.to_string();
            assert!(
                !message.trim().is_empty() && !message.trim_end().contains('\n'),
                "a rejection must be one non-empty line, got:\n{message}"
            );
            Outcome::Rejected(message)
        }
    }
}

/// Accepted when a file of two possible kinds reads as either; both
/// readers ran, so both were checked for panics and one-line rejections.
fn either(first: Outcome, second: Outcome) -> Outcome {
    if first == Outcome::Accepted {
        first
    } else {
        second
    }
}

/// Runs `data` through `target`'s parser. Panics (the fuzzer's finding) if
/// the parser panics or rejects with anything but one line. `images` is a
/// valid compressed image folder for `Target::Images` to mutate.
pub fn run(target: Target, data: &[u8], images: Option<&Path>) -> Outcome {
    use crate::network;
    let text = || String::from_utf8_lossy(data).into_owned();
    match target {
        Target::Config => judge(
            crate::config::Config::from_file(&file_with("config.toml", data)).and_then(|c| {
                let c = c.resolved();
                c.validate().map(|_| c.design_name())
            }),
        ),
        Target::Model => judge(network::model::ModelDesc::from_file(&file_with(
            "model.toml",
            data,
        ))),
        Target::Npy => {
            // Weights (float) and a pool (int8, as `--pool` reads it).
            let path = file_with("w.npy", data);
            either(
                judge(network::tensors::read_tensors(&path)),
                judge(network::tensors::read_pool(&path, 64, 64)),
            )
        }
        Target::Npz => {
            // Weights (float) and a data set (`x`, `y`, as --calib reads it).
            let path = file_with("w.npz", data);
            either(
                judge(network::tensors::read_tensors(&path)),
                judge(network::tensors::read_dataset(&path, false)),
            )
        }
        Target::Safetensors => judge(network::tensors::read_tensors(&file_with(
            "w.safetensors",
            data,
        ))),
        Target::Onnx => judge(network::onnx::import(
            &file_with("m.onnx", data),
            &network::onnx::Options {
                input_scale: 1.0 / 255.0,
                output: None,
            },
        )),
        Target::Idx => judge(network::idx::read_idx_dataset(
            &file_with("x-images-idx3-ubyte", data),
            false,
        )),
        Target::Images => images_run(data, images.expect("a seed image folder")),
        Target::Space => judge(crate::sweep::space::expand(&file_with("space.toml", data))),
        Target::Constants => judge(crate::estimate::constants::Constants::from_toml(&text())),
    }
}

/// The files of a compressed image folder, in name order: the first byte
/// of an `Images` input picks one of them.
pub fn image_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn images_run(data: &[u8], seed: &Path) -> Outcome {
    let names = image_files(seed);
    assert!(!names.is_empty(), "{} holds no images", seed.display());
    let dir = scratch().join("images");
    if !dir.exists() {
        std::fs::create_dir_all(&dir).expect("scratch folder");
    }
    // Start every run from the seed folder, then replace one file.
    for n in &names {
        std::fs::copy(seed.join(n), dir.join(n)).expect("copy of the seed images");
    }
    if let Some((&pick, rest)) = data.split_first() {
        let name = &names[pick as usize % names.len()];
        std::fs::write(dir.join(name), rest).expect("scratch file");
    }
    judge(crate::estimate::workload::from_images(&dir))
}

/// One libFuzzer input of `Target::Images` from a file of the seed folder:
/// its index byte, then its bytes.
pub fn images_input(seed: &Path, name: &str) -> Option<Vec<u8>> {
    let index = image_files(seed).iter().position(|n| n == name)?;
    let mut input = vec![index as u8];
    input.extend(std::fs::read(seed.join(name)).ok()?);
    Some(input)
}
