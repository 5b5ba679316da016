//! The dense engine (docs/SPEC.md section 6, MARS): `cim_top` wires N
//! macros of `w_bits`-bit weights, the input sequencer, the lane units that
//! recombine each weight's bit columns and accumulate across row blocks,
//! the block-sparsity memory and the output unit to the shared controller.
//! The macros, ADC, shift-accumulate, controller, scale register and output
//! unit are the pool engine's blocks; there is no pool macro, index
//! memory or crossbar.

use super::arith::lane_sext;
use super::array::{cim_tile, input_sequencer, SequencerIo, TileIo};
use super::control::Controls;
use super::iface::{input, interface, output, Block, PortSpec};
use super::output::{output_unit, OutputUnitIo};
use super::pool::{lane_write_decoder, LaneDecoderIo};
use super::top::{control, layer_registers, top_io, TopIo, TOP};
use super::{field, Ctx};
use crate::config::layout::{LANE, PHASE_VALID, SCALES, SLOT_CODES, WEIGHT_COLUMN};
use crate::config::Sparsity;
use crate::ir::expr::select;
use crate::ir::{clog2, if_, nb, Design, Expr, LValue, Module, Role, Ty};

pub fn dense_top(design: &mut Design, ctx: &Ctx) -> Block<TopIo<PortSpec>> {
    let (c, d) = (ctx.c, ctx.d);
    let io = top_io(ctx);
    let mut m = Module::new(TOP);
    m.role(Role::Control);
    m.doc(format!(
        "cimpool dense engine: {} macros ({}x{}) of {}-bit weights, {} lanes, sparsity {}.",
        c.macros, d.macro_rows, c.cols, c.w_bits, d.lanes, c.sparsity
    ));
    m.doc("Ports and protocol: the generated cim_top.md; design: docs/ARCHITECTURE.md.");
    let p = io.declare(&mut m);
    let issue_mask = d
        .issue_mask_bits
        .map(|bits| m.wire_decl("issue_mask", Ty::unsigned(bits)));
    let ctl = control(design, ctx, &mut m, &p, issue_mask.clone());
    layer_registers(design, ctx, &mut m, &p);
    let drive = sparsity(design, ctx, &mut m, &p, &ctl, issue_mask);
    tiles(design, ctx, &mut m, &p, &ctl, drive);
    lanes(design, ctx, &mut m, &p, &ctl);
    super::checks::top_checks(&mut m, ctx);
    design.add(m);
    Block {
        module: TOP.into(),
        io,
    }
}

/// What the input sequencer drives with: the input phase block and, with
/// block sparsity, whether the step drives any word line.
struct Drive {
    block: Option<Expr>,
    gate: Option<Expr>,
}

/// The block-sparsity memory, when the configuration has one.
fn sparsity(
    design: &mut Design,
    ctx: &Ctx,
    m: &mut Module,
    p: &TopIo<Expr>,
    ctl: &Controls<Expr>,
    issue_mask: Option<Expr>,
) -> Drive {
    if !ctx.c.block_sparse() {
        return Drive {
            block: ctl.phase.clone(),
            gate: None,
        };
    }
    let mem = sparsity_memory(design, ctx);
    let block = match ctx.c.sparsity {
        Sparsity::Compact => ctx
            .d
            .block_bits
            .map(|bits| m.wire_decl("input_block", Ty::unsigned(bits))),
        _ => None,
    };
    let gate = m.wire_decl("wl_gate", Ty::unsigned(1));
    let target = match ctx.c.sparsity {
        Sparsity::Compact => SLOT_CODES,
        _ => PHASE_VALID,
    };
    let word = &ctx.layout().target(target).data;
    m.instance(mem.instance(
        "sparsity",
        SparsityIo {
            clk: p.clk.clone(),
            rst: p.rst.clone(),
            we: Expr::name(&format!("{target}_wr")),
            wr_data: Expr::slice("load_data", 0, word.bits()),
            phase: ctl.phase.clone(),
            issue_mask,
            block: block.clone(),
            gate: gate.clone(),
        },
    ));
    Drive {
        block: match ctx.c.sparsity {
            Sparsity::Compact => block,
            _ => ctl.phase.clone(),
        },
        gate: Some(gate),
    }
}

