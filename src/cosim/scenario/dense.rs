//! Stimulus for the dense engine (docs/SPEC.md section 6): random
//! `w_bits`-bit weight columns, phase valid bits or slot codes that change
//! between tiles (each change changes the cycle count), and tiles that
//! drive the lane accumulators to the ends of their range.

use super::{activation_range, Builder, Command, Scenario};
use crate::config::{Config, Derived, Sparsity};
use crate::golden::{bits_from_fn, Bits, Scales, Weights};
use crate::loadport::LoadPort;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

impl Builder<'_> {
    fn weight_cells(&mut self) -> Bits {
        let rows = Derived::new(self.c).macro_rows;
        let density: f64 = self.rng.gen_range(0.2..0.8);
        let rng = &mut self.rng;
        bits_from_fn(rows, |_| rng.gen_bool(density))
    }

    /// Valid bits: usually a random subset, sometimes all or none (a tile
    /// of zeros still takes one step per plane).
    fn phase_valid(&mut self) -> Vec<bool> {
        let phases = Derived::new(self.c).phases as usize;
        match self.rng.gen_range(0..10) {
            0 => vec![true; phases],
            1 => vec![false; phases],
            _ => (0..phases).map(|_| self.rng.gen_bool(0.6)).collect(),
        }
    }

    /// Slot codes: distinct phase blocks in random order, some slots empty.
    fn slot_codes(&mut self) -> Vec<u32> {
        let phases = Derived::new(self.c).phases;
        let mut blocks: Vec<u32> = (0..phases).collect();
        blocks.shuffle(&mut self.rng);
        (0..self.c.slots as usize)
            .map(|k| {
                if self.rng.gen_bool(0.25) {
                    phases
                } else {
                    blocks[k]
                }
            })
            .collect()
    }

    fn dense_weights(&mut self) -> Weights {
        let c = self.c;
        let smax = (1i64 << (c.scale_bits - 1)) - 1;
        let small = 8.min(smax);
        let bmax = (1i64 << (c.bias_bits - 1)) - 1;
        let bias_span = 4096.min(bmax);
        let columns = (c.macros * c.cols) as usize;
        let mut w = LoadPort::new(c).empty_weights();
        w.error = (0..columns).map(|_| self.weight_cells()).collect();
        w.bias = (0..c.lanes())
            .map(|_| self.rng.gen_range(-bias_span..=bias_span))
            .collect();
        w.scales = Scales {
            alpha: self.rng.gen_range(-small..=small),
            beta: 0,
            shift: 0,
            relu: self.rng.gen_bool(0.5),
            adc_shift: self.adc_shift(),
        };
        self.sparsity_memory(&mut w);
        w
    }

    /// New valid bits or slot codes in `w`, and the load that writes them.
    fn sparsity_memory(&mut self, w: &mut Weights) -> Option<Command> {
        match self.c.sparsity {
            Sparsity::None => None,
            Sparsity::Skip => {
                w.phase_valid = self.phase_valid();
                Some(Command::Load(self.port.phase_valid(&w.phase_valid)))
            }
            Sparsity::Compact => {
                w.slot_codes = self.slot_codes();
                let load = self.port.slot_codes(&w.slot_codes).expect("codes in range");
                Some(Command::Load(load))
            }
        }
    }
}

/// The dense engine's `random_scenario`: the same three parts (single-block
/// outputs back to back, multi-block accumulation, partial reloads), where
/// a reload may also change the tile's sparsity memory.
pub(super) fn dense_scenario(c: &Config, seed: u64, vectors: usize) -> Scenario {
    let mut b = Builder {
        c,
        port: LoadPort::new(c),
        rng: ChaCha8Rng::seed_from_u64(seed),
        commands: vec![],
    };
    let mut w = b.dense_weights();
    let mut count = b.opening(&mut w, vectors);
    let max_blocks = c.max_row_blocks.min(4);
    let columns = c.macros * c.cols;
    while count < vectors {
        if count >= vectors * 4 / 5 || b.rng.gen_bool(0.3) {
            for _ in 0..b.rng.gen_range(1..=4) {
                let col = b.rng.gen_range(0..columns);
                let cells = b.weight_cells();
                b.commands
                    .push(Command::Load(b.port.weight_column(col, &cells)));
                let lane = b.rng.gen_range(0..c.lanes());
                let bias = b.reload_bias();
                let load = b.port.dense_lane(lane, bias).expect("bias in range");
                b.commands.push(Command::Load(load));
            }
            if let Some(load) = b.sparsity_memory(&mut w) {
                b.commands.push(load);
            }
            if b.rng.gen_bool(0.2) {
                b.reload_scales(&w.scales, |s| Scales {
                    alpha: -s.alpha,
                    ..s
                });
            }
        }
        let k = b.rng.gen_range(1..=max_blocks);
        b.tile(k, None);
        count += k as usize;
    }
    extreme_dense_tiles(&mut b);
    Scenario {
        commands: b.commands,
    }
}

/// Every weight at an end of its range (-2^(WB-1), the MSB alone, or
/// 2^(WB-1) - 1, every other bit), full-scale inputs, `max_row_blocks`
/// blocks, extreme alpha and a shift that keeps the result below
/// saturation, so a too-narrow lane value, accumulator or product shows.
fn extreme_dense_tiles(b: &mut Builder<'_>) {
    let c = b.c;
    let (lo, hi) = activation_range(c);
    let smax = (1i64 << (c.scale_bits - 1)) - 1;
    let d = Derived::new(c);
    let blocks = c.max_row_blocks.min(64);
    for (msb_only, x, alpha) in [
        (true, hi, smax),
        (false, hi, -smax - 1),
        (true, lo, -smax - 1),
    ] {
        let mut w = LoadPort::new(c).empty_weights();
        let top = c.w_bits - 1;
        w.error = (0..c.macros * c.cols)
            .map(|col| {
                let bit_is_msb = col % c.cols % c.w_bits == top;
                bits_from_fn(d.macro_rows, |_| bit_is_msb == msb_only)
            })
            .collect();
        w.scales = Scales {
            alpha,
            beta: 0,
            shift: 0,
            relu: false,
            adc_shift: d.adc_shift,
        };
        w.phase_valid = vec![true; w.phase_valid.len()];
        w.slot_codes = (0..w.slot_codes.len() as u32).collect();
        let weight = 1u128 << top;
        let product = alpha.unsigned_abs() as u128
            * blocks as u128
            * c.rows as u128
            * x.unsigned_abs() as u128
            * weight;
        let bits = 128 - product.max(1).leading_zeros();
        w.scales.shift = bits
            .saturating_sub(c.out_bits - 1)
            .min((1 << c.shift_bits) - 1);
        b.load_all(&w);
        for k in 0..blocks {
            b.commands.push(Command::Input {
                x: vec![x; c.rows as usize],
                first: k == 0,
                last: k == blocks - 1,
            });
        }
    }
}
