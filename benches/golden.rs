//! Golden-model throughput: input vectors per second through the whole
//! engine (macros, crossbar, accumulators, requantization), one vector at a
//! time (`Engine`, the reference) and in batches on every core
//! (`golden::fast`, what `cimpool run` uses).
//! Run: `cargo bench --bench golden` (divan prints items/s).

use cimpool::config::Config;
use cimpool::cosim::scenario::{random_scenario, Command};
use cimpool::golden::{fast, Engine};
use cimpool::loadport::LoadPort;
use rayon::prelude::*;

fn main() {
    divan::main();
}

fn engine_and_vectors(toml: &str) -> (Engine, Vec<Vec<i64>>) {
    let c = Config::from_toml(toml).unwrap().resolved();
    let mut port = LoadPort::new(&c);
    let mut engine = Engine::new(&c, port.empty_weights());
    let mut vectors = Vec::new();
    for cmd in random_scenario(&c, 1, 64).commands {
        match cmd {
            Command::Load(l) => port
                .apply(&mut engine.weights, &l)
                .expect("scenario loads decode"),
            Command::Input { x, .. } => vectors.push(x),
            Command::Reset { .. } => {} // random scenarios have none
        }
    }
    (engine, vectors)
}

/// Configurations as `macros x rows x cols`.
#[divan::bench(args = ["8x32x32", "8x128x128"])]
fn engine_step(bencher: divan::Bencher, shape: &str) {
    let n: Vec<&str> = shape.split('x').collect();
    let (mut engine, vectors) = engine_and_vectors(&format!(
        "macros = {}\nrows = {}\ncols = {}",
        n[0], n[1], n[2]
    ));
    let mut i = 0;
    bencher
        .counter(divan::counter::ItemsCount::new(1usize))
        .bench_local(|| {
            i = (i + 1) % vectors.len();
            engine.step(divan::black_box(&vectors[i]), true, true)
        });
}

/// A batch of 4,096 vectors through every lane, on every core.
#[divan::bench(args = ["8x32x32", "8x128x128"], sample_count = 10)]
fn fast_batch(bencher: divan::Bencher, shape: &str) {
    let n: Vec<&str> = shape.split('x').collect();
    let toml = format!("macros = {}\nrows = {}\ncols = {}", n[0], n[1], n[2]);
    let c = Config::from_toml(&toml).unwrap().resolved();
    let (engine, vectors) = engine_and_vectors(&toml);
    let batch: Vec<Vec<i64>> = vectors.iter().cycle().take(4096).cloned().collect();
    let lanes = engine.weights.index.len();
    let mut sums = vec![fast::LaneSums::default(); batch.len()];
    bencher
        .counter(divan::counter::ItemsCount::new(batch.len()))
        .bench_local(|| {
            fast::accumulate(
                &c,
                &engine.weights,
                lanes,
                divan::black_box(&batch[..]),
                0..c.rows as usize,
                &mut sums,
                true,
            );
            // Requantized in parallel, as `cimpool run` does.
            sums.par_iter()
                .map(|s| fast::outputs(&c, &engine.weights, s)[0])
                .sum::<i64>()
        });
}
