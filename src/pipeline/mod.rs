//! The steps of the tool as one library API, so the command line, the
//! sweeps, the tests and any program using the library run the same
//! pipeline: network (`source`) -> compress -> morph -> images -> ADC steps
//! (`adc`, on the golden model) -> report, into an output folder written
//! whole or not at all (`output`); a package for `gen`; a golden run.
//!
//! Long steps report through [`Progress`]; the lines a user reads (what a
//! step chose) come through [`Progress::note`], so a library user may
//! collect or drop them.

pub mod adc;
pub mod adc_calib;
pub mod estimate;
pub mod network_file;
pub mod output;
pub mod source;

use crate::compress::{self, report::Accuracy, Compressed};
use crate::config::{default_adc_shift, Config};
use crate::error::{Error, Result};
use crate::images;
use crate::network::model::{ModelDesc, Network};
use crate::network::tensors::{self, Dataset};
use crate::package::Package;
use crate::run;
use source::Loaded;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What a long step reports. Every method defaults to doing nothing;
/// methods take `&self` and the trait is `Sync` because forward passes run
/// on every core.
pub trait Progress: Sync {
    /// A new stage of `len` units.
    fn stage(&self, _what: &str, _len: u64) {}
    /// Units done in the current stage.
    fn set(&self, _done: u64) {}
    /// One more unit done.
    fn inc(&self) {}
    /// The stage is over.
    fn finish(&self) {}
    /// A line for the user: what a step chose or wrote.
    fn note(&self, _line: &str) {}
}

/// Progress that reports nothing.
pub struct Quiet;
impl Progress for Quiet {}

/// Where a lossy ADC's run-time steps come from.
#[derive(Clone, Debug)]
pub enum AdcSteps {
    /// Chosen per layer on the calibration data (optionally moving the mean
    /// ADC error into the bias).
    Calibrate { bias_correction: bool },
    /// The generation-time step in every layer.
    Generation,
    /// A JSON file of layer names to steps (e.g. `tools/adc_train.py`'s).
    File(PathBuf),
}

/// What pruning ranks error tiles (pool engine) or phase blocks (dense
/// engine) by.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum PruneBy {
    /// The energy of their weights.
    #[default]
    Weights,
    /// Their effect on the outputs: each square weighted by its input
    /// column's mean square on the calibration inputs (`compress::moments`,
    /// written to moments.npz).
    Output,
    /// As `Output`, with the moments of an earlier compression's
    /// moments.npz (what training assumed).
    OutputFrom(PathBuf),
}

/// One compression: everything `cimpool compress` does after reading the
/// network, writing `out` whole or not at all.
#[derive(Clone, Debug)]
pub struct CompressJob {
    /// The hardware configuration, resolved.
    pub config: Config,
    pub options: compress::Options,
    /// Integer network inputs that set the activation scales and choose the
    /// ADC steps; needed unless `options.scales` is given and no ADC step
    /// is calibrated.
    pub calibration: Option<Vec<Vec<i64>>>,
    /// Morph first (Lin & Chang stage 1), within this many tiles (`None`:
    /// the network's own).
    pub morph: Option<Option<usize>>,
    /// Also write the network as compressed, BatchNorm folded (folded.toml,
    /// folded.npz).
    pub write_folded: bool,
    /// Clip every engine layer's outlying weights first
    /// (`compress::weight_clip`), on the calibration inputs.
    pub clip_weights: bool,
    /// What pruning (error tiles, phase blocks) ranks by.
    pub prune: PruneBy,
    pub adc: AdcSteps,
    /// Labelled data to report float, compressed and golden accuracy on.
    pub eval: Option<PathBuf>,
    pub out: PathBuf,
    /// Replace `out` even if it holds files cimpool did not write.
    pub force: bool,
    /// Where `options.pool` came from, for the summary.
    pub pool_file: Option<PathBuf>,
}

/// What a compression produced.
pub struct CompressOutcome {
    pub compressed: Compressed,
    pub accuracy: Option<Accuracy>,
    /// An earlier output in the folder was replaced.
    pub replaced: bool,
    pub seconds: f64,
}

