//! Block generators: each function builds one IR module from the resolved
//! configuration, adding the sub-modules it instantiates to the design.

pub mod arith;
pub mod array;
pub mod checks;
pub mod control;
pub mod crossbar;
pub mod dense;
pub mod iface;
pub mod output;
pub mod pool;
pub mod top;

use crate::config::layout::{LoadLayout, Word};
use crate::config::{Config, Derived};
use crate::ir::{Design, Expr};

/// The configuration and everything derived from it, as the generators see it.
pub struct Ctx<'a> {
    pub c: &'a Config,
    pub d: &'a Derived,
}

impl Ctx<'_> {
    pub fn layout(&self) -> &LoadLayout {
        &self.d.load
    }
    /// Width of the TILE_ID parameter (at least one bit).
    pub fn tile_id_bits(&self) -> u32 {
        self.word_addr(self.column_target())
            .get("macro")
            .width
            .max(1)
    }
    /// The load target that writes the error / weight macros' columns.
    pub fn column_target(&self) -> &'static str {
        if self.c.is_dense() {
            crate::config::layout::WEIGHT_COLUMN
        } else {
            crate::config::layout::ERROR_COLUMN
        }
    }
    fn word_addr(&self, target: &str) -> &Word {
        &self.layout().target(target).addr
    }
}

/// Field `name` of `word`, read from the bus `net` that carries it.
pub fn field(net: &str, word: &Word, name: &str) -> Expr {
    let f = word.get(name);
    Expr::slice(net, f.lsb, f.width)
}

/// Sign-extends bits [lsb +: width] of `net` to `to` bits.
pub fn sext_slice(net: &str, lsb: u32, width: u32, to: u32) -> Expr {
    let value = Expr::slice(net, lsb, width);
    if to == width {
        value
    } else {
        Expr::concat(vec![
            Expr::repeat(to - width, Expr::bit(net, lsb + width - 1)),
            value,
        ])
    }
}

