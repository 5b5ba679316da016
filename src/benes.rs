//! The Benes network of the `benes` crossbar: topology, offline routing by
//! the looping algorithm, and a simulation used to check routes and to
//! decode switch settings back into the permutation they realise.
//!
//! Topology (P = 2^k lanes, 2k - 1 stages of P/2 switches): stage s exchanges
//! positions (2i, 2i+1) when switch bit `s * P/2 + i` is 1. Between stages
//! the wires follow the recursive construction: after stage s < k-1 an
//! unshuffle inside blocks of P >> s positions (even positions to the upper
//! half, odd to the lower), after stage s >= k-1 a shuffle inside blocks of
//! 2^(s-k+3) positions (the inverse, merging the two sub-networks).

use std::fmt;

/// Benes network on `lanes` = 2^k positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Benes {
    lanes: u32,
    log2: u32,
}

/// An index set that is not a permutation of 0..P (SPEC section 3, the
/// non-repeating rule of `crossbar = benes`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotAPermutation {
    #[error("pool index {index} is used by lane slots {first} and {second}")]
    Repeated { index: u32, first: u32, second: u32 },
    #[error("pool index {index} at lane slot {slot} is out of range (pool has {pool} vectors)")]
    OutOfRange { index: u32, slot: u32, pool: u32 },
}

/// `NotAPermutation` located in a lane group.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("lane group {group}: {reason}; crossbar = \"benes\" needs the {pool} indices of every group to be a permutation of 0..{pool} (no pool vector twice); use crossbar = \"mux\" to allow repeats")]
pub struct GroupNotAPermutation {
    pub group: u32,
    pub pool: u32,
    pub reason: NotAPermutation,
}

impl Benes {
    /// `None` unless `lanes` is a power of two of at least 2.
    pub fn new(lanes: u32) -> Option<Benes> {
        (lanes >= 2 && lanes.is_power_of_two()).then(|| Benes {
            lanes,
            log2: lanes.trailing_zeros(),
        })
    }

    pub fn lanes(&self) -> u32 {
        self.lanes
    }

    pub fn stages(&self) -> u32 {
        2 * self.log2 - 1
    }

    pub fn switches_per_stage(&self) -> u32 {
        self.lanes / 2
    }

    /// Bit of switch `i` of stage `s` in the flat setting vector.
    pub fn switch_bit(&self, stage: u32, switch: u32) -> u32 {
        stage * self.switches_per_stage() + switch
    }

    pub fn switch_bits(&self) -> u32 {
        self.stages() * self.switches_per_stage()
    }

    /// The position after stage `stage` that feeds position `pos` of the next
    /// stage. Not defined after the last stage (there is no next stage).
    pub fn wiring_source(&self, stage: u32, pos: u32) -> u32 {
        let k = self.log2;
        assert!(stage + 1 < self.stages(), "no wiring after the last stage");
        if stage < k - 1 {
            // Unshuffle: block position j < b/2 takes 2j, j >= b/2 takes 2(j - b/2) + 1.
            let b = self.lanes >> stage;
            let (base, j) = (pos / b * b, pos % b);
            base + if j < b / 2 {
                2 * j
            } else {
                2 * (j - b / 2) + 1
            }
        } else {
            // Shuffle: block position 2j takes j, 2j+1 takes b/2 + j.
            let b = 1u32 << (stage + 3 - k);
            let (base, j) = (pos / b * b, pos % b);
            base + if j % 2 == 0 { j / 2 } else { b / 2 + j / 2 }
        }
    }

    /// Applies the network with `settings` (`switch_bits()` long) to `input`.
    pub fn simulate<T: Clone>(&self, settings: &[bool], input: &[T]) -> Vec<T> {
        assert_eq!(settings.len(), self.switch_bits() as usize);
        assert_eq!(input.len(), self.lanes as usize);
        let mut cur = input.to_vec();
        for s in 0..self.stages() {
            for i in 0..self.switches_per_stage() {
                if settings[self.switch_bit(s, i) as usize] {
                    cur.swap(2 * i as usize, 2 * i as usize + 1);
                }
            }
            if s + 1 < self.stages() {
                cur = (0..self.lanes)
                    .map(|p| cur[self.wiring_source(s, p) as usize].clone())
                    .collect();
            }
        }
        cur
    }

    /// The permutation realised by `settings`: output o carries input `src[o]`.
    pub fn permutation(&self, settings: &[bool]) -> Vec<u32> {
        self.simulate(settings, &(0..self.lanes).collect::<Vec<_>>())
    }

    /// Switch settings with which output o carries input `src[o]`, by the
    /// looping algorithm (Waksman / Opferman-Tsao-Wu).
    pub fn route(&self, src: &[u32]) -> Result<Vec<bool>, NotAPermutation> {
        check_permutation(src, self.lanes)?;
        let mut settings = vec![false; self.switch_bits() as usize];
        self.route_sub(src, 0, 0, &mut settings);
        Ok(settings)
    }

