//! Design-space sweeps (docs/SWEEP.md): `expand` a space into points, `run`
//! each point (locally on every core, or one per Ray task or Slurm array
//! job), `collect` the results into a table and its Pareto front.

pub mod run;
pub mod shrink;
pub mod space;

use crate::error::{Error, Result};
use run::Metrics;
use std::path::Path;

/// Every `<dir>/<hash>/metrics.json`, in point order.
pub fn collect(dir: &Path) -> Result<Vec<Metrics>> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::Usage(format!("cannot read {}: {e}", dir.display())))?;
    let mut all = Vec::new();
    for entry in entries.flatten() {
        let file = entry.path().join("metrics.json");
        if let Ok(text) = std::fs::read_to_string(&file) {
            let m: Metrics = serde_json::from_str(&text)
                .map_err(|e| Error::Usage(format!("{}: {e}", file.display())))?;
            all.push(m);
        }
    }
    all.sort_by_key(|m| m.index);
    Ok(all)
}

/// Coverage of the points run with `sweep regress --coverage`, merged per
/// module: every `<dir>/<hash>/coverage.dat` with the package it verilated.
pub fn coverage(dir: &Path) -> Result<crate::cosim::coverage::Merged> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::Usage(format!("cannot read {}: {e}", dir.display())))?;
    let mut runs: Vec<(std::path::PathBuf, std::path::PathBuf)> = entries
        .flatten()
        .map(|e| (e.path().join("coverage.dat"), e.path().join("rtl")))
        .filter(|(dat, _)| dat.exists())
        .collect();
    runs.sort();
    if runs.is_empty() {
        return Err(Error::Usage(format!(
            "no coverage.dat under {}: run the points of `cimpool sweep regress --coverage` \
             there first (`make coverage`)",
            dir.display()
        )));
    }
    Ok(crate::cosim::coverage::Merged::read_runs(&runs)?)
}

/// One objective: a figure and whether smaller is better.
#[derive(Clone, Debug, PartialEq)]
pub struct Objective {
    pub figure: String,
    pub minimize: bool,
}

fn value(m: &Metrics, o: &Objective) -> Result<f64> {
    let v = m.figures.get(&o.figure).copied().ok_or_else(|| {
        let names: Vec<&str> = m.figures.keys().map(String::as_str).collect();
        Error::Usage(format!(
            "no figure `{}` in the results; they have {}",
            o.figure,
            names.join(", ")
        ))
    })?;
    Ok(if o.minimize { v } else { -v })
}

/// Indices of the points no other point dominates (at least as good in
/// every objective, better in one).
pub fn pareto(metrics: &[Metrics], objectives: &[Objective]) -> Result<Vec<usize>> {
    let costs: Vec<Vec<f64>> = metrics
        .iter()
        .map(|m| objectives.iter().map(|o| value(m, o)).collect())
        .collect::<Result<_>>()?;
    let dominates = |a: &[f64], b: &[f64]| {
        a.iter().zip(b).all(|(x, y)| x <= y) && a.iter().zip(b).any(|(x, y)| x < y)
    };
    Ok((0..costs.len())
        .filter(|&i| !(0..costs.len()).any(|j| j != i && dominates(&costs[j], &costs[i])))
        .collect())
}

/// The results as CSV: index, hash, label, the swept values, the figures,
/// and whether the point is on the front.
pub fn csv(metrics: &[Metrics], front: &[usize]) -> String {
    let swept: std::collections::BTreeSet<&String> =
        metrics.iter().flat_map(|m| m.swept.keys()).collect();
    let figures: std::collections::BTreeSet<&String> =
        metrics.iter().flat_map(|m| m.figures.keys()).collect();
    let mut s = String::from("index,hash,label");
    for k in &swept {
        s += &format!(",{k}");
    }
    for k in &figures {
        s += &format!(",{k}");
    }
    let failures = metrics.iter().any(|m| m.failure.is_some());
    s += if failures {
        ",pareto,failure\n"
    } else {
        ",pareto\n"
    };
    for (i, m) in metrics.iter().enumerate() {
        s += &format!("{},{},{}", m.index, m.hash, m.label);
        for k in &swept {
            let v = m.swept.get(*k).map(|v| v.to_string()).unwrap_or_default();
            s += &format!(",{}", v.trim_matches('"'));
        }
        for k in &figures {
            let v = m
                .figures
                .get(*k)
                .map(|v| format!("{v}"))
                .unwrap_or_default();
            s += &format!(",{v}");
        }
        s += &format!(",{}", front.contains(&i));
        if failures {
            // CSV-safe: the reason without commas or quotes.
            let why = m.failure.as_deref().unwrap_or("").replace([',', '"'], ";");
            s += &format!(",\"{why}\"");
        }
        s += "\n";
    }
    s
}

