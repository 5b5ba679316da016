//! Memory images for the load port: one `$readmemh` file per layer plus the
//! pool's, one line per load-port write, and `manifest.json` saying which
//! lines load which tile (layer, output-channel pass, row block).
//!
//! A line is the hex value of the word `{load_sel, load_addr, load_data}`
//! (data in the low bits); the manifest gives each field's bit range.

use super::geometry::Geometry;
use super::{Compressed, CompressedLayer, Tile};
use crate::config::{Config, Derived};
use crate::loadport::{get, put, words_for, Load, LoadPort};
use serde::{Deserialize, Serialize};
use std::path::Path;

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
    /// Input map, kernel, output map and max pooling: the software around
    /// the engine forms input vectors by im2col and pools its outputs.
    pub geometry: Geometry,
    pub row_blocks: usize,
    pub passes: usize,
    pub input_scale: f64,
    pub output_scale: f64,
    pub alpha: i64,
    pub beta: i64,
    pub shift: u32,
    pub tiles: Vec<TileEntry>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: String,
    /// The hardware configuration the images are for (in the same folder).
    pub config: String,
    pub word: WordLayout,
    pub input_scale: f64,
    /// Load this once, before any layer.
    pub pool_image: String,
    pub pool_lines: usize,
    pub layers: Vec<LayerEntry>,
}

pub const FORMAT: &str = "cimpool-images-2";

pub fn pool_loads(c: &Compressed, port: &LoadPort) -> Vec<Load> {
    c.pool
        .iter()
        .enumerate()
        .map(|(k, col)| port.pool_column(k as u32, col))
        .collect()
}

/// Every write of one tile: error columns, lane words, scales.
pub fn tile_loads(l: &CompressedLayer, t: &Tile, port: &LoadPort) -> Vec<Load> {
    let lanes = t.index.len();
    let fields = port
        .select_fields(&t.index)
        .expect("the compressor's Benes groups are permutations");
    let mut loads: Vec<Load> = (0..lanes)
        .map(|ln| port.error_column(ln as u32, &t.error[ln]))
        .collect();
    for (ln, &field) in fields.iter().enumerate() {
        let c = t.pass * lanes + ln;
        let bias = l.bias_int.get(c).copied().unwrap_or(0);
        loads.push(port.lane(ln as u32, field, t.mask[ln], bias));
    }
    loads.push(port.scales(l.alpha_int, l.beta_int, l.shift));
    loads
}

/// Writes `cim_config.toml`, `pool.hex`, one `<layer>.hex` per layer and
/// `manifest.json` into `dir`.
pub fn write(c: &Compressed, dir: &Path) -> std::io::Result<Manifest> {
    std::fs::create_dir_all(dir)?;
    let d = Derived::new(&c.config);
    let port = LoadPort::new(&c.config);
    let word = WordLayout::new(&d);
    let lines = |loads: &[Load]| {
        loads
            .iter()
            .map(|l| word.to_hex(l) + "\n")
            .collect::<String>()
    };
    std::fs::write(dir.join("cim_config.toml"), c.config.to_toml())?;
    let pool = pool_loads(c, &port);
    std::fs::write(dir.join("pool.hex"), lines(&pool))?;
    write_pool_npy(c, &dir.join("pool.npy"))?;
    let lanes = d.lanes as usize;
    let rows = c.config.rows as usize;
    let mut layers = Vec::new();
    for l in &c.layers {
        let mut text = String::new();
        let mut tiles = Vec::new();
        let mut line = 0;
        for t in &l.tiles {
            let loads = tile_loads(l, t, &port);
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
                )?;
                image
            }
            None => {
                let image = format!("{stem}.hex");
                std::fs::write(dir.join(&image), text)?;
                image
            }
        };
        layers.push(LayerEntry {
            name: l.name.clone(),
            relu: l.relu,
            image,
            host: l.host.is_some(),
            host_bias: if l.host.is_some() {
                l.bias_int.clone()
            } else {
                vec![]
            },
            out_channels: l.out_channels,
            fan_in: l.fan_in,
            geometry: l.geometry,
            row_blocks: l.row_blocks,
            passes: l.passes,
            input_scale: l.input_scale,
            output_scale: l.output_scale,
            alpha: l.alpha_int,
            beta: l.beta_int,
            shift: l.shift,
            tiles,
        });
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        config: "cim_config.toml".into(),
        word,
        input_scale: c.input_scale,
        pool_image: "pool.hex".into(),
        pool_lines: pool.len(),
        layers,
    };
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_string_pretty(&manifest).expect("manifest serializes") + "\n",
    )?;
    Ok(manifest)
}

