//! Expressions and the constructors generators use to build them.
//!
//! The builder methods are named after the operators they build (`add`,
//! `not`, `eq`, `lt`, ...) as one uniform family; comparisons cannot be
//! std::ops traits, so none of them are.
#![allow(clippy::should_implement_trait)]

use super::{clog2, Ty};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    /// Bitwise complement.
    Not,
    /// Reduction OR (1 bit).
    RedOr,
    /// Reduction AND (1 bit).
    RedAnd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    And,
    Or,
    Xor,
    Eq,
    Ne,
    /// Less-than; signed when both operands are signed.
    Lt,
    /// Greater-than; signed when both operands are signed.
    Gt,
    /// Logical shift left by a (self-determined) amount.
    Shl,
    /// Arithmetic shift right (`>>>`); the left operand must be signed.
    Sra,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A port or net.
    Ref(String),
    /// A module parameter.
    Param(String),
    Const {
        ty: Ty,
        value: u64,
    },
    /// A constant bit range `name[lsb +: width]` of a port or net.
    Slice {
        net: String,
        lsb: u32,
        width: u32,
    },
    /// `name[{index, k'b0} +: width]`: entry `index` of a net made of
    /// 2^index_width entries of 2^k bits each. The index width must equal
    /// clog2(net width) - k, which is what Verilator asks of a dynamic select.
    DynSlice {
        net: String,
        index: Box<Expr>,
        entry_log2: u32,
        width: u32,
    },
    /// Concatenation, most significant part first.
    Concat(Vec<Expr>),
    Repeat(u32, Box<Expr>),
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `cond ? a : b` with a 1-bit condition.
    Mux(Box<Expr>, Box<Expr>, Box<Expr>),
}

impl Expr {
    pub fn name(name: &str) -> Expr {
        Expr::Ref(name.into())
    }
    pub fn uconst(width: u32, value: u64) -> Expr {
        Expr::Const {
            ty: Ty::unsigned(width),
            value,
        }
    }
    /// A signed constant given as an i64, stored as its two's complement.
    pub fn sconst(width: u32, value: i64) -> Expr {
        let mask = if width >= 64 {
            u64::MAX
        } else {
            (1u64 << width) - 1
        };
        Expr::Const {
            ty: Ty::signed(width),
            value: (value as u64) & mask,
        }
    }
    pub fn zero(width: u32) -> Expr {
        if width <= 64 {
            Expr::uconst(width, 0)
        } else {
            Expr::Repeat(width, Box::new(Expr::uconst(1, 0)))
        }
    }
    pub fn one_bit(v: bool) -> Expr {
        Expr::uconst(1, v as u64)
    }
    pub fn slice(net: &str, lsb: u32, width: u32) -> Expr {
        Expr::Slice {
            net: net.into(),
            lsb,
            width,
        }
    }
    pub fn bit(net: &str, i: u32) -> Expr {
        Expr::slice(net, i, 1)
    }
    pub fn concat(parts: Vec<Expr>) -> Expr {
        if parts.len() == 1 {
            parts.into_iter().next().unwrap()
        } else {
            Expr::Concat(parts)
        }
    }
    pub fn repeat(n: u32, e: Expr) -> Expr {
        Expr::Repeat(n, Box::new(e))
    }
    pub fn not(self) -> Expr {
        Expr::Unary(UnOp::Not, Box::new(self))
    }
    pub fn red_or(self) -> Expr {
        Expr::Unary(UnOp::RedOr, Box::new(self))
    }
    pub fn red_and(self) -> Expr {
        Expr::Unary(UnOp::RedAnd, Box::new(self))
    }
    fn bin(op: BinOp, a: Expr, b: Expr) -> Expr {
        Expr::Binary(op, Box::new(a), Box::new(b))
    }
    pub fn add(self, b: Expr) -> Expr {
        Expr::bin(BinOp::Add, self, b)
    }
    pub fn sub(self, b: Expr) -> Expr {
        Expr::bin(BinOp::Sub, self, b)
    }
    pub fn mul(self, b: Expr) -> Expr {
        Expr::bin(BinOp::Mul, self, b)
    }
    pub fn and(self, b: Expr) -> Expr {
        Expr::bin(BinOp::And, self, b)
    }
    pub fn or(self, b: Expr) -> Expr {
        Expr::bin(BinOp::Or, self, b)
    }
    pub fn xor(self, b: Expr) -> Expr {
        Expr::bin(BinOp::Xor, self, b)
    }
    pub fn eq(self, b: Expr) -> Expr {
        Expr::bin(BinOp::Eq, self, b)
    }
    pub fn ne(self, b: Expr) -> Expr {
        Expr::bin(BinOp::Ne, self, b)
    }
    pub fn lt(self, b: Expr) -> Expr {
        Expr::bin(BinOp::Lt, self, b)
    }
    pub fn gt(self, b: Expr) -> Expr {
        Expr::bin(BinOp::Gt, self, b)
    }
    pub fn shl(self, amount: Expr) -> Expr {
        Expr::bin(BinOp::Shl, self, amount)
    }
    pub fn sra(self, amount: Expr) -> Expr {
        Expr::bin(BinOp::Sra, self, amount)
    }
    pub fn mux(cond: Expr, then: Expr, els: Expr) -> Expr {
        Expr::Mux(Box::new(cond), Box::new(then), Box::new(els))
    }
    /// Entry `index` of a net holding 2^index_width entries of 2^entry_log2
    /// bits; reads the low `width` bits of the entry.
    pub fn dyn_slice(net: &str, index: Expr, entry_log2: u32, width: u32) -> Expr {
        Expr::DynSlice {
            net: net.into(),
            index: Box::new(index),
            entry_log2,
            width,
        }
    }
}

