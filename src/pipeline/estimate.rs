//! `cimpool estimate` as a library call: the constants (with a user's
//! overrides), the workloads (a network's shapes on each configuration, or
//! compressed image folders), and the estimate of each, optionally with a
//! synthesized engine area.

use super::{source, Progress};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::estimate::{self, constants::Constants, workload};
use std::path::{Path, PathBuf};

/// The model's constants: the embedded ones, then a TOML file of
/// overrides, then the technology node.
pub fn constants(file: Option<&Path>, node_nm: Option<f64>) -> Result<Constants> {
    let mut overrides = match file {
        Some(p) => std::fs::read_to_string(p)
            .map_err(|e| Error::Usage(format!("cannot read {}: {e}", p.display())))?,
        None => String::new(),
    };
    if let Some(node) = node_nm {
        overrides += &format!("\nnode_nm = {node:?}\n");
    }
    Constants::from_toml(&overrides).map_err(|e| {
        Error::Usage(match file {
            Some(p) => format!("{}: {e}", p.display()),
            None => e,
        })
    })
}

/// What to estimate.
#[derive(Clone, Debug)]
pub enum Workloads {
    /// Compressed image folders (their own configuration and report).
    Images(Vec<PathBuf>),
    /// A network's shapes on each configuration file (none: the default),
    /// each with `overrides` applied.
    Shapes {
        onnx: Option<PathBuf>,
        /// The ONNX graph value to import as the output.
        onnx_output: Option<String>,
        description: Option<source::Description>,
        weights: Option<PathBuf>,
        configs: Vec<PathBuf>,
        overrides: Vec<(String, String)>,
        keep: f64,
        sparsity: f64,
        /// Layers run on the host with 8-bit weights (`--host-layers`).
        host_layers: Vec<String>,
    },
}

/// Checks the predicted compression and loads the network's shapes; its
/// name for the tables.
fn load_shapes(
    onnx: &Option<PathBuf>,
    onnx_output: &Option<String>,
    description: &Option<source::Description>,
    weights: &Option<PathBuf>,
    keep: f64,
    sparsity: f64,
    host_layers: &[String],
) -> Result<(String, crate::network::model::Network)> {
    if !(keep > 0.0 && keep <= 1.0) {
        return Err(Error::Usage(format!(
            "--keep {keep} is invalid: it must be in (0, 1]"
        )));
    }
    if !(0.0..1.0).contains(&sparsity) {
        return Err(Error::Usage(format!(
            "--sparsity {sparsity} is invalid: it must be in [0, 1)"
        )));
    }
    let mut loaded = source::shapes_only(
        onnx.as_deref().map(|p| (p, onnx_output.as_deref())),
        description.as_ref(),
        weights.as_deref(),
    )?;
    loaded.place_on_host(host_layers)?;
    let name = match (description, onnx) {
        (Some(source::Description::Builtin(n)), _) => n.clone(),
        (Some(source::Description::File(p)), _) | (None, Some(p)) => p.display().to_string(),
        (None, None) => "network".to_string(),
    };
    Ok((name, loaded.network))
}

/// The synthesized sources an estimate adds, cached in `cache`.
#[derive(Clone, Debug, Default)]
pub struct Synthesized<'a> {
    /// One engine synthesized on the area-only sky130 Liberty (`--synth`).
    pub area: bool,
    /// One engine's periphery timed in osu018 (`--timing`).
    pub timing: bool,
    pub cache: Option<&'a Path>,
}

