//! Formal equivalence with Yosys, for every data value and every control
//! value:
//! - the generated `mux` crossbar (one `pool_select` tree per output)
//!   equals the hand-written behavioural `out[l] = in[select[l]]` of
//!   `testbench/pool_crossbar_ref.v`
//!   (`miter -equiv` + `sat -verify -prove-asserts`);
//! - the generated structural `benes` crossbar equals the stage loop of
//!   `testbench/pool_crossbar_benes_ref.v` for every switch setting
//!   (`equiv_make` + `equiv_simple` + `equiv_status -assert`: one SAT proof
//!   per output bit over its whole input cone; the single miter SAT took
//!   over 100 s at P = 16, this takes about 10 s).
//!
//! A one-bit mutation of each is refuted.

mod common;

use std::path::Path;
use std::process::Command;

/// Runs the equivalence proof of `crossbar` (a Verilog file, with its
/// `pool_select.v` next to it) against the reference for P lanes of `width`
/// bits; true when proven.
fn proves_equivalent(crossbar: &Path, pool: u32, width: u32) -> bool {
    common::require_tool("yosys");
    let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("testbench/pool_crossbar_ref.v");
    let select = crossbar.with_file_name("pool_select.v");
    let index_bits = 32 - (pool - 1).leading_zeros();
    let script = format!(
        "read_verilog {}; read_verilog {}; read_verilog {}; chparam -set P {pool} -set IW {index_bits} -set W {width} pool_crossbar_ref; \
         proc; opt_clean; miter -equiv -flatten -make_assert pool_crossbar_ref pool_crossbar_mux miter; \
         hierarchy -top miter; sat -verify -prove-asserts miter",
        crossbar.display(),
        select.display(),
        reference.display()
    );
    yosys_proves(&script, "proof did fail")
}

/// Runs a Yosys proof script: true when it proves, false when the log shows
/// `refuted` (the proof ran and failed); anything else fails the test.
fn yosys_proves(script: &str, refuted: &str) -> bool {
    let out = common::run(Command::new("yosys").args(["-q", "-p", script]));
    let log = common::text(&out);
    assert!(
        out.status.success() || log.contains(refuted),
        "yosys did not run the proof:\n{log}"
    );
    out.status.success()
}

fn crossbar_of(pool: u32) -> (tempfile::TempDir, std::path::PathBuf, u32) {
    let config = common::config(&format!(
        "macros = 1\nrows = 16\ncols = {pool}\npool = {pool}"
    ));
    let width = cimpool::config::Derived::new(&config).column_bits;
    let (tmp, dir) = common::generate(&config);
    (tmp, dir.join("pool_crossbar_mux.v"), width)
}

#[test]
fn mux_crossbar_equals_behavioural_reference_p8_and_p16() {
    for pool in [8, 16] {
        let (_tmp, file, width) = crossbar_of(pool);
        assert!(
            proves_equivalent(&file, pool, width),
            "P = {pool}: not equivalent"
        );
    }
}

#[test]
fn mutated_crossbar_is_refuted() {
    let (_tmp, file, width) = crossbar_of(8);
    let text = std::fs::read_to_string(&file).unwrap();
    // Output 0 reads output 1's index.
    let from = ".index(select[2:0])";
    assert!(
        text.contains(from),
        "generated text changed; update the mutation"
    );
    std::fs::write(&file, text.replacen(from, ".index(select[5:3])", 1)).unwrap();
    assert!(
        !proves_equivalent(&file, 8, width),
        "a crossbar reading another lane's index was proven equivalent"
    );
}

/// Proves the generated Benes crossbar `crossbar` equal to the behavioural
/// reference for P lanes of `width` bits; true when proven.
fn benes_proves_equivalent(crossbar: &Path, pool: u32, width: u32) -> bool {
    common::require_tool("yosys");
    let reference =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testbench/pool_crossbar_benes_ref.v");
    let log2 = pool.trailing_zeros();
    let script = format!(
        "read_verilog {}; read_verilog {}; chparam -set P {pool} -set LOGP {log2} -set W {width} pool_crossbar_benes_ref; \
         proc; opt_clean; equiv_make pool_crossbar_benes_ref pool_crossbar_benes equiv; \
         hierarchy -top equiv; flatten; equiv_simple -undef; equiv_status -assert",
        crossbar.display(),
        reference.display()
    );
    yosys_proves(&script, "unproven $equiv cells")
}

fn benes_of(pool: u32) -> (tempfile::TempDir, std::path::PathBuf, u32) {
    let config = common::config(&format!(
        "macros = 1\nrows = 16\ncols = {pool}\npool = {pool}\ncrossbar = 'benes'"
    ));
    let width = cimpool::config::Derived::new(&config).column_bits;
    let (tmp, dir) = common::generate(&config);
    (tmp, dir.join("pool_crossbar_benes.v"), width)
}

#[test]
fn benes_crossbar_equals_behavioural_stage_loop_p8_and_p16() {
    for pool in [8, 16] {
        let (_tmp, file, width) = benes_of(pool);
        assert!(
            benes_proves_equivalent(&file, pool, width),
            "P = {pool}: not equivalent"
        );
    }
}

#[test]
fn mutated_benes_switch_is_refuted() {
    let (_tmp, file, width) = benes_of(8);
    let text = std::fs::read_to_string(&file).unwrap();
    // Switch 1 of stage 2 reads switch 2's setting.
    let from = format!(
        "assign stage2_y[{}:{}] = select[9] ?",
        3 * width - 1,
        2 * width
    );
    assert!(
        text.contains(&from),
        "generated text changed; update the mutation"
    );
    std::fs::write(
        &file,
        text.replacen(&from, &from.replace("select[9]", "select[10]"), 1),
    )
    .unwrap();
    assert!(
        !benes_proves_equivalent(&file, 8, width),
        "a Benes network with a miswired switch was proven equivalent"
    );
}
