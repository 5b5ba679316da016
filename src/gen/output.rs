//! Requantization (SPEC section 3, "Output") and the output unit that
//! serializes the lanes into beats.

use super::Ctx;
use crate::ir::expr::{select, sext};
use crate::ir::{clog2, if_, nb, Design, Expr, LValue, Module, Ty};

pub const REQUANTIZER: &str = "requantizer";

/// `y = sat(relu(round_shift(alpha * accP + beta * accE + bias, s)))` for one
/// lane. All arithmetic runs at the exact width of the value range
/// (`value_bits`), so the products cannot wrap; Yosys trims the sign
/// extensions back off the multipliers.
pub fn requantizer(design: &mut Design, ctx: &Ctx) -> String {
    let (aw, sb, bb, shb, ob) = (
        ctx.d.accumulator_bits,
        ctx.c.scale_bits,
        ctx.c.bias_bits,
        ctx.c.shift_bits,
        ctx.c.out_bits,
    );
    let vw = ctx.d.value_bits;
    let rw = vw + 1;
    let mut m = Module::new(REQUANTIZER);
    m.doc(format!(
        "Requantizer: alpha*accP + beta*accE + bias at {vw} bits, round-half-up shift,"
    ));
    m.doc(format!(
        "{}saturation to {ob} bits.",
        if ctx.c.relu {
            "ReLU, unsigned "
        } else {
            "signed "
        }
    ));
    m.input("acc_pool", Ty::unsigned(aw));
    m.input("acc_err", Ty::unsigned(aw));
    m.input("bias", Ty::unsigned(bb));
    m.input("alpha", Ty::unsigned(sb));
    m.input("beta", Ty::unsigned(sb));
    m.input("shift", Ty::unsigned(shb));
    let y = m.output("y", Ty::unsigned(ob));

    let s = |n: &str, from| sext(n, from, vw);
    let alpha = m.wire("alpha_x", Ty::signed(vw), s("alpha", sb));
    let beta = m.wire("beta_x", Ty::signed(vw), s("beta", sb));
    let accp = m.wire("acc_pool_x", Ty::signed(vw), s("acc_pool", aw));
    let acce = m.wire("acc_err_x", Ty::signed(vw), s("acc_err", aw));
    let bias = m.wire("bias_x", Ty::signed(vw), s("bias", bb));
    let pp = m.wire("pool_term", Ty::signed(vw), alpha.mul(accp));
    let pe = m.wire("err_term", Ty::signed(vw), beta.mul(acce));
    m.wire("value", Ty::signed(vw), pp.add(pe).add(bias));

    // Round half up: (v + 2^(s-1)) >>> s, one bit wider so the addend fits.
    // A shift beyond the value width rounds everything to 0.
    let v = m.wire("value_r", Ty::signed(rw), sext("value", vw, rw));
    let one = Expr::concat(vec![Expr::zero(rw - 1), Expr::one_bit(true)]);
    let addend = m.wire(
        "half",
        Ty::signed(rw),
        one.shl(Expr::name("shift").sub(Expr::uconst(shb, 1))),
    );
    let sum = m.wire("rounded", Ty::signed(rw), v.clone().add(addend));
    let shifted = sum.sra(Expr::name("shift"));
    let no_shift = Expr::name("shift").eq(Expr::uconst(shb, 0));
    let in_range = if (vw as u64) < (1u64 << shb) - 1 {
        Expr::mux(
            Expr::name("shift").gt(Expr::uconst(shb, vw as u64)),
            m.signed_const("zero_r", rw, 0),
            shifted,
        )
    } else {
        shifted
    };
    let scaled = m.wire("scaled", Ty::signed(rw), Expr::mux(no_shift, v, in_range));

    // Saturate straight to out_bits so every bit of `scaled` is compared.
    let (lo, hi): (i64, i64) = if ctx.c.relu {
        (0, (1i64 << ob) - 1)
    } else {
        (-(1i64 << (ob - 1)), (1i64 << (ob - 1)) - 1)
    };
    let fits = |x: i64| rw >= 64 || (x >= -(1i64 << (rw - 1)) && x < (1i64 << (rw - 1)));
    let body = if rw >= ob {
        Expr::slice("scaled", 0, ob)
    } else {
        sext("scaled", rw, ob)
    };
    let under_cond = if lo == 0 {
        Some(Expr::bit("scaled", rw - 1))
    } else if fits(lo) {
        Some(scaled.clone().lt(m.signed_const("out_min_r", rw, lo)))
    } else {
        None
    };
    let over_cond = fits(hi).then(|| scaled.gt(m.signed_const("out_max_r", rw, hi)));
    let mut out = body;
    if let Some(c) = under_cond {
        out = Expr::mux(c, Expr::uconst(ob, (lo as u64) & mask(ob)), out);
    }
    if let Some(c) = over_cond {
        out = Expr::mux(c, Expr::uconst(ob, (hi as u64) & mask(ob)), out);
    }
    m.assign(y, out);
    design.add(m);
    REQUANTIZER.into()
}

