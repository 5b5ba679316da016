//! The `cimpool` command line: a thin layer over the library. Arguments are
//! in `cli/args.rs`; every command here turns its arguments into a library
//! call (`cimpool::pipeline` for the steps of the flow) and prints what comes
//! back. No step of the pipeline lives here.

mod cli;

use cimpool::config::{Config, Crossbar, DEFAULT_TOML};
use cimpool::error::{Error, Result};
use cimpool::pipeline::{self, source, AdcSteps, CompressJob, Progress};
use cimpool::{compress, cosim, flow, images, network};
use clap::Parser;
use cli::args::*;
use cli::progress::Bar;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::DefaultConfig => {
            print!("{DEFAULT_TOML}");
            Ok(())
        }
        Command::Gen(args) => gen(&args),
        Command::Verilate(args) => verilate(&args),
        Command::Cosim(args) => cosim(&args),
        Command::Prove(args) => prove(&args),
        Command::Compress(args) => compress(&args),
        Command::Run(args) => run(&args),
        Command::Export(args) => export(&args),
        Command::Route(args) => route(&args),
        Command::Model(args) => model(&args),
        Command::Report(ReportCommand::Area(args)) => area(&args),
        Command::Report(ReportCommand::Xbar(args)) => xbar(&args),
        Command::Report(ReportCommand::Timing(args)) => timing(&args),
        Command::Report(ReportCommand::Utilization(args)) => utilization(&args),
        Command::Estimate(args) => cli::estimate::estimate(&args),
        Command::Sweep(cmd) => cli::sweep::sweep(cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).expect("serializes") + "\n"
}

fn gen(args: &GenArgs) -> Result<()> {
    let start = Instant::now();
    let (pkg, replaced) = pipeline::generate(&args.config.resolve()?, &args.out, args.force)?;
    print!("{}", pkg.summary(&args.out, start.elapsed()));
    if replaced {
        println!(
            "cimpool: replaced the package that was in {}",
            args.out.display()
        );
    }
    Ok(())
}

fn area(args: &AreaArgs) -> Result<()> {
    let start = Instant::now();
    let r = flow::area::report(&args.rtl, args.liberty.as_deref())?;
    if let Some(path) = &args.json {
        if cli::write_json(path, &to_json(&r))? {
            return Ok(());
        }
    }
    println!(
        "Cell area of {} by block ({}), Yosys {:.0} s:\n",
        args.rtl.display(),
        r.liberty,
        start.elapsed().as_secs_f64()
    );
    print!("{}", r.table());
    Ok(())
}

fn timing(args: &TimingArgs) -> Result<()> {
    let options = flow::timing::TimingOptions {
        liberty: args.liberty.clone(),
        max_fanout: args.max_fanout,
        hierarchical: args.hierarchical,
        netlist_out: args.netlist.clone(),
    };
    let bar = Bar::new();
    let steps = 5;
    bar.stage("timing", steps);
    let r = flow::timing::report(&args.rtl, &options, |what| {
        bar.message(what.to_string());
        bar.inc();
    })?;
    bar.finish();
    if let Some(path) = &args.json {
        if cli::write_json(path, &to_json(&r))? {
            return Ok(());
        }
    }
    println!(
        "Timing of {} ({}), synthesis {:.0} s, OpenSTA {:.0} s:\n",
        args.rtl.display(),
        r.liberty,
        r.synthesis_s,
        r.sta_s
    );
    print!("{}", r.table());
    Ok(())
}

fn xbar(args: &XbarArgs) -> Result<()> {
    use flow::xbar;
    let start = Instant::now();
    let base = xbar::config_of(args.rtl.as_deref())?;
    // Check every row's configuration before minutes of synthesis.
    for &p in &args.pools {
        for kind in [Crossbar::Mux, Crossbar::Benes] {
            xbar::row_config(&base, p, kind)?;
        }
    }
    let bar = Bar::new();
    bar.stage("synthesizing", 2 * args.pools.len() as u64);
    let rows = xbar::report(&base, &args.pools, |what| {
        bar.message(format!("synthesizing {what}"));
        bar.inc();
    })?;
    bar.finish();
    if let Some(path) = &args.json {
        if cli::write_json(path, &to_json(&rows))? {
            return Ok(());
        }
    }
    print!("{}", xbar::summary(&base, &rows, start.elapsed()));
    Ok(())
}

