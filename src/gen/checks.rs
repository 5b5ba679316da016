//! Protocol assertions of the generated RTL (issue 31, docs/VERIFICATION.md
//! section 2): what the port document promises about the handshakes,
//! written as immediate assertions the printer puts under
//! `ifdef CIMPOOL_ASSERTIONS`. Co-simulation checks them on every cycle
//! (`verilator --assert`); `cimpool prove` checks them by bounded model
//! checking. Each has a mutation test that makes it fire
//! (tests/cosim.rs, `assertion_mutations`).

use super::Ctx;
use crate::ir::{clog2, expr::zext, Checks, Expr, Module, Ty};

/// Names of the assertions, as the RTL labels them (and as a failing
/// co-simulation reports them).
pub const OUT_VALID_HELD: &str = "out_valid_held";
pub const OUT_BEAT_STABLE: &str = "out_beat_stable";
pub const OUT_LAST_PLACED: &str = "out_last_placed";
pub const OUT_OWED: &str = "out_owed";
pub const LOAD_WHEN_IDLE: &str = "load_when_idle";
pub const COUNTERS_IN_RANGE: &str = "counters_in_range";
pub const OUT_DATA_STABLE: &str = "out_data_stable";

/// How many `last` vectors the count of owed beats can hold: more than the
/// engine can (one per stage of its pipeline), so the count never wraps.
const OWED_VECTORS: u64 = 64;

fn one() -> Ty {
    Ty::unsigned(1)
}

/// A set of checks clocked by `clk`, with what both sets start from: the
/// reset tracking and the output stall. Returns the checks, `live` (this
/// cycle's state descends from a reset and rst is low) and `waited` (so
/// did the previous cycle's, which offered a beat that was not taken).
fn output_checks() -> (Checks, Expr, Expr) {
    let n = Expr::name;
    let mut k = Checks {
        clock: "clk".into(),
        ..Default::default()
    };
    let seen = k.reg(
        "chk_reset_seen",
        one(),
        0,
        n("chk_reset_seen").or(n("rst")),
        "a reset has been applied: before it the registers may hold anything",
    );
    let armed = k.reg(
        "chk_armed",
        one(),
        0,
        seen.clone().and(n("rst").not()),
        "the previous cycle was out of reset, after a reset",
    );
    let stalled = k.reg(
        "chk_out_stalled",
        one(),
        0,
        n("out_valid").and(n("out_ready").not()),
        "the previous cycle offered an output beat that was not taken",
    );
    let live = seen.and(n("rst").not());
    let waited = armed.and(live.clone()).and(stalled);
    (k, live, waited)
}

/// `when` implies `then`.
fn implies(when: Expr, then: Expr) -> Expr {
    when.not().or(then)
}

