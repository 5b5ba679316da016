//! Flow hand-off views, checked with the tools that consume them: the Yosys
//! script runs, OpenSTA parses the SDC against the real port list and reads
//! the macro Liberty files, the ORFS config lists exactly the generated
//! files, and the LEF pins are exactly the macro's ports, inside its box.

mod common;

use cimpool::config::Config;
use cimpool::ir::Dir;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const SMALL: &str = "macros = 2\nrows = 16\ncols = 16\npool = 8";
const SMALL_BLACKBOX: &str = "macros = 2\nrows = 16\ncols = 16\npool = 8\nstorage = 'blackbox'";

fn ports_only_top(config: &Config) -> String {
    let design = cimpool::gen::generate(config);
    let top = design.module(&design.top).unwrap();
    let ports: Vec<String> = top
        .ports
        .iter()
        .map(|p| {
            let dir = if p.dir == Dir::Input {
                "input"
            } else {
                "output"
            };
            let range = if p.ty.width > 1 {
                format!("[{}:0] ", p.ty.width - 1)
            } else {
                String::new()
            };
            format!("    {dir} {range}{}", p.name)
        })
        .collect();
    format!("module cim_top (\n{}\n);\nendmodule\n", ports.join(",\n"))
}

/// Runs OpenSTA on a script; returns its output.
fn sta(dir: &Path, script: &str) -> String {
    common::require_tool("sta");
    std::fs::write(dir.join("check.tcl"), script).unwrap();
    let out = common::run(
        Command::new("timeout")
            .args(["120", "sta", "-no_splash", "-exit", "check.tcl"])
            .current_dir(dir),
    );
    common::text(&out)
}

fn sdc_check(dir: &Path, config: &Config, sdc: &Path) -> String {
    std::fs::write(dir.join("ports_only.v"), ports_only_top(config)).unwrap();
    let mut libs: Vec<String> = match std::fs::read_dir(dir.join("macros")) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "lib"))
            .map(|p| format!("read_liberty {}\n", p.display()))
            .collect(),
        Err(_) => Vec::new(),
    };
    libs.sort();
    let area_lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/sky130hd_area.lib");
    let script = format!(
        "read_liberty {}\n{}read_verilog ports_only.v\nlink_design cim_top\nread_sdc {}\nputs \"clocks [llength [all_clocks]]\"\nexit\n",
        area_lib.display(),
        libs.concat(),
        sdc.display()
    );
    sta(dir, &script)
}

#[test]
fn sdc_parses_in_opensta_and_names_only_existing_ports() {
    for toml in [SMALL, SMALL_BLACKBOX] {
        let config = common::config(toml);
        let (_tmp, dir) = common::generate(&config);
        let sdc = dir.join(format!("constraints/{}.sdc", config.design_name()));
        let out = sdc_check(&dir, &config, &sdc);
        assert!(out.contains("clocks 1"), "[{toml}]\n{out}");
        assert!(
            !out.contains("Warning") && !out.contains("Error"),
            "[{toml}]\n{out}"
        );
        // The check can fail: a port that does not exist is reported.
        let bad = dir.join("bad.sdc");
        std::fs::write(
            &bad,
            std::fs::read_to_string(&sdc).unwrap()
                + "set_input_delay 1 -clock core_clock [get_ports no_such_port]\n",
        )
        .unwrap();
        let out = sdc_check(&dir, &config, &bad);
        assert!(
            out.contains("no_such_port"),
            "a bad port went unnoticed:\n{out}"
        );
        // ORFS gets the same constraints.
        assert_eq!(
            std::fs::read_to_string(&sdc).unwrap(),
            std::fs::read_to_string(dir.join("flow/orfs/constraint.sdc")).unwrap()
        );
    }
}

#[test]
fn generated_synth_script_runs_cleanly_in_yosys() {
    common::require_tool("yosys");
    for toml in [SMALL, SMALL_BLACKBOX] {
        let config = common::config(toml);
        let (_tmp, dir) = common::generate(&config);
        let out = common::run(
            Command::new("yosys")
                .args(["-q", "-s", "synth.ys", "-p", "tee -o stat.txt stat"])
                .current_dir(dir.join("flow")),
        );
        assert!(out.status.success(), "[{toml}]\n{}", common::text(&out));
        let stat = std::fs::read_to_string(dir.join("flow/stat.txt")).unwrap();
        assert!(stat.contains("=== cim_top ==="), "{stat}");
        let macro_synthesized = stat.contains("=== cim_macro_16x16 ===");
        assert_eq!(
            macro_synthesized,
            config.storage == cimpool::config::Storage::Flops,
            "[{toml}]"
        );
    }
}

