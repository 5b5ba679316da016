//! Every quantity derived from a configuration: widths (from exact value
//! ranges, so nothing can overflow), lane organisation, load-port layout and
//! the cycle schedule. The generators, the C header and the JSON report all
//! read these numbers from here, so they cannot drift apart.

use super::layout::{LoadLayout, Widths};
use super::{crossbar_levels, AdcMode, Config, Crossbar, Sparsity};
use crate::ir::clog2;
use serde::Serialize;

/// Inclusive range of an integer quantity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Range {
    #[serde(serialize_with = "wide_int")]
    pub min: i128,
    #[serde(serialize_with = "wide_int")]
    pub max: i128,
}

/// JSON numbers beyond 64 bits are not portable: such values are written
/// as decimal strings.
fn wide_int<S: serde::Serializer>(v: &i128, s: S) -> Result<S::Ok, S::Error> {
    match i64::try_from(*v) {
        Ok(small) => s.serialize_i64(small),
        Err(_) => s.serialize_str(&v.to_string()),
    }
}

impl Range {
    fn new(a: i128, b: i128) -> Range {
        Range {
            min: a.min(b),
            max: a.max(b),
        }
    }
    fn scale(self, k: i128) -> Range {
        Range::new(self.min * k, self.max * k)
    }
    fn add(self, o: Range) -> Range {
        Range {
            min: self.min + o.min,
            max: self.max + o.max,
        }
    }
    fn mul(self, o: Range) -> Range {
        let c = [
            self.min * o.min,
            self.min * o.max,
            self.max * o.min,
            self.max * o.max,
        ];
        Range {
            min: *c.iter().min().unwrap(),
            max: *c.iter().max().unwrap(),
        }
    }
    /// Range of a two's-complement value of `bits` bits.
    fn signed_of(bits: u32) -> Range {
        Range {
            min: -(1i128 << (bits - 1)),
            max: (1i128 << (bits - 1)) - 1,
        }
    }
    /// Fewest two's-complement bits that hold every value of the range.
    pub fn signed_bits(self) -> u32 {
        (1..=127)
            .find(|&b| Range::signed_of(b).min <= self.min && self.max <= Range::signed_of(b).max)
            .unwrap()
    }
}

/// The shift of the ADC at its generation-time step, `bits(W) - B`
/// (0 for exact read-out).
pub fn default_adc_shift(w: u32, adc_bits: u32) -> u32 {
    let full = clog2(w as u64 + 1);
    if adc_bits == 0 || adc_bits >= full {
        0
    } else {
        full - adc_bits
    }
}

/// The ADC of docs/SPEC.md sections 2 and 7 with step `2^sh`: maps a column
/// sum `s` to its read-out. `adc_bits == 0` (or a `B` of at least bits(W),
/// where `default_adc_shift` is 0 and the code cannot clamp) is exact.
pub fn adc_read_out_at(s: u64, w: u32, adc_bits: u32, mode: AdcMode, sh: u32) -> u64 {
    if default_adc_shift(w, adc_bits) == 0 {
        return s;
    }
    let max_code = (1u64 << adc_bits) - 1;
    let code = match mode {
        AdcMode::RoundClamp if sh > 0 => (s + (1 << (sh - 1))) >> sh,
        // Half a step less one, plus the bit that makes the floor code odd:
        // a tie reaches the next code only from an odd one.
        AdcMode::RoundEvenClamp if sh > 0 => (s + (1 << (sh - 1)) - 1 + ((s >> sh) & 1)) >> sh,
        _ => s >> sh,
    };
    code.min(max_code) << sh
}

