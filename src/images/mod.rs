//! Memory images for the load port: one `$readmemh` file per layer plus the
//! pool's, one line per load-port write, and `manifest.json` saying which
//! lines load which tile (layer, output-channel pass, row block).
//!
//! A line is the hex value of the word `{load_sel, load_addr, load_data}`
//! (data in the low bits); the manifest gives each field's bit range.
//! `decode` turns a layer's loads back into the weights the tiles hold;
//! `export` writes the images' integers as arrays for outside models.

pub mod decode;
pub mod export;

pub use decode::{decode_layer, DecodeError};

use crate::compress::{Compressed, CompressedLayer, Tile};
use crate::config::layout::LoadLayout;
use crate::config::{Config, ConfigError, Derived};
use crate::diagnostics::printable;
use crate::loadport::{get, put, words_for, Load, LoadError, LoadPort};
use crate::network::geometry::Geometry;
use crate::network::graph::{AddScales, ConcatScales, Graph, Map, Node, Op, Source, Window};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A folder of images that cannot be read, or images that cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ImagesError {
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("cannot write {path}: {reason}")]
    Write { path: PathBuf, reason: String },
    // Names in a manifest are outside text (a hand-edited or damaged
    // manifest may hold a newline): printed escaped, so an error stays
    // one line.
    #[error("{path}: {}", printable(.reason))]
    Invalid { path: PathBuf, reason: String },
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("{path}: {source}")]
    Config {
        path: PathBuf,
        source: Box<ConfigError>,
    },
    #[error("layer `{}`: {}", printable(.layer), printable(.reason))]
    Layer { layer: String, reason: String },
    #[error("layer `{}`: {source}", printable(.layer))]
    Load { layer: String, source: LoadError },
}

impl ImagesError {
    fn invalid(path: &Path, reason: impl Into<String>) -> ImagesError {
        ImagesError::Invalid {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}

/// How one line of an image packs a load-port write.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct WordLayout {
    pub bits: u32,
    /// [lsb, width] of each field.
    pub load_data: [u32; 2],
    pub load_addr: [u32; 2],
    pub load_sel: [u32; 2],
}

impl WordLayout {
    pub fn new(d: &Derived) -> WordLayout {
        let (db, ab, sb) = (d.load_data_bits, d.load_addr_bits, d.load_sel_bits);
        WordLayout {
            bits: db + ab + sb,
            load_data: [0, db],
            load_addr: [db, ab],
            load_sel: [db + ab, sb],
        }
    }

    pub fn to_hex(&self, load: &Load) -> String {
        let mut w = vec![0u32; words_for(self.bits)];
        for b in 0..self.load_data[1] {
            put(&mut w, b, 1, get(&load.data, b, 1));
        }
        put(&mut w, self.load_addr[0], self.load_addr[1], load.addr);
        put(&mut w, self.load_sel[0], self.load_sel[1], load.sel as u64);
        let digits = self.bits.div_ceil(4);
        (0..digits)
            .rev()
            .map(|i| {
                let nib = get(&w, i * 4, 4.min(self.bits - i * 4));
                char::from_digit(nib as u32, 16).unwrap()
            })
            .collect()
    }

