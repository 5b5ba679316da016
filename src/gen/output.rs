//! Requantization (SPEC section 3, "Output") and the output unit that
//! serializes the lanes into beats.

use super::arith::carry_save_reduce;
use super::iface::{input, interface, output, Block, PortSpec};
use super::{field, Ctx};
use crate::config::layout::{LANE, SCALES};
use crate::ir::expr::{select, sext};
use crate::ir::{clog2, if_, nb, Design, Expr, LValue, Module, Role, Ty};

pub const REQUANTIZER: &str = "requantizer";

/// Where the `output_pipeline` register stages cut the requantizer path,
/// in the order they are added: the products (the deepest logic), then the
/// beat select, the rounding shift, the sum and the sum's carry-save
/// reduction. Each stage holds its values
/// until the next one takes them (`stage_en`), so back-pressure stalls the
/// whole path and no beat is lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct OutputCuts {
    /// Registers the beat's accumulators and bias (output slot).
    pub select: bool,
    /// Registers `alpha * accP` (and `beta * accE`) in carry-save form, two
    /// vectors each, and the bias beside them.
    pub products: bool,
    /// Registers `rounded`, the value plus the rounding addend.
    pub sum: bool,
    /// Registers the rounded, shifted value before saturation.
    pub scaled: bool,
    /// Registers the sum's operands (products, bias, rounding addend)
    /// reduced by carry-save adders to two vectors, before the
    /// carry-propagate adder that forms `rounded`.
    pub reduce: bool,
}

impl OutputCuts {
    pub fn new(stages: u32) -> OutputCuts {
        OutputCuts {
            products: stages >= 1,
            select: stages >= 2,
            scaled: stages >= 3,
            sum: stages >= 4,
            reduce: stages >= 5,
        }
    }

    /// Stages inside the requantizer module (the select stage is the
    /// slot's), in data-flow order.
    fn in_requantizer(&self) -> u32 {
        self.products as u32 + self.reduce as u32 + self.sum as u32 + self.scaled as u32
    }
}

interface! {
    /// One lane's requantization.
    /// `acc_pool` is the dense engine's lane accumulator; it has no `acc_err`.
    /// `stage_en` enables the register stages inside it, in data-flow order.
    /// `half` is the rounding addend the scale register decoded from the shift.
    RequantizerIo { clk: Opt, stage_en: Opt, acc_pool: One, acc_err: Opt, bias: One, scale: One, half: Opt, y: One }
}

/// A value on the requantizer path: a register enabled by the next stage
/// enable when the path is cut here, else a wire.
struct Stages {
    next: u32,
}

impl Stages {
    fn value(&mut self, m: &mut Module, cut: bool, name: &str, ty: Ty, value: Expr) -> Expr {
        if !cut {
            return m.wire(name, ty, value);
        }
        let en = Expr::bit("stage_en", self.next);
        self.next += 1;
        m.enabled_reg(name, ty, "clk", en, value)
    }
}