/// Reads two packages into one Yosys session and elaborates both tops:
/// true when Yosys accepts them side by side.
fn read_side_by_side(a: &str, b: &str) -> (bool, String) {
    common::require_tool("yosys");
    let (ca, cb) = (common::config(a), common::config(b));
    let (_ta, da) = common::generate(&ca);
    let (_tb, db) = common::generate(&cb);
    let files: Vec<String> = [&da, &db]
        .iter()
        .flat_map(|d| {
            common::verilog_files(d)
                .into_iter()
                .map(move |f| d.join(f).display().to_string())
        })
        .collect();
    let script = format!(
        "read_verilog {}; hierarchy -check -top {}; design -reset; read_verilog {}; hierarchy -check -top {}",
        files.join(" "),
        common::top_of(&da),
        files.join(" "),
        common::top_of(&db)
    );
    let out = common::run(Command::new("yosys").args(["-q", "-p", &script]));
    (out.status.success(), common::text(&out))
}

/// Two packages of different configurations live in one SoC when each has
/// its own `prefix`; without prefixes their modules clash.
#[test]
fn two_prefixed_packages_share_one_design() {
    let a = "macros = 2\nrows = 16\ncols = 16\npool = 8";
    let b = "macros = 1\nrows = 32\ncols = 8\npool = 4\nact_bits = 4";
    let (ok, log) = read_side_by_side(
        &format!("{a}\nprefix = 'soc_a_'"),
        &format!("{b}\nprefix = 'soc_b_'"),
    );
    assert!(ok, "{log}");
    let (clash, log) = read_side_by_side(a, b);
    assert!(!clash && log.contains("efinition of module"), "{log}");
}

