//! The load port's words, described once: each target (`load_sel` value),
//! the fields of its address and of its data word (name, lsb, width,
//! signedness, meaning). The RTL slices, the software encoder and decoder
//! (`loadport`), the C header, the port document and the image manifest all
//! read this description, so adding a field to a word is one line here.

use serde::{Deserialize, Serialize};

/// One field of a word.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub lsb: u32,
    pub width: u32,
    /// Two's complement (sign-extended when decoded).
    pub signed: bool,
    /// Largest legal value, when smaller than the width allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i128>,
    pub meaning: String,
}

/// The fields of one word, packed from bit 0 up in the order they were added.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Word {
    pub fields: Vec<Field>,
}

/// A value that does not fit its field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("load-port field `{field}` = {value} does not fit: it holds {min}..={max} ({width} bits{})", if *.signed { ", signed" } else { "" })]
pub struct FieldRange {
    pub field: String,
    pub value: i128,
    pub width: u32,
    pub signed: bool,
    pub min: i128,
    pub max: i128,
}

impl Field {
    /// The values the field holds.
    pub fn range(&self) -> (i128, i128) {
        let (lo, hi) = match (self.width, self.signed) {
            (0, _) => (0, 0),
            (w, true) => (-(1i128 << (w - 1)), (1i128 << (w - 1)) - 1),
            (w, false) => (0, (1i128 << w) - 1),
        };
        (lo, self.max.map_or(hi, |m| m.min(hi)))
    }

    /// The raw bits of `value`, or why it does not fit.
    pub fn bits_of(&self, value: i128) -> Result<u128, FieldRange> {
        let (min, max) = self.range();
        if value < min || value > max {
            return Err(FieldRange {
                field: self.name.clone(),
                value,
                width: self.width,
                signed: self.signed,
                min,
                max,
            });
        }
        let mask = if self.width >= 128 {
            u128::MAX
        } else {
            (1u128 << self.width) - 1
        };
        Ok(value as u128 & mask)
    }

    /// The value of raw field bits (sign-extended for a signed field).
    pub fn value_of(&self, bits: u128) -> i128 {
        if self.signed && self.width > 0 && self.width < 128 {
            let shift = 128 - self.width;
            ((bits << shift) as i128) >> shift
        } else {
            bits as i128
        }
    }
}

impl Word {
    /// Appends a field above the ones already there.
    pub fn field(mut self, name: &str, width: u32, signed: bool, meaning: &str) -> Word {
        let lsb = self.bits();
        self.fields.push(Field {
            name: name.into(),
            lsb,
            width,
            signed,
            max: None,
            meaning: meaning.into(),
        });
        self
    }

    /// Appends an unsigned field holding 0..=max, when `max` is given;
    /// nothing when it is not (the field reads as 0).
    pub fn field_upto(self, name: &str, max: Option<u32>, meaning: &str) -> Word {
        let Some(max) = max else { return self };
        let width = crate::ir::clog2(max as u64 + 1).max(1);
        let mut w = self.field(name, width, false, meaning);
        w.fields.last_mut().unwrap().max = Some(max as i128);
        w
    }

    /// Width of the word: the bits up to the top of its highest field.
    pub fn bits(&self) -> u32 {
        self.fields
            .iter()
            .map(|f| f.lsb + f.width)
            .max()
            .unwrap_or(0)
    }

    /// The field called `name`. Field names are fixed by the generator, so
    /// an unknown one is a programming error.
    pub fn get(&self, name: &str) -> &Field {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("no load-port field `{name}`"))
    }

    pub fn has(&self, name: &str) -> bool {
        self.fields.iter().any(|f| f.name == name)
    }
}

/// One load target: what `load_sel` selects, how `load_addr` and
/// `load_data` are laid out for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// Short name, used in the header's macro names (`CIM_<NAME>_...`).
    pub name: String,
    /// The `load_sel` value.
    pub sel: u32,
    pub what: String,
    pub addr: Word,
    pub data: Word,
}

/// Every target of the load port, and the port widths they need.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadLayout {
    pub targets: Vec<Target>,
    pub sel_bits: u32,
    pub addr_bits: u32,
    pub data_bits: u32,
}

