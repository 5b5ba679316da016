//! The command line's arguments (clap): every command and flag, with the
//! help text users read. Every configuration key is also a flag (`--wl-parallel
//! 16`), derived from the embedded default configuration; `--set key=value`
//! reaches the same keys.

use cimpool::config::Config;
use cimpool::error::Result;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "cimpool",
    version,
    about = "Generate synthesizable Verilog for SRAM compute-in-memory accelerators with weight-pool compression"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Generate the RTL package (Verilog, file list, C header, JSON, port document, flow files).
    Gen(GenArgs),
    /// Print the embedded default configuration (a starting point for --config).
    DefaultConfig,
    /// Verilate a generated package into a shared library for co-simulation.
    Verilate(VerilateArgs),
    /// Co-simulate a generated package against the golden model under Verilator.
    Cosim(CosimArgs),
    /// Prove a package's protocol assertions by bounded model checking
    /// (Yosys SAT): no input sequence of --steps cycles, from any state
    /// after a reset, breaks one (docs/VERIFICATION.md section 2).
    Prove(ProveArgs),
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
    /// resnet18-cifar, resnet-fmnist, resnet20-fmnist), a starting point for
    /// --model.
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
pub enum SweepCommand {
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
        /// Also write what the draw holds, key by key (a Markdown table).
        #[arg(long, value_name = "FILE")]
        draws: Option<PathBuf>,
    },
    /// Shrink a failing verification point to a small configuration that
    /// fails the same step (fewer macros, rows, columns, planes, no
    /// pipeline stages, keys at their defaults), trying each simplification
    /// with generate, lint, synthesis and co-simulation (`make shrink SEED=n`).
    Shrink {
        /// The regression seed whose configuration failed (`sweep regress`).
        #[arg(long, conflicts_with = "config", required_unless_present = "config")]
        seed: Option<u64>,
        /// A configuration file that failed, instead of a seed.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Random input vectors per co-simulation (the regression's count).
        #[arg(long, default_value_t = 300)]
        vectors: usize,
        /// Most configurations to try.
        #[arg(long, default_value_t = 80)]
        max_tries: usize,
        /// Folder for the scratch runs and the result (minimal.toml).
        #[arg(long, default_value = "build/shrink")]
        out: PathBuf,
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
pub struct EstimateArgs {
    /// A built-in network (`cimpool model` lists them).
    #[arg(long, value_name = "NAME", conflicts_with_all = ["model", "onnx", "images"],
          required_unless_present_any = ["model", "onnx", "images", "anchors"])]
    pub network: Option<String>,
    /// Model description (TOML) of the network.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["onnx", "images"])]
    pub model: Option<PathBuf>,
    /// An ONNX model.
    #[arg(long, value_name = "FILE", conflicts_with = "images")]
    pub onnx: Option<PathBuf>,
    /// The ONNX graph value to import as the network's output (default:
    /// the graph's one score output).
    #[arg(long, value_name = "NAME", requires = "onnx")]
    pub onnx_output: Option<String>,
    /// Weights giving the layer shapes a description leaves out.
    #[arg(long, value_name = "FILE", requires = "model")]
    pub weights: Option<PathBuf>,
    /// A compressed image folder (its own configuration and report.json,
    /// so real kept tiles and sparsity); repeat to compare several.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["config", "set", "keep", "sparsity"])]
    pub images: Vec<PathBuf>,
    /// Hardware configuration (TOML, as for `gen`); repeat to compare
    /// several side by side (default: the embedded default).
    #[arg(long, value_name = "FILE")]
    pub config: Vec<PathBuf>,
    /// Set a configuration key in every --config.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Pool engine, from shapes: share of error vectors kept (as `compress --keep`).
    #[arg(long, default_value_t = 1.0)]
    pub keep: f64,
    /// Dense engine, from shapes: share of phase blocks pruned (as `compress --sparsity`).
    #[arg(long, default_value_t = 0.0)]
    pub sparsity: f64,
    /// From shapes: run these conv / fc layers on the host with 8-bit
    /// weights (as `compress --host-layers`).
    #[arg(
        long,
        value_name = "LAYER,...",
        value_delimiter = ',',
        conflicts_with = "images"
    )]
    pub host_layers: Vec<String>,
    /// Images per batch in the batched schedule (one engine, each tile
    /// loaded once per batch; its partial sums in an on-chip buffer).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub batch: u64,
    /// TOML overriding the model's constants (keys of src/estimate/constants.toml).
    #[arg(long, value_name = "FILE")]
    pub constants: Option<PathBuf>,
    /// Target technology node in nm (sets `node_nm`).
    #[arg(long, value_name = "NM")]
    pub node: Option<f64>,
    /// Also synthesize one engine of each configuration with Yosys (the
    /// second area source, cached under --cache).
    #[arg(long)]
    pub synth: bool,
    /// Also time one engine's periphery of each configuration (black-box
    /// macros) with `report timing --hierarchical` in osu018: its area in
    /// real cells and its Fmax, which sets that column's images per second
    /// (cached under --cache; minutes for a large engine).
    #[arg(long)]
    pub timing: bool,
    /// Cache of synthesized areas and timings.
    #[arg(long, value_name = "DIR", default_value = "build/estimate")]
    pub cache: PathBuf,
    /// Print the per-layer table of every configuration.
    #[arg(long)]
    pub layers: bool,
    /// Print the regression anchors (the model against published macros).
    #[arg(long)]
    pub anchors: bool,
    /// Vary each uncertain constant over its published range and each main
    /// design choice, and print the band of the headline: the area cut and
    /// energy ratio of the first --config against the second (none: the
    /// default pool engine against 4-bit dense).
    #[arg(long, conflicts_with_all = ["images", "synth", "timing", "plot", "layers"])]
    pub sensitivity: bool,
    /// Write the whole estimate as JSON (`-`: on stdout, instead of the tables).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the area and energy breakdowns as an SVG plot.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
}