    /// Routes the sub-network of `src.len()` lanes whose outer stages are
    /// `depth` and `stages - 1 - depth` and whose switches start at `offset`.
    fn route_sub(&self, src: &[u32], depth: u32, offset: u32, settings: &mut [bool]) {
        let n = src.len();
        if n == 2 {
            settings[self.switch_bit(depth, offset) as usize] = src[0] == 1;
            return;
        }
        let mut inv = vec![0usize; n];
        for (o, &i) in src.iter().enumerate() {
            inv[i as usize] = o;
        }
        // lower[o]: output o is reached through the lower sub-network. Each
        // loop starts at an unassigned output switch, sends its even output
        // through the upper half, and follows the constraints (the two
        // outputs of a switch, and the two inputs of a switch, take
        // different halves) until the loop closes.
        let mut lower: Vec<Option<bool>> = vec![None; n];
        for start in (0..n).step_by(2) {
            if lower[start].is_some() {
                continue;
            }
            let mut o = start;
            while lower[o].is_none() {
                lower[o] = Some(false);
                lower[o ^ 1] = Some(true);
                // The input feeding o^1 takes the lower half, so its switch
                // partner takes the upper one, and so does the output it feeds.
                o = inv[src[o ^ 1] as usize ^ 1];
            }
        }
        let last = self.stages() - 1 - depth;
        let half = n / 2;
        let (mut upper_src, mut lower_src) = (vec![0; half], vec![0; half]);
        for j in 0..half {
            let out_cross = lower[2 * j] == Some(true);
            settings[self.switch_bit(last, offset + j as u32) as usize] = out_cross;
            let (via_upper, via_lower) = if out_cross {
                (2 * j + 1, 2 * j)
            } else {
                (2 * j, 2 * j + 1)
            };
            upper_src[j] = src[via_upper] / 2;
            lower_src[j] = src[via_lower] / 2;
            // Input switch i: straight sends input 2i to the upper half.
        }
        for i in 0..half {
            let even_goes_lower = lower[inv[2 * i]] == Some(true);
            settings[self.switch_bit(depth, offset + i as u32) as usize] = even_goes_lower;
        }
        self.route_sub(&upper_src, depth + 1, offset, settings);
        self.route_sub(&lower_src, depth + 1, offset + (n / 4) as u32, settings);
    }
}

/// Checks that `src` holds every value of 0..lanes exactly once.
pub fn check_permutation(src: &[u32], lanes: u32) -> Result<(), NotAPermutation> {
    let mut seen: Vec<Option<u32>> = vec![None; lanes as usize];
    for (slot, &index) in src.iter().enumerate() {
        let slot = slot as u32;
        match seen.get(index as usize) {
            None => {
                return Err(NotAPermutation::OutOfRange {
                    index,
                    slot,
                    pool: lanes,
                })
            }
            Some(Some(first)) => {
                return Err(NotAPermutation::Repeated {
                    index,
                    first: *first,
                    second: slot,
                })
            }
            Some(None) => seen[index as usize] = Some(slot),
        }
    }
    assert_eq!(src.len(), lanes as usize, "one index per lane");
    Ok(())
}

impl fmt::Display for Benes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Benes({} lanes, {} stages)", self.lanes, self.stages())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn routes_exactly(net: &Benes, src: &[u32]) {
        let settings = net.route(src).unwrap();
        assert_eq!(net.permutation(&settings), src, "{net}: {src:?}");
    }

    #[test]
    fn ten_thousand_random_permutations_per_size() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for lanes in [8, 16, 32, 64, 128] {
            let net = Benes::new(lanes).unwrap();
            let mut src: Vec<u32> = (0..lanes).collect();
            for _ in 0..10_000 {
                src.shuffle(&mut rng);
                routes_exactly(&net, &src);
            }
        }
    }

    /// Heap's algorithm over all 8! = 40320 permutations.
    #[test]
    fn every_permutation_of_eight() {
        let net = Benes::new(8).unwrap();
        let mut a: Vec<u32> = (0..8).collect();
        let mut c = [0usize; 8];
        let mut count = 1;
        routes_exactly(&net, &a);
        let mut i = 0;
        while i < 8 {
            if c[i] < i {
                let j = if i % 2 == 0 { 0 } else { c[i] };
                a.swap(j, i);
                routes_exactly(&net, &a);
                count += 1;
                c[i] += 1;
                i = 0;
            } else {
                c[i] = 0;
                i += 1;
            }
        }
        assert_eq!(count, 40_320);
    }

    #[test]
    fn small_networks_and_identity() {
        for lanes in [2, 4, 256] {
            let net = Benes::new(lanes).unwrap();
            let id: Vec<u32> = (0..lanes).collect();
            routes_exactly(&net, &id);
            let rev: Vec<u32> = id.iter().rev().copied().collect();
            routes_exactly(&net, &rev);
        }
        assert_eq!(Benes::new(16).unwrap().switch_bits(), 7 * 8);
        assert!(Benes::new(12).is_none() && Benes::new(1).is_none());
    }

    #[test]
    fn every_setting_is_a_permutation() {
        let net = Benes::new(4).unwrap();
        for code in 0..1u32 << net.switch_bits() {
            let settings: Vec<bool> = (0..net.switch_bits()).map(|b| code >> b & 1 == 1).collect();
            let mut p = net.permutation(&settings);
            p.sort_unstable();
            assert_eq!(p, vec![0, 1, 2, 3]);
        }
    }

    #[test]
    fn non_permutations_are_named() {
        let net = Benes::new(4).unwrap();
        assert_eq!(
            net.route(&[0, 2, 1, 2]),
            Err(NotAPermutation::Repeated {
                index: 2,
                first: 1,
                second: 3
            })
        );
        assert_eq!(
            net.route(&[0, 1, 4, 3]),
            Err(NotAPermutation::OutOfRange {
                index: 4,
                slot: 2,
                pool: 4
            })
        );
    }
}
