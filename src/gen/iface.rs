//! Typed block interfaces. A block generator returns a [`Block`]: the name
//! of the module it built and its ports as a struct with one field per port
//! (a port that only some configurations have is an `Option`). A parent
//! instantiates the block by filling the same struct with the expressions to
//! connect, so a missing or misspelled port is a compile error, and a
//! connection given for a port the configuration does not have (or missing
//! for one it has) is caught when the instance is bound.

use crate::ir::{Dir, Expr, Instance, LValue, Module, Ty};

/// Direction and type of one port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortSpec {
    pub dir: Dir,
    pub ty: Ty,
}

pub fn input(width: u32) -> PortSpec {
    PortSpec {
        dir: Dir::Input,
        ty: Ty::unsigned(width),
    }
}

pub fn output(width: u32) -> PortSpec {
    PortSpec {
        dir: Dir::Output,
        ty: Ty::unsigned(width),
    }
}

/// A port list described by an interface struct of `PortSpec`s; `Conns` is
/// the same struct of `Expr`s.
pub trait Spec: Clone {
    type Conns;
    /// (port, spec, connection) in port order.
    fn pair(&self, conns: Self::Conns) -> Vec<(&'static str, Option<PortSpec>, Option<Expr>)>;
    /// The ports in order.
    fn ports(&self) -> Vec<(&'static str, PortSpec)>;
}

impl<A: Spec, B: Spec> Spec for (A, B) {
    type Conns = (A::Conns, B::Conns);
    fn pair(&self, conns: Self::Conns) -> Vec<(&'static str, Option<PortSpec>, Option<Expr>)> {
        let mut v = self.0.pair(conns.0);
        v.extend(self.1.pair(conns.1));
        v
    }
    fn ports(&self) -> Vec<(&'static str, PortSpec)> {
        let mut v = self.0.ports();
        v.extend(self.1.ports());
        v
    }
}

/// Adds the ports of `spec` to `m` in order.
pub fn declare_ports<S: Spec>(m: &mut Module, spec: &S) {
    for (name, p) in spec.ports() {
        match p.dir {
            Dir::Input => {
                m.input(name, p.ty);
            }
            Dir::Output => {
                m.output(name, p.ty);
            }
        }
    }
}

/// A generated module and its ports.
#[derive(Clone, Debug)]
pub struct Block<S> {
    pub module: String,
    pub io: S,
}

impl<S: Spec> Block<S> {
    /// An instance named `name` with every port bound to its connection.
    pub fn instance(&self, name: impl Into<String>, conns: S::Conns) -> Instance {
        let name = name.into();
        let mut inst = Instance::new(&self.module, name.clone());
        for (port, spec, conn) in self.io.pair(conns) {
            match (spec, conn) {
                (Some(_), Some(e)) => inst = inst.conn(port, e),
                (None, None) => {}
                (Some(_), None) => panic!(
                    "instance `{name}` of `{}`: port `{port}` exists in this configuration but nothing connects to it",
                    self.module
                ),
                (None, Some(_)) => panic!(
                    "instance `{name}` of `{}`: a connection is given for port `{port}`, which this configuration does not have",
                    self.module
                ),
            }
        }
        inst
    }
}

/// The net an output connection drives (a whole net).
pub fn lvalue(e: &Expr) -> LValue {
    match e {
        Expr::Ref(n) => LValue::net(n.clone()),
        Expr::Slice { net, lsb, width } => LValue::slice(net.clone(), *lsb, *width),
        other => panic!("an output drives a net or a slice, not {other:?}"),
    }
}

/// A port every configuration has.
pub type One<T> = T;
/// A port only some configurations have.
pub type Opt<T> = Option<T>;

/// Defines an interface struct `Name<T>` with one field per port, in port
/// order; `name: Opt` marks a port that only some configurations have.
/// `Name<PortSpec>` describes the module's ports, `Name<Expr>` an
/// instance's connections (or the module's own references to its ports).
macro_rules! interface {
    ($(#[$doc:meta])* $name:ident { $($field:ident : $kind:ident),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $name<T> {
            $(pub $field: $crate::gen::iface::$kind<T>),*
        }

        impl $crate::gen::iface::Spec for $name<$crate::gen::iface::PortSpec> {
            type Conns = $name<$crate::ir::Expr>;
            fn pair(
                &self,
                conns: Self::Conns,
            ) -> Vec<(&'static str, Option<$crate::gen::iface::PortSpec>, Option<$crate::ir::Expr>)> {
                vec![$((
                    stringify!($field),
                    $crate::gen::iface::interface!(@opt $kind self.$field.clone()),
                    $crate::gen::iface::interface!(@opt $kind conns.$field),
                )),*]
            }
            fn ports(&self) -> Vec<(&'static str, $crate::gen::iface::PortSpec)> {
                let mut v = Vec::new();
                $(
                    if let Some(p) = $crate::gen::iface::interface!(@opt $kind self.$field) {
                        v.push((stringify!($field), p));
                    }
                )*
                v
            }
        }

        impl $name<$crate::gen::iface::PortSpec> {
            /// Adds these ports to `m` and returns references to them.
            #[allow(dead_code)]
            pub fn declare(&self, m: &mut $crate::ir::Module) -> $name<$crate::ir::Expr> {
                $crate::gen::iface::declare_ports(m, self);
                self.refs()
            }

            /// References to ports (or nets) named like the fields.
            #[allow(dead_code)]
            pub fn refs(&self) -> $name<$crate::ir::Expr> {
                $name {
                    $($field: $crate::gen::iface::interface!(
                        @map $kind self.$field, |_| $crate::ir::Expr::name(stringify!($field))
                    )),*
                }
            }

            /// Wires named like the fields, declared in a parent to connect
            /// this block's ports to others.
            #[allow(dead_code)]
            pub fn wires(&self, m: &mut $crate::ir::Module) -> $name<$crate::ir::Expr> {
                $name {
                    $($field: $crate::gen::iface::interface!(
                        @map $kind self.$field, |p: $crate::gen::iface::PortSpec| m.wire_decl(stringify!($field), p.ty)
                    )),*
                }
            }
        }
    };
    (@opt One $e:expr) => { Some($e) };
    (@opt Opt $e:expr) => { $e };
    (@map One $e:expr, $f:expr) => { ($f)($e) };
    (@map Opt $e:expr, $f:expr) => { $e.map($f) };
}

pub(crate) use interface;
