//! The CIM macro (storage, column compute, ADC), the tile that adds write
//! decode and shift-accumulate around it, and the input sequencer that drives
//! the word lines bit-serially.

use super::arith::{
    adc_quantizer, adder_tree, popcount, shift_accumulate, AdcIo, PopcountIo, ShiftAccIo,
};
use super::iface::{input, interface, output, Block, PortSpec};
use super::Ctx;
use crate::config::Storage;
use crate::ir::expr::{select, zext};
use crate::ir::{clog2, if_, nb, Design, Expr, LValue, Module, Role, Ty};

pub fn macro_name(rows: u32, cols: u32) -> String {
    format!("cim_macro_{rows}x{cols}")
}

pub fn tile_name(rows: u32, cols: u32) -> String {
    format!("cim_tile_{rows}x{cols}")
}

interface! {
    /// An SRAM CIM macro; the black-box stub has the same ports.
    MacroIo {
        clk: One, wr_en: One, wr_col: One, wr_data: One, en: One, wl: One, phase: Opt,
        adc_shift: Opt, read_out: One,
    }
}

fn macro_io(ctx: &Ctx, cols: u32) -> MacroIo<PortSpec> {
    MacroIo {
        clk: input(1),
        wr_en: input(1),
        wr_col: input(clog2(cols as u64)),
        wr_data: input(ctx.d.macro_rows),
        en: input(1),
        wl: input(ctx.c.wl_parallel),
        phase: ctx.d.phase_bits.map(input),
        adc_shift: ctx.d.adc_shift_bits.map(input),
        read_out: output(cols * ctx.d.col_sum_bits),
    }
}

/// An R x `cols` SRAM CIM macro: column-wise writes, then per compute step
/// the W word lines of one phase are driven with one input bit plane, every
/// column counts the cells that are 1 on a driven line, and the ADC read-out
/// is registered. With `storage = blackbox` only the port list is emitted,
/// for a hard macro to fill.
pub fn cim_macro(design: &mut Design, ctx: &Ctx, cols: u32) -> Block<MacroIo<PortSpec>> {
    let name = macro_name(ctx.d.macro_rows, cols);
    // With compact storage the macro holds `slots` blocks, and `phase`
    // selects one of them.
    let (rows, w, sw, phases) = (
        ctx.d.macro_rows,
        ctx.c.wl_parallel,
        ctx.d.col_sum_bits,
        ctx.d.issue_blocks,
    );
    let io = macro_io(ctx, cols);
    let mut m = Module::new(&name);
    m.role(Role::Macro);
    m.doc(format!(
        "SRAM CIM macro: {rows} word lines x {cols} bit lines, {w} word lines per phase."
    ));
    m.doc("Column c counts (wl AND cell) over the active phase; the ADC read-out is registered on `en`.");
    let p = io.declare(&mut m);
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
        return Block { module: name, io };
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
            p.wr_en
                .clone()
                .and(p.wr_col.clone().eq(Expr::uconst(col_w, c as u64))),
            vec![nb(LValue::net(&cells), p.wr_data.clone())],
        ));
        let active = match &p.phase {
            None => Expr::name(&cells),
            Some(phase) => {
                let entries = (0..phases).map(|h| Expr::slice(&cells, h * w, w)).collect();
                select(phase, clog2(phases as u64), entries)
            }
        };
        let driven = m.wire(
            &format!("driven_{c}"),
            Ty::unsigned(w),
            active.and(p.wl.clone()),
        );
        let sum = m.wire_decl(&format!("sum_{c}"), Ty::unsigned(sw));
        m.instance(pc.instance(
            format!("count_{c}"),
            PopcountIo {
                bits: driven,
                count: sum.clone(),
            },
        ));
        let read_out = match &adc {
            Some(adc) => {
                let ro = m.wire_decl(&format!("adc_{c}"), Ty::unsigned(sw));
                m.instance(adc.instance(
                    format!("adc_{c}_q"),
                    AdcIo {
                        sum,
                        shift: p.adc_shift.clone().expect("a lossy ADC has a shift port"),
                        read_out: ro.clone(),
                    },
                ));
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
        p.en,
        Expr::concat(read_outs),
    );
    m.note(
        "read_out_r",
        "ADC read-out of every column for the step issued last cycle",
    );
    m.assign(LValue::net("read_out"), reg);
    design.add(m);
    Block { module: name, io }
}

interface! {
    /// A macro with its column-write decode and shift-accumulators.
    TileIo {
        clk: One, wr_req: One, wr_tile: One, wr_col: One, wr_data: One,
        issue_en: One, wl: One, phase: Opt, adc_shift: Opt, acc_en: One, first_phase: One,
        msb: One, pop: Opt, y: One,
    }
}

