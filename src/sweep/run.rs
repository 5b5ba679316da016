//! One point of a sweep: the estimate's figures for the point's network and
//! configuration and, when the space asks, the golden accuracy of the
//! network compressed for it. Pure and idempotent: the result lives in
//! `<out>/<hash>/metrics.json`, and a point whose result exists is skipped.

use super::space::Point;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::estimate::{self, constants::Constants, workload};
use crate::network::{builtin, model::ModelDesc, tensors};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub index: usize,
    pub hash: String,
    pub label: String,
    pub swept: BTreeMap<String, toml::Value>,
    /// Figure name -> value (the estimate's, then `accuracy`; a
    /// verification point's checks).
    pub figures: BTreeMap<String, f64>,
    /// A verification point that failed: the first failing step and how to
    /// reproduce it alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// Runs `point` unless `<out>/<hash>/metrics.json` exists; returns the
/// metrics and whether they were computed now.
pub fn run_point(point: &Point, out: &Path) -> Result<(Metrics, bool)> {
    let dir = out.join(&point.hash);
    let file = dir.join("metrics.json");
    if let Ok(text) = std::fs::read_to_string(&file) {
        if let Ok(m) = serde_json::from_str::<Metrics>(&text) {
            return Ok((m, false));
        }
    }
    std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
    let config = Config::from_toml(&point.config)?.resolved();
    let (label, figures, failure) = match &point.verify {
        // A panic in a checked step (a scenario, a driver) is that
        // point's failure, not the end of the regression.
        Some(job) => {
            std::panic::catch_unwind(|| verify(&config, job, &dir)).unwrap_or_else(|p| {
                let why = panic_message(p.as_ref());
                Ok((
                    crate::estimate::label(&config),
                    BTreeMap::new(),
                    Some(format!(
                    "panic: {why}; reproduce: cimpool sweep run <points> --point {} --out <dir>",
                    point.index
                )),
                ))
            })?
        }
        None => {
            let (label, figures) = estimate_point(point, &config, &dir)?;
            (label, figures, None)
        }
    };
    let m = Metrics {
        index: point.index,
        hash: point.hash.clone(),
        label,
        swept: point.swept.clone(),
        figures,
        failure,
    };
    // Write then rename, so a killed run never leaves half a result.
    let tmp = dir.join("metrics.json.tmp");
    std::fs::write(
        &tmp,
        serde_json::to_string_pretty(&m).expect("serializes") + "\n",
    )
    .map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, &file).map_err(|e| io(&file, e))?;
    Ok((m, true))
}

/// The first failing step of a verification of `config` (generate, lint,
/// synthesize, co-simulate `vectors` vectors with traffic seed `seed`) in
/// `dir`, or None when every step passes; a panic is a failure too.
pub fn verify_config(
    config: &Config,
    seed: u64,
    vectors: usize,
    dir: &Path,
) -> Result<Option<String>> {
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let job = super::space::VerifyJob {
        seed,
        vectors,
        coverage: false,
    };
    match std::panic::catch_unwind(|| verify(config, &job, dir)) {
        Ok(result) => result.map(|(_, _, failure)| failure),
        Err(p) => Ok(Some(format!("panic: {}", panic_message(p.as_ref())))),
    }
}

/// The message a caught panic carried.
fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic".into())
}

/// The step a failure message names (`co-simulation`, `verilator -Wall`,
/// ...): shrinking keeps only simplifications that fail the same step.
pub fn failing_step(failure: &str) -> &str {
    failure.split(':').next().unwrap_or(failure)
}

/// Shrinks a failing configuration (`shrink`), verifying each try in a
/// scratch folder under `out` that is removed after it. None when `config`
/// passes every step; else the shrunk configuration and its failure.
pub fn shrink_failure(
    config: &Config,
    seed: u64,
    vectors: usize,
    out: &Path,
    max_tries: usize,
    mut on_try: impl FnMut(&Config, bool),
) -> Result<Option<(super::shrink::Shrunk, String)>> {
    let scratch = out.join("try");
    let run = |c: &Config| -> Result<Option<String>> {
        let _ = std::fs::remove_dir_all(&scratch);
        let failure = verify_config(c, seed, vectors, &scratch);
        let _ = std::fs::remove_dir_all(&scratch);
        failure
    };
    let Some(first) = run(config)? else {
        return Ok(None);
    };
    let step = failing_step(&first).to_string();
    let mut error = None;
    // The shrunk configuration is the last one that failed (or the start).
    let mut last_failure = first;
    let shrunk = super::shrink::shrink(
        config,
        max_tries,
        |c| match run(c) {
            Ok(Some(f)) if failing_step(&f) == step => {
                last_failure = f;
                true
            }
            Ok(_) => false,
            Err(e) => {
                error.get_or_insert(e);
                false
            }
        },
        |c, failed| on_try(c, failed),
    );
    if let Some(e) = error {
        return Err(e);
    }
    Ok(Some((shrunk, last_failure)))
}

