//! The dense engine's MARS flow on the digits MLP (fixtures in
//! `fixtures/digits/`): quantization to w_bits and block pruning, memory
//! images, the golden model from them against a plain integer reference,
//! a compressed layer under Verilator with `skip` and with dense storage of
//! the same pruned weights (same outputs, fewer cycles), and bad input.

mod common;

use cimpool::compress;
use cimpool::config::Config;
use cimpool::cosim::scenario::{Command, Scenario};
use cimpool::golden::bit;
use cimpool::network::{model::ModelDesc, tensors};
use cimpool::{images, run};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/digits")
        .join(name)
}

/// The digits MLP compressed for a dense engine (the digits hardware with
/// `extra` config lines), written as images and read back.
fn dense_images(extra: &str, sparsity: f64) -> (tempfile::TempDir, images::Images) {
    let text = std::fs::read_to_string(fixture("hw.toml")).unwrap()
        + "engine = 'dense'\nwl_parallel = 16\n"
        + extra;
    let config = Config::from_toml(&text).unwrap().resolved();
    config.validate().unwrap();
    let ts = tensors::read_tensors(&fixture("mlp.npz")).unwrap();
    let desc =
        ModelDesc::from_toml(&std::fs::read_to_string(fixture("model.toml")).unwrap()).unwrap();
    let net = desc.network(&ts).unwrap();
    let calib = tensors::read_dataset(&fixture("calib.npz"), false).unwrap();
    let options = compress::Options {
        keep_ratio: 0.0,
        iterations: 0,
        seed: 1,
        pool: None,
        sparsity,
        scales: None,
        choices: None,
        moments: None,
    };
    let c = compress::compress(&config, &net, &calib.x, &options, |_, _, _| {}).unwrap();
    let dir = tempfile::tempdir().unwrap();
    images::write(&c, dir.path()).unwrap();
    let imgs = images::read(dir.path()).unwrap();
    (dir, imgs)
}

/// Layer `li`'s integer weights read back from its tiles' weight columns
/// (bit j of lane o in column j + w_bits o of its macro), independently of
/// the golden model: (channel, input) -> weight.
fn weights_from_tiles(c: &compress::Compressed, li: usize) -> Vec<Vec<i64>> {
    let cfg = &c.config;
    let l = &c.layers[li];
    let (rows, w, wb) = (cfg.rows as usize, cfg.wl_parallel as usize, cfg.w_bits);
    let lanes = cfg.lanes() as usize;
    let per_macro = (cfg.cols / wb) as usize;
    let mut out = vec![vec![0i64; l.fan_in]; l.out_channels];
    for t in &l.tiles {
        for (lane, row) in out.iter_mut().enumerate().skip(t.pass * lanes).take(lanes) {
            let ln = lane - t.pass * lanes;
            let (m, o) = (ln / per_macro, ln % per_macro);
            for r in 0..rows {
                let k = t.block * rows + r;
                if k >= l.fan_in || !t.phase_valid.get(r / w).copied().unwrap_or(true) {
                    continue;
                }
                let raw: i64 = (0..wb)
                    .map(|j| {
                        let col = m * cfg.cols as usize + j as usize + wb as usize * o;
                        (bit(&t.error[col], r as u32) as i64) << j
                    })
                    .sum();
                // Two's complement of w_bits bits.
                row[k] = if raw >= 1 << (wb - 1) {
                    raw - (1 << wb)
                } else {
                    raw
                };
            }
        }
    }
    out
}

