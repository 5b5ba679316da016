//! Every generated package must lint with zero warnings under
//! `verilator --lint-only -Wall`, over a matrix that spans the parameter
//! space (macro counts 1..16, rows/cols 16..256, pool < cols, W < R, both ADC
//! modes, signed activations, black-box storage, odd sizes).

mod common;

fn assert_lints_clean(toml: &str) {
    let config = common::config(toml);
    let (_tmp, dir) = common::generate(&config);
    let (ok, out) = common::lint(&dir);
    assert!(
        ok && out.trim().is_empty(),
        "lint of [{toml}] is not clean:\n{out}"
    );
}

macro_rules! lint_matrix {
    ($($name:ident: $toml:expr,)*) => { $(
        #[test]
        fn $name() { assert_lints_clean($toml); }
    )* };
}

lint_matrix! {
    one_macro_square: "macros = 1\nrows = 16\ncols = 16",
    w_lt_r_round_adc: "macros = 2\nrows = 32\ncols = 32\npool = 16\nwl_parallel = 8\nadc_bits = 3\nadc_mode = 'round_clamp'",
    odd_sizes_floor_adc_signed: "macros = 3\nrows = 24\ncols = 24\npool = 12\nwl_parallel = 12\nadc_bits = 2\nact_signed = true",
    sixteen_macros: "macros = 16\nrows = 16\ncols = 16\nact_bits = 4",
    mid_floor_adc: "macros = 4\nrows = 64\ncols = 64\npool = 32\nwl_parallel = 16\nadc_bits = 4",
    rows_cols_256: "macros = 1\nrows = 256\ncols = 256\npool = 128\nwl_parallel = 64\nadc_bits = 5\nadc_mode = 'round_clamp'\nact_bits = 4",
    signed_no_relu_wide_out: "macros = 2\nrows = 128\ncols = 64\npool = 64\nact_signed = true\nrelu = false\nout_bits = 16",
    blackbox_two_crossbars: "macros = 8\nrows = 16\ncols = 16\npool = 8\ncrossbar_units = 2\nstorage = 'blackbox'",
    non_power_of_two: "macros = 5\nrows = 20\ncols = 10\npool = 5\nwl_parallel = 5",
    one_bit_activations: "macros = 2\nrows = 16\ncols = 16\npool = 4\nact_bits = 1",
    round_even_adc_five_shifts: "macros = 2\nrows = 128\ncols = 16\npool = 8\nwl_parallel = 128\nadc_bits = 3\nadc_mode = 'round_even_clamp'",
    adc_as_wide_as_sum: "macros = 8\nrows = 32\ncols = 32\nadc_bits = 6\nadc_mode = 'round_clamp'",
    three_bit_signed_narrow_beats: "macros = 4\nrows = 16\ncols = 12\npool = 6\nwl_parallel = 4\nact_bits = 3\nact_signed = true\nout_lanes = 8",
    wide_lanes_wide_beats: "macros = 2\nrows = 64\ncols = 256\npool = 64\nout_lanes = 64",
    default_config: "",
    default_benes: "crossbar = 'benes'",
    benes_pipelined_every_stage: "macros = 2\nrows = 16\ncols = 32\npool = 32\ncrossbar = 'benes'\ncrossbar_pipeline = 9",
    benes_two_lanes: "macros = 1\nrows = 8\ncols = 4\npool = 2\ncrossbar = 'benes'\ncrossbar_pipeline = 1",
    mux_pipelined_odd_pool: "macros = 3\nrows = 24\ncols = 12\npool = 6\ncrossbar_pipeline = 3",
    prefixed_modules: "macros = 2\nrows = 16\ncols = 16\npool = 8\nprefix = 'soc_a_'",
    output_pipelined_every_cut_blackbox: "macros = 4\nrows = 32\ncols = 32\npool = 16\nstorage = 'blackbox'\noutput_pipeline = 4",
    output_pipelined_reduce_cut_popcount_at_load: "macros = 2\nrows = 40\ncols = 16\npool = 8\nwl_parallel = 20\noutput_pipeline = 5\npopcount_at_load = true\nact_signed = true",
    default_popcount_at_load: "popcount_at_load = true\nstorage = 'blackbox'",
    dense_output_pipelined_one_beat: "engine = 'dense'\nmacros = 1\nrows = 16\ncols = 16\noutput_pipeline = 2",
    dense_default_size_4bit: "engine = 'dense'",
    dense_8bit_skip_w_lt_r: "engine = 'dense'\nw_bits = 8\nmacros = 4\nrows = 64\ncols = 64\nwl_parallel = 16\nsparsity = 'skip'\nadc_bits = 4",
    dense_compact_odd_signed: "engine = 'dense'\nw_bits = 3\nmacros = 3\nrows = 24\ncols = 12\nwl_parallel = 8\nact_signed = true\nsparsity = 'compact'\nslots = 2\nrelu = false",
    dense_2bit_blackbox_prefixed: "engine = 'dense'\nw_bits = 2\nmacros = 2\nrows = 16\ncols = 16\nstorage = 'blackbox'\nprefix = 'soc_d_'",
    dense_compact_one_slot: "engine = 'dense'\nmacros = 1\nrows = 32\ncols = 8\nwl_parallel = 8\nsparsity = 'compact'\nslots = 1",
    all_256_word_lines_at_once: "macros = 2\nrows = 256\ncols = 16\npool = 8\nwl_parallel = 256\nadc_bits = 4",
}