pub const SPARSITY_MEMORY: &str = "sparsity_memory";

interface! {
    /// The tile's valid bits (skip) or slot codes (compact).
    SparsityIo {
        clk: One, rst: One, we: One, wr_data: One, phase: Opt,
        issue_mask: Opt, block: Opt, gate: One,
    }
}

/// Holds the tile's phase valid bits or slot codes as the load port wrote
/// them (reset: everything valid, slot k on block k, as dense storage) and
/// derives what the controller issues (`issue_mask`), which input block
/// the slot being issued multiplies (`block`, compact) and whether it
/// drives its word lines (`gate`: only a tile with nothing to compute
/// issues an unmarked block).
fn sparsity_memory(design: &mut Design, ctx: &Ctx) -> Block<SparsityIo<PortSpec>> {
    let (c, d) = (ctx.c, ctx.d);
    let compact = c.sparsity == Sparsity::Compact;
    let target = if compact { SLOT_CODES } else { PHASE_VALID };
    let word = ctx.layout().target(target).data.clone();
    let blocks = d.issue_blocks;
    let io = SparsityIo {
        clk: input(1),
        rst: input(1),
        we: input(1),
        wr_data: input(word.bits()),
        phase: d.phase_bits.map(input),
        issue_mask: d.issue_mask_bits.map(output),
        block: if compact {
            d.block_bits.map(output)
        } else {
            None
        },
        gate: output(1),
    };
    let mut m = Module::new(SPARSITY_MEMORY);
    m.role(Role::Control);
    let p = io.declare(&mut m);
    let one = Ty::unsigned(1);
    let marked = if compact {
        m.doc(format!(
            "Slot codes of the tile: slot k multiplies input block code_k ({} = empty).",
            d.phases
        ));
        let cw = word.get("slot_0").width;
        let mut resets = Vec::new();
        let mut writes = Vec::new();
        let mut used = Vec::new();
        let mut codes = Vec::new();
        for k in 0..blocks {
            let r = format!("code_{k}");
            m.reg(&r, Ty::unsigned(cw));
            resets.push((LValue::net(&r), Expr::uconst(cw, k as u64)));
            writes.push(nb(
                LValue::net(&r),
                field("wr_data", &word, &format!("slot_{k}")),
            ));
            used.push(Expr::name(&r).ne(Expr::uconst(cw, d.phases as u64)));
            codes.push(Expr::name(&r));
        }
        m.registers("clk", "rst", resets, vec![if_(p.we, writes)], "Slot codes");
        used.reverse();
        let used = m.wire("slot_used", Ty::unsigned(blocks), Expr::concat(used));
        m.note("slot_used", "bit k: slot k names a phase block");
        if p.issue_mask.is_some() {
            m.assign(LValue::net("issue_mask"), used);
        }
        if let Some(block) = &p.block {
            let bw = d.block_bits.expect("a block port has a width");
            let code = match &p.phase {
                Some(phase) => select(phase, clog2(blocks as u64), codes),
                None => codes.into_iter().next().unwrap(),
            };
            let code = m.wire("slot_code", Ty::unsigned(cw), code);
            // An empty code (= phases) is gated off; its low bits drive
            // nothing.
            let b = if cw > bw {
                Expr::slice("slot_code", 0, bw)
            } else {
                code
            };
            m.assign(super::iface::lvalue(block), b);
            if cw > bw {
                m.unused_ok(
                    "slot_code",
                    "its top bit only marks an empty slot, read through issue_mask",
                );
            }
        }
        "slot_used"
    } else {
        m.doc("Phase valid bits of the tile: an invalid phase holds only zero weights and is skipped.");
        m.reg("valid_r", Ty::unsigned(blocks));
        m.registers(
            "clk",
            "rst",
            vec![(
                LValue::net("valid_r"),
                Expr::repeat(blocks, Expr::one_bit(true)),
            )],
            vec![if_(p.we, vec![nb(LValue::net("valid_r"), p.wr_data)])],
            "Phase valid bits",
        );
        if p.issue_mask.is_some() {
            m.assign(LValue::net("issue_mask"), Expr::name("valid_r"));
        }
        "valid_r"
    };
    let gate = match &p.phase {
        Some(phase) => {
            let bits = (0..blocks).map(|b| Expr::bit(marked, b)).collect();
            select(phase, clog2(blocks as u64), bits)
        }
        None => Expr::bit(marked, 0),
    };
    let g = m.wire("gate_w", one, gate);
    m.assign(LValue::net("gate"), g);
    design.add(m);
    Block {
        module: SPARSITY_MEMORY.into(),
        io,
    }
}

