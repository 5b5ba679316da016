//! Bit-exact golden model of docs/SPEC.md sections 2-3, independent of the IR and the
//! generators: it reads only the resolved configuration and the memory
//! contents. Exact integer arithmetic (i64 / i128) throughout, so a width the
//! RTL derived too small shows up as a co-simulation mismatch.

pub mod fast;
pub mod timing;

use crate::config::{adc_read_out_at, default_adc_shift, Config, Sparsity};

/// A column of cells (or any R-bit vector): bit d is row d, packed in u64s.
pub type Bits = Vec<u64>;

pub fn bits_from_fn(len: u32, mut f: impl FnMut(u32) -> bool) -> Bits {
    let mut words = vec![0u64; len.div_ceil(64) as usize];
    for d in 0..len {
        if f(d) {
            words[(d / 64) as usize] |= 1 << (d % 64);
        }
    }
    words
}

pub fn bit(bits: &Bits, d: u32) -> bool {
    bits[(d / 64) as usize] >> (d % 64) & 1 == 1
}

/// Everything the load port writes: the memory contents of one engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Weights {
    /// P pool vectors (pool macro columns).
    pub pool: Vec<Bits>,
    /// L error columns, lane = macro * cols + column.
    pub error: Vec<Bits>,
    /// Pool index of each lane.
    pub index: Vec<u32>,
    /// Error mask bit of each lane (false = pruned).
    pub mask: Vec<bool>,
    pub bias: Vec<i64>,
    pub scales: Scales,
    /// Dense engine, `sparsity = "skip"`: whether each phase of the tile is
    /// computed (all true otherwise; empty for the pool engine).
    pub phase_valid: Vec<bool>,
    /// Dense engine, `sparsity = "compact"`: the input phase block each
    /// slot multiplies, `phases` meaning empty (empty otherwise).
    pub slot_codes: Vec<u32>,
}

/// One block of word lines a vector issues: the phase block of the input
/// vector it drives and the physical block of the macro it drives it on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IssuedBlock {
    pub input: u32,
    pub physical: u32,
}

/// The blocks each bit plane of a vector computes (docs/SPEC.md section
/// 6): every phase; the valid phases (`skip`); the used slots (`compact`).
/// The controller spends max(1, len) issue steps per plane: with nothing
/// to compute it issues one step with no word line driven.
pub fn issued_blocks(c: &Config, w: &Weights) -> Vec<IssuedBlock> {
    let phases = c.rows / c.wl_parallel;
    match (c.is_dense(), c.sparsity) {
        (true, Sparsity::Skip) => (0..phases)
            .filter(|&h| w.phase_valid[h as usize])
            .map(|h| IssuedBlock {
                input: h,
                physical: h,
            })
            .collect(),
        (true, Sparsity::Compact) => (0..c.slots)
            .filter(|&k| w.slot_codes[k as usize] < phases)
            .map(|k| IssuedBlock {
                input: w.slot_codes[k as usize],
                physical: k,
            })
            .collect(),
        _ => (0..phases)
            .map(|h| IssuedBlock {
                input: h,
                physical: h,
            })
            .collect(),
    }
}

/// Issue steps per bit plane (see `issued_blocks`).
pub fn issue_steps_per_plane(c: &Config, w: &Weights) -> u32 {
    (issued_blocks(c, w).len() as u32).max(1)
}

/// The lane of the dense engine's column `column` (= macro * cols + c) and
/// the weight bit it holds (docs/SPEC.md section 6).
pub fn dense_lane_of_column(c: &Config, column: u32) -> (u32, u32) {
    let (m, col) = (column / c.cols, column % c.cols);
    (m * (c.cols / c.w_bits) + col / c.w_bits, col % c.w_bits)
}

/// Weight of bit j of a `w_bits` two's-complement weight.
pub fn weight_bit_value(w_bits: u32, j: u32) -> i64 {
    if j == w_bits - 1 {
        -(1i64 << j)
    } else {
        1i64 << j
    }
}

