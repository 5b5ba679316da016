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
    },
}

/// One estimate run; `synth_cache` also synthesizes each engine there.
pub fn run(
    k: &Constants,
    what: &Workloads,
    synth_cache: Option<&Path>,
    progress: &dyn Progress,
) -> Result<estimate::Report> {
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
        } => {
            if !(*keep > 0.0 && *keep <= 1.0) {
                return Err(Error::Usage(format!(
                    "--keep {keep} is invalid: it must be in (0, 1]"
                )));
            }
            if !(0.0..1.0).contains(sparsity) {
                return Err(Error::Usage(format!(
                    "--sparsity {sparsity} is invalid: it must be in [0, 1)"
                )));
            }
            let loaded = source::shapes_only(
                onnx.as_deref().map(|p| (p, onnx_output.as_deref())),
                description.as_ref(),
                weights.as_deref(),
            )?;
            let name = match (description, onnx) {
                (Some(source::Description::Builtin(n)), _) => n.clone(),
                (Some(source::Description::File(p)), _) | (None, Some(p)) => {
                    p.display().to_string()
                }
                (None, None) => "network".to_string(),
            };
            let files: Vec<Option<&Path>> = if configs.is_empty() {
                vec![None]
            } else {
                configs.iter().map(|p| Some(p.as_path())).collect()
            };
            for file in files {
                let config = Config::from_sources(file, overrides)?.resolved();
                config.validate()?;
                let w = workload::from_shapes(&name, &config, &loaded.network, *keep, *sparsity);
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
        let mut e = estimate::estimate(k, label, &config, &w);
        if let Some(cache) = synth_cache {
            e.synthesized_engine = Some(estimate::synth::engine_area(k, &config, cache)?);
        }
        report.entries.push(e);
        progress.inc();
    }
    progress.finish();
    Ok(report)
}
