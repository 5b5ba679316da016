//! The code layout docs/ARCHITECTURE.md describes: the library's top-level
//! modules import each other without a circle (test code aside), only the
//! orchestrating modules use the one error type, and main.rs stays a thin
//! layer over the library.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Top-level module -> the top-level modules its non-test code names.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let top = |p: &Path| {
        let rel = p.strip_prefix(src()).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        first.trim_end_matches(".rs").to_string()
    };
    let modules: BTreeSet<String> = files
        .iter()
        .map(|p| top(p))
        .filter(|m| !["lib", "main", "cli"].contains(&m.as_str()))
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = modules
        .iter()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    for p in &files {
        let m = top(p);
        let name = p.file_name().unwrap().to_string_lossy();
        if !modules.contains(&m) || name.ends_with("tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(p).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + 7..];
            let used: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if used != m && modules.contains(&used) {
                graph.get_mut(&m).unwrap().insert(used);
            }
        }
    }
    graph
}

#[test]
fn top_level_modules_import_without_a_circle() {
    let graph = imports();
    assert!(graph.contains_key("network") && graph.contains_key("pipeline"));
    // Depth-first search for a back edge.
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(m) {
            return;
        }
        if let Some(at) = path.iter().position(|p| p == m) {
            panic!("import circle: {} -> {m}", path[at..].join(" -> "));
        }
        path.push(m.to_string());
        for next in &graph[m] {
            visit(next, graph, path, done);
        }
        path.pop();
        done.insert(m.to_string());
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        visit(m, &graph, &mut Vec::new(), &mut done);
    }
}

#[test]
fn only_the_orchestrating_modules_use_the_one_error_type() {
    let allowed = ["pipeline", "sweep", "estimate"];
    for (m, uses) in imports() {
        if uses.contains("error") {
            assert!(
                allowed.contains(&m.as_str()),
                "`{m}` imports crate::error: lower modules return their own error types"
            );
        }
    }
}

#[test]
fn the_flow_runs_one_way() {
    let graph = imports();
    let order = ["network", "compress", "images", "run", "pipeline"];
    for (i, lower) in order.iter().enumerate() {
        for higher in &order[i + 1..] {
            assert!(
                !graph[*lower].contains(*higher),
                "`{lower}` imports `{higher}`, which comes after it in the flow"
            );
        }
    }
}

#[test]
fn main_is_a_thin_layer() {
    let main = std::fs::read_to_string(src().join("main.rs")).unwrap();
    let lines = main.lines().count();
    assert!(lines <= 400, "src/main.rs has {lines} lines");
    // No step of the pipeline: main.rs calls the library for compressing,
    // calibrating, writing images and reading networks.
    for step in [
        "compress::compress(",
        "adc_calib::",
        "images::write(",
        "ModelDesc::",
        "onnx::import",
    ] {
        assert!(!main.contains(step), "src/main.rs calls `{step}` itself");
    }
}
