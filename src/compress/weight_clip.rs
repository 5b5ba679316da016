//! Activation-aware weight clipping (`compress --clip-weights`), before
//! either engine quantizes a layer with one scale.
//!
//! One scale per layer (the dense engine's step, the pool engine's alpha
//! and beta) is set by the layer's largest weights. A network whose inputs
//! were standardized (scikit-learn's `StandardScaler`, folded into the first
//! layer) divides each input column's weights by that column's spread, so
//! columns that are almost always 0 carry weights hundreds of times the
//! others': they take the whole range and the rest quantize to nothing.
//! Those weights hardly matter, because their inputs are almost always 0.
//!
//! The output error a weight error makes is about
//! `sum_ij (w_ij - q(w_ij))^2 E[x_j^2]` (x_j: the layer's input column j
//! on the calibration data, im2col column for a convolution). Per layer,
//! the clip `c` among `max |w| 2^(-k/4)`, k = 0..=32, with the least such
//! error is chosen, `q` a proxy of the engine's quantizer clipped at `c`
//! (dense: its own symmetric w_bits quantizer; pool: a 4-level quantizer,
//! the levels +-alpha +- beta of a pool bit and an error bit), and the
//! weights are clipped to [-c, c]. The clipped network is then what is
//! compressed and what `--write-folded` writes, so training starts from it.

use crate::config::Config;
use crate::network::model::Network;

/// Candidates: max |w| times 2^(-k/4), k = 0..=STEPS (down to max / 256).
const STEPS: i32 = 32;

/// What clipping chose for one layer.
#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    pub layer: String,
    pub max: f32,
    pub clip: f32,
    /// Weights whose magnitude was above `clip`.
    pub clipped: usize,
}

/// The quantizer the clip is chosen for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Proxy {
    /// Symmetric, round to nearest, 2^(bits-1) - 1 steps each side.
    Symmetric { bits: u32 },
    /// Four levels +-c/4, +-3c/4 (midrise): +-alpha +- beta.
    FourLevel,
}

impl Proxy {
    pub fn of(config: &Config) -> Proxy {
        if config.is_dense() {
            Proxy::Symmetric {
                bits: config.w_bits,
            }
        } else {
            Proxy::FourLevel
        }
    }

    fn quantize(self, w: f64, c: f64) -> f64 {
        match self {
            Proxy::Symmetric { bits } => {
                let levels = ((1u64 << (bits.max(2) - 1)) - 1) as f64;
                let step = c / levels;
                (w / step).round().clamp(-levels, levels) * step
            }
            Proxy::FourLevel => {
                let step = c / 2.0;
                ((w / step).floor() + 0.5).clamp(-1.5, 1.5) * step
            }
        }
    }
}

/// The clip of one layer's weights (`out * fan_in`, channel-major) given
/// the mean square of each input column: the candidate with the least
/// weighted error (the largest of equals).
pub fn choose(weights: &[f32], moments: &[f64], proxy: Proxy) -> f32 {
    let fan_in = moments.len();
    let max = weights.iter().fold(0f32, |m, w| m.max(w.abs()));
    if max == 0.0 {
        return 0.0;
    }
    let error = |c: f64| -> f64 {
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                let d = w as f64 - proxy.quantize(w as f64, c);
                d * d * moments[i % fan_in]
            })
            .sum()
    };
    let mut best = (error(max as f64), max);
    for k in 1..=STEPS {
        let c = max * 2f32.powf(-k as f32 / 4.0);
        let e = error(c as f64);
        if e < best.0 {
            best = (e, c);
        }
    }
    best.1
}

/// The network with every engine layer's weights clipped (host layers as
/// they are), and what was chosen per layer.
pub fn clip_network(config: &Config, net: &Network, moments: &[Vec<f64>]) -> (Network, Vec<Clip>) {
    let proxy = Proxy::of(config);
    let mut out = net.clone();
    let mut chosen = vec![];
    for (l, m) in out.layers.iter_mut().zip(moments) {
        if l.uncompressed {
            continue;
        }
        let max = l.weights.iter().fold(0f32, |a, w| a.max(w.abs()));
        let c = choose(&l.weights, m, proxy);
        let clipped = l.weights.iter().filter(|w| w.abs() > c).count();
        l.weights.iter_mut().for_each(|w| *w = w.clamp(-c, c));
        chosen.push(Clip {
            layer: l.name.clone(),
            max,
            clip: c,
            clipped,
        });
    }
    (out, chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Weights of spread ~1 on live columns and one column of weights 100
    /// whose input is never on: clipping takes the live columns' scale.
    #[test]
    fn a_dead_columns_outliers_are_clipped_to_the_live_weights_scale() {
        let fan_in = 8;
        let mut w = vec![];
        for o in 0..16 {
            for i in 0..fan_in {
                w.push(if i == 3 {
                    100.0
                } else {
                    ((o * 7 + i * 3) % 11) as f32 / 5.0 - 1.0
                });
            }
        }
        let mut m = vec![1.0; fan_in];
        m[3] = 0.0;
        for proxy in [Proxy::Symmetric { bits: 4 }, Proxy::FourLevel] {
            let c = choose(&w, &m, proxy);
            assert!((0.5..=2.0).contains(&c), "{proxy:?}: clip {c}");
        }
        // With the column live, its weights matter: no clip.
        m[3] = 1.0;
        assert_eq!(choose(&w, &m, Proxy::Symmetric { bits: 4 }), 100.0);
    }

    /// Weights that fill their range evenly on equal inputs keep it.
    #[test]
    fn evenly_spread_weights_keep_their_range() {
        let w: Vec<f32> = (-7..=7).map(|v| v as f32).collect();
        let c = choose(&w, &[1.0; 15], Proxy::Symmetric { bits: 4 });
        assert_eq!(c, 7.0);
    }

    #[test]
    fn the_proxies_levels() {
        let four = Proxy::FourLevel;
        let q: Vec<f64> = [-9.0, -0.1, 0.1, 0.6, 9.0]
            .iter()
            .map(|&w| four.quantize(w, 1.0))
            .collect();
        assert_eq!(q, [-0.75, -0.25, 0.25, 0.75, 0.75]);
        let sym = Proxy::Symmetric { bits: 3 };
        let q: Vec<f64> = [-9.0, -0.4, 0.2, 0.6, 9.0]
            .iter()
            .map(|&w| sym.quantize(w, 3.0))
            .collect();
        assert_eq!(q, [-3.0, 0.0, 0.0, 1.0, 3.0]);
    }
}
