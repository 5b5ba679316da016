//! Structural checks run on every module before it is printed.
//!
//! They mirror what Verilator's `-Wall` lint and Yosys' `check -assert` would
//! reject, so a generator bug is reported in terms of the IR (module, net,
//! bit) rather than as a lint warning in a 100 kB Verilog file.

use super::{BinOp, Design, Dir, Expr, LValue, Module, NetKind, SeqStmt, Ty, UnOp};
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckError {
    pub module: String,
    pub message: String,
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "module `{}`: {}", self.module, self.message)
    }
}

impl std::error::Error for CheckError {}

/// Checks every module of the design, and that the top exists.
pub fn check_design(design: &Design) -> Result<(), Vec<CheckError>> {
    let mut errors = Vec::new();
    if !design.contains(&design.top) {
        errors.push(CheckError {
            module: design.top.clone(),
            message: "top module missing".into(),
        });
    }
    for name in &design.conflicts {
        errors.push(CheckError {
            module: name.clone(),
            message: "two different modules were generated under this name".into(),
        });
    }
    for module in design.modules.values() {
        if let Err(mut e) = check_module(module, design) {
            errors.append(&mut e);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

const RESERVED: &[&str] = &[
    "always",
    "and",
    "assign",
    "begin",
    "buf",
    "case",
    "default",
    "else",
    "end",
    "endcase",
    "endmodule",
    "for",
    "function",
    "if",
    "initial",
    "inout",
    "input",
    "integer",
    "module",
    "nand",
    "nor",
    "not",
    "or",
    "output",
    "parameter",
    "reg",
    "signed",
    "wire",
    "xor",
    "xnor",
    "logic",
    "bit",
    "byte",
    "int",
    "type",
    "generate",
    "genvar",
    "localparam",
];

fn valid_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !RESERVED.contains(&name)
}

struct Checker<'a> {
    module: &'a Module,
    design: &'a Design,
    errors: Vec<String>,
    /// Per bit: how many drivers (assign / instance output / always block id).
    drivers: BTreeMap<&'a str, Vec<Vec<Driver>>>,
    read: BTreeMap<&'a str, Vec<bool>>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Driver {
    Continuous,
    Block(usize),
}

impl<'a> Checker<'a> {
    fn err(&mut self, msg: String) {
        self.errors.push(msg);
    }

    fn ty(&mut self, e: &Expr) -> Option<Ty> {
        match e {
            Expr::Ref(n) => {
                let ty = self.module.ty_of(n);
                match ty {
                    Some(t) => {
                        if self.module.params.iter().all(|p| &p.name != n) {
                            self.mark_read(n, 0, t.width);
                        }
                        Some(t)
                    }
                    None => {
                        self.err(format!("reference to undeclared `{n}`"));
                        None
                    }
                }
            }
            Expr::Param(n) => match self.module.params.iter().find(|p| &p.name == n) {
                Some(p) => Some(Ty::unsigned(p.width)),
                None => {
                    self.err(format!("reference to undeclared parameter `{n}`"));
                    None
                }
            },
            Expr::Const { ty, value } => {
                if ty.width == 0 || (ty.width < 64 && *value >> ty.width != 0) {
                    self.err(format!(
                        "constant {value} does not fit in {} bits",
                        ty.width
                    ));
                }
                Some(*ty)
            }
            Expr::Slice { net, lsb, width } => {
                let t = self.net_ty(net)?;
                if *width == 0 || lsb + width > t.width {
                    self.err(format!(
                        "slice `{net}[{}:{lsb}]` outside its {} bits",
                        lsb + width - 1,
                        t.width
                    ));
                    return None;
                }
                self.mark_read(net, *lsb, *width);
                Some(Ty::unsigned(*width))
            }
            Expr::Concat(parts) => {
                if parts.is_empty() {
                    self.err("empty concatenation".into());
                    return None;
                }
                let mut w = 0;
                for p in parts {
                    w += self.ty(p)?.width;
                }
                Some(Ty::unsigned(w))
            }
            Expr::Repeat(n, inner) => {
                let t = self.ty(inner)?;
                if *n == 0 {
                    self.err("zero replication".into());
                }
                Some(Ty::unsigned(t.width * n))
            }
            Expr::Unary(op, a) => {
                let t = self.ty(a)?;
                Some(match op {
                    UnOp::Not => t,
                })
            }
            Expr::Binary(op, a, b) => {
                let ta = self.ty(a)?;
                let tb = self.ty(b)?;
                self.binary_ty(*op, (a, ta), (b, tb))
            }
            Expr::Mux(c, a, b) => {
                let tc = self.ty(c)?;
                if tc.width != 1 {
                    self.err(format!("mux condition is {} bits wide", tc.width));
                }
                let ta = self.ty(a)?;
                let tb = self.ty(b)?;
                if ta.width != tb.width {
                    self.err(format!(
                        "mux branches differ in width: {} vs {}",
                        ta.width, tb.width
                    ));
                    return None;
                }
                Some(Ty {
                    width: ta.width,
                    signed: ta.signed && tb.signed,
                })
            }
        }
    }

    /// Type of `a op b`: shifts take the left operand's type, everything
    /// else needs equal widths (and equal signedness where Verilog's rules
    /// would silently change the operation).
    fn binary_ty(&mut self, op: BinOp, (a, ta): (&Expr, Ty), (b, tb): (&Expr, Ty)) -> Option<Ty> {
        match op {
            BinOp::Shl => Some(ta),
            BinOp::Sra => {
                if !ta.signed {
                    self.err("arithmetic shift of an unsigned value".into());
                }
                Some(ta)
            }
            _ => {
                if ta.width != tb.width {
                    self.err(format!(
                        "operands of {op:?} differ in width: {} vs {} bits ({} vs {})",
                        ta.width,
                        tb.width,
                        short(a),
                        short(b)
                    ));
                    return None;
                }
                if matches!(op, BinOp::Mul | BinOp::Lt | BinOp::Gt) && ta.signed != tb.signed {
                    self.err(format!(
                        "operands of {op:?} differ in signedness ({} vs {})",
                        short(a),
                        short(b)
                    ));
                }
                Some(match op {
                    BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Gt => Ty::unsigned(1),
                    _ => Ty {
                        width: ta.width,
                        signed: ta.signed && tb.signed,
                    },
                })
            }
        }
    }

    fn net_ty(&mut self, name: &str) -> Option<Ty> {
        let t = self.module.ty_of(name);
        if t.is_none() {
            self.err(format!("reference to undeclared `{name}`"));
        }
        t
    }

    fn mark_read(&mut self, name: &str, lsb: u32, width: u32) {
        if let Some(bits) = self.read.get_mut(name) {
            for b in bits.iter_mut().skip(lsb as usize).take(width as usize) {
                *b = true;
            }
        }
    }

    fn lvalue(&mut self, lv: &LValue, driver: Driver) -> Option<Ty> {
        let Some(t) = self.module.ty_of(&lv.net) else {
            self.err(format!("assignment to undeclared `{}`", lv.net));
            return None;
        };
        let (lsb, width) = lv.range.unwrap_or((0, t.width));
        if width == 0 || lsb + width > t.width {
            self.err(format!(
                "assignment to `{}` bits outside its {} bits",
                lv.net, t.width
            ));
            return None;
        }
        match self.drivers.get_mut(lv.net.as_str()) {
            Some(bits) => {
                for b in bits.iter_mut().skip(lsb as usize).take(width as usize) {
                    b.push(driver);
                }
            }
            None => self.err(format!("`{}` is not assignable (parameter?)", lv.net)),
        }
        Some(Ty::unsigned(width))
    }

    fn seq(&mut self, stmts: &[SeqStmt], block: usize) {
        for s in stmts {
            match s {
                SeqStmt::Assign { lhs, rhs } => {
                    let lt = self.lvalue(lhs, Driver::Block(block));
                    let rt = self.ty(rhs);
                    if let (Some(l), Some(r)) = (lt, rt) {
                        if l.width != r.width {
                            self.err(format!(
                                "register assignment to `{}` is {} bits, value {} bits",
                                lhs.net, l.width, r.width
                            ));
                        }
                    }
                }
                SeqStmt::If { cond, then, els } => {
                    if let Some(t) = self.ty(cond) {
                        if t.width != 1 {
                            self.err(format!("if condition is {} bits wide", t.width));
                        }
                    }
                    self.seq(then, block);
                    self.seq(els, block);
                }
            }
        }
    }
}

fn short(e: &Expr) -> String {
    let s = format!("{e:?}");
    if s.len() > 60 {
        format!("{}...", &s[..60])
    } else {
        s
    }
}

/// Checks one module against the rules in the module docs; instances are
/// checked against the port lists of the modules in `design`.
pub fn check_module(module: &Module, design: &Design) -> Result<(), Vec<CheckError>> {
    let mut c = Checker {
        module,
        design,
        errors: Vec::new(),
        drivers: BTreeMap::new(),
        read: BTreeMap::new(),
    };

    check_declarations(&mut c);
    for (lhs, rhs) in &module.assigns {
        let lt = c.lvalue(lhs, Driver::Continuous);
        let rt = c.ty(rhs);
        if let (Some(l), Some(r)) = (lt, rt) {
            if l.width != r.width {
                c.err(format!(
                    "assign to `{}`: {} bits from a {}-bit value",
                    lhs.net, l.width, r.width
                ));
            }
        }
    }
    for (i, a) in module.always.iter().enumerate() {
        match module.ports.iter().find(|p| p.name == a.clock) {
            Some(p) if p.dir == Dir::Input && p.ty.width == 1 => c.mark_read(&a.clock, 0, 1),
            _ => c.err(format!("clock `{}` is not a 1-bit input", a.clock)),
        }
        c.seq(&a.body, i);
    }
    for inst in &module.instances {
        check_instance(&mut c, inst);
    }
    check_drivers(&mut c);
    if !module.blackbox {
        check_reads(&mut c);
    }
    check_assertions(&mut c);

    if c.errors.is_empty() {
        Ok(())
    } else {
        Err(c
            .errors
            .into_iter()
            .map(|message| CheckError {
                module: module.name.clone(),
                message,
            })
            .collect())
    }
}

/// Names are identifiers, declared once, with a width; every bit starts
/// undriven and (outputs aside) unread.
fn check_declarations(c: &mut Checker<'_>) {
    let module = c.module;
    if !valid_identifier(&module.name) {
        c.err(format!("invalid module name `{}`", module.name));
    }
    let mut seen = std::collections::BTreeSet::new();
    let names = module
        .ports
        .iter()
        .map(|p| (&p.name, p.ty))
        .chain(module.nets.iter().map(|n| (&n.name, n.ty)))
        .chain(
            module
                .params
                .iter()
                .map(|p| (&p.name, Ty::unsigned(p.width))),
        );
    for (name, ty) in names {
        if !valid_identifier(name) {
            c.err(format!("invalid identifier `{name}`"));
        }
        if !seen.insert(name.as_str()) {
            c.err(format!("`{name}` declared twice"));
        }
        if ty.width == 0 {
            c.err(format!("`{name}` has zero width"));
        }
    }
    for p in &module.ports {
        c.read
            .insert(&p.name, vec![p.dir == Dir::Output; p.ty.width as usize]);
        c.drivers
            .insert(&p.name, vec![Vec::new(); p.ty.width as usize]);
    }
    for n in &module.nets {
        c.read.insert(&n.name, vec![false; n.ty.width as usize]);
        c.drivers
            .insert(&n.name, vec![Vec::new(); n.ty.width as usize]);
    }
}

/// Inputs are never driven inside, wires once by continuous drivers,
/// registers by one clocked block.
fn check_drivers(c: &mut Checker<'_>) {
    let module = c.module;
    let kinds: BTreeMap<&str, Option<NetKind>> = module
        .ports
        .iter()
        .map(|p| {
            (
                p.name.as_str(),
                if p.dir == Dir::Input {
                    None
                } else {
                    Some(NetKind::Wire)
                },
            )
        })
        .chain(module.nets.iter().map(|n| (n.name.as_str(), Some(n.kind))))
        .collect();
    let drivers = std::mem::take(&mut c.drivers);
    for (name, bits) in &drivers {
        for (bit, ds) in bits.iter().enumerate() {
            if let Some(problem) = driver_problem(name, bit, kinds[name], ds, module.blackbox) {
                c.err(problem);
            }
        }
    }
}

/// What is wrong with bit `bit` of `name`'s drivers, if anything.
fn driver_problem(
    name: &str,
    bit: usize,
    kind: Option<NetKind>,
    ds: &[Driver],
    blackbox: bool,
) -> Option<String> {
    match kind {
        None if !ds.is_empty() => Some(format!(
            "input `{name}` bit {bit} is driven inside the module"
        )),
        None => None,
        Some(NetKind::Wire) => {
            if ds.iter().any(|d| *d != Driver::Continuous) {
                Some(format!(
                    "wire `{name}` bit {bit} is assigned in a clocked block"
                ))
            } else if ds.len() > 1 {
                Some(format!("`{name}` bit {bit} has {} drivers", ds.len()))
            } else if ds.is_empty() && !blackbox {
                Some(format!("`{name}` bit {bit} is undriven"))
            } else {
                None
            }
        }
        Some(NetKind::Reg) => {
            let mut blocks = ds.to_vec();
            blocks.dedup();
            if ds.contains(&Driver::Continuous) {
                Some(format!(
                    "register `{name}` bit {bit} has a continuous driver"
                ))
            } else if blocks.len() > 1 {
                Some(format!(
                    "register `{name}` bit {bit} is assigned in several blocks"
                ))
            } else if blocks.is_empty() {
                Some(format!("register `{name}` bit {bit} is never assigned"))
            } else {
                None
            }
        }
    }
}

/// The checks type-check against the module plus their own registers, which
/// only they may read; reads by the checks do not count as reads of the
/// design (a net read only by an assertion is unread without the define).
fn check_assertions(c: &mut Checker<'_>) {
    let checks = &c.module.checks;
    if checks.asserts.is_empty() && checks.regs.is_empty() {
        return;
    }
    let mut view = c.module.clone();
    let mut errors = Vec::new();
    match view.ports.iter().find(|p| p.name == checks.clock) {
        Some(p) if p.dir == Dir::Input && p.ty.width == 1 => {}
        _ => errors.push(format!(
            "checks' clock `{}` is not a 1-bit input",
            checks.clock
        )),
    }
    let mut names: Vec<&str> = Vec::new();
    for name in checks
        .regs
        .iter()
        .map(|r| r.name.as_str())
        .chain(checks.asserts.iter().map(|a| a.name.as_str()))
    {
        if !valid_identifier(name) || names.contains(&name) || c.module.ty_of(name).is_some() {
            errors.push(format!("check name `{name}` is invalid or not unique"));
        }
        names.push(name);
    }
    for r in &checks.regs {
        view.nets.push(super::Net {
            name: r.name.clone(),
            kind: NetKind::Reg,
            ty: r.ty,
            doc: None,
        });
    }
    let mut inner = Checker {
        module: &view,
        design: c.design,
        errors: Vec::new(),
        drivers: BTreeMap::new(),
        read: BTreeMap::new(),
    };
    for r in &checks.regs {
        if let Some(t) = inner.ty(&r.next) {
            if t.width != r.ty.width {
                inner.err(format!(
                    "check register `{}`: {} bits from a {}-bit value",
                    r.name, r.ty.width, t.width
                ));
            }
        }
    }
    for a in &checks.asserts {
        if let Some(t) = inner.ty(&a.holds) {
            if t.width != 1 {
                inner.err(format!(
                    "assertion `{}` holds a {}-bit value",
                    a.name, t.width
                ));
            }
        }
    }
    errors.extend(inner.errors);
    for e in errors {
        c.err(e);
    }
}

/// Every bit is read somewhere, unless the module waives the net.
fn check_reads(c: &mut Checker<'_>) {
    let read = std::mem::take(&mut c.read);
    for (name, bits) in &read {
        let unread: Vec<usize> = bits
            .iter()
            .enumerate()
            .filter(|(_, r)| !**r)
            .map(|(i, _)| i)
            .collect();
        if !unread.is_empty() && !c.module.unused_ok.iter().any(|(n, _)| n == name) {
            c.err(format!("`{name}` bits {} are never read", ranges(&unread)));
        }
    }
}

fn check_instance(c: &mut Checker<'_>, inst: &super::Instance) {
    let Some(target) = c.design.module(&inst.module) else {
        c.err(format!(
            "instance `{}` of unknown module `{}`",
            inst.name, inst.module
        ));
        return;
    };
    for (pname, width, value) in &inst.params {
        match target.params.iter().find(|p| &p.name == pname) {
            None => c.err(format!(
                "instance `{}`: `{}` has no parameter `{pname}`",
                inst.name, inst.module
            )),
            Some(p) if p.width != *width || (p.width < 64 && value >> p.width != 0) => {
                c.err(format!(
                    "instance `{}`: parameter `{pname}` = {value} exceeds {} bits",
                    inst.name, p.width
                ))
            }
            _ => {}
        }
    }
    for port in &target.ports {
        let conns: Vec<_> = inst.conns.iter().filter(|(n, _)| n == &port.name).collect();
        match conns.len() {
            0 => c.err(format!(
                "instance `{}`: port `{}` is unconnected",
                inst.name, port.name
            )),
            1 => {}
            n => c.err(format!(
                "instance `{}`: port `{}` connected {n} times",
                inst.name, port.name
            )),
        }
    }
    for (pname, expr) in &inst.conns {
        let Some(port) = target.ports.iter().find(|p| &p.name == pname) else {
            c.err(format!(
                "instance `{}`: `{}` has no port `{pname}`",
                inst.name, inst.module
            ));
            continue;
        };
        let ty = match (port.dir, expr) {
            (Dir::Output, Expr::Ref(n)) => c.lvalue(&LValue::net(n.clone()), Driver::Continuous),
            (Dir::Output, Expr::Slice { net, lsb, width }) => c.lvalue(
                &LValue::slice(net.clone(), *lsb, *width),
                Driver::Continuous,
            ),
            (Dir::Output, _) => {
                c.err(format!(
                    "instance `{}`: output `{pname}` must connect to a net or a slice",
                    inst.name
                ));
                None
            }
            (Dir::Input, e) => c.ty(e),
        };
        if let Some(t) = ty {
            if t.width != port.ty.width {
                c.err(format!(
                    "instance `{}`: port `{pname}` is {} bits, connection {} bits",
                    inst.name, port.ty.width, t.width
                ));
            }
        }
    }
}

fn ranges(bits: &[usize]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bits.len() {
        let start = bits[i];
        let mut end = start;
        while i + 1 < bits.len() && bits[i + 1] == end + 1 {
            i += 1;
            end = bits[i];
        }
        out.push(if start == end {
            format!("{start}")
        } else {
            format!("{start}..{end}")
        });
        i += 1;
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{if_, nb, Design, Expr, Instance, LValue, Module, Ty};

    fn design_with(modules: Vec<Module>) -> Design {
        let mut d = Design {
            top: modules[0].name.clone(),
            ..Default::default()
        };
        for m in modules {
            d.add(m);
        }
        d
    }

    fn errors(m: Module) -> String {
        let d = design_with(vec![m.clone()]);
        check_module(&m, &d)
            .err()
            .map(|e| {
                e.iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    }

    fn adder() -> Module {
        let mut m = Module::new("adder");
        let a = m.input("a", Ty::unsigned(8));
        let b = m.input("b", Ty::unsigned(8));
        let y = m.output("y", Ty::unsigned(8));
        m.assign(y, a.add(b));
        m
    }

    #[test]
    fn clean_module_passes() {
        assert_eq!(errors(adder()), "");
    }

    /// Assertions type-check against the module plus their registers; the
    /// design may not read a check register (it vanishes without the
    /// define), and a read by an assertion does not count as a read.
    #[test]
    fn assertions_are_checked_apart_from_the_design() {
        let clocked = || {
            let mut m = adder();
            m.input("clk", Ty::unsigned(1));
            m.unused_ok("clk", "only the checks are clocked");
            m.checks.clock = "clk".into();
            m
        };
        let mut m = clocked();
        let past = m
            .checks
            .reg("chk_a", Ty::unsigned(8), 0, Expr::name("a"), "a before");
        m.checks
            .assert("a_steady", past.eq(Expr::name("a")), "a never changes");
        assert_eq!(errors(m), "");

        let mut m = clocked();
        m.checks
            .reg("chk_a", Ty::unsigned(4), 0, Expr::name("a"), "too narrow");
        m.checks.assert("wide", Expr::name("a"), "8 bits");
        let e = errors(m);
        assert!(
            e.contains("check register `chk_a`: 4 bits from a 8-bit value"),
            "{e}"
        );
        assert!(e.contains("assertion `wide` holds a 8-bit value"), "{e}");

        let mut m = clocked();
        m.checks
            .reg("chk_a", Ty::unsigned(8), 0, Expr::name("a"), "a before");
        m.checks
            .assert("a", Expr::one_bit(true), "clashes with the input");
        m.assign(LValue::net("y"), Expr::name("chk_a"));
        let e = errors(m);
        assert!(e.contains("reference to undeclared `chk_a`"), "{e}");
        assert!(e.contains("check name `a` is invalid or not unique"), "{e}");

        // `b` read only by an assertion is still unread by the design.
        let mut m = Module::new("half");
        m.input("clk", Ty::unsigned(1));
        m.unused_ok("clk", "only the checks are clocked");
        let a = m.input("a", Ty::unsigned(8));
        m.input("b", Ty::unsigned(8));
        let y = m.output("y", Ty::unsigned(8));
        m.assign(y, a);
        m.checks.clock = "clk".into();
        m.checks
            .assert("b_zero", Expr::name("b").eq(Expr::zero(8)), "b is 0");
        let e = errors(m);
        assert!(e.contains("`b` bits 0..7 are never read"), "{e}");
    }

    #[test]
    fn width_mismatch_in_operands_and_assignments() {
        let mut m = Module::new("bad");
        let a = m.input("a", Ty::unsigned(8));
        let b = m.input("b", Ty::unsigned(4));
        let y = m.output("y", Ty::unsigned(8));
        m.assign(y, a.add(b));
        assert!(errors(m).contains("operands of Add differ in width: 8 vs 4 bits"));

        let mut m = Module::new("bad");
        let a = m.input("a", Ty::unsigned(8));
        let y = m.output("y", Ty::unsigned(9));
        m.assign(y, a);
        assert!(errors(m).contains("assign to `y`: 9 bits from a 8-bit value"));
    }

    #[test]
    fn multiple_drivers_and_undriven_bits() {
        let mut m = adder();
        m.assign(LValue::slice("y", 0, 1), Expr::uconst(1, 0));
        assert!(errors(m).contains("`y` bit 0 has 2 drivers"));

        let mut m = Module::new("bad");
        let a = m.input("a", Ty::unsigned(2));
        m.output("y", Ty::unsigned(2));
        m.assign(
            LValue::slice("y", 0, 1),
            Expr::slice("a", 0, 1).and(Expr::slice("a", 1, 1)),
        );
        assert!(errors(m).contains("`y` bit 1 is undriven"), "{a:?}");
    }

    #[test]
    fn register_rules() {
        let mut m = Module::new("bad");
        m.input("clk", Ty::unsigned(1));
        let d = m.input("d", Ty::unsigned(1));
        let q = m.output("q", Ty::unsigned(1));
        let r = m.reg("r", Ty::unsigned(1));
        m.always("clk", vec![nb(LValue::net("r"), d.clone())]);
        m.always(
            "clk",
            vec![if_(d, vec![nb(LValue::net("r"), Expr::uconst(1, 0))])],
        );
        m.assign(q, r);
        assert!(errors(m).contains("register `r` bit 0 is assigned in several blocks"));
    }

    #[test]
    fn unread_bits_are_reported_with_their_range() {
        let mut m = Module::new("bad");
        m.input("a", Ty::unsigned(8));
        let y = m.output("y", Ty::unsigned(4));
        m.assign(y, Expr::slice("a", 2, 4));
        assert!(errors(m).contains("`a` bits 0..1,6..7 are never read"));
    }

    #[test]
    fn unread_bits_may_be_waived_by_name() {
        let mut m = Module::new("ok");
        m.input("a", Ty::unsigned(8));
        let y = m.output("y", Ty::unsigned(4));
        m.assign(y, Expr::slice("a", 2, 4));
        m.unused_ok("a", "test");
        assert_eq!(errors(m), "");
    }

    #[test]
    fn instance_ports_must_all_connect_with_matching_widths() {
        let mut top = Module::new("top");
        let a = top.input("a", Ty::unsigned(8));
        let y = top.output("y", Ty::unsigned(7));
        let _ = y;
        top.instance(
            Instance::new("adder", "u0")
                .conn("a", a)
                .conn("y", Expr::name("y")),
        );
        let d = design_with(vec![top.clone(), adder()]);
        let msg = check_module(&top, &d)
            .unwrap_err()
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(msg.contains("port `b` is unconnected"), "{msg}");
        assert!(
            msg.contains("port `y` is 8 bits, connection 7 bits"),
            "{msg}"
        );
    }

    #[test]
    fn identifiers_are_checked() {
        let mut m = Module::new("bad");
        let a = m.input("wire", Ty::unsigned(1));
        let y = m.output("y$1", Ty::unsigned(1));
        m.assign(y, a);
        let e = errors(m);
        assert!(
            e.contains("invalid identifier `wire`") && e.contains("invalid identifier `y$1`"),
            "{e}"
        );
    }

    #[test]
    fn a_second_different_module_under_one_name_is_reported() {
        let mut other = adder();
        other.doc("a different body");
        let mut d = design_with(vec![adder()]);
        d.add(adder());
        assert!(check_design(&d).is_ok(), "an identical module is fine");
        d.add(other);
        let errs = check_design(&d).unwrap_err();
        assert!(
            errs.iter()
                .any(|e| e.module == "adder" && e.message.contains("two different modules")),
            "{errs:?}"
        );
    }

    #[test]
    fn prefix_renames_modules_instances_and_top() {
        let mut top = Module::new("top");
        let a = top.input("a", Ty::unsigned(8));
        top.wire_decl("y", Ty::unsigned(8));
        top.instance(
            Instance::new("adder", "u")
                .conn("a", a.clone())
                .conn("b", a)
                .conn("y", Expr::name("y")),
        );
        let d = design_with(vec![top, adder()]).prefixed("soc_a_");
        assert_eq!(d.top, "soc_a_top");
        assert!(d.contains("soc_a_adder") && !d.contains("adder"));
        assert_eq!(
            d.module("soc_a_top").unwrap().instances[0].module,
            "soc_a_adder"
        );
    }

    #[test]
    fn projection_keeps_each_registers_conditions() {
        use crate::ir::{if_else, SeqStmt};
        let body = vec![if_else(
            Expr::name("c"),
            vec![
                nb(LValue::net("a"), Expr::name("x")),
                nb(LValue::net("b"), Expr::name("y")),
            ],
            vec![nb(LValue::net("b"), Expr::name("z"))],
        )];
        let only_a = SeqStmt::project(&body, &|n| n == "a");
        assert_eq!(
            only_a,
            vec![if_(
                Expr::name("c"),
                vec![nb(LValue::net("a"), Expr::name("x"))]
            )]
        );
        let only_b = SeqStmt::project(&body, &|n| n == "b");
        assert_eq!(only_b.len(), 1);
        let no_then = SeqStmt::project(
            &[if_else(
                Expr::name("c"),
                vec![nb(LValue::net("a"), Expr::name("x"))],
                vec![nb(LValue::net("b"), Expr::name("z"))],
            )],
            &|n| n == "b",
        );
        assert_eq!(
            no_then,
            vec![if_(
                Expr::name("c").not(),
                vec![nb(LValue::net("b"), Expr::name("z"))]
            )]
        );
    }
}
