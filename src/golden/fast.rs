//! The pool engine for batch work (`cimpool run`): the same arithmetic as
//! [`Engine`](super::Engine), organised for throughput. With exact read-out
//! the phases add up to the whole column, so a column result is an integer
//! dot product and a chunk of vectors is one float matrix product (exact:
//! every partial sum fits the mantissa). With a lossy ADC an input vector is
//! cut into bit-plane words once and each column result is popcounts of
//! plane AND cells per phase. Only the lanes a layer uses are computed;
//! vectors run in parallel on every core. `Engine` stays the reference: a
//! property test requires identical outputs.

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
    /// The CPU counts bits in one instruction (checked once, at run time).
    popcnt: bool,
}

/// One input vector as the macros see it.
pub struct Planes {
    /// words[t * words + k]: bit plane t, word k.
    words: Vec<u64>,
    /// pops[t * phases + h]: N[t][h]; with exact read-out one count per plane.
    pops: Vec<i64>,
    /// sum_t w_t N_t over every row (the exact read-out's constant term).
    weighted_pop: i64,
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
            popcnt: has_popcnt(),
        }
    }

    /// Cuts an input vector (R elements) into bit-plane words and counts.
    pub fn planes(&self, x: &[i64]) -> Planes {
        let mut p = Planes {
            words: vec![],
            pops: vec![],
            weighted_pop: 0,
        };
        self.planes_into(x, &mut p);
        p
    }

    /// `planes` into a reused buffer; `x` may be shorter than R (the rows
    /// past its end are zero).
    pub fn planes_into(&self, x: &[i64], p: &mut Planes) {
        debug_assert!(x.len() <= self.rows);
        let bx = self.act_bits as usize;
        let mask = (1i64 << self.act_bits) - 1;
        p.words.clear();
        p.words.resize(bx * self.words, 0);
        let words = &mut p.words;
        for (d, &v) in x.iter().enumerate() {
            // Visit the set bits only: activations after ReLU are mostly small.
            let mut v = (v & mask) as u64;
            while v != 0 {
                let t = v.trailing_zeros() as usize;
                words[t * self.words + d / 64] |= 1 << (d % 64);
                v &= v - 1;
            }
        }
        p.pops.clear();
        p.weighted_pop = 0;
        for t in 0..bx {
            let plane = &p.words[t * self.words..(t + 1) * self.words];
            for (first, last, masks) in &self.phases {
                let n: u32 = (*first..*last)
                    .zip(masks)
                    .map(|(k, m)| (plane[k] & m).count_ones())
                    .sum();
                p.pops.push(n as i64);
                p.weighted_pop += self.plane_weights[t] * n as i64;
            }
        }
    }

    /// Y of one column (docs/SPEC.md section 2), its cells as words.
    pub fn column(&self, x: &Planes, column: &[u64]) -> i64 {
        #[cfg(target_arch = "x86_64")]
        if self.popcnt {
            // SAFETY: the CPU has the popcnt instruction (checked in `new`).
            return unsafe { self.column_popcnt(x, column) };
        }
        self.column_portable(x, column)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "popcnt")]
    unsafe fn column_popcnt(&self, x: &Planes, column: &[u64]) -> i64 {
        self.column_portable(x, column)
    }

    /// The arithmetic, inlined into both variants above.
    #[inline(always)]
    fn column_portable(&self, x: &Planes, column: &[u64]) -> i64 {
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
    #[inline(always)]
    fn exact_column(&self, x: &Planes, column: &[u64]) -> i64 {
        // Y = 2 sum_t w_t popcount(x_t & col) - sum_t w_t N_t; the second
        // sum is the same for every column (`Planes::weighted_pop`).
        let mut y = 0i64;
        match self.words {
            // Specialized for the common macro heights (R <= 128).
            1 => {
                let c = column[0];
                for (p, &wt) in x.words.iter().zip(&self.plane_weights) {
                    y += wt * (p & c).count_ones() as i64;
                }
            }
            2 => {
                let (c0, c1) = (column[0], column[1]);
                for (p, &wt) in x.words.chunks_exact(2).zip(&self.plane_weights) {
                    let s = (p[0] & c0).count_ones() + (p[1] & c1).count_ones();
                    y += wt * s as i64;
                }
            }
            n => {
                for (t, &wt) in self.plane_weights.iter().enumerate() {
                    let plane = &x.words[t * n..(t + 1) * n];
                    let s: u32 = plane
                        .iter()
                        .zip(column)
                        .map(|(p, c)| (p & c).count_ones())
                        .sum();
                    y += wt * s as i64;
                }
            }
        }
        2 * y - x.weighted_pop
    }
}

