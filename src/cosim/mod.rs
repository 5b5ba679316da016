//! Co-simulation of generated RTL against the golden model under Verilator.

pub mod coverage;
pub mod driver;
pub mod icarus;
pub mod pace;
pub mod scenario;
pub mod shim;
pub mod sim;
pub mod verilate;

use crate::config::Config;
use std::fmt;
use std::path::{Path, PathBuf};
use verilate::Instrument;

/// The first difference between the RTL and the golden model.
#[derive(Clone, Debug)]
pub struct Mismatch {
    pub config: String,
    pub cycle: u64,
    pub what: String,
    pub vector: Option<usize>,
    pub lane: Option<u32>,
    pub expected: String,
    pub actual: String,
    pub trace: Option<PathBuf>,
    /// Assertions of the RTL that failed (label, file and line), when that
    /// is what stopped the run.
    pub assertions: Vec<String>,
}

impl Mismatch {
    pub fn new(config: &Config, cycle: u64, what: String) -> Mismatch {
        Mismatch {
            config: config.to_toml().lines().collect::<Vec<_>>().join(", "),
            cycle,
            what,
            vector: None,
            lane: None,
            expected: String::new(),
            actual: String::new(),
            trace: None,
            assertions: Vec::new(),
        }
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.assertions.is_empty() {
            writeln!(
                f,
                "RTL and golden model differ at cycle {}: {}",
                self.cycle, self.what
            )?;
        } else {
            writeln!(
                f,
                "RTL assertion failed at cycle {}: {}",
                self.cycle, self.what
            )?;
        }
        if let Some(v) = self.vector {
            writeln!(f, "  output vector: {v} (counting input vectors from 0)")?;
        }
        if let Some(l) = self.lane {
            writeln!(f, "  lane: {l}")?;
        }
        if !self.expected.is_empty() {
            writeln!(
                f,
                "  expected (golden): {}\n  actual (RTL):      {}",
                self.expected, self.actual
            )?;
        }
        writeln!(f, "  config: {}", self.config)?;
        match &self.trace {
            Some(t) => write!(f, "  trace: {}", t.display()),
            None => write!(f, "  trace: not written"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CosimError {
    #[error("{0}")]
    Tool(String),
    #[error("{0}")]
    Package(String),
    #[error("{0}")]
    Mismatch(Box<Mismatch>),
    /// The RTL, replayed at full speed, keeps a pace other than the one
    /// the port document states (`pace`).
    #[error("the RTL's pace differs from the port document: {0}")]
    Pace(String),
    /// A scenario write the load port cannot decode.
    #[error("scenario: {0}")]
    Load(#[from] crate::loadport::LoadError),
}

/// Verilates `package_dir`, runs a random scenario of about `vectors` input
/// vectors and, on a mismatch, builds the traced variant and runs the same
/// scenario again, writing a VCD trace into its build folder.
pub fn cosimulate(
    package_dir: &Path,
    build_root: &Path,
    vectors: usize,
    traffic: driver::Traffic,
) -> Result<driver::Report, CosimError> {
    let built = verilate::verilate(package_dir, build_root, 2, Instrument::Plain)?;
    let random = scenario::random_scenario(&built.config, traffic.seed, vectors);
    let scenario = with_resets(&built.config, &random, traffic.seed);
    let report = run_scenario(package_dir, build_root, &built, &scenario, traffic, None)?;
    check_pace(&built, &random, report)
}

/// Resets asserted in the middle of every random co-simulation.
pub const RESETS: usize = 4;

/// `random` with `RESETS` resets, each after a wait that lands it anywhere
/// from a vector's issue to its last beat.
fn with_resets(c: &Config, random: &scenario::Scenario, seed: u64) -> scenario::Scenario {
    let d = crate::config::Derived::new(c);
    let window = d.first_beat_latency + d.out_beats + d.cycles_per_vector;
    scenario::with_resets(random, seed, RESETS, window)
}

/// As `cosimulate`, once per seed of `x_seeds` on a model whose registers
/// and X assignments start random (`Instrument::RandomX`: Verilator's
/// `--x-assign unique --x-initial unique`, each seed a different start):
/// after reset and the scenario's loads, no output may depend on a
/// register nothing initialised. The reports are summed.
pub fn cosimulate_random_x(
    package_dir: &Path,
    build_root: &Path,
    vectors: usize,
    traffic: driver::Traffic,
    x_seeds: &[u32],
) -> Result<driver::Report, CosimError> {
    let built = verilate::verilate(package_dir, build_root, 2, Instrument::RandomX)?;
    let scenario = scenario::random_scenario(&built.config, traffic.seed, vectors);
    let mut total = driver::Report::default();
    for &x in x_seeds {
        let mut sim = sim::Sim::load_random(&built.library, x)?;
        let r = driver::run(&mut sim, &built.config, &scenario, traffic, None).map_err(
            |e| match e {
                CosimError::Mismatch(mut m) => {
                    m.what = format!("{} (registers started random, X seed {x})", m.what);
                    CosimError::Mismatch(m)
                }
                other => other,
            },
        )?;
        total += r;
    }
    Ok(total)
}

/// After a passing random run: its tiles replayed at full speed, the pace
/// the port document states checked (`pace`), and counted in the report.
fn check_pace(
    built: &verilate::Verilated,
    random: &scenario::Scenario,
    mut report: driver::Report,
) -> Result<driver::Report, CosimError> {
    let plan = pace::plan(random);
    let full_speed = driver::Traffic {
        p_valid: 1.0,
        p_ready: 1.0,
        seed: 0,
    };
    let mut sim = sim::Sim::load(&built.library)?;
    let (_, timeline) =
        driver::run_timed(&mut sim, &built.config, &plan.scenario, full_speed, None)?;
    let paced = pace::check(&built.config, &plan, &timeline).map_err(CosimError::Pace)?;
    report.pace_tiles = paced.tiles;
    report.pace_sparse_tiles = paced.sparse_tiles;
    Ok(report)
}

/// As `cosimulate`, on a model built with line and toggle coverage
/// counters, which it writes to `dat` (Verilator's format) after a passing
/// run; `coverage::Merged` reads and merges such files.
pub fn cosimulate_with_coverage(
    package_dir: &Path,
    build_root: &Path,
    vectors: usize,
    traffic: driver::Traffic,
    dat: &Path,
) -> Result<driver::Report, CosimError> {
    let built = verilate::verilate(package_dir, build_root, 2, Instrument::Coverage)?;
    let random = scenario::random_scenario(&built.config, traffic.seed, vectors);
    let scenario = with_resets(&built.config, &random, traffic.seed);
    let report = run_scenario(
        package_dir,
        build_root,
        &built,
        &scenario,
        traffic,
        Some(dat),
    )?;
    check_pace(&built, &random, report)
}

/// Co-simulates a given scenario (for example a compressed layer's memory
/// images and its input vectors) on `package_dir`.
pub fn cosimulate_scenario(
    package_dir: &Path,
    build_root: &Path,
    scenario: &scenario::Scenario,
    traffic: driver::Traffic,
) -> Result<driver::Report, CosimError> {
    let built = verilate::verilate(package_dir, build_root, 2, Instrument::Plain)?;
    run_scenario(package_dir, build_root, &built, scenario, traffic, None)
}

fn run_scenario(
    package_dir: &Path,
    build_root: &Path,
    built: &verilate::Verilated,
    scenario: &scenario::Scenario,
    traffic: driver::Traffic,
    coverage: Option<&Path>,
) -> Result<driver::Report, CosimError> {
    let mut sim = sim::Sim::load(&built.library)?;
    match driver::run(&mut sim, &built.config, scenario, traffic, None) {
        Ok(report) => {
            if let Some(dat) = coverage {
                sim.write_coverage(dat)?;
            }
            Ok(report)
        }
        Err(CosimError::Mismatch(mut m)) => {
            drop(sim);
            let traced = verilate::verilate(package_dir, build_root, 2, Instrument::Trace)?;
            let path = traced
                .dir
                .join(format!("mismatch-seed{}.vcd", traffic.seed));
            let mut sim = sim::Sim::load(&traced.library)?;
            let _ = driver::run(&mut sim, &built.config, scenario, traffic, Some(&path));
            m.trace = Some(path);
            Err(CosimError::Mismatch(m))
        }
        other => other,
    }
}