fn mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1 << bits) - 1
    }
}

pub const OUTPUT_UNIT: &str = "output_unit";

/// Per-lane biases, the per-layer scales, `out_lanes` requantizers and the
/// output data register. Beat k carries lanes k*out_lanes .. +out_lanes-1,
/// lane k*out_lanes + i in bits [i*out_bits +: out_bits].
pub fn output_unit(design: &mut Design, ctx: &Ctx) -> String {
    let rq = requantizer(design, ctx);
    let (lanes, ol, nb_beats) = (ctx.d.lanes, ctx.d.out_lanes, ctx.d.out_beats);
    let (aw, sb, bb, shb, ob) = (
        ctx.d.accumulator_bits,
        ctx.c.scale_bits,
        ctx.c.bias_bits,
        ctx.c.shift_bits,
        ctx.c.out_bits,
    );
    let mut m = Module::new(OUTPUT_UNIT);
    m.doc(format!(
        "Output unit: {ol} requantizers serve {lanes} lanes in {nb_beats} beat(s)."
    ));
    m.doc("`scale` layout: {shift, beta, alpha} from the least significant bit up: alpha, beta, shift.");
    m.input("clk", Ty::unsigned(1));
    m.input("lane_we", Ty::unsigned(lanes));
    m.input("wr_bias", Ty::unsigned(bb));
    m.input("scale_we", Ty::unsigned(1));
    m.input("wr_scale", Ty::unsigned(2 * sb + shb));
    if nb_beats > 1 {
        m.input("beat", Ty::unsigned(clog2(nb_beats as u64)));
    }
    m.input("beat_load", Ty::unsigned(1));
    m.input("acc_pool", Ty::unsigned(lanes * aw));
    m.input("acc_err", Ty::unsigned(lanes * aw));
    let out = m.output("out_data", Ty::unsigned(ol * ob));

    let mut writes = Vec::new();
    for l in 0..lanes {
        let r = format!("bias_{l}");
        m.reg(&r, Ty::unsigned(bb));
        writes.push(if_(
            Expr::bit("lane_we", l),
            vec![nb(LValue::net(&r), Expr::name("wr_bias"))],
        ));
    }
    m.always("clk", writes);
    let alpha = m.reg("alpha_r", Ty::unsigned(sb));
    let beta = m.reg("beta_r", Ty::unsigned(sb));
    let shift = m.reg("shift_r", Ty::unsigned(shb));
    m.always(
        "clk",
        vec![if_(
            Expr::name("scale_we"),
            vec![
                nb(LValue::net("alpha_r"), Expr::slice("wr_scale", 0, sb)),
                nb(LValue::net("beta_r"), Expr::slice("wr_scale", sb, sb)),
                nb(LValue::net("shift_r"), Expr::slice("wr_scale", 2 * sb, shb)),
            ],
        )],
    );

    // Requantizer i reads lane beat * out_lanes + i.
    let select = |m: &mut Module, name: String, entries: Vec<Expr>, width: u32| -> Expr {
        if nb_beats == 1 {
            return entries.into_iter().next().unwrap();
        }
        let beat_bits = clog2(nb_beats as u64);
        m.wire(
            &name,
            Ty::unsigned(width),
            select(&Expr::name("beat"), beat_bits, entries),
        )
    };
    let mut ys = Vec::new();
    for i in 0..ol {
        let lanes_of = |k: u32| k * ol + i;
        let accp = (0..nb_beats)
            .map(|k| Expr::slice("acc_pool", lanes_of(k) * aw, aw))
            .collect();
        let acce = (0..nb_beats)
            .map(|k| Expr::slice("acc_err", lanes_of(k) * aw, aw))
            .collect();
        let bias = (0..nb_beats)
            .map(|k| Expr::name(&format!("bias_{}", lanes_of(k))))
            .collect();
        let accp = select(&mut m, format!("beat_acc_pool_{i}"), accp, aw);
        let acce = select(&mut m, format!("beat_acc_err_{i}"), acce, aw);
        let bias = select(&mut m, format!("beat_bias_{i}"), bias, bb);
        let y = m.wire_decl(&format!("y_{i}"), Ty::unsigned(ob));
        m.instance(
            crate::ir::Instance::new(&rq, format!("requant_{i}"))
                .conn("acc_pool", accp)
                .conn("acc_err", acce)
                .conn("bias", bias)
                .conn("alpha", alpha.clone())
                .conn("beta", beta.clone())
                .conn("shift", shift.clone())
                .conn("y", y.clone()),
        );
        ys.push(y);
    }
    ys.reverse();
    let data = m.enabled_reg(
        "out_data_r",
        Ty::unsigned(ol * ob),
        "clk",
        Expr::name("beat_load"),
        Expr::concat(ys),
    );
    m.assign(out, data);
    design.add(m);
    OUTPUT_UNIT.into()
}