/// The lane sums of one input vector across its row blocks.
#[derive(Clone, Debug, Default)]
pub struct LaneSums {
    pub pool: Vec<i64>,
    pub error: Vec<i64>,
}

/// A batch of input vectors the engine takes, written on demand: row block
/// `rows` of vector `i` into `out` (the im2col rows of a layer need not all
/// exist at once).
pub trait Vectors: Sync {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn fill(&self, i: usize, rows: std::ops::Range<usize>, out: &mut Vec<i64>);
}

impl Vectors for [Vec<i64>] {
    fn len(&self) -> usize {
        <[Vec<i64>]>::len(self)
    }
    fn fill(&self, i: usize, rows: std::ops::Range<usize>, out: &mut Vec<i64>) {
        out.clear();
        out.extend_from_slice(&self[i][rows]);
    }
}

/// Per-thread buffers of `accumulate`.
struct Scratch {
    x: Vec<i64>,
    planes: Vec<Planes>,
    pool_y: Vec<i64>,
}

/// Adds one tile (row block `rows` of every vector) to the sums of every
/// vector: the first `lanes` lanes of `w` into `sums[i]`; `first` restarts
/// them. Vectors run in parallel.
pub fn accumulate<V: Vectors + ?Sized>(
    c: &Config,
    w: &Weights,
    lanes: usize,
    vectors: &V,
    rows: std::ops::Range<usize>,
    sums: &mut [LaneSums],
    first: bool,
) {
    if exact_gemm_fits(c) {
        // Exact read-out: every column result is an integer dot product.
        let (f32_exact, _) = gemm_exactness(c);
        return if f32_exact {
            accumulate_exact::<f32, V>(
                c,
                w,
                lanes,
                vectors,
                rows,
                sums,
                first,
                |v| v as f32,
                |y| y as i64,
            )
        } else {
            accumulate_exact::<f64, V>(
                c,
                w,
                lanes,
                vectors,
                rows,
                sums,
                first,
                |v| v as f64,
                |y| y as i64,
            )
        };
    }
    let m = FastMacro::new(c, w.scales.adc_shift);
    // The tile's columns, contiguous: pool vectors, then the lanes' error
    // columns (the masked-out ones too, so lane l is at l).
    let words = m.words;
    let flat =
        |cols: &[Bits]| -> Vec<u64> { cols.iter().flat_map(|c| c.iter().copied()).collect() };
    let pool_cols = flat(&w.pool);
    let error_cols = flat(&w.error[..lanes]);
    let cols = TileColumns {
        index: &w.index[..lanes],
        mask: &w.mask[..lanes],
        pool: &pool_cols,
        error: &error_cols,
        words,
    };
    sums.par_chunks_mut(GROUP).enumerate().for_each_init(
        || Scratch {
            x: Vec::with_capacity(m.rows),
            planes: (0..GROUP)
                .map(|_| Planes {
                    words: vec![],
                    pops: vec![],
                    weighted_pop: 0,
                })
                .collect(),
            pool_y: vec![],
        },
        |sc, (g, group)| {
            for (j, s) in group.iter_mut().enumerate() {
                if s.pool.len() != lanes {
                    s.pool = vec![0; lanes];
                    s.error = vec![0; lanes];
                } else if first {
                    s.pool.fill(0);
                    s.error.fill(0);
                }
                vectors.fill(g * GROUP + j, rows.clone(), &mut sc.x);
                m.planes_into(&sc.x, &mut sc.planes[j]);
            }
            let n = group.len();
            m.lanes(&cols, &sc.planes[..n], &mut sc.pool_y, group);
        },
    );
}

/// Vectors a worker takes at once: each column's words, index and mask
/// are loaded once for all of them.
const GROUP: usize = 4;

/// Whether f32 and f64 hold every partial sum of a column's dot product
/// exactly: |x| <= 2^act_bits on each of R rows, integers below 2^24 / 2^53.
fn gemm_exactness(c: &Config) -> (bool, bool) {
    let bound = (c.rows as u128) << c.act_bits;
    (bound < 1 << 24, bound < 1 << 53)
}

/// With exact read-out (docs/SPEC.md section 2: no ADC, so the phases add
/// up to the whole column) a column's result is the integer dot product of
/// the vector with its +-1 cells.
fn exact_gemm_fits(c: &Config) -> bool {
    c.adc_bits == 0 && gemm_exactness(c).1
}

/// Vectors one matrix product takes.
const GEMM_CHUNK: usize = 128;

