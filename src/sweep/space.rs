//! A design space (TOML) expanded into resolved, validated points, each a
//! self-contained job with a stable content hash: any engine (rayon here,
//! Ray or a Slurm array elsewhere) runs point N with `sweep run --point N`.

use crate::config::Config;
use crate::error::{Error, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::hash::Hasher;
use std::path::{Path, PathBuf};

/// Compression options a space may sweep next to the configuration keys.
pub const OPTION_KEYS: [&str; 2] = ["keep", "sparsity"];

/// Labelled-data accuracy of each point: `compress` then the golden model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccuracyJob {
    pub weights: PathBuf,
    pub model: PathBuf,
    pub calib: PathBuf,
    pub data: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpaceFile {
    /// A built-in network the estimate runs on (or `model`, shapes given).
    network: Option<String>,
    model: Option<PathBuf>,
    accuracy: Option<AccuracyJob>,
    #[serde(default)]
    base: toml::Table,
    #[serde(default)]
    grid: toml::Table,
    random: Option<RandomSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RandomSpec {
    samples: usize,
    seed: u64,
}

/// One point: everything `sweep run` needs, with absolute paths.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub index: usize,
    pub hash: String,
    /// The swept values (configuration keys and options), for the tables.
    pub swept: BTreeMap<String, toml::Value>,
    /// The resolved configuration, as TOML.
    pub config: String,
    pub keep: f64,
    pub sparsity: f64,
    pub network: Option<String>,
    pub model: Option<PathBuf>,
    pub accuracy: Option<AccuracyJob>,
    /// A verification point (`sweep regress`): generate, lint, synthesize
    /// and co-simulate the configuration instead of estimating a network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<VerifyJob>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerifyJob {
    /// The seed the configuration was drawn from (`config::random`).
    pub seed: u64,
    /// Random input vectors of the co-simulation (plus directed ones).
    pub vectors: usize,
    /// Co-simulate a model with line and toggle coverage counters and keep
    /// them in `<hash>/coverage.dat` (`sweep coverage` merges them). Part of
    /// the hash, so covered and plain results never stand in for each other.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub coverage: bool,
}

/// `seeds` verification points: the first legal configuration of each seed
/// from `first` on, co-simulated with `vectors` random vectors (on a model
/// with coverage counters when `coverage`).
pub fn regress_points(first: u64, seeds: u64, vectors: usize, coverage: bool) -> Vec<Point> {
    (0..seeds)
        .map(|i| {
            let seed = first + i;
            let (config, _) = crate::config::random::legal_config(seed);
            let swept = BTreeMap::from([
                ("seed".to_string(), toml::Value::Integer(seed as i64)),
                (
                    "engine".to_string(),
                    toml::Value::String(config.engine.to_string()),
                ),
            ]);
            let mut p = Point {
                index: i as usize,
                hash: String::new(),
                swept,
                config: config.to_toml(),
                keep: 1.0,
                sparsity: 0.0,
                network: None,
                model: None,
                accuracy: None,
                verify: Some(VerifyJob {
                    seed,
                    vectors,
                    coverage,
                }),
            };
            p.hash = hash(&p);
            p
        })
        .collect()
}

#[derive(Debug)]
pub struct Expansion {
    pub points: Vec<Point>,
    /// Combinations dropped because the configuration does not validate.
    pub invalid: usize,
    /// First reason of a drop, to show the user what the drops are.
    pub first_invalid: Option<String>,
}

fn values(key: &str, v: &toml::Value) -> Result<Vec<toml::Value>> {
    let bad = |why: &str| Error::Usage(format!("grid `{key}`: {why}"));
    match v {
        toml::Value::Array(a) if !a.is_empty() => Ok(a.clone()),
        toml::Value::Array(_) => Err(bad("an empty list")),
        toml::Value::Table(t) => {
            let num = |k: &str| {
                t.get(k)
                    .and_then(|x| x.as_float().or(x.as_integer().map(|i| i as f64)))
                    .ok_or_else(|| bad("a range needs numbers `from`, `to` and `step`"))
            };
            let (from, to, step) = (num("from")?, num("to")?, num("step")?);
            if step <= 0.0 || to < from {
                return Err(bad("a range needs step > 0 and to >= from"));
            }
            let integer = ["from", "to", "step"]
                .iter()
                .all(|k| t.get(*k).is_some_and(toml::Value::is_integer));
            let n = ((to - from) / step + 1e-9).floor() as usize + 1;
            Ok((0..n)
                .map(|i| {
                    let x = from + i as f64 * step;
                    if integer {
                        toml::Value::Integer(x.round() as i64)
                    } else {
                        toml::Value::Float((x * 1e9).round() / 1e9)
                    }
                })
                .collect())
        }
        _ => Err(bad("expected a list of values or {from, to, step}")),
    }
}

fn absolute(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn option(swept: &BTreeMap<String, toml::Value>, key: &str, default: f64) -> Result<f64> {
    match swept.get(key) {
        None => Ok(default),
        Some(v) => v
            .as_float()
            .or(v.as_integer().map(|i| i as f64))
            .ok_or_else(|| Error::Usage(format!("grid `{key}`: {v} is not a number"))),
    }
}

/// Expands the space in `path` (relative paths in it are relative to it).
pub fn expand(path: &Path) -> Result<Expansion> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Usage(format!("cannot read {}: {e}", path.display())))?;
    let space: SpaceFile = toml::from_str(&text).map_err(|e| {
        let why = crate::diagnostics::toml_error(&text, &e);
        Error::Usage(format!("{}: {why}", path.display()))
    })?;
    let dir = path
        .parent()
        .map(|p| p.canonicalize().unwrap_or(p.to_path_buf()))
        .unwrap_or_default();
    if space.network.is_none() == space.model.is_none() {
        return Err(Error::Usage(format!(
            "{}: give exactly one of `network` (a built-in) and `model` (a description with shapes)",
            path.display()
        )));
    }
    let known: toml::Table = crate::config::DEFAULT_TOML.parse().expect("default parses");
    for (table, keys) in [("base", &space.base), ("grid", &space.grid)] {
        for k in keys.keys() {
            let option = table == "grid" && OPTION_KEYS.contains(&k.as_str());
            if !known.contains_key(k) && !option {
                return Err(Error::Usage(format!(
                    "{}: [{table}] key `{k}` is neither a configuration key (`cimpool default-config`) nor one of {}",
                    path.display(),
                    OPTION_KEYS.join(", ")
                )));
            }
        }
    }
    let axes: Vec<(String, Vec<toml::Value>)> = space
        .grid
        .iter()
        .map(|(k, v)| Ok((k.clone(), values(k, v)?)))
        .collect::<Result<_>>()?;
    let total: usize = axes.iter().map(|(_, v)| v.len()).product();
    let mut combos: Vec<usize> = (0..total).collect();
    if let Some(r) = &space.random {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(r.seed);
        combos.shuffle(&mut rng);
        combos.truncate(r.samples);
        combos.sort_unstable();
    }
    let accuracy = space.accuracy.map(|a| AccuracyJob {
        weights: absolute(&dir, &a.weights),
        model: absolute(&dir, &a.model),
        calib: absolute(&dir, &a.calib),
        data: absolute(&dir, &a.data),
    });
    let model = space.model.map(|m| absolute(&dir, &m));
    let mut out = Expansion {
        points: vec![],
        invalid: 0,
        first_invalid: None,
    };
    for combo in combos {
        let mut rest = combo;
        let mut swept = BTreeMap::new();
        for (k, vs) in axes.iter().rev() {
            swept.insert(k.clone(), vs[rest % vs.len()].clone());
            rest /= vs.len();
        }
        let mut table = space.base.clone();
        for (k, v) in &swept {
            if !OPTION_KEYS.contains(&k.as_str()) {
                table.insert(k.clone(), v.clone());
            }
        }
        let keep = option(&swept, "keep", 1.0)?;
        let sparsity = option(&swept, "sparsity", 0.0)?;
        let config = Config::from_toml(&table.to_string()).and_then(|c| {
            let c = c.resolved();
            c.validate().map(|_| c)
        });
        let reject = if !(keep > 0.0 && keep <= 1.0) {
            Some(format!("keep = {keep} is outside (0, 1]"))
        } else if !(0.0..1.0).contains(&sparsity) {
            Some(format!("sparsity = {sparsity} is outside [0, 1)"))
        } else {
            match &config {
                Err(e) => Some(e.to_string()),
                Ok(c) if c.is_dense() && keep != 1.0 => Some(
                    "keep < 1 prunes the pool engine's error vectors, not the dense engine's"
                        .into(),
                ),
                Ok(c) if !c.is_dense() && sparsity != 0.0 => Some(
                    "sparsity > 0 prunes the dense engine's phase blocks, not the pool engine's"
                        .into(),
                ),
                Ok(_) => None,
            }
        };
        if let Some(why) = reject {
            out.invalid += 1;
            out.first_invalid.get_or_insert(why);
            continue;
        }
        let config = config.expect("checked").to_toml();
        let mut point = Point {
            index: out.points.len(),
            hash: String::new(),
            swept,
            config,
            keep,
            sparsity,
            network: space.network.clone(),
            model: model.clone(),
            accuracy: accuracy.clone(),
            verify: None,
        };
        point.hash = hash(&point);
        out.points.push(point);
    }
    Ok(out)
}

/// Content hash of what a point computes (not its index).
fn hash(p: &Point) -> String {
    let mut h = crate::cosim::verilate::Fnv(0xcbf29ce484222325);
    let mut key = serde_json::json!([
        p.config,
        p.keep,
        p.sparsity,
        p.network,
        p.model,
        p.accuracy,
        env!("CARGO_PKG_VERSION")
    ]);
    // A verification point's seed, vectors and coverage change its result;
    // estimate points keep the hashes they had before verification existed.
    if let Some(v) = &p.verify {
        key.as_array_mut()
            .expect("an array")
            .push(serde_json::json!(v));
    }
    h.write(key.to_string().as_bytes());
    format!("{:016x}", h.finish())
}

/// The points of a `sweep expand` output (JSON lines).
pub fn read_points(path: &Path) -> Result<Vec<Point>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Usage(format!("cannot read {}: {e}", path.display())))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| Error::Usage(format!("{} line {}: {e}", path.display(), i + 1)))
        })
        .collect()
}
