//! Where a layer's input vectors come from: im2col of an (y, x, c)
//! activation map (pooling and the other host operations are graph nodes,
//! `graph.rs`).
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
    /// Output map.
    pub out_h: usize,
    pub out_w: usize,
    pub out_c: usize,
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

    pub fn outputs(&self) -> usize {
        self.out_h * self.out_w * self.out_c
    }

    /// The input and output maps.
    pub fn in_map(&self) -> super::graph::Map {
        super::graph::Map {
            h: self.in_h,
            w: self.in_w,
            c: self.in_c,
        }
    }

    pub fn out_map(&self) -> super::graph::Map {
        super::graph::Map {
            h: self.out_h,
            w: self.out_w,
            c: self.out_c,
        }
    }

    /// Elements `rows` of the im2col row of output position `pos` of the
    /// (y, x, c) map `x`, into `out` (padding reads 0).
    pub fn im2col_slice(
        &self,
        x: &[i64],
        pos: usize,
        rows: std::ops::Range<usize>,
        out: &mut Vec<i64>,
    ) {
        out.clear();
        let (oy, ox) = (pos / self.out_w, pos % self.out_w);
        let mut k = rows.start;
        while k < rows.end {
            // Element k is channel c of kernel cell (ky, kx): copy the run of
            // channels of that cell that falls in the range.
            let (cell, c) = (k / self.in_c, k % self.in_c);
            let run = (self.in_c - c).min(rows.end - k);
            let (ky, kx) = (cell / self.kernel_w, cell % self.kernel_w);
            let y = (oy * self.stride + ky) as isize - self.padding as isize;
            let xx = (ox * self.stride + kx) as isize - self.padding as isize;
            if y < 0 || xx < 0 || y >= self.in_h as isize || xx >= self.in_w as isize {
                out.extend(std::iter::repeat(0).take(run));
            } else {
                let at = (y as usize * self.in_w + xx as usize) * self.in_c + c;
                out.extend_from_slice(&x[at..at + run]);
            }
            k += run;
        }
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
        // Any slice of any row, gathered on its own, is the same.
        let rows = g.im2col(&x, 0);
        let mut out = Vec::new();
        for (pos, row) in rows.iter().enumerate() {
            for (lo, hi) in [(0, 8), (1, 5), (3, 3), (6, 8)] {
                g.im2col_slice(&x, pos, lo..hi, &mut out);
                assert_eq!(&out[..], &row[lo..hi]);
            }
        }
    }

    #[test]
    fn max_pool_takes_the_window_maximum_per_channel_and_floors() {
        let m = crate::network::graph::Map { h: 5, w: 5, c: 2 };
        let w = crate::network::graph::Window {
            kernel_h: 2,
            kernel_w: 2,
            stride: 2,
            padding: 0,
        };
        let y: Vec<i64> = (0..25).flat_map(|p| [p, -p]).collect();
        assert_eq!(w.out(m).map(|o| (o.h, o.w)), Some((2, 2)));
        assert_eq!(w.max_pool(m, &y), vec![6, 0, 8, -2, 16, -10, 18, -12]);
    }

    #[test]
    fn chw_input_is_reordered_channel_fastest() {
        let g = conv(2, 3, 1, 1, 0);
        let chw: Vec<i64> = (0..12).collect(); // value = c * 4 + y * 2 + x
        assert_eq!(g.from_chw(&chw), vec![0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
    }
}
