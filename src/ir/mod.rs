//! A small typed hardware IR.
//!
//! Every expression has an explicit width and signedness, and the checker
//! (`check`) insists that operands of arithmetic and the two sides of every
//! assignment and port connection agree exactly. Extension and truncation are
//! therefore always spelled out (`zext`, `sext`, `slice`), which is what keeps
//! the printed Verilog free of Verilator WIDTH warnings by construction.

mod check;
pub mod expr;

pub use check::{check_design, check_module, CheckError};
pub use expr::{BinOp, Expr, UnOp};

use std::collections::BTreeMap;

/// Width and signedness of a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ty {
    pub width: u32,
    pub signed: bool,
}

impl Ty {
    pub fn unsigned(width: u32) -> Ty {
        Ty {
            width,
            signed: false,
        }
    }
    pub fn signed(width: u32) -> Ty {
        Ty {
            width,
            signed: true,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    Input,
    Output,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Port {
    pub name: String,
    pub dir: Dir,
    pub ty: Ty,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetKind {
    /// Driven by continuous assignments or instance outputs.
    Wire,
    /// Driven only from clocked blocks.
    Reg,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Net {
    pub name: String,
    pub kind: NetKind,
    pub ty: Ty,
    /// Printed as a comment above the declaration: what the net holds.
    pub doc: Option<String>,
}

/// An unsigned integer module parameter (printed as `parameter [W-1:0] NAME`).
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: String,
    pub width: u32,
    pub default: u64,
}

/// The target of an assignment: a whole net or a constant bit range of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LValue {
    pub net: String,
    pub range: Option<(u32, u32)>, // (lsb, width)
}

impl LValue {
    pub fn net(name: impl Into<String>) -> LValue {
        LValue {
            net: name.into(),
            range: None,
        }
    }
    pub fn slice(name: impl Into<String>, lsb: u32, width: u32) -> LValue {
        LValue {
            net: name.into(),
            range: Some((lsb, width)),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum SeqStmt {
    Assign {
        lhs: LValue,
        rhs: Expr,
    },
    If {
        cond: Expr,
        then: Vec<SeqStmt>,
        els: Vec<SeqStmt>,
    },
}

impl SeqStmt {
    /// The part of `stmts` that assigns the nets `keep` accepts: other
    /// assignments are dropped, and so are branches left empty. Each kept
    /// register sees exactly the conditions it saw before, so the projection
    /// computes the same next values for it.
    pub fn project(stmts: &[SeqStmt], keep: &dyn Fn(&str) -> bool) -> Vec<SeqStmt> {
        stmts
            .iter()
            .filter_map(|s| match s {
                SeqStmt::Assign { lhs, .. } => keep(&lhs.net).then(|| s.clone()),
                SeqStmt::If { cond, then, els } => {
                    let (then, els) = (SeqStmt::project(then, keep), SeqStmt::project(els, keep));
                    match (then.is_empty(), els.is_empty()) {
                        (true, true) => None,
                        (false, _) => Some(SeqStmt::If {
                            cond: cond.clone(),
                            then,
                            els,
                        }),
                        (true, false) => Some(SeqStmt::If {
                            cond: cond.clone().not(),
                            then: els,
                            els: vec![],
                        }),
                    }
                }
            })
            .collect()
    }

    /// Nets assigned anywhere in `stmts`.
    pub fn targets<'a>(stmts: &'a [SeqStmt], out: &mut Vec<&'a str>) {
        for s in stmts {
            match s {
                SeqStmt::Assign { lhs, .. } => {
                    if !out.contains(&lhs.net.as_str()) {
                        out.push(&lhs.net);
                    }
                }
                SeqStmt::If { then, els, .. } => {
                    SeqStmt::targets(then, out);
                    SeqStmt::targets(els, out);
                }
            }
        }
    }
}

/// A `always @(posedge clock)` block using non-blocking assignments only.
#[derive(Clone, Debug, PartialEq)]
pub struct Always {
    pub clock: String,
    pub body: Vec<SeqStmt>,
    /// Printed as a comment above the block.
    pub doc: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    pub module: String,
    pub name: String,
    /// Parameter overrides: (name, width, value); the width must match.
    pub params: Vec<(String, u32, u64)>,
    /// Port name -> connected expression (outputs: a net or a net slice).
    pub conns: Vec<(String, Expr)>,
    /// Printed as a comment above the instance.
    pub doc: Option<String>,
}

/// A Verilator lint waiver scoped to one module, with the reason it is needed.
#[derive(Clone, Debug, PartialEq)]
pub struct LintWaiver {
    pub rule: String,
    pub why: String,
}

/// What a module is for in the architecture, as the area report groups
/// cells (`flow::area`). Shared leaves (adder trees, the ADC) carry none and
/// count toward the module that instantiates them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// A CIM macro: its flops are storage, its logic is column compute.
    Macro,
    ShiftAccumulate,
    /// Index memory, index decoder and lane write decode.
    IndexMemory,
    Crossbar,
    /// Lane accumulators, pool result buffer, requantizers and output unit.
    LaneDatapath,
    /// Controller, input sequencer, tiles' write decode, top-level glue.
    Control,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Module {
    pub name: String,
    /// Comment lines printed above the module: what it is for.
    pub doc: Vec<String>,
    pub role: Option<Role>,
    pub params: Vec<Param>,
    pub ports: Vec<Port>,
    pub nets: Vec<Net>,
    pub assigns: Vec<(LValue, Expr)>,
    pub instances: Vec<Instance>,
    pub always: Vec<Always>,
    /// A stub whose body is supplied by a hard macro (`(* blackbox *)`).
    pub blackbox: bool,
    pub lint_waivers: Vec<LintWaiver>,
    /// Ports or nets with bits left unread on purpose, with the reason. The
    /// printer wraps just their declaration in an UNUSEDSIGNAL waiver.
    pub unused_ok: Vec<(String, String)>,
    /// Protocol assertions, printed only under `ifdef CIMPOOL_ASSERTIONS`.
    pub checks: Checks,
}

/// The define that includes the assertions: without it a package is plain
/// Verilog-2005 for synthesis; co-simulation and the bounded model check
/// define it.
pub const ASSERTIONS_DEFINE: &str = "CIMPOOL_ASSERTIONS";

/// A module's self-checks: SystemVerilog immediate assertions in a clocked
/// block (`verilator --assert` checks them, `yosys -formal` proves them),
/// with registers of their own for what they need of the previous cycle.
/// Nothing outside the checks may read a check register: without the define
/// it does not exist.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checks {
    pub clock: String,
    pub regs: Vec<CheckReg>,
    pub asserts: Vec<Assertion>,
}

/// A register of the checks: starts at `init` (a declaration initializer, so
/// a formal proof starts there too) and takes `next` on every clock edge.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckReg {
    pub name: String,
    pub ty: Ty,
    pub init: u64,
    pub next: Expr,
    pub doc: String,
}

/// `name: assert (holds);` sampled on every rising clock edge.
#[derive(Clone, Debug, PartialEq)]
pub struct Assertion {
    pub name: String,
    pub holds: Expr,
    pub doc: String,
}

impl Checks {
    /// A register of the checks; returns a reference to it.
    pub fn reg(&mut self, name: &str, ty: Ty, init: u64, next: Expr, doc: &str) -> Expr {
        self.regs.push(CheckReg {
            name: name.into(),
            ty,
            init,
            next,
            doc: doc.into(),
        });
        Expr::Ref(name.into())
    }

    pub fn assert(&mut self, name: &str, holds: Expr, doc: &str) {
        self.asserts.push(Assertion {
            name: name.into(),
            holds,
            doc: doc.into(),
        });
    }
}

impl Module {
    pub fn new(name: impl Into<String>) -> Module {
        Module {
            name: name.into(),
            ..Default::default()
        }
    }

    pub fn doc(&mut self, line: impl Into<String>) -> &mut Self {
        self.doc.push(line.into());
        self
    }

    pub fn role(&mut self, role: Role) -> &mut Self {
        self.role = Some(role);
        self
    }

    pub fn param(&mut self, name: &str, width: u32, default: u64) -> Expr {
        self.params.push(Param {
            name: name.into(),
            width,
            default,
        });
        Expr::Param(name.into())
    }

    pub fn input(&mut self, name: &str, ty: Ty) -> Expr {
        self.ports.push(Port {
            name: name.into(),
            dir: Dir::Input,
            ty,
        });
        Expr::Ref(name.into())
    }

    pub fn output(&mut self, name: &str, ty: Ty) -> LValue {
        self.ports.push(Port {
            name: name.into(),
            dir: Dir::Output,
            ty,
        });
        LValue::net(name)
    }

    fn declare(&mut self, name: &str, kind: NetKind, ty: Ty) -> Expr {
        self.nets.push(Net {
            name: name.into(),
            kind,
            ty,
            doc: None,
        });
        Expr::Ref(name.into())
    }

    /// Declares a wire and drives it with `value`; returns a reference to it.
    pub fn wire(&mut self, name: &str, ty: Ty, value: Expr) -> Expr {
        self.assigns.push((LValue::net(name), value));
        self.declare(name, NetKind::Wire, ty)
    }

    /// Declares a wire without a driver (driven later by slices or instances).
    pub fn wire_decl(&mut self, name: &str, ty: Ty) -> Expr {
        self.declare(name, NetKind::Wire, ty)
    }

    pub fn reg(&mut self, name: &str, ty: Ty) -> Expr {
        self.declare(name, NetKind::Reg, ty)
    }

    /// Attaches a comment to the declaration of net `name` (what it holds,
    /// where a derived constant comes from).
    pub fn note(&mut self, name: &str, text: impl Into<String>) {
        let net = self
            .nets
            .iter_mut()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("note on undeclared net `{name}`"));
        net.doc = Some(text.into());
    }

    /// A signed constant of any width: a literal up to 64 bits, beyond that a
    /// named wire holding the sign-extended value (a Verilog literal wider
    /// than its digits would be zero-extended, turning negatives positive).
    pub fn signed_const(&mut self, name: &str, width: u32, value: i64) -> Expr {
        if width <= 64 {
            return Expr::sconst(width, value);
        }
        let sign = Expr::uconst(1, (value < 0) as u64);
        let bits = Expr::concat(vec![
            Expr::repeat(width - 64, sign),
            Expr::uconst(64, value as u64),
        ]);
        self.wire(name, Ty::signed(width), bits)
    }

    /// A register loaded with `value` on clock edges where `enable` is 1.
    pub fn enabled_reg(
        &mut self,
        name: &str,
        ty: Ty,
        clock: &str,
        enable: Expr,
        value: Expr,
    ) -> Expr {
        let r = self.reg(name, ty);
        self.always(clock, vec![if_(enable, vec![nb(LValue::net(name), value)])]);
        r
    }

    pub fn assign(&mut self, lhs: LValue, rhs: Expr) {
        self.assigns.push((lhs, rhs));
    }

    pub fn always(&mut self, clock: &str, body: Vec<SeqStmt>) {
        self.always.push(Always {
            clock: clock.into(),
            body,
            doc: None,
        });
    }

    /// Registers updated by `body`, split into two always blocks: those
    /// with a value in `reset` are set to it while the synchronous `reset`
    /// input is high; the rest have no reset and follow `body` on every
    /// edge. Keeping the two apart lets synthesis use plain flops for the
    /// data registers.
    pub fn registers(
        &mut self,
        clock: &str,
        reset: &str,
        reset_values: Vec<(LValue, Expr)>,
        body: Vec<SeqStmt>,
        doc: &str,
    ) {
        let with_reset: Vec<String> = reset_values.iter().map(|(l, _)| l.net.clone()).collect();
        let resets = |n: &str| with_reset.iter().any(|r| r == n);
        let reset_part = SeqStmt::project(&body, &resets);
        let data_part = SeqStmt::project(&body, &|n| !resets(n));
        let reset_stmts = reset_values.into_iter().map(|(l, v)| nb(l, v)).collect();
        self.always.push(Always {
            clock: clock.into(),
            body: vec![if_else(Expr::name(reset), reset_stmts, reset_part)],
            doc: Some(format!("{doc}: registers with a synchronous reset.")),
        });
        if !data_part.is_empty() {
            self.always.push(Always {
                clock: clock.into(),
                body: data_part,
                doc: Some(format!(
                    "{doc}: registers without reset (only read while a valid bit above is set)."
                )),
            });
        }
    }

    pub fn instance(&mut self, inst: Instance) {
        self.instances.push(inst);
    }

    pub fn unused_ok(&mut self, name: &str, why: &str) {
        self.unused_ok.push((name.into(), why.into()));
    }

    pub fn waive(&mut self, rule: &str, why: &str) {
        self.lint_waivers.push(LintWaiver {
            rule: rule.into(),
            why: why.into(),
        });
    }

    /// Type of a port, net or parameter by name.
    pub fn ty_of(&self, name: &str) -> Option<Ty> {
        self.ports
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.ty)
            .or_else(|| self.nets.iter().find(|n| n.name == name).map(|n| n.ty))
            .or_else(|| {
                self.params
                    .iter()
                    .find(|p| p.name == name)
                    .map(|p| Ty::unsigned(p.width))
            })
    }
}

impl Instance {
    pub fn new(module: &str, name: impl Into<String>) -> Instance {
        Instance {
            module: module.into(),
            name: name.into(),
            params: vec![],
            conns: vec![],
            doc: None,
        }
    }
    pub fn param(mut self, name: &str, width: u32, value: u64) -> Instance {
        self.params.push((name.into(), width, value));
        self
    }
    pub fn conn(mut self, port: &str, expr: Expr) -> Instance {
        self.conns.push((port.into(), expr));
        self
    }
    pub fn doc(mut self, text: impl Into<String>) -> Instance {
        self.doc = Some(text.into());
        self
    }
}

/// Sequential-statement helpers.
pub fn nb(lhs: LValue, rhs: Expr) -> SeqStmt {
    SeqStmt::Assign { lhs, rhs }
}
pub fn if_(cond: Expr, then: Vec<SeqStmt>) -> SeqStmt {
    SeqStmt::If {
        cond,
        then,
        els: vec![],
    }
}
pub fn if_else(cond: Expr, then: Vec<SeqStmt>, els: Vec<SeqStmt>) -> SeqStmt {
    SeqStmt::If { cond, then, els }
}

/// A set of modules, one per distinct name, in a deterministic (sorted) order.
/// A block instantiated many times is generated and stored once.
#[derive(Clone, Debug, Default)]
pub struct Design {
    pub modules: BTreeMap<String, Module>,
    pub top: String,
    /// Names that two different modules were given: a generator bug that
    /// `check_design` reports.
    pub conflicts: Vec<String>,
}

impl Design {
    pub fn contains(&self, name: &str) -> bool {
        self.modules.contains_key(name)
    }

