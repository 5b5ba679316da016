//! The CIM macro (storage, column compute, ADC), the tile that adds write
//! decode and shift-accumulate around it, and the input sequencer that drives
//! the word lines bit-serially.

use super::arith::{adc_quantizer, popcount, shift_accumulate};
use super::Ctx;
use crate::config::Storage;
use crate::ir::expr::select;
use crate::ir::{clog2, if_, nb, Design, Expr, Instance, LValue, Module, Ty};

pub fn macro_name(rows: u32, cols: u32) -> String {
    format!("cim_macro_{rows}x{cols}")
}

pub fn tile_name(rows: u32, cols: u32) -> String {
    format!("cim_tile_{rows}x{cols}")
}

/// Ports shared by the macro and its black-box stub, so both are
/// interchangeable in a flow.
fn macro_ports(m: &mut Module, ctx: &Ctx, cols: u32) {
    let rows = ctx.c.rows;
    m.input("clk", Ty::unsigned(1));
    m.input("wr_en", Ty::unsigned(1));
    m.input("wr_col", Ty::unsigned(clog2(cols as u64)));
    m.input("wr_data", Ty::unsigned(rows));
    m.input("en", Ty::unsigned(1));
    m.input("wl", Ty::unsigned(ctx.c.wl_parallel));
    if ctx.d.phases > 1 {
        m.input("phase", Ty::unsigned(clog2(ctx.d.phases as u64)));
    }
    m.output("read_out", Ty::unsigned(cols * ctx.d.col_sum_bits));
}

/// An R x `cols` SRAM CIM macro: column-wise writes, then per compute step
/// the W word lines of one phase are driven with one input bit plane, every
/// column counts the cells that are 1 on a driven line, and the ADC read-out
/// is registered. With `storage = blackbox` only the port list is emitted,
/// for a hard macro to fill.
pub fn cim_macro(design: &mut Design, ctx: &Ctx, cols: u32) -> String {
    let name = macro_name(ctx.c.rows, cols);
    if design.contains(&name) {
        return name;
    }
    let (rows, w, sw, phases) = (
        ctx.c.rows,
        ctx.c.wl_parallel,
        ctx.d.col_sum_bits,
        ctx.d.phases,
    );
    let mut m = Module::new(&name);
    m.doc(format!(
        "SRAM CIM macro: {rows} word lines x {cols} bit lines, {w} word lines per phase."
    ));
    m.doc("Column c counts (wl AND cell) over the active phase; the ADC read-out is registered on `en`.");
    macro_ports(&mut m, ctx, cols);
    if ctx.c.storage == Storage::Blackbox {
        m.doc("Black-box stub: the hard macro supplies the body (see docs/ARCHITECTURE.md).");
        m.blackbox = true;
        m.waive(
            "UNUSEDSIGNAL",
            "Stub of a hard macro: its inputs are used inside the macro, not here.",
        );
        m.waive(
            "UNDRIVEN",
            "Stub of a hard macro: its outputs are driven inside the macro, not here.",
        );
        design.add(m);
        return name;
    }

    let pc = popcount(design, w);
    let adc = (ctx.d.adc_shift > 0).then(|| adc_quantizer(design, ctx));
    let col_w = clog2(cols as u64);

    let mut writes = Vec::new();
    let mut read_outs = Vec::new();
    for c in 0..cols {
        let cells = format!("cells_{c}");
        m.reg(&cells, Ty::unsigned(rows));
        writes.push(if_(
            Expr::name("wr_en").and(Expr::name("wr_col").eq(Expr::uconst(col_w, c as u64))),
            vec![nb(LValue::net(&cells), Expr::name("wr_data"))],
        ));
        let active = if phases == 1 {
            Expr::name(&cells)
        } else {
            let entries = (0..phases).map(|h| Expr::slice(&cells, h * w, w)).collect();
            select(&Expr::name("phase"), clog2(phases as u64), entries)
        };
        let driven = m.wire(
            &format!("driven_{c}"),
            Ty::unsigned(w),
            active.and(Expr::name("wl")),
        );
        let sum = m.wire_decl(&format!("sum_{c}"), Ty::unsigned(sw));
        m.instance(
            Instance::new(&pc, format!("count_{c}"))
                .conn("bits", driven)
                .conn("count", sum.clone()),
        );
        let read_out = match &adc {
            Some(adc) => {
                let ro = m.wire_decl(&format!("adc_{c}"), Ty::unsigned(sw));
                m.instance(
                    Instance::new(adc, format!("adc_{c}_q"))
                        .conn("sum", sum)
                        .conn("read_out", ro.clone()),
                );
                ro
            }
            None => sum,
        };
        read_outs.push(read_out);
    }
    m.always("clk", writes);
    read_outs.reverse();
    let reg = m.enabled_reg(
        "read_out_r",
        Ty::unsigned(cols * sw),
        "clk",
        Expr::name("en"),
        Expr::concat(read_outs),
    );
    m.assign(LValue::net("read_out"), reg);
    design.add(m);
    name
}

