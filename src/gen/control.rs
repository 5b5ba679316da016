//! The controller, in three stages that each own their registers:
//! - issue: the compute pipeline (s0 issue, s1 macro read-out, s2 shift-
//!   accumulate) stepping through the bit planes and phases of a vector;
//! - crossbar: the steps over the lane groups after a vector's commit;
//! - drain: the output beats of a `last` vector.
//!
//! The schedule is documented in docs/ARCHITECTURE.md ("Cycle schedule").

use super::iface::{input, interface, output, Block, PortSpec};
use super::Ctx;
use crate::ir::{clog2, if_, if_else, nb, Design, Expr, LValue, Module, Role, SeqStmt, Ty};

pub const CONTROLLER: &str = "cim_controller";

interface! {
    /// The controller's side of the top-level handshakes.
    ControllerPorts {
        clk: One, rst: One, in_valid: One, in_first: One, in_last: One, out_ready: One,
        issue_mask: Opt,
        in_ready: One, load_ready: One, out_valid: One, out_last: One,
    }
}

interface! {
    /// Control bus from the controller to the datapath.
    Controls {
        seq_load: One, plane: Opt, phase: Opt,
        issue_en: One, acc_en: One, first_phase: One, msb: One,
        commit: One, commit_first: One, group_en: Opt, group_first: Opt, xbar_step: Opt,
        beat: Opt, stage_en: Opt, beat_load: One,
    }
}

/// Width of a counter over `n` values (at least one bit).
fn counter_bits(n: u32) -> u32 {
    clog2(n as u64).max(1)
}

fn set(n: &str, e: Expr) -> SeqStmt {
    nb(LValue::net(n), e)
}

fn c(width: u32, value: u64) -> Expr {
    Expr::uconst(width, value)
}