    /// Adds `module`. Generators name modules after every argument that
    /// changes their contents, so a name seen before must come with the same
    /// module; a different one is recorded as a conflict.
    pub fn add(&mut self, module: Module) {
        match self.modules.get(&module.name) {
            Some(existing) if *existing != module => self.conflicts.push(module.name.clone()),
            Some(_) => {}
            None => {
                self.modules.insert(module.name.clone(), module);
            }
        }
    }

    pub fn module(&self, name: &str) -> Option<&Module> {
        self.modules.get(name)
    }

    /// Every module name (and every instance's module) with `prefix` in
    /// front, so two packages can share one SoC without name clashes.
    pub fn prefixed(self, prefix: &str) -> Design {
        if prefix.is_empty() {
            return self;
        }
        let modules = self
            .modules
            .into_values()
            .map(|mut m| {
                m.name = format!("{prefix}{}", m.name);
                for inst in &mut m.instances {
                    inst.module = format!("{prefix}{}", inst.module);
                }
                (m.name.clone(), m)
            })
            .collect();
        Design {
            modules,
            top: format!("{prefix}{}", self.top),
            conflicts: self.conflicts,
        }
    }
}

/// ceil(log2(n)) with clog2(1) = 0.
pub fn clog2(n: u64) -> u32 {
    if n <= 1 {
        0
    } else {
        64 - (n - 1).leading_zeros()
    }
}
