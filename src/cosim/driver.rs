//! Runs a scenario on the verilated RTL in lock-step with the golden model
//! and its cycle schedule, comparing every cycle's handshakes and every
//! output beat's lanes.

use super::scenario::{Command, Scenario};
use super::sim::Sim;
use super::{CosimError, Mismatch};
use crate::config::{Config, Derived};
use crate::golden::timing::{Inputs, Outputs, Schedule};
use crate::golden::{issue_steps_per_plane, Engine};
use crate::loadport::LoadPort;
use rand::{Rng, SeedableRng};
use std::collections::VecDeque;
use std::path::Path;

/// Random handshake behaviour of the environment.
#[derive(Clone, Copy, Debug)]
pub struct Traffic {
    /// Probability that a pending load or input is offered in a cycle.
    pub p_valid: f64,
    /// Probability that the output is ready in a cycle.
    pub p_ready: f64,
    pub seed: u64,
}

impl Default for Traffic {
    fn default() -> Traffic {
        Traffic {
            p_valid: 0.85,
            p_ready: 0.7,
            seed: 1,
        }
    }
}

/// What a clean run compared.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub cycles: u64,
    pub loads: usize,
    pub vectors: usize,
    pub output_vectors: usize,
    pub beats: usize,
    pub lanes_compared: usize,
    /// Resets asserted in the middle of work (`Command::Reset`).
    pub resets: usize,
    /// Tiles replayed at full speed whose pace matched the port document
    /// (`cosim::pace`; 0 where not checked), and how many were sparse.
    pub pace_tiles: usize,
    pub pace_sparse_tiles: usize,
}

/// Reports of several runs, summed (`cosimulate_random_x`).
impl std::ops::AddAssign for Report {
    fn add_assign(&mut self, r: Report) {
        self.cycles += r.cycles;
        self.loads += r.loads;
        self.vectors += r.vectors;
        self.output_vectors += r.output_vectors;
        self.beats += r.beats;
        self.lanes_compared += r.lanes_compared;
        self.resets += r.resets;
        self.pace_tiles += r.pace_tiles;
        self.pace_sparse_tiles += r.pace_sparse_tiles;
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} input vectors, {} loads, {} output vectors, {} beats, {} lane values compared over {} cycles",
            self.vectors, self.loads, self.output_vectors, self.beats, self.lanes_compared, self.cycles
        )?;
        if self.resets > 0 {
            write!(f, "; {} resets in the middle of work", self.resets)?;
        }
        if self.pace_tiles > 0 {
            write!(
                f,
                "; pace as documented on {} tiles ({} sparse)",
                self.pace_tiles, self.pace_sparse_tiles
            )?;
        }
        Ok(())
    }
}

/// When things happened in a lock-step run. The RTL's handshakes equal
/// the cycle model's every cycle (or the run fails), so these are the RTL's.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    /// Per accepted input vector, in order: the cycle it was accepted and
    /// the loaded tile's issue steps per bit plane.
    pub accepted: Vec<(u64, u32)>,
    /// Per output vector: the index of its `last` input vector and the
    /// first cycle its first beat was valid.
    pub first_beat: Vec<(usize, u64)>,
}

/// The golden side of a lock-step run: the model's memories and
/// accumulators, its cycle schedule, and what the RTL must still produce.
struct Lockstep<'a> {
    config: &'a Config,
    out_beats: u32,
    out_lanes: u32,
    scenario: &'a Scenario,
    port: LoadPort,
    golden: Engine,
    schedule: Schedule,
    report: Report,
    /// The next scenario command to offer.
    next: usize,
    /// Output vectors the RTL owes: (input vector index, lane values, and
    /// whether the layer had ReLU, which decides how lanes decode).
    expected: VecDeque<(usize, Vec<i64>, bool)>,
    vector_index: usize,
    beat_in_vector: u32,
    /// The `in_data` words of the vector on offer (encoded once, not once
    /// per cycle it waits).
    encoded: Option<(usize, crate::loadport::Words)>,
    /// The loaded tile's issue steps per bit plane.
    issue_steps: u32,
    timeline: Timeline,
    /// Cycles left before the pending `Command::Reset` asserts `rst`.
    reset_wait: Option<u32>,
}

