//! Bounded model checking of a package's protocol assertions
//! (`gen::checks`): Yosys reads the package with the assertions
//! (`read_verilog -formal -DCIMPOOL_ASSERTIONS`) and its SAT solver looks for
//! any input sequence of `steps` clock cycles, from any register state, that
//! breaks one. Nothing is assumed of the inputs: valid, ready, first, last,
//! loads and reset may do anything in any cycle, and the assertions hold
//! from the first reset on. `cimpool prove`, `make prove`.
//!
//! Yosys's own `sat -seq` was chosen over yosys-smtbmc: on the controller of
//! a 1x4x8 package it proves 30 steps in about 5 s, where smtbmc with z3
//! took 2.7 minutes (Debian's boolector 1.5 cannot run smtbmc's incremental
//! SMT-LIB at all). Measured on 2 cores, docs/VERIFICATION.md section 2.

use crate::config::{Config, Derived};
use crate::flow::{package_config, FlowError};
use crate::ir::ASSERTIONS_DEFINE;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// What the proof covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The controller alone: the handshakes, the output beat order, loads
    /// only while idle, counters in range (every assertion but the data's).
    Controller,
    /// The whole package flattened: the controller's assertions and
    /// `out_data` stable under back-pressure, with the datapath in the
    /// proof (minutes beyond small packages).
    Top,
}

/// The outcome of a bounded proof.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// No input sequence of `steps` cycles breaks an assertion.
    Proven,
    /// A sequence does: the assertions that fail (`label (file:line)`) at
    /// the first failing step; the counterexample is in `trace`.
    Refuted { step: u32, failed: Vec<String> },
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Proof {
    pub module: String,
    pub steps: u32,
    /// The assertions in the proof, by label.
    pub assertions: Vec<String>,
    pub outcome: Outcome,
    /// A VCD of the counterexample, when refuted.
    pub trace: Option<PathBuf>,
    pub seconds: f64,
}

/// The default bound: twice a `last` vector's time from acceptance to its
/// last output beat, plus the reset cycle (a vector accepted, drained under
/// back-pressure, the next one in flight behind it), at most
/// `MAX_DEFAULT_STEPS`: the solver's time grows steeply with the bound (a
/// Benes-pipelined controller: 1 s at 25 steps, 12 s at 37, 5 minutes at
/// 55; the default package's: 17 s at 60, 3.6 minutes at 80).
pub fn default_steps(config: &Config) -> u32 {
    let d = Derived::new(config);
    (1 + 2 * (d.first_beat_latency + d.out_beats)).min(MAX_DEFAULT_STEPS)
}

/// The cap of the default bound (`--steps` sets any).
pub const MAX_DEFAULT_STEPS: u32 = 48;