/// A macro plus its write decode (parameter TILE_ID selects which tile a
/// column write addresses) and its shift-accumulators: one result per column
/// and input vector.
pub fn cim_tile(design: &mut Design, ctx: &Ctx, cols: u32) -> String {
    let name = tile_name(ctx.c.rows, cols);
    if design.contains(&name) {
        return name;
    }
    let macro_mod = cim_macro(design, ctx, cols);
    let sacc = shift_accumulate(design, ctx, cols);
    let tw = ctx.tile_id_bits();
    let mut m = Module::new(&name);
    m.doc(format!(
        "CIM tile: a {}x{cols} macro, its column-write decode and {cols} shift-accumulators.",
        ctx.c.rows
    ));
    let tile_id = m.param("TILE_ID", tw, 0);
    let clk = m.input("clk", Ty::unsigned(1));
    let wr_req = m.input("wr_req", Ty::unsigned(1));
    let wr_tile = m.input("wr_tile", Ty::unsigned(tw));
    let wr_col = m.input("wr_col", Ty::unsigned(clog2(cols as u64)));
    let wr_data = m.input("wr_data", Ty::unsigned(ctx.c.rows));
    let issue_en = m.input("issue_en", Ty::unsigned(1));
    let wl = m.input("wl", Ty::unsigned(ctx.c.wl_parallel));
    let phase =
        (ctx.d.phases > 1).then(|| m.input("phase", Ty::unsigned(clog2(ctx.d.phases as u64))));
    let acc_en = m.input("acc_en", Ty::unsigned(1));
    let first_phase = m.input("first_phase", Ty::unsigned(1));
    let msb = m.input("msb", Ty::unsigned(1));
    let pop = m.input("pop", Ty::unsigned(ctx.d.col_sum_bits));
    m.output("y", Ty::unsigned(cols * ctx.d.column_bits));

    let wr_en = m.wire("wr_en", Ty::unsigned(1), wr_req.and(wr_tile.eq(tile_id)));
    let read_out = m.wire_decl("read_out", Ty::unsigned(cols * ctx.d.col_sum_bits));
    let mut mac = Instance::new(&macro_mod, "cim_macro")
        .conn("clk", clk.clone())
        .conn("wr_en", wr_en)
        .conn("wr_col", wr_col)
        .conn("wr_data", wr_data)
        .conn("en", issue_en)
        .conn("wl", wl);
    if let Some(phase) = phase {
        mac = mac.conn("phase", phase);
    }
    m.instance(mac.conn("read_out", read_out.clone()));
    m.instance(
        Instance::new(&sacc, "shift_acc")
            .conn("clk", clk)
            .conn("en", acc_en)
            .conn("first_phase", first_phase)
            .conn("msb", msb)
            .conn("read_out", read_out)
            .conn("pop", pop)
            .conn("y", Expr::name("y")),
    );
    design.add(m);
    name
}

pub const INPUT_SEQUENCER: &str = "input_sequencer";

/// Holds the accepted input vector and presents, per compute step, the word
/// line bits of one phase of one bit plane, plus their registered popcount
/// N[t][h] (computed once and shared by every macro).
pub fn input_sequencer(design: &mut Design, ctx: &Ctx) -> String {
    let (rows, bx, w, phases) = (ctx.c.rows, ctx.c.act_bits, ctx.c.wl_parallel, ctx.d.phases);
    let pc = popcount(design, w);
    let mut m = Module::new(INPUT_SEQUENCER);
    m.doc("Input vector register and bit-plane / phase word-line drive, with the input popcount.");
    m.doc(format!("Element d of `in_data` is bits [d*{bx} +: {bx}]."));
    m.input("clk", Ty::unsigned(1));
    m.input("load", Ty::unsigned(1));
    m.input("in_data", Ty::unsigned(rows * bx));
    if bx > 1 {
        m.input("plane", Ty::unsigned(clog2(bx as u64)));
    }
    if phases > 1 {
        m.input("phase", Ty::unsigned(clog2(phases as u64)));
    }
    m.input("en", Ty::unsigned(1));
    let wl = m.output("wl", Ty::unsigned(w));
    let pop = m.output("pop", Ty::unsigned(ctx.d.col_sum_bits));

    m.enabled_reg(
        "x_r",
        Ty::unsigned(rows * bx),
        "clk",
        Expr::name("load"),
        Expr::name("in_data"),
    );
    let planes: Vec<Expr> = (0..bx)
        .map(|t| {
            let bits = (0..rows)
                .rev()
                .map(|d| Expr::bit("x_r", d * bx + t))
                .collect();
            m.wire(
                &format!("plane_{t}"),
                Ty::unsigned(rows),
                Expr::concat(bits),
            )
        })
        .collect();
    let plane_net = if bx == 1 { "plane_0" } else { "plane_bits" };
    let plane = if bx == 1 {
        planes.into_iter().next().unwrap()
    } else {
        let bits = select(&Expr::name("plane"), clog2(bx as u64), planes);
        m.wire("plane_bits", Ty::unsigned(rows), bits)
    };
    let driven = if phases == 1 {
        plane
    } else {
        let entries = (0..phases)
            .map(|h| Expr::slice(plane_net, h * w, w))
            .collect();
        select(&Expr::name("phase"), clog2(phases as u64), entries)
    };
    m.assign(wl, driven);
    let count = m.wire_decl("count", Ty::unsigned(ctx.d.col_sum_bits));
    m.instance(
        Instance::new(&pc, "count_wl")
            .conn("bits", Expr::name("wl"))
            .conn("count", count.clone()),
    );
    let pop_r = m.enabled_reg(
        "pop_r",
        Ty::unsigned(ctx.d.col_sum_bits),
        "clk",
        Expr::name("en"),
        count,
    );
    m.assign(pop, pop_r);
    design.add(m);
    INPUT_SEQUENCER.into()
}
