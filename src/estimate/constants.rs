//! The closed-form model's constants: one data file (`constants.toml`,
//! embedded) with every figure's source, which a user's TOML overrides key by
//! key. Everything the model derives from them (gate, adder, ADC and bitcell
//! areas at the target node) lives here, so the model itself only counts.

use serde::{Deserialize, Serialize};

pub const DEFAULT_CONSTANTS: &str = include_str!("constants.toml");

/// How the dense engine's exact read-out sums its products
/// (constants.toml, `dense_adder_tree`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DenseAdderTree {
    /// One tree of W 1-bit inputs per bit column; the lane recombines a
    /// weight's w_bits column sums (cimpool's RTL).
    PerColumn,
    /// One tree of W w_bits-bit inputs per weight (ZigZag-IMC's DIMC).
    PerWeight,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Constants {
    pub node_nm: f64,
    pub vdd: f64,
    pub zigzag_node_nm: f64,
    pub nand2_um2: f64,
    pub full_adder_um2: f64,
    pub full_adder_fj: f64,
    pub adc_area_slope: f64,
    pub adc_area_offset: f64,
    pub adc_energy_linear_ff: f64,
    pub adc_energy_exponential_ff: f64,
    pub flop_nand2_eq: f64,
    pub flop_fj: f64,
    pub mux2_nand2_eq: f64,
    pub bitcell_f2: f64,
    pub columns_per_adc: u32,
    pub write_flops_per_bit: f64,
    pub dram_pj_per_bit: f64,
    pub control_nand2: f64,
    pub gate_energy_scale: f64,
    pub dense_adder_tree: DenseAdderTree,
    pub clock_mhz: f64,
    pub host_mac_pj: f64,
    pub sram_read_pj_per_bit: f64,
    pub sram_write_pj_per_bit: f64,
    pub sram_um2_per_bit: f64,
    pub sram_node_nm: f64,
    pub macro_area_um2: f64,
    pub macro_fj_per_op: f64,
    /// (node in nm, area relative to 45 nm), nodes descending.
    pub area_scaling: Vec<[f64; 2]>,
}

impl Default for Constants {
    fn default() -> Self {
        Constants::from_toml("").expect("embedded constants are valid")
    }
}

