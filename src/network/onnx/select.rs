//! What of an ONNX graph is imported: the output (chosen by name, or the
//! one float output once label branches are set aside), the trailing
//! operators that do not change the predicted class (`Softmax`,
//! `LogSoftmax`, `ArgMax`, scikit-learn's `ZipMap` / `ArrayFeatureExtractor`
//! label branch), and the nodes that output depends on. Everything else in
//! the file is left out.

use onnx_rs::ast::Graph;
use std::collections::{BTreeMap, BTreeSet};

/// The value to import as the network's output, the nodes (by index) it
/// needs, and notes on what was cut.
pub struct Selection {
    pub output: String,
    pub live: Vec<bool>,
    pub notes: Vec<String>,
}

/// Operators after the scores that leave the predicted class (the largest
/// score) unchanged, or turn it into a label.
const CLASS_PRESERVING: &[&str] = &[
    "Softmax",
    "LogSoftmax",
    "ZipMap",
    "Identity",
    "Cast",
    "Dropout",
];
const LABEL: &[&str] = &["ArgMax", "ArrayFeatureExtractor"];
/// Operators that only reshape: passed on the way to a label or softmax
/// (scikit-learn reshapes its label), kept when nothing is cut above them.
const SHAPE_ONLY: &[&str] = &["Reshape", "Flatten", "Squeeze", "Unsqueeze"];

struct Tail {
    base: String,
    label: bool,
    cut: Vec<String>,
}

fn producers<'a>(g: &'a Graph<'a>) -> BTreeMap<&'a str, usize> {
    let mut p = BTreeMap::new();
    for (i, n) in g.node.iter().enumerate() {
        for o in &n.output {
            p.insert(*o, i);
        }
    }
    p
}

/// Follows `v` back through the class-preserving and label operators.
fn strip(g: &Graph, prod: &BTreeMap<&str, usize>, constants: &BTreeSet<&str>, v: &str) -> Tail {
    let mut t = Tail {
        base: v.to_string(),
        label: false,
        cut: vec![],
    };
    // The base before shape-only operators not yet followed by a cut.
    let mut committed = t.base.clone();
    while let Some(&i) = prod.get(t.base.as_str()) {
        let n = &g.node[i];
        let op = n.op_type.as_str();
        let shape_only = SHAPE_ONLY.contains(&op);
        if !CLASS_PRESERVING.contains(&op) && !LABEL.contains(&op) && !shape_only {
            break;
        }
        // The data input: the first one that is not a constant (the
        // label branch's class list is an initializer).
        let Some(next) = n
            .input
            .iter()
            .find(|i| !i.is_empty() && !constants.contains(*i) && !is_constant_node(g, prod, i))
        else {
            break;
        };
        if LABEL.contains(&op) {
            t.label = true;
        }
        if !matches!(op, "Identity" | "Cast" | "Dropout") && !shape_only {
            t.cut.push(op.to_string());
        }
        t.base = next.to_string();
        if !shape_only {
            committed = t.base.clone();
        }
    }
    t.base = committed;
    t
}

fn is_constant_node(g: &Graph, prod: &BTreeMap<&str, usize>, v: &str) -> bool {
    prod.get(v)
        .is_some_and(|&i| g.node[i].op_type.as_str() == "Constant")
}

/// Chooses the output (`wanted`, else the graph's one score output) and the
/// nodes it depends on.
pub fn select(g: &Graph, wanted: Option<&str>) -> Result<Selection, String> {
    let prod = producers(g);
    let constants: BTreeSet<&str> = g.initializer.iter().map(|t| t.name()).collect();
    let mut notes = vec![];
    let tail = match wanted {
        Some(w) => {
            let known = prod.contains_key(w) || g.input.iter().any(|i| i.name == w);
            if !known {
                let outs: Vec<&str> = g.output.iter().map(|o| o.name).collect();
                return Err(format!(
                    "--onnx-output `{w}` is not a value of the graph (its outputs are {})",
                    outs.join(", ")
                ));
            }
            strip(g, &prod, &constants, w)
        }
        None => {
            let tails: Vec<Tail> = g
                .output
                .iter()
                .map(|o| strip(g, &prod, &constants, o.name))
                .collect();
            let scores: Vec<&Tail> = tails.iter().filter(|t| !t.label).collect();
            let pool: Vec<&Tail> = if scores.is_empty() {
                tails.iter().collect()
            } else {
                scores
            };
            let bases: BTreeSet<&str> = pool.iter().map(|t| t.base.as_str()).collect();
            match bases.len() {
                0 => return Err("the graph has no outputs".into()),
                1 => {}
                _ => {
                    let outs: Vec<&str> = g.output.iter().map(|o| o.name).collect();
                    return Err(format!(
                        "the graph has {} score outputs ({}): choose one with --onnx-output NAME",
                        outs.len(),
                        outs.join(", ")
                    ));
                }
            }
            let ignored: Vec<&str> = g
                .output
                .iter()
                .zip(&tails)
                .filter(|(_, t)| t.label && pool.iter().all(|p| !p.label))
                .map(|(o, _)| o.name)
                .collect();
            if !ignored.is_empty() {
                notes.push(format!(
                    "note: output{} `{}` (a class label) left out; the network's output is the class scores",
                    if ignored.len() == 1 { "" } else { "s" },
                    ignored.join("`, `")
                ));
            }
            // The tail with the most cut operators names them all.
            let best = pool
                .iter()
                .max_by_key(|t| t.cut.len())
                .expect("one base at least");
            Tail {
                base: best.base.clone(),
                label: best.label,
                cut: best.cut.clone(),
            }
        }
    };
    if !tail.cut.is_empty() {
        let mut cut = tail.cut.clone();
        cut.dedup();
        notes.push(format!(
            "note: trailing {} dropped (the largest score is the same class); the network's output is `{}`",
            cut.join(", "),
            tail.base
        ));
    }
    let mut live = vec![false; g.node.len()];
    let mut todo = vec![tail.base.clone()];
    let mut seen = BTreeSet::new();
    while let Some(v) = todo.pop() {
        if !seen.insert(v.clone()) {
            continue;
        }
        if let Some(&i) = prod.get(v.as_str()) {
            if !live[i] {
                live[i] = true;
                todo.extend(
                    g.node[i]
                        .input
                        .iter()
                        .filter(|s| !s.is_empty())
                        .map(|s| s.to_string()),
                );
            }
        }
    }
    Ok(Selection {
        output: tail.base,
        live,
        notes,
    })
}