pub fn controller(
    design: &mut Design,
    ctx: &Ctx,
) -> Block<(ControllerPorts<PortSpec>, Controls<PortSpec>)> {
    let d = ctx.d;
    let io = (
        ControllerPorts {
            clk: input(1),
            rst: input(1),
            in_valid: input(1),
            in_first: input(1),
            in_last: input(1),
            out_ready: input(1),
            issue_mask: d.issue_mask_bits.map(input),
            in_ready: output(1),
            load_ready: output(1),
            out_valid: output(1),
            out_last: output(1),
        },
        Controls {
            seq_load: output(1),
            plane: d.plane_bits.map(output),
            phase: d.phase_bits.map(output),
            issue_en: output(1),
            acc_en: output(1),
            first_phase: output(1),
            msb: output(1),
            commit: output(1),
            commit_first: output(1),
            group_en: (!ctx.c.is_dense()).then(|| output(d.groups)),
            group_first: (!ctx.c.is_dense()).then(|| output(1)),
            xbar_step: d.xbar_step_bits.map(output),
            beat: d.beat_bits.map(output),
            stage_en: (d.output_pipeline > 0).then(|| output(d.output_pipeline)),
            beat_load: output(1),
        },
    );
    let mut m = Module::new(CONTROLLER);
    m.role(Role::Control);
    m.doc(
        "Controller: bit-serial issue (plane MSB first, phase inner), read-out, shift-accumulate,",
    );
    m.doc("commit to the lane accumulators, crossbar steps over the lane groups, output drain.");
    m.doc(format!(
        "Per vector: {} issue steps; {} crossbar step(s); {} output beat(s).",
        d.steps_per_vector, d.crossbar_steps, d.out_beats
    ));
    io.0.declare(&mut m);
    io.1.declare(&mut m);
    issue_stage(&mut m, ctx);
    crossbar_stage(&mut m, ctx, !ctx.c.is_dense());
    if d.output_pipeline == 0 {
        drain_stage(&mut m, ctx);
    } else {
        pipelined_drain_stage(&mut m, ctx);
    }

    let one = Ty::unsigned(1);
    let mut idle = Expr::name("s0_valid")
        .not()
        .and(Expr::name("s1_valid").not())
        .and(Expr::name("s2_done").not())
        .and(Expr::name("b_busy").not())
        .and(Expr::name("d_busy").not());
    for k in 1..=d.output_pipeline {
        idle = idle.and(Expr::name(&format!("p{k}_valid")).not());
    }
    let idle = m.wire("idle", one, idle);
    m.note(
        "idle",
        "no vector anywhere in the engine: loads may change the memories",
    );
    let n = Expr::name;
    m.assign(LValue::net("in_ready"), n("in_ready_w"));
    m.assign(LValue::net("load_ready"), idle);
    m.assign(LValue::net("out_valid"), n("out_valid_r"));
    m.assign(LValue::net("out_last"), n("out_last_r"));
    m.assign(LValue::net("seq_load"), n("in_fire"));
    if d.plane_bits.is_some() {
        m.assign(LValue::net("plane"), n("s0_plane"));
    }
    if d.phase_bits.is_some() {
        m.assign(LValue::net("phase"), n("s0_phase"));
    }
    m.assign(LValue::net("issue_en"), n("advance").and(n("s0_valid")));
    m.assign(LValue::net("acc_en"), n("advance").and(n("s1_valid")));
    m.assign(LValue::net("first_phase"), n("s1_phase0"));
    m.assign(LValue::net("msb"), n("s1_msb"));
    m.assign(LValue::net("commit"), n("commit_w"));
    m.assign(LValue::net("commit_first"), n("s2_first"));
    if let Some(step_bits) = d.xbar_step_bits {
        let sw = counter_bits(d.crossbar_steps + d.crossbar_pipeline);
        let step = if step_bits == sw {
            n("b_step")
        } else {
            Expr::slice("b_step", 0, step_bits)
        };
        m.assign(LValue::net("xbar_step"), step);
    }
    if d.beat_bits.is_some() {
        m.assign(LValue::net("beat"), n("d_beat"));
    }
    if d.output_pipeline > 0 {
        m.assign(LValue::net("stage_en"), n("stage_en_w"));
    }
    m.assign(LValue::net("beat_load"), n("beat_load_w"));
    let pipeline_valid: Vec<String> = (1..=d.output_pipeline)
        .map(|k| format!("p{k}_valid"))
        .collect();
    super::checks::controller_checks(&mut m, ctx, &pipeline_valid);
    design.add(m);
    Block {
        module: CONTROLLER.into(),
        io,
    }
}

