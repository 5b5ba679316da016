//! The `cimpool` command line: a thin layer over the library.

use anyhow::Context;
use cimpool::config::{AdcMode, Config, Crossbar, Storage, DEFAULT_TOML};
use cimpool::package;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "cimpool",
    version,
    about = "Generate synthesizable Verilog for SRAM compute-in-memory accelerators with weight-pool compression"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate the RTL package (Verilog, file list, C header, JSON, port document).
    Gen(GenArgs),
    /// Print the embedded default configuration (a starting point for --config).
    DefaultConfig,
    /// Verilate a generated package into a shared library for co-simulation.
    Verilate(VerilateArgs),
    /// Co-simulate a generated package against the golden model under Verilator.
    Cosim(CosimArgs),
    /// Compress trained weights into a weight pool and write the memory images.
    Compress(CompressArgs),
    /// Run a compressed network (its memory images) on the golden model and
    /// report accuracy on a labelled data set.
    Run(RunArgs),
    /// Reports on a generated package.
    #[command(subcommand)]
    Report(ReportCommand),
}

#[derive(Args)]
struct CompressArgs {
    /// Trained weights: .npz, .npy or .safetensors (PyTorch state-dict names).
    #[arg(long, value_name = "FILE")]
    weights: PathBuf,
    /// Model description (TOML: input_scale and [[layer]] entries); without
    /// it the layer order is inferred from a chain of 2-D `*.weight` tensors.
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
    /// Float value of one unit of the integer input, when the model is inferred.
    #[arg(long, default_value_t = 1.0)]
    input_scale: f64,
    /// Hardware configuration (TOML, as for `gen`) the images are for.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Integer network inputs (.npz with `x`) that set the activation scales.
    #[arg(long, value_name = "FILE")]
    calib: PathBuf,
    /// Share of (channel, row block) error tiles kept (structured pruning).
    #[arg(long, default_value_t = 0.5)]
    keep: f64,
    /// k-means iterations of the pool construction.
    #[arg(long, default_value_t = 25)]
    iterations: usize,
    /// Seed of the pool construction.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Use this pool (shape (pool, rows), +-1, e.g. the pool.npy an earlier
    /// run wrote) instead of building one: for weights fine-tuned against it.
    #[arg(long, value_name = "FILE")]
    pool: Option<PathBuf>,
    /// Labelled data (.npz with `x`, `y`): report float and compressed accuracy.
    #[arg(long, value_name = "FILE")]
    eval: Option<PathBuf>,
    /// Output folder for the images, manifest.json and report.json.
    #[arg(long, value_name = "DIR", default_value = "build/compressed")]
    out: PathBuf,
}

#[derive(Args)]
struct RunArgs {
    /// Folder written by `cimpool compress`.
    #[arg(long, value_name = "DIR", default_value = "build/compressed")]
    images: PathBuf,
    /// Labelled data (.npz with integer inputs `x` and labels `y`).
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Synthesize with Yosys and print the cell area of each block.
    Area(AreaArgs),
    /// Synthesize the mux and Benes crossbars for several pool sizes next to
    /// the pool and error macros: cells, transistors, depth, share of the engine.
    Xbar(XbarArgs),
}

#[derive(Args)]
struct XbarArgs {
    /// Package folder whose configuration sets rows, cols, macros and the data
    /// width (default: the embedded default configuration).
    #[arg(long, value_name = "DIR")]
    rtl: Option<PathBuf>,
    /// Pool sizes P to compare (powers of two dividing cols).
    #[arg(long, value_delimiter = ',', default_value = "16,32,64,128")]
    pools: Vec<u32>,
}

#[derive(Args)]
struct AreaArgs {
    /// Package folder written by `cimpool gen`.
    #[arg(long, value_name = "DIR", default_value = "hdl")]
    rtl: PathBuf,
    /// Liberty to map onto (default: the area-only sky130_fd_sc_hd Liberty shipped with cimpool).
    #[arg(long, value_name = "FILE")]
    liberty: Option<PathBuf>,
}

#[derive(Args)]
struct VerilateArgs {
    /// Package folder written by `cimpool gen`.
    #[arg(long, value_name = "DIR", default_value = "hdl")]
    rtl: PathBuf,
    /// Build folder; each design gets a sub-folder named by a hash of its inputs.
    #[arg(long, value_name = "DIR", default_value = "build/verilator")]
    build: PathBuf,
    /// Parallel C++ compile jobs.
    #[arg(long, default_value_t = 2)]
    jobs: u32,
    /// Build the variant that can write VCD traces (about twice the C++ to compile).
    #[arg(long)]
    trace: bool,
}