/// Proves the assertions of the package in `package_dir` for `steps`
/// cycles; `work` holds the counterexample trace if one is found.
pub fn prove(
    package_dir: &Path,
    scope: Scope,
    steps: u32,
    work: &Path,
) -> Result<Proof, FlowError> {
    if steps < 2 {
        return Err(FlowError::Usage(format!(
            "--steps {steps}: a proof needs at least 2 steps (a reset and a cycle after it)"
        )));
    }
    let config = package_config(package_dir)?;
    let design = crate::gen::generate(&config);
    let controller = format!("{}{}", config.prefix, crate::gen::control::CONTROLLER);
    let (module, files) = match scope {
        Scope::Controller => (controller.clone(), vec![format!("{controller}.v")]),
        Scope::Top => (design.top.clone(), crate::flow::file_order(&design)),
    };
    let mut assertions: Vec<String> = Vec::new();
    for m in design.modules.values() {
        if m.name == module || scope == Scope::Top {
            assertions.extend(m.checks.asserts.iter().map(|a| a.name.clone()));
        }
    }
    std::fs::create_dir_all(work).map_err(FlowError::io(work))?;
    let trace = work.join(format!("{module}-counterexample.vcd"));
    let sources: Vec<String> = files
        .iter()
        .map(|f| package_dir.join(f).display().to_string())
        .collect();
    let script = format!(
        "read_verilog -sv -formal -D{ASSERTIONS_DEFINE} {}; prep -top {module}; flatten; opt -fast; \
         sat -seq {steps} -prove-asserts -show-regs -dump_vcd {}",
        sources.join(" "),
        trace.display()
    );
    let started = Instant::now();
    let out = Command::new("yosys")
        .args(["-p", &script])
        .output()
        .map_err(|e| FlowError::NoYosys(e.to_string()))?;
    let log = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        return Err(FlowError::Yosys {
            context: format!(" in the proof of {module}"),
            log: format!(
                "{}\n{err}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ),
        });
    }
    let outcome = if log.contains("SAT proof finished - no model found: SUCCESS!") {
        let _ = std::fs::remove_file(&trace);
        Outcome::Proven
    } else if log.contains("SAT proof finished - model found: FAIL!") {
        failing_step(&log).ok_or_else(|| FlowError::Missing {
            what: "failing assertion".into(),
            module: module.clone(),
        })?
    } else {
        return Err(FlowError::Missing {
            what: "SAT proof result".into(),
            module,
        });
    };
    let refuted = matches!(outcome, Outcome::Refuted { .. });
    Ok(Proof {
        module,
        steps,
        assertions,
        outcome,
        trace: refuted.then_some(trace),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The first step of the counterexample at which an assertion is enabled
/// and fails, from the table `sat -show-regs` prints: a row per step and
/// register, `$formal$FILE:LINE$K_CHECK` holding the sampled condition
/// and `..._EN` whether the block was clocked (0 only at the first step).
fn failing_step(log: &str) -> Option<Outcome> {
    use std::collections::BTreeMap;
    // step -> (enabled, failing (file, line))
    let mut steps: BTreeMap<u32, (bool, Vec<(String, u32)>)> = BTreeMap::new();
    for line in log.lines() {
        let mut cols = line.split_whitespace();
        let (Some(step), Some(name), Some(value)) = (cols.next(), cols.next(), cols.next()) else {
            continue;
        };
        let Ok(step) = step.parse::<u32>() else {
            continue;
        };
        let Some((_, formal)) = name.split_once("$formal$") else {
            continue;
        };
        let Some((place, kind)) = formal.rsplit_once('$') else {
            continue;
        };
        let entry = steps.entry(step).or_default();
        if kind.ends_with("_EN") && value == "1" {
            entry.0 = true;
        }
        if kind.ends_with("_CHECK") && value == "0" {
            if let Some((file, l)) = place.rsplit_once(':') {
                if let Ok(l) = l.parse() {
                    entry.1.push((file.to_string(), l));
                }
            }
        }
    }
    let (step, (_, failing)) = steps
        .into_iter()
        .find(|(_, (enabled, failing))| *enabled && !failing.is_empty())?;
    let failed = failing
        .iter()
        .map(|(file, line)| crate::gen::checks::name_failure(Path::new(file), *line))
        .collect();
    Some(Outcome::Refuted { step, failed })
}

impl Proof {
    /// One line: what was proven or which assertion failed where.
    pub fn summary(&self) -> String {
        match &self.outcome {
            Outcome::Proven => format!(
                "{}: {} assertion(s) hold for every input sequence of {} cycles ({:.1} s): {}",
                self.module,
                self.assertions.len(),
                self.steps,
                self.seconds,
                self.assertions.join(", ")
            ),
            Outcome::Refuted { step, failed } => format!(
                "{}: assertion(s) fail at step {step} of {}: {}; counterexample: {}",
                self.module,
                self.steps,
                failed.join(", "),
                self.trace
                    .as_ref()
                    .map_or("not written".into(), |t| t.display().to_string())
            ),
        }
    }
}
