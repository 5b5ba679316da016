//! Step 7 of docs/SPEC.md section 5: what a compression costs and keeps,
//! per layer and for the network, as a terminal table and as report.json.

use super::{Compressed, CompressedLayer, Options};
use crate::network::float::accuracy;
use crate::network::model::Network;
use crate::network::tensors::Dataset;
use rayon::prelude::*;
use serde::Serialize;
use std::fmt::Write;

#[derive(Clone, Debug, Default, Serialize)]
pub struct LayerStats {
    pub name: String,
    pub weights: usize,
    pub row_blocks: usize,
    pub passes: usize,
    pub alpha: f32,
    pub beta: f32,
    pub kept_tiles: usize,
    pub tiles: usize,
    pub sqnr_db: f64,
    /// Lanes of a (group, row block) sharing a pool index with an earlier
    /// lane: legal for `mux`, impossible for `benes`.
    pub non_repeating_violations: usize,
    pub index_bits: u64,
    pub error_bits: u64,
    pub mask_bits: u64,
    pub scale_bits: u64,
    /// 8-bit weights of an uncompressed layer.
    pub host_weight_bits: u64,
    /// Dense engine: `w_bits` per kept weight; the tiles' valid bits or
    /// slot codes; tiles where the slot count stopped a unit being kept.
    pub dense_weight_bits: u64,
    pub sparsity_memory_bits: u64,
    pub slot_limited_tiles: usize,
    /// Dense engine: compute (issue) cycles one input vector takes through
    /// every tile of the layer, as pruned and with every phase computed.
    pub issue_steps_per_vector: u64,
    pub dense_issue_steps_per_vector: u64,
    /// With a lossy ADC: the run-time ADC step calibration chose.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adc_shift: Option<u32>,
}

/// Reconstruction SQNR of `effective` against the float weights, in dB.
pub fn sqnr_db(weights: &[f32], effective: &[f32]) -> f64 {
    let (sig, noise) = weights
        .iter()
        .zip(effective)
        .fold((0f64, 0f64), |(s, n), (&w, &e)| {
            (s + (w as f64).powi(2), n + (w as f64 - e as f64).powi(2))
        });
    10.0 * (sig / noise.max(1e-30)).log10()
}

/// Bits per weight of the whole compressed network, by kind.
#[derive(Clone, Debug, Serialize)]
pub struct Budget {
    pub weights: usize,
    pub index: f64,
    pub error: f64,
    pub mask: f64,
    pub scales: f64,
    pub pool: f64,
    /// 8-bit weights of uncompressed layers.
    pub uncompressed: f64,
    /// Dense engine: the kept `w_bits` weights and the sparsity memory.
    pub dense_weights: f64,
    pub sparsity_memory: f64,
    pub total: f64,
    pub vs_8bit: f64,
    pub vs_4bit: f64,
}

impl Compressed {
    pub fn budget(&self) -> Budget {
        let weights: usize = self.layers.iter().map(|l| l.stats.weights).sum();
        let w = weights as f64;
        let sum = |f: fn(&LayerStats) -> u64| {
            self.layers.iter().map(|l| f(&l.stats)).sum::<u64>() as f64 / w
        };
        let (index, error, mask, scales) = (
            sum(|s| s.index_bits),
            sum(|s| s.error_bits),
            sum(|s| s.mask_bits),
            sum(|s| s.scale_bits),
        );
        let pool = (self.pool.len() as u32 * self.config.rows) as f64 / w;
        let uncompressed = sum(|s| s.host_weight_bits);
        let dense_weights = sum(|s| s.dense_weight_bits);
        let sparsity_memory = sum(|s| s.sparsity_memory_bits);
        let total =
            index + error + mask + scales + pool + uncompressed + dense_weights + sparsity_memory;
        Budget {
            weights,
            index,
            error,
            mask,
            scales,
            pool,
            uncompressed,
            dense_weights,
            sparsity_memory,
            total,
            vs_8bit: 8.0 / total,
            vs_4bit: 4.0 / total,
        }
    }