    pub fn from_hex(&self, line: &str) -> Result<Load, String> {
        let digits = self.bits.div_ceil(4) as usize;
        let line = line.trim();
        if line.len() != digits {
            return Err(format!(
                "{} hex digits where a word has {digits}",
                line.len()
            ));
        }
        let mut w = vec![0u32; words_for(digits as u32 * 4)];
        for (i, ch) in line.chars().rev().enumerate() {
            let v = ch
                .to_digit(16)
                .ok_or_else(|| format!("`{ch}` is not a hex digit"))?;
            put(&mut w, i as u32 * 4, 4, v as u64);
        }
        let mut data = vec![0u32; words_for(self.load_data[1])];
        for b in 0..self.load_data[1] {
            put(&mut data, b, 1, get(&w, b, 1));
        }
        Ok(Load {
            sel: get(&w, self.load_sel[0], self.load_sel[1]) as u32,
            addr: get(&w, self.load_addr[0], self.load_addr[1]),
            data,
        })
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TileEntry {
    pub pass: usize,
    pub block: usize,
    /// Output channels [lo, hi) on lanes 0.. of this pass.
    pub channels: [usize; 2],
    /// Input rows [lo, hi) of the flattened fan-in (the rest of the R rows are zero).
    pub rows: [usize; 2],
    pub first_line: usize,
    pub lines: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LayerEntry {
    pub name: String,
    pub relu: bool,
    /// Engine layers: the `.hex` load image. Uncompressed (`host`) layers:
    /// an int8 `.npy` (out_channels, fan_in) of weights in (ky, kx, c)
    /// column order, computed by the host with the same scales.
    pub image: String,
    #[serde(default)]
    pub host: bool,
    /// Integer biases of a host layer (engine layers carry theirs in the
    /// lane words of their image).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_bias: Vec<i64>,
    pub out_channels: usize,
    pub fan_in: usize,
    /// Input map, kernel and output map: the software around the engine
    /// forms input vectors by im2col.
    pub geometry: Geometry,
    pub row_blocks: usize,
    pub passes: usize,
    pub input_scale: f64,
    pub output_scale: f64,
    pub alpha: i64,
    pub beta: i64,
    pub shift: u32,
    /// The ADC's step 2^adc_shift (in the scale word; 0 for exact read-out).
    #[serde(default)]
    pub adc_shift: u32,
    pub tiles: Vec<TileEntry>,
}

/// One node of the network graph: what the host does between engine
/// layers (docs/SPEC.md section 4), and where each layer sits.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct NodeEntry {
    pub name: String,
    /// `layer`, `add`, `max_pool`, `avg_pool` or `flatten`.
    pub op: String,
    /// Names of the nodes read (`input`: the network input).
    pub inputs: Vec<String>,
    /// The map it produces, (height, width, channels).
    pub out: Map,
    /// Its values can be negative.
    pub signed: bool,
    /// Float value of one integer unit of its output.
    pub scale: f64,
    /// `layer`: its index in `layers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<usize>,
    /// `add`: ReLU after the sum, and the integer multipliers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relu: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add: Option<AddScales>,
    /// `concat`: each input's multiplier to the output scale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concat: Option<ConcatScales>,
    /// `max_pool`, `avg_pool`: the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: String,
    /// The hardware configuration the images are for (in the same folder).
    pub config: String,
    pub word: WordLayout,
    /// The fields of each load target's address and data (the same
    /// description as the package's cim_params.json).
    pub load: LoadLayout,
    pub input_scale: f64,
    /// The network input map, (height, width, channels); samples arrive
    /// flattened in PyTorch (c, y, x) order.
    pub input: Map,
    /// Load this once, before any layer.
    pub pool_image: String,
    pub pool_lines: usize,
    /// The network in evaluation order; the last node is its output.
    pub nodes: Vec<NodeEntry>,
    pub layers: Vec<LayerEntry>,
}

pub const FORMAT: &str = "cimpool-images-4";

pub fn pool_loads(c: &Compressed, port: &LoadPort) -> Vec<Load> {
    c.pool
        .iter()
        .enumerate()
        .map(|(k, col)| port.pool_column(k as u32, col))
        .collect()
}

/// Every write of one tile: error columns, lane words, scales.
pub fn tile_loads(l: &CompressedLayer, t: &Tile, port: &LoadPort) -> Result<Vec<Load>, LoadError> {
    if t.index.is_empty() {
        return dense_tile_loads(l, t, port);
    }
    let lanes = t.index.len();
    let fields = port.select_fields(&t.index)?;
    let mut loads: Vec<Load> = (0..lanes)
        .map(|ln| port.error_column(ln as u32, &t.error[ln]))
        .collect();
    for (ln, &field) in fields.iter().enumerate() {
        let c = t.pass * lanes + ln;
        let bias = l.scales.bias_int.get(c).copied().unwrap_or(0);
        loads.push(port.lane(ln as u32, field, t.mask[ln], bias)?);
    }
    loads.push(port.scales(&scales_of(l))?);
    Ok(loads)
}

/// The dense engine's tile: weight columns, lane biases, the valid bits or
/// slot codes, the scales (`LoadPort::all` of its memory contents).
fn dense_tile_loads(
    l: &CompressedLayer,
    t: &Tile,
    port: &LoadPort,
) -> Result<Vec<Load>, LoadError> {
    let lanes = port.lanes();
    let w = crate::golden::Weights {
        pool: vec![],
        error: t.error.clone(),
        index: vec![],
        mask: vec![],
        bias: (0..lanes)
            .map(|ln| {
                l.scales
                    .bias_int
                    .get(t.pass * lanes + ln)
                    .copied()
                    .unwrap_or(0)
            })
            .collect(),
        scales: scales_of(l),
        phase_valid: t.phase_valid.clone(),
        slot_codes: t.slot_codes.clone(),
    };
    port.all(&w)
}

/// The scale word of a layer.
pub fn scales_of(l: &CompressedLayer) -> crate::golden::Scales {
    crate::golden::Scales {
        alpha: l.scales.alpha_int,
        beta: l.scales.beta_int,
        shift: l.scales.shift,
        relu: l.relu,
        adc_shift: l.scales.adc_shift,
    }
}

/// Writes `cim_config.toml`, `pool.hex`, one `<layer>.hex` per layer and
/// `manifest.json` into `dir`.
pub fn write(c: &Compressed, dir: &Path) -> Result<Manifest, ImagesError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e: std::io::Error| ImagesError::Write {
            path,
            reason: e.to_string(),
        }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let d = Derived::new(&c.config);
    let port = LoadPort::new(&c.config);
    let word = WordLayout::new(&d);
    let lines = |loads: &[Load]| {
        loads
            .iter()
            .map(|l| word.to_hex(l) + "\n")
            .collect::<String>()
    };
    let file = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(io(&path))
    };
    file("cim_config.toml", c.config.to_toml())?;
    let pool = pool_loads(c, &port);
    // The dense engine has no pool: its pool.hex is empty.
    file("pool.hex", lines(&pool))?;
    if !c.config.is_dense() {
        write_pool_npy(c, &dir.join("pool.npy")).map_err(io(&dir.join("pool.npy")))?;
    }
    let lanes = d.lanes as usize;
    let rows = c.config.rows as usize;
    let mut layers = Vec::new();
    for l in &c.layers {
        let mut text = String::new();
        let mut tiles = Vec::new();
        let mut line = 0;
        for t in &l.tiles {
            let loads = tile_loads(l, t, &port).map_err(|source| ImagesError::Load {
                layer: l.name.clone(),
                source,
            })?;
            text += &lines(&loads);
            tiles.push(TileEntry {
                pass: t.pass,
                block: t.block,
                channels: [t.pass * lanes, ((t.pass + 1) * lanes).min(l.out_channels)],
                rows: [t.block * rows, ((t.block + 1) * rows).min(l.fan_in)],
                first_line: line,
                lines: loads.len(),
            });
            line += loads.len();
        }
        let stem = l.name.replace(['/', '\\'], "_");
        let image = match &l.host {
            Some(q) => {
                let image = format!("{stem}.npy");
                write_npy(
                    ndarray::Array2::from_shape_vec((l.out_channels, l.fan_in), q.clone())
                        .expect("host weights are out x fan-in"),
                    &dir.join(&image),
                )
                .map_err(io(&dir.join(&image)))?;
                image
            }
            None => {
                let image = format!("{stem}.hex");
                file(&image, text)?;
                image
            }
        };
        layers.push(LayerEntry {
            name: l.name.clone(),
            relu: l.relu,
            image,
            host: l.host.is_some(),
            host_bias: if l.host.is_some() {
                l.scales.bias_int.clone()
            } else {
                vec![]
            },
            out_channels: l.out_channels,
            fan_in: l.fan_in,
            geometry: l.geometry,
            row_blocks: l.row_blocks,
            passes: l.passes,
            input_scale: l.scales.input_scale,
            output_scale: l.scales.output_scale,
            alpha: l.scales.alpha_int,
            beta: l.scales.beta_int,
            shift: l.scales.shift,
            adc_shift: l.scales.adc_shift,
            tiles,
        });
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        config: "cim_config.toml".into(),
        word,
        load: d.load.clone(),
        input_scale: c.input_scale,
        input: c.graph.input,
        pool_image: "pool.hex".into(),
        pool_lines: pool.len(),
        nodes: node_entries(c),
        layers,
    };
    file(
        "manifest.json",
        serde_json::to_string_pretty(&manifest).expect("manifest serializes") + "\n",
    )?;
    Ok(manifest)
}

fn node_entries(c: &Compressed) -> Vec<NodeEntry> {
    let g = &c.graph;
    let name = |s: &Source| match s {
        Source::Input => "input".to_string(),
        Source::Node(j) => g.nodes[*j].name.clone(),
    };
    g.nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let mut e = NodeEntry {
                name: n.name.clone(),
                op: String::new(),
                inputs: n.inputs.iter().map(name).collect(),
                out: n.out,
                signed: n.signed,
                scale: c.scales[i],
                layer: None,
                relu: None,
                add: None,
                concat: None,
                window: None,
            };
            match &n.op {
                Op::Layer(li) => (e.op, e.layer) = ("layer".into(), Some(*li)),
                Op::Add { relu } => {
                    (e.op, e.relu, e.add) = ("add".into(), Some(*relu), c.adds[i]);
                }
                Op::MaxPool(w) => (e.op, e.window) = ("max_pool".into(), Some(*w)),
                Op::AvgPool(w) => (e.op, e.window) = ("avg_pool".into(), Some(*w)),
                Op::Concat => {
                    let scales: Vec<f64> = n
                        .inputs
                        .iter()
                        .map(|s| match s {
                            Source::Input => c.input_scale,
                            Source::Node(j) => c.scales[*j],
                        })
                        .collect();
                    e.op = "concat".into();
                    e.concat = Some(ConcatScales::new(&scales, c.scales[i]));
                }
                Op::Flatten => e.op = "flatten".into(),
            }
            e
        })
        .collect()
}

