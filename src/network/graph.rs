//! A network as a graph of nodes: engine layers (conv / fc) and the
//! operations the host does between them (residual add, max and average
//! pooling, flatten), each with its exact integer definition
//! (docs/SPEC.md section 4). Activation maps are stored (y, x, c), c fastest.

use serde::{Deserialize, Serialize};

/// The shape of an activation map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Map {
    pub h: usize,
    pub w: usize,
    pub c: usize,
}

impl Map {
    pub fn flat(n: usize) -> Map {
        Map { h: 1, w: 1, c: n }
    }
    pub fn len(&self) -> usize {
        self.h * self.w * self.c
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A pooling window: `kernel_h x kernel_w`, moved by `stride`, over a map
/// padded by `padding` on every side (padded positions are not part of a
/// window: max pooling ignores them; average pooling takes no padding).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub kernel_h: usize,
    pub kernel_w: usize,
    pub stride: usize,
    pub padding: usize,
}

impl Window {
    /// The map a window leaves, or `None` when the kernel does not fit.
    pub fn out(&self, m: Map) -> Option<Map> {
        let span = |n: usize, k: usize| {
            (n + 2 * self.padding)
                .checked_sub(k)
                .map(|s| s / self.stride + 1)
        };
        Some(Map {
            h: span(m.h, self.kernel_h)?,
            w: span(m.w, self.kernel_w)?,
            c: m.c,
        })
    }

    /// The in-bounds input positions of output position (oy, ox).
    fn cells(&self, m: Map, oy: usize, ox: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        let (y0, x0) = (
            (oy * self.stride) as isize - self.padding as isize,
            (ox * self.stride) as isize - self.padding as isize,
        );
        (0..self.kernel_h as isize).flat_map(move |dy| {
            (0..self.kernel_w as isize).filter_map(move |dx| {
                let (y, x) = (y0 + dy, x0 + dx);
                (y >= 0 && x >= 0 && (y as usize) < m.h && (x as usize) < m.w)
                    .then_some((y as usize, x as usize))
            })
        })
    }

    /// Each output value from the in-bounds inputs of its window.
    fn apply<T: Copy, U>(
        &self,
        m: Map,
        x: &[T],
        f: impl Fn(&mut dyn Iterator<Item = T>) -> U,
    ) -> Vec<U> {
        let out = self.out(m).expect("checked when the graph was built");
        let mut v = Vec::with_capacity(out.len());
        for oy in 0..out.h {
            for ox in 0..out.w {
                for ch in 0..m.c {
                    let mut it = self
                        .cells(m, oy, ox)
                        .map(|(y, xx)| x[(y * m.w + xx) * m.c + ch]);
                    v.push(f(&mut it));
                }
            }
        }
        v
    }

    /// Max pooling: the largest in-bounds value of each window.
    pub fn max_pool<T: Copy + PartialOrd>(&self, m: Map, x: &[T]) -> Vec<T> {
        self.apply(m, x, |it| {
            let first = it.next().expect("a window holds at least one input");
            it.fold(first, |a, b| if b > a { b } else { a })
        })
    }

    /// Integer average pooling: `floor((2 sum + n) / (2 n))` over the n
    /// values of each window, which rounds half up.
    pub fn avg_pool_int(&self, m: Map, x: &[i64]) -> Vec<i64> {
        self.apply(m, x, |it| {
            let (sum, n) = it.fold((0i64, 0i64), |(s, n), v| (s + v, n + 1));
            (2 * sum + n).div_euclid(2 * n)
        })
    }

    pub fn avg_pool_f32(&self, m: Map, x: &[f32]) -> Vec<f32> {
        self.apply(m, x, |it| {
            let (sum, n) = it.fold((0f32, 0f32), |(s, n), v| (s + v, n + 1.0));
            sum / n
        })
    }
}

/// What a node does.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Engine layer `i` of the network's layer list (conv or fc, BN folded,
    /// ReLU in its requantizer).
    Layer(usize),
    /// Elementwise sum of two maps of one shape, then ReLU when asked.
    Add {
        relu: bool,
    },
    /// Maps of one height and width joined along channels, each input
    /// brought to the output scale (`ConcatScales`).
    Concat,
    MaxPool(Window),
    AvgPool(Window),
    /// (y, x, c) map to a flat vector in PyTorch `Flatten` order (c, y, x).
    Flatten,
}

/// Where a node reads from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The network input.
    Input,
    Node(usize),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub name: String,
    pub op: Op,
    pub inputs: Vec<Source>,
    /// The map this node produces.
    pub out: Map,
    /// Its values can be negative (no ReLU on the way).
    pub signed: bool,
}

/// Nodes in evaluation order; the last one is the network's output.
#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    pub input: Map,
    pub nodes: Vec<Node>,
}