    /// Terminal table of the report.
    pub fn table(&self) -> String {
        if self.config.is_dense() {
            return self.dense_table();
        }
        let mut s = String::from(
            "| layer | weights | row blocks | passes | alpha | beta | error tiles kept | SQNR (dB) | non-repeating violations |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for l in &self.layers {
            let t = &l.stats;
            if l.host.is_some() {
                let _ = writeln!(
                    s,
                    "| {} | {} | uncompressed: 8-bit weights on the host, step {:.5} | | | | | {:.2} | |",
                    t.name, t.weights, t.alpha, t.sqnr_db
                );
                continue;
            }
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {:.4} | {:.4} | {} / {} | {:.2} | {} |",
                t.name,
                t.weights,
                t.row_blocks,
                t.passes,
                t.alpha,
                t.beta,
                t.kept_tiles,
                t.tiles,
                t.sqnr_db,
                t.non_repeating_violations
            );
        }
        let b = self.budget();
        let _ = writeln!(
            s,
            "\nbits per weight: {:.3} = indices {:.3} + error bits {:.3} + masks {:.3} + scales {:.4} + pool {:.3}{}; \
             compression {:.1}x vs 8-bit, {:.1}x vs 4-bit",
            b.total,
            b.index,
            b.error,
            b.mask,
            b.scales,
            b.pool,
            if b.uncompressed > 0.0 {
                format!(" + uncompressed layers {:.3}", b.uncompressed)
            } else {
                String::new()
            },
            b.vs_8bit,
            b.vs_4bit
        );
        s
    }

    /// The dense engine's table: sparsity and compute cycles per layer.
    fn dense_table(&self) -> String {
        let c = &self.config;
        let mut s = String::from(
            "| layer | weights | row blocks | passes | step | phase blocks kept | sparsity | SQNR (dB) | compute cycles per vector (dense) | tiles at the slot limit |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        let (mut issued, mut dense) = (0u64, 0u64);
        for l in &self.layers {
            let t = &l.stats;
            if l.host.is_some() {
                let _ = writeln!(
                    s,
                    "| {} | {} | uncompressed: 8-bit weights on the host, step {:.5} | | | | | {:.2} | | |",
                    t.name, t.weights, t.alpha, t.sqnr_db
                );
                continue;
            }
            // Per inference: every output position is one input vector.
            let vectors = l.geometry.positions() as u64;
            issued += t.issue_steps_per_vector * vectors;
            dense += t.dense_issue_steps_per_vector * vectors;
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {:.5} | {} / {} | {:.1}% | {:.2} | {} ({}) | {} |",
                t.name,
                t.weights,
                t.row_blocks,
                t.passes,
                t.alpha,
                t.kept_tiles,
                t.tiles,
                100.0 * (1.0 - t.kept_tiles as f64 / t.tiles.max(1) as f64),
                t.sqnr_db,
                t.issue_steps_per_vector,
                t.dense_issue_steps_per_vector,
                t.slot_limited_tiles
            );
        }
        let b = self.budget();
        let _ = writeln!(
            s,
            "\nbits per weight: {:.3} = {}-bit weights {:.3} + sparsity memory {:.3} + scales {:.4}{}; \
             compression {:.1}x vs 8-bit, {:.1}x vs 4-bit; compute cycles per inference {} = {:.1}% of {} with every phase computed (sparsity `{}`)",
            b.total,
            c.w_bits,
            b.dense_weights,
            b.sparsity_memory,
            b.scales,
            if b.uncompressed > 0.0 {
                format!(" + uncompressed layers {:.3}", b.uncompressed)
            } else {
                String::new()
            },
            b.vs_8bit,
            b.vs_4bit,
            issued,
            100.0 * issued as f64 / dense.max(1) as f64,
            dense,
            c.sparsity
        );
        s
    }

    /// The report.json of a compression run (`accuracy` from
    /// `float_accuracies` when labelled data was given).
    pub fn report(&self, options: &Options, accuracy: Option<&Accuracy>) -> Report {
        // With --choices the kept tiles are the given masks, not the ratio
        // option: report the share they keep.
        let (kept, tiles) = self.layers.iter().fold((0, 0), |(k, t), l| {
            (k + l.stats.kept_tiles, t + l.stats.tiles)
        });
        let keep_ratio = match &options.choices {
            Some(_) if tiles > 0 => kept as f64 / tiles as f64,
            _ => options.keep_ratio,
        };
        Report {
            keep_ratio,
            sparsity: options.sparsity,
            seed: options.seed,
            prune_by_output: options.moments.is_some(),
            pool: PoolReport {
                vectors: self.config.pool,
                length: self.config.rows,
                given: options.pool.is_some(),
                iterations: self.pool_kmeans.map(|k| k.1),
                inertia: self.pool_kmeans.map(|k| k.0),
            },
            bits_per_weight: self.budget(),
            layers: self.layers.iter().map(|l| l.stats.clone()).collect(),
            accuracy: accuracy.cloned(),
        }
    }
}