/// `--config FILE`, one flag per configuration key and `--set key=value`.
pub struct ConfigArgs {
    pub file: Option<PathBuf>,
    pub overrides: Vec<(String, String)>,
}

impl ConfigArgs {
    pub fn resolve(&self) -> Result<Config> {
        Ok(Config::from_sources(self.file.as_deref(), &self.overrides)?)
    }
}

pub fn flag_of(key: &str) -> String {
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
pub struct GenArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Output folder: it then holds exactly this package (an earlier
    /// package there is replaced; a folder holding other files is refused).
    #[arg(long, value_name = "DIR", default_value = "hdl")]
    pub out: PathBuf,
    /// Replace --out even if it holds files cimpool did not write.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args)]
pub struct ModelArgs {
    /// Built-in network name; without it, the list.
    pub name: Option<String>,
}

#[derive(Args)]
pub struct CompressArgs {
    /// Trained weights: .npz, .npy or .safetensors (PyTorch state-dict names).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present_any = ["random_weights", "onnx"],
        conflicts_with_all = ["random_weights", "onnx"]
    )]
    pub weights: Option<PathBuf>,
    /// An ONNX model (graph and weights): no description or weights file.
    /// External data files are read from the model's folder.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["model", "network", "random_weights"])]
    pub onnx: Option<PathBuf>,
    /// The ONNX graph value to import as the network's output (default: the
    /// graph's one score output; class labels and a trailing softmax are
    /// set aside).
    #[arg(long, value_name = "NAME", requires = "onnx")]
    pub onnx_output: Option<String>,
    /// Seeded random weights for the description (no training needed: for
    /// exercising compress and run on a network's shape).
    #[arg(long, value_name = "SEED")]
    pub random_weights: Option<u64>,
    /// Model description (TOML: input_scale and [[node]] or [[layer]]
    /// entries); without it the layer order is inferred from a chain of 2-D
    /// `*.weight` tensors.
    #[arg(long, value_name = "FILE", conflicts_with = "network")]
    pub model: Option<PathBuf>,
    /// A built-in network instead of --model (`cimpool model` lists them).
    #[arg(long, value_name = "NAME")]
    pub network: Option<String>,
    /// Float value of one unit of the integer input, when the model is
    /// inferred or read from ONNX.
    #[arg(long, default_value_t = 1.0)]
    pub input_scale: f64,
    /// Hardware configuration (TOML, as for `gen`) the images are for.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Set a key of the hardware configuration (after --config).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// The engine the images are for (sets `engine`, after --config and --set).
    #[arg(long, value_enum)]
    pub engine: Option<cimpool::config::EngineKind>,
    /// Dense engine: weight bits (sets `w_bits`, after --config and --set).
    #[arg(long, value_name = "BITS")]
    pub w_bits: Option<u32>,
    /// Dense engine: share of phase blocks (W rows of one tile across its
    /// lanes: what the hardware skips) pruned, 0 <= s < 1. The hardware
    /// skips them with the config's `sparsity = "skip"` or "compact".
    #[arg(long, default_value_t = 0.0)]
    pub sparsity: f64,
    /// With a lossy ADC, keep the generation-time ADC step in every layer
    /// instead of calibrating each layer's step on the calibration data.
    #[arg(long)]
    pub fixed_adc_step: bool,
    /// With a lossy ADC, also move each layer's mean ADC error per output
    /// channel (on the calibration data) into its bias, where that lowers
    /// the mean squared error against exact read-out.
    #[arg(long, conflicts_with_all = ["fixed_adc_step", "adc_shifts"])]
    pub adc_bias_correction: bool,
    /// With a lossy ADC, these layers' ADC steps (JSON: {"layer": adc_shift},
    /// e.g. the steps tools/adc_train.py learned) instead of calibration
    /// (layers it leaves out keep the generation-time step).
    #[arg(long, value_name = "FILE")]
    pub adc_shifts: Option<PathBuf>,
    /// Morph first (Lin & Chang stage 1): reallocate output channels so the
    /// weights fill the macro tiles, within --morph-budget tiles; writes
    /// morphed.toml and morphed.npz (BatchNorm folded) next to the images.
    #[arg(long)]
    pub morph: bool,
    /// Tiles the morphed network may occupy (default: the network's own).
    #[arg(long, value_name = "TILES", requires = "morph")]
    pub morph_budget: Option<usize>,
    /// Pool engine: every layer's pool indices and kept error tiles as the
    /// training tool chose them (`adc_train.py train --choices`), so the
    /// images are exactly the network it trained (.npz of `<layer>.index`,
    /// `<layer>.mask`).
    #[arg(long, value_name = "FILE", conflicts_with = "keep")]
    pub choices: Option<PathBuf>,
    /// Also write the network as compressed, BatchNorm folded, as folded.toml
    /// and folded.npz next to the images (for tools that train the engine's
    /// weights, such as tools/adc_train.py).
    #[arg(long, conflicts_with = "morph")]
    pub write_folded: bool,
    /// Clip each engine layer's outlying weights before compressing, at the
    /// clip that least disturbs its outputs on the calibration inputs (for
    /// networks with a few huge weights on inputs that are almost never
    /// on, such as a folded StandardScaler's; docs/COMPRESSION.md). The
    /// clipped network is what --write-folded writes.
    #[arg(long)]
    pub clip_weights: bool,
    /// Prune (error tiles on the pool engine, phase blocks on the dense
    /// engine) by effect on the outputs: each weight's square weighted by
    /// its input column's mean square on the calibration inputs, written to
    /// moments.npz (default: by weight energy).
    #[arg(long)]
    pub prune_by_output: bool,
    /// Prune by output effect with the moments of an earlier compression
    /// (its moments.npz): for weights trained from those images.
    #[arg(long, value_name = "FILE", conflicts_with = "prune_by_output")]
    pub moments: Option<PathBuf>,
    /// Run these conv / fc layers on the host with 8-bit weights instead of
    /// the engine (as `uncompressed = true` in a model description; e.g. the
    /// first and last layers at higher precision). Their 8 bits per weight
    /// count in bits per weight; --write-folded keeps the placement.
    #[arg(long, value_name = "LAYER,...", value_delimiter = ',')]
    pub host_layers: Vec<String>,
    /// Take every node's activation scale from an earlier compress run's
    /// images (the same network) instead of calibrating: for weights trained
    /// against those scales (tools/adc_train.py).
    #[arg(long, value_name = "DIR")]
    pub scales_from: Option<PathBuf>,
    /// Integer network inputs (.npz with `x`, or an IDX images file) that set
    /// the activation scales (default with --random-weights: 8 seeded random inputs).
    /// Needed unless --scales-from gives the scales and no ADC step is calibrated.
    #[arg(long, value_name = "FILE")]
    pub calib: Option<PathBuf>,
    /// Share of (channel, row block) error tiles kept (structured pruning).
    #[arg(long, default_value_t = cimpool::compress::Options::default().keep_ratio)]
    pub keep: f64,
    /// k-means iterations of the pool construction.
    #[arg(long, default_value_t = cimpool::compress::Options::default().iterations)]
    pub iterations: usize,
    /// Seed of the pool construction.
    #[arg(long, default_value_t = cimpool::compress::Options::default().seed)]
    pub seed: u64,
    /// Use this pool (shape (pool, rows), +-1, e.g. the pool.npy an earlier
    /// run wrote) instead of building one: for weights fine-tuned against it.
    #[arg(long, value_name = "FILE")]
    pub pool: Option<PathBuf>,
    /// Labelled data (.npz with `x`, `y`, or an IDX images file such as
    /// t10k-images-idx3-ubyte.gz next to its labels file): report float and
    /// compressed accuracy.
    #[arg(long, value_name = "FILE")]
    pub eval: Option<PathBuf>,
    /// Output folder for the images, manifest.json and report.json: it then
    /// holds exactly this run's files (earlier images there are replaced; a
    /// folder holding other files is refused).
    #[arg(long, value_name = "DIR", default_value = "build/compressed")]
    pub out: PathBuf,
    /// Replace --out even if it holds files cimpool did not write.
    #[arg(long)]
    pub force: bool,
}