fn utilization(args: &UtilizationArgs) -> Result<()> {
    use compress::utilization;
    let config = args.config.resolve()?.resolved();
    config.validate()?;
    let description =
        source::Description::from_flags(args.model.as_deref(), args.network.as_deref());
    let loaded = source::shapes_only(
        args.onnx
            .as_deref()
            .map(|p| (p, args.onnx_output.as_deref())),
        description.as_ref(),
        args.weights.as_deref(),
    )?;
    let mut net = loaded.network;
    let mut text = String::new();
    if args.morph {
        let (plan, channels) = compress::morph::plan(&net, &config, args.morph_budget)?;
        let (morphed, tensors) = compress::morph::apply(&net, &loaded.description, &channels, 1);
        net = morphed.network(&tensors)?;
        text += &format!("morphed: {}\n\n", plan.summary());
    }
    let layers = utilization::utilization(&config, &net);
    if let Some(path) = &args.json {
        if cli::write_json(path, &to_json(&layers))? {
            return Ok(());
        }
    }
    print!("{text}{}", utilization::table(&config, &layers));
    Ok(())
}

fn verilate(args: &VerilateArgs) -> Result<()> {
    let start = Instant::now();
    let built = cosim::verilate::verilate(&args.rtl, &args.build, args.jobs, args.instrument())?;
    println!(
        "cimpool: verilated {} in {:.1} s: {}",
        args.rtl.display(),
        start.elapsed().as_secs_f64(),
        built.library.display()
    );
    Ok(())
}

fn prove(args: &ProveArgs) -> Result<()> {
    use cimpool::formal::{self, Outcome, Scope};
    let scope = match args.scope {
        ProveScope::Controller => Scope::Controller,
        ProveScope::Top => Scope::Top,
    };
    let config = cimpool::flow::package_config(&args.rtl)?;
    let steps = args.steps.unwrap_or_else(|| formal::default_steps(&config));
    let proof = formal::prove(&args.rtl, scope, steps, &args.out)?;
    if args.json {
        print!("{}", to_json(&proof));
    } else {
        println!("cimpool: {}", proof.summary());
    }
    match proof.outcome {
        Outcome::Proven => Ok(()),
        Outcome::Refuted { .. } => Err(Error::Flow(cimpool::flow::FlowError::Tool(format!(
            "the bounded proof of {} failed",
            proof.module
        )))),
    }
}

fn cosim(args: &CosimArgs) -> Result<()> {
    let start = Instant::now();
    for (name, p) in [("--p-valid", args.p_valid), ("--p-ready", args.p_ready)] {
        if !(p > 0.0 && p <= 1.0) {
            return Err(Error::Usage(format!(
                "{name} = {p} is invalid: it must be in (0, 1]"
            )));
        }
    }
    let traffic = cosim::driver::Traffic {
        p_valid: args.p_valid,
        p_ready: args.p_ready,
        seed: args.seed,
    };
    let (rtl, build) = (&args.verilate.rtl, &args.verilate.build);
    let dat = build.join("coverage.dat");
    let r = if args.verilate.coverage {
        cosim::cosimulate_with_coverage(rtl, build, args.vectors, traffic, &dat)?
    } else {
        cosim::cosimulate(rtl, build, args.vectors, traffic)?
    };
    println!(
        "cimpool: co-simulation of {} matches the golden model: {} ({:.1} s)",
        rtl.display(),
        r,
        start.elapsed().as_secs_f64()
    );
    if args.x_seeds > 0 {
        let seeds: Vec<u32> = (1..=args.x_seeds).collect();
        let x = cosim::cosimulate_random_x(rtl, build, args.vectors, traffic, &seeds)?;
        println!(
            "cimpool: with registers starting random ({} seeds) it matches too: {x}",
            seeds.len()
        );
    }
    if args.verilate.coverage {
        let merged = cosim::coverage::Merged::read(std::slice::from_ref(&dat), rtl)?;
        print!("{}", merged.table());
        println!("cimpool: coverage counters in {}", dat.display());
    }
    Ok(())
}

