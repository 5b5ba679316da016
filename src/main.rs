//! The `cimpool` command line: a thin layer over the library. Every
//! configuration key is also a flag (`--wl-parallel 16`), derived from the
//! embedded default configuration; `--set key=value` reaches the same keys.

use cimpool::compress;
use cimpool::config::{Config, Crossbar, DEFAULT_TOML};
use cimpool::error::{Error, Result};
use cimpool::network::{self, model::ModelDesc, tensors};
use cimpool::{cosim, flow, package};
use cimpool::{images, run};
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
    /// Generate the RTL package (Verilog, file list, C header, JSON, port document, flow files).
    Gen(GenArgs),
    /// Print the embedded default configuration (a starting point for --config).
    DefaultConfig,
    /// Verilate a generated package into a shared library for co-simulation.
    Verilate(VerilateArgs),
    /// Co-simulate a generated package against the golden model under Verilator.
    Cosim(CosimArgs),
    /// Compress trained weights into a weight pool (or, for the dense engine,
    /// quantize and block-prune them) and write the memory images.
    Compress(Box<CompressArgs>),
    /// Run a compressed network (its memory images) on the golden model and
    /// report accuracy on a labelled data set.
    Run(RunArgs),
    /// Write the integer network a set of memory images loads as .npz arrays
    /// (cells, masks, weights, biases, scale words per layer), for outside
    /// models of the hardware such as tools/adc_train.py.
    Export(ExportArgs),
    /// Turn one lane group's pool indices into the `select` fields of its
    /// lane words (Benes switch settings with `crossbar = "benes"`).
    Route(RouteArgs),
    /// Print the model description of a built-in network (resnet18,
    /// resnet18-cifar, resnet-fmnist), a starting point for --model.
    Model(ModelArgs),
    /// Reports on a generated package.
    #[command(subcommand)]
    Report(ReportCommand),
    /// What a whole network costs on each configuration: macros, stored
    /// bits, utilization, area and energy by component, cycles; every
    /// weight on chip and one engine with weights in DRAM (docs/ESTIMATE.md).
    Estimate(Box<EstimateArgs>),
    /// Design-space sweeps: expand a space into points, run them (here on
    /// every core, or one per Ray task or Slurm array job), collect the
    /// table and its Pareto front (docs/SWEEP.md).
    #[command(subcommand)]
    Sweep(SweepCommand),
}

#[derive(Subcommand)]
enum SweepCommand {
    /// Expand a space (TOML) into resolved, validated points, one JSON per
    /// line on stdout; invalid combinations are dropped with a count.
    Expand {
        /// The space file.
        space: PathBuf,
    },
    /// Verification points: the first legal random configuration of each
    /// seed (the property tests' strategy), to generate, lint, synthesize
    /// and co-simulate with `sweep run` (`make regress SEEDS=n`).
    Regress {
        /// Number of seeds (configurations).
        #[arg(long, default_value_t = 10)]
        seeds: u64,
        /// First seed.
        #[arg(long, default_value_t = 1)]
        first_seed: u64,
        /// Random input vectors per co-simulation.
        #[arg(long, default_value_t = 300)]
        vectors: usize,
        /// Co-simulate models with line and toggle coverage counters
        /// (merge them with `sweep coverage`).
        #[arg(long)]
        coverage: bool,
    },
    /// Merge the coverage of a `sweep regress --coverage` run per module:
    /// a Markdown table, the lines and branches no run reached and the
    /// signals that never toggled.
    Coverage {
        /// The results folder of `sweep run`.
        results: PathBuf,
    },
    /// Run points: one with --point (for Ray tasks and Slurm arrays), else
    /// all on every core. A point whose result exists is skipped.
    Run {
        /// Points written by `sweep expand`.
        points: PathBuf,
        /// Run only this point (0-based index).
        #[arg(long, value_name = "N")]
        point: Option<usize>,
        /// Results folder: one `<hash>/metrics.json` per point.
        #[arg(long, value_name = "DIR", default_value = "build/sweep")]
        out: PathBuf,
    },
    /// Collect the results into CSV on stdout, with the Pareto front of the
    /// objectives.
    Collect {
        /// The results folder of `sweep run`.
        results: PathBuf,
        /// Figures to minimize (default: area_mm2, and energy_nj without accuracy).
        #[arg(long, value_delimiter = ',')]
        minimize: Vec<String>,
        /// Figures to maximize (default: accuracy when the results have it).
        #[arg(long, value_delimiter = ',')]
        maximize: Vec<String>,
        /// Plot the first two objectives and the front (SVG).
        #[arg(long, value_name = "FILE")]
        plot: Option<PathBuf>,
        /// Also write the front alone as CSV.
        #[arg(long, value_name = "FILE")]
        front: Option<PathBuf>,
    },
}

#[derive(Args)]
struct EstimateArgs {
    /// A built-in network (`cimpool model` lists them).
    #[arg(long, value_name = "NAME", conflicts_with_all = ["model", "onnx", "images"],
          required_unless_present_any = ["model", "onnx", "images", "anchors"])]
    network: Option<String>,
    /// Model description (TOML) of the network.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["onnx", "images"])]
    model: Option<PathBuf>,
    /// An ONNX model.
    #[arg(long, value_name = "FILE", conflicts_with = "images")]
    onnx: Option<PathBuf>,
    /// Weights giving the layer shapes a description leaves out.
    #[arg(long, value_name = "FILE", requires = "model")]
    weights: Option<PathBuf>,
    /// A compressed image folder (its own configuration and report.json,
    /// so real kept tiles and sparsity); repeat to compare several.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["config", "set", "keep", "sparsity"])]
    images: Vec<PathBuf>,
    /// Hardware configuration (TOML, as for `gen`); repeat to compare
    /// several side by side (default: the embedded default).
    #[arg(long, value_name = "FILE")]
    config: Vec<PathBuf>,
    /// Set a configuration key in every --config.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Pool engine, from shapes: share of error vectors kept (as `compress --keep`).
    #[arg(long, default_value_t = 1.0)]
    keep: f64,
    /// Dense engine, from shapes: share of phase blocks pruned (as `compress --sparsity`).
    #[arg(long, default_value_t = 0.0)]
    sparsity: f64,
    /// TOML overriding the model's constants (keys of src/estimate/constants.toml).
    #[arg(long, value_name = "FILE")]
    constants: Option<PathBuf>,
    /// Target technology node in nm (sets `node_nm`).
    #[arg(long, value_name = "NM")]
    node: Option<f64>,
    /// Also synthesize one engine of each configuration with Yosys (the
    /// second area source, cached under --cache).
    #[arg(long)]
    synth: bool,
    /// Cache of synthesized areas.
    #[arg(long, value_name = "DIR", default_value = "build/estimate")]
    cache: PathBuf,
    /// Print the per-layer table of every configuration.
    #[arg(long)]
    layers: bool,
    /// Print the regression anchors (the model against published macros).
    #[arg(long)]
    anchors: bool,
    /// Write the whole estimate as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write the area and energy breakdowns as an SVG plot.
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
}