/// A macro plus its write decode (parameter TILE_ID selects which tile a
/// column write addresses) and its shift-accumulators: one result per column
/// and input vector. The dense engine's tile adds read-outs of 0/1 cells
/// (no input popcount), so its name says so.
pub fn cim_tile(design: &mut Design, ctx: &Ctx, cols: u32) -> Block<TileIo<PortSpec>> {
    let dense = ctx.c.is_dense();
    let name = if dense {
        format!("cim_dense_tile_{}x{cols}", ctx.d.macro_rows)
    } else {
        tile_name(ctx.c.rows, cols)
    };
    let macro_block = cim_macro(design, ctx, cols);
    let sacc = shift_accumulate(design, ctx, cols);
    let tw = ctx.tile_id_bits();
    let sw = ctx.d.col_sum_bits;
    let io = TileIo {
        clk: input(1),
        wr_req: input(1),
        wr_tile: input(tw),
        wr_col: input(clog2(cols as u64)),
        wr_data: input(ctx.d.macro_rows),
        issue_en: input(1),
        wl: input(ctx.c.wl_parallel),
        phase: ctx.d.phase_bits.map(input),
        adc_shift: ctx.d.adc_shift_bits.map(input),
        acc_en: input(1),
        first_phase: input(1),
        msb: input(1),
        pop: (!dense).then(|| input(sw)),
        y: output(cols * ctx.d.column_bits),
    };
    let mut m = Module::new(&name);
    m.role(Role::Control);
    m.doc(format!(
        "CIM tile: a {}x{cols} macro, its column-write decode and {cols} shift-accumulators.",
        ctx.d.macro_rows
    ));
    let tile_id = m.param("TILE_ID", tw, 0);
    let p = io.declare(&mut m);
    let wr_en = m.wire(
        "wr_en",
        Ty::unsigned(1),
        p.wr_req.and(p.wr_tile.eq(tile_id)),
    );
    let read_out = m.wire_decl("read_out", Ty::unsigned(cols * sw));
    m.instance(macro_block.instance(
        "cim_macro",
        MacroIo {
            clk: p.clk.clone(),
            wr_en,
            wr_col: p.wr_col,
            wr_data: p.wr_data,
            en: p.issue_en,
            wl: p.wl,
            phase: p.phase,
            adc_shift: p.adc_shift,
            read_out: read_out.clone(),
        },
    ));
    m.instance(sacc.instance(
        "shift_acc",
        ShiftAccIo {
            clk: p.clk,
            en: p.acc_en,
            first_phase: p.first_phase,
            msb: p.msb,
            read_out,
            pop: p.pop,
            y: p.y,
        },
    ));
    design.add(m);
    Block { module: name, io }
}

pub const INPUT_SEQUENCER: &str = "input_sequencer";

interface! {
    /// The input vector register and the word-line drive.
    SequencerIo {
        clk: One, load: One, in_data: One, plane: Opt, phase: Opt, gate: Opt, en: Opt, wl: One,
        pop: Opt,
    }
}

/// Holds the accepted input vector and presents, per compute step, the word
/// line bits of one phase of one bit plane, plus their registered popcount
/// N[t][h] (computed once and shared by every macro; the dense engine's 0/1
/// cells need none). With block sparsity `gate` = 0 drives no word line: a
/// tile with nothing to compute still takes one step per plane.
pub fn input_sequencer(design: &mut Design, ctx: &Ctx) -> Block<SequencerIo<PortSpec>> {
    let (rows, bx, w, phases) = (ctx.c.rows, ctx.c.act_bits, ctx.c.wl_parallel, ctx.d.phases);
    let io = SequencerIo {
        clk: input(1),
        load: input(1),
        in_data: input(rows * bx),
        plane: ctx.d.plane_bits.map(input),
        phase: ctx.d.block_bits.map(input),
        gate: ctx.c.block_sparse().then(|| input(1)),
        // The issue enable registers the input popcount.
        en: (!ctx.c.is_dense()).then(|| input(1)),
        wl: output(w),
        pop: (!ctx.c.is_dense()).then(|| output(ctx.d.col_sum_bits)),
    };
    let mut m = Module::new(INPUT_SEQUENCER);
    m.role(Role::Control);
    m.doc("Input vector register and bit-plane / phase word-line drive, with the input popcount.");
    m.doc(format!("Element d of `in_data` is bits [d*{bx} +: {bx}]."));
    let p = io.declare(&mut m);

    m.enabled_reg(
        "x_r",
        Ty::unsigned(rows * bx),
        "clk",
        p.load.clone(),
        p.in_data.clone(),
    );
    m.note("x_r", "the input vector being issued");
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
    let (plane_net, plane) = match &p.plane {
        None => ("plane_0", planes.into_iter().next().unwrap()),
        Some(plane) => {
            let bits = select(plane, clog2(bx as u64), planes);
            ("plane_bits", m.wire("plane_bits", Ty::unsigned(rows), bits))
        }
    };
    let driven = match &p.phase {
        None => plane,
        Some(phase) => {
            let entries = (0..phases)
                .map(|h| Expr::slice(plane_net, h * w, w))
                .collect();
            select(phase, clog2(phases as u64), entries)
        }
    };
    let driven = match &p.gate {
        None => driven,
        Some(gate) => Expr::repeat(w, gate.clone()).and(driven),
    };
    m.assign(LValue::net("wl"), driven);
    if p.pop.is_some() {
        let count = if ctx.c.popcount_at_load {
            counted_at_load(design, &mut m, ctx, &p)
        } else {
            let pc = popcount(design, w);
            let count = m.wire_decl("count", Ty::unsigned(ctx.d.col_sum_bits));
            m.instance(pc.instance(
                "count_wl",
                PopcountIo {
                    bits: p.wl,
                    count: count.clone(),
                },
            ));
            count
        };
        let pop_r = m.enabled_reg(
            "pop_r",
            Ty::unsigned(ctx.d.col_sum_bits),
            "clk",
            p.en.expect("the popcount register has an enable"),
            count,
        );
        m.note(
            "pop_r",
            "N[t][h]: ones among the word lines of the step issued last cycle",
        );
        m.assign(LValue::net("pop"), pop_r);
    }
    design.add(m);
    Block {
        module: INPUT_SEQUENCER.into(),
        io,
    }
}

