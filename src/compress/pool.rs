//! Pool construction (SPEC section 5.2): Lloyd's k-means on L2-normalised
//! row-block vectors, k-means++ seeding, then the sign of each centroid is a
//! binary pool vector. Deterministic for a seed; the assignment step runs
//! on every core. The objective is scikit-learn's `inertia_` (sum of squared
//! distances to the nearest centre), so the two compare directly.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use crate::network::float::dot;

/// Rows of `data` (n x d) scaled to unit length; zero rows stay zero.
pub fn normalized(data: &[f32], d: usize) -> Vec<f32> {
    let mut out = data.to_vec();
    for row in out.chunks_exact_mut(d) {
        let n = dot(row, row).sqrt();
        if n > 0.0 {
            row.iter_mut().for_each(|v| *v /= n);
        }
    }
    out
}

#[derive(Clone, Debug)]
pub struct KMeans {
    /// k x d centres.
    pub centers: Vec<f32>,
    /// Nearest centre of every row after the last update.
    pub labels: Vec<u32>,
    /// Sum of squared distances to the nearest centre (scikit-learn's inertia).
    pub inertia: f64,
    pub iterations: usize,
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Nearest centre and squared distance for every row, in parallel chunks.
fn assign(data: &[f32], d: usize, centers: &[f32]) -> (Vec<u32>, Vec<f32>) {
    let n = data.len() / d;
    let norms: Vec<f32> = centers.chunks_exact(d).map(|c| dot(c, c)).collect();
    let mut labels = vec![0u32; n];
    let mut dist = vec![0f32; n];
    let chunk = n.div_ceil(threads()).max(1);
    std::thread::scope(|s| {
        for ((rows, labs), ds) in data
            .chunks(chunk * d)
            .zip(labels.chunks_mut(chunk))
            .zip(dist.chunks_mut(chunk))
        {
            let norms = &norms;
            s.spawn(move || {
                for ((x, l), dd) in rows.chunks_exact(d).zip(labs).zip(ds) {
                    let xx = dot(x, x);
                    let (mut best, mut best_k) = (f32::INFINITY, 0);
                    for (k, c) in centers.chunks_exact(d).enumerate() {
                        let v = norms[k] - 2.0 * dot(x, c);
                        if v < best {
                            (best, best_k) = (v, k);
                        }
                    }
                    *l = best_k as u32;
                    *dd = (xx + best).max(0.0);
                }
            });
        }
    });
    (labels, dist)
}

/// k-means++: each next centre drawn with probability proportional to the
/// squared distance to the nearest centre so far.
fn seed_centers(data: &[f32], d: usize, k: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let n = data.len() / d;
    let row = |i: usize| &data[i * d..(i + 1) * d];
    let mut centers = row(rng.gen_range(0..n)).to_vec();
    let mut nearest = vec![f32::INFINITY; n];
    for _ in 1..k {
        let last = centers[centers.len() - d..].to_vec();
        let chunk = n.div_ceil(threads()).max(1);
        std::thread::scope(|s| {
            for (rows, ds) in data.chunks(chunk * d).zip(nearest.chunks_mut(chunk)) {
                let last = &last;
                s.spawn(move || {
                    for (x, dd) in rows.chunks_exact(d).zip(ds) {
                        let v: f32 = x.iter().zip(last).map(|(a, b)| (a - b) * (a - b)).sum();
                        *dd = dd.min(v);
                    }
                });
            }
        });
        let total: f64 = nearest.iter().map(|&v| v as f64).sum();
        let pick = if total > 0.0 {
            let mut r = rng.gen_range(0.0..total);
            nearest
                .iter()
                .position(|&v| {
                    r -= v as f64;
                    r < 0.0
                })
                .unwrap_or(n - 1)
        } else {
            rng.gen_range(0..n)
        };
        centers.extend_from_slice(row(pick));
    }
    centers
}

/// Lloyd's algorithm for exactly `iterations` updates (fewer if the labels
/// stop changing), then a final assignment to the final centres.
pub fn kmeans(
    data: &[f32],
    d: usize,
    k: usize,
    iterations: usize,
    seed: u64,
    mut progress: impl FnMut(usize),
) -> KMeans {
    let n = data.len() / d;
    assert!(n >= k && k > 0, "k-means of {n} vectors into {k} clusters");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut centers = seed_centers(data, d, k, &mut rng);
    let mut previous: Option<Vec<u32>> = None;
    let mut done = 0;
    for it in 0..iterations {
        let (labels, _) = assign(data, d, &centers);
        let mut sums = vec![0f64; k * d];
        let mut counts = vec![0usize; k];
        for (x, &l) in data.chunks_exact(d).zip(&labels) {
            counts[l as usize] += 1;
            for (s, v) in sums[l as usize * d..(l as usize + 1) * d].iter_mut().zip(x) {
                *s += *v as f64;
            }
        }
        for c in 0..k {
            // An empty cluster keeps its centre.
            if counts[c] > 0 {
                for j in 0..d {
                    centers[c * d + j] = (sums[c * d + j] / counts[c] as f64) as f32;
                }
            }
        }
        done = it + 1;
        progress(done);
        if previous.as_ref() == Some(&labels) {
            break;
        }
        previous = Some(labels);
    }
    let (labels, dist) = assign(data, d, &centers);
    KMeans {
        centers,
        labels,
        inertia: dist.iter().map(|&v| v as f64).sum(),
        iterations: done,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separated_clusters_are_found_deterministically() {
        // Three tight clusters around orthogonal unit vectors in 4-D.
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut data = Vec::new();
        for i in 0..300 {
            let mut v = vec![0f32; 4];
            v[i % 3] = 1.0;
            for x in v.iter_mut() {
                *x += rng.gen_range(-0.05..0.05);
            }
            data.extend(v);
        }
        let a = kmeans(&data, 4, 3, 10, 7, |_| {});
        let b = kmeans(&data, 4, 3, 10, 7, |_| {});
        assert_eq!(a.labels, b.labels);
        for i in 0..300 {
            assert_eq!(a.labels[i], a.labels[i % 3], "row {i}");
        }
        assert!(a.inertia < 300.0 * 4.0 * 0.05 * 0.05, "{}", a.inertia);
    }

    #[test]
    fn dot_matches_plain_sum() {
        let a: Vec<f32> = (0..21).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..21).map(|i| 3.0 - i as f32).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - plain).abs() < 1e-3);
    }
}