/// Builds the whole design for a validated configuration, with the
/// configuration's module-name prefix applied.
pub fn generate(config: &Config) -> Design {
    let derived = Derived::new(config);
    let ctx = Ctx {
        c: config,
        d: &derived,
    };
    let mut design = Design::default();
    design.top = if config.is_dense() {
        dense::dense_top(&mut design, &ctx).module
    } else {
        top::top(&mut design, &ctx).module
    };
    design.prefixed(&config.prefix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AdcMode, Storage};

    fn design(toml: &str) -> (Config, Design) {
        let c = Config::from_toml(toml).unwrap().resolved();
        c.validate().unwrap();
        let d = generate(&c);
        crate::ir::check_design(&d).unwrap();
        (c, d)
    }

    fn instances_of(d: &Design, parent: &str, module: &str) -> usize {
        d.module(parent)
            .unwrap()
            .instances
            .iter()
            .filter(|i| i.module == module)
            .count()
    }

    #[test]
    fn popcount_is_a_tree_of_w_minus_1_adders() {
        for w in [1, 2, 5, 16, 100, 128] {
            let mut d = Design::default();
            let block = arith::popcount(&mut d, w);
            let m = d.module(&block.module).unwrap();
            assert_eq!(m.nets.len(), (w - 1) as usize, "W = {w}");
            assert_eq!(
                m.ports[1].ty.width,
                crate::ir::clog2(w as u64 + 1),
                "W = {w}"
            );
        }
    }

    #[test]
    fn one_tile_module_serves_pool_and_error_macros_when_p_equals_c() {
        let (_, d) = design("macros = 4\nrows = 16\ncols = 16");
        assert_eq!(instances_of(&d, "cim_top", "cim_tile_16x16"), 5);
        let (_, d) = design("macros = 4\nrows = 16\ncols = 16\npool = 8");
        assert_eq!(instances_of(&d, "cim_top", "cim_tile_16x16"), 4);
        assert_eq!(instances_of(&d, "cim_top", "cim_tile_16x8"), 1);
    }

    #[test]
    fn macro_has_one_counter_per_column_and_adc_only_when_lossy() {
        let (_, d) = design("macros = 1\nrows = 32\ncols = 8\nwl_parallel = 8");
        assert_eq!(instances_of(&d, "cim_macro_32x8", "popcount_8"), 8);
        assert!(!d.contains(arith::ADC_NAME));
        for mode in [
            AdcMode::FloorClamp,
            AdcMode::RoundClamp,
            AdcMode::RoundEvenClamp,
        ] {
            let (_, d) = design(&format!("macros = 1\nrows = 32\ncols = 8\nwl_parallel = 8\nadc_bits = 2\nadc_mode = '{mode}'"));
            assert_eq!(instances_of(&d, "cim_macro_32x8", arith::ADC_NAME), 8);
        }
        // 4 ADC bits cover W = 8 exactly (bits(8) = 4): no quantizer.
        let (_, d) = design("macros = 1\nrows = 32\ncols = 8\nwl_parallel = 8\nadc_bits = 4");
        assert!(!d.contains(arith::ADC_NAME));
    }

    #[test]
    fn blackbox_macro_is_a_port_only_stub_with_the_same_ports() {
        let (mut c, flops) = design("macros = 2\nrows = 16\ncols = 16");
        c.storage = Storage::Blackbox;
        let bb = generate(&c);
        let (stub, real) = (
            bb.module("cim_macro_16x16").unwrap(),
            flops.module("cim_macro_16x16").unwrap(),
        );
        assert!(
            stub.blackbox
                && stub.nets.is_empty()
                && stub.assigns.is_empty()
                && stub.always.is_empty()
        );
        assert!(stub.instances.is_empty() && !real.instances.is_empty());
        let ports = |m: &crate::ir::Module| {
            m.ports
                .iter()
                .map(|p| (p.name.clone(), p.ty.width))
                .collect::<Vec<_>>()
        };
        assert_eq!(ports(stub), ports(real));
    }

    #[test]
    fn crossbars_and_lane_groups_follow_the_derived_counts() {
        // 16 groups, 4 bit-serial steps: 4 crossbars, 16 accumulator groups.
        let (_, d) = design("macros = 8\nrows = 16\ncols = 16\npool = 8\nact_bits = 4");
        assert_eq!(instances_of(&d, "cim_top", crossbar::POOL_CROSSBAR_MUX), 4);
        assert_eq!(instances_of(&d, "cim_top", pool::LANE_ACCUMULATOR), 16);
        let (_, d) =
            design("macros = 8\nrows = 16\ncols = 16\npool = 8\nact_bits = 4\ncrossbar_units = 16");
        assert_eq!(instances_of(&d, "cim_top", crossbar::POOL_CROSSBAR_MUX), 16);
    }

    #[test]
    fn requantizer_and_output_beats_follow_out_lanes() {
        let (_, d) = design("macros = 2\nrows = 16\ncols = 16\nout_lanes = 8");
        assert_eq!(
            instances_of(&d, output::OUTPUT_UNIT, output::OUTPUT_SLOT),
            8
        );
        assert_eq!(
            instances_of(&d, output::OUTPUT_SLOT, output::REQUANTIZER),
            1
        );
        let top = d.module("cim_top").unwrap();
        let out = top.ports.iter().find(|p| p.name == "out_data").unwrap();
        assert_eq!(out.ty.width, 8 * 8);
    }

    #[test]
    fn controller_exports_only_the_counters_that_exist() {
        let (_, d) = design("macros = 1\nrows = 16\ncols = 16\nact_bits = 1\nout_lanes = 16");
        let ctl = d.module(control::CONTROLLER).unwrap();
        let names: Vec<&str> = ctl.ports.iter().map(|p| p.name.as_str()).collect();
        for absent in ["plane", "phase", "beat", "xbar_step"] {
            assert!(!names.contains(&absent), "{absent} in {names:?}");
        }
        let (_, d) = design("macros = 4\nrows = 32\ncols = 16\npool = 4\nwl_parallel = 8\nact_bits = 2\nout_lanes = 8");
        let names: Vec<String> = d
            .module(control::CONTROLLER)
            .unwrap()
            .ports
            .iter()
            .map(|p| p.name.clone())
            .collect();
        for present in ["plane", "phase", "beat", "xbar_step"] {
            assert!(names.iter().any(|n| n == present), "{present} missing");
        }
    }
}
