//! `cim_top`: wires one pool tile, N error tiles, the pool engine and the
//! output unit to the controller and the three stream ports.

use super::array::{cim_tile, input_sequencer, SequencerIo, TileIo};
use super::control::{controller, ControllerPorts, Controls};
use super::crossbar::{crossbar, CrossbarIo};
use super::iface::{input, interface, output, Block, PortSpec};
use super::output::{output_unit, scale_register, OutputUnitIo, ScaleRegisterIo};
use super::pool::{
    lane_accumulator, lane_write_decoder, pool_index_decoder, pool_index_memory,
    pool_result_buffer, BufferIo, IndexDecoderIo, IndexMemoryIo, LaneAccIo, LaneDecoderIo,
};
use super::{field, Ctx};
use crate::config::layout::{ERROR_COLUMN, LANE, POOL_COLUMN, SCALES};
use crate::ir::{Design, Expr, Module, Role, Ty};

pub const TOP: &str = "cim_top";

interface! {
    /// The engine's ports: the load port and the input and output streams.
    TopIo {
        clk: One, rst: One,
        load_valid: One, load_ready: One, load_sel: One, load_addr: One, load_data: One,
        in_valid: One, in_ready: One, in_first: One, in_last: One, in_data: One,
        out_valid: One, out_ready: One, out_last: One, out_data: One,
    }
}

pub fn top_io(ctx: &Ctx) -> TopIo<PortSpec> {
    let (c, d) = (ctx.c, ctx.d);
    TopIo {
        clk: input(1),
        rst: input(1),
        load_valid: input(1),
        load_ready: output(1),
        load_sel: input(d.load_sel_bits),
        load_addr: input(d.load_addr_bits),
        load_data: input(d.load_data_bits),
        in_valid: input(1),
        in_ready: output(1),
        in_first: input(1),
        in_last: input(1),
        in_data: input(c.rows * c.act_bits),
        out_valid: output(1),
        out_ready: input(1),
        out_last: output(1),
        out_data: output(d.out_beat_bits),
    }
}

pub fn top(design: &mut Design, ctx: &Ctx) -> Block<TopIo<PortSpec>> {
    let (c, d) = (ctx.c, ctx.d);
    let io = top_io(ctx);
    let mut m = Module::new(TOP);
    m.role(Role::Control);
    m.doc(format!(
        "cimpool engine: 1 pool macro ({}x{}) + {} error macros ({}x{}), {} lanes in {} groups.",
        c.rows, c.pool, c.macros, c.rows, c.cols, d.lanes, d.groups
    ));
    m.doc("Ports and protocol: the generated cim_top.md; design: docs/ARCHITECTURE.md.");
    let p = io.declare(&mut m);
    let ctl = control(design, ctx, &mut m, &p, None);
    layer_registers(design, ctx, &mut m, &p);
    let compute = tiles(design, ctx, &mut m, &p, &ctl);
    pool_engine(design, ctx, &mut m, &p, &ctl, compute);
    super::checks::top_checks(&mut m, ctx);
    design.add(m);
    Block {
        module: TOP.into(),
        io,
    }
}

/// Load strobes and the controller (which issues the blocks `issue_mask`
/// marks, when given); returns the control bus.
pub(super) fn control(
    design: &mut Design,
    ctx: &Ctx,
    m: &mut Module,
    p: &TopIo<Expr>,
    issue_mask: Option<Expr>,
) -> Controls<Expr> {
    let one = Ty::unsigned(1);
    let load_fire = m.wire(
        "load_fire",
        one,
        p.load_valid.clone().and(p.load_ready.clone()),
    );
    for target in &ctx.layout().targets {
        let sel = Expr::uconst(ctx.d.load_sel_bits, target.sel as u64);
        let strobe = load_fire.clone().and(p.load_sel.clone().eq(sel));
        let name = format!("{}_wr", target.name);
        m.wire(&name, one, strobe);
        m.note(
            &name,
            format!(
                "load port writes the {} (load_sel = {})",
                target.what, target.sel
            ),
        );
    }
    let ctl = controller(design, ctx);
    let bus = ctl.io.1.wires(m);
    m.instance(ctl.instance(
        "controller",
        (
            ControllerPorts {
                clk: p.clk.clone(),
                rst: p.rst.clone(),
                in_valid: p.in_valid.clone(),
                in_first: p.in_first.clone(),
                in_last: p.in_last.clone(),
                out_ready: p.out_ready.clone(),
                issue_mask,
                in_ready: p.in_ready.clone(),
                load_ready: p.load_ready.clone(),
                out_valid: p.out_valid.clone(),
                out_last: p.out_last.clone(),
            },
            bus.clone(),
        ),
    ));
    bus
}

