//! Small arithmetic blocks: the popcount adder tree, the ADC quantizer and
//! the bit-serial shift-accumulator.

use super::iface::{input, interface, output, Block, PortSpec};
use super::{sext_slice, Ctx};
use crate::config::AdcMode;
use crate::ir::expr::zext;
use crate::ir::{clog2, if_, nb, Design, Expr, LValue, Module, Role, Ty};

interface! {
    /// Ones in a word.
    PopcountIo { bits: One, count: One }
}

pub fn popcount_name(width: u32) -> String {
    format!("popcount_{width}")
}

/// Counts the ones of a `width`-bit word with a balanced adder tree, each
/// level one bit wider than the last (capped at the result width), so the
/// depth is log2(width) adders.
pub fn popcount(design: &mut Design, width: u32) -> Block<PopcountIo<PortSpec>> {
    let out_w = clog2(width as u64 + 1);
    let io = PopcountIo {
        bits: input(width),
        count: output(out_w),
    };
    let name = popcount_name(width);
    let mut m = Module::new(&name);
    m.doc(format!(
        "Number of ones in a {width}-bit word: a balanced adder tree."
    ));
    let p = io.declare(&mut m);
    let bits = (0..width).map(|i| (Expr::bit("bits", i), 1)).collect();
    let (top, w) = adder_tree(&mut m, "sum", bits, out_w);
    m.assign(LValue::net("count"), zext(top, w, out_w));
    let _ = p;
    design.add(m);
    Block { module: name, io }
}

/// Sums unsigned `(value, width)` terms with a balanced tree of adders,
/// each level one bit wider than the last (capped at `out_w`), so the depth
/// is log2(terms) adders; the levels' wires are `{prefix}_l{depth}_{i}`.
/// Returns the total and its width.
pub fn adder_tree(
    m: &mut Module,
    prefix: &str,
    terms: Vec<(Expr, u32)>,
    out_w: u32,
) -> (Expr, u32) {
    let mut level = terms;
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
                        m.wire(&format!("{prefix}_l{depth}_{i}"), Ty::unsigned(w), sum),
                        w,
                    ));
                }
                [single] => next.push(single.clone()),
                _ => unreachable!(),
            }
        }
        level = next;
    }
    level.pop().expect("an adder tree of at least one term")
}

interface! {
    /// One column's ADC; `shift` is the run-time step 2^shift.
    AdcIo { sum: One, shift: One, read_out: One }
}

pub const ADC_NAME: &str = "adc_quantizer";