/// Zero-extends `e` (of width `from`) to `to` bits.
pub fn zext(e: Expr, from: u32, to: u32) -> Expr {
    assert!(to >= from, "zext from {from} to {to}");
    if to == from {
        e
    } else {
        Expr::Concat(vec![Expr::zero(to - from), e])
    }
}

/// Sign-extends the net `name` (of width `from`) to `to` bits.
pub fn sext(name: &str, from: u32, to: u32) -> Expr {
    assert!(to >= from, "sext from {from} to {to}");
    if to == from {
        Expr::name(name)
    } else {
        Expr::Concat(vec![
            Expr::repeat(to - from, Expr::bit(name, from - 1)),
            Expr::name(name),
        ])
    }
}

/// Bits of a packed bus holding `n` entries of `width` bits padded to powers of
/// two, so that `Expr::dyn_slice` can select an entry without a multiplier.
/// Returns (entry_log2, index_width, bus_width).
pub fn dyn_bus_shape(n: u64, width: u32) -> (u32, u32, u32) {
    let entry_log2 = clog2(width as u64);
    let index_width = clog2(n).max(1);
    (entry_log2, index_width, (1u32 << index_width) << entry_log2)
}

/// Builds the padded bus for `dyn_bus_shape`: entry i holds `entries[i]`.
pub fn dyn_bus(entries: Vec<Expr>, width: u32) -> Expr {
    let (entry_log2, index_width, _) = dyn_bus_shape(entries.len() as u64, width);
    let entry_w = 1u32 << entry_log2;
    let slots = 1usize << index_width;
    let mut parts = Vec::with_capacity(slots * 2);
    // Unused slots at the top, then entries from the highest down.
    if slots > entries.len() {
        parts.push(Expr::zero((slots - entries.len()) as u32 * entry_w));
    }
    for e in entries.into_iter().rev() {
        if entry_w > width {
            parts.push(Expr::zero(entry_w - width));
        }
        parts.push(e);
    }
    Expr::concat(parts)
}
