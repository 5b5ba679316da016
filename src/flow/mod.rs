//! Flow hand-off views of a package: timing constraints, a Yosys script,
//! an OpenROAD-flow-scripts (ORFS) configuration, and LEF / Liberty views of
//! black-box macros. All are written by `cimpool gen` from the same design.

pub mod area;
mod macro_views;
pub mod timing;
pub mod xbar;

pub use macro_views::{macro_lef, macro_liberty, MacroGeometry};

use crate::config::{Config, ConfigError, Storage};
use crate::emit::verilog::banner_in;
use crate::ir::{Design, Dir};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// A report that cannot be made: a package or Liberty that cannot be read,
/// or a synthesis that fails.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("{path}: {source}")]
    Config {
        path: PathBuf,
        source: Box<ConfigError>,
    },
    #[error("{0}")]
    Invalid(Box<ConfigError>),
    #[error("cannot run yosys: {0}; install it with `make deps`")]
    NoYosys(String),
    #[error("yosys failed{context}:\n{log}")]
    Yosys { context: String, log: String },
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("{0}")]
    Tool(String),
    #[error("{0}")]
    Usage(String),
    #[error("no {what} in the Yosys output for {module}")]
    Missing { what: String, module: String },
}

impl FlowError {
    pub(crate) fn io(path: &Path) -> impl Fn(std::io::Error) -> FlowError + '_ {
        move |e| FlowError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    }

    fn context(self, what: &str) -> FlowError {
        match self {
            FlowError::Yosys { log, .. } => FlowError::Yosys {
                context: format!(" on {what}"),
                log,
            },
            other => other,
        }
    }

    /// Bad input (a package or configuration) rather than a tool failure.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            FlowError::Config { .. } | FlowError::Invalid(_) | FlowError::Usage(_)
        )
    }
}

/// The resolved configuration of a generated package.
pub fn package_config(dir: &Path) -> Result<Config, FlowError> {
    let path = dir.join("cim_config.toml");
    let c = Config::from_file(&path)
        .map_err(|source| FlowError::Config {
            path: path.clone(),
            source: Box::new(source),
        })?
        .resolved();
    c.validate().map_err(|source| FlowError::Config {
        path,
        source: Box::new(source),
    })?;
    Ok(c)
}

fn hash_banner() -> String {
    banner_in("#", "")
}

/// Verilog files of the design in `files.f` order: leaves first, top last.
pub fn file_order(design: &Design) -> Vec<String> {
    let mut names: Vec<&String> = design
        .modules
        .keys()
        .filter(|n| **n != design.top)
        .collect();
    names.push(&design.top);
    names.iter().map(|n| format!("{n}.v")).collect()
}