impl Constants {
    /// The embedded constants with the keys of `overrides` (TOML) replaced.
    pub fn from_toml(overrides: &str) -> Result<Constants, String> {
        let mut table: toml::Table = DEFAULT_CONSTANTS.parse().expect("embedded TOML parses");
        let user: toml::Table = overrides
            .parse()
            .map_err(|e: toml::de::Error| crate::diagnostics::toml_error(overrides, &e))?;
        let defaults = table.clone();
        for (k, v) in &user {
            if !table.contains_key(k) {
                let keys: Vec<&str> = table.keys().map(String::as_str).collect();
                // A quoted key may hold a newline: escaped (one line).
                return Err(format!(
                    "unknown constant `{}`; the constants are {}",
                    crate::diagnostics::printable(k),
                    keys.join(", ")
                ));
            }
            table.insert(k.clone(), v.clone());
        }
        let c: Constants = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| {
                // Serde's message leaves the key out: find the value it refused.
                let culprit = user.iter().find(|(k, v)| {
                    let mut one = defaults.clone();
                    one.insert((*k).clone(), (*v).clone());
                    toml::Value::Table(one).try_into::<Constants>().is_err()
                });
                let message = crate::diagnostics::one_line(e.message());
                match culprit {
                    Some((k, v)) => format!("{k} = {v} is invalid: {message}"),
                    None => message,
                }
            })?;
        c.validate()?;
        Ok(c)
    }

    fn validate(&self) -> Result<(), String> {
        let positive = [
            ("node_nm", self.node_nm),
            ("vdd", self.vdd),
            ("zigzag_node_nm", self.zigzag_node_nm),
            ("nand2_um2", self.nand2_um2),
            ("full_adder_um2", self.full_adder_um2),
            ("full_adder_fj", self.full_adder_fj),
            ("flop_nand2_eq", self.flop_nand2_eq),
            ("flop_fj", self.flop_fj),
            ("mux2_nand2_eq", self.mux2_nand2_eq),
            ("bitcell_f2", self.bitcell_f2),
            ("dram_pj_per_bit", self.dram_pj_per_bit),
            ("gate_energy_scale", self.gate_energy_scale),
            ("clock_mhz", self.clock_mhz),
            ("sram_um2_per_bit", self.sram_um2_per_bit),
            ("sram_node_nm", self.sram_node_nm),
        ];
        for (name, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!(
                    "{name} = {v} is invalid: it must be a positive number"
                ));
            }
        }
        for (name, v) in [
            ("write_flops_per_bit", self.write_flops_per_bit),
            ("control_nand2", self.control_nand2),
            ("host_mac_pj", self.host_mac_pj),
            ("macro_area_um2", self.macro_area_um2),
            ("macro_fj_per_op", self.macro_fj_per_op),
            ("sram_read_pj_per_bit", self.sram_read_pj_per_bit),
            ("sram_write_pj_per_bit", self.sram_write_pj_per_bit),
            ("adc_energy_linear_ff", self.adc_energy_linear_ff),
            ("adc_energy_exponential_ff", self.adc_energy_exponential_ff),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("{name} = {v} is invalid: it must be >= 0"));
            }
        }
        if self.columns_per_adc == 0 {
            return Err("columns_per_adc = 0 is invalid: it must be >= 1".into());
        }
        let t = &self.area_scaling;
        if t.len() < 2
            || t.windows(2).any(|w| w[0][0] <= w[1][0])
            || t.iter().any(|r| !(r[0] > 0.0 && r[1] > 0.0))
        {
            return Err(
                "area_scaling must list at least two [node_nm, relative_area] rows, nodes strictly descending, all positive".into(),
            );
        }
        let (hi, lo) = (t[0][0], t[t.len() - 1][0]);
        for (name, node) in [
            ("node_nm", self.node_nm),
            ("zigzag_node_nm", self.zigzag_node_nm),
            ("sram_node_nm", self.sram_node_nm),
        ] {
            if node > hi || node < lo {
                return Err(format!(
                    "{name} = {node} is outside the area_scaling table ({lo} to {hi} nm)"
                ));
            }
        }
        Ok(())
    }

    /// Area relative to 45 nm at `node` nm, log-log between table rows.
    pub fn relative_area(&self, node: f64) -> f64 {
        let t = &self.area_scaling;
        let i = t
            .windows(2)
            .position(|w| node <= w[0][0] && node >= w[1][0])
            .unwrap_or_else(|| panic!("node {node} nm outside the validated table"));
        let ([n0, a0], [n1, a1]) = (t[i], t[i + 1]);
        let f = (node.ln() - n0.ln()) / (n1.ln() - n0.ln());
        (a0.ln() + f * (a1.ln() - a0.ln())).exp()
    }

    /// Factor taking an area at `from` nm to the target node.
    pub fn area_factor_from(&self, from: f64) -> f64 {
        self.relative_area(self.node_nm) / self.relative_area(from)
    }

    /// `area_factor_from` for a node above the table's largest (osu018's
    /// 180 nm): the first two rows' log-log slope extended (an
    /// extrapolation: the table has no such row).
    pub fn area_factor_extrapolated(&self, from: f64) -> f64 {
        let t = &self.area_scaling;
        if from <= t[0][0] {
            return self.area_factor_from(from);
        }
        let ([n0, a0], [n1, a1]) = (t[0], t[1]);
        let slope = (a0.ln() - a1.ln()) / (n0.ln() - n1.ln());
        let rel = a0 * (from / n0).powf(slope);
        self.relative_area(self.node_nm) / rel
    }

    // Unit areas at the target node (um^2).
    pub fn nand2(&self) -> f64 {
        self.nand2_um2 * self.area_factor_from(self.zigzag_node_nm)
    }
    pub fn full_adder(&self) -> f64 {
        self.full_adder_um2 * self.area_factor_from(self.zigzag_node_nm)
    }
    pub fn flop(&self) -> f64 {
        self.flop_nand2_eq * self.nand2()
    }
    pub fn mux2(&self) -> f64 {
        self.mux2_nand2_eq * self.nand2()
    }
    pub fn bitcell(&self) -> f64 {
        self.bitcell_f2 * (self.node_nm * 1e-3).powi(2)
    }
    /// One ADC of `bits` bits (ZigZag-IMC's fit, scaled from its node).
    pub fn adc(&self, bits: u32) -> f64 {
        let b = bits as f64;
        10f64.powf(self.adc_area_slope * b + self.adc_area_offset)
            * 2f64.powf(b)
            * self.area_factor_from(self.zigzag_node_nm)
    }

    // Energies per event (fJ), at zigzag_node_nm.
    pub fn full_adder_energy(&self) -> f64 {
        self.full_adder_fj
    }
    /// A NAND2-equivalent toggle: the adder's energy per unit of area,
    /// times `gate_energy_scale`.
    pub fn gate_energy(&self) -> f64 {
        self.gate_energy_scale * self.full_adder_fj * self.nand2_um2 / self.full_adder_um2
    }
    pub fn flop_energy(&self) -> f64 {
        self.flop_fj
    }
    pub fn mux2_energy(&self) -> f64 {
        self.mux2_nand2_eq * self.gate_energy()
    }
    pub fn adc_energy(&self, bits: u32) -> f64 {
        let b = bits as f64;
        (self.adc_energy_linear_ff * b + self.adc_energy_exponential_ff * 4f64.powf(b))
            * self.vdd
            * self.vdd
    }
    pub fn write_energy_per_bit(&self) -> f64 {
        self.write_flops_per_bit * self.flop_energy()
    }
    pub fn dram_energy_per_bit(&self) -> f64 {
        self.dram_pj_per_bit * 1e3
    }
    /// One 8-bit multiply-accumulate on the host (fJ).
    pub fn host_mac_energy(&self) -> f64 {
        self.host_mac_pj * 1e3
    }
    /// An on-chip SRAM buffer: area per bit at the target node (um^2), and
    /// the energy of reading plus writing one bit (fJ).
    pub fn sram_bit(&self) -> f64 {
        self.sram_um2_per_bit * self.area_factor_from(self.sram_node_nm)
    }
    pub fn sram_write_and_read_energy(&self) -> f64 {
        (self.sram_read_pj_per_bit + self.sram_write_pj_per_bit) * 1e3
    }
    /// Seconds per cycle at `clock_mhz`.
    pub fn cycle_s(&self) -> f64 {
        1e-6 / self.clock_mhz
    }
}