/// The per-layer scale word: the output scaling of docs/SPEC.md section 3
/// and the run-time fields of section 7.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scales {
    pub alpha: i64,
    pub beta: i64,
    pub shift: u32,
    /// ReLU and unsigned outputs (two's complement without).
    pub relu: bool,
    /// The ADC's step is 2^adc_shift (lossy ADC only; 0 otherwise).
    pub adc_shift: u32,
}

impl Scales {
    /// Zero scales with the configuration's defaults for the run-time
    /// fields (`relu`, the generation-time ADC step).
    pub fn defaults(c: &Config) -> Scales {
        Scales {
            relu: c.relu,
            adc_shift: default_adc_shift(c.wl_parallel, c.adc_bits),
            ..Scales::default()
        }
    }

    /// The values of the scale word's fields, named as in the load-port
    /// layout (`config::layout`).
    pub fn fields(&self) -> Vec<(&'static str, i128)> {
        vec![
            ("alpha", self.alpha as i128),
            ("beta", self.beta as i128),
            ("shift", self.shift as i128),
            ("relu", self.relu as i128),
            ("adc_shift", self.adc_shift as i128),
        ]
    }

    /// The scales from the decoded fields of a scale word.
    pub fn from_fields(field: impl Fn(&str) -> i128) -> Scales {
        Scales {
            alpha: field("alpha") as i64,
            beta: field("beta") as i64,
            shift: field("shift") as u32,
            relu: field("relu") == 1,
            adc_shift: field("adc_shift") as u32,
        }
    }
}

/// Per column, per plane t and phase h: what SPEC section 2 names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnDetail {
    /// S[t][h], the column sums.
    pub sums: Vec<Vec<u32>>,
    /// A[t][h], the ADC read-outs.
    pub read_outs: Vec<Vec<u32>>,
    /// N[t][h], the input popcounts.
    pub pops: Vec<Vec<u32>>,
    /// T[t], the plane results.
    pub planes: Vec<i64>,
    /// Y, the column result.
    pub y: i64,
}

/// One input vector cut into what the macros see: per plane and phase, the
/// driven word lines packed in words, and their popcount.
pub struct DrivenPlanes {
    /// words[t][h]: the bits of plane t restricted to the rows of phase h.
    words: Vec<Vec<Bits>>,
    pops: Vec<Vec<u32>>,
}

/// The SPEC section 2 semantics for one configuration.
pub struct MacroModel {
    rows: u32,
    w: u32,
    phases: u32,
    act_bits: u32,
    act_signed: bool,
    adc_bits: u32,
    adc_mode: crate::config::AdcMode,
    /// The ADC's current step 2^adc_shift, and the largest it may be.
    adc_shift: u32,
    adc_shift_max: u32,
    /// Rows of each phase, as bit masks (computed once).
    phase_masks: Vec<Bits>,
}

impl MacroModel {
    pub fn new(c: &Config) -> MacroModel {
        MacroModel {
            rows: c.rows,
            w: c.wl_parallel,
            phases: c.rows / c.wl_parallel,
            act_bits: c.act_bits,
            act_signed: c.act_signed,
            adc_bits: c.adc_bits,
            adc_mode: c.adc_mode,
            adc_shift: default_adc_shift(c.wl_parallel, c.adc_bits),
            adc_shift_max: default_adc_shift(c.wl_parallel, c.adc_bits),
            phase_masks: (0..c.rows / c.wl_parallel)
                .map(|h| {
                    let (lo, hi) = (h * c.wl_parallel, (h + 1) * c.wl_parallel);
                    bits_from_fn(c.rows, |d| d >= lo && d < hi)
                })
                .collect(),
        }
    }

    /// Plane weight w_t (negative for the MSB plane of signed activations).
    pub fn plane_weight(&self, t: u32) -> i64 {
        if self.act_signed && t == self.act_bits - 1 {
            -(1i64 << t)
        } else {
            1i64 << t
        }
    }

