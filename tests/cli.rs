//! The command line as a user drives it: `cimpool gen` writes a complete,
//! deterministic package; bad input gets one clear line and exit code 2.

mod common;

use std::path::Path;
use std::process::Command;

fn cimpool(args: &[&str], cwd: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cimpool"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run cimpool")
}

/// Every file under `dir` (recursively), by relative path, sorted.
fn read_all(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap().map(|e| e.unwrap()) {
            let path = e.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .to_string();
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    files.sort();
    files
}

#[test]
fn gen_writes_complete_package_into_hdl_by_default() {
    let tmp = tempfile::tempdir().unwrap();
    let out = cimpool(&["gen", "--macros", "8"], tmp.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hdl = tmp.path().join("hdl");
    let names: Vec<String> = read_all(&hdl).into_iter().map(|(n, _)| n).collect();
    for expected in [
        "cim_top.v",
        "cim_controller.v",
        "cim_macro_128x128.v",
        "cim_tile_128x128.v",
        "pool_crossbar_mux.v",
        "pool_index_decoder.v",
        "pool_index_memory.v",
        "lane_accumulator.v",
        "requantizer.v",
        "files.f",
        "cim_params.h",
        "cim_params.json",
        "cim_config.toml",
        "cim_top.md",
        "constraints/cim_n8_r128_c128_p128.sdc",
        "flow/synth.ys",
        "flow/orfs/config.mk",
        "flow/orfs/constraint.sdc",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
    // files.f names exactly the Verilog files, top last.
    let list = std::fs::read_to_string(hdl.join("files.f")).unwrap();
    let listed: Vec<&str> = list.lines().collect();
    let verilog: Vec<&String> = names
        .iter()
        .filter(|n| n.ends_with(".v") && !n.contains('/'))
        .collect();
    assert_eq!(listed.len(), verilog.len());
    assert_eq!(*listed.last().unwrap(), "cim_top.v");
    // One macro module instantiated 8 times (module reuse, not 8 copies).
    let top = std::fs::read_to_string(hdl.join("cim_top.v")).unwrap();
    assert_eq!(
        top.matches("cim_tile_128x128 #(.TILE_ID(").count(),
        9,
        "8 error tiles + the pool tile"
    );
    // The JSON carries the derived parameters the header carries.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(hdl.join("cim_params.json")).unwrap())
            .unwrap();
    assert_eq!(json["derived"]["lanes"], 1024);
    let header = std::fs::read_to_string(hdl.join("cim_params.h")).unwrap();
    assert!(header.contains("#define CIM_LANES 1024u"));
}

#[test]
fn gen_is_byte_identical_on_a_second_run() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(cimpool(&["gen", "--out", "a"], tmp.path()).status.success());
    assert!(cimpool(&["gen", "--out", "b"], tmp.path()).status.success());
    assert_eq!(
        read_all(&tmp.path().join("a")),
        read_all(&tmp.path().join("b"))
    );
}

#[test]
fn a_regenerated_folder_holds_exactly_the_new_package() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(cimpool(
        &["gen", "--rows", "16", "--cols", "16", "--macros", "1"],
        tmp.path()
    )
    .status
    .success());
    std::fs::write(tmp.path().join("hdl/left_over.v"), "// earlier\n").unwrap();
    assert!(cimpool(
        &["gen", "--rows", "32", "--cols", "32", "--macros", "1", "--out", "hdl"],
        tmp.path()
    )
    .status
    .success());
    assert!(cimpool(
        &["gen", "--rows", "32", "--cols", "32", "--macros", "1", "--out", "fresh"],
        tmp.path()
    )
    .status
    .success());
    let names = |d: &str| -> Vec<String> {
        read_all(&tmp.path().join(d))
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    };
    assert!(
        !names("hdl")
            .iter()
            .any(|n| n.contains("16x16") || n == "left_over.v"),
        "stale file left: {:?}",
        names("hdl")
    );
    assert_eq!(names("hdl"), names("fresh"));
}

#[test]
fn config_file_and_flags_combine_flags_win() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("my.toml"),
        "macros = 2\nrows = 16\ncols = 16\nadc_bits = 2\n",
    )
    .unwrap();
    let out = cimpool(&["gen", "--config", "my.toml", "--macros", "3"], tmp.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resolved = std::fs::read_to_string(tmp.path().join("hdl/cim_config.toml")).unwrap();
    assert!(
        resolved.contains("macros = 3")
            && resolved.contains("adc_bits = 2")
            && resolved.contains("pool = 16")
    );
}