/// Issue stage: s0 steps through the planes (MSB first) and phases of the
/// accepted vector, s1 holds what the macros' read-out registers are
/// computing, s2 says the shift-accumulators hold a finished vector. One
/// `advance` enable moves all three, so a waiting commit holds the pipeline.
fn issue_stage(m: &mut Module, ctx: &Ctx) {
    let (bx, phases) = (ctx.c.act_bits, ctx.d.issue_blocks);
    let (pw, hw) = (counter_bits(bx), counter_bits(phases));
    let one = Ty::unsigned(1);
    let n = Expr::name;
    for (reg, width, doc) in [
        ("s0_valid", 1, "s0: a vector is being issued"),
        (
            "s0_plane",
            pw,
            "s0: bit plane being issued (counts down from the MSB)",
        ),
        ("s0_phase", hw, "s0: word-line phase being issued"),
        ("s0_first", 1, "s0: the vector's `first` flag"),
        ("s0_last", 1, "s0: the vector's `last` flag"),
        (
            "s1_valid",
            1,
            "s1: the macros' read-out registers hold a step",
        ),
        ("s1_phase0", 1, "s1: that step is a plane's first phase"),
        ("s1_msb", 1, "s1: that step belongs to the MSB plane"),
        ("s1_final", 1, "s1: that step is the vector's last"),
        ("s1_first", 1, "s1: the vector's `first` flag"),
        ("s1_last", 1, "s1: the vector's `last` flag"),
        (
            "s2_done",
            1,
            "s2: the shift-accumulators hold a finished vector",
        ),
        ("s2_first", 1, "s2: its `first` flag"),
        ("s2_last", 1, "s2: its `last` flag"),
    ] {
        m.reg(reg, Ty::unsigned(width));
        m.note(reg, doc);
    }
    // Which phase (or slot) comes first and next: every one in order, or
    // with block sparsity only those `issue_mask` marks.
    let (first_block, next_block, last_phase) = match ctx.d.issue_mask_bits {
        Some(_) if phases > 1 => masked_order(m, phases, hw),
        _ => {
            let last = m.wire(
                "last_phase",
                one,
                n("s0_phase").eq(c(hw, (phases - 1) as u64)),
            );
            m.note(
                "last_phase",
                format!("s0 is in phase {} of {phases}", phases - 1),
            );
            (c(hw, 0), n("s0_phase").add(c(hw, 1)), last)
        }
    };
    let s0_final = m.wire(
        "s0_final",
        one,
        n("s0_plane").eq(c(pw, 0)).and(last_phase.clone()),
    );
    m.note(
        "s0_final",
        "s0 issues the vector's last step (plane 0, last phase)",
    );
    let advance = m.wire("advance", one, n("s2_done").not().or(n("commit_w")));
    m.note(
        "advance",
        "the issue pipeline moves: s2 is empty or commits this cycle",
    );
    let ready = m.wire(
        "in_ready_w",
        one,
        advance
            .clone()
            .and(n("s0_valid").not().or(s0_final.clone())),
    );
    m.wire("in_fire", one, n("in_valid").and(ready));

    let step = if_else(
        n("in_fire"),
        vec![
            set("s0_valid", c(1, 1)),
            set("s0_plane", c(pw, (bx - 1) as u64)),
            set("s0_phase", first_block.clone()),
            set("s0_first", n("in_first")),
            set("s0_last", n("in_last")),
        ],
        vec![if_(
            n("s0_valid"),
            vec![if_else(
                s0_final.clone(),
                vec![set("s0_valid", c(1, 0))],
                vec![if_else(
                    last_phase,
                    vec![
                        set("s0_phase", first_block.clone()),
                        set("s0_plane", n("s0_plane").sub(c(pw, 1))),
                    ],
                    vec![set("s0_phase", next_block)],
                )],
            )],
        )],
    );
    let body = vec![if_(
        advance,
        vec![
            step,
            set("s1_valid", n("s0_valid")),
            set("s1_phase0", n("s0_phase").eq(first_block)),
            set("s1_msb", n("s0_plane").eq(c(pw, (bx - 1) as u64))),
            set("s1_final", s0_final),
            set("s1_first", n("s0_first")),
            set("s1_last", n("s0_last")),
            set("s2_done", n("s1_valid").and(n("s1_final"))),
            set("s2_first", n("s1_first")),
            set("s2_last", n("s1_last")),
        ],
    )];
    let resets = ["s0_valid", "s1_valid", "s2_done"]
        .iter()
        .map(|r| (LValue::net(*r), c(1, 0)))
        .collect();
    m.registers("clk", "rst", resets, body, "Issue stage");
}

