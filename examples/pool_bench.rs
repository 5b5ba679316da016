//! Pool construction on a ResNet-18-sized set of vectors (random normal
//! weights of ResNet-18's layer shapes, 11.7 M weights), timed against
//! scikit-learn's KMeans on the same data with the same iteration count.
//!
//! Run: `make bench-pool` (installs the pinned scikit-learn), or
//! `cargo run --release --example pool_bench -- [iterations] [pool]`.

use cimpool::compress::pool;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use std::time::Instant;

/// (out, in, kh, kw) of every weight layer of ResNet-18.
fn resnet18() -> Vec<(usize, usize, usize, usize)> {
    let mut v = vec![(64, 3, 7, 7)];
    v.extend([(64, 64, 3, 3); 4]);
    for (c, p) in [(128, 64), (256, 128), (512, 256)] {
        v.push((c, p, 3, 3));
        v.extend([(c, c, 3, 3); 3]);
        v.push((c, p, 1, 1));
    }
    v.push((1000, 512, 1, 1));
    v
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let iterations = args.first().copied().unwrap_or(10);
    let k = args.get(1).copied().unwrap_or(128);
    let rows = 128;
    let mut rng = ChaCha8Rng::seed_from_u64(18);
    let normal = Normal::new(0.0f32, 1.0).unwrap();
    let mut vectors = Vec::new();
    let mut weights = 0;
    for (o, i, h, w) in resnet18() {
        let fan_in = i * h * w;
        weights += o * fan_in;
        for _ in 0..o {
            let row: Vec<f32> = (0..fan_in).map(|_| normal.sample(&mut rng)).collect();
            for block in row.chunks(rows) {
                let mut b = block.to_vec();
                b.resize(rows, 0.0);
                vectors.extend(b);
            }
        }
    }
    let data = pool::normalized(&vectors, rows);
    let n = data.len() / rows;
    let path = std::env::temp_dir().join("cimpool_pool_bench.npy");
    let array = ndarray::Array2::from_shape_vec((n, rows), data.clone()).unwrap();
    ndarray_npy::write_npy(&path, &array).unwrap();
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    println!(
        "ResNet-18 shapes: {weights} weights -> {n} vectors of {rows}; pool of {k}; {iterations} Lloyd iterations; {threads} threads"
    );
    let start = Instant::now();
    let km = pool::kmeans(&data, rows, k, iterations, 1, |_| {});
    let ours = start.elapsed().as_secs_f64();
    println!(
        "cimpool  k-means++ + Lloyd: {ours:6.2} s, {} iterations, inertia {:.1}",
        km.iterations, km.inertia
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/kmeans_baseline.py");
    // `make bench-pool` points PYTHON at the tools' pinned environment.
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let status = std::process::Command::new(&python)
        .args([
            script,
            &path.display().to_string(),
            &k.to_string(),
            &iterations.to_string(),
        ])
        .status()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}; run `make venv`"));
    assert!(
        status.success(),
        "the scikit-learn baseline failed; install it with `pip install -r tools/requirements.txt`"
    );
    let _ = std::fs::remove_file(&path);
}