/// Target names of the pool engine.
pub const POOL_COLUMN: &str = "pool_column";
pub const ERROR_COLUMN: &str = "error_column";
pub const LANE: &str = "lane";
pub const SCALES: &str = "scales";
/// Target names the dense engine adds.
pub const WEIGHT_COLUMN: &str = "weight_column";
pub const PHASE_VALID: &str = "phase_valid";
pub const SLOT_CODES: &str = "slot_codes";

/// The per-layer scale word of both engines (the pool engine's has beta).
fn scales(w: &Widths, sel: u32, beta: bool) -> Target {
    let data = if beta {
        Word::default()
            .field("alpha", w.scale_bits, true, "scale of the pool term accP")
            .field("beta", w.scale_bits, true, "scale of the error term accE")
    } else {
        Word::default().field("alpha", w.scale_bits, true, "scale of the lane accumulator")
    };
    Target {
        name: SCALES.into(),
        sel,
        what: "per-layer scales".into(),
        addr: Word::default(),
        data: data
            .field(
                "shift",
                w.shift_bits,
                false,
                "right shift with round half up",
            )
            .field(
                "relu",
                1,
                false,
                "1: ReLU and unsigned outputs; 0: two's-complement outputs",
            )
            .field_upto(
                "adc_shift",
                w.adc_shift_max,
                "the ADC's step is 2^adc_shift (docs/SPEC.md section 7)",
            ),
    }
}

/// Inputs of the layout: the widths the configuration fixes.
pub(super) struct Widths {
    pub rows: u32,
    pub pool_col_bits: u32,
    pub col_bits: u32,
    pub macro_bits: u32,
    pub slot_bits: u32,
    pub group_bits: u32,
    pub index_bits: u32,
    pub benes: bool,
    pub scale_bits: u32,
    pub bias_bits: u32,
    pub shift_bits: u32,
    /// Largest run-time ADC shift, for a lossy ADC.
    pub adc_shift_max: Option<u32>,
    /// Dense engine: lane address width, word lines a macro holds, phases
    /// per plane, compact storage's slots, the sparsity mode.
    pub lane_bits: u32,
    pub macro_rows: u32,
    pub phases: u32,
    pub slots: u32,
    pub sparsity: super::Sparsity,
}

impl LoadLayout {
    pub(super) fn pool_engine(w: &Widths) -> LoadLayout {
        let cells = |what: &str| {
            Word::default().field(
                "cells",
                w.rows,
                false,
                &format!("bit d = the cell of row d of the {what} (1 means +1, 0 means -1)"),
            )
        };
        let select = if w.benes {
            "this slot's share of the group's Benes switch settings: settings [slot * width, slot * width + width)"
        } else {
            "pool index the lane reads (0 .. pool - 1)"
        };
        let targets = vec![
            Target {
                name: POOL_COLUMN.into(),
                sel: 0,
                what: "pool macro column k: pool vector k".into(),
                addr: Word::default().field("column", w.pool_col_bits, false, "pool vector k"),
                data: cells("pool vector"),
            },
            Target {
                name: ERROR_COLUMN.into(),
                sel: 1,
                what: "error macro column: the error bits of lane macro * cols + col for the current row block".into(),
                addr: Word::default()
                    .field("col", w.col_bits, false, "column within the macro")
                    .field("macro", w.macro_bits, false, "error macro"),
                data: cells("error column"),
            },
            Target {
                name: LANE.into(),
                sel: 2,
                what: "lane word of lane group * pool + slot".into(),
                addr: Word::default()
                    .field("slot", w.slot_bits, false, "lane within its group")
                    .field("group", w.group_bits, false, "lane group"),
                data: Word::default()
                    .field("select", w.index_bits, false, select)
                    .field("mask", 1, false, "1 keeps the lane's error term for this row block, 0 prunes it")
                    .field("bias", w.bias_bits, true, "per-lane bias added before the shift"),
            },
            scales(w, 3, true),
        ];
        LoadLayout::of(targets)
    }