fn io(p: &Path, e: std::io::Error) -> Error {
    Error::Usage(format!("{}: {e}", p.display()))
}

/// The estimate (and accuracy) of a design-space point.
fn estimate_point(
    point: &Point,
    config: &Config,
    dir: &Path,
) -> Result<(String, BTreeMap<String, f64>)> {
    let config = config.clone();
    let desc = match (&point.network, &point.model) {
        (Some(n), _) => {
            builtin::network(n).ok_or_else(|| Error::Usage(format!("no built-in network `{n}`")))?
        }
        (None, Some(m)) => ModelDesc::from_file(m)?,
        (None, None) => return Err(Error::Usage("the point names no network".into())),
    };
    // Shapes from the accuracy job's weights when there are any (a
    // description may leave them out), else from the description.
    let tensors = match &point.accuracy {
        Some(job) => tensors::read_tensors(&job.weights)?,
        None => builtin::random_weights(&desc, 1),
    };
    let net = desc.network(&tensors)?;
    let source = point.network.clone().unwrap_or_default();
    let w = workload::from_shapes(&source, &config, &net, point.keep, point.sparsity);
    let e = estimate::estimate(
        &Constants::default(),
        estimate::label(&config),
        &config,
        &w,
        1,
    );
    let mut figures = BTreeMap::from([
        ("bits_per_weight".to_string(), e.bits_per_weight),
        ("macros".into(), e.on_chip.macros as f64),
        ("utilization".into(), e.utilization),
        ("area_mm2".into(), e.on_chip.area() * 1e-6),
        ("energy_nj".into(), e.on_chip.energy() * 1e-6),
        ("cycles".into(), e.on_chip.cycles as f64),
        ("engine_area_mm2".into(), e.streamed.area() * 1e-6),
        ("dram_energy_nj".into(), e.streamed.energy() * 1e-6),
        ("engine_cycles".into(), e.streamed.cycles as f64),
    ]);
    if let Some(job) = &point.accuracy {
        let images_dir = dir.join("images");
        // The same pipeline `cimpool compress` runs (activation scales and,
        // with a lossy ADC, the steps calibrated on --calib).
        use crate::pipeline::{self, source};
        let loaded = source::load(&source::Source::Weights {
            weights: source::Weights::File(job.weights.clone()),
            description: Some(source::Description::File(job.model.clone())),
            input_scale: 1.0,
        })?;
        let compress_job = pipeline::CompressJob {
            config: config.clone(),
            options: crate::compress::Options {
                keep_ratio: point.keep,
                sparsity: if config.is_dense() {
                    point.sparsity
                } else {
                    0.0
                },
                ..Default::default()
            },
            calibration: Some(tensors::read_dataset(&job.calib, false)?.x),
            morph: None,
            write_folded: false,
            clip_weights: false,
            prune: pipeline::PruneBy::Weights,
            adc: pipeline::AdcSteps::Calibrate {
                bias_correction: false,
            },
            eval: None,
            out: images_dir.clone(),
            force: false,
            pool_file: None,
        };
        compress_job.run(&loaded, &pipeline::Quiet).map_err(|e| {
            Error::Usage(format!(
                "point {} ({}): compress failed: {e}",
                point.index, point.hash
            ))
        })?;
        let eval = pipeline::evaluate(&images_dir, &job.data, &pipeline::Quiet)?;
        figures.insert("accuracy".into(), eval.accuracy);
        // The accuracy's images are large next to the figures; the figures
        // are the result.
        let _ = std::fs::remove_dir_all(&images_dir);
    }
    Ok((e.label, figures))
}

