//! The software view of `cim_top`'s ports: how memory contents become load
//! writes, how an input vector becomes `in_data`, and how an output beat
//! decodes into lane values. Layouts are those of docs/ARCHITECTURE.md.

use crate::config::{Config, Derived};
use crate::gen::top::{LOAD_ERROR_COLUMN, LOAD_LANE, LOAD_POOL_COLUMN, LOAD_SCALES};
use crate::golden::{bit, bits_from_fn, Weights};

/// A packed bit vector as little-endian u32 words (Verilator's wide-port layout).
pub type Words = Vec<u32>;

pub fn words_for(bits: u32) -> usize {
    bits.div_ceil(32) as usize
}

/// Writes `value`'s low `width` bits at bit `lsb` of `words`.
pub fn put(words: &mut [u32], lsb: u32, width: u32, value: u64) {
    for i in 0..width {
        if value >> i & 1 == 1 {
            let b = lsb + i;
            words[(b / 32) as usize] |= 1 << (b % 32);
        }
    }
}

/// Reads `width` bits at `lsb` of `words` as an unsigned value.
pub fn get(words: &[u32], lsb: u32, width: u32) -> u64 {
    (0..width).fold(0u64, |acc, i| {
        let b = lsb + i;
        acc | (((words[(b / 32) as usize] >> (b % 32)) & 1) as u64) << i
    })
}

fn sign_extend(value: u64, width: u32) -> i64 {
    let shift = 64 - width;
    ((value << shift) as i64) >> shift
}

/// One write on the load port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Load {
    pub sel: u32,
    pub addr: u64,
    pub data: Words,
}

pub struct LoadPort {
    c: Config,
    d: Derived,
}

impl LoadPort {
    pub fn new(config: &Config) -> LoadPort {
        LoadPort {
            c: config.clone(),
            d: Derived::new(config),
        }
    }

    fn load(&self, sel: u64, addr: u64, fields: &[(u32, u32, u64)]) -> Load {
        let mut data = vec![0; words_for(self.d.load_data_bits)];
        for &(lsb, width, value) in fields {
            put(&mut data, lsb, width, value);
        }
        Load {
            sel: sel as u32,
            addr,
            data,
        }
    }

    fn column_fields(&self, column: &crate::golden::Bits) -> Vec<(u32, u32, u64)> {
        (0..self.c.rows)
            .filter(|&d| bit(column, d))
            .map(|d| (d, 1, 1))
            .collect()
    }

    pub fn pool_column(&self, k: u32, column: &crate::golden::Bits) -> Load {
        self.load(LOAD_POOL_COLUMN, k as u64, &self.column_fields(column))
    }

    /// Error column of lane `lane` (= macro * cols + column).
    pub fn error_column(&self, lane: u32, column: &crate::golden::Bits) -> Load {
        let (m, c) = (lane / self.c.cols, lane % self.c.cols);
        let addr = ((m as u64) << self.d.col_field_bits) | c as u64;
        self.load(LOAD_ERROR_COLUMN, addr, &self.column_fields(column))
    }

    /// Lane word {bias, mask, index} of lane `lane`.
    pub fn lane(&self, lane: u32, index: u32, mask: bool, bias: i64) -> Load {
        let (g, s) = (lane / self.c.pool, lane % self.c.pool);
        let addr = ((g as u64) << self.d.slot_field_bits) | s as u64;
        let iw = self.d.index_bits;
        let bias_bits = bias as u64 & mask_of(self.c.bias_bits);
        self.load(
            LOAD_LANE,
            addr,
            &[
                (0, iw, index as u64),
                (iw, 1, mask as u64),
                (iw + 1, self.c.bias_bits, bias_bits),
            ],
        )
    }

    pub fn scales(&self, alpha: i64, beta: i64, shift: u32) -> Load {
        let sb = self.c.scale_bits;
        self.load(
            LOAD_SCALES,
            0,
            &[
                (0, sb, alpha as u64 & mask_of(sb)),
                (sb, sb, beta as u64 & mask_of(sb)),
                (2 * sb, self.c.shift_bits, shift as u64),
            ],
        )
    }

    /// Every write that loads `w` completely.
    pub fn all(&self, w: &Weights) -> Vec<Load> {
        let mut loads: Vec<Load> = w
            .pool
            .iter()
            .enumerate()
            .map(|(k, col)| self.pool_column(k as u32, col))
            .collect();
        loads.extend(
            w.error
                .iter()
                .enumerate()
                .map(|(l, col)| self.error_column(l as u32, col)),
        );
        loads.extend(
            (0..w.index.len()).map(|l| self.lane(l as u32, w.index[l], w.mask[l], w.bias[l])),
        );
        loads.push(self.scales(w.alpha, w.beta, w.shift));
        loads
    }

