//! Shrinking a failing configuration (`cimpool sweep shrink`): one-step
//! simplifications are tried in turn (fewer macros, rows, columns and
//! planes, a smaller pool, no pipeline stages, keys back at their
//! defaults) and each one that still fails is kept, until none does. What
//! remains is a configuration where every simplification passes: the
//! smallest place to look for the bug.

use crate::config::{Config, Crossbar, Sparsity, Storage};

/// The valid configurations one simplification away from `c`, the
/// largest reductions first.
pub fn candidates(c: &Config) -> Vec<Config> {
    let d = Config::default();
    let mut out: Vec<Config> = Vec::new();
    let mut push = |f: &dyn Fn(&mut Config)| {
        let mut n = c.clone();
        f(&mut n);
        out.push(n);
    };
    let halves = |v: u32, min: u32| -> Vec<u32> {
        [min, v / 2, v.saturating_sub(1)]
            .into_iter()
            .filter(|&x| x >= min && x < v)
            .collect()
    };
    for m in halves(c.macros, 1) {
        push(&|n| n.macros = m);
    }
    for r in halves(c.rows, 2).into_iter().filter(|r| r % 2 == 0) {
        push(&|n| {
            n.rows = r;
            if r % n.wl_parallel != 0 || n.wl_parallel > r {
                n.wl_parallel = r;
            }
            n.slots = n.slots.min(r / n.wl_parallel);
        });
    }
    for k in halves(c.cols, 2) {
        push(&|n| {
            n.cols = k;
            if !n.is_dense() && (n.pool > k || k % n.pool != 0) {
                n.pool = k;
                fit_crossbar(n);
            }
        });
    }
    if !c.is_dense() {
        for p in halves(c.pool, 2) {
            push(&|n| {
                n.pool = p;
                fit_crossbar(n);
            });
        }
    }
    for a in halves(c.act_bits, 1) {
        push(&|n| n.act_bits = a);
    }
    if c.wl_parallel != c.rows {
        push(&|n| n.wl_parallel = n.rows);
    }
    if c.crossbar == Crossbar::Benes {
        push(&|n| n.crossbar = Crossbar::Mux);
    }
    for (now, set) in [
        (
            c.crossbar_pipeline,
            (|n: &mut Config| n.crossbar_pipeline = 0) as fn(&mut Config),
        ),
        (c.crossbar_units, |n| n.crossbar_units = 0),
        (c.output_pipeline, |n| n.output_pipeline = 0),
        (c.adc_bits, |n| n.adc_bits = 0),
        (c.out_lanes, |n| n.out_lanes = 0),
        (c.slots, |n| n.slots = 0),
    ] {
        if now != 0 {
            push(&set);
        }
    }
    if c.output_pipeline > 1 {
        push(&|n| n.output_pipeline -= 1);
    }
    if c.crossbar_pipeline > 1 {
        push(&|n| n.crossbar_pipeline -= 1);
    }
    if c.sparsity != Sparsity::None {
        push(&|n| n.sparsity = Sparsity::None);
    }
    if c.storage != Storage::Flops {
        push(&|n| n.storage = Storage::Flops);
    }
    if !c.prefix.is_empty() {
        push(&|n| n.prefix.clear());
    }
    if c.act_signed {
        push(&|n| n.act_signed = false);
    }
    if c.popcount_at_load {
        push(&|n| n.popcount_at_load = false);
    }
    if c.adc_mode != d.adc_mode {
        push(&|n| n.adc_mode = d.adc_mode);
    }
    if c.relu != d.relu {
        push(&|n| n.relu = d.relu);
    }
    // Field widths go back to their defaults.
    for (now, default, set) in [
        (
            c.out_bits,
            d.out_bits,
            (|n: &mut Config, v| n.out_bits = v) as fn(&mut Config, u32),
        ),
        (c.scale_bits, d.scale_bits, |n, v| n.scale_bits = v),
        (c.bias_bits, d.bias_bits, |n, v| n.bias_bits = v),
        (c.shift_bits, d.shift_bits, |n, v| n.shift_bits = v),
        (c.max_row_blocks, d.max_row_blocks, |n, v| {
            n.max_row_blocks = v
        }),
        (c.w_bits, 2, |n, v| n.w_bits = v),
    ] {
        if now != default {
            push(&|n| set(n, default));
        }
    }
    out.into_iter()
        .map(|n| n.resolved())
        .filter(|n| n != c && n.validate().is_ok())
        .collect()
}

