//! The port document's pace, checked on the RTL: "vectors are accepted
//! every `cycles_per_vector` cycles" and "the first beat is valid
//! `first_beat_latency` cycles after the `in_last` vector was accepted (when
//! the engine was otherwise idle)", with a block-sparse tile's figures at
//! its own issue steps (`Derived::pace`). A co-simulation's random traffic
//! rarely shows either, so the tiles of its scenario are replayed once more
//! with every handshake offered and every beat taken at once.

use super::driver::Timeline;
use super::scenario::{Command, Scenario};
use crate::config::{Config, Derived};

/// Tiles of a scenario the pace is checked on (its first load runs): each
/// adds ten vectors, so the check stays short next to the random run.
pub const MAX_TILES: usize = 16;
/// Back-to-back vectors per tile whose last gap is the steady pace. The
/// issue stages and the crossbar stage take the first few at once: with
/// one issue step per vector behind two crossbar steps the fourth still
/// came one cycle after the third (regression seed 50); eight reach the
/// steady pace.
const STREAM: usize = 8;

/// A scenario that replays `random`'s load runs and, after each, streams
/// `STREAM` vectors (first, not last) and one `last` vector, repeats the
/// run's final load (so the engine is idle: loads wait for it) and sends a
/// lone `last` vector, whose latency is then the idle one.
#[derive(Clone, Debug)]
pub struct PacePlan {
    pub scenario: Scenario,
    /// Per tile: the input indices of the streamed vectors, and of the lone
    /// vector.
    pub tiles: Vec<([usize; STREAM], usize)>,
}

/// What the check compared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PaceReport {
    pub tiles: usize,
    /// Tiles with fewer issue steps than a full tile (block sparsity).
    pub sparse_tiles: usize,
}

pub fn plan(random: &Scenario) -> PacePlan {
    let commands = &random.commands;
    let mut scenario = Vec::new();
    let mut tiles = Vec::new();
    let mut inputs = 0;
    let mut i = 0;
    let mut last_x: Option<Vec<i64>> = None;
    while i < commands.len() && tiles.len() < MAX_TILES {
        let start = i;
        while let Some(Command::Load(_)) = commands.get(i) {
            i += 1;
        }
        let loads = &commands[start..i];
        // The vectors the random run sends on this tile (their data only).
        if let Some(Command::Input { x, .. }) = commands.get(i) {
            last_x = Some(x.clone());
        }
        while let Some(Command::Input { .. }) = commands.get(i) {
            i += 1;
        }
        let (Some(Command::Load(final_load)), Some(x)) = (loads.last(), last_x.clone()) else {
            continue;
        };
        scenario.extend_from_slice(loads);
        let input = |first: bool, last: bool| Command::Input {
            x: x.clone(),
            first,
            last,
        };
        let stream = std::array::from_fn(|k| inputs + k);
        for _ in 0..STREAM {
            scenario.push(input(true, false));
        }
        scenario.push(input(true, true));
        scenario.push(Command::Load(final_load.clone()));
        scenario.push(input(true, true));
        inputs += STREAM + 2;
        tiles.push((stream, inputs - 1));
    }
    PacePlan {
        scenario: Scenario { commands: scenario },
        tiles,
    }
}