#[derive(Args)]
struct CosimArgs {
    #[command(flatten)]
    verilate: VerilateArgs,
    /// Random input vectors to compare (plus directed corner vectors).
    #[arg(long, default_value_t = 1000)]
    vectors: usize,
    /// Seed of the scenario and of the valid/ready back-pressure.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Probability that a pending load or input is offered in a cycle.
    #[arg(long, default_value_t = 0.85)]
    p_valid: f64,
    /// Probability that the output is ready in a cycle.
    #[arg(long, default_value_t = 0.7)]
    p_ready: f64,
}

#[derive(Args)]
struct GenArgs {
    /// TOML configuration; keys it leaves out take the embedded defaults.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Output folder (created if missing; stale generated Verilog is removed).
    #[arg(long, value_name = "DIR", default_value = "hdl")]
    out: PathBuf,
    /// Error (weight) macros N.
    #[arg(long)]
    macros: Option<u32>,
    /// Word lines per macro R (= pool vector length).
    #[arg(long)]
    rows: Option<u32>,
    /// Bit lines per macro C (= output lanes per macro).
    #[arg(long)]
    cols: Option<u32>,
    /// Pool vectors P (must divide cols).
    #[arg(long)]
    pool: Option<u32>,
    /// Word lines driven per compute phase W (must divide rows).
    #[arg(long)]
    wl_parallel: Option<u32>,
    /// ADC resolution in bits; 0 = exact digital read-out.
    #[arg(long)]
    adc_bits: Option<u32>,
    /// ADC rounding.
    #[arg(long, value_enum)]
    adc_mode: Option<AdcMode>,
    /// Input activation bits.
    #[arg(long)]
    act_bits: Option<u32>,
    /// Two's-complement activations.
    #[arg(long)]
    act_signed: Option<bool>,
    /// Permutation crossbar implementation.
    #[arg(long, value_enum)]
    crossbar: Option<Crossbar>,
    /// Physical crossbars (0 = fewest that hide under the bit-serial compute).
    #[arg(long)]
    crossbar_units: Option<u32>,
    /// Register stages inside each crossbar (0 = combinational).
    #[arg(long)]
    crossbar_pipeline: Option<u32>,
    /// Macro storage: synthesizable flops or hard-macro stubs.
    #[arg(long, value_enum)]
    storage: Option<Storage>,
    /// Lanes per output beat (0 = auto).
    #[arg(long)]
    out_lanes: Option<u32>,
}

impl GenArgs {
    fn resolve(&self) -> Result<Config, cimpool::config::ConfigError> {
        let mut c = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        macro_rules! apply {
            ($($field:ident),*) => { $( if let Some(v) = self.$field { c.$field = v; } )* };
        }
        apply!(
            macros,
            rows,
            cols,
            pool,
            wl_parallel,
            adc_bits,
            adc_mode,
            act_bits,
            act_signed,
            crossbar,
            crossbar_units,
            crossbar_pipeline,
            storage,
            out_lanes
        );
        Ok(c)
    }
}

/// Exit code for invalid user input (configuration, weight files, model description), as opposed to I/O or internal failures.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::DefaultConfig => {
            print!("{DEFAULT_TOML}");
            ExitCode::SUCCESS
        }
        Command::Gen(args) => report(gen(&args)),
        Command::Verilate(args) => report(verilate(&args)),
        Command::Cosim(args) => report(cosim(&args)),
        Command::Compress(args) => report(compress(&args)),
        Command::Run(args) => report(run(&args)),
        Command::Report(ReportCommand::Area(args)) => report(area(&args)),
        Command::Report(ReportCommand::Xbar(args)) => report(xbar(&args)),
    }
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            let usage = e
                .downcast_ref::<package::PackageError>()
                .is_some_and(|p| matches!(p, package::PackageError::Config(_)))
                || e.downcast_ref::<cimpool::config::ConfigError>().is_some()
                || e.downcast_ref::<cimpool::compress::tensors::TensorError>()
                    .is_some()
                || e.downcast_ref::<cimpool::compress::model::ModelError>()
                    .is_some()
                || e.downcast_ref::<cimpool::compress::CompressError>()
                    .is_some();
            ExitCode::from(if usage { EXIT_USAGE } else { 1 })
        }
    }
}