impl Lockstep<'_> {
    fn mismatch(&self, cycle: u64, what: String) -> CosimError {
        CosimError::Mismatch(Box::new(Mismatch::new(self.config, cycle, what)))
    }

    /// Drives the next command (when `offer`) and `out_ready`; returns
    /// what was driven.
    fn drive(&mut self, sim: &mut Sim, offer: bool, out_ready: bool) -> (bool, Inputs) {
        let mut load_valid = false;
        let mut inputs = Inputs {
            out_ready,
            ..Default::default()
        };
        match self.scenario.commands.get(self.next) {
            Some(Command::Load(load)) if offer => {
                load_valid = true;
                sim.set("load_sel", load.sel as u64);
                sim.set("load_addr", load.addr);
                sim.set_words("load_data", &load.data);
            }
            Some(Command::Input { x, first, last }) if offer => {
                inputs = Inputs {
                    in_valid: true,
                    in_first: *first,
                    in_last: *last,
                    out_ready,
                };
                if self.encoded.as_ref().map(|(i, _)| *i) != Some(self.next) {
                    self.encoded = Some((self.next, self.port.input(x)));
                }
                sim.set_words("in_data", &self.encoded.as_ref().unwrap().1);
            }
            _ => {}
        }
        sim.set("load_valid", load_valid as u64);
        sim.set("in_valid", inputs.in_valid as u64);
        sim.set("in_first", inputs.in_first as u64);
        sim.set("in_last", inputs.in_last as u64);
        sim.set("out_ready", out_ready as u64);
        (load_valid, inputs)
    }

    /// The schedule follows the loaded tile's issue steps per plane.
    fn follow_tile(&mut self) {
        self.issue_steps = issue_steps_per_plane(self.config, &self.golden.weights);
        self.schedule.set_issue_steps(self.issue_steps);
    }

    /// What a reset leaves (the port document): control state cleared, so
    /// the engine is idle and owes no output; memories kept, except the
    /// phase valid bits and slot codes, which reset to their defaults.
    fn after_reset(&mut self) {
        let reset = self.port.empty_weights();
        self.golden.weights.phase_valid = reset.phase_valid;
        self.golden.weights.slot_codes = reset.slot_codes;
        self.schedule = Schedule::new(self.config);
        self.follow_tile();
        self.expected.clear();
        self.beat_in_vector = 0;
        self.report.resets += 1;
    }

    /// The RTL's handshake outputs against the cycle model.
    /// Fails the run when an assertion of the RTL fired on the last edge.
    fn check_assertions(&self, sim: &mut Sim, cycle: u64) -> Result<(), CosimError> {
        if !sim.assertion_failed() {
            return Ok(());
        }
        let names = sim.take_failed_assertions();
        let mut m = Mismatch::new(self.config, cycle, names.join(", "));
        m.assertions = names;
        Err(CosimError::Mismatch(Box::new(m)))
    }

    fn check_handshakes(&self, sim: &Sim, cycle: u64, model: &Outputs) -> Result<(), CosimError> {
        let rtl = [
            ("in_ready", sim.get("in_ready") == 1, model.in_ready),
            ("load_ready", sim.get("load_ready") == 1, model.load_ready),
            ("out_valid", sim.get("out_valid") == 1, model.out_valid),
            (
                "out_last",
                sim.get("out_last") == 1,
                model.out_last && model.out_valid,
            ),
        ];
        for (name, actual, want) in rtl {
            // out_last only matters with out_valid.
            if name == "out_last" && !model.out_valid {
                continue;
            }
            if actual != want {
                return Err(self.mismatch(
                    cycle,
                    format!("handshake `{name}`: expected {want}, RTL {actual} (cycle schedule)"),
                ));
            }
        }
        Ok(())
    }

    /// Every lane of an output beat the environment takes this cycle.
    fn check_beat(&mut self, sim: &Sim, cycle: u64) -> Result<(), CosimError> {
        let Some((v, lanes, relu)) = self.expected.front() else {
            return Err(self.mismatch(cycle, "output beat with no output vector expected".into()));
        };
        let got = self.port.beat(&sim.get_words("out_data"), *relu);
        for (i, &g) in got.iter().enumerate() {
            let lane = self.beat_in_vector * self.out_lanes + i as u32;
            let want = lanes[lane as usize];
            if g != want {
                let mut m = Mismatch::new(
                    self.config,
                    cycle,
                    format!("output beat {} lane value", self.beat_in_vector),
                );
                m.vector = Some(*v);
                m.lane = Some(lane);
                m.expected = want.to_string();
                m.actual = g.to_string();
                return Err(CosimError::Mismatch(Box::new(m)));
            }
        }
        self.report.beats += 1;
        self.report.lanes_compared += got.len();
        self.beat_in_vector += 1;
        if self.beat_in_vector == self.out_beats {
            self.expected.pop_front();
            self.beat_in_vector = 0;
        }
        Ok(())
    }

    /// The golden model takes what the RTL accepted this cycle.
    fn accept(
        &mut self,
        cycle: u64,
        load_valid: bool,
        inputs: &Inputs,
        model: &Outputs,
    ) -> Result<(), CosimError> {
        if load_valid && model.load_ready {
            if let Some(Command::Load(load)) = self.scenario.commands.get(self.next) {
                self.port.apply(&mut self.golden.weights, load)?;
                self.follow_tile();
            }
            self.report.loads += 1;
            self.next += 1;
        }
        if inputs.in_valid && model.in_ready {
            if let Some(Command::Input { x, first, last }) = self.scenario.commands.get(self.next) {
                if let Some(out) = self.golden.step(x, *first, *last).outputs {
                    let relu = self.golden.weights.scales.relu;
                    self.expected.push_back((self.vector_index, out, relu));
                    self.report.output_vectors += 1;
                }
            }
            self.timeline.accepted.push((cycle, self.issue_steps));
            self.vector_index += 1;
            self.report.vectors += 1;
            self.next += 1;
        }
        Ok(())
    }
}

