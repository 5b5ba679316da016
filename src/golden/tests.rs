//! The identities SPEC requires of the golden model, as property tests.

use super::*;
use crate::config::{AdcMode, Config};
use proptest::prelude::*;

/// Small random configurations with exact read-out.
fn exact_config() -> impl Strategy<Value = Config> {
    (
        1u32..=3,
        1u32..=5,
        1u32..=4,
        prop::sample::select(vec![1u32, 2, 4]),
        1u32..=9,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(macros, rows_k, pool, phases, act_bits, signed, relu)| {
            let rows = 8 * rows_k * phases;
            let cols = pool * 2;
            Config {
                macros,
                rows,
                cols,
                pool,
                wl_parallel: rows / phases,
                act_bits: act_bits.max(if signed { 2 } else { 1 }),
                act_signed: signed,
                relu,
                out_bits: 12,
                ..Config::default()
            }
            .resolved()
        })
        .prop_filter("pool >= 2", |c| c.pool >= 2)
}

fn act_range(c: &Config) -> (i64, i64) {
    if c.act_signed {
        (-(1 << (c.act_bits - 1)), (1 << (c.act_bits - 1)) - 1)
    } else {
        (0, (1 << c.act_bits) - 1)
    }
}

/// Random weights and inputs for a config; `extreme` pushes every value to
/// the ends of its range (all ones, max/min activations, max scales).
fn random_case(c: &Config, seed: u64, extreme: bool) -> (Weights, Vec<Vec<i64>>) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let lanes = (c.macros * c.cols) as usize;
    let col = |rng: &mut rand_chacha::ChaCha8Rng| bits_from_fn(c.rows, |_| extreme || rng.gen());
    let pool = (0..c.pool).map(|_| col(&mut rng)).collect();
    let error = (0..lanes).map(|_| col(&mut rng)).collect();
    let smax = (1i64 << (c.scale_bits - 1)) - 1;
    let weights = Weights {
        pool,
        error,
        index: (0..lanes).map(|_| rng.gen_range(0..c.pool)).collect(),
        mask: (0..lanes).map(|_| extreme || rng.gen()).collect(),
        bias: (0..lanes).map(|_| rng.gen_range(-1000..1000)).collect(),
        scales: Scales {
            alpha: if extreme {
                smax
            } else {
                rng.gen_range(-smax..=smax)
            },
            beta: if extreme {
                -smax - 1
            } else {
                rng.gen_range(-smax..=smax)
            },
            shift: rng.gen_range(0..12),
            relu: rng.gen(),
            adc_shift: 0,
        },
        phase_valid: vec![],
        slot_codes: vec![],
    };
    let (lo, hi) = act_range(c);
    let vectors = (0..4)
        .map(|_| {
            (0..c.rows)
                .map(|_| {
                    if extreme {
                        if rng.gen() {
                            hi
                        } else {
                            lo
                        }
                    } else {
                        rng.gen_range(lo..=hi)
                    }
                })
                .collect()
        })
        .collect();
    (weights, vectors)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// With exact read-out, Y[c] is the integer dot product of x with the
    /// +-1 column (SPEC section 2).
    #[test]
    fn exact_column_is_pm1_dot_product(c in exact_config(), seed in any::<u64>(), extreme in any::<bool>()) {
        let (w, xs) = random_case(&c, seed, extreme);
        let m = MacroModel::new(&c);
        for x in &xs {
            let driven = m.drive(x);
            for column in w.pool.iter().chain(&w.error) {
                let dot: i64 = (0..c.rows).map(|d| x[d as usize] * if bit(column, d) { 1 } else { -1 }).sum();
                prop_assert_eq!(m.column(&driven, column), dot);
                prop_assert_eq!(m.column_detail(&driven, column).y, dot);
            }
        }
    }

    /// The fundamental identity (SPEC section 3): across row blocks, the
    /// engine's outputs equal a plain integer matmul with the effective
    /// weights, followed by the same requantization.
    #[test]
    fn engine_equals_effective_weight_matmul(c in exact_config(), seed in any::<u64>(), extreme in any::<bool>()) {
        let (w, xs) = random_case(&c, seed, extreme);
        let mut engine = Engine::new(&c, w.clone());
        let mut outputs = None;
        for (b, x) in xs.iter().enumerate() {
            outputs = engine.step(x, b == 0, b == xs.len() - 1).outputs;
        }
        let outputs = outputs.unwrap();
        for (lane, &got) in outputs.iter().enumerate() {
            let acc: i128 = xs
                .iter()
                .map(|x| (0..c.rows).map(|d| engine.effective_weight(lane, d) as i128 * x[d as usize] as i128).sum::<i128>())
                .sum();
            let expected = requantize(acc + w.bias[lane] as i128, w.scales.shift, w.scales.relu, c.out_bits);
            prop_assert_eq!(got, expected, "lane {}", lane);
        }
    }
}

#[test]
fn lossy_adc_is_applied_per_phase_and_plane() {
    // W = 7 (bits 3), 1-bit ADC, floor: S in 0..=3 -> 0, 4..=7 -> 4.
    let c = Config {
        macros: 1,
        rows: 14,
        cols: 2,
        pool: 2,
        wl_parallel: 7,
        adc_bits: 1,
        act_bits: 2,
        ..Config::default()
    }
    .resolved();
    let m = MacroModel::new(&c);
    let column = bits_from_fn(14, |_| true);
    let x: Vec<i64> = (0..14).map(|d| if d < 5 { 3 } else { 1 }).collect();
    let detail = m.column_detail(&m.drive(&x), &column);
    // Plane 0: all 14 ones, phases see 7 and 7 -> read-outs 4, 4.
    assert_eq!(detail.sums[0], vec![7, 7]);
    assert_eq!(detail.read_outs[0], vec![4, 4]);
    // Plane 1: rows 0..5 -> phase sums 5 and 0 -> read-outs 4 and 0.
    assert_eq!(detail.sums[1], vec![5, 0]);
    assert_eq!(detail.read_outs[1], vec![4, 0]);
    // T = sum(2A - N): plane 0: (8-7)+(8-7) = 2; plane 1: (8-5)+(0-0) = 3.
    assert_eq!(detail.planes, vec![2, 3]);
    assert_eq!(detail.y, 2 + 2 * 3);
    let _ = AdcMode::FloorClamp;
}