/// `y = sat(relu(round_shift(alpha * accP + beta * accE + bias, s)))` for one
/// lane, with the per-layer fields read from `scale`, the scale word as the
/// load port wrote it. All arithmetic runs at the exact width of the value
/// range (`value_bits`), so the products cannot wrap; Yosys trims the sign
/// extensions back off the multipliers.
pub fn requantizer(design: &mut Design, ctx: &Ctx) -> Block<RequantizerIo<PortSpec>> {
    let scale_word = &ctx.layout().target(SCALES).data;
    let (aw, ob) = (ctx.d.accumulator_bits, ctx.c.out_bits);
    let (bb, shb) = (ctx.c.bias_bits, ctx.c.shift_bits);
    let vw = ctx.d.value_bits;
    let rw = vw + 1;
    let dense = ctx.c.is_dense();
    let cuts = OutputCuts::new(ctx.d.output_pipeline);
    let staged = cuts.in_requantizer();
    let io = RequantizerIo {
        clk: (staged > 0).then(|| input(1)),
        stage_en: (staged > 0).then(|| input(staged)),
        acc_pool: input(aw),
        acc_err: (!dense).then(|| input(aw)),
        bias: input(bb),
        scale: input(scale_word.bits()),
        half: (ctx.d.output_pipeline > 0).then(|| input(rw)),
        y: output(ob),
    };
    let mut m = Module::new(REQUANTIZER);
    m.role(Role::LaneDatapath);
    let sum = if dense {
        "alpha*acc + bias"
    } else {
        "alpha*accP + beta*accE + bias"
    };
    m.doc(format!(
        "Requantizer: {sum} at {vw} bits, round-half-up shift,"
    ));
    m.doc(format!(
        "saturation to {ob} bits, unsigned with ReLU or two's complement without (the scale word's relu bit)."
    ));
    io.declare(&mut m);
    const READ: [&str; 4] = ["alpha", "beta", "shift", "relu"];
    let others: Vec<&str> = scale_word
        .fields
        .iter()
        .map(|f| f.name.as_str())
        .filter(|n| !READ.contains(n))
        .collect();
    if !others.is_empty() {
        m.unused_ok(
            "scale",
            &format!(
                "the scale word's {} is read elsewhere (the macros' ADCs)",
                others.join(", ")
            ),
        );
    }
    let products: &[(&str, &str)] = if dense {
        &[("alpha", "acc_pool")]
    } else {
        &[("alpha", "acc_pool"), ("beta", "acc_err")]
    };
    let mut stages = Stages { next: 0 };
    let pipelined = ctx.d.output_pipeline > 0;
    let shift = |m: &mut Module| {
        m.wire(
            "shift",
            Ty::unsigned(shb),
            field("scale", scale_word, "shift"),
        )
    };
    if cuts.reduce {
        // The products, the bias and the rounding addend at `rw` bits
        // (exact there too), reduced to two vectors and registered; the
        // carry-propagate adder of `rounded` follows in the next stage.
        let operands = scaled_operands(&mut m, ctx, products, rw, cuts, &mut stages);
        let rounded = reduced_sum(&mut m, operands, rw, &mut stages);
        let shift = shift(&mut m);
        let scaled = shifted_rounded(&mut m, vw, rounded, shift, shb, cuts, &mut stages);
        m.note(
            "rounded",
            format!(
                "{} + the rounding addend, exact at {rw} bits",
                sum.replace('*', " * ")
            ),
        );
        stages.value(&mut m, cuts.scaled, "scaled", Ty::signed(rw), scaled);
    } else {
        let operands = scaled_operands(&mut m, ctx, products, vw, cuts, &mut stages);
        let value = operands
            .into_iter()
            .reduce(|acc, x| x.add(acc))
            .expect("a bias operand");
        m.wire("value", Ty::signed(vw), value);
        m.note(
            "value",
            format!(
                "exact: {vw} bits hold {} for every input",
                sum.replace('*', " * ")
            ),
        );
        let shift = shift(&mut m);
        if pipelined {
            // The rounding addend joins the sum (one more operand of the same
            // multi-operand adder), so the stage after it only shifts.
            let v = m.wire("value_r", Ty::signed(rw), sext("value", vw, rw));
            let rounded = v.add(Expr::name("half"));
            let scaled = shifted_rounded(&mut m, vw, rounded, shift, shb, cuts, &mut stages);
            stages.value(&mut m, cuts.scaled, "scaled", Ty::signed(rw), scaled);
        } else {
            let scaled = rounding_shift(&mut m, vw, shift, shb);
            m.wire("scaled", Ty::signed(rw), scaled);
        }
    }
    if staged > 0 {
        m.doc(format!(
            "{staged} register stage(s) on the path (output_pipeline), enabled by stage_en in data-flow order."
        ));
    }
    let relu = m.wire("relu", Ty::unsigned(1), field("scale", scale_word, "relu"));
    let out = saturate(&mut m, relu, rw, ob);
    m.assign(LValue::net("y"), out);
    design.add(m);
    Block {
        module: REQUANTIZER.into(),
        io,
    }
}

