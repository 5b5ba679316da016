//! The controller: a three-stage compute pipeline (issue, macro read-out,
//! shift-accumulate), the crossbar/accumulate stage and the output drain.
//! The schedule it implements is documented in docs/ARCHITECTURE.md.

use super::Ctx;
use crate::ir::{clog2, if_, if_else, nb, Design, Expr, LValue, Module, SeqStmt, Ty};

pub const CONTROLLER: &str = "cim_controller";

fn counter_bits(n: u32) -> u32 {
    clog2(n as u64).max(1)
}

pub fn controller(design: &mut Design, ctx: &Ctx) -> String {
    let (bx, phases) = (ctx.c.act_bits, ctx.d.phases);
    let (steps, x, beats, groups) = (
        ctx.d.crossbar_steps,
        ctx.d.crossbar_units,
        ctx.d.out_beats,
        ctx.d.groups,
    );
    // A `last` vector's crossbar stage also waits for the crossbar's
    // register stages to drain before the output drain reads the sums.
    let pipeline = ctx.d.crossbar_pipeline;
    let (pw, hw, sw, bw) = (
        counter_bits(bx),
        counter_bits(phases),
        counter_bits(steps + pipeline),
        counter_bits(beats),
    );
    let mut m = Module::new(CONTROLLER);
    m.doc(
        "Controller: bit-serial issue (plane MSB first, phase inner), read-out, shift-accumulate,",
    );
    m.doc("commit to the lane accumulators, crossbar steps over the lane groups, output drain.");
    m.doc(format!(
        "Per vector: {} issue steps; {steps} crossbar step(s); {beats} output beat(s).",
        bx * phases
    ));
    for p in ["clk", "rst", "in_valid", "in_first", "in_last", "out_ready"] {
        m.input(p, Ty::unsigned(1));
    }
    let one = Ty::unsigned(1);
    let in_ready = m.output("in_ready", one);
    let load_ready = m.output("load_ready", one);
    let out_valid = m.output("out_valid", one);
    let out_last = m.output("out_last", one);
    let seq_load = m.output("seq_load", one);
    let plane_out = (bx > 1).then(|| m.output("plane", Ty::unsigned(pw)));
    let phase_out = (phases > 1).then(|| m.output("phase", Ty::unsigned(hw)));
    let issue_en = m.output("issue_en", one);
    let acc_en = m.output("acc_en", one);
    let first_phase = m.output("first_phase", one);
    let msb = m.output("msb", one);
    let commit_out = m.output("commit", one);
    let commit_first = m.output("commit_first", one);
    let group_en = m.output("group_en", Ty::unsigned(groups));
    let group_first = m.output("group_first", one);
    let step_bits = clog2(steps as u64);
    let step_out = (steps > 1).then(|| m.output("xbar_step", Ty::unsigned(step_bits)));
    let beat_out = (beats > 1).then(|| m.output("beat", Ty::unsigned(bw)));
    let beat_load = m.output("beat_load", one);

    let r = |m: &mut Module, n: &str, w: u32| m.reg(n, Ty::unsigned(w));
    let s0_valid = r(&mut m, "s0_valid", 1);
    let s0_plane = r(&mut m, "s0_plane", pw);
    let s0_phase = r(&mut m, "s0_phase", hw);
    let s0_first = r(&mut m, "s0_first", 1);
    let s0_last = r(&mut m, "s0_last", 1);
    let s1_valid = r(&mut m, "s1_valid", 1);
    let s1_phase0 = r(&mut m, "s1_phase0", 1);
    let s1_msb = r(&mut m, "s1_msb", 1);
    let s1_final = r(&mut m, "s1_final", 1);
    let s1_first = r(&mut m, "s1_first", 1);
    let s1_last = r(&mut m, "s1_last", 1);
    let s2_done = r(&mut m, "s2_done", 1);
    let s2_first = r(&mut m, "s2_first", 1);
    let s2_last = r(&mut m, "s2_last", 1);
    let b_busy = r(&mut m, "b_busy", 1);
    let b_step = r(&mut m, "b_step", sw);
    let b_first = r(&mut m, "b_first", 1);
    let b_last = r(&mut m, "b_last", 1);
    let d_busy = r(&mut m, "d_busy", 1);
    let d_beat = r(&mut m, "d_beat", bw);
    let out_valid_r = r(&mut m, "out_valid_r", 1);
    let out_last_r = r(&mut m, "out_last_r", 1);

    let c = Expr::uconst;
    let last_phase = s0_phase.clone().eq(c(hw, (phases - 1) as u64));
    let s0_final = m.wire(
        "s0_final",
        one,
        s0_plane.clone().eq(c(pw, 0)).and(last_phase.clone()),
    );
    let final_step = c(sw, (steps - 1) as u64);
    let final_step = if pipeline == 0 {
        final_step
    } else {
        Expr::mux(
            b_last.clone(),
            c(sw, (steps - 1 + pipeline) as u64),
            final_step,
        )
    };
    let b_final = m.wire("b_final", one, b_step.clone().eq(final_step));
    let d_final = m.wire("d_final", one, d_beat.clone().eq(c(bw, (beats - 1) as u64)));
    // Stage B can take a new vector when idle, or in its last step unless
    // that step hands over to the output drain (which reads the accumulators).
    let b_free = m.wire(
        "b_free",
        one,
        d_busy.clone().not().and(
            b_busy
                .clone()
                .not()
                .or(b_final.clone().and(b_last.clone().not())),
        ),
    );
    let commit = m.wire("commit_w", one, s2_done.clone().and(b_free));
    let advance = m.wire("advance", one, s2_done.clone().not().or(commit.clone()));
    let ready = m.wire(
        "in_ready_w",
        one,
        advance
            .clone()
            .and(s0_valid.clone().not().or(s0_final.clone())),
    );
    let in_fire = m.wire("in_fire", one, Expr::name("in_valid").and(ready.clone()));
    let load_beat = m.wire(
        "beat_load_w",
        one,
        d_busy
            .clone()
            .and(out_valid_r.clone().not().or(Expr::name("out_ready"))),
    );
    let idle = s0_valid
        .clone()
        .not()
        .and(s1_valid.clone().not())
        .and(s2_done.clone().not());
    let idle = m.wire(
        "idle",
        one,
        idle.and(b_busy.clone().not()).and(d_busy.clone().not()),
    );

    let set = |n: &str, e: Expr| nb(LValue::net(n), e);
    let stage0 = if_else(
        in_fire.clone(),
        vec![
            set("s0_valid", c(1, 1)),
            set("s0_plane", c(pw, (bx - 1) as u64)),
            set("s0_phase", c(hw, 0)),
            set("s0_first", Expr::name("in_first")),
            set("s0_last", Expr::name("in_last")),
        ],
        vec![if_(
            s0_valid.clone(),
            vec![if_else(
                s0_final.clone(),
                vec![set("s0_valid", c(1, 0))],
                vec![if_else(
                    last_phase,
                    vec![
                        set("s0_phase", c(hw, 0)),
                        set("s0_plane", s0_plane.clone().sub(c(pw, 1))),
                    ],
                    vec![set("s0_phase", s0_phase.clone().add(c(hw, 1)))],
                )],
            )],
        )],
    );
    let pipeline_stmts = vec![
        stage0,
        set("s1_valid", s0_valid.clone()),
        set("s1_phase0", s0_phase.clone().eq(c(hw, 0))),
        set("s1_msb", s0_plane.clone().eq(c(pw, (bx - 1) as u64))),
        set("s1_final", s0_final),
        set("s1_first", s0_first),
        set("s1_last", s0_last),
        set("s2_done", s1_valid.clone().and(s1_final)),
        set("s2_first", s1_first),
        set("s2_last", s1_last),
    ];
    let stage_b = if_else(
        commit.clone(),
        vec![
            set("b_busy", c(1, 1)),
            set("b_step", c(sw, 0)),
            set("b_first", s2_first.clone()),
            set("b_last", s2_last),
        ],
        vec![if_(
            b_busy.clone(),
            vec![if_else(
                b_final,
                vec![
                    set("b_busy", c(1, 0)),
                    if_(
                        b_last,
                        vec![set("d_busy", c(1, 1)), set("d_beat", c(bw, 0))],
                    ),
                ],
                vec![set("b_step", b_step.clone().add(c(sw, 1)))],
            )],
        )],
    );
    let drain = if_else(
        load_beat.clone(),
        vec![
            set("out_valid_r", c(1, 1)),
            set("out_last_r", d_final.clone()),
            if_else(
                d_final,
                vec![set("d_busy", c(1, 0))],
                vec![set("d_beat", d_beat.clone().add(c(bw, 1)))],
            ),
        ],
        vec![if_(
            Expr::name("out_ready"),
            vec![set("out_valid_r", c(1, 0))],
        )],
    );
    let mut reset: Vec<SeqStmt> = [
        "s0_valid",
        "s1_valid",
        "s2_done",
        "b_busy",
        "d_busy",
        "out_valid_r",
    ]
    .iter()
    .map(|n| set(n, c(1, 0)))
    .collect();
    // The accumulate enables follow the data through the crossbar's
    // register stages.
    let enables = (0..groups)
        .rev()
        .map(|g| b_busy.clone().and(b_step.clone().eq(c(sw, (g / x) as u64))))
        .collect();
    let (mut group_en_d, mut group_first_d) = (Expr::concat(enables), b_first.clone());
    let mut delays = Vec::new();
    for k in 0..pipeline {
        let (en, first) = (format!("group_en_d{k}"), format!("group_first_d{k}"));
        m.reg(&en, Ty::unsigned(groups));
        m.reg(&first, one);
        delays.push(set(&en, group_en_d));
        delays.push(set(&first, group_first_d));
        reset.push(set(&en, c(groups, 0)));
        (group_en_d, group_first_d) = (Expr::name(&en), Expr::name(&first));
    }
    let mut running = vec![if_(advance.clone(), pipeline_stmts), stage_b, drain];
    running.extend(delays);
    m.always("clk", vec![if_else(Expr::name("rst"), reset, running)]);

    m.assign(in_ready, ready);
    m.assign(load_ready, idle);
    m.assign(out_valid, out_valid_r);
    m.assign(out_last, out_last_r);
    m.assign(seq_load, in_fire);
    if let Some(p) = plane_out {
        m.assign(p, s0_plane);
    }
    if let Some(p) = phase_out {
        m.assign(p, s0_phase);
    }
    m.assign(issue_en, advance.clone().and(s0_valid));
    m.assign(acc_en, advance.and(s1_valid));
    m.assign(first_phase, s1_phase0);
    m.assign(msb, s1_msb);
    m.assign(commit_out, commit);
    m.assign(commit_first, s2_first);
    m.assign(group_en, group_en_d);
    m.assign(group_first, group_first_d);
    if let Some(s) = step_out {
        let step = if step_bits == sw {
            b_step.clone()
        } else {
            Expr::slice("b_step", 0, step_bits)
        };
        m.assign(s, step);
    }
    if let Some(b) = beat_out {
        m.assign(b, d_beat);
    }
    m.assign(beat_load, load_beat);
    design.add(m);
    CONTROLLER.into()
}