    /// The dense engine (docs/SPEC.md section 6): weight columns, lane
    /// biases, the scales without beta, and the sparsity memory.
    pub(super) fn dense_engine(w: &Widths) -> LoadLayout {
        let mut targets = vec![
            Target {
                name: WEIGHT_COLUMN.into(),
                sel: 0,
                what: "macro column col of macro: bit (col mod w_bits) of the weights of lane macro * (cols / w_bits) + col / w_bits, for the current row block".into(),
                addr: Word::default()
                    .field("col", w.col_bits, false, "column within the macro")
                    .field("macro", w.macro_bits, false, "macro"),
                data: Word::default().field(
                    "cells",
                    w.macro_rows,
                    false,
                    "bit d = the cell of (physical) row d: one bit of a two's-complement weight (0 or 1)",
                ),
            },
            Target {
                name: LANE.into(),
                sel: 1,
                what: "lane word of lane o".into(),
                addr: Word::default().field("lane", w.lane_bits, false, "lane"),
                data: Word::default().field("bias", w.bias_bits, true, "per-lane bias added before the shift"),
            },
            scales(w, 2, false),
        ];
        match w.sparsity {
            super::Sparsity::None => {}
            super::Sparsity::Skip => targets.push(Target {
                name: PHASE_VALID.into(),
                sel: 3,
                what: "the current tile's phase valid bits".into(),
                addr: Word::default(),
                data: Word::default().field(
                    "valid",
                    w.phases,
                    false,
                    "bit h = 1: phase h (rows h*W .. h*W+W-1) is computed; 0: it holds only zero weights and is skipped",
                ),
            }),
            super::Sparsity::Compact => {
                let code = crate::ir::clog2(w.phases as u64 + 1).max(1);
                let mut data = Word::default();
                for k in 0..w.slots {
                    data = data.field(
                        &format!("slot_{k}"),
                        code,
                        false,
                        &format!("the phase block slot {k} multiplies (input rows code*W .. code*W+W-1); {} = empty", w.phases),
                    );
                }
                targets.push(Target {
                    name: SLOT_CODES.into(),
                    sel: 3,
                    what: "the current tile's slot codes".into(),
                    addr: Word::default(),
                    data,
                });
            }
        }
        LoadLayout::of(targets)
    }

    fn of(targets: Vec<Target>) -> LoadLayout {
        let max = |f: fn(&Target) -> u32| targets.iter().map(f).max().unwrap_or(0).max(1);
        LoadLayout {
            sel_bits: crate::ir::clog2(targets.len() as u64).max(1),
            addr_bits: max(|t| t.addr.bits()),
            data_bits: max(|t| t.data.bits()),
            targets,
        }
    }

    /// The target called `name` (fixed by the generator).
    pub fn target(&self, name: &str) -> &Target {
        self.targets
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no load target `{name}`"))
    }

    /// The target `load_sel = sel` writes, if any.
    pub fn by_sel(&self, sel: u32) -> Option<&Target> {
        self.targets.iter().find(|t| t.sel == sel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_pack_from_bit_zero_in_order() {
        let w = Word::default()
            .field("a", 3, false, "")
            .field("b", 1, false, "")
            .field("c", 5, true, "");
        assert_eq!(
            w.fields
                .iter()
                .map(|f| (f.lsb, f.width))
                .collect::<Vec<_>>(),
            vec![(0, 3), (3, 1), (4, 5)]
        );
        assert_eq!(w.bits(), 9);
    }

    #[test]
    fn values_are_range_checked_and_sign_extended() {
        let f = Word::default().field("bias", 4, true, "").fields[0].clone();
        assert_eq!(f.bits_of(-8), Ok(0b1000));
        assert_eq!(f.value_of(0b1000), -8);
        assert_eq!(f.value_of(0b0111), 7);
        let e = f.bits_of(8).unwrap_err().to_string();
        assert_eq!(
            e,
            "load-port field `bias` = 8 does not fit: it holds -8..=7 (4 bits, signed)"
        );
        let u = Word::default().field("shift", 3, false, "").fields[0].clone();
        assert!(u.bits_of(-1).is_err() && u.bits_of(7) == Ok(7));
    }
}