    /// Cuts an input vector (R elements, each in the activation range) into
    /// driven bit planes.
    pub fn drive(&self, x: &[i64]) -> DrivenPlanes {
        assert_eq!(x.len(), self.rows as usize, "input vector length");
        let mask = (1i64 << self.act_bits) - 1;
        let mut words = Vec::new();
        let mut pops = Vec::new();
        for t in 0..self.act_bits {
            let plane = bits_from_fn(self.rows, |d| ((x[d as usize] & mask) >> t) & 1 == 1);
            let mut per_phase = Vec::new();
            let mut per_pop = Vec::new();
            for phase_mask in &self.phase_masks {
                let driven: Bits = plane.iter().zip(phase_mask).map(|(a, b)| a & b).collect();
                per_pop.push(driven.iter().map(|w| w.count_ones()).sum());
                per_phase.push(driven);
            }
            words.push(per_phase);
            pops.push(per_pop);
        }
        DrivenPlanes { words, pops }
    }

    /// Sets the ADC's run-time step (docs/SPEC.md section 7). A shift above
    /// the largest, which the load port cannot encode but a field's bits
    /// could hold, acts as the largest (as the RTL's selection does).
    pub fn set_adc_shift(&mut self, sh: u32) {
        self.adc_shift = sh.min(self.adc_shift_max);
    }

    fn adc(&self, s: u32) -> u32 {
        adc_read_out_at(
            s as u64,
            self.w,
            self.adc_bits,
            self.adc_mode,
            self.adc_shift,
        ) as u32
    }

    /// Y of one column (the fast path: popcounts on packed words).
    pub fn column(&self, x: &DrivenPlanes, column: &Bits) -> i64 {
        let mut y = 0i64;
        for t in 0..self.act_bits as usize {
            let mut plane = 0i64;
            for h in 0..self.phases as usize {
                let s: u32 = x.words[t][h]
                    .iter()
                    .zip(column)
                    .map(|(a, b)| (a & b).count_ones())
                    .sum();
                plane += 2 * self.adc(s) as i64 - x.pops[t][h] as i64;
            }
            y += self.plane_weight(t as u32) * plane;
        }
        y
    }

    /// Y of one column of 0/1 cells (the dense engine, docs/SPEC.md section
    /// 6): per plane the ADC read-outs of the issued blocks add up, with no
    /// `2A - N` step. `blocks[i]` is the input phase block the block's
    /// cells multiply and the cells placed at those input rows.
    pub fn plain_column(&self, x: &DrivenPlanes, blocks: &[(usize, Bits)]) -> i64 {
        let mut y = 0i64;
        for t in 0..self.act_bits as usize {
            let plane: i64 = blocks
                .iter()
                .map(|(h, cells)| {
                    let s: u32 = x.words[t][*h]
                        .iter()
                        .zip(cells)
                        .map(|(a, b)| (a & b).count_ones())
                        .sum();
                    self.adc(s) as i64
                })
                .sum();
            y += self.plane_weight(t as u32) * plane;
        }
        y
    }

    /// Every intermediate of one column, for mismatch reports and tests.
    pub fn column_detail(&self, x: &DrivenPlanes, column: &Bits) -> ColumnDetail {
        let mut d = ColumnDetail {
            sums: vec![],
            read_outs: vec![],
            pops: x.pops.clone(),
            planes: vec![],
            y: 0,
        };
        for t in 0..self.act_bits as usize {
            let sums: Vec<u32> = (0..self.phases as usize)
                .map(|h| {
                    x.words[t][h]
                        .iter()
                        .zip(column)
                        .map(|(a, b)| (a & b).count_ones())
                        .sum()
                })
                .collect();
            let read_outs: Vec<u32> = sums.iter().map(|&s| self.adc(s)).collect();
            let plane: i64 = read_outs
                .iter()
                .zip(&x.pops[t])
                .map(|(&a, &n)| 2 * a as i64 - n as i64)
                .sum();
            d.y += self.plane_weight(t as u32) * plane;
            d.sums.push(sums);
            d.read_outs.push(read_outs);
            d.planes.push(plane);
        }
        d
    }
}