/// A smaller pool keeps the crossbar's pipeline stages it still has levels
/// for, so the reduction stays valid.
fn fit_crossbar(n: &mut Config) {
    let levels = crate::config::crossbar_levels(n.crossbar, n.pool);
    n.crossbar_pipeline = n.crossbar_pipeline.min(levels);
}

/// The outcome of a shrink.
#[derive(Clone, Debug)]
pub struct Shrunk {
    pub config: Config,
    /// Configurations tried, and simplifications kept.
    pub tries: usize,
    pub kept: usize,
}

/// Shrinks `start`, which `fails`, to a configuration where every
/// candidate passes, trying at most `max_tries` configurations.
/// `on_try(config, failed)` sees each try (for progress).
pub fn shrink(
    start: &Config,
    max_tries: usize,
    mut fails: impl FnMut(&Config) -> bool,
    mut on_try: impl FnMut(&Config, bool),
) -> Shrunk {
    let mut current = start.clone();
    let (mut tries, mut kept) = (0, 0);
    'outer: while tries < max_tries {
        for candidate in candidates(&current) {
            if tries == max_tries {
                break 'outer;
            }
            tries += 1;
            let failed = fails(&candidate);
            on_try(&candidate, failed);
            if failed {
                current = candidate;
                kept += 1;
                continue 'outer;
            }
        }
        break;
    }
    Shrunk {
        config: current,
        tries,
        kept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bug that needs two macros, a Benes crossbar and a pipeline stage
    /// shrinks to exactly that: everything else at its smallest or default.
    #[test]
    fn shrinks_to_the_keys_the_failure_needs() {
        let start = Config::from_toml(
            "macros = 4\nrows = 32\ncols = 32\npool = 16\ncrossbar = 'benes'\ncrossbar_pipeline = 3\n\
             output_pipeline = 2\nact_bits = 7\nadc_bits = 3\nprefix = 'x_'\nbias_bits = 40",
        )
        .unwrap()
        .resolved();
        let fails =
            |c: &Config| c.macros >= 2 && c.crossbar == Crossbar::Benes && c.crossbar_pipeline >= 1;
        assert!(fails(&start));
        let mut seen = 0;
        let s = shrink(&start, 500, fails, |c, _| {
            seen += 1;
            assert!(c.validate().is_ok());
        });
        let c = &s.config;
        assert!(fails(c) && s.tries == seen && s.kept > 5);
        assert_eq!((c.macros, c.crossbar_pipeline, c.act_bits), (2, 1, 1));
        assert_eq!((c.rows, c.cols, c.pool), (2, 2, 2));
        assert_eq!((c.output_pipeline, c.adc_bits, c.bias_bits), (0, 0, 32));
        assert!(c.prefix.is_empty());
        // Every candidate of the result passes: it is minimal.
        assert!(candidates(c).iter().all(|n| !fails(n)));
    }

    /// The try budget is honoured, and a passing start stays as it is.
    #[test]
    fn stops_at_the_try_budget() {
        let (start, _) = crate::config::random::legal_config(4);
        let s = shrink(&start, 3, |_| true, |_, _| {});
        assert_eq!(s.tries, 3);
        let s = shrink(&start, 50, |_| false, |_, _| {});
        assert_eq!((s.kept, &s.config), (0, &start));
    }
}