fn make_list(text: &str, var: &str) -> BTreeSet<String> {
    let joined = text.replace("\\\n", " ");
    joined
        .lines()
        .find_map(|l| l.strip_prefix(&format!("export {var} = ")))
        .map(|v| {
            v.split_whitespace()
                .map(|f| f.trim_start_matches("$(CIM_PACKAGE)/").to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn orfs_config_lists_exactly_the_generated_files() {
    for toml in [SMALL, SMALL_BLACKBOX] {
        let config = common::config(toml);
        let (_tmp, dir) = common::generate(&config);
        let mk = std::fs::read_to_string(dir.join("flow/orfs/config.mk")).unwrap();
        let listed: BTreeSet<String> = make_list(&mk, "VERILOG_FILES")
            .union(&make_list(&mk, "VERILOG_FILES_BLACKBOX"))
            .cloned()
            .collect();
        let generated: BTreeSet<String> = common::verilog_files(&dir).into_iter().collect();
        assert_eq!(listed, generated, "[{toml}]");
        for var in ["ADDITIONAL_LEFS", "ADDITIONAL_LIBS"] {
            for f in make_list(&mk, var) {
                assert!(dir.join(&f).is_file(), "{var} names missing {f}");
            }
        }
        for key in [
            "DESIGN_NAME = cim_top",
            "SDC_FILE = $(CIM_PACKAGE)/flow/orfs/constraint.sdc",
            "SYNTH_HIERARCHICAL = 1",
            "CORE_UTILIZATION = 30",
            "PLACE_DENSITY = 0.6",
            "PLATFORM ?= sky130hd",
        ] {
            assert!(mk.contains(key), "{key} missing:\n{mk}");
        }
        assert_eq!(mk.contains("ADDITIONAL_LEFS"), toml == SMALL_BLACKBOX);
    }
}

#[test]
fn macro_liberty_reads_in_opensta_and_lef_pins_match_ports() {
    let config = common::config(SMALL_BLACKBOX);
    let (_tmp, dir) = common::generate(&config);
    let design = cimpool::gen::generate(&config);
    for name in ["cim_macro_16x16", "cim_macro_16x8"] {
        let lib = dir.join(format!("macros/{name}.lib"));
        let out = sta(
            &dir,
            &format!(
                "read_liberty {}\nputs \"cells [llength [get_lib_cells */{name}]]\"\nexit\n",
                lib.display()
            ),
        );
        assert!(
            out.contains("cells 1") && !out.contains("Warning") && !out.contains("Error"),
            "{name}:\n{out}"
        );

        // LEF: one MACRO of a positive SIZE; its pins are exactly the stub's port bits, inside the box, all distinct.
        let lef = std::fs::read_to_string(dir.join(format!("macros/{name}.lef"))).unwrap();
        assert_eq!(lef.matches(&format!("MACRO {name}")).count(), 1);
        assert!(lef.contains(&format!("END {name}")) && lef.trim_end().ends_with("END LIBRARY"));
        let size: Vec<f64> = lef
            .lines()
            .find_map(|l| l.trim().strip_prefix("SIZE "))
            .unwrap()
            .replace(" ;", "")
            .split(" BY ")
            .map(|v| v.trim().parse().unwrap())
            .collect();
        assert!(size[0] > 0.0 && size[1] > 0.0);
        let mut pins = BTreeSet::new();
        let mut rects = BTreeSet::new();
        let mut current = None;
        for line in lef.lines().map(str::trim) {
            if let Some(p) = line.strip_prefix("PIN ") {
                current = Some(p.to_string());
            } else if let (Some(p), Some(r)) = (&current, line.strip_prefix("RECT ")) {
                let v: Vec<f64> = r
                    .trim_end_matches(" ;")
                    .split_whitespace()
                    .map(|x| x.parse().unwrap())
                    .collect();
                assert!(
                    v[0] >= 0.0 && v[1] >= 0.0 && v[2] <= size[0] + 1e-9 && v[3] <= size[1] + 1e-9,
                    "{p} outside: {r}"
                );
                if !p.starts_with("VPWR") && !p.starts_with("VGND") {
                    assert!(
                        rects.insert(r.to_string()),
                        "{p} overlaps another pin at {r}"
                    );
                    pins.insert(p.clone());
                }
                current = None;
            }
        }
        let m = design.module(name).unwrap();
        let ports: BTreeSet<String> = m
            .ports
            .iter()
            .flat_map(|p| {
                if p.ty.width == 1 {
                    vec![p.name.clone()]
                } else {
                    (0..p.ty.width)
                        .map(|i| format!("{}[{i}]", p.name))
                        .collect()
                }
            })
            .collect();
        assert_eq!(pins, ports, "{name}");
    }
}

#[test]
fn area_report_attributes_every_block() {
    common::require_tool("yosys");
    let config = common::config(SMALL);
    let (_tmp, dir) = common::generate(&config);
    let r = cimpool::flow::area::report(&dir, None).unwrap();
    eprintln!("area of [{}]:\n{}", SMALL.replace('\n', ", "), r.table());
    let block = |n: &str| {
        r.blocks
            .iter()
            .find(|b| b.0 == n)
            .unwrap_or_else(|| panic!("no {n} row:\n{}", r.table()))
            .clone()
    };
    // Storage is exactly the cells plus the registered read-out bits of the
    // 2 error macros (16x16) and the pool macro (16x8), 5-bit column sums.
    let d = cimpool::config::Derived::new(&config);
    let columns = (2 * 16 + 8) as u64;
    assert_eq!(
        block("storage").1,
        columns * 16 + columns * d.col_sum_bits as u64
    );
    // Every block but the hard macros (flop storage here) has cells.
    for name in &cimpool::flow::area::BLOCKS[1..7] {
        assert!(block(name).2 > 0.0, "{name} has no area");
    }
    let sum: f64 = r.blocks.iter().map(|b| b.2).sum();
    assert!((sum - r.total_area).abs() < 1e-6);

    let config = common::config(SMALL_BLACKBOX);
    let (_tmp, dir) = common::generate(&config);
    let r = cimpool::flow::area::report(&dir, None).unwrap();
    let hard = r
        .blocks
        .iter()
        .find(|b| b.0.starts_with("hard macros"))
        .expect("hard macro row");
    assert_eq!(hard.1, 3, "3 macro instances");
    assert!(
        !r.blocks.iter().any(|b| b.0 == "storage"),
        "black-box storage has no flops:\n{}",
        r.table()
    );
}

#[test]
fn xbar_report_measures_both_crossbars_next_to_the_macros() {
    common::require_tool("yosys");
    let config = common::config("macros = 2\nrows = 16\ncols = 16");
    let rows = cimpool::flow::xbar::report(&config, &[8, 16], |_| {}).unwrap();
    eprintln!("{}", cimpool::flow::xbar::table(&rows));
    assert_eq!(rows.len(), 4);
    let d = cimpool::config::Derived::new(&config.resolved());
    for r in &rows {
        assert_eq!(r.data_bits, d.column_bits);
        assert!(r.crossbar_unit.cells > 0 && r.crossbar_unit.transistors > 0);
        assert!(r.decoder.cells > 0 && r.pool_macro.area > 0.0);
        let share = r.overhead_share();
        assert!(share > 0.0 && share < 1.0, "{share}");
    }
    let find = |p: u32, k: cimpool::config::Crossbar| {
        rows.iter()
            .find(|r| r.pool == p && r.crossbar == k)
            .unwrap()
            .clone()
    };
    use cimpool::config::Crossbar::{Benes, Mux};
    for p in [8, 16] {
        let (mux, benes) = (find(p, Mux), find(p, Benes));
        // log2 P mux levels against 2 log2 P - 1 switch stages.
        let (mux_depth, benes_depth) = (
            mux.crossbar_unit.depth.unwrap(),
            benes.crossbar_unit.depth.unwrap(),
        );
        assert!(
            benes_depth > mux_depth,
            "P = {p}: depth {benes_depth} vs {mux_depth}"
        );
        // P^2 versus P log P switches: Benes has fewer transistors.
        assert!(benes.crossbar_unit.transistors < mux.crossbar_unit.transistors);
    }
    // The 16x16 error macro is synthesized once and shared by every row.
    assert!(rows
        .windows(2)
        .all(|w| w[0].error_macro == w[1].error_macro));
}
