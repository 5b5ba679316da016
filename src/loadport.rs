//! The software view of `cim_top`'s ports: how memory contents become load
//! writes, how an input vector becomes `in_data`, and how an output beat
//! decodes into lane values. Layouts are those of docs/ARCHITECTURE.md.

use crate::benes::{Benes, GroupNotAPermutation};
use crate::config::{Config, Crossbar, Derived};
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
    benes: Option<Benes>,
    /// What `apply` has written to each lane's index field: with `benes` a
    /// lane write changes part of its group's switch settings, so decoding
    /// needs the whole group's settings.
    select_fields: Vec<u64>,
}

impl LoadPort {
    pub fn new(config: &Config) -> LoadPort {
        let d = Derived::new(config);
        LoadPort {
            c: config.clone(),
            benes: match config.crossbar {
                Crossbar::Mux => None,
                Crossbar::Benes => Some(Benes::new(config.pool).expect("validated benes pool")),
            },
            select_fields: vec![0; d.lanes as usize],
            d,
        }
    }

    /// The index field of every lane: its pool index (mux), or its share of
    /// the group's Benes switch settings (slot s holds settings
    /// [s * index_bits, (s + 1) * index_bits)).
    pub fn select_fields(&self, index: &[u32]) -> Result<Vec<u64>, GroupNotAPermutation> {
        let Some(net) = &self.benes else {
            return Ok(index.iter().map(|&i| i as u64).collect());
        };
        let (p, iw) = (self.c.pool as usize, self.d.index_bits);
        let mut fields = Vec::with_capacity(index.len());
        for (g, group) in index.chunks(p).enumerate() {
            let settings = net.route(group).map_err(|reason| GroupNotAPermutation {
                group: g as u32,
                pool: self.c.pool,
                reason,
            })?;
            for s in 0..p as u32 {
                fields.push((0..iw).fold(0u64, |acc, b| {
                    let bit = settings
                        .get((s * iw + b) as usize)
                        .copied()
                        .unwrap_or(false);
                    acc | (bit as u64) << b
                }));
            }
        }
        Ok(fields)
    }

    /// Decodes the index fields of lane group `g` into its pool indices.
    fn group_indices(&self, g: usize) -> Vec<u32> {
        let p = self.c.pool as usize;
        let fields = &self.select_fields[g * p..(g + 1) * p];
        match &self.benes {
            None => fields.iter().map(|&f| f as u32).collect(),
            Some(net) => {
                let iw = self.d.index_bits;
                let settings: Vec<bool> = (0..net.switch_bits())
                    .map(|b| fields[(b / iw) as usize] >> (b % iw) & 1 == 1)
                    .collect();
                net.permutation(&settings)
            }
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

    /// Lane word {bias, mask, index field} of lane `lane`; the index field
    /// comes from `select_fields`.
    pub fn lane(&self, lane: u32, select_field: u64, mask: bool, bias: i64) -> Load {
        let (g, s) = (lane / self.c.pool, lane % self.c.pool);
        let addr = ((g as u64) << self.d.slot_field_bits) | s as u64;
        let iw = self.d.index_bits;
        let bias_bits = bias as u64 & mask_of(self.c.bias_bits);
        self.load(
            LOAD_LANE,
            addr,
            &[
                (0, iw, select_field),
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

    /// Every write that loads `w` completely; with `benes`, each group's
    /// indices must be a permutation.
    pub fn all(&self, w: &Weights) -> Result<Vec<Load>, GroupNotAPermutation> {
        let fields = self.select_fields(&w.index)?;
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
            (0..w.index.len()).map(|l| self.lane(l as u32, fields[l], w.mask[l], w.bias[l])),
        );
        loads.push(self.scales(w.alpha, w.beta, w.shift));
        Ok(loads)
    }

    /// Applies a write to `w` as the hardware would: the decoder of the load
    /// port in software, used to keep the golden model's memories in step.
    pub fn apply(&mut self, w: &mut Weights, load: &Load) {
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
                self.select_fields[lane] = get(&load.data, 0, iw);
                let p = self.c.pool as usize;
                let group = self.group_indices(g as usize);
                w.index[g as usize * p..(g as usize + 1) * p].copy_from_slice(&group);
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
        let mut port = LoadPort::new(&c);
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
        for load in port.all(&w).unwrap() {
            port.apply(&mut back, &load);
        }
        assert_eq!(back, w);
    }

    #[test]
    fn benes_switch_settings_round_trip_and_repeats_are_named() {
        let c =
            Config::from_toml("macros = 2\nrows = 8\ncols = 16\npool = 8\ncrossbar = \"benes\"")
                .unwrap()
                .resolved();
        let mut port = LoadPort::new(&c);
        let mut w = port.empty_weights();
        // Group 0 reversed, groups 1-3 rotated by their number.
        w.index = (0..32u32)
            .map(|l| if l < 8 { 7 - l } else { (l + l / 8) % 8 })
            .collect();
        let mut back = port.empty_weights();
        for load in port.all(&w).unwrap() {
            port.apply(&mut back, &load);
        }
        assert_eq!(back, w);
        w.index[19] = w.index[17];
        let err = port.all(&w).unwrap_err().to_string();
        assert!(
            err.starts_with("lane group 2: pool index 3 is used by lane slots 1 and 3;"),
            "{err}"
        );
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