/// The controller's assertions: the output handshake, where `out_last`
/// falls, output only for a `last` vector, loads only while idle, counters
/// in range. `pipeline_valid` names the output pipeline's valid bits.
pub fn controller_checks(m: &mut Module, ctx: &Ctx, pipeline_valid: &[String]) {
    let d = ctx.d;
    let n = Expr::name;
    let (mut k, live, waited) = output_checks();
    let was_last = k.reg(
        "chk_out_last_d",
        one(),
        0,
        n("out_last"),
        "out_last in the previous cycle",
    );
    let out_fire = n("out_valid").and(n("out_ready"));
    let beats = d.out_beats;
    let bw = clog2(beats as u64).max(1);
    let beat = k.reg(
        "chk_beat",
        Ty::unsigned(bw),
        0,
        Expr::mux(
            n("rst").or(out_fire.clone().and(n("out_last"))),
            Expr::zero(bw),
            Expr::mux(
                out_fire.clone(),
                n("chk_beat").add(Expr::uconst(bw, 1)),
                n("chk_beat"),
            ),
        ),
        "output beats taken since the last `out_last` beat",
    );
    let ow = clog2(OWED_VECTORS * beats as u64);
    let owed = k.reg(
        "chk_owed",
        Ty::unsigned(ow),
        0,
        Expr::mux(
            n("rst"),
            Expr::zero(ow),
            n("chk_owed")
                .add(Expr::mux(
                    n("in_fire").and(n("in_last")),
                    Expr::uconst(ow, beats as u64),
                    Expr::zero(ow),
                ))
                .sub(zext(out_fire, 1, ow)),
        ),
        "output beats owed: out_beats per accepted `last` vector, less the beats taken",
    );

    k.assert(
        OUT_VALID_HELD,
        implies(waited.clone(), n("out_valid")),
        "An output beat not taken is offered again (valid held until ready).",
    );
    k.assert(
        OUT_BEAT_STABLE,
        implies(waited, n("out_last").eq(was_last)),
        "out_last does not change while a beat waits (the data: cim_top's out_data_stable).",
    );
    k.assert(
        OUT_LAST_PLACED,
        implies(
            live.clone().and(n("out_valid")),
            n("out_last").eq(beat.eq(Expr::uconst(bw, (beats - 1) as u64))),
        ),
        &format!(
            "out_last marks beat {} of the {beats} of each vector group, and only it.",
            beats - 1
        ),
    );
    k.assert(
        OUT_OWED,
        implies(live.clone().and(n("out_valid")), owed.ne(Expr::zero(ow))),
        "An output beat is offered only while an accepted `last` vector's beats are owed.",
    );
    let mut busy = ["s0_valid", "s1_valid", "s2_done", "b_busy", "d_busy"]
        .iter()
        .map(|r| n(r))
        .chain(pipeline_valid.iter().map(|r| n(r)))
        .reduce(|a, b| a.or(b))
        .expect("stages");
    busy = busy.not();
    k.assert(
        LOAD_WHEN_IDLE,
        implies(live.clone().and(n("load_ready")), busy),
        "The load port is ready only while no vector is anywhere in the engine.",
    );
    let ranges = counter_ranges(m, ctx);
    if let Some(all) = ranges.into_iter().reduce(|a, b| a.and(b)) {
        k.assert(
            COUNTERS_IN_RANGE,
            implies(live, all),
            "Plane, phase, crossbar step and beat counters stay below their counts.",
        );
    }
    m.checks = k;
}

/// `counter < count` for each controller counter whose register could hold
/// more values than it counts (the others cannot leave their range).
fn counter_ranges(m: &Module, ctx: &Ctx) -> Vec<Expr> {
    let d = ctx.d;
    let n = Expr::name;
    let mut out = Vec::new();
    let mut bound = |reg: &str, valid: Option<&str>, count: u32| {
        let width = m.ty_of(reg).expect("controller counter").width;
        if (count as u64) < (1u64 << width) {
            let below = n(reg).lt(Expr::uconst(width, count as u64));
            out.push(match valid {
                Some(v) => implies(n(v), below),
                None => below,
            });
        }
    };
    bound("s0_plane", Some("s0_valid"), ctx.c.act_bits);
    bound("s0_phase", Some("s0_valid"), d.issue_blocks);
    bound(
        "b_step",
        Some("b_busy"),
        d.crossbar_steps + d.crossbar_pipeline,
    );
    bound("d_beat", Some("d_busy"), d.out_beats);
    out
}

/// The top level's assertion: the output data do not change while a beat
/// waits for `out_ready`.
pub fn top_checks(m: &mut Module, ctx: &Ctx) {
    let n = Expr::name;
    let (mut k, _, waited) = output_checks();
    let data = k.reg(
        "chk_out_data_d",
        Ty::unsigned(ctx.d.out_beat_bits),
        0,
        n("out_data"),
        "out_data in the previous cycle",
    );
    k.assert(
        OUT_DATA_STABLE,
        implies(waited, n("out_data").eq(data)),
        "out_data does not change while a beat waits for out_ready.",
    );
    m.checks = k;
}

/// `label (file:line)` for the assertion a simulator or prover reports by
/// the generated file at `path` and its line (from 1): the label is the
/// identifier before `: assert` on that line.
pub fn name_failure(path: &std::path::Path, line: u32) -> String {
    let label = std::fs::read_to_string(path)
        .ok()
        .and_then(|text| {
            let l = text.lines().nth(line.checked_sub(1)? as usize)?.to_string();
            let (head, _) = l.split_once(": assert")?;
            Some(head.trim().to_string())
        })
        .unwrap_or_else(|| "(unnamed)".into());
    let file = path.file_name().unwrap_or_default().to_string_lossy();
    format!("{label} ({file}:{line})")
}
