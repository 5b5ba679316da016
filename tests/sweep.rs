//! `cimpool sweep` as a user runs it: expand (deterministic, invalid points
//! dropped with a count), run (all points or one, idempotent), collect
//! (CSV, Pareto front, plot), and refusals.

mod common;

use common::{assert_refused, cimpool};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn ok(args: &[&str]) -> (String, String) {
    let out = cimpool(args);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{args:?}: {err}");
    (String::from_utf8_lossy(&out.stdout).to_string(), err)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// The hash of every point `sweep expand` printed.
fn hashes_of(points: &str) -> Vec<String> {
    points
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["hash"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// A small estimate-only space: 2 engines' worth of keys, one invalid
/// combination per pool size that does not divide the columns.
const SPACE: &str = "network = 'resnet18-cifar'\n\
    [base]\nmacros = 2\nrows = 64\ncols = 64\n\
    [grid]\npool = [16, 48, 64]\nwl_parallel = { from = 16, to = 64, step = 16 }\nkeep = [0.5, 1.0]\n";

#[test]
fn expand_is_deterministic_and_drops_invalid_points() {
    let tmp = tempfile::tempdir().unwrap();
    let space = write(tmp.path(), "space.toml", SPACE);
    let (a, err) = ok(&["sweep", "expand", &space]);
    let (b, _) = ok(&["sweep", "expand", &space]);
    assert_eq!(a, b, "same space, same points");
    // pool 48 does not divide 64 columns; wl_parallel 48 does not divide 64
    // rows: 3 x 4 x 2 = 24 combinations, (2 x 3) x 2 = 12 valid.
    assert_eq!(a.lines().count(), 12, "{err}");
    assert!(err.contains("12 invalid combinations dropped"), "{err}");
    let hashes: std::collections::BTreeSet<String> = hashes_of(&a).into_iter().collect();
    assert_eq!(hashes.len(), 12, "hashes are distinct");
    // Random sampling: a seeded subset of the same points.
    let sampled = write(
        tmp.path(),
        "s.toml",
        &format!("{SPACE}[random]\nsamples = 5\nseed = 3\n"),
    );
    let (c, _) = ok(&["sweep", "expand", &sampled]);
    let (d, _) = ok(&["sweep", "expand", &sampled]);
    assert_eq!(c, d);
    let sampled_hashes = hashes_of(&c);
    assert!(sampled_hashes.len() <= 5);
    assert!(sampled_hashes.iter().all(|h| hashes.contains(h)));
}

#[test]
fn run_is_idempotent_and_one_point_equals_the_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let space = write(tmp.path(), "space.toml", SPACE);
    let (points, _) = ok(&["sweep", "expand", &space]);
    let pts = write(tmp.path(), "points.jsonl", &points);
    let all = tmp.path().join("all").display().to_string();
    let (out, _) = ok(&["sweep", "run", &pts, "--out", &all]);
    assert!(out.contains("12 computed, 0 already there"), "{out}");
    let (out, _) = ok(&["sweep", "run", &pts, "--out", &all]);
    assert!(out.contains("0 computed, 12 already there"), "{out}");
    // Point by point (as a Ray task or a Slurm array job runs them).
    let one = tmp.path().join("one").display().to_string();
    for n in 0..12 {
        ok(&[
            "sweep",
            "run",
            &pts,
            "--point",
            &n.to_string(),
            "--out",
            &one,
        ]);
    }
    let (a, _) = ok(&["sweep", "collect", &all]);
    let (b, _) = ok(&["sweep", "collect", &one]);
    assert_eq!(a, b);
    assert_eq!(a.lines().count(), 13, "header and 12 rows");
    assert_refused(
        &["sweep", "run", &pts, "--point", "12", "--out", &one],
        "--point 12 is out of range",
    );
}

#[test]
fn collect_finds_the_pareto_front_and_plots_it() {
    let tmp = tempfile::tempdir().unwrap();
    let space = write(tmp.path(), "space.toml", SPACE);
    let (points, _) = ok(&["sweep", "expand", &space]);
    let pts = write(tmp.path(), "points.jsonl", &points);
    let res = tmp.path().join("r").display().to_string();
    ok(&["sweep", "run", &pts, "--out", &res]);
    let svg = tmp.path().join("front.svg");
    let front = tmp.path().join("front.csv");
    let (csv, err) = ok(&[
        "sweep",
        "collect",
        &res,
        "--minimize",
        "area_mm2,cycles",
        "--plot",
        &svg.display().to_string(),
        "--front",
        &front.display().to_string(),
    ]);
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<String>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    let num = |r: &Vec<String>, c: &str| r[col(c)].parse::<f64>().unwrap();
    // Check the front by brute force against the printed table.
    for r in &rows {
        let dominated = rows.iter().any(|o| {
            let (a, b) = (
                (num(o, "area_mm2"), num(o, "cycles")),
                (num(r, "area_mm2"), num(r, "cycles")),
            );
            a.0 <= b.0 && a.1 <= b.1 && (a.0 < b.0 || a.1 < b.1)
        });
        assert_eq!(r[col("pareto")] == "true", !dominated, "{r:?}");
    }
    let on = rows.iter().filter(|r| r[col("pareto")] == "true").count();
    assert!(
        on >= 1 && err.contains(&format!("{on} on the Pareto front")),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&front).unwrap().lines().count(),
        on + 1
    );
    assert!(std::fs::read_to_string(&svg)
        .unwrap()
        .contains("Pareto front"));
    assert_refused(
        &["sweep", "collect", &res, "--maximize", "accuracy"],
        "no figure `accuracy`",
    );
}

/// Accuracy points compress the digits MLP for each configuration and run
/// the golden model on the test digits.
#[test]
fn accuracy_points_compress_and_run() {
    let tmp = tempfile::tempdir().unwrap();
    let f = |n: &str| root().join("fixtures/digits").join(n).display().to_string();
    let space = write(
        tmp.path(),
        "space.toml",
        &format!(
            "model = '{}'\n[accuracy]\nweights = '{}'\nmodel = '{}'\ncalib = '{}'\ndata = '{}'\n\
             [base]\nmacros = 2\nrows = 64\ncols = 64\nmax_row_blocks = 4\n[grid]\nkeep = [0.5, 1.0]\n",
            f("model.toml"), f("mlp.npz"), f("model.toml"), f("calib.npz"), f("test.npz")
        ),
    );
    let (points, _) = ok(&["sweep", "expand", &space]);
    let pts = write(tmp.path(), "points.jsonl", &points);
    let res = tmp.path().join("r").display().to_string();
    ok(&["sweep", "run", &pts, "--out", &res]);
    let (csv, _) = ok(&["sweep", "collect", &res]);
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let acc = header.iter().position(|h| *h == "accuracy").unwrap();
    let bpw = header.iter().position(|h| *h == "bits_per_weight").unwrap();
    let rows: Vec<Vec<f64>> = csv
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            vec![c[acc].parse().unwrap(), c[bpw].parse().unwrap()]
        })
        .collect();
    assert_eq!(rows.len(), 2);
    // Keeping every error vector costs bits and buys accuracy.
    assert!(
        rows[1][1] > rows[0][1] && rows[1][0] > rows[0][0],
        "{rows:?}"
    );
    assert!(rows[1][0] > 0.5, "{rows:?}");
}