/// The input sequencer and the N macros' tiles; their column results are
/// `y` (column `macro * cols + c` at [(macro * cols + c) * yw +: yw]).
fn tiles(
    design: &mut Design,
    ctx: &Ctx,
    m: &mut Module,
    p: &TopIo<Expr>,
    ctl: &Controls<Expr>,
    drive: Drive,
) {
    let (c, d) = (ctx.c, ctx.d);
    let seq = input_sequencer(design, ctx);
    let wl = m.wire_decl("wl", Ty::unsigned(c.wl_parallel));
    m.instance(seq.instance(
        "sequencer",
        SequencerIo {
            clk: p.clk.clone(),
            load: ctl.seq_load.clone(),
            in_data: p.in_data.clone(),
            plane: ctl.plane.clone(),
            phase: drive.block,
            gate: drive.gate,
            en: None,
            wl: wl.clone(),
            pop: None,
        },
    ));
    let tw = ctx.tile_id_bits();
    let yw = d.column_bits;
    let layout = ctx.layout();
    let addr = &layout.target(WEIGHT_COLUMN).addr;
    let cells = field("load_data", &layout.target(WEIGHT_COLUMN).data, "cells");
    let tile_field = if addr.get("macro").width > 0 {
        field("load_addr", addr, "macro")
    } else {
        Expr::zero(tw)
    };
    let scale_word = &layout.target(SCALES).data;
    let adc_shift = scale_word
        .has("adc_shift")
        .then(|| field("scale", scale_word, "adc_shift"));
    let tile = cim_tile(design, ctx, c.cols);
    m.wire_decl("y", Ty::unsigned(c.macros * c.cols * yw));
    for t in 0..c.macros {
        m.instance(
            tile.instance(
                format!("tile_{t}"),
                TileIo {
                    clk: p.clk.clone(),
                    wr_req: Expr::name(&format!("{WEIGHT_COLUMN}_wr")),
                    wr_tile: tile_field.clone(),
                    wr_col: field("load_addr", addr, "col"),
                    wr_data: cells.clone(),
                    issue_en: ctl.issue_en.clone(),
                    wl: wl.clone(),
                    phase: ctl.phase.clone(),
                    adc_shift: adc_shift.clone(),
                    acc_en: ctl.acc_en.clone(),
                    first_phase: ctl.first_phase.clone(),
                    msb: ctl.msb.clone(),
                    pop: None,
                    y: Expr::slice("y", t * c.cols * yw, c.cols * yw),
                },
            )
            .param("TILE_ID", tw, t as u64),
        );
    }
}

