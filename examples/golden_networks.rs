//! Golden-model inference time on whole networks: a built-in network with
//! seeded random weights, compressed for a configuration, then `images` ->
//! `run::golden` on random inputs. Prints seconds per image.
//! Run: `cargo run --release --example golden_networks -- [NETWORK] [IMAGES] [CONFIG.toml]`
//! (default: resnet18-cifar, 8 images, the embedded default configuration).

use cimpool::compress;
use cimpool::config::Config;
use cimpool::network::builtin;
use cimpool::{images, run};
use rand::{Rng, SeedableRng};
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).map(String::as_str).unwrap_or("resnet18-cifar");
    let count: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(8);
    let config = match args.get(3) {
        Some(p) => Config::from_file(std::path::Path::new(p))?,
        None => Config::default(),
    }
    .resolved();
    config.validate()?;
    let desc = builtin::network(name).ok_or_else(|| anyhow::anyhow!("no network {name}"))?;
    let net = desc.network(&builtin::random_weights(&desc, 1))?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
    let mut inputs = |n: usize| -> Vec<Vec<i64>> {
        (0..n)
            .map(|_| {
                (0..net.graph.input.len())
                    .map(|_| rng.gen_range(0..256))
                    .collect()
            })
            .collect()
    };
    let calib = inputs(8);
    let options = compress::Options {
        keep_ratio: 0.5,
        iterations: 10,
        seed: 1,
        pool: None,
        sparsity: 0.0,
        scales: None,
        choices: None,
        moments: None,
    };
    let start = Instant::now();
    let c = compress::compress(&config, &net, &calib, &options, |_, _, _| {})?;
    let compress_s = start.elapsed().as_secs_f64();
    let dir = std::env::temp_dir().join(format!("cimpool-golden-{name}-{}", std::process::id()));
    images::write(&c, &dir)?;
    let imgs = images::read(&dir)?;
    let x = inputs(count);
    let start = Instant::now();
    let out = run::golden(&imgs, &x, |_, _| {})?;
    let secs = start.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    let threads = rayon::current_num_threads();
    println!(
        "{name}: {} weights in {} engine layers, compressed in {compress_s:.1} s; golden model: {count} images in {secs:.2} s = {:.3} s per image ({threads} threads); {} outputs per image",
        c.budget().weights,
        c.layers.len(),
        secs / count as f64,
        out[0].len()
    );
    Ok(())
}
