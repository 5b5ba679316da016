//! Generated RTL against the golden model, cycle by cycle, under Verilator
//! (and a replay under Icarus Verilog): random and directed vectors, random
//! valid/ready back-pressure, partial memory reloads, multi-block sums.
//! Every test prints what it compared (`cargo test -- --nocapture`).

mod common;

use cimpool::cosim::{
    cosimulate, cosimulate_random_x, driver::Traffic, icarus, scenario, CosimError,
};
use std::path::{Path, PathBuf};

fn build_root() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("cosim")
}

fn cosim_clean(name: &str, toml: &str, seed: u64) {
    common::require_tool("verilator");
    let config = common::config(toml);
    let (_tmp, dir) = common::generate(&config);
    let traffic = Traffic {
        seed,
        ..Traffic::default()
    };
    match cosimulate(&dir, &build_root(), 1000, traffic) {
        Ok(r) => {
            assert!(r.vectors >= 1000 && r.beats > 0, "{r:?}");
            // The port document's pace was checked on the RTL, on sparse
            // tiles too where the engine has block sparsity.
            assert!(r.pace_tiles >= 2, "{r:?}");
            let blocks = cimpool::config::Derived::new(&config).issue_blocks;
            if config.is_dense() && config.sparsity != cimpool::config::Sparsity::None && blocks > 1
            {
                assert!(r.pace_sparse_tiles >= 1, "{r:?}");
            }
            eprintln!("cosim {name}: 0 mismatches; {r}");
        }
        Err(e) => panic!("co-simulation of {name} [{toml}] failed:\n{e}"),
    }
}

macro_rules! cosim_matrix {
    ($($name:ident: $toml:expr,)*) => { $(
        #[test]
        fn $name() { cosim_clean(stringify!($name), $toml, 7); }
    )* };
}

