//! Random configurations over every key that shapes the RTL, many of them
//! invalid on purpose: the one strategy of the property tests
//! (`package::tests`) and of `make regress`, which keeps the legal ones
//! within a size budget.

use super::{crossbar_levels, AdcMode, Config, Crossbar, EngineKind, Sparsity, Storage};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// Most flop memory bits a drawn configuration holds (its macros and the
/// pool macro): a 128x128 macro, so Yosys synthesis and a co-simulation
/// of one regression point stay within a few minutes on 2 cores.
pub const MAX_STORAGE_BITS: u64 = 128 * 128;
/// Most lanes (macros x cols / w_bits) drawn: 4 black-box macros of 128
/// columns. Lanes size the accumulators, the crossbars and the output path.
pub const MAX_DRAWN_LANES: u32 = 512;
/// Most crossbar mux inputs (lanes x pool, mux crossbar) drawn: a pool of
/// 128 over 128 lanes.
pub const MAX_CROSSBAR_INPUTS: u64 = 128 * 128;

/// Prefixes drawn: legal ones, and one that is not a Verilog identifier.
const PREFIXES: &[&str] = &["soc_a_", "_x", "cim2_", "9bad_"];

fn pick<T: Copy>(rng: &mut impl Rng, from: &[T]) -> T {
    *from.choose(rng).expect("non-empty")
}

/// A size drawn mostly small (2-38, the range where one vector takes tens
/// of cycles), sometimes at the paper's scale (64-128), and from
/// `factor`'s multiples so dense columns hold whole weights.
fn size(rng: &mut impl Rng, factor: u32) -> u32 {
    let units = if rng.gen_bool(0.2) {
        pick(rng, &[64u32, 96, 128]) / factor.max(1)
    } else {
        rng.gen_range(1u32..20)
    };
    units.max(1) * factor
}

/// A divisor of `n` (or, rarely, a number that is not one: the draw
/// tests refusals too). Powers of two are favoured so a Benes crossbar is
/// often legal.
fn pool_of(rng: &mut impl Rng, n: u32) -> u32 {
    let divisors: Vec<u32> = (2..=n).filter(|d| n % d == 0).collect();
    let powers: Vec<u32> = divisors
        .iter()
        .copied()
        .filter(|d| d.is_power_of_two())
        .collect();
    match rng.gen_range(0..10) {
        0 => 0,
        1 => rng.gen_range(2..=n.max(2) + 1),
        2..=5 if !powers.is_empty() => pick(rng, &powers),
        _ if !divisors.is_empty() => pick(rng, &divisors),
        _ => 2,
    }
}

/// A configuration drawn from `rng`; it may not validate.
pub fn any_config(rng: &mut impl Rng) -> Config {
    let engine = pick(
        rng,
        &[EngineKind::Pool, EngineKind::Pool, EngineKind::Dense],
    );
    let dense = engine == EngineKind::Dense;
    let w_bits = pick(rng, &[1u32, 2, 2, 3, 4, 4, 5, 8, 9]);
    // Dense engines mostly get column counts their weights divide.
    let cols = if dense && rng.gen_bool(0.9) {
        size(rng, w_bits)
    } else {
        size(rng, 2)
    };
    let rows = size(rng, 2);
    let pool = if dense { 0 } else { pool_of(rng, cols) };
    // Benes on the pool engine often; on the dense engine rarely (refused:
    // it has no crossbar).
    let benes = rng.gen_bool(if dense { 0.02 } else { 0.4 });
    let crossbar = if benes {
        Crossbar::Benes
    } else {
        Crossbar::Mux
    };
    let levels = crossbar_levels(crossbar, if pool == 0 { cols } else { pool });
    let wl_parallel = match rng.gen_range(0..6) {
        0 => 0,
        1 => 1,
        2 => 2,
        3 => 7,
        _ => pick(
            rng,
            &(1..=rows).filter(|w| rows % w == 0).collect::<Vec<_>>(),
        ),
    };
    let phases = rows
        / if wl_parallel == 0 {
            rows
        } else {
            wl_parallel.min(rows)
        };
    let sparsity = if dense {
        pick(rng, &[Sparsity::None, Sparsity::Skip, Sparsity::Compact])
    } else {
        Sparsity::None
    };
    Config {
        engine,
        w_bits,
        sparsity,
        // Compact storage holds 1..=phases slots (0 = all of them);
        // sometimes one too many.
        slots: rng.gen_range(0..=phases.max(1) + 1),
        macros: if rng.gen_bool(0.1) {
            rng.gen_range(5u32..9)
        } else {
            rng.gen_range(1u32..5)
        },
        rows,
        cols,
        pool,
        wl_parallel,
        crossbar,
        crossbar_pipeline: if rng.gen_bool(0.6) {
            0
        } else {
            rng.gen_range(1..=levels + 1)
        },
        crossbar_units: if rng.gen_bool(0.6) {
            0
        } else {
            rng.gen_range(1u32..9)
        },
        output_pipeline: if rng.gen_bool(0.5) {
            0
        } else {
            rng.gen_range(1u32..7)
        },
        storage: if rng.gen_bool(0.2) {
            Storage::Blackbox
        } else {
            Storage::Flops
        },
        prefix: if rng.gen_bool(0.25) {
            pick(rng, PREFIXES).to_string()
        } else {
            String::new()
        },
        adc_bits: rng.gen_range(0u32..17),
        adc_mode: pick(
            rng,
            &[
                AdcMode::FloorClamp,
                AdcMode::RoundClamp,
                AdcMode::RoundEvenClamp,
            ],
        ),
        act_bits: rng.gen_range(1u32..17),
        act_signed: rng.gen(),
        out_bits: rng.gen_range(2u32..33),
        relu: rng.gen(),
        scale_bits: rng.gen_range(2u32..33),
        bias_bits: rng.gen_range(2u32..49),
        shift_bits: rng.gen_range(1u32..8),
        max_row_blocks: 1 << rng.gen_range(0u32..21),
        out_lanes: if rng.gen_bool(0.5) {
            0
        } else {
            rng.gen_range(1u32..33)
        },
        // Now and then on the dense engine too, where it is refused.
        popcount_at_load: rng.gen_bool(if dense { 0.02 } else { 0.4 }),
        ..Config::default()
    }
}