impl Manifest {
    /// The graph the nodes describe, every input and shape checked.
    pub fn graph(&self) -> Result<Graph, ImagesError> {
        let mut g = Graph {
            input: self.input,
            nodes: vec![],
        };
        for e in &self.nodes {
            let err = |reason: String| ImagesError::Layer {
                layer: e.name.clone(),
                reason,
            };
            let inputs = e
                .inputs
                .iter()
                .map(|n| {
                    if n == "input" {
                        return Ok(Source::Input);
                    }
                    g.nodes
                        .iter()
                        .position(|m| &m.name == n)
                        .map(Source::Node)
                        .ok_or_else(|| err(format!("input `{n}` is not an earlier node")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let want = match e.op.as_str() {
                "add" => 2,
                "concat" => inputs.len().max(2),
                _ => 1,
            };
            if inputs.len() != want {
                return Err(err(format!("a `{}` node reads {want} input(s)", e.op)));
            }
            let in_map = g.map_of(inputs[0]);
            let (op, out) = match e.op.as_str() {
                "layer" => {
                    let li = e
                        .layer
                        .ok_or_else(|| err("a layer node names its layer".into()))?;
                    let l = self
                        .layers
                        .get(li)
                        .ok_or_else(|| err(format!("layer {li} is not in the manifest")))?;
                    if l.geometry.in_map() != in_map {
                        return Err(err(format!(
                            "layer `{}` takes a {:?} map but its input gives {in_map:?}",
                            l.name,
                            l.geometry.in_map()
                        )));
                    }
                    (Op::Layer(li), l.geometry.out_map())
                }
                "add" => {
                    if g.map_of(inputs[1]) != in_map || e.add.is_none() {
                        return Err(err(
                            "an add needs two maps of one shape and its multipliers".into(),
                        ));
                    }
                    (
                        Op::Add {
                            relu: e.relu.unwrap_or(false),
                        },
                        in_map,
                    )
                }
                "max_pool" | "avg_pool" => {
                    let w = e
                        .window
                        .ok_or_else(|| err("a pool needs its window".into()))?;
                    let out = w
                        .out(in_map)
                        .filter(|o| o.h > 0 && o.w > 0 && w.stride > 0)
                        .ok_or_else(|| err("its window does not fit its input map".into()))?;
                    (
                        if e.op == "max_pool" {
                            Op::MaxPool(w)
                        } else {
                            Op::AvgPool(w)
                        },
                        out,
                    )
                }
                "concat" => {
                    let maps: Vec<Map> = inputs.iter().map(|&s| g.map_of(s)).collect();
                    let fits = maps.iter().all(|m| (m.h, m.w) == (in_map.h, in_map.w));
                    if !fits || e.concat.as_ref().map(|c| c.m.len()) != Some(inputs.len()) {
                        return Err(err(
                            "a concat needs maps of one height and width and a multiplier per input"
                                .into(),
                        ));
                    }
                    let c = maps.iter().map(|m| m.c).sum();
                    (Op::Concat, Map { c, ..in_map })
                }
                "flatten" => (Op::Flatten, Map::flat(in_map.len())),
                other => return Err(err(format!("unknown node op `{other}`"))),
            };
            if out != e.out {
                return Err(err(format!(
                    "its output map is {out:?}, the manifest says {:?}",
                    e.out
                )));
            }
            g.nodes.push(Node {
                name: e.name.clone(),
                op,
                inputs,
                out,
                signed: e.signed,
            });
        }
        if g.nodes.is_empty() {
            return Err(ImagesError::Layer {
                layer: "(network)".into(),
                reason: "the manifest holds no nodes".into(),
            });
        }
        Ok(g)
    }
}

/// Writes `report.json` next to the images.
pub fn write_report(
    dir: &Path,
    report: &crate::compress::report::Report,
) -> Result<(), ImagesError> {
    let path = dir.join("report.json");
    std::fs::write(&path, report.to_json()).map_err(|e| ImagesError::Write {
        path,
        reason: e.to_string(),
    })
}

/// The pool as (pool, rows) int8 of +-1, for training against it
/// (`tools/adc_train.py`, `make train`) and for `cimpool compress --pool`.
fn write_pool_npy(c: &Compressed, path: &Path) -> std::io::Result<()> {
    let rows = c.config.rows as usize;
    let signs = ndarray::Array2::from_shape_fn((c.pool.len(), rows), |(k, r)| {
        if crate::golden::bit(&c.pool[k], r as u32) {
            1i8
        } else {
            -1i8
        }
    });
    write_npy(signs, path)
}

fn write_npy(a: ndarray::Array2<i8>, path: &Path) -> std::io::Result<()> {
    use ndarray_npy::WriteNpyExt;
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    a.write_npy(file).map_err(std::io::Error::other)
}

/// A compressed network as read back from its images.
#[derive(Clone, Debug)]
pub struct Images {
    pub config: Config,
    pub manifest: Manifest,
    /// The network, from the manifest's nodes.
    pub graph: Graph,
    pub pool: Vec<Load>,
    /// Per layer, per tile (manifest order): its loads.
    pub tiles: Vec<Vec<Vec<Load>>>,
    /// Per layer: the 8-bit weights of an uncompressed layer.
    pub host: Vec<Option<Vec<i8>>>,
}

pub fn read(dir: &Path) -> Result<Images, ImagesError> {
    let text = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).map_err(|e| ImagesError::Read {
            path,
            reason: e.to_string(),
        })
    };
    let manifest_path = dir.join("manifest.json");
    let manifest: Manifest = serde_json::from_str(&text("manifest.json")?)
        .map_err(|e| ImagesError::invalid(&manifest_path, e.to_string()))?;
    if manifest.format != FORMAT {
        return Err(ImagesError::invalid(
            &manifest_path,
            format!(
                "format `{}`, expected `{FORMAT}`; compress the network again with this cimpool",
                manifest.format
            ),
        ));
    }
    let config_path = dir.join(&manifest.config);
    let config = Config::from_file(&config_path)
        .and_then(|c| {
            let c = c.resolved();
            c.validate().map(|_| c)
        })
        .map_err(|source| ImagesError::Config {
            path: config_path.clone(),
            source: Box::new(source),
        })?;
    let d = Derived::new(&config);
    if WordLayout::new(&d) != manifest.word || d.load != manifest.load {
        return Err(ImagesError::invalid(
            &manifest_path,
            format!("its load-port layout does not match {}", manifest.config),
        ));
    }
    let parse = |name: &str| -> Result<Vec<Load>, ImagesError> {
        text(name)?
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                manifest.word.from_hex(l).map_err(|e| {
                    ImagesError::invalid(&dir.join(name), format!("line {}: {e}", i + 1))
                })
            })
            .collect()
    };
    let pool = parse(&manifest.pool_image)?;
    let mut tiles = Vec::new();
    let mut host = Vec::new();
    let graph = manifest.graph()?;
    for l in &manifest.layers {
        let g = &l.geometry;
        if g.fan_in() != l.fan_in || g.out_c != l.out_channels {
            return Err(ImagesError::Layer {
                layer: l.name.clone(),
                reason: format!(
                    "its geometry gives {} inputs per vector and {} channels, the manifest says {} and {}",
                    g.fan_in(),
                    g.out_c,
                    l.fan_in,
                    l.out_channels
                ),
            });
        }
        if l.host {
            host.push(Some(read_host(dir, l)?));
            tiles.push(vec![]);
            continue;
        }
        host.push(None);
        let loads = parse(&l.image)?;
        let mut per_tile = Vec::new();
        for t in &l.tiles {
            if t.first_line + t.lines > loads.len() {
                return Err(ImagesError::invalid(
                    &dir.join(&l.image),
                    format!(
                        "tile (pass {}, block {}) needs lines {}..{} but the file has {}",
                        t.pass,
                        t.block,
                        t.first_line + 1,
                        t.first_line + t.lines,
                        loads.len()
                    ),
                ));
            }
            per_tile.push(loads[t.first_line..t.first_line + t.lines].to_vec());
        }
        tiles.push(per_tile);
    }
    Ok(Images {
        config,
        manifest,
        graph,
        pool,
        tiles,
        host,
    })
}

/// The int8 weights of an uncompressed layer, checked against its shape.
fn read_host(dir: &Path, l: &LayerEntry) -> Result<Vec<i8>, ImagesError> {
    use ndarray_npy::ReadNpyExt;
    let path = dir.join(&l.image);
    let bytes = std::fs::read(&path).map_err(|e| ImagesError::Read {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let a = ndarray::Array2::<i8>::read_npy(&bytes[..])
        .map_err(|e| ImagesError::invalid(&path, format!("{e}; expected int8 weights")))?;
    if l.host_bias.len() != l.out_channels {
        return Err(ImagesError::Layer {
            layer: l.name.clone(),
            reason: format!(
                "{} host biases for {} channels",
                l.host_bias.len(),
                l.out_channels
            ),
        });
    }
    if a.dim() != (l.out_channels, l.fan_in) {
        return Err(ImagesError::invalid(
            &path,
            format!(
                "shape {:?}, expected ({}, {})",
                a.shape(),
                l.out_channels,
                l.fan_in
            ),
        ));
    }
    Ok(a.iter().copied().collect())
}