/// With exact read-out the golden model from the images equals a plain
/// integer matmul with the weights in the tiles, then the requantization,
/// layer by layer; pruned blocks are zero and the weights are 4-bit.
#[test]
fn dense_golden_from_images_equals_integer_matmul() {
    let (dir, imgs) = dense_images("sparsity = 'skip'\n", 0.5);
    let test = tensors::read_dataset(&fixture("test.npz"), true).unwrap();
    let samples = &test.x[..40];
    // The same network compressed again (deterministic) for its tiles.
    let text = std::fs::read_to_string(dir.path().join("cim_config.toml")).unwrap();
    assert!(text.contains("engine = \"dense\""));
    let ts = tensors::read_tensors(&fixture("mlp.npz")).unwrap();
    let desc =
        ModelDesc::from_toml(&std::fs::read_to_string(fixture("model.toml")).unwrap()).unwrap();
    let net = desc.network(&ts).unwrap();
    let calib = tensors::read_dataset(&fixture("calib.npz"), false).unwrap();
    let c = compress::compress(
        &imgs.config,
        &net,
        &calib.x,
        &compress::Options {
            keep_ratio: 0.0,
            iterations: 0,
            seed: 1,
            pool: None,
            sparsity: 0.5,
            scales: None,
            choices: None,
            moments: None,
        },
        |_, _, _| {},
    )
    .unwrap();
    let mut x: Vec<Vec<i64>> = samples.to_vec();
    for (li, l) in c.layers.iter().enumerate() {
        let w = weights_from_tiles(&c, li);
        assert!(w.iter().flatten().all(|&v| (-7..=7).contains(&v)));
        let zeros = w.iter().flatten().filter(|&&v| v == 0).count();
        assert!(
            zeros * 2 >= l.out_channels * l.fan_in,
            "half the blocks are pruned"
        );
        let want: Vec<Vec<i64>> = x
            .iter()
            .map(|v| {
                w.iter()
                    .zip(&l.scales.bias_int)
                    .map(|(row, &b)| {
                        let acc: i128 = row.iter().zip(v).map(|(&a, &b)| (a * b) as i128).sum();
                        cimpool::golden::requantize(
                            l.scales.alpha_int as i128 * acc + b as i128,
                            l.scales.shift,
                            l.relu,
                            imgs.config.out_bits,
                        )
                    })
                    .collect()
            })
            .collect();
        let got = run::golden_at(&imgs, samples, li, |_, _| {}).unwrap();
        assert_eq!(got, want, "layer {}", l.name);
        x = want;
    }
}

/// Layer `li` of the images, every test sample's vectors with its tiles'
/// loads, under Verilator: outputs bit-exact, every cycle checked against
/// the cycle model.
fn cosim_layer(imgs: &images::Images, li: usize, samples: usize) -> cimpool::cosim::driver::Report {
    common::require_tool("verilator");
    let test = tensors::read_dataset(&fixture("test.npz"), true).unwrap();
    let layer = &imgs.manifest.layers[li];
    let maps = if li == 0 {
        test.x[..samples].to_vec()
    } else {
        run::golden_at(imgs, &test.x[..samples], li - 1, |_, _| {}).unwrap()
    };
    let vectors: Vec<Vec<i64>> = maps
        .iter()
        .flat_map(|map| layer.geometry.im2col(map, 0))
        .collect();
    let input = |x: &[i64], tile: &images::TileEntry| {
        let mut v = x[tile.rows[0]..tile.rows[1]].to_vec();
        v.resize(imgs.config.rows as usize, 0);
        Command::Input {
            x: v,
            first: tile.block == 0,
            last: tile.block + 1 == layer.row_blocks,
        }
    };
    let mut commands = Vec::new();
    if layer.row_blocks == 1 {
        // One load of each tile, then every vector through it.
        for (ti, tile) in layer.tiles.iter().enumerate() {
            commands.extend(imgs.tiles[li][ti].iter().cloned().map(Command::Load));
            commands.extend(vectors.iter().map(|x| input(x, tile)));
        }
    } else {
        // A vector's sums live in the engine across its row blocks.
        for x in &vectors {
            for (ti, tile) in layer.tiles.iter().enumerate() {
                commands.extend(imgs.tiles[li][ti].iter().cloned().map(Command::Load));
                commands.push(input(x, tile));
            }
        }
    }
    let (_tmp, pkg) = common::generate(&imgs.config);
    let build = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cosim");
    cimpool::cosim::cosimulate_scenario(&pkg, &build, &Scenario { commands }, Default::default())
        .unwrap_or_else(|e| panic!("co-simulation of the dense `{}` failed:\n{e}", layer.name))
}