/// The layer's scale word, read by the output unit and (its ADC step) by
/// the macros.
pub(super) fn layer_registers(design: &mut Design, ctx: &Ctx, m: &mut Module, p: &TopIo<Expr>) {
    let word = &ctx.layout().target(SCALES).data;
    let scale = m.wire_decl("scale", Ty::unsigned(word.bits()));
    let half = (ctx.d.output_pipeline > 0)
        .then(|| m.wire_decl("round_half", Ty::unsigned(ctx.d.value_bits + 1)));
    m.instance(scale_register(design, ctx).instance(
        "scales",
        ScaleRegisterIo {
            clk: p.clk.clone(),
            we: Expr::name("scales_wr"),
            wr_scale: Expr::slice("load_data", 0, word.bits()),
            scale,
            half,
        },
    ));
}

/// What the tiles compute for a vector: the pool results and the error
/// columns of every lane.
struct Compute {
    pool_y: Expr,
    err_y: Expr,
}

/// The input sequencer, the pool tile and the error tiles.
fn tiles(
    design: &mut Design,
    ctx: &Ctx,
    m: &mut Module,
    p: &TopIo<Expr>,
    ctl: &Controls<Expr>,
) -> Compute {
    let (c, d) = (ctx.c, ctx.d);
    let seq = input_sequencer(design, ctx);
    let wl = m.wire_decl("wl", Ty::unsigned(c.wl_parallel));
    let pop = m.wire_decl("pop", Ty::unsigned(d.col_sum_bits));
    m.instance(seq.instance(
        "sequencer",
        SequencerIo {
            clk: p.clk.clone(),
            load: ctl.seq_load.clone(),
            in_data: p.in_data.clone(),
            plane: ctl.plane.clone(),
            phase: ctl.phase.clone(),
            gate: None,
            en: Some(ctl.issue_en.clone()),
            wl: wl.clone(),
            pop: Some(pop.clone()),
        },
    ));

    // The pool tile and the error tiles share one module when P == C.
    let tw = ctx.tile_id_bits();
    let yw = d.column_bits;
    let layout = ctx.layout();
    let cells = field("load_data", &layout.target(POOL_COLUMN).data, "cells");
    let scale_word = &layout.target(SCALES).data;
    let adc_shift = scale_word
        .has("adc_shift")
        .then(|| field("scale", scale_word, "adc_shift"));
    let tile = |block: &Block<TileIo<PortSpec>>, name: String, id: u32, wr: TileWrite| {
        block
            .instance(
                name,
                TileIo {
                    clk: p.clk.clone(),
                    wr_req: wr.req,
                    wr_tile: wr.tile,
                    wr_col: wr.col,
                    wr_data: cells.clone(),
                    issue_en: ctl.issue_en.clone(),
                    wl: wl.clone(),
                    phase: ctl.phase.clone(),
                    adc_shift: adc_shift.clone(),
                    acc_en: ctl.acc_en.clone(),
                    first_phase: ctl.first_phase.clone(),
                    msb: ctl.msb.clone(),
                    pop: Some(pop.clone()),
                    y: wr.y,
                },
            )
            .param("TILE_ID", tw, id as u64)
    };
    let pool_tile = cim_tile(design, ctx, c.pool);
    let pool_y = m.wire_decl("pool_y", Ty::unsigned(c.pool * yw));
    m.instance(tile(
        &pool_tile,
        "pool_tile".into(),
        0,
        TileWrite {
            req: Expr::name("pool_column_wr"),
            tile: Expr::zero(tw),
            col: field("load_addr", &layout.target(POOL_COLUMN).addr, "column"),
            y: pool_y.clone(),
        },
    ));
    let err_tile = cim_tile(design, ctx, c.cols);
    let err_y = m.wire_decl("err_y", Ty::unsigned(d.lanes * yw));
    let addr = &layout.target(ERROR_COLUMN).addr;
    let macro_field = addr.get("macro");
    let tile_field = if macro_field.width > 0 {
        field("load_addr", addr, "macro")
    } else {
        Expr::zero(tw)
    };
    for t in 0..c.macros {
        m.instance(tile(
            &err_tile,
            format!("error_tile_{t}"),
            t,
            TileWrite {
                req: Expr::name("error_column_wr"),
                tile: tile_field.clone(),
                col: field("load_addr", addr, "col"),
                y: Expr::slice("err_y", t * c.cols * yw, c.cols * yw),
            },
        ));
    }
    Compute { pool_y, err_y }
}

/// The write side and result of one tile instance.
struct TileWrite {
    req: Expr,
    tile: Expr,
    col: Expr,
    y: Expr,
}

