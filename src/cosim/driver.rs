//! Runs a scenario on the verilated RTL in lock-step with the golden model
//! and its cycle schedule, comparing every cycle's handshakes and every
//! output beat's lanes.

use super::scenario::{Command, Scenario};
use super::sim::Sim;
use super::{CosimError, Mismatch};
use crate::config::{Config, Derived};
use crate::golden::timing::{Inputs, Schedule};
use crate::golden::Engine;
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
}

pub fn run(
    sim: &mut Sim,
    config: &Config,
    scenario: &Scenario,
    traffic: Traffic,
    trace: Option<&Path>,
) -> Result<Report, CosimError> {
    let d = Derived::new(config);
    let mut port = LoadPort::new(config);
    let mut golden = Engine::new(config, port.empty_weights());
    let mut schedule = Schedule::new(config);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(traffic.seed);
    if let Some(path) = trace {
        sim.trace(path)?;
    }
    let total_beats = scenario.output_vectors() * d.out_beats as usize;
    let limit = 64 * (scenario.commands.len() + total_beats) as u64 + 10_000;

    for name in ["load_valid", "in_valid", "out_ready"] {
        sim.set(name, 0);
    }
    sim.reset(2);

    let mut report = Report::default();
    let mut next = 0usize;
    let mut expected: VecDeque<(usize, Vec<i64>)> = VecDeque::new();
    let mut vector_index = 0usize;
    let mut beat_in_vector = 0u32;
    let mut encoded: Option<(usize, crate::loadport::Words)> = None;
    let mismatch = |cycle: u64, what: String| {
        CosimError::Mismatch(Box::new(Mismatch::new(config, cycle, what)))
    };

    for cycle in 0..limit {
        let done = next == scenario.commands.len() && expected.is_empty();
        if done && schedule.outputs().load_ready {
            report.cycles = cycle;
            return Ok(report);
        }
        let offer = rng.gen_bool(traffic.p_valid);
        let out_ready = rng.gen_bool(traffic.p_ready);
        let (mut load_valid, mut inputs) = (
            false,
            Inputs {
                out_ready,
                ..Default::default()
            },
        );
        match scenario.commands.get(next) {
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
                // Encode once per vector, not once per cycle it waits.
                if encoded.as_ref().map(|(i, _)| *i) != Some(next) {
                    encoded = Some((next, port.input(x)));
                }
                sim.set_words("in_data", &encoded.as_ref().unwrap().1);
            }
            _ => {}
        }
        sim.set("load_valid", load_valid as u64);
        sim.set("in_valid", inputs.in_valid as u64);
        sim.set("in_first", inputs.in_first as u64);
        sim.set("in_last", inputs.in_last as u64);
        sim.set("out_ready", out_ready as u64);
        sim.eval();

        let model = schedule.outputs();
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
                return Err(mismatch(
                    cycle,
                    format!("handshake `{name}`: expected {want}, RTL {actual} (cycle schedule)"),
                ));
            }
        }

        if model.out_valid && out_ready {
            let Some((v, lanes)) = expected.front() else {
                return Err(mismatch(
                    cycle,
                    "output beat with no output vector expected".into(),
                ));
            };
            let got = port.beat(&sim.get_words("out_data"));
            for (i, &g) in got.iter().enumerate() {
                let lane = beat_in_vector * d.out_lanes + i as u32;
                let want = lanes[lane as usize];
                if g != want {
                    let mut m = Mismatch::new(
                        config,
                        cycle,
                        format!("output beat {beat_in_vector} lane value"),
                    );
                    m.vector = Some(*v);
                    m.lane = Some(lane);
                    m.expected = want.to_string();
                    m.actual = g.to_string();
                    return Err(CosimError::Mismatch(Box::new(m)));
                }
            }
            report.beats += 1;
            report.lanes_compared += got.len();
            beat_in_vector += 1;
            if beat_in_vector == d.out_beats {
                expected.pop_front();
                beat_in_vector = 0;
            }
        }
        if load_valid && model.load_ready {
            if let Some(Command::Load(load)) = scenario.commands.get(next) {
                port.apply(&mut golden.weights, load);
            }
            report.loads += 1;
            next += 1;
        }
        if inputs.in_valid && model.in_ready {
            if let Some(Command::Input { x, first, last }) = scenario.commands.get(next) {
                let result = golden.step(x, *first, *last);
                if let Some(out) = result.outputs {
                    expected.push_back((vector_index, out));
                    report.output_vectors += 1;
                }
            }
            vector_index += 1;
            report.vectors += 1;
            next += 1;
        }
        schedule.tick(inputs);
        sim.cycle();
    }
    Err(mismatch(
        limit,
        format!(
            "no progress: {} of {} commands done after {limit} cycles",
            next,
            scenario.commands.len()
        ),
    ))
}
