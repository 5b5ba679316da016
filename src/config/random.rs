//! Random configurations over every key that shapes the RTL, many of them
//! invalid on purpose: the one strategy of the property tests
//! (`package::tests`) and of `make regress`, which keeps the legal ones.

use super::{AdcMode, Config, EngineKind, Sparsity};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// A configuration drawn from `rng`; it may not validate.
pub fn any_config(rng: &mut impl Rng) -> Config {
    let engine = *[EngineKind::Pool, EngineKind::Pool, EngineKind::Dense]
        .choose(rng)
        .expect("non-empty");
    let w_bits = *[1u32, 2, 2, 3, 4, 4, 8, 9].choose(rng).expect("non-empty");
    let cols_half = rng.gen_range(1u32..12);
    Config {
        engine,
        w_bits,
        sparsity: if engine == EngineKind::Dense {
            *[Sparsity::None, Sparsity::Skip, Sparsity::Compact]
                .choose(rng)
                .expect("non-empty")
        } else {
            Sparsity::None
        },
        slots: rng.gen_range(0u32..5),
        macros: rng.gen_range(1u32..5),
        rows: 2 * rng.gen_range(1u32..20),
        // Dense engines mostly get column counts their weights divide.
        cols: if engine == EngineKind::Dense && cols_half % 3 != 0 {
            cols_half * w_bits
        } else {
            2 * cols_half
        },
        pool: *[0u32, 2, 5].choose(rng).expect("non-empty"),
        wl_parallel: *[0u32, 1, 2, 7].choose(rng).expect("non-empty"),
        adc_bits: rng.gen_range(0u32..17),
        adc_mode: if rng.gen() {
            AdcMode::RoundClamp
        } else {
            AdcMode::FloorClamp
        },
        act_bits: rng.gen_range(1u32..17),
        act_signed: rng.gen(),
        out_bits: rng.gen_range(2u32..33),
        relu: rng.gen(),
        scale_bits: rng.gen_range(2u32..33),
        bias_bits: rng.gen_range(2u32..49),
        shift_bits: rng.gen_range(1u32..8),
        max_row_blocks: 1 << rng.gen_range(0u32..21),
        out_lanes: rng.gen_range(0u32..9),
        ..Config::default()
    }
}

/// The first legal configuration drawn from `seed`'s stream, resolved,
/// with the number of draws it took.
pub fn legal_config(seed: u64) -> (Config, usize) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    for draws in 1.. {
        let c = any_config(&mut rng).resolved();
        if c.validate().is_ok() {
            return (c, draws);
        }
    }
    unreachable!("the draws are endless")
}
#[cfg(test)]
mod tests {
    use super::*;

    /// Seed 48's stream once drew a dense configuration with more word
    /// lines per phase than rows, whose validation recursed until the stack
    /// overflowed (found by `make regress`); every draw now validates or is
    /// refused, and the first legal one is found.
    #[test]
    fn every_draw_validates_or_is_refused() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(48);
        for _ in 0..2000 {
            let c = any_config(&mut rng);
            if let Err(e) = c.validate() {
                assert!(e.to_string().starts_with("config field `"), "{e}");
            }
        }
        let (c, draws) = legal_config(48);
        assert!(c.validate().is_ok() && draws >= 1);
    }
}
