//! Where a network comes from: an ONNX file, a model description (a file or
//! a built-in) with weights (a file or seeded random ones), or weights alone
//! (a chain of 2-D `*.weight` tensors). One place decides, so `compress`,
//! `estimate`, `report utilization` and the sweeps read networks alike.

use crate::error::{Error, Result};
use crate::network::model::{ModelDesc, Network, NodeDesc, OpKind};
use crate::network::tensors::{self, Tensor};
use crate::network::{builtin, onnx};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The model description: a TOML file or a built-in network's name.
#[derive(Clone, Debug)]
pub enum Description {
    File(PathBuf),
    Builtin(String),
}

impl Description {
    /// The description `--model FILE` or `--network NAME` names (the file
    /// first), if either.
    pub fn from_flags(model: Option<&Path>, network: Option<&str>) -> Option<Description> {
        match (model, network) {
            (Some(p), _) => Some(Description::File(p.to_path_buf())),
            (None, Some(n)) => Some(Description::Builtin(n.to_string())),
            (None, None) => None,
        }
    }
}

/// The weights: a file (.npz, .npy, .safetensors) or seeded random values.
#[derive(Clone, Debug)]
pub enum Weights {
    File(PathBuf),
    Random(u64),
}

/// A network to read.
#[derive(Clone, Debug)]
pub enum Source {
    /// An ONNX model (graph and weights); `input_scale` is the float value of
    /// one unit of the integer input, `output` the graph value to import as
    /// the network's output (default: its one score output).
    Onnx {
        path: PathBuf,
        input_scale: f64,
        output: Option<String>,
    },
    /// Weights with a description, or alone (the layer order inferred).
    Weights {
        weights: Weights,
        description: Option<Description>,
        input_scale: f64,
    },
}

/// A network read from its source.
pub struct Loaded {
    pub description: ModelDesc,
    pub tensors: BTreeMap<String, Tensor>,
    pub network: Network,
    /// Tensors of the weights file no node of the description reads.
    pub unused_tensors: Vec<String>,
    /// What the ONNX import left out or changed (one line each).
    pub notes: Vec<String>,
}

impl Loaded {
    /// Runs the named engine layers on the host with 8-bit weights
    /// (`uncompressed`, docs/SPEC.md section 4), as if the description said
    /// so: `compress --host-layers` (the first and last layers at higher
    /// precision). A name that is no conv or fc node is refused, listing
    /// the layers.
    pub fn place_on_host(&mut self, names: &[String]) -> Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        let layers: Vec<String> = self
            .description
            .nodes()
            .iter()
            .filter(|n| matches!(n.op, OpKind::Conv | OpKind::Fc))
            .map(|n| n.name.clone())
            .collect();
        for name in names {
            if !layers.contains(name) {
                return Err(Error::Usage(format!(
                    "--host-layers: no conv or fc layer `{name}` in the network; its layers: {}",
                    layers.join(", ")
                )));
            }
        }
        let d = &mut self.description;
        for n in d.layer.iter_mut().chain(d.node.iter_mut()) {
            if names.contains(&n.name) {
                n.uncompressed = true;
            }
        }
        self.network = self.description.network(&self.tensors)?;
        Ok(())
    }

    /// The warning for unused tensors, if any: a description that leaves
    /// out a layer would otherwise compress the rest silently.
    pub fn unused_warning(&self) -> Option<String> {
        let unused = &self.unused_tensors;
        if unused.is_empty() {
            return None;
        }
        let shown: Vec<&str> = unused.iter().take(8).map(String::as_str).collect();
        Some(format!(
            "warning: {} tensor{} of the weights file no node of the description reads: {}{}",
            unused.len(),
            if unused.len() == 1 { "" } else { "s" },
            shown.join(", "),
            if unused.len() > shown.len() {
                ", ..."
            } else {
                ""
            }
        ))
    }
}

/// A built-in network's description, or a one-line refusal naming them all.
pub fn builtin_network(name: &str) -> Result<ModelDesc> {
    builtin::network(name).ok_or_else(|| {
        let names: Vec<&str> = builtin::NETWORKS.iter().map(|(n, _)| *n).collect();
        Error::Usage(format!(
            "no built-in network `{name}`; the built-in networks are {}",
            names.join(", ")
        ))
    })
}

fn description(d: &Description) -> Result<ModelDesc> {
    match d {
        Description::File(p) => Ok(ModelDesc::from_file(p)?),
        Description::Builtin(name) => builtin_network(name),
    }
}

/// Reads the network: description, tensors and the BatchNorm-folded graph.
pub fn load(source: &Source) -> Result<Loaded> {
    let mut notes = vec![];
    let (description, tensors, explicit) = match source {
        Source::Onnx {
            path,
            input_scale,
            output,
        } => {
            let imported = onnx::import(
                path,
                &onnx::Options {
                    input_scale: *input_scale,
                    output: output.clone(),
                },
            )?;
            notes = imported.notes;
            (imported.description, imported.tensors, false)
        }
        Source::Weights {
            weights,
            description: desc,
            input_scale,
        } => {
            let desc = desc.as_ref().map(description).transpose()?;
            let tensors = match (weights, &desc) {
                (Weights::File(p), _) => tensors::read_tensors(p)?,
                (Weights::Random(seed), Some(d)) => builtin::random_weights(d, *seed),
                (Weights::Random(_), None) => {
                    return Err(Error::Usage(
                        "random weights need the network's shape: give a model description or a built-in network".into(),
                    ))
                }
            };
            let explicit = desc.is_some() && matches!(weights, Weights::File(_));
            let desc = match desc {
                Some(d) => d,
                None => ModelDesc::infer(&tensors, *input_scale)?,
            };
            (desc, tensors, explicit)
        }
    };
    let network = description.network(&tensors)?;
    let unused_tensors = if explicit {
        description.unused_tensors(&tensors)
    } else {
        vec![]
    };
    Ok(Loaded {
        description,
        tensors,
        network,
        unused_tensors,
        notes,
    })
}

/// The description and its tensors when only the shapes matter (reports,
/// estimates): an ONNX file, a description with `weights` giving the
/// shapes, or a description (built-in or a file) whose layers all have a
/// `shape`, given seeded weights. `onnx` is the file and the graph value
/// to import as the output (`--onnx-output`), if any.
pub fn shapes_only(
    onnx: Option<(&Path, Option<&str>)>,
    description: Option<&Description>,
    weights: Option<&Path>,
) -> Result<Loaded> {
    if let Some((path, output)) = onnx {
        return load(&Source::Onnx {
            path: path.to_path_buf(),
            input_scale: 1.0,
            output: output.map(str::to_string),
        });
    }
    let Some(d) = description else {
        return Err(Error::Usage(
            "a network is needed: give an ONNX file, a model description or a built-in network"
                .into(),
        ));
    };
    if let Some(w) = weights {
        return load(&Source::Weights {
            weights: Weights::File(w.to_path_buf()),
            description: Some(d.clone()),
            input_scale: 1.0,
        });
    }
    let desc = self::description(d)?;
    let weighted = |n: &&NodeDesc| matches!(n.op, OpKind::Conv | OpKind::Fc);
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
    let tensors = builtin::random_weights(&desc, 1);
    let network = desc.network(&tensors)?;
    Ok(Loaded {
        description: desc,
        tensors,
        network,
        unused_tensors: vec![],
        notes: vec![],
    })
}

/// `n` seeded random network inputs over the unsigned activation range: the
/// calibration data when none is given (random weights, exact read-out).
pub fn random_inputs(net: &Network, act_bits: u32, n: usize) -> Vec<Vec<i64>> {
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
