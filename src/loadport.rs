//! The software view of `cim_top`'s ports: how memory contents become load
//! writes, how an input vector becomes `in_data`, and how an output beat
//! decodes into lane values. Every word is packed and unpacked through the
//! one layout description in `config::layout`.

use crate::benes::{Benes, GroupNotAPermutation};
use crate::config::layout::{
    FieldRange, Target, Word, ERROR_COLUMN, LANE, PHASE_VALID, POOL_COLUMN, SCALES, SLOT_CODES,
    WEIGHT_COLUMN,
};
use crate::config::{Config, Crossbar, Derived, Sparsity};
use crate::golden::{bit, bits_from_fn, Bits, Scales, Weights};

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

/// A write that cannot be encoded or applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Range(Box<FieldRange>),
    #[error(transparent)]
    Benes(#[from] GroupNotAPermutation),
    #[error("load_sel = {0} is not a load target of this engine")]
    UnknownTarget(u32),
    #[error("{target} write: address field `{field}` = {value} is outside 0..{limit}")]
    Address {
        target: String,
        field: String,
        value: u64,
        limit: u64,
    },
}

impl From<FieldRange> for LoadError {
    fn from(e: FieldRange) -> LoadError {
        LoadError::Range(Box::new(e))
    }
}

/// Values of a word's fields, packed by the layout; every value is range
/// checked against its field. A field the word does not have reads as 0,
/// so it may only be given as 0.
fn encode(word: &Word, words: &mut [u32], values: &[(&str, i128)]) -> Result<(), FieldRange> {
    for &(name, value) in values {
        if !word.has(name) {
            if value != 0 {
                return Err(FieldRange {
                    field: name.into(),
                    value,
                    width: 0,
                    signed: false,
                    min: 0,
                    max: 0,
                });
            }
            continue;
        }
        let f = word.get(name);
        let bits = f.bits_of(value)?;
        for i in 0..f.width {
            if bits >> i & 1 == 1 {
                put(words, f.lsb + i, 1, 1);
            }
        }
    }
    Ok(())
}

/// Value of field `name` of a word (0 for a field the word does not have).
fn decode(word: &Word, words: &[u32], name: &str) -> i128 {
    if !word.has(name) {
        return 0;
    }
    let f = word.get(name);
    let bits = (0..f.width).fold(0u128, |acc, i| {
        acc | (get(words, f.lsb + i, 1) as u128) << i
    });
    f.value_of(bits)
}

pub struct LoadPort {
    c: Config,
    d: Derived,
    benes: Option<Benes>,
    /// What `apply` has written to each lane's select field: with `benes` a
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

    /// Output lanes of the engine.
    pub fn lanes(&self) -> usize {
        self.d.lanes as usize
    }

    fn target(&self, name: &str) -> &Target {
        self.d.load.target(name)
    }

    /// The select field of every lane: its pool index (mux), or its share of
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

    /// Decodes the select fields of lane group `g` into its pool indices.
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

    /// A write to `target` with the given address and data field values.
    fn load(
        &self,
        target: &str,
        addr: &[(&str, i128)],
        data: &[(&str, i128)],
    ) -> Result<Load, FieldRange> {
        let t = self.target(target);
        let mut a = vec![0u32; words_for(self.d.load_addr_bits)];
        encode(&t.addr, &mut a, addr)?;
        let mut words = vec![0; words_for(self.d.load_data_bits)];
        encode(&t.data, &mut words, data)?;
        Ok(Load {
            sel: t.sel,
            addr: get(&a, 0, self.d.load_addr_bits),
            data: words,
        })
    }

    /// A column write: the `cells` field carries one bit per row.
    fn column(&self, target: &str, addr: &[(&str, i128)], column: &Bits) -> Load {
        let mut load = self
            .load(target, addr, &[])
            .expect("column addresses come from in-range indices");
        let cells = self.target(target).data.get("cells");
        for d in (0..self.d.macro_rows).filter(|&d| bit(column, d)) {
            put(&mut load.data, cells.lsb + d, 1, 1);
        }
        load
    }

    pub fn pool_column(&self, k: u32, column: &Bits) -> Load {
        self.column(POOL_COLUMN, &[("column", k as i128)], column)
    }

    /// Error column of lane `lane` (= macro * cols + column).
    pub fn error_column(&self, lane: u32, column: &Bits) -> Load {
        let (m, c) = (lane / self.c.cols, lane % self.c.cols);
        self.column(
            ERROR_COLUMN,
            &[("macro", m as i128), ("col", c as i128)],
            column,
        )
    }

