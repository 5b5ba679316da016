//! Helpers shared by the integration tests: generating packages into
//! temporary folders and running the external tools on them. A missing tool
//! is a test failure with the command that installs it, never a skip.
#![allow(dead_code)]

use cimpool::config::Config;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn require_tool(tool: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success());
    assert!(
        found.unwrap_or(false),
        "`{tool}` is not installed: run `make deps` (installs verilator, yosys, iverilog from Debian)"
    );
}

/// Parses a config from TOML (missing keys default) and resolves it.
pub fn config(toml: &str) -> Config {
    Config::from_toml(toml)
        .unwrap_or_else(|e| panic!("bad test config: {e}"))
        .resolved()
}

/// Generates the package of `config` into a fresh temporary folder.
pub fn generate(config: &Config) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("hdl");
    let pkg = cimpool::package::build(config).unwrap_or_else(|e| panic!("generation failed: {e}"));
    pkg.write(&path).expect("write package");
    (dir, path)
}

pub fn verilog_files(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("files.f"))
        .expect("files.f")
        .lines()
        .map(str::to_owned)
        .collect()
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The top module of a package: files.f lists it last.
pub fn top_of(dir: &Path) -> String {
    let files = verilog_files(dir);
    files
        .last()
        .expect("files.f lists the top")
        .trim_end_matches(".v")
        .to_string()
}

/// `verilator --lint-only -Wall` on a package, its protocol assertions
/// included (`-DCIMPOOL_ASSERTIONS --assert`); returns its output (empty
/// when clean). The package without the define is the same text less the
/// assertion blocks, and nothing outside them reads what they declare (the
/// IR checker counts no read by an assertion), so this covers it too.
pub fn lint(dir: &Path) -> (bool, String) {
    require_tool("verilator");
    let define = format!("-D{}", cimpool::ir::ASSERTIONS_DEFINE);
    let out = run(Command::new("verilator")
        .args([
            "--lint-only",
            "-Wall",
            "--assert",
            &define,
            "--top-module",
            &top_of(dir),
        ])
        .args(verilog_files(dir))
        .current_dir(dir));
    (out.status.success(), text(&out))
}

/// The cimpool binary of this build, run with `args`.
pub fn cimpool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cimpool"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs cimpool and requires a refusal: exit code 2 and one line on stderr
/// containing `needle`. Returns that line.
pub fn assert_refused(args: &[&str], needle: &str) -> String {
    let out = cimpool(args);
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(needle), "`{needle}` not in: {err}");
    err
}

/// The training tools' pinned interpreter (build/venv-train, which `make
/// test` installs); missing, the test fails and says how to make it.
pub fn train_python() -> PathBuf {
    let py = Path::new(env!("CARGO_MANIFEST_DIR")).join("build/venv-train/bin/python");
    assert!(
        py.exists(),
        "{} is missing: `make test` installs it (or `make build/venv-train/.installed`)",
        py.display()
    );
    py
}

/// A file of the committed fixtures (`fixtures/<set>/<name>`), as an argument.
pub fn fixture(set: &str, name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(set)
        .join(name)
        .display()
        .to_string()
}

/// Runs a script of tools/ (from that folder, as the docs run them) with
/// the training tools' pinned interpreter.
pub fn train_tool(script: &str, args: &[&str]) -> Output {
    Command::new(train_python())
        .arg(script)
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tools"))
        .output()
        .expect("python runs")
}

/// Compresses the committed fine-tuned ResNet-20 (fixtures/fmnist/
/// resnet20_*) into `out` as `make train` wrote its images: the given pool
/// and training's pinned choices.
pub fn compress_resnet20_fixture(out: &Path) -> Output {
    let f = |name: &str| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/fmnist")
            .join(name)
            .display()
            .to_string()
    };
    cimpool(&[
        "compress",
        "--weights",
        &f("resnet20_finetuned.npz"),
        "--model",
        &f("resnet20_folded.toml"),
        "--config",
        &f("hw.toml"),
        "--calib",
        &f("calib.npz"),
        "--pool",
        &f("resnet20_pool.npy"),
        "--choices",
        &f("resnet20_choices.npz"),
        "--out",
        out.to_str().unwrap(),
    ])
}