/// Word lines one load-time count covers (`popcount_at_load`).
const LOAD_COUNT_CHUNK: u32 = 16;

/// `popcount_at_load`: when a vector loads, the ones of every plane's word
/// lines are counted per phase in chunks of `LOAD_COUNT_CHUNK` and
/// registered beside `x_r`; an issue step then selects its plane's and
/// phase's counts and adds them. The 128-line count (34 cells after the
/// plane select in osu018) leaves the issue path for a chunk count on the
/// load path and a sum of a few counts. Returns the step's count.
fn counted_at_load(design: &mut Design, m: &mut Module, ctx: &Ctx, p: &SequencerIo<Expr>) -> Expr {
    let (bx, w, phases, sw) = (
        ctx.c.act_bits,
        ctx.c.wl_parallel,
        ctx.d.phases,
        ctx.d.col_sum_bits,
    );
    let chunks = w.div_ceil(LOAD_COUNT_CHUNK);
    // Element d of the input is word line d of the vector, bit t its plane t.
    let input_bit = |d: u32, t: u32| Expr::bit("in_data", d * bx + t);
    let mut partial_sums = Vec::new();
    for k in 0..chunks {
        let (lo, len) = (
            k * LOAD_COUNT_CHUNK,
            LOAD_COUNT_CHUNK.min(w - k * LOAD_COUNT_CHUNK),
        );
        let cw = clog2(len as u64 + 1);
        let pc = popcount(design, len);
        // Per phase, the plane's count of this chunk.
        let mut per_phase = Vec::new();
        for h in 0..phases {
            let mut per_plane = Vec::new();
            for t in 0..bx {
                let bits = (lo..lo + len)
                    .rev()
                    .map(|j| input_bit(h * w + j, t))
                    .collect();
                let counted = m.wire_decl(&format!("in_count_{t}_{h}_{k}"), Ty::unsigned(cw));
                m.instance(pc.instance(
                    format!("count_in_{t}_{h}_{k}"),
                    PopcountIo {
                        bits: Expr::concat(bits),
                        count: counted.clone(),
                    },
                ));
                let r = m.enabled_reg(
                    &format!("count_{t}_{h}_{k}_r"),
                    Ty::unsigned(cw),
                    "clk",
                    p.load.clone(),
                    counted,
                );
                per_plane.push(r);
            }
            per_phase.push(match &p.plane {
                None => per_plane.into_iter().next().unwrap(),
                Some(plane) => select(plane, clog2(bx as u64), per_plane),
            });
        }
        let chosen = match &p.phase {
            None => per_phase.into_iter().next().unwrap(),
            Some(phase) => select(phase, clog2(phases as u64), per_phase),
        };
        let name = format!("step_count_{k}");
        m.wire(&name, Ty::unsigned(cw), chosen);
        partial_sums.push((Expr::name(&name), cw));
    }
    m.note(
        "count_0_0_0_r",
        format!(
            "ones of plane 0, phase 0, word lines 0..{} of the loaded vector",
            LOAD_COUNT_CHUNK.min(w) - 1
        ),
    );
    // A balanced tree of the chunk counts, each level one bit wider.
    let (total, width) = adder_tree(m, "step_sum", partial_sums, sw);
    let total = zext(total, width, sw);
    // Only the dense engine gates word lines, and it has no popcount.
    debug_assert!(p.gate.is_none());
    m.wire("count", Ty::unsigned(sw), total)
}
