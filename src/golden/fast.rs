//! The pool engine for batch work (`cimpool run`): the same arithmetic as
//! [`Engine`](super::Engine), organised for throughput. An input vector is
//! cut into bit-plane words once; each column result is popcounts of
//! plane AND cells (per phase only when the ADC is lossy, since with exact
//! read-out the phases add up to the whole column); only the lanes a layer
//! uses are computed; vectors run in parallel on every core. `Engine` stays
//! the reference: a property test requires identical outputs.

use super::{requantize, Bits, Weights};
use crate::config::{adc_read_out_at, default_adc_shift, Config};
use rayon::prelude::*;

/// Column arithmetic of one configuration at one ADC step.
pub struct FastMacro {
    rows: usize,
    words: usize,
    act_bits: u32,
    plane_weights: Vec<i64>,
    /// Per phase: (first word, last word + 1, mask per word of that range).
    phases: Vec<(usize, usize, Vec<u64>)>,
    /// ADC read-out of each column sum 0..=W; `None` for exact read-out.
    adc: Option<Vec<i64>>,
}

/// One input vector as the macros see it.
pub struct Planes {
    /// words[t * words + k]: bit plane t, word k.
    words: Vec<u64>,
    /// pops[t * phases + h]: N[t][h]; with exact read-out one count per plane.
    pops: Vec<i64>,
}

impl FastMacro {
    /// The arithmetic at run-time ADC step `adc_shift` (clamped like the RTL).
    pub fn new(c: &Config, adc_shift: u32) -> FastMacro {
        let (rows, w) = (c.rows as usize, c.wl_parallel as usize);
        let words = rows.div_ceil(64);
        let max_shift = default_adc_shift(c.wl_parallel, c.adc_bits);
        let exact = max_shift == 0;
        let phase_count = if exact { 1 } else { rows / w };
        let span = if exact { rows } else { w };
        let phases = (0..phase_count)
            .map(|h| {
                let (lo, hi) = (h * span, (h + 1) * span);
                let (first, last) = (lo / 64, hi.div_ceil(64));
                let masks = (first..last)
                    .map(|k| {
                        (0..64)
                            .filter(|b| (lo..hi).contains(&(k * 64 + b)))
                            .fold(0u64, |m, b| m | 1 << b)
                    })
                    .collect();
                (first, last, masks)
            })
            .collect();
        let sh = adc_shift.min(max_shift);
        let adc = (!exact).then(|| {
            (0..=c.wl_parallel as u64)
                .map(|s| adc_read_out_at(s, c.wl_parallel, c.adc_bits, c.adc_mode, sh) as i64)
                .collect()
        });
        let plane_weights = (0..c.act_bits)
            .map(|t| {
                if c.act_signed && t == c.act_bits - 1 {
                    -(1i64 << t)
                } else {
                    1i64 << t
                }
            })
            .collect();
        FastMacro {
            rows,
            words,
            act_bits: c.act_bits,
            plane_weights,
            phases,
            adc,
        }
    }

    /// Cuts an input vector (R elements) into bit-plane words and counts.
    pub fn planes(&self, x: &[i64]) -> Planes {
        debug_assert_eq!(x.len(), self.rows);
        let bx = self.act_bits as usize;
        let mask = (1i64 << self.act_bits) - 1;
        let mut words = vec![0u64; bx * self.words];
        for (d, &v) in x.iter().enumerate() {
            let v = v & mask;
            for t in 0..bx {
                if v >> t & 1 == 1 {
                    words[t * self.words + d / 64] |= 1 << (d % 64);
                }
            }
        }
        let mut pops = Vec::with_capacity(bx * self.phases.len());
        for t in 0..bx {
            let plane = &words[t * self.words..(t + 1) * self.words];
            for (first, last, masks) in &self.phases {
                let n: u32 = (*first..*last)
                    .zip(masks)
                    .map(|(k, m)| (plane[k] & m).count_ones())
                    .sum();
                pops.push(n as i64);
            }
        }
        Planes { words, pops }
    }

