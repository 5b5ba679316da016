//! The pool engine of SPEC section 3 after the macros: the pool result
//! buffer, the lane configuration memory (index + mask), the pool index
//! decoder and the lane accumulators (the crossbars are in `crossbar.rs`).

use super::arith::lane_sext;
use super::Ctx;
use crate::config::Crossbar;
use crate::ir::expr::select;
use crate::ir::{clog2, if_, nb, Design, Expr, LValue, Module, Ty};

pub const POOL_RESULT_BUFFER: &str = "pool_result_buffer";

/// Holds the P pool results of one input vector while the crossbar serves
/// the lane groups, so the macros can already compute the next vector.
pub fn pool_result_buffer(design: &mut Design, ctx: &Ctx) -> String {
    let width = ctx.c.pool * ctx.d.column_bits;
    let mut m = Module::new(POOL_RESULT_BUFFER);
    m.doc("Pool results Ypool of the vector being distributed to the lanes (loaded on commit).");
    m.input("clk", Ty::unsigned(1));
    m.input("load", Ty::unsigned(1));
    m.input("pool_y", Ty::unsigned(width));
    let q = m.output("held_y", Ty::unsigned(width));
    let r = m.enabled_reg(
        "held_r",
        Ty::unsigned(width),
        "clk",
        Expr::name("load"),
        Expr::name("pool_y"),
    );
    m.assign(q, r);
    design.add(m);
    POOL_RESULT_BUFFER.into()
}

pub const LANE_WRITE_DECODER: &str = "lane_write_decoder";

/// One-hot write enables from a lane address {group, slot}; shared by every
/// per-lane memory so the address is decoded once.
pub fn lane_write_decoder(design: &mut Design, ctx: &Ctx) -> String {
    let lanes = ctx.d.lanes;
    let aw = ctx.lane_addr_bits();
    let mut m = Module::new(LANE_WRITE_DECODER);
    m.doc(format!(
        "Lane address {{group, slot}} -> one-hot write enable over {lanes} lanes."
    ));
    m.doc(format!(
        "Lane l = group * {} + slot; the slot field is {} bits.",
        ctx.c.pool, ctx.d.slot_field_bits
    ));
    m.input("en", Ty::unsigned(1));
    m.input("addr", Ty::unsigned(aw));
    let we = m.output("we", Ty::unsigned(lanes));
    let bits = (0..lanes)
        .rev()
        .map(|l| {
            let (g, s) = (l / ctx.c.pool, l % ctx.c.pool);
            let code = ((g as u64) << ctx.d.slot_field_bits) | s as u64;
            Expr::name("en").and(Expr::name("addr").eq(Expr::uconst(aw, code)))
        })
        .collect();
    m.assign(we, Expr::concat(bits));
    design.add(m);
    LANE_WRITE_DECODER.into()
}

pub const POOL_INDEX_MEMORY: &str = "pool_index_memory";

/// Per lane group: its crossbar selection (the lanes' pool indices, or the
/// Benes switch settings laid over the lanes' index fields) and per lane the
/// error mask bit.
pub fn pool_index_memory(design: &mut Design, ctx: &Ctx) -> String {
    let (lanes, iw, p) = (ctx.d.lanes, ctx.d.index_bits, ctx.c.pool);
    let gw = ctx.d.group_select_bits;
    let mut m = Module::new(POOL_INDEX_MEMORY);
    match ctx.c.crossbar {
        Crossbar::Mux => {
            m.doc(format!(
                "Pool index ({iw} bits) and error mask bit of each of the {lanes} lanes."
            ));
        }
        Crossbar::Benes => {
            m.doc(format!(
                "Per group of {p} lanes: {gw} Benes switch settings, written {iw} bits per lane slot"
            ));
            m.doc("(slot s holds settings [s*IW +: IW]); per lane: the error mask bit.");
        }
    }
    m.input("clk", Ty::unsigned(1));
    m.input("we", Ty::unsigned(lanes));
    m.input("wr_index", Ty::unsigned(iw));
    m.input("wr_mask", Ty::unsigned(1));
    let index = m.output("select", Ty::unsigned(ctx.d.groups * gw));
    let mask = m.output("mask", Ty::unsigned(lanes));
    let mut writes = Vec::new();
    let (mut idx_regs, mut mask_regs) = (Vec::new(), Vec::new());
    for g in 0..ctx.d.groups {
        let (ir, mr) = (format!("select_g{g}"), format!("mask_g{g}"));
        idx_regs.push(m.reg(&ir, Ty::unsigned(gw)));
        mask_regs.push(m.reg(&mr, Ty::unsigned(p)));
        for s in 0..p {
            let mut body = Vec::new();
            // The last slots of a Benes group hold fewer (or no) settings.
            let held = gw.saturating_sub(s * iw).min(iw);
            if held > 0 {
                let data = if held == iw {
                    Expr::name("wr_index")
                } else {
                    Expr::slice("wr_index", 0, held)
                };
                body.push(nb(LValue::slice(&ir, s * iw, held), data));
            }
            body.push(nb(LValue::slice(&mr, s, 1), Expr::name("wr_mask")));
            writes.push(if_(Expr::bit("we", g * p + s), body));
        }
    }
    m.always("clk", writes);
    idx_regs.reverse();
    mask_regs.reverse();
    m.assign(index, Expr::concat(idx_regs));
    m.assign(mask, Expr::concat(mask_regs));
    design.add(m);
    POOL_INDEX_MEMORY.into()
}