/// The pool as (pool, rows) int8 of +-1, for training against it
/// (`tools/finetune_digits.py`) and for `cimpool compress --pool`.
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
pub struct Images {
    pub config: Config,
    pub manifest: Manifest,
    pub pool: Vec<Load>,
    /// Per layer, per tile (manifest order): its loads.
    pub tiles: Vec<Vec<Vec<Load>>>,
    /// Per layer: the 8-bit weights of an uncompressed layer.
    pub host: Vec<Option<Vec<i8>>>,
}

pub fn read(dir: &Path) -> anyhow::Result<Images> {
    let text = |name: &str| {
        std::fs::read_to_string(dir.join(name))
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", dir.join(name).display()))
    };
    let manifest: Manifest = serde_json::from_str(&text("manifest.json")?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", dir.join("manifest.json").display()))?;
    anyhow::ensure!(
        manifest.format == FORMAT,
        "{}: format `{}`, expected `{FORMAT}`",
        dir.join("manifest.json").display(),
        manifest.format
    );
    let config = Config::from_file(&dir.join(&manifest.config))?.resolved();
    config.validate()?;
    anyhow::ensure!(
        WordLayout::new(&Derived::new(&config)) == manifest.word,
        "the manifest's word layout does not match {}",
        manifest.config
    );
    let parse = |name: &str| -> anyhow::Result<Vec<Load>> {
        text(name)?
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                manifest
                    .word
                    .from_hex(l)
                    .map_err(|e| anyhow::anyhow!("{name} line {}: {e}", i + 1))
            })
            .collect()
    };
    let pool = parse(&manifest.pool_image)?;
    let mut tiles = Vec::new();
    let mut host = Vec::new();
    for (i, l) in manifest.layers.iter().enumerate() {
        let g = &l.geometry;
        anyhow::ensure!(
            g.fan_in() == l.fan_in && g.out_c == l.out_channels,
            "layer `{}`: its geometry gives {} inputs per vector and {} channels, the manifest says {} and {}",
            l.name,
            g.fan_in(),
            g.out_c,
            l.fan_in,
            l.out_channels
        );
        if let Some(next) = manifest.layers.get(i + 1) {
            anyhow::ensure!(
                g.outputs() == next.geometry.inputs(),
                "layer `{}` gives {} values but `{}` takes {}",
                l.name,
                g.outputs(),
                next.name,
                next.geometry.inputs()
            );
        }
        if l.host {
            use ndarray_npy::ReadNpyExt;
            let path = dir.join(&l.image);
            let bytes = std::fs::read(&path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            let a = ndarray::Array2::<i8>::read_npy(&bytes[..])
                .map_err(|e| anyhow::anyhow!("{}: {e}; expected int8 weights", path.display()))?;
            anyhow::ensure!(
                l.host_bias.len() == l.out_channels,
                "layer `{}`: {} host biases for {} channels",
                l.name,
                l.host_bias.len(),
                l.out_channels
            );
            anyhow::ensure!(
                a.dim() == (l.out_channels, l.fan_in),
                "{}: shape {:?}, expected ({}, {})",
                path.display(),
                a.shape(),
                l.out_channels,
                l.fan_in
            );
            host.push(Some(a.iter().copied().collect()));
            tiles.push(vec![]);
            continue;
        }
        host.push(None);
        let loads = parse(&l.image)?;
        let mut per_tile = Vec::new();
        for t in &l.tiles {
            anyhow::ensure!(
                t.first_line + t.lines <= loads.len(),
                "{}: tile (pass {}, block {}) needs lines {}..{} but the file has {}",
                l.image,
                t.pass,
                t.block,
                t.first_line + 1,
                t.first_line + t.lines,
                loads.len()
            );
            per_tile.push(loads[t.first_line..t.first_line + t.lines].to_vec());
        }
        tiles.push(per_tile);
    }
    Ok(Images {
        config,
        manifest,
        pool,
        tiles,
        host,
    })
}