    /// Lane word {select, mask, bias} of lane `lane`; the select field comes
    /// from `select_fields`.
    pub fn lane(&self, lane: u32, select: u64, mask: bool, bias: i64) -> Result<Load, FieldRange> {
        let (g, s) = (lane / self.c.pool, lane % self.c.pool);
        self.load(
            LANE,
            &[("group", g as i128), ("slot", s as i128)],
            &[
                ("select", select as i128),
                ("mask", mask as i128),
                ("bias", bias as i128),
            ],
        )
    }

    /// Dense engine: macro column `column` (= macro * cols + col).
    pub fn weight_column(&self, column: u32, cells: &Bits) -> Load {
        let (m, c) = (column / self.c.cols, column % self.c.cols);
        self.column(
            WEIGHT_COLUMN,
            &[("macro", m as i128), ("col", c as i128)],
            cells,
        )
    }

    /// Dense engine: the lane word (its bias) of lane `lane`.
    pub fn dense_lane(&self, lane: u32, bias: i64) -> Result<Load, FieldRange> {
        self.load(LANE, &[("lane", lane as i128)], &[("bias", bias as i128)])
    }

    /// Dense engine, `skip`: the tile's phase valid bits.
    pub fn phase_valid(&self, valid: &[bool]) -> Load {
        let mut load = self.load(PHASE_VALID, &[], &[]).expect("no fields given");
        let f = self.target(PHASE_VALID).data.get("valid");
        for (h, _) in valid.iter().enumerate().filter(|(_, v)| **v) {
            put(&mut load.data, f.lsb + h as u32, 1, 1);
        }
        load
    }

    /// Dense engine, `compact`: the tile's slot codes (`phases` = empty).
    pub fn slot_codes(&self, codes: &[u32]) -> Result<Load, FieldRange> {
        let names: Vec<String> = (0..codes.len()).map(|k| format!("slot_{k}")).collect();
        let values: Vec<(&str, i128)> = names
            .iter()
            .zip(codes)
            .map(|(n, &c)| (n.as_str(), c as i128))
            .collect();
        self.load(SLOT_CODES, &[], &values)
    }

    pub fn scales(&self, scales: &Scales) -> Result<Load, FieldRange> {
        self.load(SCALES, &[], &scales.fields())
    }

    /// Every write that loads `w` completely; with `benes`, each group's
    /// indices must be a permutation.
    pub fn all(&self, w: &Weights) -> Result<Vec<Load>, LoadError> {
        if self.c.is_dense() {
            return self.all_dense(w);
        }
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
        for (l, &field) in fields.iter().enumerate() {
            loads.push(self.lane(l as u32, field, w.mask[l], w.bias[l])?);
        }
        loads.push(self.scales(&w.scales)?);
        Ok(loads)
    }

    fn all_dense(&self, w: &Weights) -> Result<Vec<Load>, LoadError> {
        let mut loads: Vec<Load> = w
            .error
            .iter()
            .enumerate()
            .map(|(c, cells)| self.weight_column(c as u32, cells))
            .collect();
        for (l, &bias) in w.bias.iter().enumerate() {
            loads.push(self.dense_lane(l as u32, bias)?);
        }
        match self.c.sparsity {
            Sparsity::None => {}
            Sparsity::Skip => loads.push(self.phase_valid(&w.phase_valid)),
            Sparsity::Compact => loads.push(self.slot_codes(&w.slot_codes)?),
        }
        loads.push(self.scales(&w.scales)?);
        Ok(loads)
    }

    /// Address field `name` of a write, checked against `limit`.
    fn addr_field(
        &self,
        t: &Target,
        load: &Load,
        name: &str,
        limit: u64,
    ) -> Result<u64, LoadError> {
        let a = vec![load.addr as u32, (load.addr >> 32) as u32];
        let value = decode(&t.addr, &a, name) as u64;
        if value >= limit {
            return Err(LoadError::Address {
                target: t.name.clone(),
                field: name.into(),
                value,
                limit,
            });
        }
        Ok(value)
    }