/// A verification point: generate, `verilator --lint-only -Wall`, Yosys
/// `synth` + `check -assert`, co-simulation against the golden model. A
/// failing step is a result (with the command that reproduces it), not an
/// error, so a regression reports every point.
fn verify(
    config: &Config,
    job: &super::space::VerifyJob,
    dir: &Path,
) -> Result<(String, BTreeMap<String, f64>, Option<String>)> {
    let label = crate::estimate::label(config);
    let rtl = dir.join("rtl");
    let config_file = dir.join("config.toml");
    std::fs::write(&config_file, config.to_toml()).map_err(|e| io(&config_file, e))?;
    let reproduce = format!(
        "reproduce: cimpool gen --config {cfg} --out {rtl} && make lint synth OUT={rtl} && cimpool cosim --rtl {rtl} --vectors {v} --seed {seed}",
        cfg = config_file.display(),
        rtl = rtl.display(),
        v = job.vectors,
        seed = job.seed
    );
    let mut figures = BTreeMap::new();
    let fail = |step: &str, why: &str, figures: BTreeMap<String, f64>| {
        let why: String = why.lines().take(6).collect::<Vec<_>>().join(" | ");
        Ok((
            label.clone(),
            figures,
            Some(format!("{step}: {why}; {reproduce}")),
        ))
    };
    if let Err(e) = crate::package::build(config).and_then(|p| p.write(&rtl)) {
        return fail("gen", &e.to_string(), figures);
    }
    let files: Vec<String> = std::fs::read_to_string(rtl.join("files.f"))
        .map_err(|e| io(&rtl, e))?
        .lines()
        .map(str::to_owned)
        .collect();
    let top = files
        .last()
        .map(|f| f.trim_end_matches(".v").to_string())
        .unwrap_or_default();
    let tool = |cmd: &mut Command, what: &str| -> Result<std::process::Output> {
        cmd.current_dir(&rtl).output().map_err(|e| {
            Error::Usage(format!(
                "cannot run {what}: {e}; install it with `make deps`"
            ))
        })
    };
    let lint = tool(
        Command::new("verilator")
            .args(["--lint-only", "-Wall", "--top-module", &top])
            .args(&files),
        "verilator",
    )?;
    let log = String::from_utf8_lossy(&lint.stderr).to_string();
    let warnings = log.lines().filter(|l| l.starts_with("%Warning")).count();
    figures.insert("lint_warnings".into(), warnings as f64);
    if !lint.status.success() || warnings > 0 {
        return fail("verilator -Wall", &log, figures);
    }
    let script = format!(
        "read_verilog {}; hierarchy -check -top {top}; synth -top {top}; check -assert",
        files.join(" ")
    );
    let synth = tool(Command::new("yosys").args(["-q", "-p", &script]), "yosys")?;
    figures.insert("synth_ok".into(), synth.status.success() as u8 as f64);
    if !synth.status.success() {
        let log = String::from_utf8_lossy(&synth.stderr).to_string()
            + &String::from_utf8_lossy(&synth.stdout);
        return fail("yosys check -assert", &log, figures);
    }
    // Black-box macros have no behaviour to simulate: such a package is
    // linted and synthesized (its periphery), not co-simulated.
    if config.storage == crate::config::Storage::Blackbox {
        figures.insert("cosim_skipped".into(), 1.0);
        return Ok((label, figures, None));
    }
    let traffic = crate::cosim::driver::Traffic {
        p_valid: 0.85,
        p_ready: 0.7,
        seed: job.seed,
    };
    let build = dir.join("verilator");
    let cosim = if job.coverage {
        let dat = dir.join("coverage.dat");
        crate::cosim::cosimulate_with_coverage(&rtl, &build, job.vectors, traffic, &dat)
    } else {
        crate::cosim::cosimulate(&rtl, &build, job.vectors, traffic)
    };
    match cosim {
        Ok(r) => {
            figures.insert("vectors".into(), r.vectors as f64);
            figures.insert("lane_values".into(), r.lanes_compared as f64);
            figures.insert("cycles".into(), r.cycles as f64);
            figures.insert("mismatches".into(), 0.0);
            figures.insert("pace_tiles".into(), r.pace_tiles as f64);
            figures.insert("pace_sparse_tiles".into(), r.pace_sparse_tiles as f64);
        }
        Err(crate::cosim::CosimError::Mismatch(m)) => {
            figures.insert("mismatches".into(), 1.0);
            return fail("co-simulation", &m.to_string(), figures);
        }
        Err(e) => return fail("co-simulation", &e.to_string(), figures),
    }
    // The verilated model is large and rebuilt from the package on demand.
    let _ = std::fs::remove_dir_all(dir.join("verilator"));
    Ok((label, figures, None))
}