/// `--config FILE`, one flag per configuration key and `--set key=value`.
struct ConfigArgs {
    file: Option<PathBuf>,
    overrides: Vec<(String, String)>,
}

impl ConfigArgs {
    fn resolve(&self) -> Result<Config> {
        Ok(Config::from_sources(self.file.as_deref(), &self.overrides)?)
    }
}

fn flag_of(key: &str) -> String {
    key.replace('_', "-")
}

impl clap::FromArgMatches for ConfigArgs {
    fn from_arg_matches(m: &clap::ArgMatches) -> std::result::Result<Self, clap::Error> {
        let mut overrides = Vec::new();
        for k in cimpool::config::schema() {
            if let Some(v) = m.get_one::<String>(&k.key) {
                overrides.push((k.key.clone(), v.clone()));
            }
        }
        for kv in m.get_many::<String>("set").into_iter().flatten() {
            let Some((k, v)) = kv.split_once('=') else {
                return Err(clap::Error::raw(
                    clap::error::ErrorKind::InvalidValue,
                    format!("--set {kv}: expected key=value, e.g. --set wl_parallel=16\n"),
                ));
            };
            overrides.push((k.trim().replace('-', "_"), v.trim().to_string()));
        }
        Ok(ConfigArgs {
            file: m.get_one::<PathBuf>("config").cloned(),
            overrides,
        })
    }

    fn update_from_arg_matches(
        &mut self,
        m: &clap::ArgMatches,
    ) -> std::result::Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl clap::Args for ConfigArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        let mut cmd = cmd
            .arg(
                clap::Arg::new("config")
                    .long("config")
                    .value_name("FILE")
                    .value_parser(clap::value_parser!(PathBuf))
                    .help("TOML configuration; keys it leaves out take the embedded defaults"),
            )
            .arg(
                clap::Arg::new("set")
                    .long("set")
                    .value_name("KEY=VALUE")
                    .action(clap::ArgAction::Append)
                    .help("Set any configuration key (applied after the file and the flags below)"),
            );
        for k in cimpool::config::schema() {
            cmd = cmd.arg(
                clap::Arg::new(k.key.clone())
                    .long(flag_of(&k.key))
                    .value_name("VALUE")
                    .help(format!("{} [default: {}]", k.help, k.default))
                    .help_heading("Configuration (docs/SPEC.md section 1)"),
            );
        }
        cmd
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

#[derive(Args)]
struct GenArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Output folder (created if missing; stale generated Verilog is removed).
    #[arg(long, value_name = "DIR", default_value = "hdl")]
    out: PathBuf,
}

#[derive(Args)]
struct ModelArgs {
    /// Built-in network name; without it, the list.
    name: Option<String>,
}

#[derive(Args)]
struct CompressArgs {
    /// Trained weights: .npz, .npy or .safetensors (PyTorch state-dict names).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present_any = ["random_weights", "onnx"],
        conflicts_with_all = ["random_weights", "onnx"]
    )]
    weights: Option<PathBuf>,
    /// An ONNX model (graph and weights): no description or weights file.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["model", "network", "random_weights"])]
    onnx: Option<PathBuf>,
    /// Seeded random weights for the description (no training needed: for
    /// exercising compress and run on a network's shape).
    #[arg(long, value_name = "SEED")]
    random_weights: Option<u64>,
    /// Model description (TOML: input_scale and [[node]] or [[layer]]
    /// entries); without it the layer order is inferred from a chain of 2-D
    /// `*.weight` tensors.
    #[arg(long, value_name = "FILE", conflicts_with = "network")]
    model: Option<PathBuf>,
    /// A built-in network instead of --model (`cimpool model` lists them).
    #[arg(long, value_name = "NAME")]
    network: Option<String>,
    /// Float value of one unit of the integer input, when the model is
    /// inferred or read from ONNX.
    #[arg(long, default_value_t = 1.0)]
    input_scale: f64,
    /// Hardware configuration (TOML, as for `gen`) the images are for.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Set a key of the hardware configuration (after --config).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// The engine the images are for (sets `engine`, after --config and --set).
    #[arg(long, value_enum)]
    engine: Option<cimpool::config::EngineKind>,
    /// Dense engine: weight bits (sets `w_bits`, after --config and --set).
    #[arg(long, value_name = "BITS")]
    w_bits: Option<u32>,
    /// Dense engine: share of phase blocks (W rows of one tile across its
    /// lanes: what the hardware skips) pruned, 0 <= s < 1. The hardware
    /// skips them with the config's `sparsity = "skip"` or "compact".
    #[arg(long, default_value_t = 0.0)]
    sparsity: f64,
    /// With a lossy ADC, keep the generation-time ADC step in every layer
    /// instead of calibrating each layer's step on the calibration data.
    #[arg(long)]
    fixed_adc_step: bool,
    /// With a lossy ADC, also move each layer's mean ADC error per output
    /// channel (on the calibration data) into its bias, where that lowers
    /// the mean squared error against exact read-out.
    #[arg(long, conflicts_with_all = ["fixed_adc_step", "adc_shifts"])]
    adc_bias_correction: bool,
    /// With a lossy ADC, these layers' ADC steps (JSON: {"layer": adc_shift},
    /// e.g. the steps tools/adc_train.py learned) instead of calibration
    /// (layers it leaves out keep the generation-time step).
    #[arg(long, value_name = "FILE")]
    adc_shifts: Option<PathBuf>,
    /// Morph first (Lin & Chang stage 1): reallocate output channels so the
    /// weights fill the macro tiles, within --morph-budget tiles; writes
    /// morphed.toml and morphed.npz (BatchNorm folded) next to the images.
    #[arg(long)]
    morph: bool,
    /// Tiles the morphed network may occupy (default: the network's own).
    #[arg(long, value_name = "TILES", requires = "morph")]
    morph_budget: Option<usize>,
    /// Also write the network as compressed, BatchNorm folded, as folded.toml
    /// and folded.npz next to the images (for tools that train the engine's
    /// weights, such as tools/adc_train.py).
    #[arg(long, conflicts_with = "morph")]
    write_folded: bool,
    /// Take every node's activation scale from an earlier compress run's
    /// images (the same network) instead of calibrating: for weights trained
    /// against those scales (tools/adc_train.py).
    #[arg(long, value_name = "DIR")]
    scales_from: Option<PathBuf>,
    /// Integer network inputs (.npz with `x`, or an IDX images file) that set
    /// the activation scales (default with --random-weights: 8 seeded random inputs).
    #[arg(long, value_name = "FILE", required_unless_present = "random_weights")]
    calib: Option<PathBuf>,
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
    /// Labelled data (.npz with `x`, `y`, or an IDX images file such as
    /// t10k-images-idx3-ubyte.gz next to its labels file): report float and
    /// compressed accuracy.
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
    /// Labelled data: .npz with integer inputs `x` and labels `y`, or an IDX
    /// images file (MNIST / Fashion-MNIST naming, e.g.
    /// t10k-images-idx3-ubyte.gz) next to its labels file.
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    /// Also write every sample's integer outputs (samples x outputs, int64 .npy).
    #[arg(long, value_name = "FILE")]
    outputs: Option<PathBuf>,
}