/// docs/SPEC.md section 7: the run-time step. W = 15 (bits 4), 2-bit ADC:
/// the default shift is 2; shift 0 clamps at 3, shift 1 at 6; a field value
/// past the largest acts as the largest.
#[test]
fn run_time_adc_shift_sets_the_step_and_the_clamp() {
    for (mode, sums) in [
        (
            AdcMode::FloorClamp,
            [(0u32, 13u32, 3u32), (1, 13, 6), (2, 13, 12), (9, 13, 12)],
        ),
        (
            AdcMode::RoundClamp,
            [(0, 13, 3), (1, 5, 6), (2, 13, 12), (2, 14, 12)],
        ),
        // Ties to the even code: 5 / 2 -> 2 (4), 6 / 4 -> 2 (8), 10 / 4 -> 2 (8).
        (
            AdcMode::RoundEvenClamp,
            [(0, 13, 3), (1, 5, 4), (2, 6, 8), (2, 10, 8)],
        ),
    ] {
        let c = Config {
            macros: 1,
            rows: 15,
            cols: 2,
            pool: 2,
            wl_parallel: 15,
            adc_bits: 2,
            adc_mode: mode,
            act_bits: 1,
            ..Config::default()
        }
        .resolved();
        for (sh, s, a) in sums {
            let mut m = MacroModel::new(&c);
            m.set_adc_shift(sh);
            let column = bits_from_fn(15, |d| d < s);
            let x = vec![1i64; 15];
            let detail = m.column_detail(&m.drive(&x), &column);
            assert_eq!(detail.sums[0], vec![s], "{mode} shift {sh}");
            assert_eq!(detail.read_outs[0], vec![a], "{mode} shift {sh}, S = {s}");
        }
    }
}

#[test]
fn requantize_rounds_half_up_relu_and_saturates() {
    assert_eq!(requantize(5, 1, false, 8), 3); // 2.5 -> 3
    assert_eq!(requantize(-5, 1, false, 8), -2); // -2.5 -> -2 (half up)
    assert_eq!(requantize(-5, 0, true, 8), 0);
    assert_eq!(requantize(1000, 0, true, 8), 255);
    assert_eq!(requantize(-1000, 0, false, 8), -128);
    assert_eq!(requantize(1 << 100, 126, false, 8), 0);
}

fn any_config() -> impl Strategy<Value = Config> {
    (
        1u32..3,
        prop::sample::select(vec![(16u32, 16u32), (24, 8), (32, 8), (70, 14), (128, 64)]),
        prop::sample::select(vec![(4u32, 2u32), (8, 4), (6, 6)]),
        0u32..5,
        0usize..3,
        1u32..9,
        any::<bool>(),
    )
        .prop_map(
            |(macros, (rows, w), (cols, pool), adc_bits, mode, act_bits, signed)| Config {
                macros,
                rows,
                cols,
                pool,
                wl_parallel: w,
                adc_bits,
                adc_mode: [
                    AdcMode::FloorClamp,
                    AdcMode::RoundClamp,
                    AdcMode::RoundEvenClamp,
                ][mode],
                act_bits: act_bits.max(1 + signed as u32),
                act_signed: signed,
                ..Config::default()
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The batch path of `cimpool run` gives exactly `Engine`'s outputs:
    /// random configs, exact and lossy ADCs in both modes at random
    /// run-time steps, several row blocks, a subset of the lanes.
    #[test]
    fn fast_batch_path_equals_the_reference_engine(
        c in any_config(), seed in any::<u64>(), extreme in any::<bool>(), step in 0u32..4, used in 1usize..40,
    ) {
        let d = crate::config::Derived::new(&c);
        let (mut w, xs) = random_case(&c, seed, extreme);
        w.scales.adc_shift = step.min(d.adc_shift);
        let lanes = used.min(d.lanes as usize);
        let mut engine = Engine::new(&c, w.clone());
        let mut reference = None;
        for (b, x) in xs.iter().enumerate() {
            reference = engine.step(x, b == 0, b == xs.len() - 1).outputs;
        }
        // The same vectors as one batch of "row blocks": each block its own
        // vector, accumulated into one set of sums.
        let mut sums = vec![fast::LaneSums::default()];
        for (b, x) in xs.iter().enumerate() {
            let one: &[Vec<i64>] = std::slice::from_ref(x);
            fast::accumulate(&c, &w, lanes, one, 0..x.len(), &mut sums, b == 0);
        }
        let got = fast::outputs(&c, &w, &sums[0]);
        prop_assert_eq!(&got[..], &reference.unwrap()[..lanes]);
        // The vectors as one batch, each a whole input on its own.
        let mut sums = vec![fast::LaneSums::default(); xs.len()];
        fast::accumulate(&c, &w, lanes, &xs[..], 0..c.rows as usize, &mut sums, true);
        for (x, s) in xs.iter().zip(&sums) {
            let alone = engine.step(x, true, true).outputs.unwrap();
            prop_assert_eq!(&fast::outputs(&c, &w, s)[..], &alone[..lanes]);
        }
    }
}