/// The operands of `sum of scale_field * accumulator + bias` at `w` bits,
/// each sign-extended to that width: the products cannot wrap. A products
/// cut registers the products and the bias beside them in one stage; with
/// a reduce cut after it, each carry-save product stays two vectors (plus
/// its correction, collected into one constant operand) for the sum's
/// carry-save reduction, else it is summed into `{scale}_term`. The bias
/// comes first.
fn scaled_operands(
    m: &mut Module,
    ctx: &Ctx,
    products: &[(&str, &str)],
    w: u32,
    cuts: OutputCuts,
    stages: &mut Stages,
) -> Vec<Expr> {
    let scale_word = &ctx.layout().target(SCALES).data;
    let (aw, sb, bb) = (ctx.d.accumulator_bits, ctx.c.scale_bits, ctx.c.bias_bits);
    let en = Expr::bit("stage_en", stages.next);
    let stage = |m: &mut Module, name: &str, ty: Ty, value: Expr| {
        if cuts.products {
            m.enabled_reg(name, ty, "clk", en.clone(), value)
        } else {
            m.wire(name, ty, value)
        }
    };
    let mut operands = vec![stage(m, "bias_x", Ty::signed(w), sext("bias", bb, w))];
    let mut corrections = 0;
    // A products cut registers each product in carry-save form (two
    // vectors whose sum is the product), so the carry-propagate addition
    // joins the sum stage's multi-operand adder: a whole 16 x 19 bit
    // product was 30 cells deep in osu018, two half products 28; in
    // carry-save form the stage left the critical paths.
    let carry_save = cuts.products && sb >= 2;
    for &(scale, acc) in products.iter().rev() {
        m.wire(scale, Ty::unsigned(sb), field("scale", scale_word, scale));
        if carry_save {
            let vectors = carry_save_product(m, scale, acc, (sb, aw, w), &en);
            if cuts.reduce {
                operands.extend(vectors);
                corrections += 1;
            } else {
                // The negated sign row's + 1.
                let mut total = Expr::concat(vec![Expr::zero(w - 1), Expr::one_bit(true)]);
                for v in vectors {
                    total = v.add(total);
                }
                operands.push(m.wire(&format!("{scale}_term"), Ty::signed(w), total));
            }
            continue;
        }
        let s = m.wire(&format!("{scale}_x"), Ty::signed(w), sext(scale, sb, w));
        let a = m.wire(&format!("{acc}_x"), Ty::signed(w), sext(acc, aw, w));
        operands.push(stage(m, &format!("{scale}_term"), Ty::signed(w), s.mul(a)));
    }
    if corrections > 0 {
        operands.push(Expr::uconst(w, corrections));
    }
    stages.next += cuts.products as u32;
    operands
}

/// `scale * acc` (both signed) at `w` bits, modulo 2^w (exact: the
/// product fits): one row `acc << i` per scale bit, the sign bit's row
/// negated (`~row`, its `+ 1` left to the caller), reduced by 3:2
/// carry-save adders to two vectors, registered (enable `en`). Returns
/// the registered vectors.
fn carry_save_product(
    m: &mut Module,
    scale: &str,
    acc: &str,
    widths: (u32, u32, u32),
    en: &Expr,
) -> Vec<Expr> {
    let (sb, aw, w) = widths;
    m.wire(&format!("{acc}_x"), Ty::unsigned(w), sext(acc, aw, w));
    let shifted = |i: u32| -> Expr {
        if i == 0 {
            Expr::name(&format!("{acc}_x"))
        } else {
            Expr::concat(vec![
                Expr::slice(&format!("{acc}_x"), 0, w - i),
                Expr::zero(i),
            ])
        }
    };
    let mut rows: Vec<String> = Vec::new();
    for i in 0..sb {
        let masked = Expr::repeat(w, Expr::bit(scale, i)).and(shifted(i));
        let row = if i == sb - 1 { masked.not() } else { masked };
        let name = format!("{scale}_row_{i}");
        m.wire(&name, Ty::unsigned(w), row);
        rows.push(name);
    }
    let rows = carry_save_reduce(m, scale, rows, w, false);
    rows.into_iter()
        .enumerate()
        .map(|(k, row)| {
            let r = format!("{scale}_cs{k}");
            m.enabled_reg(&r, Ty::unsigned(w), "clk", en.clone(), Expr::name(&row))
        })
        .collect()
}

