//! Where a layer's input vectors come from: im2col of an (y, x, c)
//! activation map, and the max pooling done in software after a layer.
//!
//! Every layer is a convolution here. An fc layer on a flat input is a 1x1
//! map with `in_c` = fan-in; an fc layer on a spatial map is a convolution
//! whose kernel covers the whole map (one output position), which is why a
//! PyTorch `Linear` after `Flatten` takes its weight columns in (c, y, x)
//! order and the engine sees them in (y, x, c) order.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Geometry {
    /// Input map (height, width, channels).
    pub in_h: usize,
    pub in_w: usize,
    pub in_c: usize,
    pub kernel_h: usize,
    pub kernel_w: usize,
    pub stride: usize,
    /// Zero rows / columns on every side of the input.
    pub padding: usize,
    /// Output map before pooling.
    pub out_h: usize,
    pub out_w: usize,
    pub out_c: usize,
    /// Max pooling window and stride after the layer (and its ReLU); 1 = none.
    pub max_pool: usize,
}

impl Geometry {
    /// An fc layer on a flat input.
    pub fn flat(fan_in: usize, out_c: usize) -> Geometry {
        Geometry {
            in_h: 1,
            in_w: 1,
            in_c: fan_in,
            kernel_h: 1,
            kernel_w: 1,
            stride: 1,
            padding: 0,
            out_h: 1,
            out_w: 1,
            out_c,
            max_pool: 1,
        }
    }

    pub fn fan_in(&self) -> usize {
        self.kernel_h * self.kernel_w * self.in_c
    }

    pub fn inputs(&self) -> usize {
        self.in_h * self.in_w * self.in_c
    }

    /// Output positions per sample: input vectors the engine sees.
    pub fn positions(&self) -> usize {
        self.out_h * self.out_w
    }

    /// (height, width) after pooling (floor, as PyTorch's MaxPool2d).
    pub fn pooled(&self) -> (usize, usize) {
        (self.out_h / self.max_pool, self.out_w / self.max_pool)
    }

    pub fn outputs(&self) -> usize {
        let (h, w) = self.pooled();
        h * w * self.out_c
    }

    /// The im2col rows of one (y, x, c) input map, one per output position
    /// in (y, x) order, each in (ky, kx, c) order; padding reads `zero`.
    pub fn im2col<T: Copy>(&self, x: &[T], zero: T) -> Vec<Vec<T>> {
        debug_assert_eq!(x.len(), self.inputs());
        let mut rows = Vec::with_capacity(self.positions());
        for oy in 0..self.out_h {
            for ox in 0..self.out_w {
                let mut row = Vec::with_capacity(self.fan_in());
                for ky in 0..self.kernel_h {
                    for kx in 0..self.kernel_w {
                        let y = (oy * self.stride + ky) as isize - self.padding as isize;
                        let xx = (ox * self.stride + kx) as isize - self.padding as isize;
                        if y < 0 || xx < 0 || y >= self.in_h as isize || xx >= self.in_w as isize {
                            row.extend(std::iter::repeat(zero).take(self.in_c));
                        } else {
                            let at = (y as usize * self.in_w + xx as usize) * self.in_c;
                            row.extend_from_slice(&x[at..at + self.in_c]);
                        }
                    }
                }
                rows.push(row);
            }
        }
        rows
    }

    /// Max pooling of one (y, x, c) output map (positions x out_c values).
    pub fn max_pool<T: Copy + PartialOrd>(&self, y: &[T]) -> Vec<T> {
        let k = self.max_pool;
        if k == 1 {
            return y.to_vec();
        }
        let (ph, pw) = self.pooled();
        let c = self.out_c;
        let mut out = Vec::with_capacity(ph * pw * c);
        for py in 0..ph {
            for px in 0..pw {
                for ch in 0..c {
                    let mut best = y[((py * k) * self.out_w + px * k) * c + ch];
                    for dy in 0..k {
                        for dx in 0..k {
                            let v = y[((py * k + dy) * self.out_w + px * k + dx) * c + ch];
                            if v > best {
                                best = v;
                            }
                        }
                    }
                    out.push(best);
                }
            }
        }
        out
    }

    /// One network input sample, flattened in PyTorch (c, y, x) order, in
    /// the (y, x, c) order the im2col rows read.
    pub fn from_chw<T: Copy>(&self, x: &[T]) -> Vec<T> {
        let (h, w, c) = (self.in_h, self.in_w, self.in_c);
        let mut out = Vec::with_capacity(x.len());
        for y in 0..h {
            for xx in 0..w {
                for ch in 0..c {
                    out.push(x[(ch * h + y) * w + xx]);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(in_hw: usize, c: usize, k: usize, stride: usize, padding: usize) -> Geometry {
        let out = (in_hw + 2 * padding - k) / stride + 1;
        Geometry {
            in_h: in_hw,
            in_w: in_hw,
            in_c: c,
            kernel_h: k,
            kernel_w: k,
            stride,
            padding,
            out_h: out,
            out_w: out,
            out_c: 1,
            max_pool: 1,
        }
    }

    #[test]
    fn im2col_reads_windows_channel_fastest_with_zero_padding() {
        // 3x3 map of 2 channels: value = 10 * (y * 3 + x) + c.
        let g = conv(3, 2, 2, 1, 1);
        let x: Vec<i64> = (0..9).flat_map(|p| [10 * p, 10 * p + 1]).collect();
        let rows = g.im2col(&x, -1);
        assert_eq!((g.out_h, rows.len()), (4, 16));
        // Position (0, 0): window rows -1..=0, columns -1..=0.
        assert_eq!(rows[0], vec![-1, -1, -1, -1, -1, -1, 0, 1]);
        // Position (1, 1): window (0..=1, 0..=1).
        assert_eq!(rows[5], vec![0, 1, 10, 11, 30, 31, 40, 41]);
        let s2 = conv(3, 2, 1, 2, 0);
        assert_eq!(s2.im2col(&x, 0)[3], vec![80, 81]);
    }

    #[test]
    fn max_pool_takes_the_window_maximum_per_channel_and_floors() {
        let mut g = conv(5, 1, 1, 1, 0);
        g.out_c = 2;
        g.max_pool = 2;
        let y: Vec<i64> = (0..25).flat_map(|p| [p, -p]).collect();
        assert_eq!(g.pooled(), (2, 2));
        assert_eq!(g.max_pool(&y), vec![6, 0, 8, -2, 16, -10, 18, -12]);
    }

    #[test]
    fn chw_input_is_reordered_channel_fastest() {
        let g = conv(2, 3, 1, 1, 0);
        let chw: Vec<i64> = (0..12).collect(); // value = c * 4 + y * 2 + x
        assert_eq!(g.from_chw(&chw), vec![0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
    }
}