/// The ADC of docs/SPEC.md sections 2 and 7 for one column (only generated
/// when the read-out is not exact): `min(S >> sh, 2^B - 1) << sh`, or the
/// rounding variant, for the run-time shift `sh` in 0..=bits(W) - B. Each
/// shift's read-out is formed with constant shifts and the run-time field
/// selects one; a field value above the largest shift selects the largest.
pub fn adc_quantizer(design: &mut Design, ctx: &Ctx) -> Block<AdcIo<PortSpec>> {
    let sw = ctx.d.col_sum_bits;
    let max_sh = ctx.d.adc_shift;
    let b = ctx.c.adc_bits;
    assert!(
        max_sh > 0,
        "adc_quantizer is only generated for a lossy ADC"
    );
    let shift_w = crate::ir::clog2(max_sh as u64 + 1).max(1);
    let io = AdcIo {
        sum: input(sw),
        shift: input(shift_w),
        read_out: output(sw),
    };
    let mut m = Module::new(ADC_NAME);
    m.doc(format!(
        "{b}-bit ADC ({}) of a {sw}-bit column sum: the only lossy step of the datapath.",
        ctx.c.adc_mode
    ));
    m.doc(format!(
        "The read-out is returned at the column-sum scale (code << shift); shift 0..{max_sh}, default {max_sh} = bits(W) - B."
    ));
    let p = io.declare(&mut m);
    let max_code = (1u64 << b) - 1;
    let options: Vec<Expr> = (0..=max_sh)
        .map(|sh| {
            // q = the sum at this step (rounded when asked), before the clamp.
            let wide_sum = || zext(p.sum.clone(), sw, sw + 1);
            let rounded = match ctx.c.adc_mode {
                AdcMode::RoundClamp if sh > 0 => Some((
                    wide_sum().add(Expr::uconst(sw + 1, 1 << (sh - 1))),
                    format!(
                        "sum + 2^{}: half a step of 2^{sh} rounds to the nearest code",
                        sh - 1
                    ),
                )),
                // sh < sw: the ADC keeps at least one bit, so bit sh exists.
                AdcMode::RoundEvenClamp if sh > 0 => Some((
                    wide_sum()
                        .add(Expr::uconst(sw + 1, (1 << (sh - 1)) - 1))
                        .add(zext(Expr::slice("sum", sh, 1), 1, sw + 1)),
                    format!(
                        "sum + 2^{} - 1 + sum[{sh}]: the nearest code at step 2^{sh}, a tie to the even code",
                        sh - 1
                    ),
                )),
                _ => None,
            };
            let (q_net, q_lsb, q_w) = match rounded {
                Some((r, why)) => {
                    let name = format!("rounded_{sh}");
                    m.wire(&name, Ty::unsigned(sw + 1), r);
                    m.note(&name, why);
                    m.unused_ok(&name, "rounding discards the bits below the ADC step");
                    (name, sh, sw + 1 - sh)
                }
                None => ("sum".to_string(), sh, sw - sh),
            };
            let q = Expr::slice(&q_net, q_lsb, q_w);
            let code = if q_w > b {
                let over = q.clone().gt(Expr::uconst(q_w, max_code));
                Expr::mux(
                    over,
                    Expr::uconst(b, max_code),
                    Expr::slice(&q_net, q_lsb, b),
                )
            } else {
                q
            };
            let value = if sh > 0 {
                Expr::concat(vec![code, Expr::zero(sh)])
            } else {
                code
            };
            let name = format!("read_out_{sh}");
            let e = zext(value, b + sh, sw);
            m.wire(&name, Ty::unsigned(sw), e);
            m.note(&name, format!("read-out at step 2^{sh}"));
            Expr::name(&name)
        })
        .collect();
    // Shift values past the largest select the largest.
    let mut padded = options;
    let last = padded.last().unwrap().clone();
    padded.resize(1 << shift_w, last);
    m.assign(
        LValue::net("read_out"),
        crate::ir::expr::select(&p.shift, shift_w, padded),
    );
    design.add(m);
    Block {
        module: ADC_NAME.into(),
        io,
    }
}

interface! {
    /// Bit-serial accumulation of a macro's read-outs.
    ShiftAccIo {
        clk: One, en: One, first_phase: One, msb: One, read_out: One, pop: Opt, y: One,
    }
}

pub fn shift_accumulate_name(lanes: u32, plain: bool) -> String {
    if plain {
        format!("shift_accumulate_plain_{lanes}")
    } else {
        format!("shift_accumulate_{lanes}")
    }
}