/// A difference found before the clock edge: the edge is taken, so that
/// an assertion the same values break fires, and the failed assertions are
/// reported first (they name the rule; the difference says what it did).
fn with_assertions(sim: &mut Sim, e: CosimError) -> CosimError {
    let CosimError::Mismatch(mut m) = e else {
        return e;
    };
    sim.cycle();
    if sim.assertion_failed() {
        m.assertions = sim.take_failed_assertions();
        m.what = format!("{} (and {})", m.assertions.join(", "), m.what);
    }
    CosimError::Mismatch(m)
}

pub fn run(
    sim: &mut Sim,
    config: &Config,
    scenario: &Scenario,
    traffic: Traffic,
    trace: Option<&Path>,
) -> Result<Report, CosimError> {
    run_timed(sim, config, scenario, traffic, trace).map(|(report, _)| report)
}

/// As `run`, also returning when each vector was accepted and each output
/// vector's first beat became valid.
pub fn run_timed(
    sim: &mut Sim,
    config: &Config,
    scenario: &Scenario,
    traffic: Traffic,
    trace: Option<&Path>,
) -> Result<(Report, Timeline), CosimError> {
    let d = Derived::new(config);
    let port = LoadPort::new(config);
    let mut ls = Lockstep {
        config,
        out_beats: d.out_beats,
        out_lanes: d.out_lanes,
        scenario,
        golden: Engine::new(config, port.empty_weights()),
        port,
        schedule: Schedule::new(config),
        report: Report::default(),
        next: 0,
        expected: VecDeque::new(),
        vector_index: 0,
        beat_in_vector: 0,
        encoded: None,
        issue_steps: d.issue_blocks,
        timeline: Timeline::default(),
        reset_wait: None,
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(traffic.seed);
    if let Some(path) = trace {
        sim.trace(path)?;
    }
    let total_beats = scenario.output_vectors() * d.out_beats as usize;
    // A watchdog, not a bound on the design: each command or beat gets 64
    // cycles, or twice the cycle model's time for a vector plus its
    // drain when that is longer (one word line per phase and many planes
    // take hundreds of cycles per vector; found by `make regress`).
    let per_step = 64.max(2 * d.cycles_per_vector as u64 + d.first_beat_latency as u64);
    let limit = per_step * (scenario.commands.len() + total_beats) as u64 + 10_000;
    for name in ["load_valid", "in_valid", "out_ready"] {
        sim.set(name, 0);
    }
    sim.reset(2);
    for cycle in 0..limit {
        let done = ls.next == scenario.commands.len() && ls.expected.is_empty();
        if done && ls.schedule.outputs().load_ready {
            ls.report.cycles = cycle;
            return Ok((ls.report, ls.timeline));
        }
        if let Some(Command::Reset { after }) = scenario.commands.get(ls.next) {
            let wait = ls.reset_wait.get_or_insert(*after);
            if *wait == 0 {
                // The reset cycle: nothing offered, no beat taken, and the
                // handshakes before the edge still those of the work in flight.
                for name in ["load_valid", "in_valid", "out_ready"] {
                    sim.set(name, 0);
                }
                sim.set("rst", 1);
                sim.eval();
                ls.check_handshakes(sim, cycle, &ls.schedule.outputs())
                    .map_err(|e| with_assertions(sim, e))?;
                sim.cycle();
                ls.check_assertions(sim, cycle)?;
                sim.set("rst", 0);
                ls.after_reset();
                ls.reset_wait = None;
                ls.next += 1;
                continue;
            }
            *wait -= 1;
        }
        let offer = rng.gen_bool(traffic.p_valid);
        let out_ready = rng.gen_bool(traffic.p_ready);
        let (load_valid, inputs) = ls.drive(sim, offer, out_ready);
        sim.eval();
        let model = ls.schedule.outputs();
        ls.check_handshakes(sim, cycle, &model)
            .map_err(|e| with_assertions(sim, e))?;
        if model.out_valid && ls.beat_in_vector == 0 {
            if let Some(&(vector, ..)) = ls.expected.front() {
                if ls.timeline.first_beat.last().map(|&(v, _)| v) != Some(vector) {
                    ls.timeline.first_beat.push((vector, cycle));
                }
            }
        }
        if model.out_valid && out_ready {
            ls.check_beat(sim, cycle)
                .map_err(|e| with_assertions(sim, e))?;
        }
        ls.accept(cycle, load_valid, &inputs, &model)
            .map_err(|e| with_assertions(sim, e))?;
        ls.schedule.tick(inputs);
        sim.cycle();
        ls.check_assertions(sim, cycle)?;
    }
    Err(ls.mismatch(
        limit,
        format!(
            "no progress: {} of {} commands done after {limit} cycles",
            ls.next,
            scenario.commands.len()
        ),
    ))
}