cosim_matrix! {
    exact_small: "macros = 2\nrows = 16\ncols = 16\npool = 8",
    round_adc_w_lt_r: "macros = 2\nrows = 32\ncols = 16\npool = 8\nwl_parallel = 16\nadc_bits = 3\nadc_mode = 'round_clamp'",
    floor_adc_signed_odd: "macros = 3\nrows = 24\ncols = 12\npool = 6\nwl_parallel = 8\nadc_bits = 2\nact_bits = 4\nact_signed = true",
    signed_no_relu: "macros = 1\nrows = 32\ncols = 32\npool = 16\nact_bits = 6\nact_signed = true\nrelu = false\nout_bits = 10",
    eight_macros_two_crossbars: "macros = 8\nrows = 16\ncols = 16\nact_bits = 4",
    crossbar_slower_than_compute: "macros = 4\nrows = 16\ncols = 16\npool = 8\ncrossbar_units = 1\nact_bits = 2",
    many_output_beats: "macros = 2\nrows = 16\ncols = 16\npool = 8\nout_lanes = 4\nact_bits = 3",
    one_bit_activations: "macros = 2\nrows = 16\ncols = 8\npool = 4\nact_bits = 1",
    non_power_of_two_round_adc: "macros = 3\nrows = 20\ncols = 10\npool = 5\nwl_parallel = 5\nadc_bits = 2\nadc_mode = 'round_clamp'",
    mid_8x32x32: "macros = 8\nrows = 32\ncols = 32",
    benes_small: "macros = 2\nrows = 16\ncols = 16\npool = 8\ncrossbar = 'benes'",
    benes_two_crossbars_pipelined: "macros = 4\nrows = 32\ncols = 32\npool = 16\nact_bits = 2\ncrossbar = 'benes'\ncrossbar_units = 2\ncrossbar_pipeline = 3",
    benes_one_crossbar_every_stage_registered: "macros = 2\nrows = 16\ncols = 16\npool = 8\nact_bits = 3\ncrossbar = 'benes'\ncrossbar_units = 1\ncrossbar_pipeline = 5\nout_lanes = 8",
    mux_pipelined_odd_pool: "macros = 3\nrows = 24\ncols = 12\npool = 6\nact_bits = 4\ncrossbar_pipeline = 2",
    lossy_adc_run_time_shifts: "macros = 2\nrows = 64\ncols = 16\npool = 8\nwl_parallel = 64\nadc_bits = 2\nadc_mode = 'round_even_clamp'\nact_bits = 3",
    prefixed_modules: "macros = 2\nrows = 16\ncols = 16\npool = 8\nact_bits = 3\nprefix = 'soc_a_'",
    all_256_word_lines_at_once: "macros = 1\nrows = 256\ncols = 16\npool = 8\nwl_parallel = 256\nadc_bits = 4\nact_bits = 3",
    dense_2bit_no_sparsity: "engine = 'dense'\nw_bits = 2\nmacros = 1\nrows = 16\ncols = 8\nact_bits = 4",
    dense_8bit_skip_signed: "engine = 'dense'\nw_bits = 8\nmacros = 2\nrows = 32\ncols = 16\nwl_parallel = 8\nact_bits = 3\nact_signed = true\nsparsity = 'skip'",
    dense_4bit_compact_three_macros: "engine = 'dense'\nw_bits = 4\nmacros = 3\nrows = 32\ncols = 8\nwl_parallel = 8\nact_bits = 3\nsparsity = 'compact'\nslots = 2",
    dense_skip_round_adc: "engine = 'dense'\nw_bits = 4\nmacros = 2\nrows = 32\ncols = 16\nwl_parallel = 16\nadc_bits = 3\nadc_mode = 'round_clamp'\nact_bits = 2\nsparsity = 'skip'",
    dense_compact_floor_adc_signed_odd: "engine = 'dense'\nw_bits = 3\nmacros = 2\nrows = 24\ncols = 12\nwl_parallel = 8\nadc_bits = 2\nact_bits = 3\nact_signed = true\nsparsity = 'compact'\nslots = 3\nout_lanes = 4",
    dense_compact_round_even_adc: "engine = 'dense'\nw_bits = 4\nmacros = 2\nrows = 64\ncols = 16\nwl_parallel = 32\nadc_bits = 3\nadc_mode = 'round_even_clamp'\nact_bits = 3\nsparsity = 'compact'\nslots = 1",
    dense_skip_one_phase_one_bit: "engine = 'dense'\nw_bits = 4\nmacros = 1\nrows = 16\ncols = 16\nact_bits = 1\nsparsity = 'skip'",
    output_pipelined_one_stage_many_beats: "macros = 2\nrows = 16\ncols = 16\npool = 8\nout_lanes = 4\nact_bits = 3\noutput_pipeline = 1",
    output_pipelined_whole_vector_in_the_path: "macros = 2\nrows = 16\ncols = 16\npool = 8\nout_lanes = 8\nact_bits = 2\noutput_pipeline = 4\ncrossbar_pipeline = 2",
    output_pipelined_single_beat_signed: "macros = 1\nrows = 32\ncols = 16\npool = 8\nact_bits = 4\nact_signed = true\nrelu = false\noutput_pipeline = 2",
    crossbar_bound_one_step_per_vector: "macros = 1\nrows = 14\ncols = 6\npool = 3\nadc_bits = 3\nact_bits = 1\ncrossbar_units = 1\noutput_pipeline = 4",
    output_pipelined_reduce_cut_signed: "macros = 1\nrows = 32\ncols = 16\npool = 8\nact_bits = 4\nact_signed = true\nrelu = false\noutput_pipeline = 5\nscale_bits = 5",
    popcount_at_load_two_phases_uneven_chunks: "macros = 2\nrows = 40\ncols = 16\npool = 8\nwl_parallel = 20\nact_bits = 3\nact_signed = true\npopcount_at_load = true",
    dense_output_pipelined_skip: "engine = 'dense'\nw_bits = 4\nmacros = 2\nrows = 32\ncols = 16\nwl_parallel = 8\nact_bits = 3\nsparsity = 'skip'\nout_lanes = 2\noutput_pipeline = 3",
    requantizer_wider_than_64_bits: "macros = 1\nrows = 16\ncols = 8\npool = 4\nact_bits = 16\nact_signed = true\nrelu = false\nscale_bits = 32\nbias_bits = 48\nmax_row_blocks = 1048576\nout_bits = 16",
}

/// A copy of a generated package with one line of one file changed.
fn mutated(toml: &str, file: &str, from: &str, to: &str) -> (tempfile::TempDir, PathBuf) {
    let config = common::config(toml);
    let (tmp, dir) = common::generate(&config);
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} lacks `{from}`");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    (tmp, dir)
}

