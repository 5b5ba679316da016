//! The two permutation crossbars of SPEC section 3 (`crossbar = mux | benes`),
//! each optionally cut by `crossbar_pipeline` register stages. The
//! registers run freely; the controller delays the accumulate enables by
//! the same number of cycles.

use super::Ctx;
use crate::benes::Benes;
use crate::ir::expr::select;
use crate::ir::{nb, Design, Expr, LValue, Module, Ty};

/// Logic levels (of `levels`) after which the `stages` register stages sit:
/// spread evenly, the last one always at the output.
pub fn register_boundaries(levels: u32, stages: u32) -> Vec<u32> {
    (1..=stages)
        .map(|i| (levels * i).div_ceil(stages))
        .collect()
}

pub const POOL_CROSSBAR_MUX: &str = "pool_crossbar_mux";

/// The `mux` crossbar: output o = input[index o], any index legal (multicast
/// allowed). Each output is a tree of 2:1 multiplexers, least significant
/// index bit nearest the inputs; a register stage after level j holds
/// ceil(P / 2^j) partial selections per output and the index bits not yet
/// used.
pub fn pool_crossbar_mux(design: &mut Design, ctx: &Ctx) -> String {
    let (p, iw, yw) = (ctx.c.pool, ctx.d.index_bits, ctx.d.column_bits);
    let pipeline = ctx.d.crossbar_pipeline;
    let mut m = Module::new(POOL_CROSSBAR_MUX);
    m.doc(format!(
        "Crossbar: each of {p} outputs selects any of the {p} pool results by its index."
    ));
    if pipeline > 0 {
        m.doc(format!(
            "{pipeline} register stage(s), after multiplexer levels {:?} of {iw}.",
            register_boundaries(iw, pipeline)
        ));
        m.input("clk", Ty::unsigned(1));
    }
    m.input("pool_y", Ty::unsigned(p * yw));
    m.input("index", Ty::unsigned(p * iw));
    let out = m.output("sel_y", Ty::unsigned(p * yw));

    let entries: Vec<Expr> = (0..p).map(|k| Expr::slice("pool_y", k * yw, yw)).collect();
    let mut candidates: Vec<Vec<Expr>> = vec![entries; p as usize];
    // Index bits still to use live in `index_net`, `index_stride` bits per
    // output, starting at level `index_base`.
    let (mut index_net, mut index_stride, mut index_base) = ("index".to_string(), iw, 0);
    let segments = if pipeline == 0 {
        vec![iw]
    } else {
        register_boundaries(iw, pipeline)
    };
    let mut lo = 0;
    let mut regs = Vec::new();
    for (n, &hi) in segments.iter().enumerate() {
        let span = hi - lo;
        for (o, cands) in candidates.iter_mut().enumerate() {
            let sel = Expr::slice(
                &index_net,
                o as u32 * index_stride + (lo - index_base),
                span,
            );
            *cands = cands
                .chunks(1 << span)
                .map(|chunk| select(&sel, span, chunk.to_vec()))
                .collect();
        }
        if pipeline > 0 {
            let count = candidates[0].len() as u32;
            let y_reg = format!("stage{n}_y");
            m.reg(&y_reg, Ty::unsigned(p * count * yw));
            for (o, cands) in candidates.iter_mut().enumerate() {
                for (k, cand) in cands.iter_mut().enumerate() {
                    let lsb = (o as u32 * count + k as u32) * yw;
                    regs.push(nb(LValue::slice(&y_reg, lsb, yw), cand.clone()));
                    *cand = Expr::slice(&y_reg, lsb, yw);
                }
            }
            let rest = iw - hi;
            if rest > 0 {
                let index_reg = format!("stage{n}_index");
                m.reg(&index_reg, Ty::unsigned(p * rest));
                for o in 0..p {
                    regs.push(nb(
                        LValue::slice(&index_reg, o * rest, rest),
                        Expr::slice(&index_net, o * index_stride + (hi - index_base), rest),
                    ));
                }
                (index_net, index_stride, index_base) = (index_reg, rest, hi);
            }
        }
        lo = hi;
    }
    if !regs.is_empty() {
        m.always("clk", regs);
    }
    for (o, cands) in candidates.into_iter().enumerate() {
        m.assign(LValue::slice(&out.net, o as u32 * yw, yw), cands[0].clone());
    }
    design.add(m);
    POOL_CROSSBAR_MUX.into()
}