#[derive(Args)]
struct ExportArgs {
    /// Folder written by `cimpool compress`.
    #[arg(long, value_name = "DIR", default_value = "build/compressed")]
    images: PathBuf,
    /// The .npz file to write.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

#[derive(Args)]
struct RouteArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The pool index of each lane slot of one group, comma-separated
    /// (`pool` values; a permutation of 0..pool with the benes crossbar).
    #[arg(long, value_delimiter = ',', required = true)]
    indices: Vec<u32>,
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Synthesize with Yosys and print the cell area of each block.
    Area(AreaArgs),
    /// Synthesize the mux and Benes crossbars for several pool sizes next to
    /// the pool and error macros: cells, transistors, depth, share of the engine.
    Xbar(XbarArgs),
    /// How well a network fills the macros: per layer the tiles it occupies,
    /// real weight cells vs occupied cells, tile loads per inference.
    Utilization(UtilizationArgs),
}

#[derive(Args)]
struct UtilizationArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Model description (TOML) of the network.
    #[arg(long, value_name = "FILE", required_unless_present_any = ["network", "onnx"], conflicts_with_all = ["network", "onnx"])]
    model: Option<PathBuf>,
    /// A built-in network (`cimpool model` lists them).
    #[arg(long, value_name = "NAME", conflicts_with = "onnx")]
    network: Option<String>,
    /// An ONNX model.
    #[arg(long, value_name = "FILE")]
    onnx: Option<PathBuf>,
    /// Weights giving the layer shapes a description leaves out (.npz, .npy,
    /// .safetensors); by default every layer needs a `shape`.
    #[arg(long, value_name = "FILE", conflicts_with = "onnx")]
    weights: Option<PathBuf>,
    /// Also write the report as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Report the network as `compress --morph` would morph it.
    #[arg(long)]
    morph: bool,
    /// Tiles the morphed network may occupy (default: the network's own).
    #[arg(long, value_name = "TILES", requires = "morph")]
    morph_budget: Option<usize>,
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
    #[arg(long, conflicts_with = "coverage")]
    trace: bool,
    /// Build the variant with line and toggle coverage counters; `cosim`
    /// then writes them to <build>/coverage.dat and prints a per-module summary.
    #[arg(long)]
    coverage: bool,
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
        Command::Compress(args) => compress(&args),
        Command::Run(args) => run(&args),
        Command::Export(args) => export(&args),
        Command::Route(args) => route(&args),
        Command::Model(args) => model(&args),
        Command::Report(ReportCommand::Area(args)) => area(&args),
        Command::Report(ReportCommand::Xbar(args)) => xbar(&args),
        Command::Report(ReportCommand::Utilization(args)) => utilization(&args),
        Command::Estimate(args) => estimate(&args),
        Command::Sweep(cmd) => sweep(cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn progress_bar(len: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed:>4} [{bar:30}] {pos}/{len} {msg} ({per_sec}, eta {eta})",
        )
        .expect("valid template"),
    );
    bar
}

fn gen(args: &GenArgs) -> Result<()> {
    let start = Instant::now();
    let pkg = package::build(&args.config.resolve()?)?;
    pkg.write(&args.out)?;
    print!("{}", pkg.summary(&args.out, start.elapsed()));
    Ok(())
}

