//! The two permutation crossbars of SPEC section 3 (`crossbar = mux | benes`),
//! each optionally cut by `crossbar_pipeline` register stages. The
//! registers run freely; the controller delays the accumulate enables by
//! the same number of cycles.

use super::iface::{input, interface, output, Block, PortSpec};
use super::Ctx;
use crate::benes::Benes;
use crate::config::Crossbar;
use crate::ir::{nb, Design, Expr, LValue, Module, Role, Ty};

/// Logic levels (of `levels`) after which the `stages` register stages sit:
/// spread evenly, the last one always at the output.
pub fn register_boundaries(levels: u32, stages: u32) -> Vec<u32> {
    (1..=stages)
        .map(|i| (levels * i).div_ceil(stages))
        .collect()
}

interface! {
    /// A crossbar: P pool results in, P lane values out.
    CrossbarIo { clk: Opt, pool_y: One, select: One, sel_y: One }
}

/// The crossbar the configuration asks for.
pub fn crossbar(design: &mut Design, ctx: &Ctx) -> Block<CrossbarIo<PortSpec>> {
    match ctx.c.crossbar {
        Crossbar::Mux => pool_crossbar_mux(design, ctx),
        Crossbar::Benes => pool_crossbar_benes(design, ctx),
    }
}

fn crossbar_io(ctx: &Ctx, select_bits: u32) -> CrossbarIo<PortSpec> {
    let (p, yw) = (ctx.c.pool, ctx.d.column_bits);
    CrossbarIo {
        clk: (ctx.d.crossbar_pipeline > 0).then(|| input(1)),
        pool_y: input(p * yw),
        select: input(select_bits),
        sel_y: output(p * yw),
    }
}

pub const POOL_SELECT: &str = "pool_select";

interface! {
    /// One output of the mux crossbar.
    SelectIo { clk: Opt, pool_y: One, index: One, y: One }
}

/// One output of the `mux` crossbar: `y = pool_y[index]`, a tree of 2:1
/// multiplexers with one level per index bit (least significant bit
/// nearest the inputs). A register stage after level j holds the
/// ceil(P / 2^j) partial selections and the index bits not yet used.
fn pool_select(design: &mut Design, ctx: &Ctx) -> Block<SelectIo<PortSpec>> {
    let (p, iw, yw) = (ctx.c.pool, ctx.d.index_bits, ctx.d.column_bits);
    let pipeline = ctx.d.crossbar_pipeline;
    let boundaries = register_boundaries(iw, pipeline);
    let io = SelectIo {
        clk: (pipeline > 0).then(|| input(1)),
        pool_y: input(p * yw),
        index: input(iw),
        y: output(yw),
    };
    let mut m = Module::new(POOL_SELECT);
    m.role(Role::Crossbar);
    m.doc(format!(
        "One crossbar output: y = pool_y[index] over {p} pool results, {iw} levels of 2:1 multiplexers."
    ));
    if pipeline > 0 {
        m.doc(format!(
            "{pipeline} register stage(s), after multiplexer levels {boundaries:?}."
        ));
    }
    io.declare(&mut m);
    let mut candidates: Vec<Expr> = (0..p).map(|k| Expr::slice("pool_y", k * yw, yw)).collect();
    // The index bits still to use: bit `b` of the index is bit
    // `b - index_base` of `index_net`.
    let (mut index_net, mut index_base) = ("index".to_string(), 0);
    let mut regs = Vec::new();
    for level in 1..=iw {
        let bit = Expr::bit(&index_net, level - 1 - index_base);
        let next: Vec<Expr> = candidates
            .chunks(2)
            .map(|pair| match pair {
                [low, high] => Expr::mux(bit.clone(), high.clone(), low.clone()),
                [single] => single.clone(),
                _ => unreachable!(),
            })
            .collect();
        let count = next.len() as u32;
        let stage = boundaries.iter().position(|&b| b == level);
        let net = match stage {
            Some(n) => format!("stage{n}_y"),
            None => format!("level{level}_y"),
        };
        match stage {
            Some(_) => {
                m.reg(&net, Ty::unsigned(count * yw));
            }
            None => {
                m.wire_decl(&net, Ty::unsigned(count * yw));
            }
        }
        m.note(
            &net,
            format!(
                "the {count} candidate(s) left after index bit {}",
                level - 1
            ),
        );
        for (k, e) in next.into_iter().enumerate() {
            let lv = LValue::slice(&net, k as u32 * yw, yw);
            match stage {
                Some(_) => regs.push(nb(lv, e)),
                None => m.assign(lv, e),
            }
        }
        candidates = (0..count).map(|k| Expr::slice(&net, k * yw, yw)).collect();
        if let Some(n) = stage {
            let rest = iw - level;
            if rest > 0 {
                let reg = format!("stage{n}_index");
                m.reg(&reg, Ty::unsigned(rest));
                m.note(
                    &reg,
                    format!("index bits {level} and up, delayed with the data"),
                );
                regs.push(nb(
                    LValue::net(&reg),
                    Expr::slice(&index_net, level - index_base, rest),
                ));
                (index_net, index_base) = (reg, level);
            }
        }
    }
    if !regs.is_empty() {
        m.always("clk", regs);
    }
    m.assign(LValue::net("y"), candidates.swap_remove(0));
    design.add(m);
    Block {
        module: POOL_SELECT.into(),
        io,
    }
}