/// [`accumulate`] with exact read-out: a chunk of vectors (rows of X) times
/// the tile's columns as +-1 (the pool vectors, then the error columns of
/// the lanes whose mask is set) is one float matrix product, exact because
/// every partial sum is an integer the float type holds (`gemm_exactness`).
#[allow(clippy::too_many_arguments)]
fn accumulate_exact<A, V>(
    c: &Config,
    w: &Weights,
    lanes: usize,
    vectors: &V,
    rows: std::ops::Range<usize>,
    sums: &mut [LaneSums],
    first: bool,
    to: fn(i64) -> A,
    back: fn(A) -> i64,
) where
    A: ndarray::LinalgScalar + Send + Sync,
    V: Vectors + ?Sized,
{
    let r = c.rows as usize;
    let masked: Vec<usize> = (0..lanes).filter(|&l| w.mask[l]).collect();
    let pool = w.pool.len();
    let cells = ndarray::Array2::from_shape_fn((r, pool + masked.len()), |(row, col)| {
        let column = if col < pool {
            &w.pool[col]
        } else {
            &w.error[masked[col - pool]]
        };
        to(if super::bit(column, row as u32) {
            1
        } else {
            -1
        })
    });
    // The value each activation word stands for (two's complement when signed).
    let mask = (1i64 << c.act_bits) - 1;
    let value = |v: i64| {
        let v = v & mask;
        if c.act_signed && v >> (c.act_bits - 1) & 1 == 1 {
            v - (1i64 << c.act_bits)
        } else {
            v
        }
    };
    sums.par_chunks_mut(GEMM_CHUNK)
        .enumerate()
        .for_each_init(Vec::new, |x, (g, chunk)| {
            let mut xs = ndarray::Array2::from_elem((chunk.len(), r), to(0));
            for (j, mut row) in xs.outer_iter_mut().enumerate() {
                vectors.fill(g * GEMM_CHUNK + j, rows.clone(), x);
                for (d, &v) in x.iter().enumerate() {
                    row[d] = to(value(v));
                }
            }
            let y = xs.dot(&cells);
            for (s, y) in chunk.iter_mut().zip(y.outer_iter()) {
                if s.pool.len() != lanes {
                    s.pool = vec![0; lanes];
                    s.error = vec![0; lanes];
                } else if first {
                    s.pool.fill(0);
                    s.error.fill(0);
                }
                let y = y.as_slice().expect("rows of a new matrix are contiguous");
                for (acc, &k) in s.pool.iter_mut().zip(&w.index[..lanes]) {
                    *acc += back(y[k as usize]);
                }
                // Error columns follow the pool vectors, one per masked lane.
                for (&l, &v) in masked.iter().zip(&y[pool..]) {
                    s.error[l] += back(v);
                }
            }
        });
}

/// One tile's columns as `accumulate` lays them out.
struct TileColumns<'a> {
    index: &'a [u32],
    mask: &'a [bool],
    /// Pool vector k at words [k * words, (k + 1) * words).
    pool: &'a [u64],
    /// Lane l's error column likewise.
    error: &'a [u64],
    words: usize,
}

impl FastMacro {
    /// Adds a group of vectors' lane results to their sums.
    fn lanes(&self, t: &TileColumns, x: &[Planes], pool_y: &mut Vec<i64>, s: &mut [LaneSums]) {
        #[cfg(target_arch = "x86_64")]
        if self.popcnt {
            // SAFETY: the CPU has the popcnt instruction (checked in `new`).
            return unsafe { self.lanes_popcnt(t, x, pool_y, s) };
        }
        self.lanes_portable(t, x, pool_y, s)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "popcnt")]
    unsafe fn lanes_popcnt(
        &self,
        t: &TileColumns,
        x: &[Planes],
        pool_y: &mut Vec<i64>,
        s: &mut [LaneSums],
    ) {
        self.lanes_portable(t, x, pool_y, s)
    }

    /// Pool results are computed once per vector for the lanes that read
    /// them (`pool_y[k * n + j]` for vector j of the n).
    #[inline(always)]
    fn lanes_portable(
        &self,
        t: &TileColumns,
        x: &[Planes],
        pool_y: &mut Vec<i64>,
        s: &mut [LaneSums],
    ) {
        let (words, n) = (t.words, x.len());
        pool_y.clear();
        pool_y.resize(t.pool.len() / words * n, i64::MIN);
        let lanes_of = t.index.iter().zip(t.mask).zip(t.error.chunks_exact(words));
        for (l, ((&k, &mask), error)) in lanes_of.enumerate() {
            let k = k as usize;
            let cached = &mut pool_y[k * n..(k + 1) * n];
            if cached[0] == i64::MIN {
                let pool = &t.pool[k * words..(k + 1) * words];
                for (c, xj) in cached.iter_mut().zip(x) {
                    *c = self.column_portable(xj, pool);
                }
            }
            for (j, xj) in x.iter().enumerate() {
                s[j].pool[l] += cached[j];
                if mask {
                    s[j].error[l] += self.column_portable(xj, error);
                }
            }
        }
    }
}

