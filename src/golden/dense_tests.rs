//! The identities docs/SPEC.md section 6 requires of the dense engine, as
//! property tests: with exact read-out the engine is a plain integer matmul
//! with the `w_bits` weights; `skip` and `compact` give what dense storage
//! of the same pruned weights gives.

use super::*;
use crate::config::{AdcMode, EngineKind};
use crate::loadport::LoadPort;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};

/// Small random dense configurations.
fn dense_config(sparsity: Sparsity, lossy: bool) -> impl Strategy<Value = Config> {
    (
        1u32..=3,
        prop::sample::select(vec![2u32, 3, 4, 8]),
        1u32..=3,
        prop::sample::select(vec![1u32, 2, 4]),
        1u32..=8,
        any::<bool>(),
        any::<bool>(),
        1u32..=4,
        0usize..3,
    )
        .prop_map(
            move |(macros, w_bits, lanes, phases, act_bits, signed, relu, slots, mode)| {
                let rows = 8 * phases;
                let wl = rows / phases;
                Config {
                    engine: EngineKind::Dense,
                    macros,
                    rows,
                    cols: w_bits * lanes,
                    w_bits,
                    wl_parallel: wl,
                    sparsity,
                    slots: slots.min(phases),
                    adc_bits: if lossy { 2 } else { 0 },
                    adc_mode: [
                        AdcMode::FloorClamp,
                        AdcMode::RoundClamp,
                        AdcMode::RoundEvenClamp,
                    ][mode],
                    act_bits: act_bits.max(if signed { 2 } else { 1 }),
                    act_signed: signed,
                    relu,
                    out_bits: 12,
                    ..Config::default()
                }
                .resolved()
            },
        )
}

/// Random memory contents of the config's shapes and a few input vectors.
fn random_dense(c: &Config, seed: u64) -> (Weights, Vec<Vec<i64>>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let port = LoadPort::new(c);
    let mut w = port.empty_weights();
    let rows = crate::config::Derived::new(c).macro_rows;
    for col in w.error.iter_mut() {
        *col = bits_from_fn(rows, |_| rng.gen());
    }
    for b in w.bias.iter_mut() {
        *b = rng.gen_range(-1000..1000);
    }
    w.scales.alpha = rng.gen_range(-100..100);
    w.scales.shift = rng.gen_range(0..12);
    w.scales.relu = rng.gen();
    for v in w.phase_valid.iter_mut() {
        *v = rng.gen();
    }
    let phases = c.rows / c.wl_parallel;
    let mut blocks: Vec<u32> = (0..phases).collect();
    for i in (1..blocks.len()).rev() {
        blocks.swap(i, rng.gen_range(0..=i));
    }
    for (k, code) in w.slot_codes.iter_mut().enumerate() {
        *code = if rng.gen_bool(0.25) {
            phases
        } else {
            blocks[k]
        };
    }
    let (lo, hi) = if c.act_signed {
        (-(1i64 << (c.act_bits - 1)), (1i64 << (c.act_bits - 1)) - 1)
    } else {
        (0, (1i64 << c.act_bits) - 1)
    };
    let xs = (0..3)
        .map(|_| (0..c.rows).map(|_| rng.gen_range(lo..=hi)).collect())
        .collect();
    (w, xs)
}

