//! Small arithmetic blocks: the popcount adder tree, the ADC quantizer and
//! the bit-serial shift-accumulator.

use super::{sext_slice, Ctx};
use crate::config::AdcMode;
use crate::ir::expr::zext;
use crate::ir::{clog2, if_, nb, Design, Expr, LValue, Module, Ty};

pub fn popcount_name(width: u32) -> String {
    format!("popcount_{width}")
}

/// Counts the ones of a `width`-bit word with a balanced adder tree, each
/// level one bit wider than the last (capped at the result width), so the
/// depth is log2(width) adders.
pub fn popcount(design: &mut Design, width: u32) -> String {
    let name = popcount_name(width);
    if design.contains(&name) {
        return name;
    }
    let out_w = clog2(width as u64 + 1);
    let mut m = Module::new(&name);
    m.doc(format!(
        "Number of ones in a {width}-bit word: a balanced adder tree."
    ));
    m.input("bits", Ty::unsigned(width));
    let count = m.output("count", Ty::unsigned(out_w));
    let mut level: Vec<(Expr, u32)> = (0..width).map(|i| (Expr::bit("bits", i), 1)).collect();
    let mut depth = 0;
    while level.len() > 1 {
        depth += 1;
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        for (i, pair) in level.chunks(2).enumerate() {
            match pair {
                [(a, wa), (b, wb)] => {
                    let w = (wa.max(wb) + 1).min(out_w);
                    let sum = zext(a.clone(), *wa, w).add(zext(b.clone(), *wb, w));
                    next.push((
                        m.wire(&format!("sum_l{depth}_{i}"), Ty::unsigned(w), sum),
                        w,
                    ));
                }
                [single] => next.push(single.clone()),
                _ => unreachable!(),
            }
        }
        level = next;
    }
    let (top, w) = level.pop().unwrap();
    m.assign(count, zext(top, w, out_w));
    design.add(m);
    name
}

pub const ADC_NAME: &str = "adc_quantizer";

/// The ADC of SPEC section 2 for one column (only generated when the
/// read-out is not exact).
pub fn adc_quantizer(design: &mut Design, ctx: &Ctx) -> String {
    if design.contains(ADC_NAME) {
        return ADC_NAME.into();
    }
    let sw = ctx.d.col_sum_bits;
    let sh = ctx.d.adc_shift;
    let b = ctx.c.adc_bits;
    assert!(sh > 0, "adc_quantizer is only generated for a lossy ADC");
    let mut m = Module::new(ADC_NAME);
    m.doc(format!(
        "{}-bit ADC ({}) of a {sw}-bit column sum: the only lossy step of the datapath.",
        b, ctx.c.adc_mode
    ));
    m.doc("The read-out is returned at the column-sum scale (code << shift).");
    let sum = m.input("sum", Ty::unsigned(sw));
    let out = m.output("read_out", Ty::unsigned(sw));
    match ctx.c.adc_mode {
        AdcMode::FloorClamp => {
            // sum >> sh always fits in B bits (sum <= W < 2^bits(W)), so the
            // clamp never acts and the low bits are simply dropped.
            m.unused_ok(
                "sum",
                "a floor ADC discards the column sum's low bits by design",
            );
            m.assign(
                out,
                Expr::concat(vec![Expr::slice("sum", sh, b), Expr::zero(sh)]),
            );
        }
        AdcMode::RoundClamp => {
            let rounded = zext(sum, sw, sw + 1).add(Expr::uconst(sw + 1, 1 << (sh - 1)));
            m.wire("rounded", Ty::unsigned(sw + 1), rounded);
            m.unused_ok(
                "rounded",
                "rounding discards the low bits below the ADC step",
            );
            let code = Expr::mux(
                Expr::bit("rounded", sw),
                Expr::uconst(b, (1 << b) - 1),
                Expr::slice("rounded", sh, b),
            );
            m.assign(out, Expr::concat(vec![code, Expr::zero(sh)]));
        }
    }
    design.add(m);
    ADC_NAME.into()
}

pub fn shift_accumulate_name(lanes: u32) -> String {
    format!("shift_accumulate_{lanes}")
}

/// Bit-serial shift-accumulate of SPEC section 2 for `lanes` columns:
/// `Y = sum_t w_t * sum_h (2A - N)`, planes most significant first, so each
/// new plane doubles the running sum instead of shifting the term. With
/// signed activations the first (MSB) plane is subtracted.
pub fn shift_accumulate(design: &mut Design, ctx: &Ctx, lanes: u32) -> String {
    let name = shift_accumulate_name(lanes);
    if design.contains(&name) {
        return name;
    }
    let sw = ctx.d.col_sum_bits;
    let yw = ctx.d.column_bits;
    let mut m = Module::new(&name);
    m.doc(format!(
        "Shift-accumulate of {lanes} columns: 2A - N per phase, MSB plane first."
    ));
    m.input("clk", Ty::unsigned(1));
    m.input("en", Ty::unsigned(1));
    m.input("first_phase", Ty::unsigned(1));
    m.input("msb", Ty::unsigned(1));
    m.input("read_out", Ty::unsigned(lanes * sw));
    let pop = m.input("pop", Ty::unsigned(sw));
    let y = m.output("y", Ty::unsigned(lanes * yw));
    let pop_ext = m.wire("pop_ext", Ty::unsigned(yw), zext(pop, sw, yw));
    let mut body = Vec::new();
    let mut outs = Vec::new();
    for k in 0..lanes {
        let acc = m.reg(&format!("acc_{k}"), Ty::unsigned(yw));
        let twice_a = Expr::concat(vec![Expr::slice("read_out", k * sw, sw), Expr::zero(1)]);
        let term = m.wire(
            &format!("term_{k}"),
            Ty::unsigned(yw),
            zext(twice_a, sw + 1, yw).sub(pop_ext.clone()),
        );
        let signed_term = if ctx.c.act_signed {
            Expr::mux(Expr::name("msb"), Expr::zero(yw).sub(term.clone()), term)
        } else {
            term
        };
        let doubled = Expr::concat(vec![
            Expr::slice(&format!("acc_{k}"), 0, yw - 1),
            Expr::zero(1),
        ]);
        let base = Expr::mux(
            Expr::name("first_phase"),
            Expr::mux(Expr::name("msb"), Expr::zero(yw), doubled),
            acc.clone(),
        );
        body.push(nb(LValue::net(format!("acc_{k}")), base.add(signed_term)));
        outs.push(acc);
    }
    m.always("clk", vec![if_(Expr::name("en"), body)]);
    outs.reverse();
    m.assign(y, Expr::concat(outs));
    design.add(m);
    name
}

/// Sign-extends lane `lane` of a packed bus of `width`-bit lanes to `to` bits.
pub fn lane_sext(bus: &str, lane: u32, width: u32, to: u32) -> Expr {
    sext_slice(bus, lane * width, width, to)
}