/// The issue order over the blocks `issue_mask` marks (valid phases or used
/// slots, docs/SPEC.md section 6): the lowest marked block, the lowest one
/// above `s0_phase`, and whether there is none above. With no block marked
/// the order is block 0 alone (its word lines are gated off).
fn masked_order(m: &mut Module, blocks: u32, hw: u32) -> (Expr, Expr, Expr) {
    let one = Ty::unsigned(1);
    let lowest = |bus: &str| {
        (0..blocks).rev().fold(c(hw, 0), |rest, b| {
            Expr::mux(Expr::bit(bus, b), c(hw, b as u64), rest)
        })
    };
    let first = m.wire("first_block", Ty::unsigned(hw), lowest("issue_mask"));
    m.note(
        "first_block",
        "the lowest block `issue_mask` marks (0 if none)",
    );
    m.wire(
        "from_s0",
        Ty::unsigned(blocks - 1),
        Expr::repeat(blocks - 1, Expr::one_bit(true)).shl(Expr::name("s0_phase")),
    );
    m.note("from_s0", "blocks at or above s0's (but the top one)");
    let above = Expr::concat(vec![Expr::slice("from_s0", 0, blocks - 1), Expr::zero(1)]);
    let later = m.wire(
        "later_blocks",
        Ty::unsigned(blocks),
        Expr::name("issue_mask").and(above),
    );
    m.note("later_blocks", "marked blocks after s0's in this plane");
    let next = m.wire("next_block", Ty::unsigned(hw), lowest("later_blocks"));
    let last = m.wire("last_phase", one, later.eq(Expr::zero(blocks)));
    m.note("last_phase", "s0 issues the plane's last marked block");
    (first, next, last)
}

/// Crossbar stage: after a vector's commit, step j serves lane groups
/// j*X .. j*X+X-1. A `last` vector's stage also waits for the crossbar's
/// register stages to drain before handing over to the output drain. The
/// dense engine (no `groups`) keeps the stage as the one cycle in which
/// its lane accumulators take the committed vector.
fn crossbar_stage(m: &mut Module, ctx: &Ctx, groups_out: bool) {
    let d = ctx.d;
    let (steps, x, groups, pipeline) = (
        d.crossbar_steps,
        d.crossbar_units,
        d.groups,
        d.crossbar_pipeline,
    );
    let sw = counter_bits(steps + pipeline);
    let one = Ty::unsigned(1);
    let n = Expr::name;
    for (reg, width, doc) in [
        ("b_busy", 1, "a committed vector is in the crossbar stage"),
        ("b_step", sw, "its crossbar step"),
        ("b_first", 1, "its `first` flag"),
        ("b_last", 1, "its `last` flag"),
    ] {
        if reg == "b_first" && !groups_out {
            continue;
        }
        m.reg(reg, Ty::unsigned(width));
        m.note(reg, doc);
    }
    let final_step = if pipeline == 0 {
        c(sw, (steps - 1) as u64)
    } else {
        Expr::mux(
            n("b_last"),
            c(sw, (steps - 1 + pipeline) as u64),
            c(sw, (steps - 1) as u64),
        )
    };
    let b_final = m.wire("b_final", one, n("b_step").eq(final_step));
    m.note(
        "b_final",
        format!("the stage's last step: {steps} crossbar step(s), plus {pipeline} for a `last` vector (crossbar register stages)"),
    );
    // The stage takes a new vector when idle, or in its last step unless
    // that step hands over to the output drain (which reads the accumulators).
    let free = n("d_busy")
        .not()
        .and(n("b_busy").not().or(b_final.clone().and(n("b_last").not())));
    m.wire("b_free", one, free);
    m.wire("commit_w", one, n("s2_done").and(n("b_free")));
    m.note(
        "commit_w",
        "the finished vector enters the crossbar stage; the error sums commit",
    );
    m.wire(
        "d_start",
        one,
        n("b_busy").and(b_final.clone()).and(n("b_last")),
    );
    m.note(
        "d_start",
        "a `last` vector leaves the crossbar stage: start the output drain",
    );
    let body = vec![if_else(
        n("commit_w"),
        [
            Some(set("b_busy", c(1, 1))),
            Some(set("b_step", c(sw, 0))),
            groups_out.then(|| set("b_first", n("s2_first"))),
            Some(set("b_last", n("s2_last"))),
        ]
        .into_iter()
        .flatten()
        .collect(),
        vec![if_(
            n("b_busy"),
            vec![if_else(
                b_final,
                vec![set("b_busy", c(1, 0))],
                vec![set("b_step", n("b_step").add(c(sw, 1)))],
            )],
        )],
    )];
    m.registers(
        "clk",
        "rst",
        vec![(LValue::net("b_busy"), c(1, 0))],
        body,
        "Crossbar stage",
    );

    // Group g is served in step g / X; its enables follow the data through
    // the crossbar's register stages.
    let enables = (0..groups)
        .rev()
        .map(|g| n("b_busy").and(n("b_step").eq(c(sw, (g / x) as u64))))
        .collect();
    let (mut group_en, mut group_first) = (Expr::concat(enables), n("b_first"));
    let (mut delays, mut resets) = (Vec::new(), Vec::new());
    for k in 0..pipeline {
        let (en, first) = (format!("group_en_d{k}"), format!("group_first_d{k}"));
        m.reg(&en, Ty::unsigned(groups));
        m.reg(&first, one);
        m.note(
            &en,
            format!(
                "group enables {} cycle(s) late, in step with the crossbar's register stage {k}",
                k + 1
            ),
        );
        delays.push(set(&en, group_en));
        delays.push(set(&first, group_first));
        resets.push((LValue::net(&en), c(groups, 0)));
        (group_en, group_first) = (n(&en), n(&first));
    }
    if pipeline > 0 {
        m.registers(
            "clk",
            "rst",
            resets,
            delays,
            "Accumulate enables delayed through the crossbar",
        );
    }
    if groups_out {
        m.assign(LValue::net("group_en"), group_en);
        m.assign(LValue::net("group_first"), group_first);
    }
}

