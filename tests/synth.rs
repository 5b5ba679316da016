//! Yosys accepts the generated RTL unchanged: `hierarchy -check`, `synth`,
//! and `check -assert` (no undriven or multiply-driven nets, no logic loops)
//! for small and mid configurations. Full size is `make synth-full`.

mod common;

use std::process::Command;

fn synthesize(toml: &str) -> String {
    common::require_tool("yosys");
    let config = common::config(toml);
    let (_tmp, dir) = common::generate(&config);
    let files = common::verilog_files(&dir).join(" ");
    let script = format!("read_verilog {files}; hierarchy -check -top cim_top; synth -top cim_top; check -assert; stat");
    let out = common::run(
        Command::new("yosys")
            .arg("-p")
            .arg(&script)
            .current_dir(&dir),
    );
    let log = common::text(&out);
    assert!(
        out.status.success(),
        "yosys failed on [{toml}]:\n{}",
        tail(&log)
    );
    log
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn cells_of(log: &str, module: &str) -> u64 {
    let start = log
        .rfind(&format!("=== {module} ==="))
        .unwrap_or_else(|| panic!("no stat for {module}"));
    let line = log[start..]
        .lines()
        .find(|l| l.trim_start().starts_with("Number of cells:"))
        .unwrap();
    line.split_whitespace().last().unwrap().parse().unwrap()
}

#[test]
fn two_macros_32x32_synthesize_and_check() {
    let log =
        synthesize("macros = 2\nrows = 32\ncols = 32\npool = 16\nwl_parallel = 16\nadc_bits = 3");
    // The macro really became logic: at least one flop per cell.
    assert!(
        cells_of(&log, "cim_macro_32x32") >= 32 * 32,
        "{}",
        tail(&log)
    );
}

#[test]
fn eight_macros_16x16_synthesize_and_check() {
    let log = synthesize("macros = 8\nrows = 16\ncols = 16\nact_signed = true\nadc_bits = 2\nadc_mode = 'round_clamp'");
    assert!(
        cells_of(&log, "cim_macro_16x16") >= 16 * 16,
        "{}",
        tail(&log)
    );
}

/// 256 word lines driven at once (Lin & Chang's setting): a 9-bit column
/// sum into a 4-bit ADC.
#[test]
fn all_256_word_lines_at_once_synthesize_and_check() {
    let log =
        synthesize("macros = 1\nrows = 256\ncols = 16\npool = 8\nwl_parallel = 256\nadc_bits = 4");
    assert!(
        cells_of(&log, "cim_macro_256x16") >= 256 * 16,
        "{}",
        tail(&log)
    );
}

#[test]
fn blackbox_storage_synthesizes_with_macro_stubs() {
    let log = synthesize("macros = 2\nrows = 16\ncols = 16\npool = 8\nstorage = 'blackbox'");
    // The stubs stay black boxes: instantiated, never synthesized into cells.
    assert!(log.contains("cim_macro_16x16"), "{}", tail(&log));
    assert!(
        !log.contains("=== cim_macro_16x16 ==="),
        "black box was synthesized:\n{}",
        tail(&log)
    );
}

/// The dense engine with skip and with compact storage: the sparsity
/// memory, the masked issue order and the lane recombination synthesize;
/// compact macros hold only their slots.
#[test]
fn dense_engines_synthesize_and_check() {
    let log = synthesize("engine = 'dense'\nw_bits = 4\nmacros = 2\nrows = 32\ncols = 16\nwl_parallel = 8\nsparsity = 'skip'\nact_bits = 4");
    assert!(
        cells_of(&log, "cim_macro_32x16") >= 32 * 16,
        "{}",
        tail(&log)
    );
    assert!(cells_of(&log, "sparsity_memory") >= 4, "{}", tail(&log));
    let log = synthesize("engine = 'dense'\nw_bits = 8\nmacros = 1\nrows = 32\ncols = 16\nwl_parallel = 8\nsparsity = 'compact'\nslots = 2\nadc_bits = 3");
    assert!(
        cells_of(&log, "cim_macro_16x16") >= 16 * 16,
        "{}",
        tail(&log)
    );
}