/// The same pruned weights in dense storage (`sparsity = "none"`): every
/// block no issued block covers is zero.
fn as_dense_storage(c: &Config, w: &Weights) -> (Config, Weights) {
    let engine = Engine::new(c, w.clone());
    let dense_c = Config {
        sparsity: Sparsity::None,
        slots: 0,
        ..c.clone()
    }
    .resolved();
    let mut dense_w = LoadPort::new(&dense_c).empty_weights();
    let per_macro = c.cols / c.w_bits;
    for lane in 0..c.lanes() {
        let (m, o) = (lane / per_macro, lane % per_macro);
        for row in 0..c.rows {
            let v = engine.dense_weight(lane as usize, row);
            let bits = v & ((1 << c.w_bits) - 1);
            for j in 0..c.w_bits {
                if bits >> j & 1 == 1 {
                    let col = (m * c.cols + j + c.w_bits * o) as usize;
                    dense_w.error[col][(row / 64) as usize] |= 1 << (row % 64);
                }
            }
        }
    }
    dense_w.bias = w.bias.clone();
    dense_w.scales = w.scales;
    (dense_c, dense_w)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// SPEC section 6's identity: with exact read-out, outputs are a plain
    /// integer matmul with the w_bits weights then requantization, and the
    /// weights read back from the columns are in the w_bits range.
    #[test]
    fn exact_dense_engine_is_integer_matmul(
        c in dense_config(Sparsity::None, false),
        seed in any::<u64>(),
    ) {
        let (w, xs) = random_dense(&c, seed);
        let mut engine = Engine::new(&c, w.clone());
        let lo = -(1i64 << (c.w_bits - 1));
        let hi = (1i64 << (c.w_bits - 1)) - 1;
        let weights: Vec<Vec<i64>> = (0..c.lanes() as usize)
            .map(|l| (0..c.rows).map(|d| engine.dense_weight(l, d)).collect())
            .collect();
        prop_assert!(weights.iter().flatten().all(|&v| lo <= v && v <= hi));
        let mut acc = vec![0i128; c.lanes() as usize];
        for (i, x) in xs.iter().enumerate() {
            let last = i == xs.len() - 1;
            let got = engine.step(x, i == 0, last);
            for (l, a) in acc.iter_mut().enumerate() {
                *a += weights[l].iter().zip(x).map(|(&w, &x)| (w * x) as i128).sum::<i128>();
            }
            if last {
                let want: Vec<i64> = acc
                    .iter()
                    .zip(&w.bias)
                    .map(|(&a, &b)| {
                        requantize(w.scales.alpha as i128 * a + b as i128, w.scales.shift, w.scales.relu, c.out_bits)
                    })
                    .collect();
                prop_assert_eq!(got.outputs.unwrap(), want);
            }
        }
    }

    /// `skip` and `compact` equal dense storage of the same pruned weights,
    /// exact or lossy ADC.
    #[test]
    fn sparse_storage_equals_dense_storage_of_the_pruned_weights(
        c in prop_oneof![
            dense_config(Sparsity::Skip, false),
            dense_config(Sparsity::Skip, true),
            dense_config(Sparsity::Compact, false),
            dense_config(Sparsity::Compact, true),
        ],
        seed in any::<u64>(),
    ) {
        let (w, xs) = random_dense(&c, seed);
        let (dc, dw) = as_dense_storage(&c, &w);
        let mut sparse = Engine::new(&c, w);
        let mut dense = Engine::new(&dc, dw);
        for (i, x) in xs.iter().enumerate() {
            let last = i == xs.len() - 1;
            let a = sparse.step(x, i == 0, last);
            let b = dense.step(x, i == 0, last);
            prop_assert_eq!(a.ysel, b.ysel);
            prop_assert_eq!(a.outputs, b.outputs);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The batch path `cimpool run` uses for exact read-out (an integer
    /// matrix product with the weights the engine reads) gives the
    /// reference engine's outputs, across row blocks, every sparsity mode.
    #[test]
    fn dense_batch_path_equals_the_reference_engine(
        c in prop_oneof![
            dense_config(Sparsity::None, false),
            dense_config(Sparsity::Skip, false),
            dense_config(Sparsity::Compact, false),
        ],
        seed in any::<u64>(),
    ) {
        let (w, xs) = random_dense(&c, seed);
        prop_assume!(super::fast::dense_fits(&c));
        let lanes = c.lanes() as usize;
        let matrix = super::fast::dense_matrix(&c, &w, lanes);
        let mut sums = vec![super::fast::LaneSums::default(); 1];
        let mut engine = Engine::new(&c, w.clone());
        for (i, x) in xs.iter().enumerate() {
            let last = i == xs.len() - 1;
            let one: &[Vec<i64>] = std::slice::from_ref(x);
            super::fast::dense_accumulate(&c, &matrix, lanes, one, 0..x.len(), &mut sums, i == 0);
            let want = engine.step(x, i == 0, last).outputs;
            if let Some(want) = want {
                prop_assert_eq!(super::fast::dense_outputs(&c, &w, &sums[0]), want);
            }
        }
    }
}

/// The issue count per plane: valid phases, used slots, at least one.
#[test]
fn issued_blocks_follow_the_sparsity_memory() {
    let c = Config::from_toml(
        "engine = \"dense\"\nmacros = 1\nrows = 32\ncols = 8\nwl_parallel = 8\nsparsity = \"skip\"",
    )
    .unwrap()
    .resolved();
    let mut w = LoadPort::new(&c).empty_weights();
    assert_eq!(issue_steps_per_plane(&c, &w), 4);
    w.phase_valid = vec![false, true, false, true];
    let issued: Vec<u32> = issued_blocks(&c, &w).iter().map(|b| b.input).collect();
    assert_eq!(issued, vec![1, 3]);
    w.phase_valid = vec![false; 4];
    assert_eq!(issue_steps_per_plane(&c, &w), 1);
    let c = Config {
        sparsity: Sparsity::Compact,
        slots: 2,
        ..c
    };
    let mut w = LoadPort::new(&c).empty_weights();
    w.slot_codes = vec![4, 2];
    let issued = issued_blocks(&c, &w);
    assert_eq!(
        issued,
        vec![IssuedBlock {
            input: 2,
            physical: 1
        }]
    );
}

/// A lossy ADC applies per phase to the 0/1 column sums, without `2A - N`.
#[test]
fn lossy_dense_column_is_sum_of_read_outs() {
    let c = Config::from_toml(
        "engine = \"dense\"\nmacros = 1\nrows = 8\ncols = 2\nw_bits = 2\nwl_parallel = 4\nadc_bits = 2\nact_bits = 1\nout_bits = 16\nrelu = false",
    )
    .unwrap()
    .resolved();
    let mut w = LoadPort::new(&c).empty_weights();
    // Lane 0: bit 0 column all ones, bit 1 column zero: weight +1 on every row.
    w.error[0] = bits_from_fn(8, |_| true);
    w.scales.alpha = 1;
    let mut e = Engine::new(&c, w);
    // W = 4: bits(W) = 3, 2-bit ADC: sh = 1, floor. Phase 0 has S = 3 -> 2,
    // phase 1 has S = 1 -> 0.
    let out = e.step(&[1, 1, 1, 0, 1, 0, 0, 0], true, true);
    assert_eq!(out.z[0], 2);
    assert_eq!(out.outputs.unwrap()[0], 2);
}