fn assert_rejected(args: &[&str], config: Option<&str>, needle: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let mut all = vec!["gen"];
    if let Some(text) = config {
        std::fs::write(tmp.path().join("bad.toml"), text).unwrap();
        all.extend(["--config", "bad.toml"]);
    }
    all.extend(args);
    let out = cimpool(&all, tmp.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{args:?}: expected exit 2, stderr: {err}"
    );
    assert_eq!(
        err.trim().lines().count(),
        1,
        "{args:?}: expected one error line, got:\n{err}"
    );
    assert!(
        err.starts_with("error: ") && err.contains(needle),
        "{args:?}: `{needle}` not in: {err}"
    );
    assert!(
        !tmp.path().join("hdl").exists(),
        "a rejected config wrote output"
    );
}

#[test]
fn bad_configs_get_one_clear_line_and_exit_2() {
    assert_rejected(
        &["--macros", "0"],
        None,
        "`macros` = 0 is invalid: macros must be between 1 and 64",
    );
    assert_rejected(
        &["--pool", "256"],
        None,
        "`pool` = 256 is invalid: pool must be <= cols (128)",
    );
    assert_rejected(&["--pool", "48"], None, "pool must divide cols (128)");
    assert_rejected(
        &["--crossbar", "benes", "--cols", "96", "--pool", "48"],
        None,
        "`pool` = 48 is invalid: crossbar = \"benes\" needs pool to be a power of two",
    );
    assert_rejected(
        &["--crossbar", "benes", "--crossbar-pipeline", "14"],
        None,
        "`crossbar_pipeline` = 14 is invalid: crossbar_pipeline must be between 0 and 13, the logic levels of a benes crossbar of 128 lanes",
    );
    assert_rejected(
        &["--crossbar-pipeline", "8"],
        None,
        "crossbar_pipeline must be between 0 and 7, the logic levels of a mux crossbar of 128 lanes",
    );
    assert_rejected(
        &["--output-pipeline", "6"],
        None,
        "`output_pipeline` = 6 is invalid: output_pipeline must be between 0 and 5, the cut points of the requantizer path",
    );
    assert_rejected(
        &["--engine", "dense", "--popcount-at-load", "true"],
        None,
        "`popcount_at_load` = true is invalid: popcount_at_load applies to the pool engine only",
    );
    assert_rejected(
        &["--wl-parallel", "48"],
        None,
        "rows (128) must be a multiple of wl_parallel",
    );
    assert_rejected(
        &["--rows", "100000"],
        None,
        "rows must be between 2 and 1024",
    );
    assert_rejected(&["--crossbar-units", "3"], None, "divide the 8 lane groups");
    assert_rejected(&[], Some("macros = 2\nbogus_key = 1\n"), "bogus_key");
    assert_rejected(&[], Some("macros = 'eight'\n"), "macros");
    assert_rejected(
        &["--config", "missing.toml"],
        None,
        "cannot read config file missing.toml",
    );
    assert_rejected(
        &["--set", "macross=2"],
        None,
        "unknown config key `macross`",
    );
    assert_rejected(
        &["--set", "macros=two"],
        None,
        "`macros` = two is not an integer",
    );
    assert_rejected(
        &["--prefix", "9lives"],
        None,
        "`prefix` = \"9lives\" is invalid",
    );
}

#[test]
fn set_reaches_every_key_after_the_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let out = cimpool(
        &[
            "gen",
            "--macros",
            "2",
            "--rows",
            "16",
            "--cols",
            "16",
            "--set",
            "macros=3",
            "--set",
            "scale_bits=12",
        ],
        tmp.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resolved = std::fs::read_to_string(tmp.path().join("hdl/cim_config.toml")).unwrap();
    assert!(
        resolved.contains("macros = 3") && resolved.contains("scale_bits = 12"),
        "{resolved}"
    );
}

