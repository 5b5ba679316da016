//! `cim_top`: wires one pool tile, N error tiles, the pool engine and the
//! output unit to the controller and the three stream ports.

use super::array::{cim_tile, input_sequencer};
use super::control::controller;
use super::crossbar::{pool_crossbar_benes, pool_crossbar_mux};
use super::output::output_unit;
use super::pool::{
    lane_accumulator, lane_write_decoder, pool_index_decoder, pool_index_memory, pool_result_buffer,
};
use super::Ctx;
use crate::config::Crossbar;
use crate::ir::{clog2, Design, Expr, Instance, Module, Ty};

pub const TOP: &str = "cim_top";

/// Load-port targets (`load_sel`).
pub const LOAD_POOL_COLUMN: u64 = 0;
pub const LOAD_ERROR_COLUMN: u64 = 1;
pub const LOAD_LANE: u64 = 2;
pub const LOAD_SCALES: u64 = 3;

pub fn top(design: &mut Design, ctx: &Ctx) -> String {
    let (c, d) = (ctx.c, ctx.d);
    let one = Ty::unsigned(1);
    let (yw, aw, iw, p) = (d.column_bits, d.accumulator_bits, d.index_bits, c.pool);
    let ctl = controller(design, ctx);
    let seq = input_sequencer(design, ctx);
    let pool_tile = cim_tile(design, ctx, p);
    let err_tile = cim_tile(design, ctx, c.cols);
    let buffer = pool_result_buffer(design, ctx);
    let decoder = lane_write_decoder(design, ctx);
    let index_mem = pool_index_memory(design, ctx);
    let index_dec = pool_index_decoder(design, ctx);
    let (xbar, xbar_select_port) = match c.crossbar {
        Crossbar::Mux => (pool_crossbar_mux(design, ctx), "index"),
        Crossbar::Benes => (pool_crossbar_benes(design, ctx), "switches"),
    };
    let lane_acc = lane_accumulator(design, ctx);
    let out_unit = output_unit(design, ctx);

    let mut m = Module::new(TOP);
    m.doc(format!(
        "cimpool engine: 1 pool macro ({}x{p}) + {} error macros ({}x{}), {} lanes in {} groups.",
        c.rows, c.macros, c.rows, c.cols, d.lanes, d.groups
    ));
    m.doc("Ports and protocol: docs/ARCHITECTURE.md and the generated cim_top.md.");
    let clk = m.input("clk", one);
    let rst = m.input("rst", one);
    let load_valid = m.input("load_valid", one);
    m.output("load_ready", one);
    let load_sel = m.input("load_sel", Ty::unsigned(d.load_sel_bits));
    m.input("load_addr", Ty::unsigned(d.load_addr_bits));
    m.input("load_data", Ty::unsigned(d.load_data_bits));
    let in_valid = m.input("in_valid", one);
    m.output("in_ready", one);
    let in_first = m.input("in_first", one);
    let in_last = m.input("in_last", one);
    let in_data = m.input("in_data", Ty::unsigned(c.rows * c.act_bits));
    m.output("out_valid", one);
    let out_ready = m.input("out_ready", one);
    m.output("out_last", one);
    m.output("out_data", Ty::unsigned(d.out_beat_bits));

    let load_fire = m.wire("load_fire", one, load_valid.and(Expr::name("load_ready")));
    let strobe = |m: &mut Module, name: &str, sel: u64| {
        let e = load_fire
            .clone()
            .and(load_sel.clone().eq(Expr::uconst(d.load_sel_bits, sel)));
        m.wire(name, one, e)
    };
    let pool_wr = strobe(&mut m, "pool_wr", LOAD_POOL_COLUMN);
    let err_wr = strobe(&mut m, "err_wr", LOAD_ERROR_COLUMN);
    let lane_wr = strobe(&mut m, "lane_wr", LOAD_LANE);
    let scale_wr = strobe(&mut m, "scale_wr", LOAD_SCALES);

    // Control signals from the controller.
    let w = |m: &mut Module, n: &str, width: u32| m.wire_decl(n, Ty::unsigned(width));
    let seq_load = w(&mut m, "seq_load", 1);
    let plane = (c.act_bits > 1).then(|| w(&mut m, "plane", clog2(c.act_bits as u64)));
    let phase = (d.phases > 1).then(|| w(&mut m, "phase", clog2(d.phases as u64)));
    let issue_en = w(&mut m, "issue_en", 1);
    let acc_en = w(&mut m, "acc_en", 1);
    let first_phase = w(&mut m, "first_phase", 1);
    let msb = w(&mut m, "msb", 1);
    let commit = w(&mut m, "commit", 1);
    let commit_first = w(&mut m, "commit_first", 1);
    let group_en = w(&mut m, "group_en", d.groups);
    let group_first = w(&mut m, "group_first", 1);
    let xbar_step =
        (d.crossbar_steps > 1).then(|| w(&mut m, "xbar_step", clog2(d.crossbar_steps as u64)));
    let beat = (d.out_beats > 1).then(|| w(&mut m, "beat", clog2(d.out_beats as u64)));
    let beat_load = w(&mut m, "beat_load", 1);
    let mut ci = Instance::new(&ctl, "controller")
        .conn("clk", clk.clone())
        .conn("rst", rst)
        .conn("in_valid", in_valid)
        .conn("in_first", in_first)
        .conn("in_last", in_last)
        .conn("out_ready", out_ready)
        .conn("in_ready", Expr::name("in_ready"))
        .conn("load_ready", Expr::name("load_ready"))
        .conn("out_valid", Expr::name("out_valid"))
        .conn("out_last", Expr::name("out_last"))
        .conn("seq_load", seq_load.clone());
    if let Some(pl) = &plane {
        ci = ci.conn("plane", pl.clone());
    }
    if let Some(ph) = &phase {
        ci = ci.conn("phase", ph.clone());
    }
    ci = ci
        .conn("issue_en", issue_en.clone())
        .conn("acc_en", acc_en.clone())
        .conn("first_phase", first_phase.clone())
        .conn("msb", msb.clone())
        .conn("commit", commit.clone())
        .conn("commit_first", commit_first.clone())
        .conn("group_en", group_en)
        .conn("group_first", group_first.clone());
    if let Some(step) = &xbar_step {
        ci = ci.conn("xbar_step", step.clone());
    }
    if let Some(b) = &beat {
        ci = ci.conn("beat", b.clone());
    }
    m.instance(ci.conn("beat_load", beat_load.clone()));

    // Input sequencer: word lines and input popcount shared by all macros.
    let wl = w(&mut m, "wl", c.wl_parallel);
    let pop = w(&mut m, "pop", d.col_sum_bits);
    let mut si = Instance::new(&seq, "sequencer")
        .conn("clk", clk.clone())
        .conn("load", seq_load)
        .conn("in_data", in_data);
    if let Some(pl) = &plane {
        si = si.conn("plane", pl.clone());
    }
    if let Some(ph) = &phase {
        si = si.conn("phase", ph.clone());
    }
    m.instance(
        si.conn("en", issue_en.clone())
            .conn("wl", wl.clone())
            .conn("pop", pop.clone()),
    );

    // Tiles: the pool tile and the error tiles share one module when P == C.
    let tw = ctx.tile_id_bits();
    let tile = |name: String,
                module: &str,
                id: u32,
                wr_req: Expr,
                wr_tile: Expr,
                wr_col: Expr,
                y: Expr| {
        let mut t = Instance::new(module, name)
            .param("TILE_ID", tw, id as u64)
            .conn("clk", clk.clone())
            .conn("wr_req", wr_req)
            .conn("wr_tile", wr_tile)
            .conn("wr_col", wr_col)
            .conn("wr_data", Expr::slice("load_data", 0, c.rows))
            .conn("issue_en", issue_en.clone())
            .conn("wl", wl.clone());
        if let Some(ph) = &phase {
            t = t.conn("phase", ph.clone());
        }
        t.conn("acc_en", acc_en.clone())
            .conn("first_phase", first_phase.clone())
            .conn("msb", msb.clone())
            .conn("pop", pop.clone())
            .conn("y", y)
    };
    let pool_y = w(&mut m, "pool_y", p * yw);
    let pool_col = Expr::slice("load_addr", 0, clog2(p as u64));
    m.instance(tile(
        "pool_tile".into(),
        &pool_tile,
        0,
        pool_wr,
        Expr::zero(tw),
        pool_col,
        pool_y.clone(),
    ));
    w(&mut m, "err_y", d.lanes * yw);
    let col_bits = d.col_field_bits;
    let tile_field = if d.macro_field_bits > 0 {
        Expr::slice("load_addr", col_bits, d.macro_field_bits)
    } else {
        Expr::zero(tw)
    };
    for t in 0..c.macros {
        let y = Expr::slice("err_y", t * c.cols * yw, c.cols * yw);
        let col = Expr::slice("load_addr", 0, col_bits);
        m.instance(tile(
            format!("error_tile_{t}"),
            &err_tile,
            t,
            err_wr.clone(),
            tile_field.clone(),
            col,
            y,
        ));
    }

    // Pool engine.
    let held = w(&mut m, "held_y", p * yw);
    m.instance(
        Instance::new(&buffer, "pool_buffer")
            .conn("clk", clk.clone())
            .conn("load", commit.clone())
            .conn("pool_y", pool_y)
            .conn("held_y", held.clone()),
    );
    let lane_we = w(&mut m, "lane_we", d.lanes);
    m.instance(
        Instance::new(&decoder, "lane_decoder")
            .conn("en", lane_wr)
            .conn("addr", Expr::slice("load_addr", 0, ctx.lane_addr_bits()))
            .conn("we", lane_we.clone()),
    );
    let gw = d.group_select_bits;
    let select = w(&mut m, "select", d.groups * gw);
    let mask = w(&mut m, "mask", d.lanes);
    m.instance(
        Instance::new(&index_mem, "index_memory")
            .conn("clk", clk.clone())
            .conn("we", lane_we.clone())
            .conn("wr_index", Expr::slice("load_data", 0, iw))
            .conn("wr_mask", Expr::bit("load_data", iw))
            .conn("select", select.clone())
            .conn("mask", mask),
    );
    let xbar_select = w(&mut m, "xbar_select", d.crossbar_units * gw);
    let mut di = Instance::new(&index_dec, "index_decoder");
    if let Some(step) = &xbar_step {
        di = di.conn("step", step.clone());
    }
    m.instance(di.conn("select", select).conn("xbar_select", xbar_select));
    w(&mut m, "xbar_y", d.crossbar_units * p * yw);
    for i in 0..d.crossbar_units {
        let mut xi = Instance::new(&xbar, format!("crossbar_{i}"));
        if d.crossbar_pipeline > 0 {
            xi = xi.conn("clk", clk.clone());
        }
        m.instance(
            xi.conn("pool_y", held.clone())
                .conn(xbar_select_port, Expr::slice("xbar_select", i * gw, gw))
                .conn("sel_y", Expr::slice("xbar_y", i * p * yw, p * yw)),
        );
    }
    w(&mut m, "acc_pool", d.lanes * aw);
    w(&mut m, "acc_err", d.lanes * aw);
    for g in 0..d.groups {
        let unit = g % d.crossbar_units;
        m.instance(
            Instance::new(&lane_acc, format!("lanes_{g}"))
                .conn("clk", clk.clone())
                .conn("pool_en", Expr::bit("group_en", g))
                .conn("pool_first", group_first.clone())
                .conn("sel_y", Expr::slice("xbar_y", unit * p * yw, p * yw))
                .conn("err_en", commit.clone())
                .conn("err_first", commit_first.clone())
                .conn("err_y", Expr::slice("err_y", g * p * yw, p * yw))
                .conn("mask", Expr::slice("mask", g * p, p))
                .conn("acc_pool", Expr::slice("acc_pool", g * p * aw, p * aw))
                .conn("acc_err", Expr::slice("acc_err", g * p * aw, p * aw)),
        );
    }

    // Output unit: the bias shares the lane write {bias, mask, index}.
    let mut oi = Instance::new(&out_unit, "outputs")
        .conn("clk", clk)
        .conn("lane_we", lane_we)
        .conn("wr_bias", Expr::slice("load_data", iw + 1, c.bias_bits))
        .conn("scale_we", scale_wr)
        .conn(
            "wr_scale",
            Expr::slice("load_data", 0, 2 * c.scale_bits + c.shift_bits),
        );
    if let Some(b) = beat {
        oi = oi.conn("beat", b);
    }
    m.instance(
        oi.conn("beat_load", beat_load)
            .conn("acc_pool", Expr::name("acc_pool"))
            .conn("acc_err", Expr::name("acc_err"))
            .conn("out_data", Expr::name("out_data")),
    );
    design.add(m);
    TOP.into()
}