fn port_list(design: &Design, dir: Dir) -> String {
    let top = design.module(&design.top).expect("top");
    top.ports
        .iter()
        .filter(|p| p.dir == dir && p.name != "clk")
        .map(|p| {
            if p.ty.width == 1 {
                p.name.clone()
            } else {
                format!("{}[*]", p.name)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// SDC: clock `core_clock` on `clk`, input and output delays as a fraction
/// of the period on every other port. The reset is synchronous, so it is
/// timed like data and needs no false path.
pub fn sdc(config: &Config, design: &Design) -> String {
    let mut s = hash_banner();
    let period = config.clock_period_ns;
    let io = period * config.io_delay_fraction;
    let _ = writeln!(
        s,
        "# Timing constraints of {} ({}).",
        design.top,
        config.design_name()
    );
    s.push_str("# rst is synchronous (sampled like data), so it needs no false path.\n");
    let _ = writeln!(s, "set clk_period {period:.3}");
    let _ = writeln!(s, "set io_delay {io:.3}");
    s.push_str("create_clock -name core_clock -period $clk_period [get_ports clk]\n");
    let _ = writeln!(
        s,
        "set_input_delay $io_delay -clock core_clock [get_ports {{{}}}]",
        port_list(design, Dir::Input)
    );
    let _ = writeln!(
        s,
        "set_output_delay $io_delay -clock core_clock [get_ports {{{}}}]",
        port_list(design, Dir::Output)
    );
    s
}

/// Yosys script, run from the package's `flow/` folder: `yosys -s synth.ys`.
pub fn synth_script(design: &Design) -> String {
    let mut s = hash_banner();
    let _ = writeln!(
        s,
        "# Yosys synthesis of {}; run from this folder: yosys -s synth.ys",
        design.top
    );
    s.push_str("# Black-box macro stubs carry (* blackbox *) and stay empty.\n");
    for f in file_order(design) {
        let _ = writeln!(s, "read_verilog ../{f}");
    }
    let top = &design.top;
    let _ = writeln!(
        s,
        "hierarchy -check -top {top}\nsynth -top {top}\ncheck -assert\nstat"
    );
    s.push_str("# To map onto a standard-cell Liberty (an area-only sky130 one ships as\n");
    s.push_str("# tools/sky130hd_area.lib in cimpool; `cimpool report area` does this):\n");
    s.push_str("#   dfflibmap -liberty LIB; abc -liberty LIB; opt_clean; stat -liberty LIB\n");
    s
}

/// Module names of black-box macro stubs.
pub fn blackbox_modules(design: &Design) -> Vec<String> {
    design
        .modules
        .values()
        .filter(|m| m.blackbox)
        .map(|m| m.name.clone())
        .collect()
}

/// ORFS `config.mk`, usable in place: paths are relative to its own location.
pub fn orfs_config(config: &Config, design: &Design) -> String {
    let mut s = hash_banner();
    let _ = writeln!(
        s,
        "# OpenROAD-flow-scripts configuration of {}.",
        config.design_name()
    );
    s.push_str("# Run: make -C <ORFS>/flow DESIGN_CONFIG=$(realpath flow/orfs/config.mk)\n");
    s.push_str("CIM_PACKAGE := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/../..)\n\n");
    let _ = writeln!(s, "export DESIGN_NAME = {}", design.top);
    let _ = writeln!(s, "export DESIGN_NICKNAME = {}", config.design_name());
    let _ = writeln!(s, "export PLATFORM ?= {}", config.orfs_platform);
    let boxes = blackbox_modules(design);
    let (stubs, rtl): (Vec<String>, Vec<String>) = file_order(design)
        .into_iter()
        .partition(|f| boxes.iter().any(|b| format!("{b}.v") == *f));
    let list = |files: &[String]| {
        files
            .iter()
            .map(|f| format!("$(CIM_PACKAGE)/{f}"))
            .collect::<Vec<_>>()
            .join(" \\\n\t")
    };
    let _ = writeln!(s, "export VERILOG_FILES = {}", list(&rtl));
    if !stubs.is_empty() {
        let _ = writeln!(s, "export VERILOG_FILES_BLACKBOX = {}", list(&stubs));
    }
    s.push_str("export SDC_FILE = $(CIM_PACKAGE)/flow/orfs/constraint.sdc\n");
    let _ = writeln!(s, "export CORE_UTILIZATION = {}", config.core_utilization);
    let _ = writeln!(s, "export PLACE_DENSITY = {}", config.place_density);
    s.push_str("export SYNTH_HIERARCHICAL = 1\n");
    if config.storage == Storage::Blackbox {
        let views = |ext: &str| {
            boxes
                .iter()
                .map(|b| format!("$(CIM_PACKAGE)/macros/{b}.{ext}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let _ = writeln!(s, "export ADDITIONAL_LEFS = {}", views("lef"));
        let _ = writeln!(s, "export ADDITIONAL_LIBS = {}", views("lib"));
        s.push_str("export MACRO_PLACE_HALO = 10 10\n");
    }
    s
}

/// Every flow file of a package: (path inside the package, contents).
pub fn flow_files(config: &Config, design: &Design) -> Vec<(String, String)> {
    let sdc = sdc(config, design);
    let mut files = vec![
        (
            format!("constraints/{}.sdc", config.design_name()),
            sdc.clone(),
        ),
        ("flow/synth.ys".to_string(), synth_script(design)),
        (
            "flow/orfs/config.mk".to_string(),
            orfs_config(config, design),
        ),
        ("flow/orfs/constraint.sdc".to_string(), sdc),
    ];
    for name in blackbox_modules(design) {
        let m = design.module(&name).expect("listed");
        let geometry = MacroGeometry::new(config, m);
        files.push((
            format!("macros/{name}.lef"),
            macro_lef(config, m, &geometry),
        ));
        files.push((
            format!("macros/{name}.lib"),
            macro_liberty(config, m, &geometry),
        ));
    }
    files
}
