//! `cimpool sweep`: arguments to `cimpool::sweep`, and the printing.

use super::args::SweepCommand;
use super::progress::Bar;
use cimpool::error::{Error, Result};
use cimpool::sweep::{self, space};
use std::time::Instant;

pub fn sweep(cmd: SweepCommand) -> Result<()> {
    match cmd {
        SweepCommand::Expand { space: path } => {
            let e = space::expand(&path)?;
            for p in &e.points {
                println!("{}", serde_json::to_string(p).expect("serializes"));
            }
            eprintln!(
                "cimpool: {} points{}",
                e.points.len(),
                match &e.first_invalid {
                    Some(why) => format!(
                        "; {} invalid combinations dropped (the first: {why})",
                        e.invalid
                    ),
                    None => String::new(),
                }
            );
        }
        SweepCommand::Regress {
            seeds,
            first_seed,
            vectors,
            coverage,
            draws,
        } => {
            let points = space::regress_points(first_seed, seeds, vectors, coverage);
            if let Some(path) = draws {
                let configs = points
                    .iter()
                    .map(|p| cimpool::config::Config::from_toml(&p.config))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                let table = cimpool::config::random::draw_table(&configs);
                std::fs::write(&path, table)
                    .map_err(|e| Error::Usage(format!("{}: {e}", path.display())))?;
            }
            for p in &points {
                println!("{}", serde_json::to_string(p).expect("serializes"));
            }
        }
        SweepCommand::Run { points, point, out } => {
            let start = Instant::now();
            let (chosen, computed) = sweep::run_points(&points, point, &out, &Bar::new())?;
            println!(
                "cimpool: {} points in {} ({} computed, {} already there) in {:.1} s",
                chosen,
                out.display(),
                computed,
                chosen - computed,
                start.elapsed().as_secs_f64()
            );
        }
        SweepCommand::Shrink {
            seed,
            config,
            vectors,
            max_tries,
            out,
        } => {
            let (start, seed) = match (seed, config) {
                (Some(seed), _) => (cimpool::config::random::legal_config(seed).0, seed),
                (None, Some(file)) => (cimpool::config::Config::from_file(&file)?.resolved(), 1),
                (None, None) => unreachable!("clap requires --seed or --config"),
            };
            start.validate()?;
            eprintln!(
                "cimpool: verifying {} (generate, lint, synthesize, co-simulate), then each simplification that still fails",
                cimpool::estimate::label(&start)
            );
            let mut tries = 0;
            let mut current = start.to_toml();
            let shrunk =
                sweep::run::shrink_failure(&start, seed, vectors, &out, max_tries, |c, failed| {
                    tries += 1;
                    let next = c.to_toml();
                    eprintln!(
                        "try {tries}: {}: {}",
                        changed_keys(&current, &next),
                        if failed { "fails, kept" } else { "passes" }
                    );
                    if failed {
                        current = next;
                    }
                })?;
            match shrunk {
                None => println!("cimpool: the configuration passes every step (generate, lint, synthesize, co-simulate): nothing to shrink"),
                Some((s, failure)) => {
                    let file = out.join("minimal.toml");
                    std::fs::write(&file, s.config.to_toml()).map_err(|e| {
                        Error::Usage(format!("cannot write {}: {e}", file.display()))
                    })?;
                    println!(
                        "cimpool: shrunk in {} tries ({} simplifications kept) to {} ({}):\n{failure}",
                        s.tries,
                        s.kept,
                        cimpool::estimate::label(&s.config),
                        file.display()
                    );
                }
            }
        }
        SweepCommand::Coverage { results } => {
            print!("{}", sweep::coverage(&results)?.table());
        }
        SweepCommand::Collect {
            results,
            minimize,
            maximize,
            plot,
            front,
        } => {
            let c = sweep::collect_table(
                &results,
                &minimize,
                &maximize,
                front.as_deref(),
                plot.as_deref(),
            )?;
            print!("{}", c.csv);
            for line in &c.notes {
                eprintln!("{line}");
            }
            if let Some(why) = c.failed {
                return Err(Error::Failed(why));
            }
        }
    }
    Ok(())
}

/// The keys whose lines differ between two configurations' TOML, as
/// `key old -> new`, comma-separated.
fn changed_keys(from: &str, to: &str) -> String {
    let value = |text: &str, key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(" = ").map(str::to_owned))
            .unwrap_or_default()
    };
    to.lines()
        .filter(|l| !from.lines().any(|f| f == *l))
        .filter_map(|l| l.split_once(" = "))
        .map(|(key, new)| format!("{key} {} -> {new}", value(from, key)))
        .collect::<Vec<_>>()
        .join(", ")
}