impl Graph {
    pub fn map_of(&self, s: Source) -> Map {
        match s {
            Source::Input => self.input,
            Source::Node(i) => self.nodes[i].out,
        }
    }

    /// For each node, the last node that reads it (so its map can be
    /// dropped after that); the output node is kept.
    pub fn last_readers(&self) -> Vec<usize> {
        let mut last: Vec<usize> = (0..self.nodes.len()).collect();
        for (i, n) in self.nodes.iter().enumerate() {
            for s in &n.inputs {
                if let Source::Node(j) = *s {
                    last[j] = last[j].max(i);
                }
            }
        }
        if let Some(l) = last.last_mut() {
            *l = usize::MAX;
        }
        last
    }
}

/// An engine layer as the float evaluation sees it.
pub struct FloatLayer<'a> {
    pub weights: &'a [f32],
    pub bias: &'a [f32],
    pub geometry: &'a super::geometry::Geometry,
    pub relu: bool,
    /// The top of a clipped ReLU.
    pub clip: Option<f32>,
}

impl Graph {
    /// The float network on one sample (flattened in PyTorch (c, y, x)
    /// order): `visit` sees every node's output map; the output node's
    /// values are returned. Maps are dropped after their last reader.
    pub fn forward_float<'a>(
        &self,
        layer: &dyn Fn(usize) -> FloatLayer<'a>,
        x: &[f32],
        visit: &mut dyn FnMut(usize, &[f32]),
    ) -> Vec<f32> {
        let last = self.last_readers();
        let input = from_chw(self.input, x);
        let mut maps: Vec<Option<Vec<f32>>> = vec![None; self.nodes.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            let get = |s: Source| -> &[f32] {
                match s {
                    Source::Input => &input,
                    Source::Node(j) => maps[j].as_deref().expect("inputs come first"),
                }
            };
            let a = get(n.inputs[0]);
            let m = self.map_of(n.inputs[0]);
            let y = match &n.op {
                Op::Layer(li) => {
                    let l = layer(*li);
                    let mut y = super::float::float_map(l.weights, l.bias, l.geometry, a, l.relu);
                    if let Some(c) = l.clip {
                        y.iter_mut().for_each(|v| *v = v.min(c));
                    }
                    y
                }
                Op::Add { relu } => a
                    .iter()
                    .zip(get(n.inputs[1]))
                    .map(|(p, q)| if *relu { (p + q).max(0.0) } else { p + q })
                    .collect(),
                Op::Concat => {
                    let parts: Vec<(&[f32], usize)> = n
                        .inputs
                        .iter()
                        .map(|&s| (get(s), self.map_of(s).c))
                        .collect();
                    concat(&parts)
                }
                Op::MaxPool(w) => w.max_pool(m, a),
                Op::AvgPool(w) => w.avg_pool_f32(m, a),
                Op::Flatten => flatten(m, a),
            };
            visit(i, &y);
            maps[i] = Some(y);
            for s in &n.inputs {
                if let Source::Node(j) = *s {
                    if last[j] == i {
                        maps[j] = None;
                    }
                }
            }
        }
        maps.pop().flatten().unwrap_or_default()
    }
}

/// A network input sample, flattened in PyTorch (c, y, x) order, as the
/// (y, x, c) map the nodes read.
pub fn from_chw<T: Copy>(m: Map, x: &[T]) -> Vec<T> {
    let mut out = Vec::with_capacity(x.len());
    for y in 0..m.h {
        for xx in 0..m.w {
            for ch in 0..m.c {
                out.push(x[(ch * m.h + y) * m.w + xx]);
            }
        }
    }
    out
}

/// Flatten: (y, x, c) to (c, y, x).
pub fn flatten<T: Copy>(m: Map, x: &[T]) -> Vec<T> {
    let mut out = Vec::with_capacity(x.len());
    for ch in 0..m.c {
        for y in 0..m.h {
            for xx in 0..m.w {
                out.push(x[(y * m.w + xx) * m.c + ch]);
            }
        }
    }
    out
}

/// Maps of one height and width, (y, x, c) order, each given with its
/// channel count, joined along channels: at every position the channels of
/// the first map, then the second's, and so on.
pub fn concat<T: Copy>(parts: &[(&[T], usize)]) -> Vec<T> {
    let total: usize = parts.iter().map(|p| p.0.len()).sum();
    let positions = parts.first().map_or(0, |(x, c)| x.len() / (*c).max(1));
    let mut out = Vec::with_capacity(total);
    for p in 0..positions {
        for (x, c) in parts {
            out.extend_from_slice(&x[p * c..(p + 1) * c]);
        }
    }
    out
}

