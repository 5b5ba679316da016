//! Golden-model throughput: input vectors per second through the whole
//! engine (macros, crossbar, accumulators, requantization).
//! Run: `cargo bench --bench golden` (figures: vectors/s = 1 / time).

use cimpool::config::Config;
use cimpool::cosim::scenario::{random_scenario, Command};
use cimpool::golden::Engine;
use cimpool::loadport::LoadPort;

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