pub const POOL_CROSSBAR_MUX: &str = "pool_crossbar_mux";

/// The `mux` crossbar: output o = input[index o], any index legal (multicast
/// allowed); one `pool_select` per output.
pub fn pool_crossbar_mux(design: &mut Design, ctx: &Ctx) -> Block<CrossbarIo<PortSpec>> {
    let sel = pool_select(design, ctx);
    let (p, iw, yw) = (ctx.c.pool, ctx.d.index_bits, ctx.d.column_bits);
    let io = crossbar_io(ctx, p * iw);
    let mut m = Module::new(POOL_CROSSBAR_MUX);
    m.role(Role::Crossbar);
    m.doc(format!(
        "Crossbar: each of {p} outputs selects any of the {p} pool results by its index"
    ));
    m.doc(format!(
        "(select[o*{iw} +: {iw}] is the index of output o)."
    ));
    let ports = io.declare(&mut m);
    for o in 0..p {
        m.instance(sel.instance(
            format!("out_{o}"),
            SelectIo {
                clk: ports.clk.clone(),
                pool_y: ports.pool_y.clone(),
                index: Expr::slice("select", o * iw, iw),
                y: Expr::slice("sel_y", o * yw, yw),
            },
        ));
    }
    design.add(m);
    Block {
        module: POOL_CROSSBAR_MUX.into(),
        io,
    }
}

pub const POOL_CROSSBAR_BENES: &str = "pool_crossbar_benes";

/// The `benes` crossbar: 2 log2(P) - 1 stages of P/2 2x2 switches wired as
/// in `crate::benes`; it realises permutations only, routed offline.
pub fn pool_crossbar_benes(design: &mut Design, ctx: &Ctx) -> Block<CrossbarIo<PortSpec>> {
    let (p, yw) = (ctx.c.pool, ctx.d.column_bits);
    let net = Benes::new(p).expect("config validation keeps benes pools powers of two");
    let (stages, half) = (net.stages(), net.switches_per_stage());
    let pipeline = ctx.d.crossbar_pipeline;
    let boundaries = register_boundaries(stages, pipeline);
    let io = crossbar_io(ctx, net.switch_bits());
    let mut m = Module::new(POOL_CROSSBAR_BENES);
    m.role(Role::Crossbar);
    m.doc(format!(
        "Benes crossbar: {p} lanes, {stages} stages of {half} 2x2 switches; switch i of stage s"
    ));
    m.doc(format!(
        "exchanges positions 2i and 2i+1 when select[s*{half} + i] is 1 (routes: src/benes.rs)."
    ));
    if pipeline > 0 {
        m.doc(format!(
            "{pipeline} register stage(s), after switch stages {boundaries:?} of {stages}."
        ));
    }
    io.declare(&mut m);

    let mut positions: Vec<Expr> = (0..p).map(|k| Expr::slice("pool_y", k * yw, yw)).collect();
    let (mut switch_net, mut switch_base) = ("select".to_string(), 0);
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
            m.note(
                &y_reg,
                format!("register stage {n}: the lanes after switch stage {s}"),
            );
            regs.push(nb(LValue::net(&y_reg), Expr::name(&stage)));
            after = y_reg;
            let rest = (stages - s - 1) * half;
            if rest > 0 {
                let sw_reg = format!("pipe{n}_select");
                m.reg(&sw_reg, Ty::unsigned(rest));
                m.note(
                    &sw_reg,
                    format!(
                        "settings of switch stages {} and up, delayed with the data",
                        s + 1
                    ),
                );
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
            m.assign(LValue::net("sel_y"), Expr::name(&after));
        }
    }
    if !regs.is_empty() {
        m.always("clk", regs);
    }
    design.add(m);
    Block {
        module: POOL_CROSSBAR_BENES.into(),
        io,
    }
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