/// fc1 pruned to 50% of its phase blocks: with `skip` the RTL gives the
/// golden outputs from the images in fewer cycles than dense storage of
/// the same pruned weights (each tile loaded once, 40 vectors through it).
#[test]
fn pruned_dense_layer_runs_bit_exact_and_skips_cycles_under_verilator() {
    let (_a, skip) = dense_images("sparsity = 'skip'\n", 0.5);
    let (_b, dense) = dense_images("", 0.5);
    let r_skip = cosim_layer(&skip, 0, 40);
    let r_dense = cosim_layer(&dense, 0, 40);
    assert_eq!(r_skip.beats, r_dense.beats);
    eprintln!(
        "dense fc1, 50% of phase blocks pruned, 40 samples: {} cycles with skip, {} with dense storage",
        r_skip.cycles, r_dense.cycles
    );
    assert!(
        r_skip.cycles * 10 < r_dense.cycles * 7,
        "skip {} vs dense {}",
        r_skip.cycles,
        r_dense.cycles
    );
}

/// fc2 spans 2 row blocks: the lane accumulators carry each vector's sums
/// from one tile to the next.
#[test]
fn two_row_block_dense_layer_runs_bit_exact_under_verilator() {
    let (_a, skip) = dense_images("sparsity = 'skip'\n", 0.5);
    assert_eq!(skip.manifest.layers[1].row_blocks, 2);
    let r = cosim_layer(&skip, 1, 6);
    assert!(r.output_vectors >= 6, "{r:?}");
}

#[test]
fn compact_storage_holds_only_its_slots_and_runs_bit_exact() {
    let (_d, imgs) = dense_images("sparsity = 'compact'\nslots = 2\n", 0.5);
    // 2 slots of 16 word lines: the macros are 32 rows, not 64.
    assert_eq!(cimpool::config::Derived::new(&imgs.config).macro_rows, 32);
    let r = cosim_layer(&imgs, 0, 6);
    let last_tiles = imgs.manifest.layers[0]
        .tiles
        .iter()
        .filter(|t| t.block + 1 == imgs.manifest.layers[0].row_blocks)
        .count();
    assert_eq!(r.output_vectors, 6 * last_tiles);
}

#[test]
fn bad_dense_input_is_refused_with_the_field_named() {
    let hw = fixture("hw.toml");
    let hw = hw.to_str().unwrap();
    let common_args = |extra: &[&'static str]| {
        let mut v = vec![
            "compress",
            "--weights",
            "fixtures/digits/mlp.npz",
            "--model",
            "fixtures/digits/model.toml",
            "--calib",
            "fixtures/digits/calib.npz",
            "--out",
            "/tmp/cimpool-dense-refused",
        ];
        v.extend_from_slice(extra);
        v
    };
    let mut args = common_args(&["--engine", "dense", "--w-bits", "9", "--config"]);
    args.push(hw);
    common::assert_refused(&args, "config field `w_bits` = 9");
    let mut args = common_args(&[
        "--engine",
        "dense",
        "--set",
        "wl_parallel=16",
        "--set",
        "slots=5",
        "--config",
    ]);
    args.push(hw);
    common::assert_refused(&args, "config field `slots` = 5");
    let mut args = common_args(&[
        "--engine",
        "dense",
        "--set",
        "wl_parallel=16",
        "--set",
        "sparsity=compact",
        "--set",
        "slots=2",
        "--sparsity",
        "0.2",
        "--config",
    ]);
    args.push(hw);
    common::assert_refused(&args, "slots = 2 of 4 phases needs --sparsity >= 0.500");
    let mut args = common_args(&["--sparsity", "0.5", "--config"]);
    args.push(hw);
    common::assert_refused(&args, "--sparsity prunes the dense engine's phase blocks");
    let mut args = common_args(&["--engine", "dense", "--sparsity", "1", "--config"]);
    args.push(hw);
    common::assert_refused(&args, "block sparsity (--sparsity) = 1 is invalid");
    common::assert_refused(
        &[
            "gen",
            "--engine",
            "dense",
            "--cols",
            "30",
            "--out",
            "/tmp/cimpool-dense-refused",
        ],
        "config field `w_bits` = 4 is invalid: w_bits must divide cols (30)",
    );
}