/// The ADC at its generation-time step.
pub fn adc_read_out(s: u64, w: u32, adc_bits: u32, mode: AdcMode) -> u64 {
    adc_read_out_at(s, w, adc_bits, mode, default_adc_shift(w, adc_bits))
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Derived {
    /// Output lanes L = macros x cols.
    pub lanes: u32,
    /// Lane groups G = L / pool; each group is served by one crossbar pass.
    pub groups: u32,
    /// Width of a pool index, ceil(log2 pool).
    pub index_bits: u32,
    /// Compute phases per bit plane, H = rows / wl_parallel.
    pub phases: u32,
    /// Compute steps per input vector, S = act_bits x phases.
    pub steps_per_vector: u32,
    /// Width of a column sum and of an input popcount: bits(W).
    pub col_sum_bits: u32,
    /// Right shift of the ADC at its generation-time step (0 for exact
    /// read-out); the run-time `adc_shift` field ranges over 0..=this.
    pub adc_shift: u32,
    /// Largest ADC read-out value.
    pub adc_max: u64,
    /// Range of `2A - N` for one phase.
    pub term: Range,
    /// Range of a column result Y (also Ypool, Z and Ysel).
    pub column: Range,
    pub column_bits: u32,
    /// Dense engine: range of a lane value D (the weight bits' columns
    /// recombined); the pool engine has none.
    pub lane_value: Option<Range>,
    pub lane_value_bits: Option<u32>,
    /// Word lines each macro physically holds: rows, or slots x
    /// wl_parallel for the dense engine's compact storage.
    pub macro_rows: u32,
    /// Phase blocks a vector can issue per plane: the phases, or the slots
    /// of compact storage.
    pub issue_blocks: u32,
    /// Range of a lane accumulator after `max_row_blocks` row blocks.
    pub accumulator: Range,
    pub accumulator_bits: u32,
    /// Width of alpha x accP and beta x accE (alpha x acc for the dense engine).
    pub product_bits: u32,
    /// Range of `alpha * accP + beta * accE + bias` (`alpha * acc + bias`).
    pub value: Range,
    pub value_bits: u32,
    /// Physical crossbars X and the steps G / X they take per vector.
    pub crossbar_units: u32,
    pub crossbar_steps: u32,
    /// Logic levels of one crossbar (mux levels or Benes stages) and the
    /// register stages among them (`crossbar_pipeline`).
    pub crossbar_levels: u32,
    pub crossbar_pipeline: u32,
    /// Register stages on the requantizer path (`output_pipeline`): each
    /// adds a cycle to the latency, none to the throughput.
    pub output_pipeline: u32,
    /// Bits of the index memory one lane group uses: P pool indices (mux),
    /// or the (2 log2 P - 1) P/2 switch settings of its Benes route, laid
    /// over the lanes' index fields from slot 0 up.
    pub group_select_bits: u32,
    /// Lanes per output beat and beats per output vector.
    pub out_lanes: u32,
    pub out_beats: u32,
    pub out_beat_bits: u32,
    /// Widths of the controller's position counters that exist. A count of
    /// one needs no counter, and then no block has the port: this is the
    /// one place that decides it.
    pub plane_bits: Option<u32>,
    pub phase_bits: Option<u32>,
    pub xbar_step_bits: Option<u32>,
    pub beat_bits: Option<u32>,
    /// Dense engine with block sparsity and more than one block: the
    /// controller's mask of blocks to issue (valid phases or used slots),
    /// one bit per block.
    pub issue_mask_bits: Option<u32>,
    /// Width of the input sequencer's phase-block select (the phases of
    /// the input vector; with compact storage not the macros' slots).
    pub block_bits: Option<u32>,
    /// Width of the run-time ADC shift the macros take (lossy ADC only).
    pub adc_shift_bits: Option<u32>,
    /// Port widths of the load port and every word it carries.
    pub load_sel_bits: u32,
    pub load_addr_bits: u32,
    pub load_data_bits: u32,
    pub load: LoadLayout,
    /// Cycles between accepted input vectors when nothing stalls.
    pub cycles_per_vector: u32,
    /// Cycles from accepting a `last` input vector to its first output beat
    /// being valid, when the output is not back-pressured.
    pub first_beat_latency: u32,
}

fn largest_divisor_up_to(n: u32, limit: u32) -> u32 {
    (1..=limit.min(n)).rev().find(|d| n % d == 0).unwrap_or(1)
}

impl Derived {
    /// Derives from a resolved configuration (see `Config::resolved`).
    pub fn new(c: &Config) -> Derived {
        assert!(
            c.pool > 0 && c.wl_parallel > 0,
            "Derived::new needs a resolved config"
        );
        let dense = c.is_dense();
        let lanes = c.lanes();
        // The dense engine has no crossbar: its lanes form one group.
        let groups = if dense { 1 } else { lanes / c.pool };
        let phases = c.rows / c.wl_parallel;
        let compact = dense && c.sparsity == Sparsity::Compact;
        let issue_blocks = if compact { c.slots } else { phases };
        let macro_rows = issue_blocks * c.wl_parallel;
        let steps = c.act_bits * issue_blocks;
        let w = c.wl_parallel;
        let col_sum_bits = clog2(w as u64 + 1);
        let adc_shift = default_adc_shift(w, c.adc_bits);
        // Every run-time step 0..=adc_shift: the widths must hold them all.
        let read_outs = || {
            (0..=adc_shift).flat_map(move |sh| {
                (0..=w as u64).map(move |s| (s, adc_read_out_at(s, w, c.adc_bits, c.adc_mode, sh)))
            })
        };
        let adc_max = read_outs().map(|(_, a)| a).max().unwrap();
        // S <= N <= W, so 2A - N peaks at N = S and bottoms at S = 0, N = W.
        // The dense engine's 0/1 cells add A itself.
        let term = if dense {
            Range::new(0, adc_max as i128)
        } else {
            let term_max = read_outs()
                .map(|(s, a)| 2 * a as i128 - s as i128)
                .max()
                .unwrap();
            Range::new(-(w as i128), term_max)
        };
        let plane = term.scale(issue_blocks as i128);
        let column = (0..c.act_bits).fold(Range { min: 0, max: 0 }, |acc, t| {
            let weight = if c.act_signed && t == c.act_bits - 1 {
                -(1i128 << t)
            } else {
                1i128 << t
            };
            acc.add(plane.scale(weight))
        });
        // D = sum_j v_j Y_j, v_j = 2^j and -2^(WB-1) for the top bit.
        let lane_value = dense.then(|| {
            (0..c.w_bits).fold(Range { min: 0, max: 0 }, |acc, j| {
                let v = if j == c.w_bits - 1 {
                    -(1i128 << j)
                } else {
                    1i128 << j
                };
                acc.add(column.scale(v))
            })
        });
        let accumulator = lane_value.unwrap_or(column).scale(c.max_row_blocks as i128);
        let scale = Range::signed_of(c.scale_bits);
        let product = scale.mul(accumulator);
        let value = if dense {
            product.add(Range::signed_of(c.bias_bits))
        } else {
            product.add(product).add(Range::signed_of(c.bias_bits))
        };

        let crossbar_units = if dense {
            1
        } else if c.crossbar_units != 0 {
            c.crossbar_units
        } else {
            (1..=groups)
                .find(|x| groups % x == 0 && groups / x <= steps)
                .unwrap_or(groups)
        };
        let crossbar_steps = groups / crossbar_units;
        let out_lanes = if c.out_lanes != 0 {
            c.out_lanes
        } else {
            largest_divisor_up_to(lanes, 32)
        };
        let out_beats = lanes / out_lanes;
        let index_bits = if dense { 0 } else { clog2(c.pool as u64) };

        let crossbar_levels = if dense {
            0
        } else {
            crossbar_levels(c.crossbar, c.pool)
        };
        let group_select_bits = match c.crossbar {
            _ if dense => 0,
            Crossbar::Mux => c.pool * index_bits,
            Crossbar::Benes => crossbar_levels * c.pool / 2,
        };

        let widths = Widths {
            rows: c.rows,
            pool_col_bits: clog2(c.pool as u64),
            col_bits: clog2(c.cols as u64),
            macro_bits: clog2(c.macros as u64),
            slot_bits: clog2(c.pool as u64),
            group_bits: clog2(groups as u64),
            index_bits,
            benes: c.crossbar == Crossbar::Benes,
            scale_bits: c.scale_bits,
            bias_bits: c.bias_bits,
            shift_bits: c.shift_bits,
            adc_shift_max: (adc_shift > 0).then_some(adc_shift),
            lane_bits: clog2(lanes as u64),
            macro_rows,
            phases,
            slots: c.slots,
            sparsity: c.sparsity,
        };
        let load = if dense {
            LoadLayout::dense_engine(&widths)
        } else {
            LoadLayout::pool_engine(&widths)
        };
        let counter = |count: u32| (count > 1).then(|| clog2(count as u64));

        // The dense lane unit adds each column's Y shifted by up to
        // w_bits - 1 at D's width: that width holds a shifted Y whole
        // (a bit more than D's range needs when Y is never negative), and
        // the accumulator holds a whole D.
        let column_bits = column.signed_bits();
        let lane_value_bits = lane_value.map(|r| r.signed_bits().max(column_bits + c.w_bits - 1));
        let accumulator_bits = accumulator.signed_bits().max(lane_value_bits.unwrap_or(0));
        let value_bits = value.signed_bits().max(accumulator_bits);
        let mut d = Derived {
            lanes,
            groups,
            index_bits,
            phases,
            steps_per_vector: steps,
            col_sum_bits,
            adc_shift,
            adc_max,
            term,
            column,
            column_bits,
            lane_value,
            lane_value_bits,
            macro_rows,
            issue_blocks,
            accumulator,
            accumulator_bits,
            product_bits: c.scale_bits + accumulator_bits,
            value,
            value_bits,
            crossbar_units,
            crossbar_steps,
            crossbar_levels,
            crossbar_pipeline: if dense { 0 } else { c.crossbar_pipeline },
            output_pipeline: c.output_pipeline,
            group_select_bits,
            out_lanes,
            out_beats,
            out_beat_bits: out_lanes * c.out_bits,
            plane_bits: counter(c.act_bits),
            phase_bits: counter(issue_blocks),
            xbar_step_bits: counter(crossbar_steps),
            beat_bits: counter(out_beats),
            issue_mask_bits: (c.block_sparse() && issue_blocks > 1).then_some(issue_blocks),
            block_bits: counter(phases),
            adc_shift_bits: (adc_shift > 0).then(|| clog2(adc_shift as u64 + 1).max(1)),
            load_sel_bits: load.sel_bits,
            load_addr_bits: load.addr_bits,
            load_data_bits: load.data_bits,
            load,
            cycles_per_vector: 0,
            first_beat_latency: 0,
        };
        (d.cycles_per_vector, d.first_beat_latency) = d.pace(issue_blocks);
        d
    }

    /// `(cycles_per_vector, first_beat_latency)` of a loaded tile that
    /// issues `issue_steps` phase blocks per bit plane (the port document's
    /// formulas): `issue_blocks` on a full tile, fewer on a block-sparse
    /// tile (its valid phases or used slots, at least one). The fields of
    /// the same names are this at `issue_blocks` (`new` sets them so).
    pub fn pace(&self, issue_steps: u32) -> (u32, u32) {
        let steps = self.planes() * issue_steps;
        (
            steps.max(self.crossbar_steps),
            steps + self.crossbar_steps + self.crossbar_pipeline + self.output_pipeline + 4,
        )
    }

    /// Bit planes of an input vector (act_bits).
    pub fn planes(&self) -> u32 {
        self.steps_per_vector / self.issue_blocks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pace of a full tile is the configuration's own figures, on
    /// every legal random configuration; a sparser tile is never slower.
    #[test]
    fn pace_of_a_full_tile_is_the_derived_figures() {
        for seed in 1..=100 {
            let (c, _) = crate::config::random::legal_config(seed);
            let d = Derived::new(&c);
            assert_eq!(d.planes(), c.act_bits);
            assert_eq!(
                d.pace(d.issue_blocks),
                (d.cycles_per_vector, d.first_beat_latency)
            );
            let (cpv, lat) = d.pace(1);
            assert!(cpv <= d.cycles_per_vector && lat <= d.first_beat_latency);
        }
    }

    #[test]
    fn adc_matches_spec_examples() {
        // W = 128: bits(W) = 8; 4-bit ADC shifts by 4.
        assert_eq!(adc_read_out(37, 128, 0, AdcMode::FloorClamp), 37);
        assert_eq!(adc_read_out(37, 128, 4, AdcMode::FloorClamp), 32);
        assert_eq!(adc_read_out(40, 128, 4, AdcMode::RoundClamp), 48);
        // S >> sh < 2^B always, so floor never clamps; rounding up can.
        assert_eq!(adc_read_out(128, 128, 4, AdcMode::FloorClamp), 128);
        assert_eq!(adc_read_out(127, 128, 4, AdcMode::RoundClamp), 128);
        assert_eq!(adc_read_out(14, 15, 2, AdcMode::RoundClamp), 3 << 2);
        assert_eq!(adc_read_out(15, 15, 2, AdcMode::FloorClamp), 3 << 2);
        // B >= bits(W) is exact.
        assert_eq!(adc_read_out(100, 128, 8, AdcMode::RoundClamp), 100);
        // Step 16: 40 is a tie between codes 2 and 3 -> 2 (even); 56
        // between 3 and 4 -> 4; 41 is nearer 3.
        assert_eq!(adc_read_out(40, 128, 4, AdcMode::RoundEvenClamp), 32);
        assert_eq!(adc_read_out(56, 128, 4, AdcMode::RoundEvenClamp), 64);
        assert_eq!(adc_read_out(41, 128, 4, AdcMode::RoundEvenClamp), 48);
        assert_eq!(adc_read_out(127, 128, 4, AdcMode::RoundEvenClamp), 128);
    }

    /// Every sum at every step: the round-even code is the nearest code to
    /// S / 2^sh with a tie going to the even code, then clamped; and over
    /// any 2^(sh+1) consecutive sums below the clamp its errors cancel,
    /// where the floor's and the round-up's do not.
    #[test]
    fn round_even_adc_is_the_nearest_even_tie_code_and_unbiased() {
        for w in 1u32..=300 {
            for b in 1..clog2(w as u64 + 1) {
                let top = (1u64 << b) - 1;
                for sh in 0..=default_adc_shift(w, b) {
                    let read = |s: u64, mode| adc_read_out_at(s, w, b, mode, sh);
                    for s in 0..=w as u64 {
                        let (q, r) = (s >> sh, s & ((1u64 << sh) - 1));
                        let half = if sh == 0 { 1 } else { 1u64 << (sh - 1) };
                        let nearest = if r > half || (r == half && sh > 0 && q % 2 == 1) {
                            q + 1
                        } else {
                            q
                        };
                        assert_eq!(
                            read(s, AdcMode::RoundEvenClamp),
                            nearest.min(top) << sh,
                            "W {w} B {b} sh {sh} S {s}"
                        );
                    }
                    if sh == 0 {
                        continue;
                    }
                    let period = 1u64 << (sh + 1);
                    for start in 0..1u64 << sh {
                        let last = start + period - 1;
                        if last > w as u64 || (last + (1 << (sh - 1))) >> sh > top {
                            break;
                        }
                        let err = |mode| -> i64 {
                            (start..=last)
                                .map(|s| read(s, mode) as i64 - s as i64)
                                .sum()
                        };
                        assert_eq!(
                            err(AdcMode::RoundEvenClamp),
                            0,
                            "W {w} B {b} sh {sh} from {start}"
                        );
                        assert!(err(AdcMode::FloorClamp) < 0 && err(AdcMode::RoundClamp) > 0);
                    }
                }
            }
        }
    }

    #[test]
    fn signed_bits_is_tight() {
        assert_eq!(
            Range {
                min: -128,
                max: 127
            }
            .signed_bits(),
            8
        );
        assert_eq!(Range { min: -129, max: 0 }.signed_bits(), 9);
        assert_eq!(Range { min: 0, max: 128 }.signed_bits(), 9);
    }

    #[test]
    fn default_derivation() {
        let d = Derived::new(&Config::default().resolved());
        assert_eq!(
            (d.lanes, d.groups, d.index_bits, d.steps_per_vector),
            (1024, 8, 7, 8)
        );
        assert_eq!(d.col_sum_bits, 8);
        // Exact read-out: Y is a +-1 dot product of 128 8-bit inputs.
        assert_eq!(
            d.column,
            Range {
                min: -128 * 255,
                max: 128 * 255
            }
        );
        // 8 groups hide under 8 bit-serial steps with one crossbar.
        assert_eq!((d.crossbar_units, d.crossbar_steps), (1, 8));
        assert_eq!((d.out_lanes, d.out_beats), (32, 32));
    }
}