fn area(args: &AreaArgs) -> Result<()> {
    let start = Instant::now();
    let r = flow::area::report(&args.rtl, args.liberty.as_deref())?;
    println!(
        "Cell area of {} by block ({}), Yosys {:.0} s:\n",
        args.rtl.display(),
        r.liberty,
        start.elapsed().as_secs_f64()
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
    let bar = progress_bar(2 * args.pools.len() as u64);
    let rows = xbar::report(&base, &args.pools, |what| {
        bar.set_message(format!("synthesizing {what}"));
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    print!("{}", xbar::summary(&base, &rows, start.elapsed()));
    Ok(())
}

/// With a lossy ADC: each layer's run-time ADC step chosen on (up to 64)
/// calibration samples, the images rewritten with them.
fn calibrate_adc(
    c: &mut compress::Compressed,
    calib: &[Vec<i64>],
    out: &std::path::Path,
    correct_bias: bool,
) -> Result<()> {
    let max = cimpool::config::default_adc_shift(c.config.wl_parallel, c.config.adc_bits);
    if max == 0 {
        return Ok(());
    }
    let samples = &calib[..calib.len().min(64)];
    let mut imgs = images::read(out)?;
    let cal = cimpool::pipeline::adc_calib::calibrate(&mut imgs, samples, correct_bias)?;
    let mut chosen = Vec::new();
    let mut corrected = Vec::new();
    for (li, (l, shift)) in c.layers.iter_mut().zip(&cal.shifts).enumerate() {
        if let Some(sh) = *shift {
            l.scales.adc_shift = sh;
            l.stats.adc_shift = Some(sh);
            chosen.push(format!("{} {sh}", l.name));
        }
        let delta = &cal.bias_corrections[li];
        if !delta.is_empty() {
            for (b, d) in l.scales.bias_int.iter_mut().zip(delta) {
                *b += d;
            }
            let mean = delta.iter().map(|&d| d as f64).sum::<f64>()
                / delta.len() as f64
                / 2f64.powi(l.scales.shift as i32);
            corrected.push(format!(
                "{} (mean {mean:+.2} output units, error {:.2} -> {:.2})",
                l.name,
                cal.errors[li][cal.shifts[li].unwrap_or(0) as usize],
                cal.corrected_errors[li].unwrap_or(0.0)
            ));
        }
    }
    images::write(c, out)?;
    println!(
        "ADC steps (adc_shift, 0..={max}; the generation-time step is {max}) chosen per layer on {} calibration samples to come closest to exact read-out: {}",
        samples.len(),
        chosen.join(", ")
    );
    if !corrected.is_empty() {
        println!(
            "ADC error moved into the bias (mean squared output error vs exact read-out): {}",
            corrected.join(", ")
        );
    }
    Ok(())
}

/// The morphed network (docs/COMPRESSION.md, macro-size-aware morphing);
/// its description and weights written into the output folder.
fn morph(
    net: &network::model::Network,
    desc: &ModelDesc,
    config: &Config,
    args: &CompressArgs,
) -> Result<network::model::Network> {
    use compress::morph;
    let (plan, channels) = morph::plan(net, config, args.morph_budget)?;
    let (morphed, tensors) = morph::apply(net, desc, &channels, args.seed);
    let header = format!(
        "# Morphed by cimpool compress --morph for {} lanes x {} rows (budget {} tiles); BatchNorm folded.\n",
        config.lanes(),
        config.rows,
        plan.budget
    );
    let (toml_path, npz_path) = write_network(&args.out, "morphed", &header, &morphed, &tensors)?;
    let changes: Vec<String> = plan
        .layers
        .iter()
        .filter(|(_, a, b)| a != b)
        .map(|(n, a, b)| format!("{n} {a} -> {b}"))
        .collect();
    println!(
        "morph: {} tiles -> {} (budget {}), utilization {:.1}% -> {:.1}%; output channels {}; wrote {} and {}",
        plan.tiles_before,
        plan.tiles_after,
        plan.budget,
        100.0 * plan.utilization_before,
        100.0 * plan.utilization_after,
        if changes.is_empty() { "unchanged".to_string() } else { changes.join(", ") },
        toml_path.display(),
        npz_path.display()
    );
    Ok(morphed.network(&tensors)?)
}

/// A network description and its weights as `<name>.toml` and `<name>.npz`
/// in `dir`.
fn write_network(
    dir: &std::path::Path,
    name: &str,
    header: &str,
    desc: &ModelDesc,
    tensors: &std::collections::BTreeMap<String, tensors::Tensor>,
) -> Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Usage(format!("cannot create {}: {e}", dir.display())))?;
    let toml_path = dir.join(format!("{name}.toml"));
    std::fs::write(&toml_path, network::builtin::describe(header, desc))
        .map_err(|e| Error::Usage(format!("cannot write {}: {e}", toml_path.display())))?;
    let npz_path = dir.join(format!("{name}.npz"));
    let cannot = |e: String| Error::Usage(format!("cannot write {}: {e}", npz_path.display()));
    let file = std::fs::File::create(&npz_path).map_err(|e| cannot(e.to_string()))?;
    let mut npz = ndarray_npy::NpzWriter::new(std::io::BufWriter::new(file));
    for (name, t) in tensors {
        let a = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&t.shape), t.data.clone())
            .expect("shape and data agree");
        npz.add_array(name.as_str(), &a)
            .map_err(|e| cannot(e.to_string()))?;
    }
    npz.finish().map_err(|e| cannot(e.to_string()))?;
    Ok((toml_path, npz_path))
}

/// Golden accuracy of the images in `dir` through their ADC and with exact
/// read-out of the same loads.
fn adc_accuracies(dir: &std::path::Path, data: &tensors::Dataset) -> Result<(f64, f64)> {
    let imgs = images::read(dir)?;
    let exact = cimpool::pipeline::adc_calib::exact_readout(&imgs);
    let bar = progress_bar(2 * data.x.len() as u64);
    bar.set_message("golden model, through the ADC and with exact read-out");
    let adc = run::golden(&imgs, &data.x, |i, _| bar.set_position(i as u64))?;
    let n = data.x.len() as u64;
    let ex = run::golden(&exact, &data.x, |i, _| bar.set_position(n + i as u64))?;
    bar.finish_and_clear();
    Ok((run::accuracy(&adc, &data.y), run::accuracy(&ex, &data.y)))
}

/// The activation scale of every node of `net` from an images folder's
/// manifest, whose nodes must be the same.
fn scales_from(dir: &std::path::Path, net: &network::model::Network) -> Result<Vec<f64>> {
    let imgs = images::read(dir)?;
    let names: Vec<&str> = net.graph.nodes.iter().map(|n| n.name.as_str()).collect();
    let theirs: Vec<&str> = imgs
        .manifest
        .nodes
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    if names != theirs {
        return Err(Error::Usage(format!(
            "--scales-from {}: its nodes ({}) are not this network's ({})",
            dir.display(),
            theirs.join(", "),
            names.join(", ")
        )));
    }
    Ok(imgs.manifest.nodes.iter().map(|n| n.scale).collect())
}