/// Bit-serial shift-accumulate of SPEC section 2 for `lanes` columns:
/// `Y = sum_t w_t * sum_h (2A - N)`, planes most significant first, so each
/// new plane doubles the running sum instead of shifting the term. With
/// signed activations the first (MSB) plane is subtracted. The dense
/// engine's 0/1 cells add A itself (`plain`): no input popcount.
pub fn shift_accumulate(design: &mut Design, ctx: &Ctx, lanes: u32) -> Block<ShiftAccIo<PortSpec>> {
    let plain = ctx.c.is_dense();
    let sw = ctx.d.col_sum_bits;
    let yw = ctx.d.column_bits;
    let io = ShiftAccIo {
        clk: input(1),
        en: input(1),
        first_phase: input(1),
        msb: input(1),
        read_out: input(lanes * sw),
        pop: (!plain).then(|| input(sw)),
        y: output(lanes * yw),
    };
    let name = shift_accumulate_name(lanes, plain);
    let mut m = Module::new(&name);
    m.role(Role::ShiftAccumulate);
    m.doc(if plain {
        format!("Shift-accumulate of {lanes} columns of 0/1 cells: A per phase, MSB plane first.")
    } else {
        format!("Shift-accumulate of {lanes} columns: 2A - N per phase, MSB plane first.")
    });
    let p = io.declare(&mut m);
    // With the input popcount, `base + s (2A - N)` (s = -1 on a signed MSB
    // plane, else +1) is formed as `base + (2A ^ M) + (N ^ ~M) + 1` with M
    // all s < 0 bits: a row of full adders and one carry-propagate adder,
    // the 1 in the carry row's free low bit, instead of a subtraction, a
    // negation and an addition in a chain (the negated N is shared).
    let negate = ctx.c.act_signed.then(|| Expr::repeat(yw, p.msb.clone()));
    let pop_row = p.pop.as_ref().map(|pop| {
        let n = zext(pop.clone(), sw, yw);
        let flipped = match &negate {
            Some(mask) => n.xor(mask.clone().not()),
            None => n.not(),
        };
        m.wire("pop_row", Ty::unsigned(yw), flipped)
    });
    let mut body = Vec::new();
    let mut outs = Vec::new();
    for k in 0..lanes {
        let acc = m.reg(&format!("acc_{k}"), Ty::unsigned(yw));
        let a = Expr::slice("read_out", k * sw, sw);
        let doubled = Expr::concat(vec![
            Expr::slice(&format!("acc_{k}"), 0, yw - 1),
            Expr::zero(1),
        ]);
        let base = Expr::mux(
            p.first_phase.clone(),
            Expr::mux(p.msb.clone(), Expr::zero(yw), doubled),
            acc.clone(),
        );
        let next = match &pop_row {
            // The pop row is the net `pop_row`, shared by every lane.
            Some(_) => {
                let twice_a = zext(Expr::concat(vec![a, Expr::zero(1)]), sw + 1, yw);
                let a_row = match &negate {
                    Some(mask) => twice_a.xor(mask.clone()),
                    None => twice_a,
                };
                let rows = vec![
                    format!("base_{k}"),
                    format!("a_row_{k}"),
                    "pop_row".to_string(),
                ];
                m.wire(&rows[0], Ty::unsigned(yw), base);
                m.wire(&rows[1], Ty::unsigned(yw), a_row);
                let rows = carry_save_reduce(&mut m, &format!("csa_{k}"), rows, yw, true);
                Expr::name(&rows[0]).add(Expr::name(&rows[1]))
            }
            None => {
                let term = zext(a, sw, yw);
                let signed_term = match &negate {
                    Some(_) => Expr::mux(p.msb.clone(), Expr::zero(yw).sub(term.clone()), term),
                    None => term,
                };
                base.add(signed_term)
            }
        };
        body.push(nb(LValue::net(format!("acc_{k}")), next));
        outs.push(acc);
    }
    m.always("clk", vec![if_(p.en, body)]);
    outs.reverse();
    m.assign(LValue::net("y"), Expr::concat(outs));
    design.add(m);
    Block { module: name, io }
}

/// Reduces `rows` (nets of `w` bits) with 3:2 carry-save adders to two
/// vectors whose sum is theirs modulo 2^w; wires `{prefix}_s{level}_{k}`
/// (sums) and `{prefix}_c{level}_{k}_sh` (carries, shifted up). With
/// `carry_in` the first carry vector's free low bit is 1: the two vectors
/// then sum to the rows plus one.
pub fn carry_save_reduce(
    m: &mut Module,
    prefix: &str,
    mut rows: Vec<String>,
    w: u32,
    carry_in: bool,
) -> Vec<String> {
    let mut level = 0;
    while rows.len() > 2 {
        level += 1;
        let mut next = Vec::new();
        for (k, chunk) in rows.chunks(3).enumerate() {
            if let [x, y, z] = chunk {
                let (x, y, z) = (Expr::name(x), Expr::name(y), Expr::name(z));
                let sum = format!("{prefix}_s{level}_{k}");
                m.wire(&sum, Ty::unsigned(w), x.xor(y).xor(z));
                // The carry out of bit j weighs 2^(j+1): the top bit's
                // falls off (modulo 2^w).
                let low = |n: &str| Expr::slice(n, 0, w - 1);
                let (x, y, z) = (low(&chunk[0]), low(&chunk[1]), low(&chunk[2]));
                let carry = x.clone().and(y.clone()).or(x.and(z.clone())).or(y.and(z));
                let cn = format!("{prefix}_c{level}_{k}");
                m.wire(&cn, Ty::unsigned(w - 1), carry);
                let shifted = format!("{cn}_sh");
                let low_bit = Expr::one_bit(carry_in && level == 1 && k == 0);
                m.wire(
                    &shifted,
                    Ty::unsigned(w),
                    Expr::concat(vec![Expr::name(&cn), low_bit]),
                );
                next.push(sum);
                next.push(shifted);
            } else {
                next.extend(chunk.iter().cloned());
            }
        }
        rows = next;
    }
    rows
}

/// Sign-extends lane `lane` of a packed bus of `width`-bit lanes to `to` bits.
pub fn lane_sext(bus: &str, lane: u32, width: u32, to: u32) -> Expr {
    sext_slice(bus, lane * width, width, to)
}