/// Requantized outputs of the first `lanes` lanes (docs/SPEC.md section 3).
pub fn outputs(c: &Config, w: &Weights, sums: &LaneSums) -> Vec<i64> {
    let (alpha, beta, sc) = (w.scales.alpha, w.scales.beta, &w.scales);
    sums.pool
        .iter()
        .zip(&sums.error)
        .zip(&w.bias)
        .map(|((&p, &e), &b)| {
            // In 64 bits when the value fits (checked), else in 128.
            let v = alpha
                .checked_mul(p)
                .and_then(|x| beta.checked_mul(e).and_then(|y| x.checked_add(y)))
                .and_then(|x| x.checked_add(b));
            match v {
                Some(v) => requantize64(v, sc.shift, sc.relu, c.out_bits),
                None => {
                    let v = alpha as i128 * p as i128 + beta as i128 * e as i128 + b as i128;
                    requantize(v, sc.shift, sc.relu, c.out_bits)
                }
            }
        })
        .collect()
}

/// `golden::requantize` for values that fit 64 bits.
fn requantize64(v: i64, shift: u32, relu: bool, out_bits: u32) -> i64 {
    let mut y = match shift {
        0 => v,
        s if s >= 63 => 0,
        // v + 2^(s-1) cannot overflow here: |v| is far below 2^62 whenever
        // it fits, and the i128 path takes the rest.
        s => match v.checked_add(1i64 << (s - 1)) {
            Some(r) => r >> s,
            None => return requantize(v as i128, shift, relu, out_bits),
        },
    };
    if relu {
        y = y.max(0);
    }
    let (lo, hi) = if relu {
        (0, (1i64 << out_bits) - 1)
    } else {
        (-(1i64 << (out_bits - 1)), (1i64 << (out_bits - 1)) - 1)
    };
    y.clamp(lo, hi)
}

fn has_popcnt() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("popcnt")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The dense engine with exact read-out is an integer matrix product with
/// its `w_bits` weights (docs/SPEC.md section 6, the identity
/// `golden::dense_tests` proves): the first `lanes` lanes' weights of one
/// tile, row-major (lane, input row), as the engine reads them (zero where
/// no issued block covers a row).
pub fn dense_matrix(c: &Config, w: &Weights, lanes: usize) -> Vec<i64> {
    let engine = super::Engine::new(c, w.clone());
    (0..lanes)
        .flat_map(|l| {
            let engine = &engine;
            (0..c.rows).map(move |r| engine.dense_weight(l, r))
        })
        .collect()
}

/// Whether the dense fast path applies: exact read-out and 64-bit sums.
pub fn dense_fits(c: &Config) -> bool {
    c.is_dense()
        && crate::config::default_adc_shift(c.wl_parallel, c.adc_bits) == 0
        && crate::config::Derived::new(c).accumulator_bits <= 62
}

/// [`accumulate`] for the dense engine with exact read-out: `acc (+)= W x`
/// for the row block `rows` of every vector, kept in `LaneSums::pool`.
pub fn dense_accumulate<V: Vectors + ?Sized>(
    c: &Config,
    matrix: &[i64],
    lanes: usize,
    vectors: &V,
    rows: std::ops::Range<usize>,
    sums: &mut [LaneSums],
    first: bool,
) {
    let r = c.rows as usize;
    sums.par_iter_mut()
        .enumerate()
        .for_each_init(Vec::new, |x, (i, s)| {
            vectors.fill(i, rows.clone(), x);
            if s.pool.len() != lanes || first {
                s.pool = vec![0; lanes];
            }
            for (l, acc) in s.pool.iter_mut().enumerate() {
                let row = &matrix[l * r..l * r + x.len()];
                *acc += row.iter().zip(x.iter()).map(|(&w, &v)| w * v).sum::<i64>();
            }
        });
}

/// Requantized outputs of the dense engine's lanes (`alpha acc + bias`).
pub fn dense_outputs(c: &Config, w: &Weights, sums: &LaneSums) -> Vec<i64> {
    let sc = &w.scales;
    sums.pool
        .iter()
        .zip(&w.bias)
        .map(|(&a, &b)| {
            requantize(
                sc.alpha as i128 * a as i128 + b as i128,
                sc.shift,
                sc.relu,
                c.out_bits,
            )
        })
        .collect()
}

/// Whether the fast path's 64-bit sums hold every value the configuration
/// can reach (otherwise use `Engine`). The fast path is the pool engine's;
/// the dense engine has `dense_fits`.
pub fn fits(c: &Config) -> bool {
    !c.is_dense() && crate::config::Derived::new(c).accumulator_bits <= 62
}