/// The ADC steps a JSON file gives, by layer name, written into the images.
fn set_adc_shifts(
    c: &mut compress::Compressed,
    path: &std::path::Path,
    out: &std::path::Path,
) -> Result<()> {
    let bad = |why: String| Error::Usage(format!("{}: {why}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let shifts: std::collections::BTreeMap<String, serde_json::Value> = serde_json::from_str(&text)
        .map_err(|e| {
            bad(format!(
                "not a JSON object of layer names to ADC shifts: {e}"
            ))
        })?;
    let max = cimpool::config::default_adc_shift(c.config.wl_parallel, c.config.adc_bits);
    if max == 0 && !shifts.is_empty() {
        return Err(bad(format!(
            "adc_bits = {} with wl_parallel = {} reads out exactly: there is no ADC step to set",
            c.config.adc_bits, c.config.wl_parallel
        )));
    }
    for (name, value) in &shifts {
        let layer = c
            .layers
            .iter_mut()
            .find(|l| &l.name == name)
            .ok_or_else(|| bad(format!("no engine layer `{name}` in the network")))?;
        let sh = value
            .as_u64()
            .filter(|&v| v <= max as u64)
            .ok_or_else(|| bad(format!("layer `{name}`: adc_shift = {value} is outside 0..={max} (bits(wl_parallel) - adc_bits)")))?
            as u32;
        layer.scales.adc_shift = sh;
        layer.stats.adc_shift = Some(sh);
    }
    images::write(c, out)?;
    if shifts.is_empty() {
        return Ok(());
    }
    println!(
        "ADC steps (adc_shift) from {}: {}",
        path.display(),
        shifts
            .iter()
            .map(|(n, v)| format!("{n} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// `--set key=value` arguments as configuration overrides.
fn parse_sets(sets: &[String]) -> Result<Vec<(String, String)>> {
    sets.iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.trim().replace('-', "_"), v.trim().to_string()))
                .ok_or_else(|| Error::Usage(format!("--set {kv}: expected key=value")))
        })
        .collect()
}

/// The description and its tensors when only the shapes matter (reports,
/// estimates): an ONNX file, a description with `--weights` giving the
/// shapes, or a description (built-in or a file) whose layers all have a
/// `shape`, given seeded weights.
fn shapes_only(
    model: Option<&std::path::Path>,
    network: Option<&str>,
    onnx: Option<&std::path::Path>,
    weights: Option<&std::path::Path>,
) -> Result<(
    ModelDesc,
    std::collections::BTreeMap<String, tensors::Tensor>,
)> {
    let (desc, tensors) = match (model, network, onnx) {
        (_, _, Some(p)) => {
            let (d, t) = network::onnx::import(p, 1.0)?;
            (d, Some(t))
        }
        (Some(p), _, None) => (ModelDesc::from_file(p)?, None),
        (None, Some(name), None) => (builtin_network(name)?, None),
        (None, None, None) => unreachable!("clap requires one"),
    };
    let tensors = match (tensors, weights) {
        (Some(t), _) => t,
        (None, Some(p)) => tensors::read_tensors(p)?,
        (None, None) => {
            let weighted = |n: &&network::model::NodeDesc| {
                matches!(
                    n.op,
                    network::model::OpKind::Conv | network::model::OpKind::Fc
                )
            };
            if let Some(n) = desc
                .nodes()
                .iter()
                .filter(weighted)
                .find(|n| n.shape.is_none())
            {
                return Err(Error::Usage(format!(
                    "layer `{}` has no `shape` in the description: add one or give --weights",
                    n.name
                )));
            }
            network::builtin::random_weights(&desc, 1)
        }
    };
    Ok((desc, tensors))
}

fn sweep(cmd: SweepCommand) -> Result<()> {
    use cimpool::sweep::{self, run, space, Objective};
    use rayon::prelude::*;
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
            Ok(())
        }
        SweepCommand::Regress {
            seeds,
            first_seed,
            vectors,
            coverage,
        } => {
            for p in space::regress_points(first_seed, seeds, vectors, coverage) {
                println!("{}", serde_json::to_string(&p).expect("serializes"));
            }
            Ok(())
        }
        SweepCommand::Run { points, point, out } => {
            let all = space::read_points(&points)?;
            let chosen: Vec<&space::Point> = match point {
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
            let start = Instant::now();
            let bar = progress_bar(chosen.len() as u64);
            bar.set_message("points");
            let results: Vec<Result<(run::Metrics, bool)>> = chosen
                .par_iter()
                .map(|p| {
                    let r = run::run_point(p, &out);
                    bar.inc(1);
                    r
                })
                .collect();
            bar.finish_and_clear();
            let mut computed = 0;
            for r in results {
                computed += r?.1 as usize;
            }
            println!(
                "cimpool: {} points in {} ({} computed, {} already there) in {:.1} s",
                chosen.len(),
                out.display(),
                computed,
                chosen.len() - computed,
                start.elapsed().as_secs_f64()
            );
            Ok(())
        }
        SweepCommand::Coverage { results } => {
            print!("{}", sweep::coverage(&results)?.table());
            Ok(())
        }
        SweepCommand::Collect {
            results,
            minimize,
            maximize,
            plot,
            front,
        } => {
            let metrics = sweep::collect(&results)?;
            if metrics.is_empty() {
                return Err(Error::Usage(format!(
                    "no results in {}: run `cimpool sweep run` first",
                    results.display()
                )));
            }
            // Verification results (`sweep regress`) have no objectives:
            // a pass/fail table and the totals.
            let verification = metrics
                .iter()
                .all(|m| m.figures.contains_key("lint_warnings") || m.failure.is_some());
            if verification && minimize.is_empty() && maximize.is_empty() {
                print!("{}", sweep::csv(&metrics, &[]));
                let total =
                    |f: &str| -> f64 { metrics.iter().filter_map(|m| m.figures.get(f)).sum() };
                let passed = metrics.iter().filter(|m| m.failure.is_none()).count();
                eprintln!(
                    "cimpool: {passed} of {} configurations passed lint, synthesis and co-simulation: {:.0} vectors, {:.0} lane values, {:.0} cycles, 0 mismatches in the passing ones",
                    metrics.len(),
                    total("vectors"),
                    total("lane_values"),
                    total("cycles")
                );
                let failed: Vec<_> = metrics.iter().filter(|m| m.failure.is_some()).collect();
                for m in &failed {
                    eprintln!(
                        "point {} ({}, {}): {}",
                        m.index,
                        m.label,
                        m.hash,
                        m.failure.as_deref().unwrap_or_default()
                    );
                }
                if !failed.is_empty() {
                    return Err(Error::Failed(format!(
                        "{} of {} points failed (above, each with the command that reproduces it)",
                        failed.len(),
                        metrics.len()
                    )));
                }
                return Ok(());
            }
            let mut objectives: Vec<Objective> = minimize
                .iter()
                .map(|f| Objective {
                    figure: f.clone(),
                    minimize: true,
                })
                .chain(maximize.iter().map(|f| Objective {
                    figure: f.clone(),
                    minimize: false,
                }))
                .collect();
            if objectives.is_empty() {
                objectives.push(Objective {
                    figure: "area_mm2".into(),
                    minimize: true,
                });
                objectives.push(if metrics[0].figures.contains_key("accuracy") {
                    Objective {
                        figure: "accuracy".into(),
                        minimize: false,
                    }
                } else {
                    Objective {
                        figure: "energy_nj".into(),
                        minimize: true,
                    }
                });
            }
            let on = sweep::pareto(&metrics, &objectives)?;
            print!("{}", sweep::csv(&metrics, &on));
            if let Some(path) = &front {
                let only: Vec<_> = on.iter().map(|&i| metrics[i].clone()).collect();
                let all: Vec<usize> = (0..only.len()).collect();
                std::fs::write(path, sweep::csv(&only, &all))
                    .map_err(|e| Error::Usage(format!("cannot write {}: {e}", path.display())))?;
            }
            if let Some(path) = &plot {
                if objectives.len() < 2 {
                    return Err(Error::Usage("--plot needs two objectives".into()));
                }
                sweep::plot(&metrics, &on, &objectives[0], &objectives[1], path)
                    .map_err(|e| Error::Usage(format!("cannot write {}: {e}", path.display())))?;
            }
            eprintln!(
                "cimpool: {} results, {} on the Pareto front of {}",
                metrics.len(),
                on.len(),
                objectives
                    .iter()
                    .map(|o| format!("{} ({})", o.figure, if o.minimize { "min" } else { "max" }))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Ok(())
        }
    }
}

fn estimate(args: &EstimateArgs) -> Result<()> {
    use cimpool::estimate::{self, anchors, constants::Constants, workload};
    let mut overrides = match &args.constants {
        Some(p) => std::fs::read_to_string(p)
            .map_err(|e| Error::Usage(format!("cannot read {}: {e}", p.display())))?,
        None => String::new(),
    };
    if let Some(node) = args.node {
        overrides += &format!("\nnode_nm = {node:?}\n");
    }
    let k = Constants::from_toml(&overrides).map_err(|e| {
        Error::Usage(match &args.constants {
            Some(p) => format!("{}: {e}", p.display()),
            None => e,
        })
    })?;
    if args.anchors {
        println!("Regression anchors (docs/ESTIMATE.md):\n");
        print!("{}", anchors::table(&anchors::anchors(&k)));
        if args.network.is_none()
            && args.model.is_none()
            && args.onnx.is_none()
            && args.images.is_empty()
        {
            return Ok(());
        }
        println!();
    }
    if !(args.keep > 0.0 && args.keep <= 1.0) {
        return Err(Error::Usage(format!(
            "--keep {} is invalid: it must be in (0, 1]",
            args.keep
        )));
    }
    if !(0.0..1.0).contains(&args.sparsity) {
        return Err(Error::Usage(format!(
            "--sparsity {} is invalid: it must be in [0, 1)",
            args.sparsity
        )));
    }
    let mut entries = Vec::new();
    if !args.images.is_empty() {
        for dir in &args.images {
            let (config, w) = workload::from_images(dir)?;
            let label = format!("{} ({})", estimate::label(&config), dir.display());
            entries.push((config, w, label));
        }
    } else {
        let (desc, tensors) = shapes_only(
            args.model.as_deref(),
            args.network.as_deref(),
            args.onnx.as_deref(),
            args.weights.as_deref(),
        )?;
        let net = desc.network(&tensors)?;
        let source = match (&args.network, &args.model, &args.onnx) {
            (Some(n), _, _) => n.clone(),
            (_, Some(p), _) | (_, _, Some(p)) => p.display().to_string(),
            _ => unreachable!("clap requires one"),
        };
        let overrides = parse_sets(&args.set)?;
        let files: Vec<Option<&std::path::Path>> = if args.config.is_empty() {
            vec![None]
        } else {
            args.config.iter().map(|p| Some(p.as_path())).collect()
        };
        for file in files {
            let config = Config::from_sources(file, &overrides)?.resolved();
            config.validate()?;
            let w = workload::from_shapes(&source, &config, &net, args.keep, args.sparsity);
            entries.push((config.clone(), w, estimate::label(&config)));
        }
    }
    let bar = progress_bar(entries.len() as u64);
    let mut report = estimate::Report {
        constants: k.clone(),
        entries: Vec::new(),
    };
    for (config, w, label) in entries {
        bar.set_message(format!(
            "{label}{}",
            if args.synth { ": synthesizing" } else { "" }
        ));
        let mut e = estimate::estimate(&k, label, &config, &w);
        if args.synth {
            e.synthesized_engine = Some(estimate::synth::engine_area(&k, &config, &args.cache)?);
        }
        report.entries.push(e);
        bar.inc(1);
    }
    bar.finish_and_clear();
    if args.layers {
        for e in &report.entries {
            println!("{}", estimate::Report::layer_table(e));
        }
    }
    print!("{}", report.summary());
    if let Some(path) = &args.json {
        std::fs::write(path, report.to_json())
            .map_err(|e| Error::Usage(format!("cannot write {}: {e}", path.display())))?;
    }
    if let Some(path) = &args.plot {
        estimate::plot::write_svg(&report.entries, path)
            .map_err(|e| Error::Usage(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(())
}

fn utilization(args: &UtilizationArgs) -> Result<()> {
    use cimpool::compress::utilization;
    let config = args.config.resolve()?.resolved();
    config.validate()?;
    let (desc, tensors) = shapes_only(
        args.model.as_deref(),
        args.network.as_deref(),
        args.onnx.as_deref(),
        args.weights.as_deref(),
    )?;
    let mut net = desc.network(&tensors)?;
    if args.morph {
        let (plan, channels) = compress::morph::plan(&net, &config, args.morph_budget)?;
        let (morphed, tensors) = compress::morph::apply(&net, &desc, &channels, 1);
        net = morphed.network(&tensors)?;
        println!(
            "morphed: {} tiles -> {} (budget {}), utilization {:.1}% -> {:.1}%, {} of {} layers change their output channels\n",
            plan.tiles_before,
            plan.tiles_after,
            plan.budget,
            100.0 * plan.utilization_before,
            100.0 * plan.utilization_after,
            plan.layers.iter().filter(|(_, a, b)| a != b).count(),
            plan.layers.len()
        );
    }
    let layers = utilization::utilization(&config, &net);
    print!("{}", utilization::table(&config, &layers));
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&layers).expect("serializes") + "\n";
        std::fs::write(path, json)
            .map_err(|e| Error::Usage(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(())
}

impl VerilateArgs {
    fn instrument(&self) -> cosim::verilate::Instrument {
        use cosim::verilate::Instrument;
        match (self.trace, self.coverage) {
            (true, _) => Instrument::Trace,
            (_, true) => Instrument::Coverage,
            _ => Instrument::Plain,
        }
    }
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

fn cosim(args: &CosimArgs) -> Result<()> {
    for (name, p) in [("--p-valid", args.p_valid), ("--p-ready", args.p_ready)] {
        if !(p > 0.0 && p <= 1.0) {
            return Err(Error::Usage(format!(
                "{name} = {p} is invalid: it must be in (0, 1]"
            )));
        }
    }
    let start = Instant::now();
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
    if args.verilate.coverage {
        let merged = cosim::coverage::Merged::read(std::slice::from_ref(&dat), rtl)?;
        print!("{}", merged.table());
        println!("cimpool: coverage counters in {}", dat.display());
    }
    Ok(())
}

fn compress(args: &CompressArgs) -> Result<()> {
    let start = Instant::now();
    let mut overrides = parse_sets(&args.set)?;
    if let Some(engine) = args.engine {
        overrides.push(("engine".into(), engine.to_string()));
    }
    if let Some(bits) = args.w_bits {
        overrides.push(("w_bits".into(), bits.to_string()));
    }
    let config = Config::from_sources(args.config.as_deref(), &overrides)?.resolved();
    config.validate()?;
    if args.pool.is_some() && config.is_dense() {
        return Err(Error::Usage(
            "--pool gives the pool engine's weight pool; the dense engine (--engine dense) has none".into(),
        ));
    }
    if args.sparsity != 0.0 && !config.is_dense() {
        return Err(Error::Usage(
            "--sparsity prunes the dense engine's phase blocks: add --engine dense (the pool engine prunes error tiles with --keep)".into(),
        ));
    }
    let mut onnx = match &args.onnx {
        Some(p) => Some(network::onnx::import(p, args.input_scale)?),
        None => None,
    };
    let desc = match (&args.model, &args.network, &onnx) {
        (Some(p), _, _) => Some(ModelDesc::from_file(p)?),
        (None, Some(name), _) => Some(builtin_network(name)?),
        (None, None, Some((d, _))) => Some(d.clone()),
        (None, None, None) => None,
    };
    let tensors = match (&args.weights, args.random_weights, onnx.take()) {
        (_, _, Some((_, t))) => t,
        (Some(path), _, None) => tensors::read_tensors(path)?,
        (None, Some(seed), None) => network::builtin::random_weights(
            desc.as_ref().ok_or_else(|| {
                Error::Usage(
                    "--random-weights needs the network's shape: give --model or --network".into(),
                )
            })?,
            seed,
        ),
        (None, None, None) => unreachable!("clap requires one"),
    };
    let desc = match desc {
        Some(d) => d,
        None => ModelDesc::infer(&tensors, args.input_scale)?,
    };
    let mut net = desc.network(&tensors)?;
    if args.morph {
        net = morph(&net, &desc, &config, args)?;
    }
    if args.write_folded {
        let (folded, tensors) =
            compress::morph::apply(&net, &desc, &compress::morph::counts(&net), 0);
        let (t, w) = write_network(
            &args.out,
            "folded",
            "# Written by cimpool compress --write-folded: BatchNorm folded.\n",
            &folded,
            &tensors,
        )?;
        println!("wrote {} and {}", t.display(), w.display());
    }
    let calib = match &args.calib {
        Some(p) => tensors::read_dataset(p, false)?.x,
        None => random_inputs(&net, config.act_bits, 8),
    };
    let fixed_pool = match &args.pool {
        Some(p) => Some(tensors::read_pool(
            p,
            config.pool as usize,
            config.rows as usize,
        )?),
        None => None,
    };
    let options = compress::Options {
        keep_ratio: args.keep,
        iterations: args.iterations,
        seed: args.seed,
        pool: fixed_pool,
        sparsity: args.sparsity,
        scales: match &args.scales_from {
            Some(dir) => Some(scales_from(dir, &net)?),
            None => None,
        },
    };
    let bar = progress_bar(args.iterations as u64);
    let c = compress::compress(&config, &net, &calib, &options, |what, i, n| {
        bar.set_length(n as u64);
        bar.set_position(i as u64);
        bar.set_message(what.to_string());
    })?;
    bar.finish_and_clear();
    images::write(&c, &args.out)?;
    let mut c = c;
    if !args.fixed_adc_step && args.adc_shifts.is_none() {
        calibrate_adc(&mut c, &calib, &args.out, args.adc_bias_correction)?;
    }
    if let Some(path) = &args.adc_shifts {
        set_adc_shifts(&mut c, path, &args.out)?;
    }
    if config.is_dense() {
        println!(
            "cimpool: quantized {} layers ({} weights) to {} bits, {:.0}% of phase blocks pruned, for the dense engine (sparsity `{}`) in {:.1} s\n",
            c.layers.len(),
            c.budget().weights,
            config.w_bits,
            100.0 * args.sparsity,
            config.sparsity,
            start.elapsed().as_secs_f64(),
        );
    } else {
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
    }
    print!("{}", c.table());
    let accuracy = match &args.eval {
        Some(eval) => {
            let data = tensors::read_dataset(eval, true)?;
            let bar = progress_bar(2 * data.x.len() as u64);
            bar.set_message("float forward passes (given and compressed weights)");
            let a =
                compress::report::Accuracy::measure(&net, &c.layers, &data, eval, &|| bar.inc(1));
            bar.finish_and_clear();
            println!(
                "\naccuracy on {} ({} samples): float (the weights as given) {:.2}%, compressed (float arithmetic) {:.2}%",
                a.data,
                a.samples,
                100.0 * a.float,
                100.0 * a.compressed_float
            );
            let mut a = a;
            if cimpool::config::default_adc_shift(config.wl_parallel, config.adc_bits) > 0 {
                let (adc, exact) = adc_accuracies(&args.out, &data)?;
                println!(
                    "golden integer path of the images: {:.2}% through the {}-bit ADC, {:.2}% with exact read-out of the same loads",
                    100.0 * adc,
                    config.adc_bits,
                    100.0 * exact
                );
                (a.golden_adc, a.golden_exact_readout) = (Some(adc), Some(exact));
            }
            Some(a)
        }
        None => None,
    };
    images::write_report(&args.out, &c.report(&options, accuracy.as_ref()))?;
    println!(
        "\nwrote {}: {}one image per layer, manifest.json, report.json, cim_config.toml",
        args.out.display(),
        if config.is_dense() {
            ""
        } else {
            "pool.hex, pool.npy, "
        }
    );
    Ok(())
}

fn run(args: &RunArgs) -> Result<()> {
    let start = Instant::now();
    let images = images::read(&args.images)?;
    let data = tensors::read_dataset(&args.data, true)?;
    let bar = progress_bar(data.x.len() as u64);
    bar.set_message("samples on the golden model");
    let outputs = run::golden(&images, &data.x, |i, _| bar.set_position(i as u64))?;
    bar.finish_and_clear();
    let acc = run::accuracy(&outputs, &data.y);
    if let Some(path) = &args.outputs {
        write_outputs(path, &outputs)?;
    }
    println!(
        "cimpool: {} samples through {} nodes ({} engine layers) on the golden model in {:.1} s: accuracy {:.2}% (integer path, from the memory images in {})",
        data.y.len(),
        images.graph.nodes.len(),
        images.manifest.layers.len(),
        start.elapsed().as_secs_f64(),
        100.0 * acc,
        args.images.display()
    );
    Ok(())
}

fn write_outputs(path: &std::path::Path, outputs: &[Vec<i64>]) -> Result<()> {
    use ndarray_npy::WriteNpyExt;
    let width = outputs.first().map_or(0, Vec::len);
    let array = ndarray::Array2::from_shape_fn((outputs.len(), width), |(s, o)| outputs[s][o]);
    let cannot = |e: String| Error::Usage(format!("cannot write {}: {e}", path.display()));
    let file = std::fs::File::create(path).map_err(|e| cannot(e.to_string()))?;
    array
        .write_npy(std::io::BufWriter::new(file))
        .map_err(|e| cannot(e.to_string()))
}

fn export(args: &ExportArgs) -> Result<()> {
    use images::export::Exported;
    let images = images::read(&args.images)?;
    let arrays = images::export::arrays(&images)?;
    let cannot = |e: String| Error::Usage(format!("cannot write {}: {e}", args.out.display()));
    let file = std::fs::File::create(&args.out).map_err(|e| cannot(e.to_string()))?;
    let mut npz = ndarray_npy::NpzWriter::new(std::io::BufWriter::new(file));
    for (name, array) in &arrays {
        match array {
            Exported::Int(a) => npz.add_array(name.as_str(), a),
            Exported::Bits(a) => npz.add_array(name.as_str(), a),
            Exported::Vector(a) => npz.add_array(name.as_str(), a),
        }
        .map_err(|e| cannot(e.to_string()))?;
    }
    npz.finish().map_err(|e| cannot(e.to_string()))?;
    println!(
        "wrote {}: {} arrays of {} layers (the graph is {}/manifest.json)",
        args.out.display(),
        arrays.len(),
        images.manifest.layers.len(),
        args.images.display()
    );
    Ok(())
}

fn builtin_network(name: &str) -> Result<ModelDesc> {
    network::builtin::network(name).ok_or_else(|| {
        let names: Vec<&str> = network::builtin::NETWORKS.iter().map(|(n, _)| *n).collect();
        Error::Usage(format!(
            "no built-in network `{name}`; the built-in networks are {}",
            names.join(", ")
        ))
    })
}

/// `n` seeded random network inputs over the unsigned activation range.
fn random_inputs(net: &network::model::Network, act_bits: u32, n: usize) -> Vec<Vec<i64>> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    (0..n)
        .map(|_| {
            (0..net.graph.input.len())
                .map(|_| rng.gen_range(0..1i64 << act_bits))
                .collect()
        })
        .collect()
}

fn model(args: &ModelArgs) -> Result<()> {
    match &args.name {
        Some(name) => print!(
            "{}",
            network::builtin::to_toml(name, &builtin_network(name)?)
        ),
        None => {
            for (name, what) in network::builtin::NETWORKS {
                let (all, weights) = network::builtin::parameter_counts(
                    &network::builtin::network(name).expect("listed"),
                );
                println!("{name:16} {what} ({all} parameters, {weights} in conv/fc weights)");
            }
        }
    }
    Ok(())
}

fn route(args: &RouteArgs) -> Result<()> {
    let config = args.config.resolve()?.resolved();
    config.validate()?;
    if args.indices.len() != config.pool as usize {
        return Err(Error::Usage(format!(
            "--indices has {} values; a lane group has pool = {} lanes",
            args.indices.len(),
            config.pool
        )));
    }
    print!(
        "{}",
        cimpool::loadport::route_table(&config, &args.indices)?
    );
    Ok(())
}