pub const POOL_INDEX_DECODER: &str = "pool_index_decoder";

/// For each physical crossbar, the selection (indices or switch settings) of
/// the lane group it serves at the current crossbar step (group g = step * X
/// + crossbar).
pub fn pool_index_decoder(design: &mut Design, ctx: &Ctx) -> String {
    let (x, steps) = (ctx.d.crossbar_units, ctx.d.crossbar_steps);
    let group_w = ctx.d.group_select_bits;
    let what = match ctx.c.crossbar {
        Crossbar::Mux => "indices",
        Crossbar::Benes => "switch settings",
    };
    let mut m = Module::new(POOL_INDEX_DECODER);
    m.doc(format!(
        "Selects, for each of the {x} crossbar(s), the {what} of the group it serves this step."
    ));
    if steps > 1 {
        m.input("step", Ty::unsigned(clog2(steps as u64)));
    }
    m.input("select", Ty::unsigned(ctx.d.groups * group_w));
    let out = m.output("xbar_select", Ty::unsigned(x * group_w));
    let mut per_xbar = Vec::new();
    for i in 0..x {
        let entries: Vec<Expr> = (0..steps)
            .map(|j| Expr::slice("select", (j * x + i) * group_w, group_w))
            .collect();
        if steps == 1 {
            per_xbar.push(entries.into_iter().next().unwrap());
        } else {
            per_xbar.push(select(&Expr::name("step"), clog2(steps as u64), entries));
        }
    }
    per_xbar.reverse();
    m.assign(out, Expr::concat(per_xbar));
    design.add(m);
    POOL_INDEX_DECODER.into()
}

pub const LANE_ACCUMULATOR: &str = "lane_accumulator";

/// One lane group's accumulators across row blocks: accP += Ysel when the
/// crossbar serves the group, accE += mask ? Z : 0 on commit; `first`
/// restarts the sums.
pub fn lane_accumulator(design: &mut Design, ctx: &Ctx) -> String {
    let (p, yw, aw) = (ctx.c.pool, ctx.d.column_bits, ctx.d.accumulator_bits);
    let mut m = Module::new(LANE_ACCUMULATOR);
    m.doc(format!(
        "Accumulators of {p} lanes: pool part and masked error part, {aw} bits each."
    ));
    m.input("clk", Ty::unsigned(1));
    m.input("pool_en", Ty::unsigned(1));
    m.input("pool_first", Ty::unsigned(1));
    m.input("sel_y", Ty::unsigned(p * yw));
    m.input("err_en", Ty::unsigned(1));
    m.input("err_first", Ty::unsigned(1));
    m.input("err_y", Ty::unsigned(p * yw));
    m.input("mask", Ty::unsigned(p));
    let acc_pool = m.output("acc_pool", Ty::unsigned(p * aw));
    let acc_err = m.output("acc_err", Ty::unsigned(p * aw));
    let (mut pool_body, mut err_body) = (Vec::new(), Vec::new());
    let (mut pool_regs, mut err_regs) = (Vec::new(), Vec::new());
    for l in 0..p {
        let (pr, er) = (format!("acc_pool_{l}"), format!("acc_err_{l}"));
        let accp = m.reg(&pr, Ty::unsigned(aw));
        let acce = m.reg(&er, Ty::unsigned(aw));
        let pool_base = Expr::mux(Expr::name("pool_first"), Expr::zero(aw), accp.clone());
        pool_body.push(nb(
            LValue::net(&pr),
            pool_base.add(lane_sext("sel_y", l, yw, aw)),
        ));
        let err_base = Expr::mux(Expr::name("err_first"), Expr::zero(aw), acce.clone());
        let err_term = Expr::mux(
            Expr::bit("mask", l),
            lane_sext("err_y", l, yw, aw),
            Expr::zero(aw),
        );
        err_body.push(nb(LValue::net(&er), err_base.add(err_term)));
        pool_regs.push(accp);
        err_regs.push(acce);
    }
    m.always("clk", vec![if_(Expr::name("pool_en"), pool_body)]);
    m.always("clk", vec![if_(Expr::name("err_en"), err_body)]);
    pool_regs.reverse();
    err_regs.reverse();
    m.assign(acc_pool, Expr::concat(pool_regs));
    m.assign(acc_err, Expr::concat(err_regs));
    design.add(m);
    LANE_ACCUMULATOR.into()
}