/// SPEC section 3 requantization of one value.
pub fn requantize(v: i128, shift: u32, relu: bool, out_bits: u32) -> i64 {
    let mut y = if shift == 0 {
        v
    } else if shift >= 128 {
        0
    } else {
        (v + (1i128 << (shift - 1))) >> shift
    };
    if relu {
        y = y.max(0);
    }
    let (lo, hi) = if relu {
        (0, (1i128 << out_bits) - 1)
    } else {
        (-(1i128 << (out_bits - 1)), (1i128 << (out_bits - 1)) - 1)
    };
    y.clamp(lo, hi) as i64
}

/// What the pool engine computes for one input vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VectorResult {
    pub ypool: Vec<i64>,
    pub z: Vec<i64>,
    pub ysel: Vec<i64>,
    /// Requantized lane outputs, present when the vector was marked `last`.
    pub outputs: Option<Vec<i64>>,
}

/// The pool engine with its lane accumulators (state across row blocks).
pub struct Engine {
    pub config: Config,
    pub model: MacroModel,
    pub weights: Weights,
    pub acc_pool: Vec<i128>,
    pub acc_err: Vec<i128>,
}

impl Engine {
    pub fn new(config: &Config, weights: Weights) -> Engine {
        if config.is_dense() {
            return Engine::dense(config, weights);
        }
        let lanes = (config.macros * config.cols) as usize;
        assert_eq!(weights.pool.len(), config.pool as usize, "pool vectors");
        assert_eq!(weights.error.len(), lanes, "error columns");
        assert_eq!(weights.index.len(), lanes, "indices");
        assert_eq!(weights.mask.len(), lanes, "masks");
        assert_eq!(weights.bias.len(), lanes, "biases");
        assert!(
            weights.index.iter().all(|&i| i < config.pool),
            "index out of range"
        );
        Engine {
            config: config.clone(),
            model: MacroModel::new(config),
            weights,
            acc_pool: vec![0; lanes],
            acc_err: vec![0; lanes],
        }
    }

    fn dense(config: &Config, weights: Weights) -> Engine {
        let lanes = config.lanes() as usize;
        let phases = (config.rows / config.wl_parallel) as usize;
        assert!(weights.pool.is_empty(), "the dense engine has no pool");
        assert_eq!(
            weights.error.len(),
            (config.macros * config.cols) as usize,
            "weight columns"
        );
        assert_eq!(weights.bias.len(), lanes, "biases");
        match config.sparsity {
            Sparsity::Skip => assert_eq!(weights.phase_valid.len(), phases, "phase valid bits"),
            Sparsity::Compact => {
                assert_eq!(
                    weights.slot_codes.len(),
                    config.slots as usize,
                    "slot codes"
                )
            }
            Sparsity::None => {}
        }
        Engine {
            config: config.clone(),
            model: MacroModel::new(config),
            weights,
            acc_pool: vec![0; lanes],
            acc_err: vec![0; lanes],
        }
    }

    /// Processes one input vector (SPEC section 3, or 6 for the dense
    /// engine).
    pub fn step(&mut self, x: &[i64], first: bool, last: bool) -> VectorResult {
        self.model.set_adc_shift(self.weights.scales.adc_shift);
        if self.config.is_dense() {
            return self.dense_step(x, first, last);
        }
        let driven = self.model.drive(x);
        let ypool: Vec<i64> = self
            .weights
            .pool
            .iter()
            .map(|col| self.model.column(&driven, col))
            .collect();
        let z: Vec<i64> = self
            .weights
            .error
            .iter()
            .map(|col| self.model.column(&driven, col))
            .collect();
        let ysel: Vec<i64> = self
            .weights
            .index
            .iter()
            .map(|&i| ypool[i as usize])
            .collect();
        if first {
            self.acc_pool.iter_mut().for_each(|a| *a = 0);
            self.acc_err.iter_mut().for_each(|a| *a = 0);
        }
        for l in 0..ysel.len() {
            self.acc_pool[l] += ysel[l] as i128;
            if self.weights.mask[l] {
                self.acc_err[l] += z[l] as i128;
            }
        }
        let outputs = last.then(|| self.outputs());
        VectorResult {
            ypool,
            z,
            ysel,
            outputs,
        }
    }