fn area(args: &AreaArgs) -> anyhow::Result<()> {
    let start = Instant::now();
    let r = cimpool::flow::area::report(&args.rtl, args.liberty.as_deref())?;
    println!(
        "Cell area of {} by block ({}), Yosys {:.0} s:\n",
        args.rtl.display(),
        r.liberty,
        start.elapsed().as_secs_f64()
    );
    print!("{}", r.table());
    Ok(())
}

fn progress_bar(len: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} {msg}")
            .expect("valid template"),
    );
    bar
}

fn compress(args: &CompressArgs) -> anyhow::Result<()> {
    use cimpool::compress::{self, model::ModelDesc, run, tensors};
    let start = Instant::now();
    let config = match &args.config {
        Some(p) => Config::from_file(p)?,
        None => Config::default(),
    }
    .resolved();
    config.validate()?;
    let tensors = tensors::read_tensors(&args.weights)?;
    let desc = match &args.model {
        Some(p) => ModelDesc::from_toml(
            &std::fs::read_to_string(p)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))?,
        )
        .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
        None => ModelDesc::infer(&tensors, args.input_scale)?,
    };
    let layers = desc.layers(&tensors)?;
    let calib = tensors::read_dataset(&args.calib, false)?;
    let fixed_pool = match &args.pool {
        Some(p) => Some(tensors::read_pool(
            p,
            config.pool as usize,
            config.rows as usize,
        )?),
        None => None,
    };
    let bar = progress_bar(args.iterations as u64);
    let c = compress::compress(
        &config,
        &layers,
        desc.input_scale,
        &calib.x,
        &compress::Options {
            keep_ratio: args.keep,
            iterations: args.iterations,
            seed: args.seed,
            pool: fixed_pool,
        },
        |what, i, n| {
            bar.set_length(n as u64);
            bar.set_position(i as u64);
            bar.set_message(what.to_string());
        },
    )?;
    bar.finish_and_clear();
    compress::images::write(&c, &args.out)?;
    let pool_origin = match (c.pool_kmeans, &args.pool) {
        (Some((inertia, iterations)), _) => {
            format!("k-means: {iterations} iterations, inertia {inertia:.2}")
        }
        (None, Some(p)) => format!("pool given by {}", p.display()),
        (None, None) => unreachable!("a pool is either built or given"),
    };
    println!(
        "cimpool: compressed {} layers ({} weights) into a pool of {} x {} in {:.1} s ({pool_origin})\n",
        c.layers.len(),
        c.budget().weights,
        config.pool,
        config.rows,
        start.elapsed().as_secs_f64(),
    );
    print!("{}", c.table());
    let mut report = serde_json::json!({
        "keep_ratio": args.keep,
        "seed": args.seed,
        "pool": {
            "vectors": config.pool,
            "length": config.rows,
            "given": args.pool.as_ref().map(|p| p.display().to_string()),
            "iterations": c.pool_kmeans.map(|k| k.1),
            "inertia": c.pool_kmeans.map(|k| k.0),
        },
        "bits_per_weight": c.budget(),
        "layers": c.layers.iter().map(|l| &l.stats).collect::<Vec<_>>(),
    });
    if let Some(eval) = &args.eval {
        let data = tensors::read_dataset(eval, true)?;
        let (fa, ca) = run::float_accuracies(&layers, &c.layers, &data, desc.input_scale);
        println!(
            "\naccuracy on {} ({} samples): float (the weights as given) {:.2}%, compressed (float arithmetic) {:.2}%",
            eval.display(),
            data.y.len(),
            100.0 * fa,
            100.0 * ca
        );
        report["accuracy"] = serde_json::json!({ "data": eval.display().to_string(), "float": fa, "compressed_float": ca });
    }
    std::fs::write(
        args.out.join("report.json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )?;
    println!(
        "\nwrote {}: pool.hex, pool.npy, one .hex per layer, manifest.json, report.json, cim_config.toml",
        args.out.display()
    );
    Ok(())
}

fn run(args: &RunArgs) -> anyhow::Result<()> {
    use cimpool::compress::{images, run, tensors};
    let start = Instant::now();
    let images = images::read(&args.images)?;
    let data = tensors::read_dataset(&args.data, true)?;
    let bar = progress_bar(1);
    let outputs = run::golden(&images, &data.x, |i, n| {
        bar.set_length(n as u64);
        bar.set_position(i as u64);
        bar.set_message("tiles on the golden model");
    })?;
    bar.finish_and_clear();
    let acc = run::accuracy(&outputs, &data.y);
    println!(
        "cimpool: {} samples through {} layers on the golden model in {:.1} s: accuracy {:.2}% (integer path, from the memory images in {})",
        data.y.len(),
        images.manifest.layers.len(),
        start.elapsed().as_secs_f64(),
        100.0 * acc,
        args.images.display()
    );
    Ok(())
}

fn xbar(args: &XbarArgs) -> anyhow::Result<()> {
    use cimpool::flow::xbar;
    let start = Instant::now();
    let base = xbar::config_of(args.rtl.as_deref())?;
    // Check every row's configuration before minutes of synthesis.
    for &p in &args.pools {
        for kind in [Crossbar::Mux, Crossbar::Benes] {
            xbar::row_config(&base, p, kind)?;
        }
    }
    let bar = progress_bar(2 * args.pools.len() as u64);
    let rows = xbar::report(&base, &args.pools, |what| {
        bar.set_message(format!("synthesizing {what}"));
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    let c = base.resolved();
    println!(
        "Crossbars vs macros for {} error macros of {}x{} (sky130_fd_sc_hd area-only Liberty), Yosys {:.0} s:\n",
        c.macros,
        c.rows,
        c.cols,
        start.elapsed().as_secs_f64()
    );
    print!("{}", xbar::table(&rows));
    println!(
        "\nshare of engine = (X crossbars + index decoder) / (that + pool macro + error macros), \
         the macros synthesized as storage = \"flops\" cells."
    );
    Ok(())
}

fn verilate(args: &VerilateArgs) -> anyhow::Result<()> {
    let start = Instant::now();
    let built = cimpool::cosim::verilate::verilate(&args.rtl, &args.build, args.jobs, args.trace)?;
    println!(
        "cimpool: verilated {} in {:.1} s: {}",
        args.rtl.display(),
        start.elapsed().as_secs_f64(),
        built.library.display()
    );
    Ok(())
}

fn cosim(args: &CosimArgs) -> anyhow::Result<()> {
    for (name, p) in [("--p-valid", args.p_valid), ("--p-ready", args.p_ready)] {
        anyhow::ensure!(
            p > 0.0 && p <= 1.0,
            "{name} = {p} is invalid: it must be in (0, 1]"
        );
    }
    let start = Instant::now();
    let traffic = cimpool::cosim::driver::Traffic {
        p_valid: args.p_valid,
        p_ready: args.p_ready,
        seed: args.seed,
    };
    let r = cimpool::cosim::cosimulate(
        &args.verilate.rtl,
        &args.verilate.build,
        args.vectors,
        traffic,
    )?;
    println!(
        "cimpool: co-simulation of {} matches the golden model: {} input vectors, {} loads, {} output vectors, \
         {} beats, {} lane values compared over {} cycles ({:.1} s)",
        args.verilate.rtl.display(),
        r.vectors,
        r.loads,
        r.output_vectors,
        r.beats,
        r.lanes_compared,
        r.cycles,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn gen(args: &GenArgs) -> anyhow::Result<()> {
    let start = Instant::now();
    let config = args.resolve()?.resolved();
    let pkg = package::build(&config)?;
    pkg.write(&args.out)
        .with_context(|| format!("writing the package to {}", args.out.display()))?;
    let d = cimpool::config::Derived::new(&config);
    let bytes: usize = pkg.files.iter().map(|(_, t)| t.len()).sum();
    println!(
        "cimpool: wrote {} files ({} modules, {:.1} MB) to {} in {:.2} s",
        pkg.files.len(),
        pkg.design.modules.len(),
        bytes as f64 / 1e6,
        args.out.display(),
        start.elapsed().as_secs_f64()
    );
    println!(
        "  {} error macros {}x{} + pool macro {}x{}: {} lanes in {} groups, {} {} crossbar(s), {} cycles per input vector",
        config.macros, config.rows, config.cols, config.rows, config.pool, d.lanes, d.groups, d.crossbar_units, config.crossbar, d.cycles_per_vector
    );
    println!(
        "  next: make lint OUT={0}   make synth OUT={0}   (top: cim_top, file list: {0}/files.f)",
        args.out.display()
    );
    Ok(())
}
