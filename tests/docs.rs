//! The documents agree with the code where that is cheap to check: the code
//! layout in docs/ARCHITECTURE.md names every source file and nothing that
//! does not exist, the test counts quoted in README.md and
//! docs/VERIFICATION.md are the counts of the test matrices, and no document
//! points at a spec outside the repository.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The fenced block under `## Code layout` in docs/ARCHITECTURE.md.
fn code_layout() -> String {
    let doc = read("docs/ARCHITECTURE.md");
    let section = doc
        .split("## Code layout")
        .nth(1)
        .expect("ARCHITECTURE.md has a code layout section");
    section
        .split("```")
        .nth(1)
        .expect("the code layout is a fenced block")
        .to_string()
}

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().map(|e| e.unwrap()) {
        let p = e.path();
        if p.is_dir() {
            source_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p.strip_prefix(root()).unwrap().to_path_buf());
        }
    }
}

#[test]
fn architecture_code_layout_names_every_source_file() {
    let layout = code_layout();
    let mut files = Vec::new();
    source_files(&root().join("src"), &mut files);
    let mut missing = Vec::new();
    for f in &files {
        let path = f.to_string_lossy().to_string();
        let dir = f.parent().unwrap().to_string_lossy().to_string() + "/";
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        // Named in full, or its folder's line names it (or the folder is
        // described as a whole and the file is its mod.rs).
        let folder_line = layout
            .lines()
            .find(|l| l.trim_start().starts_with(&dir) && !l.contains(&format!("{dir}{name}")));
        let named = layout.contains(&path)
            || folder_line.is_some_and(|l| l.contains(&name) || name == "mod.rs")
            || layout
                .lines()
                .skip_while(|l| !l.trim_start().starts_with(&dir))
                .take_while(|l| l.trim_start().starts_with(&dir) || l.starts_with("  "))
                .any(|l| l.contains(&name));
        if !named {
            missing.push(path);
        }
    }
    assert!(
        missing.is_empty(),
        "docs/ARCHITECTURE.md's code layout does not mention {missing:?}"
    );
}

#[test]
fn architecture_code_layout_names_only_existing_paths() {
    let layout = code_layout();
    let stale: Vec<&str> = layout
        .split_whitespace()
        .filter(|w| w.starts_with("src/"))
        .map(|w| w.trim_end_matches([',', ':', ';']))
        .filter(|w| !root().join(w).exists())
        .collect();
    assert!(
        stale.is_empty(),
        "the code layout names missing paths {stale:?}"
    );
}

/// Entries of a `name: "toml",` test matrix macro in a test file.
fn matrix_entries(file: &str, macro_name: &str) -> usize {
    let text = read(file);
    let body = text
        .split(&format!("{macro_name}! {{"))
        .nth(1)
        .unwrap_or_else(|| panic!("{file} has no {macro_name}! block"));
    let body = body.split("\n}").next().unwrap();
    body.lines()
        .filter(|l| {
            let t = l.trim_start();
            t.split_once(": \"").is_some_and(|(name, _)| {
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            })
        })
        .count()
}

fn assert_mentions(doc: &str, phrase: &str) {
    assert!(
        read(doc).contains(phrase),
        "{doc} should say \"{phrase}\" (the count in the tests changed?)"
    );
}

#[test]
fn quoted_test_counts_match_the_test_matrices() {
    let cosim = matrix_entries("tests/cosim.rs", "cosim_matrix");
    let lint = matrix_entries("tests/lint.rs", "lint_matrix");
    let mutations = read("tests/cosim.rs")
        .matches("let m = expect_mismatch(")
        .count();
    let assertion_mutations = read("tests/cosim.rs")
        .lines()
        .filter(|l| l.trim_start().starts_with("assertion_") && l.contains("_fires:"))
        .count();
    let asserted = read("src/gen/checks.rs").matches(": &str = \"").count();
    assert!(cosim >= 10 && lint >= 10 && mutations >= 2);
    // One mutation per assertion (the named constants of gen::checks).
    assert_eq!(
        assertion_mutations, asserted,
        "an assertion without its mutation test"
    );
    assert_mentions(
        "docs/VERIFICATION.md",
        &format!("{assertion_mutations} assertion mutations"),
    );
    assert_mentions(
        "README.md",
        &format!("{assertion_mutations} assertion mutations"),
    );
    assert_mentions(
        "docs/VERIFICATION.md",
        &format!("co-simulates {cosim} configurations"),
    );
    assert_mentions(
        "docs/VERIFICATION.md",
        &format!("lints {lint} configurations"),
    );
    assert_mentions(
        "docs/VERIFICATION.md",
        &format!("{mutations} mutation tests"),
    );
    assert_mentions(
        "README.md",
        &format!("co-simulation of {cosim} configurations"),
    );
    assert_mentions("README.md", &format!("lint of {lint} configurations"));
    assert_mentions(
        "README.md",
        &format!("{mutations} deliberately broken designs"),
    );
}

#[test]
fn documents_point_at_the_spec_inside_the_repository() {
    let mut docs = vec![
        "README.md".to_string(),
        "src/config/default.toml".to_string(),
    ];
    for e in std::fs::read_dir(root().join("docs")).unwrap() {
        docs.push(format!("docs/{}", e.unwrap().file_name().to_string_lossy()));
    }
    let mut sources = Vec::new();
    source_files(&root().join("src"), &mut sources);
    docs.extend(sources.iter().map(|p| p.to_string_lossy().to_string()));
    let outside: Vec<&String> = docs
        .iter()
        .filter(|d| read(d).contains("../shared/"))
        .collect();
    assert!(
        outside.is_empty(),
        "{outside:?} point at ../shared/, which users do not have"
    );
}