#[test]
fn bad_spaces_are_refused_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let s = write(
        tmp.path(),
        "a.toml",
        "network = 'resnet18'\n[grid]\npools = [16]\n",
    );
    assert_refused(&["sweep", "expand", &s], "key `pools` is neither");
    let s = write(tmp.path(), "b.toml", "[grid]\npool = [16]\n");
    assert_refused(&["sweep", "expand", &s], "give exactly one of `network`");
    let s = write(
        tmp.path(),
        "c.toml",
        "network = 'resnet18'\n[grid]\npool = []\n",
    );
    assert_refused(&["sweep", "expand", &s], "grid `pool`: an empty list");
    let s = write(
        tmp.path(),
        "d.toml",
        "network = 'resnet18'\n[grid]\npool = { from = 64, to = 16, step = 16 }\n",
    );
    assert_refused(&["sweep", "expand", &s], "to >= from");
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert_refused(
        &["sweep", "collect", &empty.display().to_string()],
        "no results",
    );
}

/// The same points on single-node Ray (2 CPUs, `tools/sweep_ray.py`) and as
/// a Slurm array (`tools/sweep.slurm`, each task run with its
/// SLURM_ARRAY_TASK_ID) give the local run's table.
#[test]
fn ray_and_slurm_give_the_local_results() {
    let python = root().join("build/venv-ray/bin/python");
    assert!(
        python.exists(),
        "{} is missing: `make test` installs the pinned Ray environment (tools/requirements-ray.txt)",
        python.display()
    );
    let tmp = tempfile::tempdir().unwrap();
    let small = SPACE.replace("keep = [0.5, 1.0]", "keep = [0.5]");
    let space = write(tmp.path(), "space.toml", &small);
    let (points, _) = ok(&["sweep", "expand", &space]);
    let n = points.lines().count();
    let pts = write(tmp.path(), "points.jsonl", &points);
    let local = tmp.path().join("local").display().to_string();
    ok(&["sweep", "run", &pts, "--out", &local]);
    let (expected, _) = ok(&["sweep", "collect", &local]);

    let ray = tmp.path().join("ray").display().to_string();
    let out = std::process::Command::new(&python)
        .arg(root().join("tools/sweep_ray.py"))
        .args([
            &pts,
            "--out",
            &ray,
            "--cpus",
            "2",
            "--cimpool",
            env!("CARGO_BIN_EXE_cimpool"),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(&format!("{n} points")), "{text}");
    assert_eq!(ok(&["sweep", "collect", &ray]).0, expected, "Ray");

    let slurm = tmp.path().join("slurm").display().to_string();
    for task in 0..n {
        let out = std::process::Command::new("bash")
            .arg(root().join("tools/sweep.slurm"))
            .args([&pts, &slurm])
            .env("SLURM_ARRAY_TASK_ID", task.to_string())
            .env("CIMPOOL", env!("CARGO_BIN_EXE_cimpool"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(ok(&["sweep", "collect", &slurm]).0, expected, "Slurm array");
}

/// `sweep regress` points generate, lint, synthesize and co-simulate; a
/// failing point makes `collect` exit 1 and print its reproduction. Seed
/// 4 is a dense engine with one word line per phase over 18 rows and 9
/// planes (long vectors: such a point once outlasted the driver's
/// watchdog), seed 5 one word line per phase under a mux crossbar with two
/// pipeline stages.
#[test]
fn regress_points_verify_and_failures_are_reported() {
    common::require_tool("verilator");
    common::require_tool("yosys");
    let tmp = tempfile::tempdir().unwrap();
    let (points, _) = ok(&[
        "sweep",
        "regress",
        "--seeds",
        "2",
        "--first-seed",
        "4",
        "--vectors",
        "100",
    ]);
    assert_eq!(points.lines().count(), 2);
    assert!(points.contains(r#"wl_parallel = 1\nadc_bits"#), "{points}");
    let pts = write(tmp.path(), "points.jsonl", &points);
    let res = tmp.path().join("r");
    let r = res.display().to_string();
    ok(&["sweep", "run", &pts, "--out", &r]);
    let (csv, err) = ok(&["sweep", "collect", &r]);
    assert!(err.contains("2 of 2 configurations passed"), "{err}");
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    for name in [
        "lint_warnings",
        "synth_ok",
        "mismatches",
        "vectors",
        "pace_tiles",
    ] {
        assert!(header.contains(&name), "{name} not in {header:?}");
    }
    // A failed point (as a broken generator would leave it) fails the run.
    let broken = res.join("0000000000000000");
    std::fs::create_dir(&broken).unwrap();
    std::fs::write(
        broken.join("metrics.json"),
        r#"{"index": 2, "hash": "0000000000000000", "label": "pool 1x8x8", "swept": {},
            "figures": {"lint_warnings": 0.0}, "failure": "co-simulation: lane 3 differs; reproduce: cimpool gen --config x.toml --out y"}"#,
    )
    .unwrap();
    let out = cimpool(&["sweep", "collect", &r]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("1 of 3 points failed") && err.contains("reproduce: cimpool gen"),
        "{err}"
    );
}

/// `sweep regress --coverage` co-simulates a model with coverage counters,
/// and `sweep coverage` merges them per module into a table that counts
/// real hits; a folder without coverage is refused with what to run.
#[test]
fn regress_coverage_is_merged_per_module() {
    common::require_tool("verilator");
    common::require_tool("yosys");
    let tmp = tempfile::tempdir().unwrap();
    let args = ["sweep", "regress", "--seeds", "1", "--first-seed", "18"];
    let (plain, _) = ok(&[&args[..], &["--vectors", "100"]].concat());
    let (points, _) = ok(&[&args[..], &["--vectors", "100", "--coverage"]].concat());
    assert!(points.contains("\"coverage\":true"), "{points}");
    assert_ne!(
        hashes_of(&plain),
        hashes_of(&points),
        "coverage is part of the hash"
    );
    let pts = write(tmp.path(), "points.jsonl", &points);
    let r = tmp.path().join("r").display().to_string();
    ok(&["sweep", "run", &pts, "--out", &r]);
    let (table, _) = ok(&["sweep", "coverage", &r]);
    assert!(
        table.starts_with("Coverage merged over 1 run(s)"),
        "{table}"
    );
    for module in ["cim_controller", "cim_macro", "input_sequencer"] {
        assert!(
            table.contains(&format!("| {module} |")),
            "{module}: {table}"
        );
    }
    // The totals row: toggle bits covered / total, both non-zero, and
    // random vectors leave some bits untoggled (listed below the table).
    let all = table.lines().find(|l| l.starts_with("| **all**")).unwrap();
    let toggles = all.split('|').nth(4).unwrap();
    let (covered, total) = toggles
        .split_once('(')
        .unwrap()
        .1
        .trim_end_matches([')', ' '])
        .split_once('/')
        .unwrap();
    let (covered, total): (u64, u64) = (covered.parse().unwrap(), total.parse().unwrap());
    assert!(covered > 0 && covered <= total, "{all}");
    assert!(
        table.contains("Signals with bits that never toggled"),
        "{table}"
    );

    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert_refused(
        &["sweep", "coverage", &empty.display().to_string()],
        "sweep regress --coverage",
    );
}

/// `sweep shrink` on a configuration that passes every step says there is
/// nothing to shrink (shrinking a failure: `sweep::shrink`'s unit tests,
/// and docs/VERIFICATION.md for a real run); bad input is refused.
#[test]
fn shrink_reports_a_passing_configuration_and_refuses_bad_input() {
    common::require_tool("verilator");
    common::require_tool("yosys");
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write(
        tmp.path(),
        "c.toml",
        "macros = 1\nrows = 4\ncols = 4\npool = 2\nact_bits = 2",
    );
    let out = tmp.path().join("shrink").display().to_string();
    let (stdout, _) = ok(&[
        "sweep",
        "shrink",
        "--config",
        &cfg,
        "--vectors",
        "20",
        "--out",
        &out,
    ]);
    assert!(
        stdout.contains("passes every step") && stdout.contains("nothing to shrink"),
        "{stdout}"
    );
    let bad = write(tmp.path(), "bad.toml", "macros = 0");
    assert_refused(&["sweep", "shrink", "--config", &bad], "macros");
    // A usage error is clap's (exit 2, with the usage line).
    let none = cimpool(&["sweep", "shrink"]);
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("--seed"));
}
