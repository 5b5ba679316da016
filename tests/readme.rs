//! Every command the README shows, run as written: each `sh` block is run by
//! bash, in README order, in a scratch folder that links the repository's
//! inputs (fixtures/, examples/). `cargo run [--release] -- ARGS` runs this
//! build's `cimpool ARGS`. The long opt-in make targets (training,
//! tables, the test suite itself, an outside flow) are listed below with
//! the reason each is not run here; a README command in neither group
//! fails the test, so the list cannot rot.

use std::path::{Path, PathBuf};
use std::process::Command;

/// README commands not run here, by prefix, and why.
const NOT_RUN: &[(&str, &str)] = &[
    ("make test", "the suite this test is part of"),
    (
        "make finetune-dense",
        "training, minutes: its own make target",
    ),
    (
        "make adc-train",
        "ADC-aware training, minutes: its own make target",
    ),
    ("make adc-table", "dozens of trainings: its own make target"),
    (
        "make train",
        "training through the hardware, seconds to an hour: its own make target",
    ),
    (
        "make torch-fmnist",
        "PyTorch (about 6 GB of wheels) and minutes of training: its own make target",
    ),
    (
        "make estimate-tables",
        "the docs' tables: its own make target",
    ),
    (
        "make sweep",
        "a 20-point sweep, minutes: its own make target",
    ),
    (
        "make -C <path-to>/OpenROAD-flow-scripts",
        "an outside flow the user installs",
    ),
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The logical lines (continuations joined) of every ```sh block.
fn blocks(readme: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut current: Option<Vec<String>> = None;
    let mut pending = String::new();
    for line in readme.lines() {
        match (&mut current, line.trim_start()) {
            (None, l) if l.starts_with("```sh") => current = Some(Vec::new()),
            (Some(_), l) if l.starts_with("```") => out.push(current.take().unwrap()),
            (Some(lines), l) => {
                let l = l.trim_end();
                if let Some(head) = l.strip_suffix('\\') {
                    pending += head;
                    pending.push(' ');
                } else {
                    pending += l;
                    let full = std::mem::take(&mut pending);
                    if !full.trim().is_empty() {
                        lines.push(full);
                    }
                }
            }
            (None, _) => {}
        }
    }
    out
}

fn reason_not_run(line: &str) -> Option<&'static str> {
    NOT_RUN
        .iter()
        .find(|(prefix, _)| line.trim_start().starts_with(prefix))
        .map(|(_, why)| *why)
}

#[test]
fn every_readme_command_runs_as_written() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let blocks = blocks(&readme);
    assert!(blocks.len() >= 8, "found {} sh blocks", blocks.len());
    let scratch = std::env::temp_dir().join(format!("cimpool-readme-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    for input in ["fixtures", "examples"] {
        std::os::unix::fs::symlink(repo().join(input), scratch.join(input)).unwrap();
    }
    let prelude = format!(
        "set -e\ncargo() {{ if [ \"$1\" = run ]; then while [ \"$1\" != -- ]; do shift; done; shift; {:?} \"$@\"; else echo \"cargo $1 is not run here\" >&2; return 1; fi; }}\n",
        env!("CARGO_BIN_EXE_cimpool")
    );
    let (mut ran, mut skipped) = (0, Vec::new());
    for block in &blocks {
        for line in block {
            if let Some(why) = reason_not_run(line) {
                skipped.push(format!("{line}  ({why})"));
                continue;
            }
            let command = line.split(" #").next().unwrap().trim();
            let is_assignment = command.split_whitespace().count() == 1 && command.contains('=');
            assert!(
                command.starts_with("cargo run ") || is_assignment,
                "README command `{line}` is neither run here nor listed in NOT_RUN with a reason"
            );
            // Assignments carry over to the block's later lines.
            let script = format!(
                "{prelude}{}\n{command}\n",
                block
                    .iter()
                    .take_while(|l| *l != line)
                    .filter(|l| l.split_whitespace().count() == 1 && l.contains('='))
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            let out = Command::new("bash")
                .arg("-c")
                .arg(&script)
                .current_dir(&scratch)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success(),
                "README command failed (exit {:?}): {line}\n{stderr}",
                out.status.code()
            );
            assert!(!stderr.contains("panicked"), "{line} panicked:\n{stderr}");
            ran += !is_assignment as usize;
        }
    }
    // What the commands promise: the default package in hdl/, the images
    // the later commands read.
    for made in [
        "hdl/files.f",
        "build/compressed/manifest.json",
        "build/dense/manifest.json",
        "build/benes/cim_top.v",
        "build/cim/macros",
        "build/resnet18.svg",
    ] {
        assert!(
            scratch.join(made).exists(),
            "no {made} after the README commands"
        );
    }
    println!(
        "README commands: {ran} run as written, {} not run:\n  {}",
        skipped.len(),
        skipped.join("\n  ")
    );
    assert!(ran >= 12, "only {ran} README commands ran");
    std::fs::remove_dir_all(&scratch).unwrap();
}

#[test]
fn the_not_run_list_names_only_readme_commands() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let lines: Vec<String> = blocks(&readme).into_iter().flatten().collect();
    for (prefix, _) in NOT_RUN {
        assert!(
            lines.iter().any(|l| l.trim_start().starts_with(prefix)),
            "NOT_RUN lists `{prefix}`, which the README no longer shows"
        );
    }
    assert!(Path::new(&repo().join("README.md")).exists());
}