impl CompressJob {
    /// Checks what can be checked before any work: the configuration, the
    /// options against the engine, the output folder.
    fn check(&self) -> Result<()> {
        self.config.validate()?;
        if self.options.pool.is_some() && self.config.is_dense() {
            return Err(Error::Usage(
                "--pool gives the pool engine's weight pool; the dense engine (--engine dense) has none".into(),
            ));
        }
        if self.options.choices.is_some() && (self.config.is_dense() || self.options.pool.is_none())
        {
            return Err(Error::Usage(
                "--choices pins the pool engine's indices into a given pool: it needs --pool (the pool the choices index) and the pool engine".into(),
            ));
        }
        if self.clip_weights && self.morph.is_some() {
            return Err(Error::Usage(
                "--clip-weights and --morph: morphing writes its network before clipping; clip the morphed network in a second compress (--weights DIR/morphed.npz --model DIR/morphed.toml --clip-weights)".into(),
            ));
        }
        if self.clip_weights && (self.options.scales.is_some() || self.options.choices.is_some()) {
            return Err(Error::Usage(format!(
                "--clip-weights clips the weights of a first compression; with {} the weights are training's and compress as they are: drop --clip-weights",
                if self.options.scales.is_some() { "--scales-from" } else { "--choices" }
            )));
        }
        if self.prune == PruneBy::Output && self.options.scales.is_some() {
            return Err(Error::Usage(
                "--prune-by-output with --scales-from would weigh by the moments of these weights, not the ones training assumed: give --moments DIR/moments.npz of the images training started from".into(),
            ));
        }
        if self.options.sparsity != 0.0 && !self.config.is_dense() {
            return Err(Error::Usage(
                "--sparsity prunes the dense engine's phase blocks: add --engine dense (the pool engine prunes error tiles with --keep)".into(),
            ));
        }
        let lossy = default_adc_shift(self.config.wl_parallel, self.config.adc_bits) > 0;
        let calibrates_adc = lossy && matches!(self.adc, AdcSteps::Calibrate { .. });
        if self.calibration.is_none() && (self.options.scales.is_none() || calibrates_adc) {
            return Err(Error::Usage(format!(
                "--calib is needed: calibration inputs set {} (give --calib FILE{})",
                if self.options.scales.is_none() {
                    "the activation scales"
                } else {
                    "the lossy ADC's steps"
                },
                if self.options.scales.is_none() {
                    ", or --scales-from an earlier run's images"
                } else {
                    ", or --fixed-adc-step / --adc-shifts"
                }
            )));
        }
        Ok(())
    }

    /// Runs the job on a network read by [`source::load`].
    pub fn run(&self, loaded: &Loaded, progress: &dyn Progress) -> Result<CompressOutcome> {
        let start = Instant::now();
        self.check()?;
        // Read before anything is written: a bad data set costs no work.
        let eval = match &self.eval {
            Some(p) => Some((tensors::read_dataset(p, true)?, p.as_path())),
            None => None,
        };
        let staged = output::stage(&self.out, output::Kind::Images, self.force)?;
        let dir = staged.path();
        let mut net = loaded.network.clone();
        let mut desc = loaded.description.clone();
        if let Some(budget) = self.morph {
            (net, desc) = self.morph(&net, &loaded.description, budget, dir, progress)?;
        }
        // The float reference of --eval: the network as given (morphed).
        let given = net.clone();
        // Input moments, of the network as given: for clipping and for
        // pruning by output effect.
        let moments = match &self.prune {
            PruneBy::OutputFrom(path) => Some(
                compress::moments::from_tensors(&net, &tensors::read_tensors(path)?)
                    .map_err(|e| Error::Usage(format!("--moments {}: {e}", path.display())))?,
            ),
            _ if self.clip_weights || self.prune == PruneBy::Output => Some(
                compress::moments::input_moments(&net, self.calibration.as_deref().unwrap_or(&[]))?,
            ),
            _ => None,
        };
        if self.clip_weights {
            let m = moments.as_deref().expect("computed for clipping");
            net = Self::clip(&self.config, &net, m, progress);
        }
        let mut written = vec![];
        if self.write_folded {
            let (folded, tensors) = net.folded(&desc);
            let (t, w) = network_file::write(
                dir,
                "folded",
                "# Written by cimpool compress --write-folded: BatchNorm folded.\n",
                &folded,
                &tensors,
            )?;
            written.push(format!(
                "wrote {} and {}",
                self.out.join(t).display(),
                self.out.join(w).display()
            ));
        }
        let calibration = self.calibration.as_deref().unwrap_or(&[]);
        let mut options = self.options.clone();
        if self.prune != PruneBy::Weights {
            let m = moments.expect("computed or read for pruning");
            compress::moments::write(dir, &net, &m).map_err(Error::Failed)?;
            options.moments = Some(m);
        }
        let c = compress::compress(&self.config, &net, calibration, &options, |what, i, n| {
            progress.stage(what, n as u64);
            progress.set(i as u64);
        })?;
        progress.finish();
        let mut c = c;
        images::write(&c, dir)?;
        let adc_lines = match &self.adc {
            AdcSteps::Calibrate { bias_correction } => {
                adc::calibrate(&mut c, calibration, dir, *bias_correction)?
            }
            AdcSteps::Generation => vec![],
            AdcSteps::File(path) => adc::set_from_file(&mut c, path, dir)?,
        };
        for line in &adc_lines {
            progress.note(line);
        }
        let accuracy = match &eval {
            Some((data, path)) => Some(self.accuracy(&given, &c, data, path, dir, progress)?),
            None => None,
        };
        images::write_report(dir, &c.report(&options, accuracy.as_ref()))?;
        let replaced = staged.replaces();
        staged.commit()?;
        for line in &written {
            progress.note(line);
        }
        Ok(CompressOutcome {
            compressed: c,
            accuracy,
            replaced,
            seconds: start.elapsed().as_secs_f64(),
        })
    }