    /// Applies a write to `w` as the hardware would: the decoder of the load
    /// port in software, used to keep the golden model's memories in step.
    pub fn apply(&self, w: &mut Weights, load: &Load) {
        let column = || bits_from_fn(self.c.rows, |d| get(&load.data, d, 1) == 1);
        match load.sel as u64 {
            LOAD_POOL_COLUMN => w.pool[load.addr as usize] = column(),
            LOAD_ERROR_COLUMN => {
                let m = load.addr >> self.d.col_field_bits;
                let c = load.addr & mask_of(self.d.col_field_bits);
                w.error[(m * self.c.cols as u64 + c) as usize] = column();
            }
            LOAD_LANE => {
                let g = load.addr >> self.d.slot_field_bits;
                let s = load.addr & mask_of(self.d.slot_field_bits);
                let lane = (g * self.c.pool as u64 + s) as usize;
                let iw = self.d.index_bits;
                w.index[lane] = get(&load.data, 0, iw) as u32;
                w.mask[lane] = get(&load.data, iw, 1) == 1;
                w.bias[lane] =
                    sign_extend(get(&load.data, iw + 1, self.c.bias_bits), self.c.bias_bits);
            }
            LOAD_SCALES => {
                let sb = self.c.scale_bits;
                w.alpha = sign_extend(get(&load.data, 0, sb), sb);
                w.beta = sign_extend(get(&load.data, sb, sb), sb);
                w.shift = get(&load.data, 2 * sb, self.c.shift_bits) as u32;
            }
            other => panic!("load_sel {other} is not a load target"),
        }
    }

    /// `in_data` of an input vector: element d at bits [d*act_bits +: act_bits].
    pub fn input(&self, x: &[i64]) -> Words {
        let bx = self.c.act_bits;
        let mut words = vec![0; words_for(self.c.rows * bx)];
        for (d, &v) in x.iter().enumerate() {
            put(&mut words, d as u32 * bx, bx, v as u64 & mask_of(bx));
        }
        words
    }

    /// Lane values of an output beat.
    pub fn beat(&self, words: &[u32]) -> Vec<i64> {
        let ob = self.c.out_bits;
        (0..self.d.out_lanes)
            .map(|i| {
                let raw = get(words, i * ob, ob);
                if self.c.relu {
                    raw as i64
                } else {
                    sign_extend(raw, ob)
                }
            })
            .collect()
    }

    /// Weights of the right shapes, all zero.
    pub fn empty_weights(&self) -> Weights {
        let lanes = self.d.lanes as usize;
        let zero = || bits_from_fn(self.c.rows, |_| false);
        Weights {
            pool: (0..self.c.pool).map(|_| zero()).collect(),
            error: (0..lanes).map(|_| zero()).collect(),
            index: vec![0; lanes],
            mask: vec![false; lanes],
            bias: vec![0; lanes],
            alpha: 0,
            beta: 0,
            shift: 0,
        }
    }
}

fn mask_of(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1 << bits) - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_round_trip_through_apply() {
        let c = Config::from_toml("macros = 3\nrows = 24\ncols = 12\npool = 6\nbias_bits = 20")
            .unwrap()
            .resolved();
        let port = LoadPort::new(&c);
        let lanes = 36u32;
        let w = Weights {
            pool: (0..6)
                .map(|k| bits_from_fn(24, |d| (d + k) % 3 == 0))
                .collect(),
            error: (0..lanes)
                .map(|l| bits_from_fn(24, |d| (d * 7 + l) % 5 < 2))
                .collect(),
            index: (0..lanes).map(|l| (l * 5) % 6).collect(),
            mask: (0..lanes).map(|l| l % 3 != 0).collect(),
            bias: (0..lanes as i64).map(|l| (l - 18) * 12345).collect(),
            alpha: -7,
            beta: 32767,
            shift: 13,
        };
        let mut back = port.empty_weights();
        for load in port.all(&w) {
            port.apply(&mut back, &load);
        }
        assert_eq!(back, w);
    }

    #[test]
    fn input_and_beat_layouts() {
        let c = Config::from_toml(
            "macros = 1\nrows = 4\ncols = 4\nact_bits = 3\nrelu = false\nout_bits = 4",
        )
        .unwrap()
        .resolved();
        let port = LoadPort::new(&c);
        // Elements 1, 2, 3, 4 of 3 bits: 0b100_011_010_001.
        assert_eq!(port.input(&[1, 2, 3, 4]), vec![0b100_011_010_001]);
        // Signed 4-bit lanes: 0xF = -1, 0x7 = 7.
        assert_eq!(port.beat(&[0x7F]), vec![-1, 7, 0, 0]);
    }
}
