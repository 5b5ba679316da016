//! The pool engine of SPEC section 3 after the macros: the pool result
//! buffer, the lane configuration memory (crossbar selection + mask), the
//! pool index decoder and the lane accumulators (the crossbars are in
//! `crossbar.rs`).

use super::arith::lane_sext;
use super::iface::{input, interface, output, Block, PortSpec};
use super::Ctx;
use crate::config::layout::LANE;
use crate::config::Crossbar;
use crate::ir::expr::select;
use crate::ir::{clog2, if_, nb, Design, Expr, LValue, Module, Role, Ty};

pub const POOL_RESULT_BUFFER: &str = "pool_result_buffer";

interface! {
    /// Holds one vector's pool results.
    BufferIo { clk: One, load: One, pool_y: One, held_y: One }
}

/// Holds the P pool results of one input vector while the crossbar serves
/// the lane groups, so the macros can already compute the next vector.
pub fn pool_result_buffer(design: &mut Design, ctx: &Ctx) -> Block<BufferIo<PortSpec>> {
    let width = ctx.c.pool * ctx.d.column_bits;
    let io = BufferIo {
        clk: input(1),
        load: input(1),
        pool_y: input(width),
        held_y: output(width),
    };
    let mut m = Module::new(POOL_RESULT_BUFFER);
    m.role(Role::LaneDatapath);
    m.doc("Pool results Ypool of the vector being distributed to the lanes (loaded on commit).");
    let p = io.declare(&mut m);
    let r = m.enabled_reg("held_r", Ty::unsigned(width), "clk", p.load, p.pool_y);
    m.assign(LValue::net("held_y"), r);
    design.add(m);
    Block {
        module: POOL_RESULT_BUFFER.into(),
        io,
    }
}

pub const LANE_WRITE_DECODER: &str = "lane_write_decoder";

interface! {
    /// Lane address to one-hot write enables.
    LaneDecoderIo { en: One, addr: One, we: One }
}

/// One-hot write enables from a lane address {group, slot}; shared by every
/// per-lane memory so the address is decoded once.
pub fn lane_write_decoder(design: &mut Design, ctx: &Ctx) -> Block<LaneDecoderIo<PortSpec>> {
    let lanes = ctx.d.lanes;
    let addr = &ctx.layout().target(LANE).addr;
    let aw = addr.bits();
    let io = LaneDecoderIo {
        en: input(1),
        addr: input(aw),
        we: output(lanes),
    };
    let mut m = Module::new(LANE_WRITE_DECODER);
    let dense = ctx.c.is_dense();
    if dense {
        // The dense engine's lane words hold only biases.
        m.role(Role::Control);
        m.doc(format!(
            "Lane address -> one-hot write enable over {lanes} lanes."
        ));
    } else {
        m.role(Role::IndexMemory);
        m.doc(format!(
            "Lane address {{group, slot}} -> one-hot write enable over {lanes} lanes."
        ));
        m.doc(format!(
            "Lane l = group * {} + slot; the slot field is {} bits.",
            ctx.c.pool,
            addr.get("slot").width
        ));
    }
    let p = io.declare(&mut m);
    let bits = (0..lanes)
        .rev()
        .map(|l| {
            let code = if dense {
                (l as u64) << addr.get("lane").lsb
            } else {
                let (g, s) = (l / ctx.c.pool, l % ctx.c.pool);
                (g as u64) << addr.get("group").lsb | (s as u64) << addr.get("slot").lsb
            };
            p.en.clone().and(p.addr.clone().eq(Expr::uconst(aw, code)))
        })
        .collect();
    m.assign(LValue::net("we"), Expr::concat(bits));
    design.add(m);
    Block {
        module: LANE_WRITE_DECODER.into(),
        io,
    }
}

pub const POOL_INDEX_GROUP: &str = "pool_index_group";
pub const POOL_INDEX_MEMORY: &str = "pool_index_memory";

interface! {
    /// Crossbar selection and masks of lane groups.
    IndexMemoryIo { clk: One, we: One, wr_select: One, wr_mask: One, select: One, mask: One }
}