/// The plan's timeline (a run with every handshake offered and every beat
/// taken) against the port document's figures; the first difference, in
/// words.
pub fn check(c: &Config, plan: &PacePlan, t: &Timeline) -> Result<PaceReport, String> {
    let d = Derived::new(c);
    let mut report = PaceReport::default();
    for (k, (stream, lone)) in plan.tiles.iter().enumerate() {
        let at = |v: usize| {
            t.accepted
                .get(v)
                .copied()
                .ok_or_else(|| format!("input vector {v} was never accepted"))
        };
        let (before, _) = at(stream[STREAM - 2])?;
        let (after, steps) = at(stream[STREAM - 1])?;
        let (cpv, _) = d.pace(steps);
        if after - before != u64::from(cpv) {
            return Err(format!(
                "tile {k} ({steps} issue steps per plane) accepted back-to-back vectors {} cycles apart; the port document says {cpv}",
                after - before
            ));
        }
        let (accepted, steps) = at(*lone)?;
        let (_, latency) = d.pace(steps);
        let Some(&(_, valid)) = t.first_beat.iter().find(|(v, _)| v == lone) else {
            return Err(format!(
                "input vector {lone} (last) produced no output beat"
            ));
        };
        if valid - accepted != u64::from(latency) {
            return Err(format!(
                "tile {k} ({steps} issue steps per plane): the first beat was valid {} cycles after its idle `last` vector was accepted; the port document says {latency}",
                valid - accepted
            ));
        }
        report.tiles += 1;
        report.sparse_tiles += usize::from(steps < d.issue_blocks);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cosim::scenario::random_scenario;

    /// The plan replays load runs in order, each followed by the stream,
    /// a `last` vector, the repeated final load and the lone vector.
    #[test]
    fn plan_follows_each_load_run_with_a_stream_and_an_idle_vector() {
        let c = Config::from_toml("macros = 2\nrows = 16\ncols = 16\npool = 8\nact_bits = 3")
            .unwrap()
            .resolved();
        let random = random_scenario(&c, 3, 300);
        let plan = plan(&random);
        assert!(plan.tiles.len() >= 2 && plan.tiles.len() <= MAX_TILES);
        assert_eq!(plan.scenario.vectors(), plan.tiles.len() * (STREAM + 2));
        let flags: Vec<(bool, bool)> = plan
            .scenario
            .commands
            .iter()
            .filter_map(|k| match k {
                Command::Input { first, last, .. } => Some((*first, *last)),
                _ => None,
            })
            .collect();
        let mut expected = vec![(true, false); STREAM];
        expected.extend([(true, true), (true, true)]);
        assert_eq!(flags[..STREAM + 2], expected[..]);
        // The lone vector of each tile follows a load.
        let (_, lone) = plan.tiles[0];
        let mut seen = 0;
        let before_lone = plan.scenario.commands.iter().position(|k| {
            let input = matches!(k, Command::Input { .. });
            seen += usize::from(input);
            input && seen == lone + 1
        });
        assert!(matches!(
            plan.scenario.commands[before_lone.unwrap() - 1],
            Command::Load(_)
        ));
    }

    /// A timeline one cycle off the document's latency, or with a gap one
    /// cycle long, is reported with the tile and both figures.
    #[test]
    fn check_reports_a_gap_or_latency_other_than_the_documented() {
        let c = Config::from_toml("macros = 2\nrows = 16\ncols = 16\npool = 8\nact_bits = 3")
            .unwrap()
            .resolved();
        let d = Derived::new(&c);
        let plan = plan(&random_scenario(&c, 3, 300));
        let (cpv, latency) = d.pace(d.issue_blocks);
        let timeline = |gap: u32, extra: u64| {
            let mut t = Timeline::default();
            let mut cycle = 0;
            for (stream, lone) in &plan.tiles {
                for _ in stream {
                    t.accepted.push((cycle, d.issue_blocks));
                    cycle += u64::from(gap);
                }
                t.accepted.push((cycle, d.issue_blocks)); // the `last` vector
                t.first_beat.push((lone - 1, cycle + 1));
                cycle += 1000;
                t.accepted.push((cycle, d.issue_blocks));
                t.first_beat
                    .push((*lone, cycle + u64::from(latency) + extra));
                cycle += 1000;
            }
            t
        };
        let ok = check(&c, &plan, &timeline(cpv, 0)).unwrap();
        assert_eq!(ok.tiles, plan.tiles.len());
        let slow = check(&c, &plan, &timeline(cpv + 1, 0)).unwrap_err();
        assert!(
            slow.contains(&format!(
                "{} cycles apart; the port document says {cpv}",
                cpv + 1
            )),
            "{slow}"
        );
        let late = check(&c, &plan, &timeline(cpv, 1)).unwrap_err();
        assert!(
            late.contains(&format!("valid {} cycles after", latency + 1)),
            "{late}"
        );
    }
}