/// Full adders of an adder tree summing `n` inputs of `p` bits
/// (ZigZag-IMC: N(p + 1) - (p + log2 N + 1)); 0 for a single input.
pub fn adder_tree_full_adders(n: u32, p: u32) -> f64 {
    if n <= 1 {
        return 0.0;
    }
    let (n, p) = (n as f64, p as f64);
    n * (p + 1.0) - (p + n.log2() + 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_interpolates_and_is_identity_at_its_own_node() {
        let c = Constants::default();
        assert!((c.area_factor_from(28.0) - 1.0).abs() < 1e-12);
        assert!((c.relative_area(45.0) - 1.0).abs() < 1e-12);
        let r28 = c.relative_area(28.0);
        assert!(r28 < 0.46 && r28 > 0.21, "{r28}");
        // sky130 to 28 nm: 0.368 / 6.4
        let f = c.area_factor_from(130.0);
        assert!((f - r28 / 6.4).abs() < 1e-12);
        // 180 nm: the 130-90 nm slope (2.25) extended, 13.3x 45 nm.
        let f180 = c.area_factor_extrapolated(180.0);
        assert!((r28 / f180 - 13.3).abs() < 0.05, "{}", r28 / f180);
        assert_eq!(c.area_factor_extrapolated(130.0), f);
    }

    #[test]
    fn zigzag_formulas() {
        // 8 one-bit inputs: 8 * 2 - (1 + 3 + 1) = 11 full adders.
        assert_eq!(adder_tree_full_adders(8, 1), 11.0);
        assert_eq!(adder_tree_full_adders(1, 4), 0.0);
        let c = Constants::default();
        // 4-bit ADC at 28 nm: 10^(1.206 - 0.1476) * 16 um^2.
        assert!((c.adc(4) - 10f64.powf(1.0584) * 16.0).abs() < 1e-9);
        assert!((c.adc_energy(4) - (400.0 + 0.256) * 0.81).abs() < 1e-9);
    }

    #[test]
    fn overrides_are_checked() {
        let c = Constants::from_toml("node_nm = 65.0\ndram_pj_per_bit = 10.0").unwrap();
        assert_eq!((c.node_nm, c.dram_pj_per_bit), (65.0, 10.0));
        let e = Constants::from_toml("bitcel_f2 = 1.0").unwrap_err();
        assert!(e.contains("unknown constant `bitcel_f2`"), "{e}");
        let e = Constants::from_toml("\"bit\\ncel\" = 1.0").unwrap_err();
        assert!(e.contains("unknown constant `bit\\ncel`;"), "{e}");
        let e = Constants::from_toml("node_nm = 3.0").unwrap_err();
        assert!(e.contains("node_nm = 3"), "{e}");
        let e = Constants::from_toml("vdd = -1.0").unwrap_err();
        assert!(e.contains("vdd = -1"), "{e}");
        let e = Constants::from_toml("dense_adder_tree = 'per_row'").unwrap_err();
        assert!(
            e.contains("dense_adder_tree = \"per_row\" is invalid") && e.contains("per_weight"),
            "{e}"
        );
        let c = Constants::from_toml("dense_adder_tree = 'per_weight'").unwrap();
        assert_eq!(c.dense_adder_tree, DenseAdderTree::PerWeight);
    }
}
