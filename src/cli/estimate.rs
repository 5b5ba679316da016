//! `cimpool estimate`: arguments to `pipeline::estimate`, and the printing.

use super::args::EstimateArgs;
use super::progress::Bar;
use cimpool::error::{Error, Result};
use cimpool::estimate::{self, anchors};
use cimpool::pipeline::{estimate::Workloads, source};

pub fn estimate(args: &EstimateArgs) -> Result<()> {
    let k = cimpool::pipeline::estimate::constants(args.constants.as_deref(), args.node)?;
    let network_given = args.network.is_some() || args.model.is_some() || args.onnx.is_some();
    if args.anchors {
        println!("Regression anchors (docs/ESTIMATE.md):\n");
        print!("{}", anchors::table(&anchors::anchors(&k)));
        if !network_given && args.images.is_empty() {
            return Ok(());
        }
        println!();
    }
    let what = if !args.images.is_empty() {
        Workloads::Images(args.images.clone())
    } else {
        Workloads::Shapes {
            onnx: args.onnx.clone(),
            onnx_output: args.onnx_output.clone(),
            description: source::Description::from_flags(
                args.model.as_deref(),
                args.network.as_deref(),
            ),
            weights: args.weights.clone(),
            configs: args.config.clone(),
            overrides: super::parse_sets(&args.set)?,
            keep: args.keep,
            sparsity: args.sparsity,
            host_layers: args.host_layers.clone(),
        }
    };
    if args.sensitivity {
        let s = cimpool::pipeline::estimate::sensitivity(&k, &what, &Bar::new())?;
        let on_stdout = match &args.json {
            Some(path) => super::write_json(path, &s.to_json())?,
            None => false,
        };
        if !on_stdout {
            print!("{}", s.table());
        }
        return Ok(());
    }
    let report = cimpool::pipeline::estimate::run(
        &k,
        &what,
        args.batch,
        &cimpool::pipeline::estimate::Synthesized {
            area: args.synth,
            timing: args.timing,
            cache: Some(args.cache.as_path()),
        },
        &Bar::new(),
    )?;
    let on_stdout = match &args.json {
        Some(path) => super::write_json(path, &report.to_json())?,
        None => false,
    };
    if !on_stdout {
        if args.layers {
            for e in &report.entries {
                println!("{}", estimate::Report::layer_table(e));
            }
        }
        print!("{}", report.summary());
    }
    let cannot = |path: &std::path::Path, e: &dyn std::fmt::Display| {
        Error::Usage(format!("cannot write {}: {e}", path.display()))
    };
    if let Some(path) = &args.plot {
        estimate::plot::write_svg(&report.entries, path).map_err(|e| cannot(path, &e))?;
    }
    Ok(())
}