/// Pool result buffer, lane memories, crossbars, lane accumulators and the
/// output unit.
fn pool_engine(
    design: &mut Design,
    ctx: &Ctx,
    m: &mut Module,
    p: &TopIo<Expr>,
    ctl: &Controls<Expr>,
    compute: Compute,
) {
    let (c, d) = (ctx.c, ctx.d);
    let (yw, aw, pool) = (d.column_bits, d.accumulator_bits, c.pool);
    let lane_word = &ctx.layout().target(LANE).data;
    let held = m.wire_decl("held_y", Ty::unsigned(pool * yw));
    m.instance(pool_result_buffer(design, ctx).instance(
        "pool_buffer",
        BufferIo {
            clk: p.clk.clone(),
            load: ctl.commit.clone(),
            pool_y: compute.pool_y,
            held_y: held.clone(),
        },
    ));
    let lane_we = m.wire_decl("lane_we", Ty::unsigned(d.lanes));
    let lane_addr = ctx.layout().target(LANE).addr.bits();
    m.instance(lane_write_decoder(design, ctx).instance(
        "lane_decoder",
        LaneDecoderIo {
            en: Expr::name("lane_wr"),
            addr: Expr::slice("load_addr", 0, lane_addr),
            we: lane_we.clone(),
        },
    ));
    let gw = d.group_select_bits;
    let select = m.wire_decl("select", Ty::unsigned(d.groups * gw));
    let mask = m.wire_decl("mask", Ty::unsigned(d.lanes));
    m.instance(pool_index_memory(design, ctx).instance(
        "index_memory",
        IndexMemoryIo {
            clk: p.clk.clone(),
            we: lane_we.clone(),
            wr_select: field("load_data", lane_word, "select"),
            wr_mask: field("load_data", lane_word, "mask"),
            select: select.clone(),
            mask,
        },
    ));
    m.wire_decl("xbar_select", Ty::unsigned(d.crossbar_units * gw));
    m.instance(pool_index_decoder(design, ctx).instance(
        "index_decoder",
        IndexDecoderIo {
            xbar_step: ctl.xbar_step.clone(),
            select,
            xbar_select: Expr::name("xbar_select"),
        },
    ));
    let xbar = crossbar(design, ctx);
    m.wire_decl("xbar_y", Ty::unsigned(d.crossbar_units * pool * yw));
    for i in 0..d.crossbar_units {
        m.instance(xbar.instance(
            format!("crossbar_{i}"),
            CrossbarIo {
                clk: (d.crossbar_pipeline > 0).then(|| p.clk.clone()),
                pool_y: held.clone(),
                select: Expr::slice("xbar_select", i * gw, gw),
                sel_y: Expr::slice("xbar_y", i * pool * yw, pool * yw),
            },
        ));
    }
    let lane_acc = lane_accumulator(design, ctx);
    m.wire_decl("acc_pool", Ty::unsigned(d.lanes * aw));
    m.wire_decl("acc_err", Ty::unsigned(d.lanes * aw));
    for g in 0..d.groups {
        let unit = g % d.crossbar_units;
        m.instance(
            lane_acc.instance(
                format!("lanes_{g}"),
                LaneAccIo {
                    clk: p.clk.clone(),
                    pool_en: Expr::bit("group_en", g),
                    pool_first: ctl
                        .group_first
                        .clone()
                        .expect("the pool engine has lane groups"),
                    sel_y: Expr::slice("xbar_y", unit * pool * yw, pool * yw),
                    err_en: ctl.commit.clone(),
                    err_first: ctl.commit_first.clone(),
                    err_y: Expr::slice(&net_name(&compute.err_y), g * pool * yw, pool * yw),
                    mask: Expr::slice("mask", g * pool, pool),
                    acc_pool: Expr::slice("acc_pool", g * pool * aw, pool * aw),
                    acc_err: Expr::slice("acc_err", g * pool * aw, pool * aw),
                },
            ),
        );
    }
    m.instance(output_unit(design, ctx).instance(
        "outputs",
        OutputUnitIo {
            clk: p.clk.clone(),
            lane_we,
            wr_bias: field("load_data", lane_word, "bias"),
            scale: Expr::name("scale"),
            half: (ctx.d.output_pipeline > 0).then(|| Expr::name("round_half")),
            beat: ctl.beat.clone(),
            stage_en: ctl.stage_en.clone(),
            beat_load: ctl.beat_load.clone(),
            acc_pool: Expr::name("acc_pool"),
            acc_err: Some(Expr::name("acc_err")),
            out_data: p.out_data.clone(),
        },
    ));
}

fn net_name(e: &Expr) -> String {
    match e {
        Expr::Ref(n) => n.clone(),
        other => panic!("expected a net, got {other:?}"),
    }
}
