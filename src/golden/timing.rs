//! Cycle model of the engine's schedule (docs/ARCHITECTURE.md, "Cycle
//! schedule"): given what the environment drives each cycle, it predicts the
//! handshake outputs and when each output beat leaves. Performance figures
//! come from this model; co-simulation checks it against the RTL every cycle.

use crate::config::{Config, Derived};

/// Handshake outputs of `cim_top` during a cycle (before the clock edge).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Outputs {
    pub in_ready: bool,
    pub load_ready: bool,
    pub out_valid: bool,
    pub out_last: bool,
}

/// What the environment drives during a cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Inputs {
    pub in_valid: bool,
    pub in_first: bool,
    pub in_last: bool,
    pub out_ready: bool,
}

/// What happened at the clock edge ending a cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Events {
    /// An input vector was accepted.
    pub accepted: bool,
    /// An output beat was taken (`out_valid && out_ready`), with its index
    /// within the output vector.
    pub beat: Option<u32>,
}

#[derive(Clone, Debug)]
pub struct Schedule {
    planes: u32,
    /// Issue steps per bit plane: the phases, or with block sparsity the
    /// valid phases / used slots of the loaded tile (`set_issue_steps`).
    phases: u32,
    xbar_steps: u32,
    /// Register stages inside the crossbar: a `last` vector's crossbar stage
    /// lasts that much longer so its sums are complete before the drain.
    xbar_pipeline: u32,
    beats: u32,
    // Issue stage: the step (plane counting down, phase up) of the vector.
    issuing: Option<(u32, u32, bool)>, // (plane, phase, last)
    // Read-out stage: whether it holds the vector's final step, and `last`.
    read_out: Option<(bool, bool)>,
    // Shift-accumulate holds a finished vector (its `last` flag).
    finished: Option<bool>,
    // Crossbar stage: current step and the vector's `last` flag.
    crossbar: Option<(u32, bool)>,
    // Output drain: next beat to load into the output register.
    draining: Option<u32>,
    // Register stages of the requantizer path (`output_pipeline`): the
    // beat index each holds, first stage first.
    out_stages: Vec<Option<u32>>,
    // Output register: beat index held, if valid.
    out_reg: Option<u32>,
}

impl Schedule {
    pub fn new(config: &Config) -> Schedule {
        let d = Derived::new(config);
        Schedule {
            planes: config.act_bits,
            phases: d.issue_blocks,
            xbar_steps: d.crossbar_steps,
            xbar_pipeline: d.crossbar_pipeline,
            beats: d.out_beats,
            issuing: None,
            read_out: None,
            finished: None,
            crossbar: None,
            draining: None,
            out_stages: vec![None; d.output_pipeline as usize],
            out_reg: None,
        }
    }

    /// The loaded tile's issue steps per plane (`golden::issue_steps_per_plane`);
    /// loads only happen while the engine is idle.
    pub fn set_issue_steps(&mut self, steps: u32) {
        self.phases = steps;
    }

    fn issue_is_final(&self) -> bool {
        matches!(self.issuing, Some((0, h, _)) if h == self.phases - 1)
    }

    /// The crossbar stage can take a finished vector: it is free, or in its
    /// last step and not about to hand over to the drain.
    fn crossbar_free(&self) -> bool {
        self.draining.is_none()
            && match self.crossbar {
                None => true,
                Some((step, last)) => step == self.xbar_steps - 1 && !last,
            }
    }

    fn commit(&self) -> bool {
        self.finished.is_some() && self.crossbar_free()
    }

    fn advance(&self) -> bool {
        self.finished.is_none() || self.commit()
    }

    pub fn outputs(&self) -> Outputs {
        let in_ready = self.advance() && (self.issuing.is_none() || self.issue_is_final());
        let idle = self.issuing.is_none()
            && self.read_out.is_none()
            && self.finished.is_none()
            && self.crossbar.is_none()
            && self.draining.is_none()
            && self.out_stages.iter().all(Option::is_none);
        Outputs {
            in_ready,
            load_ready: idle,
            out_valid: self.out_reg.is_some(),
            out_last: self.out_reg == Some(self.beats - 1),
        }
    }