fn expect_mismatch(dir: &Path) -> cimpool::cosim::Mismatch {
    common::require_tool("verilator");
    match cosimulate(dir, &build_root(), 300, Traffic::default()) {
        Err(CosimError::Mismatch(m)) => {
            eprintln!("mutation caught:\n{m}");
            let trace = m.trace.clone().expect("a trace is written on mismatch");
            assert!(
                std::fs::metadata(&trace)
                    .map(|m| m.len() > 0)
                    .unwrap_or(false),
                "empty trace {trace:?}"
            );
            *m
        }
        other => panic!("the broken RTL was not caught: {other:?}"),
    }
}

/// Co-simulates a package and expects the RTL assertion `name` among those
/// that fail (a plain build: no trace is written, these tests only ask
/// which rule the RTL broke).
fn expect_assertion(dir: &Path, name: &str) {
    use cimpool::cosim::{driver, sim::Sim, verilate};
    common::require_tool("verilator");
    let built = verilate::verilate(dir, &build_root(), 2, verilate::Instrument::Plain).unwrap();
    let random = scenario::random_scenario(&built.config, 7, 300);
    let mut sim = Sim::load(&built.library).unwrap();
    match driver::run(&mut sim, &built.config, &random, Traffic::default(), None) {
        Err(CosimError::Mismatch(m))
            if m.assertions
                .iter()
                .any(|a| a.starts_with(&format!("{name} ("))) =>
        {
            eprintln!("assertion {name} fired:\n{m}");
        }
        other => panic!("assertion {name} did not fire: {other:?}"),
    }
}

/// The package every assertion mutation starts from: two output beats per
/// vector, a plane counter with a value it never counts (act_bits 3).
const ASSERTION_BASE: &str =
    "macros = 1\nrows = 4\ncols = 8\npool = 4\nout_lanes = 4\nact_bits = 3";

/// One mutation per protocol assertion of `gen::checks`, each breaking the
/// rule that assertion states; the assertion (not only a later data
/// difference) must name it.
macro_rules! assertion_mutations {
    ($($test:ident: $assertion:expr, $file:expr, $from:expr, $to:expr;)*) => { $(
        #[test]
        fn $test() {
            let (_tmp, dir) = mutated(ASSERTION_BASE, $file, $from, $to);
            expect_assertion(&dir, $assertion);
        }
    )* };
}

assertion_mutations! {
    // The output register drops a beat nobody took.
    assertion_out_valid_held_fires: "out_valid_held", "cim_controller.v",
        "end else if (out_ready) begin", "end else if (1'b1) begin";
    // out_last flips in every cycle the beat waits.
    assertion_out_beat_stable_fires: "out_beat_stable", "cim_controller.v",
        "out_valid_r <= 1'd0;\n            end\n", "out_valid_r <= 1'd0;\n            end else begin\n                out_last_r <= ~out_last_r;\n            end\n";
    // The output register reloads while its beat waits: the data change.
    assertion_out_data_stable_fires: "out_data_stable", "cim_top.v",
        ".beat_load(beat_load),\n        .acc_pool(acc_pool)", ".beat_load(beat_load | (~out_ready)),\n        .acc_pool(acc_pool)";
    // out_last on the first of two beats instead of the second.
    assertion_out_last_placed_fires: "out_last_placed", "cim_controller.v",
        "out_last_r <= d_final;", "out_last_r <= ~d_final;";
    // Reset leaves a beat offered that no vector owes.
    assertion_out_owed_fires: "out_owed", "cim_controller.v",
        "d_busy <= 1'd0;\n            out_valid_r <= 1'd0;", "d_busy <= 1'd0;\n            out_valid_r <= 1'd1;";
    // The load port opens while a vector is in the crossbar stage.
    assertion_load_when_idle_fires: "load_when_idle", "cim_controller.v",
        "& (~b_busy)) & (~d_busy);", "& 1'b1) & (~d_busy);";
    // The plane counter starts at 3 of 3 planes.
    assertion_counters_in_range_fires: "counters_in_range", "cim_controller.v",
        "s0_plane <= 2'd2;", "s0_plane <= 2'd3;";
}

/// Seeds of the random register start (`--x-initial unique`).
const X_SEEDS: [u32; 4] = [1, 2, 3, 4];