/// The lane-word memory of one group of P lanes: its crossbar selection
/// (the lanes' pool indices, or the Benes switch settings laid over the
/// lanes' index fields) and one error mask bit per lane.
fn pool_index_group(design: &mut Design, ctx: &Ctx) -> Block<IndexMemoryIo<PortSpec>> {
    let (iw, p) = (ctx.d.index_bits, ctx.c.pool);
    let gw = ctx.d.group_select_bits;
    let io = IndexMemoryIo {
        clk: input(1),
        we: input(p),
        wr_select: input(iw),
        wr_mask: input(1),
        select: output(gw),
        mask: output(p),
    };
    let mut m = Module::new(POOL_INDEX_GROUP);
    m.role(Role::IndexMemory);
    match ctx.c.crossbar {
        Crossbar::Mux => m.doc(format!(
            "Pool index ({iw} bits) and error mask bit of each of the {p} lanes of a group."
        )),
        Crossbar::Benes => m
            .doc(format!(
                "The group's {gw} Benes switch settings, written {iw} bits per lane slot"
            ))
            .doc("(slot s holds settings [s*IW +: IW]), and the error mask bit of each lane."),
    };
    let ports = io.declare(&mut m);
    m.reg("select_r", Ty::unsigned(gw));
    m.reg("mask_r", Ty::unsigned(p));
    let mut writes = Vec::new();
    for s in 0..p {
        let mut body = Vec::new();
        // The last slots of a Benes group hold fewer (or no) settings.
        let held = gw.saturating_sub(s * iw).min(iw);
        if held > 0 {
            let data = if held == iw {
                ports.wr_select.clone()
            } else {
                Expr::slice("wr_select", 0, held)
            };
            body.push(nb(LValue::slice("select_r", s * iw, held), data));
        }
        body.push(nb(LValue::slice("mask_r", s, 1), ports.wr_mask.clone()));
        writes.push(if_(Expr::bit("we", s), body));
    }
    m.always("clk", writes);
    m.assign(LValue::net("select"), Expr::name("select_r"));
    m.assign(LValue::net("mask"), Expr::name("mask_r"));
    design.add(m);
    Block {
        module: POOL_INDEX_GROUP.into(),
        io,
    }
}

/// Per lane group: its crossbar selection and the lanes' error masks.
pub fn pool_index_memory(design: &mut Design, ctx: &Ctx) -> Block<IndexMemoryIo<PortSpec>> {
    let group = pool_index_group(design, ctx);
    let (lanes, iw, p, groups) = (ctx.d.lanes, ctx.d.index_bits, ctx.c.pool, ctx.d.groups);
    let gw = ctx.d.group_select_bits;
    let io = IndexMemoryIo {
        clk: input(1),
        we: input(lanes),
        wr_select: input(iw),
        wr_mask: input(1),
        select: output(groups * gw),
        mask: output(lanes),
    };
    let mut m = Module::new(POOL_INDEX_MEMORY);
    m.role(Role::IndexMemory);
    m.doc(format!(
        "Crossbar selections and error masks of the {groups} lane group(s) of {p} lanes."
    ));
    let ports = io.declare(&mut m);
    for g in 0..groups {
        m.instance(group.instance(
            format!("group_{g}"),
            IndexMemoryIo {
                clk: ports.clk.clone(),
                we: Expr::slice("we", g * p, p),
                wr_select: ports.wr_select.clone(),
                wr_mask: ports.wr_mask.clone(),
                select: Expr::slice("select", g * gw, gw),
                mask: Expr::slice("mask", g * p, p),
            },
        ));
    }
    design.add(m);
    Block {
        module: POOL_INDEX_MEMORY.into(),
        io,
    }
}

pub const POOL_INDEX_DECODER: &str = "pool_index_decoder";

interface! {
    /// The selection each crossbar uses in the current step.
    IndexDecoderIo { xbar_step: Opt, select: One, xbar_select: One }
}