pub const POOL_CROSSBAR_BENES: &str = "pool_crossbar_benes";

/// The `benes` crossbar: 2 log2(P) - 1 stages of P/2 2x2 switches wired as
/// in `crate::benes`; it realises permutations only, routed offline.
pub fn pool_crossbar_benes(design: &mut Design, ctx: &Ctx) -> String {
    let (p, yw) = (ctx.c.pool, ctx.d.column_bits);
    let net = Benes::new(p).expect("config validation keeps benes pools powers of two");
    let (stages, half) = (net.stages(), net.switches_per_stage());
    let pipeline = ctx.d.crossbar_pipeline;
    let boundaries = register_boundaries(stages, pipeline);
    let mut m = Module::new(POOL_CROSSBAR_BENES);
    m.doc(format!(
        "Benes crossbar: {p} lanes, {stages} stages of {half} 2x2 switches; switch i of stage s"
    ));
    m.doc(format!(
        "exchanges positions 2i and 2i+1 when switches[s*{half} + i] is 1 (routes: src/benes.rs)."
    ));
    if pipeline > 0 {
        m.doc(format!(
            "{pipeline} register stage(s), after switch stages {boundaries:?} of {stages}."
        ));
        m.input("clk", Ty::unsigned(1));
    }
    m.input("pool_y", Ty::unsigned(p * yw));
    m.input("switches", Ty::unsigned(net.switch_bits()));
    let out = m.output("sel_y", Ty::unsigned(p * yw));

    let mut positions: Vec<Expr> = (0..p).map(|k| Expr::slice("pool_y", k * yw, yw)).collect();
    let (mut switch_net, mut switch_base) = ("switches".to_string(), 0);
    let mut regs = Vec::new();
    for s in 0..stages {
        let stage = format!("stage{s}_y");
        m.wire_decl(&stage, Ty::unsigned(p * yw));
        for i in 0..half {
            let cross = Expr::bit(&switch_net, (s - switch_base) * half + i);
            let (even, odd) = (
                positions[2 * i as usize].clone(),
                positions[2 * i as usize + 1].clone(),
            );
            m.assign(
                LValue::slice(&stage, 2 * i * yw, yw),
                Expr::mux(cross.clone(), odd.clone(), even.clone()),
            );
            m.assign(
                LValue::slice(&stage, (2 * i + 1) * yw, yw),
                Expr::mux(cross, even, odd),
            );
        }
        let mut after = stage.clone();
        if let Some(n) = boundaries.iter().position(|&b| b == s + 1) {
            let y_reg = format!("pipe{n}_y");
            m.reg(&y_reg, Ty::unsigned(p * yw));
            regs.push(nb(LValue::net(&y_reg), Expr::name(&stage)));
            after = y_reg;
            let rest = (stages - s - 1) * half;
            if rest > 0 {
                let sw_reg = format!("pipe{n}_switches");
                m.reg(&sw_reg, Ty::unsigned(rest));
                regs.push(nb(
                    LValue::net(&sw_reg),
                    Expr::slice(&switch_net, (s + 1 - switch_base) * half, rest),
                ));
                (switch_net, switch_base) = (sw_reg, s + 1);
            }
        }
        if s + 1 < stages {
            positions = (0..p)
                .map(|j| Expr::slice(&after, net.wiring_source(s, j) * yw, yw))
                .collect();
        } else {
            m.assign(out.clone(), Expr::name(&after));
        }
    }
    if !regs.is_empty() {
        m.always("clk", regs);
    }
    design.add(m);
    POOL_CROSSBAR_BENES.into()
}

#[cfg(test)]
mod tests {
    use super::register_boundaries;

    #[test]
    fn boundaries_spread_and_end_at_the_output() {
        assert_eq!(register_boundaries(7, 1), vec![7]);
        assert_eq!(register_boundaries(7, 2), vec![4, 7]);
        assert_eq!(register_boundaries(13, 3), vec![5, 9, 13]);
        assert_eq!(register_boundaries(3, 3), vec![1, 2, 3]);
        assert!(register_boundaries(5, 0).is_empty());
    }
}