    /// The network with its outlying weights clipped
    /// (`compress::weight_clip`), each layer's clip in a note.
    fn clip(
        config: &Config,
        net: &Network,
        moments: &[Vec<f64>],
        progress: &dyn Progress,
    ) -> Network {
        let (clipped, clips) = compress::weight_clip::clip_network(config, net, moments);
        for c in clips.iter().filter(|c| c.clip < c.max) {
            progress.note(&format!(
                "clip-weights: layer `{}` clipped at {:.4} (max |w| {:.4}, {} weights above)",
                c.layer, c.clip, c.max, c.clipped
            ));
        }
        let unclipped = clips.iter().filter(|c| c.clip >= c.max).count();
        if unclipped > 0 {
            progress.note(&format!(
                "clip-weights: {unclipped} of {} layers keep their full range",
                clips.len()
            ));
        }
        clipped
    }

    /// The morphed network (docs/COMPRESSION.md, macro-size-aware
    /// morphing) within `budget` tiles; its description and weights written
    /// into `dir` (which becomes `out`).
    fn morph(
        &self,
        net: &Network,
        desc: &ModelDesc,
        budget: Option<usize>,
        dir: &Path,
        progress: &dyn Progress,
    ) -> Result<(Network, ModelDesc)> {
        use compress::morph;
        let config = &self.config;
        let (plan, channels) = morph::plan(net, config, budget)?;
        let (morphed, tensors) = morph::apply(net, desc, &channels, self.options.seed);
        let header = format!(
            "# Morphed by cimpool compress --morph for {} lanes x {} rows (budget {} tiles); BatchNorm folded.\n",
            config.lanes(),
            config.rows,
            plan.budget
        );
        let (t, w) = network_file::write(dir, "morphed", &header, &morphed, &tensors)?;
        progress.note(&format!(
            "morph: {}; wrote {} and {}",
            plan.summary(),
            self.out.join(t).display(),
            self.out.join(w).display()
        ));
        Ok((morphed.network(&tensors)?, morphed))
    }

    fn accuracy(
        &self,
        net: &Network,
        c: &Compressed,
        data: &Dataset,
        path: &Path,
        dir: &Path,
        progress: &dyn Progress,
    ) -> Result<Accuracy> {
        progress.stage(
            "float forward passes (given and compressed weights)",
            2 * data.x.len() as u64,
        );
        let mut a = Accuracy::measure(net, &c.layers, data, path, &|| progress.inc());
        progress.finish();
        if default_adc_shift(self.config.wl_parallel, self.config.adc_bits) > 0 {
            let (adc, exact) = adc::accuracies(dir, data, progress)?;
            (a.golden_adc, a.golden_exact_readout) = (Some(adc), Some(exact));
        }
        Ok(a)
    }
}