/// Whether a resolved, valid configuration fits the regression's size
/// budget (`MAX_STORAGE_BITS`, `MAX_DRAWN_LANES`, `MAX_CROSSBAR_INPUTS`).
pub fn within_budget(c: &Config) -> bool {
    let lanes = if c.is_dense() {
        c.macros * c.cols / c.w_bits
    } else {
        c.macros * c.cols
    };
    let storage = if c.storage == Storage::Flops {
        let pool_macro = if c.is_dense() { 0 } else { c.rows * c.pool };
        u64::from(c.macros * c.rows * c.cols + pool_macro)
    } else {
        0
    };
    let crossbar = match (c.is_dense(), c.crossbar) {
        (true, _) | (false, Crossbar::Benes) => 0,
        (false, Crossbar::Mux) => u64::from(lanes) * u64::from(c.pool),
    };
    storage <= MAX_STORAGE_BITS && lanes <= MAX_DRAWN_LANES && crossbar <= MAX_CROSSBAR_INPUTS
}

/// The first legal configuration within the size budget drawn from
/// `seed`'s stream, resolved, with the number of draws it took.
pub fn legal_config(seed: u64) -> (Config, usize) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    for draws in 1.. {
        let c = any_config(&mut rng).resolved();
        if c.validate().is_ok() && within_budget(&c) {
            return (c, draws);
        }
    }
    unreachable!("the draws are endless")
}

/// The keys the draw varies (every key that shapes the RTL), in the order
/// the table of `draw_table` lists them.
pub const DRAWN_KEYS: &[&str] = &[
    "engine",
    "macros",
    "rows",
    "cols",
    "pool",
    "wl_parallel",
    "crossbar",
    "crossbar_units",
    "crossbar_pipeline",
    "output_pipeline",
    "popcount_at_load",
    "storage",
    "prefix",
    "sparsity",
    "slots",
    "w_bits",
    "adc_bits",
    "adc_mode",
    "act_bits",
    "act_signed",
    "relu",
    "out_lanes",
    "out_bits",
];