/// One estimate run; `batch` images share a tile load in the batched
/// schedule; `synthesized` adds the synthesized sources.
pub fn run(
    k: &Constants,
    what: &Workloads,
    batch: u64,
    synthesized: &Synthesized,
    progress: &dyn Progress,
) -> Result<estimate::Report> {
    if batch == 0 {
        return Err(Error::Usage(
            "--batch 0 is invalid: it must be at least 1 image".into(),
        ));
    }
    let mut entries = Vec::new();
    match what {
        Workloads::Images(dirs) => {
            for dir in dirs {
                let (config, w) = workload::from_images(dir)?;
                let label = format!("{} ({})", estimate::label(&config), dir.display());
                entries.push((config, w, label));
            }
        }
        Workloads::Shapes {
            onnx,
            onnx_output,
            description,
            weights,
            configs,
            overrides,
            keep,
            sparsity,
            host_layers,
        } => {
            let (name, network) = load_shapes(
                onnx,
                onnx_output,
                description,
                weights,
                *keep,
                *sparsity,
                host_layers,
            )?;
            let files: Vec<Option<&Path>> = if configs.is_empty() {
                vec![None]
            } else {
                configs.iter().map(|p| Some(p.as_path())).collect()
            };
            for file in files {
                let config = Config::from_sources(file, overrides)?.resolved();
                config.validate()?;
                let w = workload::from_shapes(&name, &config, &network, *keep, *sparsity);
                entries.push((config.clone(), w, estimate::label(&config)));
            }
        }
    }
    let mut report = estimate::Report {
        constants: k.clone(),
        entries: Vec::new(),
    };
    progress.stage("estimates", entries.len() as u64);
    for (config, w, label) in entries {
        let mut e = estimate::estimate(k, label, &config, &w, batch);
        let cache = synthesized
            .cache
            .unwrap_or_else(|| Path::new("build/estimate"));
        if synthesized.area {
            e.synthesized_engine = Some(estimate::synth::engine_area(k, &config, cache)?);
        }
        if synthesized.timing {
            let mut say = |step: &str| progress.note(&format!("{}: {step}", e.label));
            e.timed_engine = Some(estimate::synth::engine_timing(k, &config, cache, &mut say)?);
        }
        report.entries.push(e);
        progress.inc();
    }
    progress.finish();
    Ok(report)
}

/// `estimate --sensitivity`: the headline of the first configuration (the
/// proposal) against the second (the baseline) under every knob of
/// `estimate::sensitivity`. With no configuration, the default pool engine
/// against the same engine with 4-bit dense weights.
pub fn sensitivity(
    k: &Constants,
    what: &Workloads,
    progress: &dyn Progress,
) -> Result<estimate::sensitivity::Sensitivity> {
    let Workloads::Shapes {
        onnx,
        onnx_output,
        description,
        weights,
        configs,
        overrides,
        keep,
        sparsity,
        host_layers,
    } = what
    else {
        return Err(Error::Usage(
            "--sensitivity needs a network's shapes (--network, --model or --onnx), not --images"
                .into(),
        ));
    };
    // Each side: its configuration file and the keys it sets itself.
    type Side<'a> = (Option<&'a Path>, Vec<(String, String)>);
    let pair: [Side; 2] = match configs.len() {
        0 => [
            (None, Vec::new()),
            (
                None,
                vec![
                    ("engine".to_string(), "dense".to_string()),
                    ("w_bits".to_string(), "4".to_string()),
                ],
            ),
        ],
        1 => {
            return Err(Error::Usage(
                "--sensitivity compares two configurations: give a second --config (the baseline), or none for the default pool engine against 4-bit dense".into(),
            ))
        }
        _ => [
            (Some(configs[0].as_path()), Vec::new()),
            (Some(configs[1].as_path()), Vec::new()),
        ],
    };
    let (name, network) = load_shapes(
        onnx,
        onnx_output,
        description,
        weights,
        *keep,
        *sparsity,
        host_layers,
    )?;
    let build = |extra: &[(String, String)]| -> Result<Vec<Config>> {
        pair.iter()
            .map(|(file, own)| {
                let keys: Vec<(String, String)> =
                    own.iter().chain(overrides).chain(extra).cloned().collect();
                let c = Config::from_sources(*file, &keys)?.resolved();
                c.validate()?;
                Ok(c)
            })
            .collect()
    };
    // The configurations as given must hold; a knob's setting they refuse
    // is reported in its row.
    let given = build(&[])?;
    let evaluate = |k: &Constants, extra: &[(String, String)]| {
        let c = build(extra).map_err(|e| crate::diagnostics::one_line(&e.to_string()))?;
        let e: Vec<estimate::Entry> = c
            .iter()
            .map(|c| {
                let w = workload::from_shapes(&name, c, &network, *keep, *sparsity);
                estimate::estimate(k, String::new(), c, &w, 1)
            })
            .collect();
        Ok(estimate::sensitivity::Headline {
            area_cut: 1.0 - e[0].on_chip.area() / e[1].on_chip.area(),
            energy_ratio: e[1].streamed.energy() / e[0].streamed.energy(),
        })
    };
    progress.stage("sensitivity", estimate::sensitivity::evaluations());
    let workload = if given[0].is_dense() {
        format!("{name}, sparsity {sparsity}")
    } else {
        format!("{name}, keep {keep}")
    };
    let s = estimate::sensitivity::run(
        k,
        estimate::label(&given[0]),
        estimate::label(&given[1]),
        workload,
        &evaluate,
        &|| progress.inc(),
    )
    .map_err(Error::Usage)?;
    progress.finish();
    Ok(s)
}