    /// Applies a write to `w` as the hardware would: the decoder of the load
    /// port in software, used to keep the golden model's memories in step.
    pub fn apply(&mut self, w: &mut Weights, load: &Load) -> Result<(), LoadError> {
        let t = self
            .d
            .load
            .by_sel(load.sel)
            .ok_or(LoadError::UnknownTarget(load.sel))?
            .clone();
        // A field whose bits hold more than its largest legal value (the
        // ADC step) is refused, not clamped: it cannot come from this tool.
        for f in t.data.fields.iter().filter(|f| f.max.is_some()) {
            f.bits_of(decode(&t.data, &load.data, &f.name))?;
        }
        let cells = || {
            let f = t.data.get("cells");
            bits_from_fn(self.d.macro_rows, |d| get(&load.data, f.lsb + d, 1) == 1)
        };
        match t.name.as_str() {
            POOL_COLUMN => {
                let k = self.addr_field(&t, load, "column", self.c.pool as u64)?;
                w.pool[k as usize] = cells();
            }
            ERROR_COLUMN => {
                let m = self.addr_field(&t, load, "macro", self.c.macros as u64)?;
                let c = self.addr_field(&t, load, "col", self.c.cols as u64)?;
                w.error[(m * self.c.cols as u64 + c) as usize] = cells();
            }
            WEIGHT_COLUMN => {
                let m = self.addr_field(&t, load, "macro", self.c.macros as u64)?;
                let c = self.addr_field(&t, load, "col", self.c.cols as u64)?;
                w.error[(m * self.c.cols as u64 + c) as usize] = cells();
            }
            LANE if self.c.is_dense() => {
                let lane = self.addr_field(&t, load, "lane", self.d.lanes as u64)?;
                w.bias[lane as usize] = decode(&t.data, &load.data, "bias") as i64;
            }
            PHASE_VALID => {
                let f = t.data.get("valid");
                for (h, v) in w.phase_valid.iter_mut().enumerate() {
                    *v = get(&load.data, f.lsb + h as u32, 1) == 1;
                }
            }
            SLOT_CODES => {
                for (k, code) in w.slot_codes.iter_mut().enumerate() {
                    *code = decode(&t.data, &load.data, &format!("slot_{k}")) as u32;
                }
            }
            LANE => {
                let g = self.addr_field(&t, load, "group", self.d.groups as u64)?;
                let s = self.addr_field(&t, load, "slot", self.c.pool as u64)?;
                let lane = (g * self.c.pool as u64 + s) as usize;
                self.select_fields[lane] = decode(&t.data, &load.data, "select") as u64;
                let p = self.c.pool as usize;
                let group = self.group_indices(g as usize);
                w.index[g as usize * p..(g as usize + 1) * p].copy_from_slice(&group);
                w.mask[lane] = decode(&t.data, &load.data, "mask") == 1;
                w.bias[lane] = decode(&t.data, &load.data, "bias") as i64;
            }
            SCALES => {
                w.scales = Scales::from_fields(|name| decode(&t.data, &load.data, name));
            }
            other => unreachable!("target `{other}` is not in the layout"),
        }
        Ok(())
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

    /// Lane values of an output beat of a layer with or without `relu`
    /// (unsigned or two's-complement lanes).
    pub fn beat(&self, words: &[u32], relu: bool) -> Vec<i64> {
        let ob = self.c.out_bits;
        (0..self.d.out_lanes)
            .map(|i| {
                let raw = get(words, i * ob, ob);
                if relu {
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
        let zero = || bits_from_fn(self.d.macro_rows, |_| false);
        if self.c.is_dense() {
            let phases = self.d.phases as usize;
            return Weights {
                pool: vec![],
                error: (0..self.c.macros * self.c.cols).map(|_| zero()).collect(),
                index: vec![],
                mask: vec![],
                bias: vec![0; lanes],
                scales: Scales::defaults(&self.c),
                phase_valid: match self.c.sparsity {
                    Sparsity::Skip => vec![true; phases],
                    _ => vec![],
                },
                slot_codes: match self.c.sparsity {
                    // Slot k multiplies phase block k, as dense storage would.
                    Sparsity::Compact => (0..self.c.slots).collect(),
                    _ => vec![],
                },
            };
        }
        Weights {
            pool: (0..self.c.pool).map(|_| zero()).collect(),
            error: (0..lanes).map(|_| zero()).collect(),
            index: vec![0; lanes],
            mask: vec![false; lanes],
            bias: vec![0; lanes],
            scales: Scales::defaults(&self.c),
            phase_valid: vec![],
            slot_codes: vec![],
        }
    }
}

/// What `cimpool route` prints: the `select` field of each lane slot of a
/// group whose lane slot o reads pool vector `indices[o]`.
/// Indices `cimpool route` cannot turn into select fields.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("route sets the pool engine's lane select fields: engine = \"dense\" has no pool or crossbar")]
    Dense,
    #[error("--indices has {got} values; a lane group has pool = {pool} lanes")]
    Length { got: usize, pool: u32 },
    #[error("--indices: pool index {index} at slot {slot} is outside 0..{pool} (pool = {pool})")]
    Range { slot: usize, index: u32, pool: u32 },
    #[error(transparent)]
    Permutation(#[from] GroupNotAPermutation),
}

/// One lane slot's select field.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RouteSlot {
    pub slot: usize,
    pub pool_index: u32,
    pub select: u64,
}

/// The select fields of one lane group's lane words (`cimpool route`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Route {
    pub crossbar: Crossbar,
    pub pool: u32,
    pub select_bits: u32,
    /// Benes switch settings in the group (0 for the mux crossbar).
    pub switch_bits: u32,
    pub slots: Vec<RouteSlot>,
}

/// The select fields of one lane group whose slots read `indices`.
pub fn route(config: &Config, indices: &[u32]) -> Result<Route, RouteError> {
    if config.is_dense() {
        return Err(RouteError::Dense);
    }
    if indices.len() != config.pool as usize {
        return Err(RouteError::Length {
            got: indices.len(),
            pool: config.pool,
        });
    }
    if let Some((slot, &index)) = indices.iter().enumerate().find(|(_, &i)| i >= config.pool) {
        return Err(RouteError::Range {
            slot,
            index,
            pool: config.pool,
        });
    }
    let port = LoadPort::new(config);
    let fields = port.select_fields(indices)?;
    Ok(Route {
        crossbar: config.crossbar,
        pool: config.pool,
        select_bits: port.d.load.target(LANE).data.get("select").width,
        switch_bits: port.benes.as_ref().map_or(0, |n| n.switch_bits()),
        slots: indices
            .iter()
            .zip(fields)
            .enumerate()
            .map(|(slot, (&pool_index, select))| RouteSlot {
                slot,
                pool_index,
                select,
            })
            .collect(),
    })
}

impl Route {
    /// The table `cimpool route` prints.
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let width = self.select_bits;
        let mut s = match self.crossbar {
            Crossbar::Mux => format!(
                "crossbar = \"mux\": the select field of lane slot o is its pool index ({width} bits)\n"
            ),
            Crossbar::Benes => format!(
                "crossbar = \"benes\", pool = {}: {} switch settings over the slots' {width}-bit select fields\n",
                self.pool, self.switch_bits
            ),
        };
        let _ = writeln!(
            s,
            "| slot | pool index | select (binary, msb first) | select (hex) |\n|---:|---:|---|---|"
        );
        for r in &self.slots {
            let _ = writeln!(
                s,
                "| {} | {} | {:0w$b} | 0x{:x} |",
                r.slot,
                r.pool_index,
                r.select,
                r.select,
                w = width as usize
            );
        }
        s
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
            scales: Scales {
                alpha: -7,
                beta: 32767,
                shift: 13,
                relu: false,
                adc_shift: 0,
            },
            phase_valid: vec![],
            slot_codes: vec![],
        };
        let mut back = port.empty_weights();
        for load in port.all(&w).unwrap() {
            port.apply(&mut back, &load).unwrap();
        }
        assert_eq!(back, w);
    }