/// What a set of drawn configurations holds, key by key, as a Markdown
/// table: each value with how many configurations have it, or (beyond 8
/// distinct values) the range and the number of distinct values.
pub fn draw_table(configs: &[Config]) -> String {
    use std::collections::BTreeMap;
    let tables: Vec<toml::Table> = configs
        .iter()
        .map(|c| toml::from_str(&c.to_toml()).expect("a configuration's TOML parses"))
        .collect();
    let mut out = format!(
        "| key | values drawn in {} configurations (count) |\n|---|---|\n",
        configs.len()
    );
    for key in DRAWN_KEYS {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        let mut numbers: Vec<i64> = Vec::new();
        for t in &tables {
            let v = t
                .get(*key)
                .cloned()
                .unwrap_or(toml::Value::String("-".into()));
            if let toml::Value::Integer(i) = v {
                numbers.push(i);
            }
            let text = match v {
                toml::Value::String(s) if s.is_empty() => "\"\"".to_string(),
                toml::Value::String(s) => s,
                other => other.to_string(),
            };
            *counts.entry(text).or_default() += 1;
        }
        let cell = if counts.len() > 8 && numbers.len() == tables.len() {
            let (lo, hi) = (numbers.iter().min(), numbers.iter().max());
            format!(
                "{}-{} ({} distinct)",
                lo.copied().unwrap_or(0),
                hi.copied().unwrap_or(0),
                counts.len()
            )
        } else {
            let mut pairs: Vec<(String, usize)> = counts.into_iter().collect();
            // Numbers in numeric order, words in alphabetical order.
            pairs.sort_by_key(|(v, _)| (v.parse::<i64>().unwrap_or(i64::MAX), v.clone()));
            pairs
                .iter()
                .map(|(v, n)| format!("{v} ({n})"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.push_str(&format!("| {key} | {cell} |\n"));
    }
    out.push_str(
        "\nKeys one engine ignores (pool and crossbar keys on the dense engine; \
         sparsity, slots, w_bits on the pool engine) count every configuration's \
         resolved value.\n",
    );
    out
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
        for seed in [48, 1, 1001] {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            for _ in 0..2000 {
                let c = any_config(&mut rng);
                if let Err(e) = c.validate() {
                    assert!(e.to_string().starts_with("config field `"), "{e}");
                }
            }
        }
        let (c, draws) = legal_config(48);
        assert!(c.validate().is_ok() && draws >= 1);
    }

    /// The legal draws of the regression's seeds reach every value of
    /// every key that shapes the RTL (docs/VERIFICATION.md section 9 says
    /// so), sizes at the paper's scale included, and stay in the budget.
    /// The regression's table of what it drew: every drawn key, read from
    /// the configuration's own TOML (a renamed key would show as "-").
    #[test]
    fn draw_table_lists_every_drawn_key() {
        let configs: Vec<Config> = (1..=50).map(|s| legal_config(s).0).collect();
        let t = draw_table(&configs);
        for key in DRAWN_KEYS {
            assert!(t.contains(&format!("| {key} | ")), "{key} missing:\n{t}");
        }
        assert!(!t.contains(" - ("), "a key absent from the TOML:\n{t}");
        assert!(t.contains("in 50 configurations"), "{t}");
        assert!(t.contains("benes (") && t.contains("blackbox ("), "{t}");
    }

    #[test]
    fn legal_draws_cover_every_key() {
        let configs: Vec<Config> = (1..=200).map(|s| legal_config(s).0).collect();
        let count = |f: &dyn Fn(&Config) -> bool| configs.iter().filter(|c| f(c)).count();
        let pool = |c: &Config| !c.is_dense();
        let lossy = |c: &Config| {
            crate::config::default_adc_shift(c.clone().resolved().wl_parallel, c.adc_bits) > 0
        };
        let reached: [(&str, usize); 22] = [
            ("dense", count(&|c| c.is_dense())),
            ("pool", count(&pool)),
            ("benes", count(&|c| c.crossbar == Crossbar::Benes)),
            ("mux", count(&|c| pool(c) && c.crossbar == Crossbar::Mux)),
            (
                "crossbar_pipeline",
                count(&|c| pool(c) && c.crossbar_pipeline > 0),
            ),
            (
                "benes pipelined",
                count(&|c| c.crossbar == Crossbar::Benes && c.crossbar_pipeline > 1),
            ),
            (
                "crossbar_units",
                count(&|c| pool(c) && c.crossbar_units > 0),
            ),
            ("output_pipeline 4", count(&|c| c.output_pipeline == 4)),
            ("output_pipeline 5", count(&|c| c.output_pipeline == 5)),
            ("popcount_at_load", count(&|c| c.popcount_at_load)),
            ("blackbox", count(&|c| c.storage == Storage::Blackbox)),
            ("prefix", count(&|c| !c.prefix.is_empty())),
            ("skip", count(&|c| c.sparsity == Sparsity::Skip)),
            ("compact", count(&|c| c.sparsity == Sparsity::Compact)),
            ("w_bits 8", count(&|c| c.is_dense() && c.w_bits == 8)),
            ("rows >= 64", count(&|c| c.rows >= 64)),
            ("cols >= 64", count(&|c| c.cols >= 64)),
            ("pool >= 32", count(&|c| pool(c) && c.pool >= 32)),
            ("lossy ADC", count(&|c| c.adc_bits > 0)),
            (
                "lossy floor_clamp",
                count(&|c| lossy(c) && c.adc_mode == AdcMode::FloorClamp),
            ),
            (
                "lossy round_clamp",
                count(&|c| lossy(c) && c.adc_mode == AdcMode::RoundClamp),
            ),
            (
                "lossy round_even_clamp",
                count(&|c| lossy(c) && c.adc_mode == AdcMode::RoundEvenClamp),
            ),
        ];
        let missing: Vec<_> = reached.iter().filter(|(_, n)| *n == 0).collect();
        assert!(
            missing.is_empty(),
            "never drawn legal in 200 seeds: {missing:?} of {reached:?}"
        );
        assert!(configs.iter().all(within_budget));
    }
}