/// The reduce cut: `operands` and the rounding addend `half` (all `w` bits)
/// reduced by carry-save adders to two vectors, registered by the next
/// stage enable; returns their sum, which is `rounded`.
fn reduced_sum(m: &mut Module, operands: Vec<Expr>, w: u32, stages: &mut Stages) -> Expr {
    let mut rows = Vec::new();
    for (i, op) in operands.into_iter().chain([Expr::name("half")]).enumerate() {
        let name = format!("sum_op_{i}");
        m.wire(&name, Ty::unsigned(w), op);
        rows.push(name);
    }
    let rows = carry_save_reduce(m, "sum", rows, w, false);
    let en = Expr::bit("stage_en", stages.next);
    stages.next += 1;
    let mut total: Option<Expr> = None;
    for (k, row) in rows.into_iter().enumerate() {
        let r = m.enabled_reg(
            &format!("sum_cs{k}"),
            Ty::unsigned(w),
            "clk",
            en.clone(),
            Expr::name(&row),
        );
        total = Some(match total {
            None => r,
            Some(t) => r.add(t),
        });
    }
    total.expect("at least the bias and the addend")
}

/// `rounded` (the value plus the addend `half` the scale register decoded
/// when the word was written: 0 for a zero shift, so `rounded` is the value
/// itself then) shifted right by `shift`: the static decode and its fanout
/// leave the beat's path. A sum cut registers `rounded`.
fn shifted_rounded(
    m: &mut Module,
    vw: u32,
    rounded: Expr,
    shift: Expr,
    shb: u32,
    cuts: OutputCuts,
    stages: &mut Stages,
) -> Expr {
    let rw = vw + 1;
    let rounded = stages.value(m, cuts.sum, "rounded", Ty::signed(rw), rounded);
    let shifted = rounded.sra(shift.clone());
    if (vw as u64) < (1u64 << shb) - 1 {
        Expr::mux(
            shift.gt(Expr::uconst(shb, vw as u64)),
            m.signed_const("zero_r", rw, 0),
            shifted,
        )
    } else {
        shifted
    }
}

/// The rounding addend of a shift `s`: 0 for s = 0, else 2^(s-1), at `rw`
/// bits (0 when that is beyond them).
fn round_half(m: &mut Module, shift: Expr, shb: u32, rw: u32) -> Expr {
    let one = Expr::concat(vec![Expr::zero(rw - 1), Expr::one_bit(true)]);
    let no_shift = shift.clone().eq(Expr::uconst(shb, 0));
    let none = m.signed_const("no_half", rw, 0);
    Expr::mux(no_shift, none, one.shl(shift.sub(Expr::uconst(shb, 1))))
}

/// Round half up of `value >>> shift`: `(v + 2^(s-1)) >>> s`, one bit wider
/// so the addend fits; a shift beyond the value width rounds everything
/// to 0.
fn rounding_shift(m: &mut Module, vw: u32, shift: Expr, shb: u32) -> Expr {
    let rw = vw + 1;
    let v = m.wire("value_r", Ty::signed(rw), sext("value", vw, rw));
    let one = Expr::concat(vec![Expr::zero(rw - 1), Expr::one_bit(true)]);
    let addend = m.wire(
        "half",
        Ty::signed(rw),
        one.shl(shift.clone().sub(Expr::uconst(shb, 1))),
    );
    let sum = m.wire("rounded", Ty::signed(rw), v.clone().add(addend));
    let shifted = sum.sra(shift.clone());
    let no_shift = shift.clone().eq(Expr::uconst(shb, 0));
    let in_range = if (vw as u64) < (1u64 << shb) - 1 {
        Expr::mux(
            shift.gt(Expr::uconst(shb, vw as u64)),
            m.signed_const("zero_r", rw, 0),
            shifted,
        )
    } else {
        shifted
    };
    Expr::mux(no_shift, v, in_range)
}