/// With every register and X assignment starting random (4 seeds), reset
/// and the scenario's loads leave no output depending on what nothing
/// initialised: both engines, Benes and output pipelines, sparse tiles.
#[test]
fn registers_starting_random_change_no_output() {
    common::require_tool("verilator");
    for toml in [
        "macros = 2\nrows = 16\ncols = 16\npool = 8\nact_bits = 3\ncrossbar = 'benes'\ncrossbar_pipeline = 2\noutput_pipeline = 3\nout_lanes = 8\nadc_bits = 2",
        "engine = 'dense'\nw_bits = 4\nmacros = 2\nrows = 32\ncols = 16\nwl_parallel = 8\nact_bits = 3\nsparsity = 'compact'\nslots = 3\noutput_pipeline = 1",
        "engine = 'dense'\nw_bits = 3\nmacros = 1\nrows = 24\ncols = 12\nwl_parallel = 8\nact_bits = 2\nsparsity = 'skip'",
    ] {
        let (_tmp, dir) = common::generate(&common::config(toml));
        let r = cosimulate_random_x(&dir, &build_root(), 300, Traffic::default(), &X_SEEDS)
            .unwrap_or_else(|e| panic!("[{toml}] with registers starting random:\n{e}"));
        assert!(r.vectors >= 4 * 300 && r.beats > 0, "{r:?}");
        eprintln!("random register start, {} seeds: 0 mismatches; {r}", X_SEEDS.len());
    }
}

/// The random start can fail: a controller flag whose reset is removed
/// passes with Verilator's usual zero start and is caught once registers
/// start random.
#[test]
fn a_register_without_reset_is_caught_by_the_random_start() {
    common::require_tool("verilator");
    let toml = "macros = 2\nrows = 16\ncols = 16\npool = 8\nact_bits = 3";
    let (_tmp, dir) = mutated(
        toml,
        "cim_controller.v",
        "            b_busy <= 1'd0;\n        end else if (commit_w)",
        "            b_busy <= b_busy;\n        end else if (commit_w)",
    );
    cosimulate(&dir, &build_root(), 300, Traffic::default())
        .expect("a zero start hides the missing reset");
    match cosimulate_random_x(&dir, &build_root(), 300, Traffic::default(), &X_SEEDS) {
        Err(CosimError::Mismatch(m)) => {
            assert!(m.what.contains("registers started random, X seed"), "{m}");
        }
        other => panic!("the missing reset was not caught: {other:?}"),
    }
}

/// Every co-simulation asserts `rst` 4 times in the middle of work (a
/// vector anywhere from its issue to its last beat); the model then owes
/// no output. The resets can fail: an output register that keeps its
/// valid bit through reset passes a run without resets' effect on it (it
/// starts at zero) and is caught by them.
#[test]
fn an_output_valid_bit_kept_through_reset_is_caught() {
    common::require_tool("verilator");
    let toml = "macros = 2\nrows = 16\ncols = 16\npool = 8\nact_bits = 3\nout_lanes = 4";
    let (_tmp, dir) = mutated(
        toml,
        "cim_controller.v",
        "            out_valid_r <= 1'd0;\n        end else begin",
        "            out_valid_r <= out_valid_r;\n        end else begin",
    );
    let m = expect_mismatch(&dir);
    assert!(
        m.what.contains("handshake") || m.what.contains("beat"),
        "{m}"
    );
}

#[test]
fn flipped_crossbar_select_is_caught() {
    // Crossbar output 0 reads output 1's index.
    let toml = "macros = 2\nrows = 16\ncols = 16\npool = 8";
    let (_tmp, dir) = mutated(
        toml,
        "pool_crossbar_mux.v",
        ".index(select[2:0])",
        ".index(select[5:3])",
    );
    let m = expect_mismatch(&dir);
    assert!(m.lane.is_some() && m.expected != m.actual, "{m}");
}

#[test]
fn swapped_benes_switch_is_caught() {
    // The first switch of the first stage reads the second one's setting.
    let toml = "macros = 2\nrows = 16\ncols = 16\npool = 8\ncrossbar = 'benes'";
    let (_tmp, dir) = mutated(
        toml,
        "pool_crossbar_benes.v",
        "assign stage0_y[12:0] = select[0] ?",
        "assign stage0_y[12:0] = select[1] ?",
    );
    let m = expect_mismatch(&dir);
    assert!(m.lane.is_some() && m.expected != m.actual, "{m}");
}