    /// Advances one clock edge.
    pub fn tick(&mut self, i: Inputs) -> Events {
        let out = self.outputs();
        let accepted = i.in_valid && out.in_ready;
        let beat = (out.out_valid && i.out_ready).then(|| self.out_reg.unwrap());
        let commit = self.commit();
        let mut next = self.clone();

        if self.advance() {
            next.issuing = if accepted {
                Some((self.planes - 1, 0, i.in_last))
            } else {
                match self.issuing {
                    Some(_) if self.issue_is_final() => None,
                    Some((t, h, last)) if h == self.phases - 1 => Some((t - 1, 0, last)),
                    Some((t, h, last)) => Some((t, h + 1, last)),
                    None => None,
                }
            };
            next.read_out = self
                .issuing
                .map(|(_, _, last)| (self.issue_is_final(), last));
            next.finished = match self.read_out {
                Some((true, last)) => Some(last),
                _ => None,
            };
        }
        if commit {
            next.crossbar = Some((0, self.finished.unwrap()));
        } else if let Some((step, last)) = self.crossbar {
            let final_step = self.xbar_steps - 1 + if last { self.xbar_pipeline } else { 0 };
            if step == final_step {
                next.crossbar = None;
                if last {
                    next.draining = Some(0);
                }
            } else {
                next.crossbar = Some((step + 1, last));
            }
        }
        // The output register and the stages before it move together
        // whenever the register is empty or being read.
        if self.out_reg.is_none() || i.out_ready {
            let mut path = self.out_stages.clone();
            path.push(self.out_reg);
            // Shift the beat being selected in at the front; the one
            // leaving the output register drops off the end.
            path.insert(0, self.draining);
            path.pop();
            next.out_reg = path.pop().unwrap();
            next.out_stages = path;
            if let Some(k) = self.draining {
                next.draining = (k != self.beats - 1).then_some(k + 1);
            }
        }
        *self = next;
        Events { accepted, beat }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With no back-pressure the first beat of a lone `last` vector is valid
    /// `first_beat_latency` cycles after acceptance, as the header promises.
    #[test]
    fn first_beat_latency_matches_derived() {
        for toml in [
            "",
            "macros = 2\nrows = 32\ncols = 32\npool = 8\nwl_parallel = 8\nact_bits = 3",
            "crossbar = \"benes\"\ncrossbar_pipeline = 5",
            "crossbar_pipeline = 2\noutput_pipeline = 3\nout_lanes = 16",
            "engine = \"dense\"\nmacros = 1\nrows = 16\ncols = 16\noutput_pipeline = 4",
            "engine = \"dense\"\nmacros = 2\nrows = 32\ncols = 16\nwl_parallel = 8\nsparsity = \"skip\"",
        ] {
            let c = Config::from_toml(toml).unwrap().resolved();
            let d = Derived::new(&c);
            let mut s = Schedule::new(&c);
            let accept = Inputs {
                in_valid: true,
                in_first: true,
                in_last: true,
                out_ready: true,
            };
            assert!(s.tick(accept).accepted);
            let mut cycles = 1;
            while !s.outputs().out_valid {
                s.tick(Inputs {
                    out_ready: true,
                    ..Default::default()
                });
                cycles += 1;
            }
            assert_eq!(cycles, d.first_beat_latency, "[{toml}]");
        }
    }

    /// Back-to-back vectors are accepted every `cycles_per_vector` cycles.
    #[test]
    fn throughput_matches_derived() {
        let c = Config::default().resolved();
        let d = Derived::new(&c);
        let mut s = Schedule::new(&c);
        let mut accepted_at = Vec::new();
        for cycle in 0..200 {
            let e = s.tick(Inputs {
                in_valid: true,
                in_first: true,
                in_last: false,
                out_ready: true,
            });
            if e.accepted {
                accepted_at.push(cycle);
            }
        }
        let gaps: Vec<u32> = accepted_at.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.iter().all(|&g| g == d.cycles_per_vector), "{gaps:?}");
    }

    /// Under back-pressure the engine takes input vectors until a `last`
    /// vector's sums wait in the lane accumulators for the output path
    /// (P + 1 beats: the output register and `output_pipeline` stages), and
    /// at most two vectors behind it (the port document says so). With
    /// every vector `last`: when an output vector fits in the path, the
    /// next one waits in the accumulators (four taken), else the first one
    /// does (three).
    #[test]
    fn back_pressure_holds_at_most_two_vectors_behind_a_waiting_one() {
        for (toml, waiting) in [
            ("", 0),
            ("macros = 2\nrows = 32\ncols = 32\npool = 8\nwl_parallel = 8\nact_bits = 3", 0),
            ("macros = 1\nrows = 32\ncols = 32\npool = 16\nact_bits = 3\nout_lanes = 4\noutput_pipeline = 4", 0),
            ("macros = 1\nrows = 32\ncols = 32\npool = 16\nact_bits = 3\nout_lanes = 8\noutput_pipeline = 3", 1),
            ("macros = 1\nrows = 32\ncols = 32\npool = 16\nact_bits = 3\nout_lanes = 16\noutput_pipeline = 1", 1),
            ("macros = 1\nrows = 32\ncols = 32\npool = 16\nact_bits = 3", 1),
        ] {
            let c = Config::from_toml(toml).unwrap().resolved();
            let d = Derived::new(&c);
            assert_eq!(waiting == 1, d.out_beats <= d.output_pipeline + 1, "[{toml}]");
            let mut s = Schedule::new(&c);
            let mut accepted = 0;
            for _ in 0..500 {
                let e = s.tick(Inputs {
                    in_valid: true,
                    in_first: true,
                    in_last: true,
                    out_ready: false,
                });
                accepted += e.accepted as u32;
                assert!(e.beat.is_none());
            }
            assert_eq!(accepted, 1 + waiting + 2, "[{toml}]");
            assert!(s.outputs().out_valid && !s.outputs().in_ready);
        }
    }
}