/// Drain stage: loads one beat per cycle into the output register while the
/// receiver takes them; a beat waits in the register under back-pressure.
fn drain_stage(m: &mut Module, ctx: &Ctx) {
    let beats = ctx.d.out_beats;
    let bw = counter_bits(beats);
    let one = Ty::unsigned(1);
    let n = Expr::name;
    for (reg, width, doc) in [
        ("d_busy", 1, "the output drain has beats left to load"),
        ("d_beat", bw, "the next beat to load"),
        ("out_valid_r", 1, "the output register holds a beat"),
        ("out_last_r", 1, "that beat is the vector's last"),
    ] {
        m.reg(reg, Ty::unsigned(width));
        m.note(reg, doc);
    }
    let d_final = m.wire("d_final", one, n("d_beat").eq(c(bw, (beats - 1) as u64)));
    m.note(
        "d_final",
        format!("beat {} of {beats} is the last", beats - 1),
    );
    let load = m.wire(
        "beat_load_w",
        one,
        n("d_busy").and(n("out_valid_r").not().or(n("out_ready"))),
    );
    m.note(
        "beat_load_w",
        "the output register takes the next beat: it is empty or being read",
    );
    let body = vec![
        if_else(
            n("d_start"),
            vec![set("d_busy", c(1, 1)), set("d_beat", c(bw, 0))],
            vec![if_(
                load.clone(),
                vec![if_else(
                    d_final.clone(),
                    vec![set("d_busy", c(1, 0))],
                    vec![set("d_beat", n("d_beat").add(c(bw, 1)))],
                )],
            )],
        ),
        if_else(
            load,
            vec![set("out_valid_r", c(1, 1)), set("out_last_r", d_final)],
            vec![if_(n("out_ready"), vec![set("out_valid_r", c(1, 0))])],
        ),
    ];
    let resets = ["d_busy", "out_valid_r"]
        .iter()
        .map(|r| (LValue::net(*r), c(1, 0)))
        .collect();
    m.registers("clk", "rst", resets, body, "Drain stage");
}