#[test]
fn prefix_renames_every_module_and_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = cimpool(
        &[
            "gen", "--macros", "1", "--rows", "16", "--cols", "16", "--prefix", "soc_a_",
        ],
        tmp.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hdl = tmp.path().join("hdl");
    let list = std::fs::read_to_string(hdl.join("files.f")).unwrap();
    assert!(list.lines().all(|f| f.starts_with("soc_a_")), "{list}");
    assert_eq!(list.lines().last(), Some("soc_a_cim_top.v"));
    let top = std::fs::read_to_string(hdl.join("soc_a_cim_top.v")).unwrap();
    assert!(
        top.contains("module soc_a_cim_top") && top.contains("soc_a_cim_controller controller")
    );
    let mk = std::fs::read_to_string(hdl.join("flow/orfs/config.mk")).unwrap();
    assert!(mk.contains("export DESIGN_NAME = soc_a_cim_top"), "{mk}");
}

#[test]
fn route_prints_the_select_fields_and_refuses_repeats() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = ["--macros", "1", "--rows", "8", "--cols", "8", "--pool", "8"];
    let run = |extra: &[&str]| {
        let mut args = vec!["route"];
        args.extend(cfg);
        args.extend(extra);
        cimpool(&args, tmp.path())
    };
    let out = run(&["--crossbar", "benes", "--indices", "7,6,5,4,3,2,1,0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    // 5 stages of 4 switches = 20 settings over 3-bit fields: slots 0..6.
    assert!(text.contains("20 switch settings"), "{text}");
    // The printed fields, decoded by the network, give the indices back.
    let fields: Vec<u64> = text
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains("0x"))
        .map(|l| {
            u64::from_str_radix(l.rsplit("0x").next().unwrap().trim_end_matches(" |"), 16).unwrap()
        })
        .collect();
    assert_eq!(fields.len(), 8);
    let net = cimpool::benes::Benes::new(8).unwrap();
    let settings: Vec<bool> = (0..net.switch_bits())
        .map(|b| fields[(b / 3) as usize] >> (b % 3) & 1 == 1)
        .collect();
    assert_eq!(net.permutation(&settings), vec![7, 6, 5, 4, 3, 2, 1, 0]);
    let out = run(&["--crossbar", "benes", "--indices", "0,0,1,2,3,4,5,6"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("pool index 0 is used by lane slots 0 and 1")
    );
    let out = run(&["--indices", "1,2,3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--indices has 3 values"));
}

#[test]
fn default_config_prints_the_embedded_toml() {
    let tmp = tempfile::tempdir().unwrap();
    let out = cimpool(&["default-config"], tmp.path());
    let text = String::from_utf8(out.stdout).unwrap();
    let parsed = cimpool::config::Config::from_toml(&text).unwrap();
    assert_eq!(parsed, cimpool::config::Config::default());
}

/// More word lines per phase than rows on the dense engine is refused
/// naming the field (its validation once recursed until the stack
/// overflowed; `make regress` found it).
#[test]
fn dense_wl_parallel_above_rows_is_refused() {
    assert_rejected(
        &["--engine", "dense", "--rows", "4", "--wl-parallel", "7"],
        None,
        "`wl_parallel` = 7 is invalid",
    );
}

/// `cimpool prove`: a line naming what holds (or JSON), one refusal line
/// with exit 2 for a bound too short, the prefix-renamed controller found.
#[test]
fn prove_reports_the_bounded_proof_and_refuses_a_bound_too_short() {
    common::require_tool("yosys");
    let (tmp, dir) = common::generate(&common::config(
        "macros = 1\nrows = 4\ncols = 8\npool = 4\nact_bits = 1\nprefix = 'p_'",
    ));
    let rtl = dir.to_str().unwrap();
    let out = cimpool(
        &["prove", "--rtl", rtl, "--steps", "12", "--json"],
        tmp.path(),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["module"], "p_cim_controller");
    assert_eq!(json["steps"], 12);
    assert_eq!(json["outcome"]["result"], "proven");
    assert_eq!(json["assertions"].as_array().unwrap().len(), 6);
    common::assert_refused(&["prove", "--rtl", rtl, "--steps", "1"], "--steps 1");
}