/// `scaled` (`rw` bits) saturated to `ob` output bits: unsigned with ReLU,
/// two's complement without, per layer by the `relu` bit. Every bit of
/// `scaled` is compared, so no value wraps.
fn saturate(m: &mut Module, relu: Expr, rw: u32, ob: u32) -> Expr {
    let fits = |x: i64| rw >= 64 || (x >= -(1i64 << (rw - 1)) && x < (1i64 << (rw - 1)));
    let bound = |m: &mut Module, name: &str, x: i64, below: bool| -> Expr {
        if !fits(x) {
            return Expr::zero(1);
        }
        let c = m.signed_const(&format!("{name}_r"), rw, x);
        if below {
            Expr::name("scaled").lt(c)
        } else {
            Expr::name("scaled").gt(c)
        }
    };
    let signed_min = -(1i64 << (ob - 1));
    let (unsigned_max, signed_max) = ((1i64 << ob) - 1, (1i64 << (ob - 1)) - 1);
    let under_signed = bound(m, "out_min", signed_min, true);
    let over_signed = bound(m, "out_max", signed_max, false);
    let over_unsigned = bound(m, "out_umax", unsigned_max, false);
    let under = m.wire(
        "under",
        Ty::unsigned(1),
        Expr::mux(relu.clone(), Expr::bit("scaled", rw - 1), under_signed),
    );
    m.note(
        "under",
        "below the output range: 0 with ReLU, -2^(out_bits-1) without",
    );
    let over = m.wire(
        "over",
        Ty::unsigned(1),
        Expr::mux(relu.clone(), over_unsigned, over_signed),
    );
    m.note(
        "over",
        "above the output range: 2^out_bits - 1 with ReLU, 2^(out_bits-1) - 1 without",
    );
    let body = if rw >= ob {
        Expr::slice("scaled", 0, ob)
    } else {
        sext("scaled", rw, ob)
    };
    let low = Expr::mux(
        relu.clone(),
        Expr::uconst(ob, 0),
        Expr::uconst(ob, (signed_min as u64) & mask(ob)),
    );
    let high = Expr::mux(
        relu,
        Expr::uconst(ob, (unsigned_max as u64) & mask(ob)),
        Expr::uconst(ob, (signed_max as u64) & mask(ob)),
    );
    Expr::mux(under, low, Expr::mux(over, high, body))
}

fn mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1 << bits) - 1
    }
}

pub const OUTPUT_SLOT: &str = "output_slot";

interface! {
    /// The lanes one requantizer serves, one per beat.
    OutputSlotIo {
        clk: One, bias_we: One, wr_bias: One, beat: Opt, stage_en: Opt,
        acc_pool: One, acc_err: Opt, scale: One, half: Opt, y: One,
    }
}