#[test]
fn flipped_adc_bit_is_caught() {
    let toml = "macros = 2\nrows = 32\ncols = 16\npool = 8\nwl_parallel = 16\nadc_bits = 3\nadc_mode = 'round_clamp'";
    let (_tmp, dir) = mutated(
        toml,
        "adc_quantizer.v",
        "assign read_out_2 = {",
        "assign read_out_2 = 5'd16 ^ {",
    );
    let m = expect_mismatch(&dir);
    assert!(m.lane.is_some(), "{m}");
}

/// The round-half-even ADC made to round half up at its default step
/// (2^2 on 16 word lines): ties at sums 2 and 10 read a step high.
#[test]
fn round_even_adc_rounding_ties_up_is_caught() {
    let toml = "macros = 2\nrows = 32\ncols = 16\npool = 8\nwl_parallel = 16\nadc_bits = 3\nadc_mode = 'round_even_clamp'";
    let (_tmp, dir) = mutated(toml, "adc_quantizer.v", "+ {5'd0, sum[2]};", "+ 6'd1;");
    let m = expect_mismatch(&dir);
    assert!(m.lane.is_some(), "{m}");
}

#[test]
fn dense_skip_logic_mutation_is_caught() {
    // The controller walks every phase instead of the valid ones: the values
    // stay right (an invalid phase's word lines are gated off) but every
    // sparse vector takes too many cycles.
    let toml = "engine = 'dense'\nw_bits = 4\nmacros = 2\nrows = 32\ncols = 16\nwl_parallel = 8\nact_bits = 3\nsparsity = 'skip'";
    let (_tmp, dir) = mutated(
        toml,
        "cim_controller.v",
        "assign later_blocks = issue_mask &",
        "assign later_blocks = 4'b1111 &",
    );
    let m = expect_mismatch(&dir);
    assert!(m.what.contains("handshake"), "{m}");
}

#[test]
fn dense_slot_routing_mutation_is_caught() {
    // Slot 1 drives the input block of slot 0.
    let toml = "engine = 'dense'\nw_bits = 4\nmacros = 2\nrows = 32\ncols = 8\nwl_parallel = 8\nact_bits = 3\nsparsity = 'compact'\nslots = 2";
    let (_tmp, dir) = mutated(
        toml,
        "sparsity_memory.v",
        "phase ? code_1 : code_0",
        "phase ? code_0 : code_0",
    );
    let m = expect_mismatch(&dir);
    assert!(m.lane.is_some() && m.expected != m.actual, "{m}");
}

fn icarus_clean(toml: &str, vectors: usize) {
    common::require_tool("iverilog");
    let config = common::config(toml);
    let (tmp, dir) = common::generate(&config);
    let scenario = scenario::random_scenario(&config, 3, vectors);
    let r = icarus::replay(&dir, &tmp.path().join("icarus"), &config, &scenario)
        .unwrap_or_else(|e| panic!("Icarus replay of [{toml}]: {e}"));
    let expected_beats =
        scenario.output_vectors() * cimpool::config::Derived::new(&config).out_beats as usize;
    assert_eq!(r.beats, expected_beats);
    eprintln!(
        "icarus [{}]: {} beats match over {} cycles",
        toml.replace('\n', ", "),
        r.beats,
        r.cycles
    );
}

#[test]
fn icarus_replay_exact() {
    icarus_clean(
        "macros = 2\nrows = 16\ncols = 16\npool = 8\nout_lanes = 8\nprefix = 'soc_b_'",
        150,
    );
}

#[test]
fn icarus_replay_signed_round_adc() {
    icarus_clean(
        "macros = 1\nrows = 16\ncols = 8\npool = 4\nwl_parallel = 8\nadc_bits = 2\nadc_mode = 'round_clamp'\nact_bits = 4\nact_signed = true\nrelu = false",
        150,
    );
}

#[test]
fn icarus_replay_dense_skip() {
    icarus_clean(
        "engine = 'dense'\nw_bits = 4\nmacros = 2\nrows = 16\ncols = 8\nwl_parallel = 4\nact_bits = 3\nsparsity = 'skip'",
        150,
    );
}