    /// The dense engine's step: `z` holds every column's Y, `ysel` every
    /// lane's recombined value D; the accumulators are `acc_pool`.
    fn dense_step(&mut self, x: &[i64], first: bool, last: bool) -> VectorResult {
        let driven = self.model.drive(x);
        let blocks = self.dense_blocks();
        let z: Vec<i64> = blocks
            .iter()
            .map(|b| self.model.plain_column(&driven, b))
            .collect();
        let c = &self.config;
        let mut d = vec![0i64; c.lanes() as usize];
        for (col, &y) in z.iter().enumerate() {
            let (lane, j) = dense_lane_of_column(c, col as u32);
            d[lane as usize] += weight_bit_value(c.w_bits, j) * y;
        }
        if first {
            self.acc_pool.iter_mut().for_each(|a| *a = 0);
        }
        for (a, &v) in self.acc_pool.iter_mut().zip(&d) {
            *a += v as i128;
        }
        let outputs = last.then(|| self.outputs());
        VectorResult {
            ypool: vec![],
            z,
            ysel: d,
            outputs,
        }
    }

    /// Per dense column, its issued blocks as (input phase block, the
    /// block's cells placed at that block's input rows).
    fn dense_blocks(&self) -> Vec<Vec<(usize, Bits)>> {
        let c = &self.config;
        let w = c.wl_parallel;
        let issued = issued_blocks(c, &self.weights);
        self.weights
            .error
            .iter()
            .map(|column| {
                issued
                    .iter()
                    .map(|b| {
                        let cells = bits_from_fn(c.rows, |d| {
                            d / w == b.input && bit(column, b.physical * w + d % w)
                        });
                        (b.input as usize, cells)
                    })
                    .collect()
            })
            .collect()
    }

    /// The dense engine's effective weight of lane `lane` at input row
    /// `row`: its `w_bits` two's-complement bits, zero where no issued
    /// block covers the row.
    pub fn dense_weight(&self, lane: usize, row: u32) -> i64 {
        let c = &self.config;
        let w = c.wl_parallel;
        let per_macro = (c.cols / c.w_bits) as usize;
        let (m, o) = (lane / per_macro, lane % per_macro);
        // Distinct slots name distinct blocks (SPEC section 6); the
        // hardware would add up any that did not.
        issued_blocks(c, &self.weights)
            .into_iter()
            .filter(|b| b.input == row / w)
            .map(|b| {
                (0..c.w_bits)
                    .filter(|&j| {
                        let col = m * c.cols as usize + j as usize + c.w_bits as usize * o;
                        bit(&self.weights.error[col], b.physical * w + row % w)
                    })
                    .map(|j| weight_bit_value(c.w_bits, j))
                    .sum::<i64>()
            })
            .sum()
    }

    /// Requantized outputs of the current accumulators.
    pub fn outputs(&self) -> Vec<i64> {
        let w = &self.weights;
        (0..self.acc_pool.len())
            .map(|l| {
                let v = w.scales.alpha as i128 * self.acc_pool[l]
                    + w.scales.beta as i128 * self.acc_err[l]
                    + w.bias[l] as i128;
                requantize(v, w.scales.shift, w.scales.relu, self.config.out_bits)
            })
            .collect()
    }

    /// The effective weight of SPEC section 3:
    /// `alpha * pm(pool[idx][d]) + beta * m * pm(err[l][d])`.
    pub fn effective_weight(&self, lane: usize, row: u32) -> i64 {
        let w = &self.weights;
        let pm = |b: bool| if b { 1 } else { -1 };
        let pool = pm(bit(&w.pool[w.index[lane] as usize], row));
        let err = if w.mask[lane] {
            pm(bit(&w.error[lane], row))
        } else {
            0
        };
        w.scales.alpha * pool + w.scales.beta * err
    }
}

#[cfg(test)]
mod dense_tests;
#[cfg(test)]
mod tests;