/// Requantizer slot i of the output unit: it serves lane k*out_lanes + i in
/// beat k. It holds those lanes' biases and picks the current beat's lane.
fn output_slot(design: &mut Design, ctx: &Ctx) -> Block<OutputSlotIo<PortSpec>> {
    let rq = requantizer(design, ctx);
    let (beats, aw, bb, ob) = (
        ctx.d.out_beats,
        ctx.d.accumulator_bits,
        ctx.c.bias_bits,
        ctx.c.out_bits,
    );
    let io = OutputSlotIo {
        clk: input(1),
        bias_we: input(beats),
        wr_bias: input(bb),
        beat: ctx.d.beat_bits.map(input),
        stage_en: (ctx.d.output_pipeline > 0).then(|| input(ctx.d.output_pipeline)),
        acc_pool: input(beats * aw),
        acc_err: (!ctx.c.is_dense()).then(|| input(beats * aw)),
        scale: input(ctx.layout().target(SCALES).data.bits()),
        half: (ctx.d.output_pipeline > 0).then(|| input(ctx.d.value_bits + 1)),
        y: output(ob),
    };
    let mut m = Module::new(OUTPUT_SLOT);
    m.role(Role::LaneDatapath);
    m.doc(format!(
        "One requantizer and the biases of the {beats} lane(s) it serves, one per output beat:"
    ));
    m.doc("lane k of the inputs (bits [k*W +: W]) is requantized in beat k.");
    let p = io.declare(&mut m);
    let mut writes = Vec::new();
    for k in 0..beats {
        let r = format!("bias_{k}");
        m.reg(&r, Ty::unsigned(bb));
        writes.push(if_(
            Expr::bit("bias_we", k),
            vec![nb(LValue::net(&r), p.wr_bias.clone())],
        ));
    }
    m.always("clk", writes);
    // The select stage, when cut, is the first of the path's stages.
    let cuts = OutputCuts::new(ctx.d.output_pipeline);
    let pick = |m: &mut Module, name: &str, entries: Vec<Expr>, width: u32| -> Expr {
        let e = match &p.beat {
            None => entries.into_iter().next().unwrap(),
            Some(beat) => {
                let e = select(beat, clog2(beats as u64), entries);
                m.wire(name, Ty::unsigned(width), e)
            }
        };
        if cuts.select {
            let en = Expr::bit("stage_en", 0);
            m.enabled_reg(&format!("{name}_r"), Ty::unsigned(width), "clk", en, e)
        } else {
            e
        }
    };
    let lane = |bus: &str, w: u32| (0..beats).map(|k| Expr::slice(bus, k * w, w)).collect();
    let accp = pick(&mut m, "beat_acc_pool", lane("acc_pool", aw), aw);
    let acce = p
        .acc_err
        .as_ref()
        .map(|_| pick(&mut m, "beat_acc_err", lane("acc_err", aw), aw));
    let biases = (0..beats)
        .map(|k| Expr::name(&format!("bias_{k}")))
        .collect();
    let bias = pick(&mut m, "beat_bias", biases, bb);
    let first = cuts.select as u32;
    let inner = ctx.d.output_pipeline - first;
    m.instance(rq.instance(
        "requant",
        RequantizerIo {
            clk: (inner > 0).then(|| p.clk.clone()),
            stage_en: (inner > 0).then(|| Expr::slice("stage_en", first, inner)),
            acc_pool: accp,
            acc_err: acce,
            bias,
            scale: p.scale,
            half: p.half,
            y: p.y,
        },
    ));
    design.add(m);
    Block {
        module: OUTPUT_SLOT.into(),
        io,
    }
}

pub const SCALE_REGISTER: &str = "scale_register";

interface! {
    /// The per-layer scale word.
    /// `half`: the rounding addend of the shift, decoded when the word is
    /// written (pipelined requantizers only).
    ScaleRegisterIo { clk: One, we: One, wr_scale: One, scale: One, half: Opt }
}

/// The layer's scale word as last written through the load port: the
/// requantizers read alpha, beta, shift and relu from it, the macros' ADCs
/// the run-time step.
pub fn scale_register(design: &mut Design, ctx: &Ctx) -> Block<ScaleRegisterIo<PortSpec>> {
    let word = &ctx.layout().target(SCALES).data;
    let io = ScaleRegisterIo {
        clk: input(1),
        we: input(1),
        wr_scale: input(word.bits()),
        scale: output(word.bits()),
        half: (ctx.d.output_pipeline > 0).then(|| output(ctx.d.value_bits + 1)),
    };
    let mut m = Module::new(SCALE_REGISTER);
    m.role(Role::Control);
    let fields: Vec<String> = word
        .fields
        .iter()
        .map(|f| format!("{} [{}:{}]", f.name, f.lsb + f.width - 1, f.lsb))
        .collect();
    m.doc(format!("The layer's scale word: {}.", fields.join(", ")));
    let p = io.declare(&mut m);
    let r = m.enabled_reg(
        "scale_r",
        Ty::unsigned(word.bits()),
        "clk",
        p.we.clone(),
        p.wr_scale,
    );
    m.assign(LValue::net("scale"), r);
    if p.half.is_some() {
        let (shb, rw) = (ctx.c.shift_bits, ctx.d.value_bits + 1);
        let shift = m.wire(
            "wr_shift",
            Ty::unsigned(shb),
            field("wr_scale", word, "shift"),
        );
        let half = round_half(&mut m, shift, shb, rw);
        let h = m.enabled_reg("half_r", Ty::unsigned(rw), "clk", p.we, half);
        m.note(
            "half_r",
            "the requantizers' rounding addend: 2^(shift-1), 0 for shift 0",
        );
        m.assign(LValue::net("half"), h);
    }
    design.add(m);
    Block {
        module: SCALE_REGISTER.into(),
        io,
    }
}