fn compress(args: &CompressArgs) -> Result<()> {
    let mut overrides = cli::parse_sets(&args.set)?;
    if let Some(engine) = args.engine {
        overrides.push(("engine".into(), engine.to_string()));
    }
    if let Some(bits) = args.w_bits {
        overrides.push(("w_bits".into(), bits.to_string()));
    }
    let config = Config::from_sources(args.config.as_deref(), &overrides)?.resolved();
    config.validate()?;
    let src = match (&args.onnx, &args.weights, args.random_weights) {
        (Some(path), _, _) => source::Source::Onnx {
            path: path.clone(),
            input_scale: args.input_scale,
            output: args.onnx_output.clone(),
        },
        (None, weights, seed) => source::Source::Weights {
            weights: match (weights, seed) {
                (Some(p), _) => source::Weights::File(p.clone()),
                (None, Some(seed)) => source::Weights::Random(seed),
                (None, None) => unreachable!("clap requires one"),
            },
            description: source::Description::from_flags(
                args.model.as_deref(),
                args.network.as_deref(),
            ),
            input_scale: args.input_scale,
        },
    };
    let mut loaded = source::load(&src)?;
    loaded.place_on_host(&args.host_layers)?;
    if let Some(warning) = loaded.unused_warning() {
        eprintln!("{warning}");
    }
    for note in &loaded.notes {
        eprintln!("{note}");
    }
    let calibration = match (&args.calib, args.random_weights) {
        (Some(p), _) => Some(network::tensors::read_dataset(p, false)?.x),
        (None, Some(_)) => Some(source::random_inputs(&loaded.network, config.act_bits, 8)),
        (None, None) => None,
    };
    let pool = match &args.pool {
        Some(p) => Some(network::tensors::read_pool(
            p,
            config.pool as usize,
            config.rows as usize,
        )?),
        None => None,
    };
    let scales = match &args.scales_from {
        Some(dir) => Some(pipeline::scales_from(dir, &loaded.network)?),
        None => None,
    };
    let job = CompressJob {
        config,
        options: compress::Options {
            keep_ratio: args.keep,
            iterations: args.iterations,
            seed: args.seed,
            pool,
            sparsity: args.sparsity,
            scales,
            choices: match &args.choices {
                Some(p) => Some(compress::choices::Choices::read(p)?),
                None => None,
            },
            moments: None, // the pipeline's, from `prune`
        },
        calibration,
        morph: args.morph.then_some(args.morph_budget),
        write_folded: args.write_folded,
        clip_weights: args.clip_weights,
        prune: args.prune(),
        adc: match (&args.adc_shifts, args.fixed_adc_step) {
            (Some(p), _) => AdcSteps::File(p.clone()),
            (None, true) => AdcSteps::Generation,
            (None, false) => AdcSteps::Calibrate {
                bias_correction: args.adc_bias_correction,
            },
        },
        eval: args.eval.clone(),
        out: args.out.clone(),
        force: args.force,
        pool_file: args.pool.clone(),
    };
    let outcome = job.run(&loaded, &Bar::new())?;
    print!("{}", outcome.summary(&job));
    Ok(())
}

fn run(args: &RunArgs) -> Result<()> {
    let e = pipeline::evaluate(&args.images, &args.data, &Bar::new())?;
    if let Some(path) = &args.outputs {
        images::export::write_outputs(path, &e.outputs)?;
    }
    if let Some(path) = &args.json {
        if cli::write_json(path, &to_json(&e))? {
            return Ok(());
        }
    }
    println!("{e}");
    Ok(())
}

fn export(args: &ExportArgs) -> Result<()> {
    let imgs = images::read(&args.images)?;
    let count = images::export::write_npz(&imgs, &args.out)?;
    println!(
        "wrote {}: {} arrays of {} layers (the graph is {}/manifest.json)",
        args.out.display(),
        count,
        imgs.manifest.layers.len(),
        args.images.display()
    );
    Ok(())
}

fn model(args: &ModelArgs) -> Result<()> {
    use network::builtin;
    match &args.name {
        Some(name) => print!(
            "{}",
            builtin::to_toml(name, &source::builtin_network(name)?)
        ),
        None => {
            for (name, what) in builtin::NETWORKS {
                let (all, weights) =
                    builtin::parameter_counts(&builtin::network(name).expect("listed"));
                println!("{name:16} {what} ({all} parameters, {weights} in conv/fc weights)");
            }
        }
    }
    Ok(())
}

fn route(args: &RouteArgs) -> Result<()> {
    let config = args.config.resolve()?.resolved();
    config.validate()?;
    let r = cimpool::loadport::route(&config, &args.indices)?;
    if let Some(path) = &args.json {
        if cli::write_json(path, &to_json(&r))? {
            return Ok(());
        }
    }
    print!("{}", r.table());
    Ok(())
}