/// Scatter of the first two objectives, the front drawn over it (SVG).
pub fn plot(
    metrics: &[Metrics],
    front: &[usize],
    x: &Objective,
    y: &Objective,
    path: &Path,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let get = |m: &Metrics, o: &Objective| m.figures.get(&o.figure).copied().unwrap_or(f64::NAN);
    let (xs, ys): (Vec<f64>, Vec<f64>) = metrics.iter().map(|m| (get(m, x), get(m, y))).unzip();
    let span = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let pad = ((hi - lo) * 0.08).max(hi.abs() * 0.01).max(1e-9);
        (lo - pad)..(hi + pad)
    };
    let root = SVGBackend::new(path, (760, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "{} points, Pareto front of {} and {}",
                metrics.len(),
                x.figure,
                y.figure
            ),
            ("sans-serif", 16),
        )
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(span(&xs), span(&ys))?;
    chart
        .configure_mesh()
        .x_desc(format!(
            "{} ({})",
            x.figure,
            if x.minimize {
                "lower is better"
            } else {
                "higher is better"
            }
        ))
        .y_desc(format!(
            "{} ({})",
            y.figure,
            if y.minimize {
                "lower is better"
            } else {
                "higher is better"
            }
        ))
        .light_line_style(WHITE)
        .draw()?;
    chart
        .draw_series(
            xs.iter()
                .zip(&ys)
                .map(|(&a, &b)| Circle::new((a, b), 4, BLUE.mix(0.5).filled())),
        )?
        .label("point")
        .legend(|(px, py)| Circle::new((px, py), 4, BLUE.mix(0.5).filled()));
    let mut on: Vec<(f64, f64)> = front.iter().map(|&i| (xs[i], ys[i])).collect();
    on.sort_by(|a, b| a.0.total_cmp(&b.0));
    chart
        .draw_series(LineSeries::new(on.clone(), RED.stroke_width(2)))?
        .label("Pareto front")
        .legend(|(px, py)| PathElement::new([(px - 8, py), (px + 8, py)], RED.stroke_width(2)));
    chart.draw_series(on.iter().map(|&p| Circle::new(p, 5, RED.filled())))?;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Runs the points of a `sweep expand` file (one with `only`, else all on
/// every core); a point whose result exists is skipped. Returns how many
/// points were chosen and how many were computed.
pub fn run_points(
    points: &Path,
    only: Option<usize>,
    out: &Path,
    progress: &dyn crate::pipeline::Progress,
) -> Result<(usize, usize)> {
    use rayon::prelude::*;
    let all = space::read_points(points)?;
    let chosen: Vec<&space::Point> = match only {
        Some(n) => vec![all.get(n).ok_or_else(|| {
            Error::Usage(format!(
                "--point {n} is out of range: {} has {} points (0..{})",
                points.display(),
                all.len(),
                all.len()
            ))
        })?],
        None => all.iter().collect(),
    };
    progress.stage("points", chosen.len() as u64);
    let results: Vec<Result<(Metrics, bool)>> = chosen
        .par_iter()
        .map(|p| {
            let r = run::run_point(p, out);
            progress.inc();
            r
        })
        .collect();
    progress.finish();
    let mut computed = 0;
    for r in results {
        computed += r?.1 as usize;
    }
    Ok((chosen.len(), computed))
}

/// What `sweep collect` found: the CSV table, and the lines that sum it up
/// (for stderr).
pub struct Collected {
    pub csv: String,
    pub notes: Vec<String>,
    /// Verification points that failed (the run fails with this).
    pub failed: Option<String>,
}

/// Collects the results in `dir` into a table. Verification results (`sweep
/// regress`) with no objectives give a pass/fail table; otherwise the
/// Pareto front of the objectives (defaults: area_mm2 and accuracy, or
/// energy_nj without accuracy) is marked, and `front` / `plot` written.
pub fn collect_table(
    dir: &Path,
    minimize: &[String],
    maximize: &[String],
    front: Option<&Path>,
    plot_file: Option<&Path>,
) -> Result<Collected> {
    let metrics = collect(dir)?;
    if metrics.is_empty() {
        return Err(Error::Usage(format!(
            "no results in {}: run `cimpool sweep run` first",
            dir.display()
        )));
    }
    let verification = metrics
        .iter()
        .all(|m| m.figures.contains_key("lint_warnings") || m.failure.is_some());
    if verification && minimize.is_empty() && maximize.is_empty() {
        // As an integer: an empty f64 sum is -0.
        let total = |f: &str| -> u64 {
            metrics.iter().filter_map(|m| m.figures.get(f)).sum::<f64>() as u64
        };
        let passed = metrics.iter().filter(|m| m.failure.is_none()).count();
        let mut notes = vec![format!(
            "cimpool: {passed} of {} configurations passed lint, synthesis and co-simulation{}: {} vectors, {} lane values, {} cycles, 0 mismatches in the passing ones; the port document's pace held on {} tiles ({} sparse)",
            metrics.len(),
            match total("cosim_skipped") {
                0 => String::new(),
                n => format!(" ({n} with black-box macros: lint and synthesis only)"),
            },
            total("vectors"),
            total("lane_values"),
            total("cycles"),
            total("pace_tiles"),
            total("pace_sparse_tiles")
        )];
        let failed: Vec<_> = metrics.iter().filter(|m| m.failure.is_some()).collect();
        for m in &failed {
            notes.push(format!(
                "point {} ({}, {}): {}",
                m.index,
                m.label,
                m.hash,
                m.failure.as_deref().unwrap_or_default()
            ));
        }
        return Ok(Collected {
            csv: csv(&metrics, &[]),
            notes,
            failed: (!failed.is_empty()).then(|| {
                format!(
                    "{} of {} points failed (above, each with the command that reproduces it)",
                    failed.len(),
                    metrics.len()
                )
            }),
        });
    }
    let objective = |figure: &String, minimize: bool| Objective {
        figure: figure.clone(),
        minimize,
    };
    let mut objectives: Vec<Objective> = minimize
        .iter()
        .map(|f| objective(f, true))
        .chain(maximize.iter().map(|f| objective(f, false)))
        .collect();
    if objectives.is_empty() {
        objectives.push(objective(&"area_mm2".into(), true));
        objectives.push(if metrics[0].figures.contains_key("accuracy") {
            objective(&"accuracy".into(), false)
        } else {
            objective(&"energy_nj".into(), true)
        });
    }
    let on = pareto(&metrics, &objectives)?;
    let cannot = |path: &Path, e: &dyn std::fmt::Display| {
        Error::Usage(format!("cannot write {}: {e}", path.display()))
    };
    if let Some(path) = front {
        let only: Vec<_> = on.iter().map(|&i| metrics[i].clone()).collect();
        let all: Vec<usize> = (0..only.len()).collect();
        std::fs::write(path, csv(&only, &all)).map_err(|e| cannot(path, &e))?;
    }
    if let Some(path) = plot_file {
        if objectives.len() < 2 {
            return Err(Error::Usage("--plot needs two objectives".into()));
        }
        plot(&metrics, &on, &objectives[0], &objectives[1], path).map_err(|e| cannot(path, &e))?;
    }
    let notes = vec![format!(
        "cimpool: {} results, {} on the Pareto front of {}",
        metrics.len(),
        on.len(),
        objectives
            .iter()
            .map(|o| format!("{} ({})", o.figure, if o.minimize { "min" } else { "max" }))
            .collect::<Vec<_>>()
            .join(", ")
    )];
    Ok(Collected {
        csv: csv(&metrics, &on),
        notes,
        failed: None,
    })
}