impl CompressOutcome {
    /// What `cimpool compress` prints: the summary line, the per-layer
    /// table, the accuracies and the files written.
    pub fn summary(&self, job: &CompressJob) -> String {
        let c = &self.compressed;
        let config = &job.config;
        let mut s = if config.is_dense() {
            format!(
                "cimpool: quantized {} layers ({} weights) to {} bits, {:.0}% of phase blocks pruned, for the dense engine (sparsity `{}`) in {:.1} s\n\n",
                c.layers.len(),
                c.budget().weights,
                config.w_bits,
                100.0 * job.options.sparsity,
                config.sparsity,
                self.seconds,
            )
        } else {
            let pool_origin = match (c.pool_kmeans, &job.pool_file) {
                (Some((inertia, iterations)), _) => {
                    format!("k-means: {iterations} iterations, inertia {inertia:.2}")
                }
                (None, Some(p)) => format!("pool given by {}", p.display()),
                (None, None) => "pool given".to_string(),
            };
            format!(
                "cimpool: compressed {} layers ({} weights) into a pool of {} x {} in {:.1} s ({pool_origin})\n\n",
                c.layers.len(),
                c.budget().weights,
                config.pool,
                config.rows,
                self.seconds,
            )
        };
        s += &c.table();
        if let Some(a) = &self.accuracy {
            s += &format!(
                "\naccuracy on {} ({} samples): float (the weights as given) {:.2}%, compressed (float arithmetic) {:.2}%\n",
                a.data,
                a.samples,
                100.0 * a.float,
                100.0 * a.compressed_float
            );
            if let (Some(adc), Some(exact)) = (a.golden_adc, a.golden_exact_readout) {
                s += &format!(
                    "golden integer path of the images: {:.2}% through the {}-bit ADC, {:.2}% with exact read-out of the same loads\n",
                    100.0 * adc,
                    config.adc_bits,
                    100.0 * exact
                );
            }
        }
        s += &format!(
            "\nwrote {}{}: {}one image per layer, manifest.json, report.json, cim_config.toml\n",
            job.out.display(),
            if self.replaced {
                " (replacing the images there)"
            } else {
                ""
            },
            if config.is_dense() {
                ""
            } else {
                "pool.hex, pool.npy, "
            }
        );
        s
    }
}

/// The activation scale of every node of `net` from an images folder's
/// manifest, whose nodes must be the same (for weights trained against
/// those scales, as tools/adc_train.py does).
pub fn scales_from(dir: &Path, net: &Network) -> Result<Vec<f64>> {
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

/// Generates the RTL package of `config` into `out`, which then holds
/// exactly that package. Returns the package and whether an earlier one
/// was replaced.
pub fn generate(config: &Config, out: &Path, force: bool) -> Result<(Package, bool)> {
    let pkg = crate::package::build(config)?;
    let staged = output::stage(out, output::Kind::Package, force)?;
    pkg.write(staged.path())?;
    let replaced = staged.replaces();
    staged.commit()?;
    Ok((pkg, replaced))
}

/// A golden run of a set of images on labelled data.
#[derive(Debug, serde::Serialize)]
pub struct Evaluation {
    pub images: PathBuf,
    pub data: PathBuf,
    pub samples: usize,
    pub nodes: usize,
    pub engine_layers: usize,
    pub accuracy: f64,
    pub seconds: f64,
    #[serde(skip)]
    pub outputs: Vec<Vec<i64>>,
}

/// Runs the images in `dir` on the golden model over the labelled `data`.
pub fn evaluate(dir: &Path, data: &Path, progress: &dyn Progress) -> Result<Evaluation> {
    let start = Instant::now();
    let imgs = images::read(dir)?;
    let set = tensors::read_dataset(data, true)?;
    progress.stage("samples on the golden model", set.x.len() as u64);
    let outputs = run::golden(&imgs, &set.x, |i, _| progress.set(i as u64))?;
    progress.finish();
    Ok(Evaluation {
        images: dir.to_path_buf(),
        data: data.to_path_buf(),
        samples: set.y.len(),
        nodes: imgs.graph.nodes.len(),
        engine_layers: imgs.manifest.layers.len(),
        accuracy: run::accuracy(&outputs, &set.y),
        seconds: start.elapsed().as_secs_f64(),
        outputs,
    })
}

impl std::fmt::Display for Evaluation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cimpool: {} samples through {} nodes ({} engine layers) on the golden model in {:.1} s: accuracy {:.2}% (integer path, from the memory images in {})",
            self.samples,
            self.nodes,
            self.engine_layers,
            self.seconds,
            100.0 * self.accuracy,
            self.images.display()
        )
    }
}