/// The integer concat (docs/SPEC.md section 4): input i at its scale is
/// brought to the output scale by `y = (m_i a + 2^(k-1)) >> k` (round half
/// up), saturated to `out_bits` (unsigned when the output is), so a concat
/// of maps at one scale moves values unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConcatScales {
    pub m: Vec<i64>,
    pub k: u32,
}

impl ConcatScales {
    /// Multipliers for inputs at `scales` and an output at `sy`.
    pub fn new(scales: &[f64], sy: f64) -> ConcatScales {
        let k = ADD_FRACTION_BITS;
        ConcatScales {
            m: scales
                .iter()
                .map(|s| (s / sy * (1u64 << k) as f64).round() as i64)
                .collect(),
            k,
        }
    }

    /// Input `i`'s values at the output scale.
    pub fn rescale(&self, i: usize, x: &[i64], signed: bool, out_bits: u32) -> Vec<i64> {
        x.iter()
            .map(|&v| {
                crate::golden::requantize(self.m[i] as i128 * v as i128, self.k, !signed, out_bits)
            })
            .collect()
    }
}

/// The integer residual add (docs/SPEC.md section 4): the two inputs at
/// their own scales are brought to the output scale by multipliers over a
/// common power of two, `y = (ma a + mb b + 2^(k-1)) >> k` (arithmetic, round
/// half up), then ReLU and saturation to `out_bits` as the engine's outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddScales {
    pub ma: i64,
    pub mb: i64,
    pub k: u32,
}

/// Bits of the multipliers' fraction: 2^-16 is far below the rounding of
/// an 8-bit output and keeps every product well inside 64 bits.
pub const ADD_FRACTION_BITS: u32 = 16;

impl AddScales {
    /// Multipliers for inputs at scales `sa`, `sb` and an output at `sy`.
    pub fn new(sa: f64, sb: f64, sy: f64) -> AddScales {
        let k = ADD_FRACTION_BITS;
        let m = |s: f64| (s / sy * (1u64 << k) as f64).round() as i64;
        AddScales {
            ma: m(sa),
            mb: m(sb),
            k,
        }
    }

    pub fn apply(&self, a: &[i64], b: &[i64], relu: bool, out_bits: u32) -> Vec<i64> {
        a.iter()
            .zip(b)
            .map(|(&a, &b)| {
                let v = self.ma as i128 * a as i128 + self.mb as i128 * b as i128;
                crate::golden::requantize(v, self.k, relu, out_bits)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_pool_ignores_padding_and_avg_pool_rounds_half_up() {
        // A 3x3 map of one channel: 1..9.
        let m = Map { h: 3, w: 3, c: 1 };
        let x: Vec<i64> = (1..=9).collect();
        let w = Window {
            kernel_h: 3,
            kernel_w: 3,
            stride: 2,
            padding: 1,
        };
        assert_eq!(w.out(m), Some(Map { h: 2, w: 2, c: 1 }));
        assert_eq!(w.max_pool(m, &x), vec![5, 6, 8, 9]);
        let global = Window {
            kernel_h: 3,
            kernel_w: 3,
            stride: 1,
            padding: 0,
        };
        // 45 / 9 = 5; 46 / 9 = 5.11 -> 5; 49 / 9 = 5.44 -> 5; 50 / 9 -> 6.
        assert_eq!(global.avg_pool_int(m, &x), vec![5]);
        let two = Map { h: 1, w: 2, c: 1 };
        let pair = Window {
            kernel_h: 1,
            kernel_w: 2,
            stride: 2,
            padding: 0,
        };
        assert_eq!(pair.avg_pool_int(two, &[1, 2]), vec![2]); // 1.5 -> 2
        assert_eq!(pair.avg_pool_int(two, &[-1, -2]), vec![-1]); // -1.5 -> -1
    }

    #[test]
    fn flatten_is_pytorch_order() {
        let m = Map { h: 1, w: 2, c: 2 };
        // (y, x, c): x0c0, x0c1, x1c0, x1c1 -> (c, y, x): c0x0, c0x1, c1x0, c1x1.
        assert_eq!(flatten(m, &[1, 2, 3, 4]), vec![1, 3, 2, 4]);
    }

    #[test]
    fn add_aligns_scales_with_a_common_shift() {
        // a at scale 0.5, b at scale 0.25, output at scale 1: y = a/2 + b/4.
        let s = AddScales::new(0.5, 0.25, 1.0);
        assert_eq!((s.ma, s.mb), (1 << 15, 1 << 14));
        // 6.5 -> 7 and -6.5 -> -6 (round half up); ReLU clamps the negative.
        assert_eq!(s.apply(&[10, -10], &[6, -6], false, 8), vec![7, -6]);
        assert_eq!(s.apply(&[10, -10], &[6, -6], true, 8), vec![7, 0]);
    }
}