/// Drain stage with `output_pipeline` = P register stages between the beat
/// select and the output register: `p1..pP` follow a beat (valid, last)
/// through them. Everything moves together whenever the output register is
/// empty or being read (`out_move`), so under back-pressure the stages hold
/// their beats, and each stage's data registers load only a valid beat.
fn pipelined_drain_stage(m: &mut Module, ctx: &Ctx) {
    let beats = ctx.d.out_beats;
    let stages = ctx.d.output_pipeline;
    let bw = counter_bits(beats);
    let one = Ty::unsigned(1);
    let n = Expr::name;
    let mut regs = vec![
        (
            "d_busy".to_string(),
            1,
            "the output drain has beats left to select".to_string(),
        ),
        (
            "d_beat".to_string(),
            bw,
            "the next beat to select".to_string(),
        ),
    ];
    for k in 1..=stages {
        regs.push((
            format!("p{k}_valid"),
            1,
            format!("output pipeline stage {k} holds a beat"),
        ));
        regs.push((
            format!("p{k}_last"),
            1,
            format!("stage {k}'s beat is the vector's last"),
        ));
    }
    regs.push((
        "out_valid_r".into(),
        1,
        "the output register holds a beat".into(),
    ));
    regs.push((
        "out_last_r".into(),
        1,
        "that beat is the vector's last".into(),
    ));
    for (reg, width, doc) in &regs {
        m.reg(reg, Ty::unsigned(*width));
        m.note(reg, doc.clone());
    }
    let d_final = m.wire("d_final", one, n("d_beat").eq(c(bw, (beats - 1) as u64)));
    m.note(
        "d_final",
        format!("beat {} of {beats} is the last", beats - 1),
    );
    let mv = m.wire("out_move", one, n("out_valid_r").not().or(n("out_ready")));
    m.note(
        "out_move",
        "the output register is empty or being read: every stage moves one step",
    );
    // (valid, last) of the beat entering stage k, k = 1 ..= P + 1 (the output register).
    let source = |k: u32| -> (Expr, Expr) {
        if k == 1 {
            (n("d_busy"), d_final.clone())
        } else {
            (
                n(&format!("p{}_valid", k - 1)),
                n(&format!("p{}_last", k - 1)),
            )
        }
    };
    let enables: Vec<Expr> = (1..=stages)
        .rev()
        .map(|k| mv.clone().and(source(k).0))
        .collect();
    m.wire("stage_en_w", Ty::unsigned(stages), Expr::concat(enables));
    m.note(
        "stage_en_w",
        "bit k-1 loads stage k of the requantizer path: it moves and receives a beat",
    );
    m.wire("beat_load_w", one, mv.clone().and(source(stages + 1).0));
    m.note(
        "beat_load_w",
        "the output register takes the beat leaving the last stage",
    );
    let take = mv.clone().and(n("d_busy"));
    let mut moves = Vec::new();
    for k in 1..=stages + 1 {
        let (valid, last) = source(k);
        let (vr, lr) = if k == stages + 1 {
            ("out_valid_r".to_string(), "out_last_r".to_string())
        } else {
            (format!("p{k}_valid"), format!("p{k}_last"))
        };
        moves.push(set(&vr, valid));
        moves.push(set(&lr, last));
    }
    let body = vec![
        if_else(
            n("d_start"),
            vec![set("d_busy", c(1, 1)), set("d_beat", c(bw, 0))],
            vec![if_(
                take,
                vec![if_else(
                    d_final.clone(),
                    vec![set("d_busy", c(1, 0))],
                    vec![set("d_beat", n("d_beat").add(c(bw, 1)))],
                )],
            )],
        ),
        if_(mv, moves),
    ];
    let mut resets: Vec<(LValue, Expr)> = vec![(LValue::net("d_busy"), c(1, 0))];
    for k in 1..=stages {
        resets.push((LValue::net(format!("p{k}_valid")), c(1, 0)));
    }
    resets.push((LValue::net("out_valid_r"), c(1, 0)));
    m.registers(
        "clk",
        "rst",
        resets,
        body,
        "Drain stage and output pipeline",
    );
}
