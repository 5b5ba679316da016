//! Expressions and the constructors generators use to build them.
//!
//! The builder methods are named after the operators they build (`add`,
//! `not`, `eq`, `lt`, ...) as one uniform family; comparisons cannot be
//! std::ops traits, so none of them are.
#![allow(clippy::should_implement_trait)]

use super::Ty;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    /// Bitwise complement.
    Not,
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
    /// A signed constant given as an i64, stored as its two's complement;
    /// at most 64 bits wide (wider signed constants: `signed_const_wire`).
    pub fn sconst(width: u32, value: i64) -> Expr {
        assert!(
            width <= 64,
            "sconst of {width} bits: use a signed constant wire"
        );
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

/// `options[index]` as a balanced tree of 2:1 multiplexers on the bits of
/// `index` (a net or a constant slice of one, `index_width` bits, at least
/// clog2(options) of them). Indices past the last option return an
/// arbitrary option. Yosys and Verilator both turn this into plain mux
/// cells; a dynamic part-select of a wide bus costs Yosys 0.23 minutes and
/// gigabytes at crossbar sizes.
pub fn select(index: &Expr, index_width: u32, options: Vec<Expr>) -> Expr {
    assert!(!options.is_empty(), "select of nothing");
    assert!(
        options.len() <= 1usize << index_width,
        "{} options for a {index_width}-bit index",
        options.len()
    );
    let bit = |b: u32| match index {
        Expr::Ref(n) => Expr::bit(n, b),
        Expr::Slice { net, lsb, .. } => Expr::bit(net, lsb + b),
        other => panic!("select index must be a net or a slice of one, not {other:?}"),
    };
    fn tree(options: &[Expr], level: u32, bit: &dyn Fn(u32) -> Expr) -> Expr {
        if options.len() == 1 {
            return options[0].clone();
        }
        let half = 1usize << (level - 1);
        if options.len() <= half {
            return tree(options, level - 1, bit);
        }
        let (low, high) = options.split_at(half);
        Expr::mux(
            bit(level - 1),
            tree(high, level - 1, bit),
            tree(low, level - 1, bit),
        )
    }
    tree(&options, index_width, &bit)
}