pub const OUTPUT_UNIT: &str = "output_unit";

interface! {
    /// Per-lane biases, per-layer scales and the output beats.
    OutputUnitIo {
        clk: One, lane_we: One, wr_bias: One, scale: One, half: Opt,
        beat: Opt, stage_en: Opt, beat_load: One, acc_pool: One, acc_err: Opt, out_data: One,
    }
}

/// `out_lanes` output slots and the output data register. Beat k carries lanes k*out_lanes .. +out_lanes-1, lane
/// k*out_lanes + i in bits [i*out_bits +: out_bits].
pub fn output_unit(design: &mut Design, ctx: &Ctx) -> Block<OutputUnitIo<PortSpec>> {
    let slot = output_slot(design, ctx);
    let scale_word = &ctx.layout().target(SCALES).data;
    let bias = ctx.layout().target(LANE).data.get("bias");
    let (lanes, ol, beats) = (ctx.d.lanes, ctx.d.out_lanes, ctx.d.out_beats);
    let (aw, ob) = (ctx.d.accumulator_bits, ctx.c.out_bits);
    let io = OutputUnitIo {
        clk: input(1),
        lane_we: input(lanes),
        wr_bias: input(bias.width),
        scale: input(scale_word.bits()),
        half: (ctx.d.output_pipeline > 0).then(|| input(ctx.d.value_bits + 1)),
        beat: ctx.d.beat_bits.map(input),
        stage_en: (ctx.d.output_pipeline > 0).then(|| input(ctx.d.output_pipeline)),
        beat_load: input(1),
        acc_pool: input(lanes * aw),
        acc_err: (!ctx.c.is_dense()).then(|| input(lanes * aw)),
        out_data: output(ol * ob),
    };
    let mut m = Module::new(OUTPUT_UNIT);
    m.role(Role::LaneDatapath);
    m.doc(format!(
        "Output unit: {ol} requantizers serve {lanes} lanes in {beats} beat(s)."
    ));
    let p = io.declare(&mut m);
    // Slot i serves lanes i, i + ol, i + 2 ol, ...: gather their buses.
    let gather = |bus: &str, i: u32, w: u32| {
        Expr::concat(
            (0..beats)
                .rev()
                .map(|k| Expr::slice(bus, (k * ol + i) * w, w))
                .collect(),
        )
    };
    let mut ys = Vec::new();
    for i in 0..ol {
        let y = m.wire_decl(&format!("y_{i}"), Ty::unsigned(ob));
        m.instance(slot.instance(
            format!("slot_{i}"),
            OutputSlotIo {
                clk: p.clk.clone(),
                bias_we: gather("lane_we", i, 1),
                wr_bias: p.wr_bias.clone(),
                beat: p.beat.clone(),
                stage_en: p.stage_en.clone(),
                acc_pool: gather("acc_pool", i, aw),
                acc_err: p.acc_err.as_ref().map(|_| gather("acc_err", i, aw)),
                scale: p.scale.clone(),
                half: p.half.clone(),
                y: y.clone(),
            },
        ));
        ys.push(y);
    }
    ys.reverse();
    let data = m.enabled_reg(
        "out_data_r",
        Ty::unsigned(ol * ob),
        "clk",
        p.beat_load,
        Expr::concat(ys),
    );
    m.note(
        "out_data_r",
        "the output beat on `out_data` while `out_valid`",
    );
    m.assign(LValue::net("out_data"), data);
    design.add(m);
    Block {
        module: OUTPUT_UNIT.into(),
        io,
    }
}