impl CompressArgs {
    /// What pruning ranks by: `--moments FILE`, `--prune-by-output`, or weight energy.
    pub fn prune(&self) -> cimpool::pipeline::PruneBy {
        use cimpool::pipeline::PruneBy;
        match (&self.moments, self.prune_by_output) {
            (Some(p), _) => PruneBy::OutputFrom(p.clone()),
            (None, true) => PruneBy::Output,
            (None, false) => PruneBy::Weights,
        }
    }
}

#[derive(Args)]
pub struct RunArgs {
    /// Folder written by `cimpool compress`.
    #[arg(long, value_name = "DIR", default_value = "build/compressed")]
    pub images: PathBuf,
    /// Labelled data: .npz with integer inputs `x` and labels `y`, or an IDX
    /// images file (MNIST / Fashion-MNIST naming, e.g.
    /// t10k-images-idx3-ubyte.gz) next to its labels file.
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// Also write every sample's integer outputs (samples x outputs, int64 .npy).
    #[arg(long, value_name = "FILE")]
    pub outputs: Option<PathBuf>,
    /// Also write the result as JSON (`-`: on stdout, instead of the text line).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Args)]
pub struct ExportArgs {
    /// Folder written by `cimpool compress`.
    #[arg(long, value_name = "DIR", default_value = "build/compressed")]
    pub images: PathBuf,
    /// The .npz file to write.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Args)]
pub struct RouteArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The pool index of each lane slot of one group, comma-separated
    /// (`pool` values; a permutation of 0..pool with the benes crossbar).
    #[arg(long, value_delimiter = ',', required = true)]
    pub indices: Vec<u32>,
    /// Also write the select fields as JSON (`-`: on stdout, instead of the table).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum ReportCommand {
    /// Synthesize with Yosys and print the cell area of each block.
    Area(AreaArgs),
    /// Map onto a timing Liberty (default: Debian's osu018), buffer
    /// high-fanout nets and run OpenSTA with the package's SDC: worst slack,
    /// Fmax, the critical path of every block, power, area by block.
    Timing(TimingArgs),
    /// Synthesize the mux and Benes crossbars for several pool sizes next to
    /// the pool and error macros: cells, transistors, depth, share of the engine.
    Xbar(XbarArgs),
    /// How well a network fills the macros: per layer the tiles it occupies,
    /// real weight cells vs occupied cells, tile loads per inference.
    Utilization(UtilizationArgs),
}

#[derive(Args)]
pub struct UtilizationArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Model description (TOML) of the network.
    #[arg(long, value_name = "FILE", required_unless_present_any = ["network", "onnx"], conflicts_with_all = ["network", "onnx"])]
    pub model: Option<PathBuf>,
    /// A built-in network (`cimpool model` lists them).
    #[arg(long, value_name = "NAME", conflicts_with = "onnx")]
    pub network: Option<String>,
    /// An ONNX model.
    #[arg(long, value_name = "FILE")]
    pub onnx: Option<PathBuf>,
    /// The ONNX graph value to import as the network's output (default:
    /// the graph's one score output).
    #[arg(long, value_name = "NAME", requires = "onnx")]
    pub onnx_output: Option<String>,
    /// Weights giving the layer shapes a description leaves out (.npz, .npy,
    /// .safetensors); by default every layer needs a `shape`.
    #[arg(long, value_name = "FILE", conflicts_with = "onnx")]
    pub weights: Option<PathBuf>,
    /// Also write the report as JSON (`-`: on stdout, instead of the table).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Report the network as `compress --morph` would morph it.
    #[arg(long)]
    pub morph: bool,
    /// Tiles the morphed network may occupy (default: the network's own).
    #[arg(long, value_name = "TILES", requires = "morph")]
    pub morph_budget: Option<usize>,
}