    /// Y of one column (docs/SPEC.md section 2).
    pub fn column(&self, x: &Planes, column: &Bits) -> i64 {
        if self.adc.is_none() {
            return self.exact_column(x, column);
        }
        let nh = self.phases.len();
        let mut y = 0i64;
        for (t, &wt) in self.plane_weights.iter().enumerate() {
            let plane = &x.words[t * self.words..(t + 1) * self.words];
            let mut sum = 0i64;
            for (h, (first, last, masks)) in self.phases.iter().enumerate() {
                let s = (*first..*last)
                    .zip(masks)
                    .map(|(k, m)| (plane[k] & column[k] & m).count_ones())
                    .sum::<u32>() as usize;
                let a = match &self.adc {
                    Some(table) => table[s],
                    None => s as i64,
                };
                sum += 2 * a - x.pops[t * nh + h];
            }
            y += wt * sum;
        }
        y
    }
}

impl FastMacro {
    /// Y with exact read-out: the phases add up to the whole column, and the
    /// bits past the last row are 0 in both operands, so no mask is needed.
    fn exact_column(&self, x: &Planes, column: &Bits) -> i64 {
        let mut y = 0i64;
        for (t, &wt) in self.plane_weights.iter().enumerate() {
            let plane = &x.words[t * self.words..(t + 1) * self.words];
            let s: u32 = plane
                .iter()
                .zip(column)
                .map(|(p, c)| (p & c).count_ones())
                .sum();
            y += wt * (2 * s as i64 - x.pops[t]);
        }
        y
    }
}

/// The lane sums of one input vector across its row blocks.
#[derive(Clone, Debug, Default)]
pub struct LaneSums {
    pub pool: Vec<i64>,
    pub error: Vec<i64>,
}

/// Adds one tile (row block) to the sums of every vector: the first `lanes`
/// lanes of `w`, `vectors[i]` (R elements) into `sums[i]`; `first` restarts
/// them. Vectors run in parallel.
pub fn accumulate(
    c: &Config,
    w: &Weights,
    lanes: usize,
    vectors: &[Vec<i64>],
    sums: &mut [LaneSums],
    first: bool,
) {
    let m = FastMacro::new(c, w.scales.adc_shift);
    vectors
        .par_iter()
        .zip(sums.par_iter_mut())
        .for_each(|(x, s)| {
            if s.pool.len() != lanes {
                s.pool = vec![0; lanes];
                s.error = vec![0; lanes];
            } else if first {
                s.pool.fill(0);
                s.error.fill(0);
            }
            let planes = m.planes(x);
            // Pool results, computed once for the lanes that read them.
            let mut pool_y = vec![i64::MIN; w.pool.len()];
            for l in 0..lanes {
                let k = w.index[l] as usize;
                if pool_y[k] == i64::MIN {
                    pool_y[k] = m.column(&planes, &w.pool[k]);
                }
                s.pool[l] += pool_y[k];
                if w.mask[l] {
                    s.error[l] += m.column(&planes, &w.error[l]);
                }
            }
        });
}

/// Requantized outputs of the first `lanes` lanes (docs/SPEC.md section 3).
pub fn outputs(c: &Config, w: &Weights, sums: &LaneSums) -> Vec<i64> {
    (0..sums.pool.len())
        .map(|l| {
            let v = w.scales.alpha as i128 * sums.pool[l] as i128
                + w.scales.beta as i128 * sums.error[l] as i128
                + w.bias[l] as i128;
            requantize(v, w.scales.shift, w.scales.relu, c.out_bits)
        })
        .collect()
}

/// Whether the fast path's 64-bit sums hold every value the configuration
/// can reach (otherwise use `Engine`).
pub fn fits(c: &Config) -> bool {
    crate::config::Derived::new(c).accumulator_bits <= 62
}