/// Accuracy of the float network and of its compressed weights in float
/// arithmetic on a labelled data set; with a lossy ADC also the golden
/// integer path of the images, through the ADC and with exact read-out of
/// the same loads (what the ADC costs).
#[derive(Clone, Debug, Serialize)]
pub struct Accuracy {
    pub data: String,
    pub samples: usize,
    pub float: f64,
    pub compressed_float: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub golden_adc: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub golden_exact_readout: Option<f64>,
}

impl Accuracy {
    /// Both accuracies on `data` (read from `origin`), as `float_accuracies`
    /// measures them.
    pub fn measure(
        net: &crate::network::model::Network,
        compressed: &[super::CompressedLayer],
        data: &crate::network::tensors::Dataset,
        origin: &std::path::Path,
        tick: &(dyn Fn() + Sync),
    ) -> Accuracy {
        let (float, compressed_float) = float_accuracies_with_progress(net, compressed, data, tick);
        Accuracy {
            data: origin.display().to_string(),
            samples: data.y.len(),
            float,
            compressed_float,
            golden_adc: None,
            golden_exact_readout: None,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct PoolReport {
    pub vectors: u32,
    pub length: u32,
    /// The pool was given (`--pool`), not built.
    pub given: bool,
    pub iterations: Option<usize>,
    pub inertia: Option<f64>,
}

/// report.json of a compression run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The keep ratio asked for; with pinned choices (`--choices`), the
    /// share of the pooled layers' error tiles the given masks keep.
    pub keep_ratio: f64,
    /// Dense engine: share of phase blocks pruned (`--sparsity`).
    pub sparsity: f64,
    pub seed: u64,
    /// Pruned by output effect (`--prune-by-output`; the moments in
    /// moments.npz); absent: by weight energy.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub prune_by_output: bool,
    pub pool: PoolReport,
    pub bits_per_weight: Budget,
    pub layers: Vec<LayerStats>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<Accuracy>,
}

impl Report {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serializes") + "\n"
    }
}

/// Accuracy on `data` of the float network and of its compressed weights
/// in float arithmetic (integer inputs times `input_scale`).
pub fn float_accuracies(
    net: &Network,
    compressed: &[CompressedLayer],
    data: &Dataset,
) -> (f64, f64) {
    float_accuracies_with_progress(net, compressed, data, &|| {})
}

/// [`float_accuracies`], calling `tick` after each of the 2 x samples
/// forward passes (from any thread).
pub fn float_accuracies_with_progress(
    net: &Network,
    compressed: &[CompressedLayer],
    data: &Dataset,
    tick: &(dyn Fn() + Sync),
) -> (f64, f64) {
    let run = |effective: bool| -> Vec<Vec<f32>> {
        data.x
            .par_iter()
            .map(|x| {
                let x: Vec<f32> = x
                    .iter()
                    .map(|&v| v as f32 * net.input_scale as f32)
                    .collect();
                let layer = |li: usize| {
                    let l = &net.layers[li];
                    crate::network::graph::FloatLayer {
                        weights: if effective {
                            &compressed[li].effective
                        } else {
                            &l.weights
                        },
                        bias: &l.bias,
                        geometry: &l.geometry,
                        relu: l.relu,
                        clip: l.clip,
                    }
                };
                let out = net.graph.forward_float(&layer, &x, &mut |_, _| {});
                tick();
                out
            })
            .collect()
    };
    (
        accuracy(&run(false), &data.y),
        accuracy(&run(true), &data.y),
    )
}
