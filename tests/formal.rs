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

/// P = 32 takes about 80 s on one core; P = 64 is measured by hand
/// (docs/VERIFICATION.md section 4).
#[test]
fn benes_crossbar_equals_behavioural_stage_loop_p8_p16_p32() {
    for pool in [8, 16, 32] {
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

/// The bounded proof of `scope` on a package of `toml`, at `steps` cycles
/// (the default bound when None).
fn bmc(
    dir: &Path,
    toml: &str,
    scope: cimpool::formal::Scope,
    steps: Option<u32>,
) -> cimpool::formal::Proof {
    common::require_tool("yosys");
    let config = common::config(toml);
    let steps = steps.unwrap_or_else(|| cimpool::formal::default_steps(&config));
    let work = dir.join("prove");
    let proof = cimpool::formal::prove(dir, scope, steps, &work)
        .unwrap_or_else(|e| panic!("[{toml}] the proof did not run: {e}"));
    eprintln!("[{}] {}", toml.replace('\n', ", "), proof.summary());
    proof
}

/// The controller's assertions hold for every input sequence of a few
/// vector periods (the default bound) on small packages of both engines:
/// several output beats, Benes crossbar stages and output pipeline stages,
/// block sparsity with its issue mask.
#[test]
fn controller_assertions_hold_for_every_input_sequence() {
    use cimpool::formal::{Outcome, Scope};
    for toml in [
        "macros = 1\nrows = 4\ncols = 8\npool = 4\nout_lanes = 4\nact_bits = 3",
        "macros = 2\nrows = 8\ncols = 8\npool = 4\nact_bits = 2\ncrossbar = 'benes'\ncrossbar_units = 1\ncrossbar_pipeline = 2\noutput_pipeline = 2\nout_lanes = 4",
        "engine = 'dense'\nw_bits = 2\nmacros = 2\nrows = 16\ncols = 4\nwl_parallel = 4\nact_bits = 2\nsparsity = 'compact'\nslots = 3\nout_lanes = 4",
    ] {
        let (_tmp, dir) = common::generate(&common::config(toml));
        let proof = bmc(&dir, toml, Scope::Controller, None);
        assert_eq!(proof.outcome, Outcome::Proven, "[{toml}]");
        assert_eq!(proof.assertions.len(), 6, "{:?}", proof.assertions);
    }
}

/// The whole package, flattened, datapath included: out_data stable under
/// back-pressure too (a shorter bound: the datapath makes each step dearer).
#[test]
fn whole_package_assertions_hold_including_output_data() {
    use cimpool::formal::{Outcome, Scope};
    let toml = "macros = 1\nrows = 4\ncols = 8\npool = 4\nout_lanes = 4\nact_bits = 1";
    let (_tmp, dir) = common::generate(&common::config(toml));
    let proof = bmc(&dir, toml, Scope::Top, Some(16));
    assert_eq!(proof.outcome, Outcome::Proven);
    assert!(
        proof.assertions.iter().any(|a| a == "out_data_stable"),
        "{:?}",
        proof.assertions
    );
}

/// A controller that drops a beat nobody took, and an output register that
/// reloads while its beat waits: each refuted, the broken assertion named,
/// a counterexample trace written.
#[test]
fn bmc_refutes_mutations_and_names_the_assertion() {
    use cimpool::formal::{Outcome, Scope};
    let toml = "macros = 1\nrows = 4\ncols = 8\npool = 4\nout_lanes = 4\nact_bits = 1";
    for (scope, file, from, to, name) in [
        (
            Scope::Controller,
            "cim_controller.v",
            "end else if (out_ready) begin",
            "end else if (1'b1) begin",
            "out_valid_held",
        ),
        (
            Scope::Top,
            "cim_top.v",
            ".beat_load(beat_load),\n        .acc_pool(acc_pool)",
            ".beat_load(beat_load | (~out_ready)),\n        .acc_pool(acc_pool)",
            "out_data_stable",
        ),
    ] {
        let (_tmp, dir) = common::generate(&common::config(toml));
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains(from),
            "generated text changed; update the mutation"
        );
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        let proof = bmc(&dir, toml, scope, Some(16));
        match &proof.outcome {
            Outcome::Refuted { failed, .. } => {
                assert!(
                    failed.iter().any(|f| f.starts_with(&format!("{name} ("))),
                    "{failed:?}"
                );
                let trace = proof.trace.as_ref().expect("a counterexample trace");
                assert!(std::fs::metadata(trace)
                    .map(|m| m.len() > 0)
                    .unwrap_or(false));
            }
            Outcome::Proven => panic!("the mutation breaking {name} was proven"),
        }
    }
}
