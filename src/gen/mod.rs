//! Block generators: each function builds one IR module from the resolved
//! configuration, adding the sub-modules it instantiates to the design.

pub mod arith;
pub mod array;
pub mod control;
pub mod output;
pub mod pool;
pub mod top;

use crate::config::{Config, Derived};
use crate::ir::{Design, Expr};

/// The configuration and everything derived from it, as the generators see it.
pub struct Ctx<'a> {
    pub c: &'a Config,
    pub d: &'a Derived,
}

impl Ctx<'_> {
    /// Width of the TILE_ID parameter (at least one bit).
    pub fn tile_id_bits(&self) -> u32 {
        self.d.macro_field_bits.max(1)
    }
    /// Width of a lane address {group, slot}.
    pub fn lane_addr_bits(&self) -> u32 {
        self.d.group_field_bits + self.d.slot_field_bits
    }
}

/// Sign-extends bits [lsb +: width] of `net` to `to` bits.
pub fn sext_slice(net: &str, lsb: u32, width: u32, to: u32) -> Expr {
    let value = Expr::slice(net, lsb, width);
    if to == width {
        value
    } else {
        Expr::concat(vec![
            Expr::repeat(to - width, Expr::bit(net, lsb + width - 1)),
            value,
        ])
    }
}

/// Builds the whole design for a validated configuration.
pub fn generate(config: &Config) -> Design {
    let derived = Derived::new(config);
    let ctx = Ctx {
        c: config,
        d: &derived,
    };
    let mut design = Design::default();
    design.top = top::top(&mut design, &ctx);
    design
}