/// Lane write decode, the lane units of every macro and the output unit.
fn lanes(design: &mut Design, ctx: &Ctx, m: &mut Module, p: &TopIo<Expr>, ctl: &Controls<Expr>) {
    let (c, d) = (ctx.c, ctx.d);
    let (yw, aw) = (d.column_bits, d.accumulator_bits);
    let per_macro = c.cols / c.w_bits;
    let lane_word = &ctx.layout().target(LANE).data;
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
    let unit = dense_lanes(design, ctx);
    m.wire_decl("acc", Ty::unsigned(d.lanes * aw));
    for t in 0..c.macros {
        m.instance(unit.instance(
            format!("lanes_{t}"),
            DenseLanesIo {
                clk: p.clk.clone(),
                en: ctl.commit.clone(),
                first: ctl.commit_first.clone(),
                y: Expr::slice("y", t * c.cols * yw, c.cols * yw),
                acc: Expr::slice("acc", t * per_macro * aw, per_macro * aw),
            },
        ));
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
            acc_pool: Expr::name("acc"),
            acc_err: None,
            out_data: p.out_data.clone(),
        },
    ));
}

pub fn dense_lanes_name(lanes: u32, w_bits: u32) -> String {
    format!("dense_lanes_{lanes}x{w_bits}b")
}

interface! {
    /// One macro's lanes: weight-bit recombination and accumulation.
    DenseLanesIo { clk: One, en: One, first: One, y: One, acc: One }
}

/// The lanes of one macro: lane o's value `D = sum_j v_j Y[j + w_bits o]`
/// with `v_j = 2^j` and `-2^(w_bits-1)` for the sign bit (docs/SPEC.md
/// section 6), added to its accumulator when a vector commits (`first`
/// restarts it).
fn dense_lanes(design: &mut Design, ctx: &Ctx) -> Block<DenseLanesIo<PortSpec>> {
    let (c, d) = (ctx.c, ctx.d);
    let (wb, yw, aw) = (c.w_bits, d.column_bits, d.accumulator_bits);
    let dw = d.lane_value_bits.expect("the dense engine has lane values");
    let lanes = c.cols / wb;
    let io = DenseLanesIo {
        clk: input(1),
        en: input(1),
        first: input(1),
        y: input(c.cols * yw),
        acc: output(lanes * aw),
    };
    let name = dense_lanes_name(lanes, wb);
    let mut m = Module::new(&name);
    m.role(Role::LaneDatapath);
    m.doc(format!(
        "{lanes} lanes of {wb}-bit weights: D = sum_j v_j Y_j over each lane's {wb} columns (sign bit negative),"
    ));
    m.doc(format!(
        "{dw} bits exact; accumulated over row blocks in {aw} bits."
    ));
    let p = io.declare(&mut m);
    let mut body = Vec::new();
    let mut accs = Vec::new();
    for o in 0..lanes {
        let mut terms = Vec::new();
        for j in 0..wb {
            // Y * 2^j at dw bits: Y sign-extended to dw - j bits, then j zeros.
            let yx = m.wire(
                &format!("y_{o}_{j}"),
                Ty::unsigned(dw - j),
                lane_sext("y", j + wb * o, yw, dw - j),
            );
            let scaled = if j == 0 {
                yx
            } else {
                Expr::concat(vec![yx, Expr::zero(j)])
            };
            terms.push(scaled);
        }
        let sign = terms.pop().expect("w_bits >= 2");
        let positive = terms
            .into_iter()
            .reduce(|a, b| a.add(b))
            .expect("w_bits >= 2");
        let value = m.wire(&format!("d_{o}"), Ty::unsigned(dw), positive.sub(sign));
        m.note(
            &format!("d_{o}"),
            format!("lane {o}'s value D for the committed vector"),
        );
        let r = format!("acc_{o}");
        let acc = m.reg(&r, Ty::unsigned(aw));
        let base = Expr::mux(p.first.clone(), Expr::zero(aw), acc.clone());
        let ext = if aw > dw {
            lane_sext(&format!("d_{o}"), 0, dw, aw)
        } else {
            value
        };
        body.push(nb(LValue::net(&r), base.add(ext)));
        accs.push(acc);
    }
    m.always("clk", vec![if_(p.en, body)]);
    accs.reverse();
    m.assign(LValue::net("acc"), Expr::concat(accs));
    design.add(m);
    Block { module: name, io }
}
