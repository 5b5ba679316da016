//! `cimpool report timing` on a small black-box package, as a user runs it:
//! the osu018 timing Liberty from Debian, fanout buffering, OpenSTA with the
//! package's SDC, a JSON that scripts read. About 20 s a run on 2 cores.

mod common;

use serde_json::Value;
use std::path::Path;

/// 1 x 8x8 error macro, pool of 4, 2 requantizers: the smallest package
/// with every block, so the flat synthesis stays near 10 s.
const SMALL: &[&str] = &[
    "--macros",
    "1",
    "--rows",
    "8",
    "--cols",
    "8",
    "--pool",
    "4",
    "--out-lanes",
    "2",
    "--scale-bits",
    "8",
    "--bias-bits",
    "16",
    "--max-row-blocks",
    "4",
    "--storage",
    "blackbox",
];

fn generate(dir: &Path, extra: &[&str]) {
    let mut args = vec!["gen", "--out", dir.to_str().unwrap()];
    args.extend_from_slice(SMALL);
    args.extend_from_slice(extra);
    let out = common::cimpool(&args);
    assert!(out.status.success(), "{}", common::text(&out));
}

fn timing(dir: &Path, extra: &[&str]) -> Value {
    common::require_tool("yosys");
    common::require_tool("sta");
    let mut args = vec![
        "report",
        "timing",
        "--rtl",
        dir.to_str().unwrap(),
        "--json",
        "-",
    ];
    args.extend_from_slice(extra);
    let out = common::cimpool(&args);
    assert!(out.status.success(), "{}", common::text(&out));
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// The report's row of one block.
fn block(r: &Value, name: &str) -> Value {
    r["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["block"] == name)
        .unwrap_or_else(|| panic!("no {name} block: {r}"))
        .clone()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn timing_report_names_every_block_and_its_numbers_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pkg");
    generate(&dir, &[]);
    let r = timing(&dir, &[]);
    eprintln!("{}", serde_json::to_string_pretty(&r).unwrap());
    assert!(r["liberty"]
        .as_str()
        .unwrap()
        .ends_with("osu018_stdcells.lib"));
    let period = f(&r["clock_period_ns"]);
    let worst = f(&r["worst_slack_ns"]);
    assert_eq!(period, 10.0);
    assert!((f(&r["fmax_mhz"]) - 1e3 / (period - worst)).abs() < 1e-6);
    assert!(worst.abs() < period, "slack {worst} of a {period} ns clock");

    let blocks = r["blocks"].as_array().unwrap();
    let names: Vec<&str> = blocks
        .iter()
        .map(|b| b["block"].as_str().unwrap())
        .collect();
    // The crossbar holds no register at crossbar_pipeline = 0: its logic is
    // timed on the paths through it, it has no endpoints of its own.
    for want in [
        "shift-accumulate",
        "index memory + decoder",
        "lane accumulators + requantizer",
        "control + input sequencer",
        "macro inputs (black-box setup)",
        "output ports (SDC output delay)",
    ] {
        assert!(names.contains(&want), "no {want} in {names:?}");
    }
    // Every register carries its block's name after synthesis.
    assert!(
        !names.iter().any(|n| n.starts_with("unattributed")),
        "{names:?}"
    );
    let endpoints: u64 = blocks
        .iter()
        .map(|b| b["endpoints"].as_u64().unwrap())
        .sum();
    assert_eq!(endpoints, r["endpoints"].as_u64().unwrap());
    let block_worst = blocks
        .iter()
        .map(|b| f(&b["worst_slack_ns"]))
        .fold(f64::INFINITY, f64::min);
    assert!(
        (block_worst - worst).abs() < 1e-3,
        "{block_worst} vs {worst}"
    );
    for b in blocks {
        assert!(b["logic_depth"].as_u64().unwrap() > 0, "{b}");
        assert!(!b["startpoint"].as_str().unwrap().is_empty(), "{b}");
        // The path OpenSTA printed ends where the endpoint list said.
        let slack = f(&b["worst_slack_ns"]);
        assert!(f(&b["arrival_ns"]) > 0.0 && slack < period, "{b}");
    }
    let met = worst >= 0.0;
    assert_eq!(r["failing_endpoints"].as_u64().unwrap() == 0, met);

    // Buffering left no driver above the fanout limit or its max_capacitance:
    // the unbuffered control counter drove 180 pins.
    let buf = &r["buffering"];
    assert!(buf["worst_fanout_before"].as_u64().unwrap() > 8, "{buf}");
    assert!(buf["worst_fanout_after"].as_u64().unwrap() <= 8, "{buf}");
    assert_eq!(buf["max_capacitance_violations"].as_u64(), Some(0), "{buf}");
    // Area by block in the same cells; the flat count matches it within the
    // buffers and the hierarchy's own optimizations.
    let area = f(&r["area"]["total_area"]);
    let flat = f(&r["cell_area_um2"]);
    assert!(
        area > 0.0 && (flat - area).abs() / area < 0.25,
        "{flat} vs {area}"
    );
    assert!(f(&r["leakage_w"]) > 0.0 && f(&r["power_w"]) > f(&r["leakage_w"]));

    // The hierarchical flow (for large packages) sees the same registers in
    // the same blocks, within what flattening merges or removes.
    let h = timing(&dir, &["--hierarchical"]);
    let count = |r: &Value, block: &str| {
        r["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["block"] == block)
            .map(|b| b["endpoints"].as_u64().unwrap())
            .unwrap_or(0) as f64
    };
    for b in blocks {
        let name = b["block"].as_str().unwrap();
        let (flat, hier) = (count(&r, name), count(&h, name));
        assert!(
            (flat - hier).abs() <= 0.1 * flat.max(hier),
            "{name}: flat {flat}, hierarchical {hier}"
        );
    }
    assert!(h["buffering"]["worst_fanout_after"].as_u64().unwrap() <= 8);
}

#[test]
fn a_clock_the_logic_cannot_meet_fails_with_the_same_paths() {
    // Fmax of this package is near 140 MHz: at 2.5 ns (400 MHz) it must fail,
    // with the macro arcs set for that clock.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pkg");
    generate(
        &dir,
        &[
            "--clock-period-ns",
            "2.5",
            "--macro-clk-to-q-ns",
            "0.25",
            "--macro-wl-setup-ns",
            "1.5",
            "--macro-setup-ns",
            "0.25",
            "--macro-hold-ns",
            "0.05",
        ],
    );
    let lib = std::fs::read_to_string(dir.join("macros/cim_macro_8x8.lib")).unwrap();
    assert!(lib.contains("values (\"1.500\")") && lib.contains("values (\"0.250\")"));
    let r = timing(&dir, &[]);
    let worst = f(&r["worst_slack_ns"]);
    assert!(worst < 0.0, "met 2.5 ns: {r}");
    assert!(r["failing_endpoints"].as_u64().unwrap() > 0);
    assert!(f(&r["fmax_mhz"]) < 400.0);
}

/// `output_pipeline` cuts the requantizer path: on the small package its
/// block's worst path gets shallower and its slack larger (measured: 43 ->
/// 23 cells, 139.6 -> 256.5 MHz alone at output_pipeline = 4).
#[test]
fn output_pipeline_cuts_the_requantizer_path() {
    let requantizer = |pipeline: &str| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pkg");
        generate(&dir, &["--output-pipeline", pipeline]);
        let r = timing(&dir, &[]);
        let b = block(&r, "lane accumulators + requantizer");
        eprintln!("output_pipeline = {pipeline}: {b}");
        (
            f(&b["worst_slack_ns"]),
            b["logic_depth"].as_u64().unwrap(),
            b["endpoints"].as_u64().unwrap(),
        )
    };
    let (slack0, depth0, ends0) = requantizer("0");
    let (slack4, depth4, ends4) = requantizer("4");
    let alone = |slack: f64| 1e3 / (10.0 - slack);
    assert!(
        alone(slack4) > 1.4 * alone(slack0),
        "{slack0} -> {slack4} ns slack"
    );
    assert!(depth4 * 3 < depth0 * 2, "depth {depth0} -> {depth4}");
    // The stages are registers of this block.
    assert!(ends4 > ends0, "endpoints {ends0} -> {ends4}");
}

#[test]
fn bad_timing_inputs_are_refused_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pkg");
    generate(&dir, &[]);
    let d = dir.to_str().unwrap();
    common::assert_refused(
        &["report", "timing", "--rtl", d, "--liberty", "/no/such.lib"],
        "liberty /no/such.lib: no such file",
    );
    common::assert_refused(
        &["report", "timing", "--rtl", d, "--max-fanout", "1"],
        "max_fanout 1 is out of range",
    );
    // Macro arcs that do not fit the clock are refused when generating.
    let out = tmp.path().join("bad");
    common::assert_refused(
        &[
            "gen",
            "--storage",
            "blackbox",
            "--clock-period-ns",
            "4",
            "--out",
            out.to_str().unwrap(),
        ],
        "macro_wl_setup_ns",
    );
    assert!(!out.exists(), "a refused gen wrote {}", out.display());
}

/// The timed netlist itself (Liberty cells, modelled from the Liberty's
/// functions) replays a golden-model scenario on Icarus: the same beats and
/// the same cycle count as the RTL, for two power-up states of every flop.
/// Synthesis semantics (signedness, widths, constants) and any output that
/// depends on an unreset register would show here, not in RTL simulation.
#[test]
fn gate_level_netlist_matches_the_golden_model_cycle_for_cycle() {
    use cimpool::cosim::{icarus, scenario};
    common::require_tool("iverilog");
    common::require_tool("yosys");
    common::require_tool("sta");
    let tmp = tempfile::tempdir().unwrap();
    let rtl = tmp.path().join("rtl");
    // Flop storage: the macros are synthesized too, so every bit is gates.
    let flops: Vec<&str> = SMALL[..SMALL.len() - 2].to_vec();
    let mut args = vec!["gen", "--out", rtl.to_str().unwrap()];
    args.extend_from_slice(&flops);
    assert!(common::cimpool(&args).status.success());
    let options = cimpool::flow::timing::TimingOptions::default();
    let (report, packages) = cimpool::flow::timing::gate_level_packages(
        &rtl,
        &tmp.path().join("gates"),
        &options,
        |_| {},
    )
    .unwrap();
    assert!(
        report.cell_types.iter().any(|c| c == "DFFPOSX1"),
        "{:?}",
        report.cell_types
    );
    let config = cimpool::flow::package_config(&rtl).unwrap();
    let scenario = scenario::random_scenario(&config, 5, 30);
    let want = icarus::replay(&rtl, &tmp.path().join("icarus-rtl"), &config, &scenario)
        .unwrap_or_else(|e| panic!("RTL replay: {e}"));
    let beats =
        scenario.output_vectors() * cimpool::config::Derived::new(&config).out_beats as usize;
    assert_eq!(want.beats, beats);
    for (i, dir) in packages.iter().enumerate() {
        let got = icarus::replay(
            dir,
            &tmp.path().join(format!("icarus-gates-{i}")),
            &config,
            &scenario,
        )
        .unwrap_or_else(|e| panic!("gate-level replay of {}: {e}", dir.display()));
        assert_eq!(got, want, "gate level ({}) vs RTL", dir.display());
        eprintln!(
            "gates, power-up {i}: {} beats equal to the golden model's in {} cycles",
            got.beats, got.cycles
        );
    }
}

/// `popcount_at_load` takes the input popcount off the issue path: on a
/// 64-word-line package the sequencer's worst path no longer ends in
/// `pop_r` and gets shallower (measured: 37 -> 17 cells, 194.8 -> 226.5
/// MHz alone at 10 ns; 3,182 -> 6,063 cells).
#[test]
fn popcount_at_load_takes_the_count_off_the_issue_path() {
    let sequencer = |at_load: &str| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pkg");
        let d = dir.to_str().unwrap();
        // The small package with 64 word lines, so the count is deep.
        let mut args = vec!["gen", "--out", d];
        let mut rows_next = false;
        for &arg in SMALL {
            args.push(if rows_next { "64" } else { arg });
            rows_next = arg == "--rows";
        }
        args.extend(["--popcount-at-load", at_load]);
        let out = common::cimpool(&args);
        assert!(out.status.success(), "{}", common::text(&out));
        let r = timing(&dir, &[]);
        let b = block(&r, "control + input sequencer");
        eprintln!("popcount_at_load = {at_load}: {b}");
        (
            b["logic_depth"].as_u64().unwrap(),
            b["endpoint"].as_str().unwrap().to_string(),
        )
    };
    let (depth_issue, end_issue) = sequencer("false");
    let (depth_load, end_load) = sequencer("true");
    assert!(end_issue.contains("pop_r"), "{end_issue}");
    assert!(!end_load.contains("pop_r"), "{end_load}");
    assert!(
        depth_load * 3 < depth_issue * 2,
        "depth {depth_issue} -> {depth_load}"
    );
}