    #[test]
    fn out_of_range_values_and_addresses_are_errors() {
        let c = Config::from_toml("macros = 3\nrows = 8\ncols = 4\npool = 4\nbias_bits = 8")
            .unwrap()
            .resolved();
        let mut port = LoadPort::new(&c);
        let e = port.lane(0, 0, true, 128).unwrap_err().to_string();
        assert!(
            e.contains("`bias` = 128") && e.contains("-128..=127"),
            "{e}"
        );
        let mut w = port.empty_weights();
        // Macro 3 of 3: the field holds it (2 bits), the engine has no such macro.
        let bad = Load {
            sel: 1,
            addr: 3 << 2,
            data: vec![0],
        };
        let e = port.apply(&mut w, &bad).unwrap_err().to_string();
        assert_eq!(
            e,
            "error_column write: address field `macro` = 3 is outside 0..3"
        );
        assert_eq!(
            port.apply(&mut w, &Load { sel: 7, ..bad }),
            Err(LoadError::UnknownTarget(7))
        );
    }

    #[test]
    fn an_adc_step_beyond_its_largest_value_is_refused_by_name() {
        // W = 16, 2-bit ADC: steps 0..=3 in a 2-bit field that holds 0..=3;
        // a 3-bit ADC: 0..=2 in a 2-bit field, so 3 fits the bits only.
        let c = Config::from_toml("macros = 1\nrows = 16\ncols = 4\npool = 4\nadc_bits = 3")
            .unwrap()
            .resolved();
        let mut port = LoadPort::new(&c);
        let mut w = port.empty_weights();
        let mut load = port.scales(&w.scales).unwrap();
        let f = port.target(SCALES).data.get("adc_shift").clone();
        put(&mut load.data, f.lsb, f.width, 3);
        let e = port.apply(&mut w, &load).unwrap_err().to_string();
        assert_eq!(
            e,
            "load-port field `adc_shift` = 3 does not fit: it holds 0..=2 (2 bits)"
        );
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
            port.apply(&mut back, &load).unwrap();
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
        // Signed 4-bit lanes: 0xF = -1, 0x7 = 7; unsigned with ReLU.
        assert_eq!(port.beat(&[0x7F], false), vec![-1, 7, 0, 0]);
        assert_eq!(port.beat(&[0x7F], true), vec![15, 7, 0, 0]);
    }
}