/// For each physical crossbar, the selection (indices or switch settings) of
/// the lane group it serves at the current crossbar step (group g = step * X
/// + crossbar).
pub fn pool_index_decoder(design: &mut Design, ctx: &Ctx) -> Block<IndexDecoderIo<PortSpec>> {
    let (x, steps) = (ctx.d.crossbar_units, ctx.d.crossbar_steps);
    let group_w = ctx.d.group_select_bits;
    let io = IndexDecoderIo {
        xbar_step: ctx.d.xbar_step_bits.map(input),
        select: input(ctx.d.groups * group_w),
        xbar_select: output(x * group_w),
    };
    let what = match ctx.c.crossbar {
        Crossbar::Mux => "indices",
        Crossbar::Benes => "switch settings",
    };
    let mut m = Module::new(POOL_INDEX_DECODER);
    m.role(Role::IndexMemory);
    m.doc(format!(
        "Selects, for each of the {x} crossbar(s), the {what} of the group it serves this step."
    ));
    let p = io.declare(&mut m);
    let mut per_xbar = Vec::new();
    for i in 0..x {
        let entries: Vec<Expr> = (0..steps)
            .map(|j| Expr::slice("select", (j * x + i) * group_w, group_w))
            .collect();
        per_xbar.push(match &p.xbar_step {
            None => entries.into_iter().next().unwrap(),
            Some(step) => select(step, clog2(steps as u64), entries),
        });
    }
    per_xbar.reverse();
    m.assign(LValue::net("xbar_select"), Expr::concat(per_xbar));
    design.add(m);
    Block {
        module: POOL_INDEX_DECODER.into(),
        io,
    }
}

pub const LANE_ACCUMULATOR: &str = "lane_accumulator";

interface! {
    /// Accumulators of one lane group.
    LaneAccIo {
        clk: One, pool_en: One, pool_first: One, sel_y: One,
        err_en: One, err_first: One, err_y: One, mask: One,
        acc_pool: One, acc_err: One,
    }
}

/// One lane group's accumulators across row blocks: accP += Ysel when the
/// crossbar serves the group, accE += mask ? Z : 0 on commit; `first`
/// restarts the sums.
pub fn lane_accumulator(design: &mut Design, ctx: &Ctx) -> Block<LaneAccIo<PortSpec>> {
    let (p, yw, aw) = (ctx.c.pool, ctx.d.column_bits, ctx.d.accumulator_bits);
    let io = LaneAccIo {
        clk: input(1),
        pool_en: input(1),
        pool_first: input(1),
        sel_y: input(p * yw),
        err_en: input(1),
        err_first: input(1),
        err_y: input(p * yw),
        mask: input(p),
        acc_pool: output(p * aw),
        acc_err: output(p * aw),
    };
    let mut m = Module::new(LANE_ACCUMULATOR);
    m.role(Role::LaneDatapath);
    m.doc(format!(
        "Accumulators of {p} lanes: pool part and masked error part, {aw} bits each."
    ));
    let ports = io.declare(&mut m);
    let (mut pool_body, mut err_body) = (Vec::new(), Vec::new());
    let (mut pool_regs, mut err_regs) = (Vec::new(), Vec::new());
    for l in 0..p {
        let (pr, er) = (format!("acc_pool_{l}"), format!("acc_err_{l}"));
        let accp = m.reg(&pr, Ty::unsigned(aw));
        let acce = m.reg(&er, Ty::unsigned(aw));
        let pool_base = Expr::mux(ports.pool_first.clone(), Expr::zero(aw), accp.clone());
        pool_body.push(nb(
            LValue::net(&pr),
            pool_base.add(lane_sext("sel_y", l, yw, aw)),
        ));
        let err_base = Expr::mux(ports.err_first.clone(), Expr::zero(aw), acce.clone());
        let err_term = Expr::mux(
            Expr::bit("mask", l),
            lane_sext("err_y", l, yw, aw),
            Expr::zero(aw),
        );
        err_body.push(nb(LValue::net(&er), err_base.add(err_term)));
        pool_regs.push(accp);
        err_regs.push(acce);
    }
    m.always("clk", vec![if_(ports.pool_en, pool_body)]);
    m.always("clk", vec![if_(ports.err_en, err_body)]);
    pool_regs.reverse();
    err_regs.reverse();
    m.assign(LValue::net("acc_pool"), Expr::concat(pool_regs));
    m.assign(LValue::net("acc_err"), Expr::concat(err_regs));
    design.add(m);
    Block {
        module: LANE_ACCUMULATOR.into(),
        io,
    }
}