#[derive(Args)]
pub struct XbarArgs {
    /// Package folder whose configuration sets rows, cols, macros and the data
    /// width (default: the embedded default configuration).
    #[arg(long, value_name = "DIR")]
    pub rtl: Option<PathBuf>,
    /// Pool sizes P to compare (powers of two dividing cols).
    #[arg(long, value_delimiter = ',', default_value = "16,32,64,128")]
    pub pools: Vec<u32>,
    /// Also write the rows as JSON (`-`: on stdout, instead of the table).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Args)]
pub struct TimingArgs {
    /// Package folder written by `cimpool gen`.
    #[arg(long, value_name = "DIR", default_value = "hdl")]
    pub rtl: PathBuf,
    /// Timing Liberty (default: /usr/share/qflow/tech/osu018/osu018_stdcells.lib,
    /// Debian package qflow-tech-osu018).
    #[arg(long, value_name = "FILE")]
    pub liberty: Option<PathBuf>,
    /// Loads per driver after buffering (2..=64).
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub max_fanout: usize,
    /// Map each unique module once and keep the hierarchy (for large
    /// packages: minutes instead of hours; no optimization across modules).
    #[arg(long)]
    pub hierarchical: bool,
    /// Also write the timed gate-level netlist (flat Verilog of the Liberty's
    /// cells) to this file.
    #[arg(long, value_name = "FILE")]
    pub netlist: Option<PathBuf>,
    /// Also write the report as JSON (`-`: on stdout, instead of the table).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Args)]
pub struct ProveArgs {
    /// Package folder written by `cimpool gen`.
    #[arg(long, value_name = "DIR", default_value = "hdl")]
    pub rtl: PathBuf,
    /// controller: the controller alone, every assertion but out_data's
    /// (seconds) | top: the whole package flattened, out_data stable too
    /// (minutes beyond small packages).
    #[arg(long, value_enum, default_value = "controller")]
    pub scope: ProveScope,
    /// Cycles of the bound [default: 1 + 2 x (first beat latency + output
    /// beats), a vector drained under back-pressure and the next one behind
    /// it, at most 48: the solver's time grows steeply with the bound].
    #[arg(long, value_name = "N")]
    pub steps: Option<u32>,
    /// Folder for the counterexample trace (a VCD) when a proof fails.
    #[arg(long, value_name = "DIR", default_value = "build/prove")]
    pub out: PathBuf,
    /// Print the result as JSON instead of a line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ProveScope {
    Controller,
    Top,
}

#[derive(Args)]
pub struct AreaArgs {
    /// Package folder written by `cimpool gen`.
    #[arg(long, value_name = "DIR", default_value = "hdl")]
    pub rtl: PathBuf,
    /// Liberty to map onto (default: the area-only sky130_fd_sc_hd Liberty shipped with cimpool).
    #[arg(long, value_name = "FILE")]
    pub liberty: Option<PathBuf>,
    /// Also write the report as JSON (`-`: on stdout, instead of the table).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Args)]
pub struct VerilateArgs {
    /// Package folder written by `cimpool gen`.
    #[arg(long, value_name = "DIR", default_value = "hdl")]
    pub rtl: PathBuf,
    /// Build folder; each design gets a sub-folder named by a hash of its inputs.
    #[arg(long, value_name = "DIR", default_value = "build/verilator")]
    pub build: PathBuf,
    /// Parallel C++ compile jobs.
    #[arg(long, default_value_t = 2)]
    pub jobs: u32,
    /// Build the variant that can write VCD traces (about twice the C++ to compile).
    #[arg(long, conflicts_with = "coverage")]
    pub trace: bool,
    /// Build the variant with line and toggle coverage counters; `cosim`
    /// then writes them to <build>/coverage.dat and prints a per-module summary.
    #[arg(long)]
    pub coverage: bool,
}

#[derive(Args)]
pub struct CosimArgs {
    #[command(flatten)]
    pub verilate: VerilateArgs,
    /// Random input vectors to compare (plus directed corner vectors).
    #[arg(long, default_value_t = 1000)]
    pub vectors: usize,
    /// Seed of the scenario and of the valid/ready back-pressure.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Probability that a pending load or input is offered in a cycle.
    #[arg(long, default_value_t = 0.85)]
    pub p_valid: f64,
    /// Probability that the output is ready in a cycle.
    #[arg(long, default_value_t = 0.7)]
    pub p_ready: f64,
    /// Then run the same scenario N more times on a model whose registers
    /// and X assignments start random (Verilator `--x-initial unique
    /// --x-assign unique`, seeds 1..=N): no output may depend on them.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub x_seeds: u32,
}

impl VerilateArgs {
    pub fn instrument(&self) -> cimpool::cosim::verilate::Instrument {
        use cimpool::cosim::verilate::Instrument;
        match (self.trace, self.coverage) {
            (true, _) => Instrument::Trace,
            (_, true) => Instrument::Coverage,
            _ => Instrument::Plain,
        }
    }
}
