//! The one configuration object that drives the RTL, the generated header
//! and JSON, the golden model, the co-simulation and the compressor.

mod derive;
pub mod layout;
pub mod random;

use crate::diagnostics::{one_line, printable, toml_error};
pub use derive::{adc_read_out, adc_read_out_at, default_adc_shift, Derived, Range};

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;

/// The configuration embedded in the binary (the CIMPool paper's design).
pub const DEFAULT_TOML: &str = include_str!("default.toml");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum AdcMode {
    /// The sum's floor at the step: on average (2^sh - 1) / 2 low.
    FloorClamp,
    /// The nearest code, a tie rounded up: every tie reads half a step
    /// high (at a step of 2, every odd sum).
    RoundClamp,
    /// The nearest code, a tie rounded to the even code: ties go up and
    /// down alike, so the read-out is unbiased below the clamp.
    RoundEvenClamp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Crossbar {
    Mux,
    Benes,
}

/// Which datapath the engine has (docs/SPEC.md sections 3 and 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum EngineKind {
    /// CIMPool: a pool macro, 1-bit error macros, index decoder, crossbar.
    Pool,
    /// MARS: `w_bits`-bit weights bit-sliced over adjacent columns.
    Dense,
}

/// Block sparsity of the dense engine (docs/SPEC.md section 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Sparsity {
    None,
    Skip,
    Compact,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Storage {
    Flops,
    Blackbox,
}

impl fmt::Display for AdcMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AdcMode::FloorClamp => "floor_clamp",
            AdcMode::RoundClamp => "round_clamp",
            AdcMode::RoundEvenClamp => "round_even_clamp",
        })
    }
}

impl fmt::Display for Crossbar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Crossbar::Mux => "mux",
            Crossbar::Benes => "benes",
        })
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EngineKind::Pool => "pool",
            EngineKind::Dense => "dense",
        })
    }
}

impl fmt::Display for Sparsity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Sparsity::None => "none",
            Sparsity::Skip => "skip",
            Sparsity::Compact => "compact",
        })
    }
}

impl fmt::Display for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Storage::Flops => "flops",
            Storage::Blackbox => "blackbox",
        })
    }
}

/// Every parameter of SPEC section 1 plus the microarchitecture knobs.
/// Field documentation lives in `default.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub engine: EngineKind,
    pub macros: u32,
    pub rows: u32,
    pub cols: u32,
    pub pool: u32,
    pub wl_parallel: u32,
    pub adc_bits: u32,
    pub adc_mode: AdcMode,
    pub act_bits: u32,
    pub act_signed: bool,
    pub out_bits: u32,
    pub relu: bool,
    pub w_bits: u32,
    pub sparsity: Sparsity,
    pub slots: u32,
    pub crossbar: Crossbar,
    pub crossbar_units: u32,
    pub crossbar_pipeline: u32,
    pub output_pipeline: u32,
    pub popcount_at_load: bool,
    pub storage: Storage,
    pub out_lanes: u32,
    pub scale_bits: u32,
    pub bias_bits: u32,
    pub shift_bits: u32,
    pub max_row_blocks: u32,
    pub clock_period_ns: f64,
    pub io_delay_fraction: f64,
    pub orfs_platform: String,
    pub core_utilization: u32,
    pub place_density: f64,
    pub macro_bit_area_um2: f64,
    pub macro_readout_bit_area_um2: f64,
    pub macro_pin_pitch_um: f64,
    pub macro_clk_to_q_ns: f64,
    pub macro_wl_setup_ns: f64,
    pub macro_setup_ns: f64,
    pub macro_hold_ns: f64,
    pub prefix: String,
}

impl Default for Config {
    fn default() -> Config {
        // The embedded file sets every key, so it is the single source of
        // the defaults.
        toml::from_str(DEFAULT_TOML).expect("embedded default.toml matches the schema")
    }
}

/// A configuration value outside its allowed range, or a TOML problem.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("config field `{field}` = {value} is invalid: {rule}")]
    Invalid {
        field: &'static str,
        value: String,
        rule: String,
    },
    #[error("cannot read config file {path}: {reason}")]
    Read { path: String, reason: String },
    /// Bad TOML or a value of the wrong type, in a file or on the command line.
    #[error("{origin} is not valid: {reason}")]
    Parse { origin: String, reason: String },
    // A quoted TOML key may hold a newline (found by make fuzz): printed
    // escaped, so the rejection stays one line.
    #[error(
        "{origin}: unknown config key `{}`; `cimpool default-config` lists every key",
        printable(.key)
    )]
    UnknownKey { origin: String, key: String },
}

fn invalid(field: &'static str, value: impl fmt::Display, rule: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field,
        value: value.to_string(),
        rule: rule.into(),
    }
}

/// `lo <= value <= hi` (written so that a NaN fails too).
fn in_range<T: PartialOrd + fmt::Display>(
    field: &'static str,
    value: T,
    lo: T,
    hi: T,
) -> Result<(), ConfigError> {
    if !(value >= lo && value <= hi) {
        Err(invalid(
            field,
            value,
            format!("{field} must be between {lo} and {hi}"),
        ))
    } else {
        Ok(())
    }
}

/// Folds a multi-line parser message into one line.
fn default_table() -> toml::Table {
    DEFAULT_TOML.parse().expect("embedded default.toml parses")
}

fn parse_table(text: &str, origin: &str) -> Result<toml::Table, ConfigError> {
    text.parse()
        .map_err(|e: toml::de::Error| ConfigError::Parse {
            origin: origin.into(),
            reason: toml_error(text, &e),
        })
}

/// A command-line value for `key`, read as the type of its default:
/// integers, numbers, true/false, or a name (`round-clamp` means
/// `round_clamp`).
fn override_value(key: &str, raw: &str, default: &toml::Value) -> Result<toml::Value, ConfigError> {
    let bad = |what: &str| ConfigError::Parse {
        origin: "the command line".into(),
        reason: format!("`{key}` = {} is not {what}", printable(raw)),
    };
    Ok(match default {
        toml::Value::Integer(_) => {
            toml::Value::Integer(raw.parse().map_err(|_| bad("an integer"))?)
        }
        toml::Value::Float(_) => toml::Value::Float(raw.parse().map_err(|_| bad("a number"))?),
        toml::Value::Boolean(_) => {
            toml::Value::Boolean(raw.parse().map_err(|_| bad("true or false"))?)
        }
        _ => toml::Value::String(raw.replace('-', "_")),
    })
}

/// One configuration key as the command line offers it.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyDoc {
    pub key: String,
    /// The embedded default, as TOML.
    pub default: String,
    /// Its comment in the embedded default configuration.
    pub help: String,
}

/// Every configuration key with its default and its comment, in the order
/// of the embedded default file: the schema the CLI derives its flags from.
pub fn schema() -> Vec<KeyDoc> {
    let table = default_table();
    let mut keys = Vec::new();
    let mut above = String::new();
    for line in DEFAULT_TOML.lines() {
        let t = line.trim();
        if let Some(comment) = t.strip_prefix('#') {
            above = comment.trim().to_string();
            continue;
        }
        let Some((key, rest)) = t.split_once('=') else {
            above.clear();
            continue;
        };
        let key = key.trim();
        let Some(value) = table.get(key) else {
            continue;
        };
        // The comment follows the value: after a `#` outside the value's quotes.
        let value_text = value.to_string();
        let after = rest
            .trim_start()
            .strip_prefix(value_text.as_str())
            .unwrap_or("");
        let help = match after.trim().strip_prefix('#') {
            Some(c) => c.trim().to_string(),
            None => above.clone(),
        };
        keys.push(KeyDoc {
            key: key.to_string(),
            default: value_text,
            help,
        });
    }
    keys
}

/// Logic levels of one crossbar, the most register stages it can take:
/// 2:1 multiplexer levels (mux) or switch stages (benes).
pub fn crossbar_levels(crossbar: Crossbar, pool: u32) -> u32 {
    let index_bits = crate::ir::clog2(pool as u64);
    match crossbar {
        Crossbar::Mux => index_bits,
        Crossbar::Benes => (2 * index_bits).saturating_sub(1),
    }
}

/// Most lanes (macros x cols) a design may have: the lane accumulators and
/// the index memory are flops, and beyond this they dominate everything.
pub const MAX_LANES: u32 = 16384;

/// Register stages the output unit's requantizer path can take
/// (`gen::output::OutputCuts`).
pub const MAX_OUTPUT_PIPELINE: u32 = 5;

impl Config {
    /// Reads a TOML file; keys it leaves out take the embedded defaults.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        Config::from_sources(Some(path), &[])
    }

    /// Parses TOML; keys it leaves out take the embedded defaults, unknown
    /// keys are rejected by name.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let table = parse_table(text, "config text")?;
        Config::from_table(table, "config text")
    }

    /// The embedded defaults, then the keys of `file`, then `overrides`
    /// (key, value as typed on a command line) in order.
    pub fn from_sources(
        file: Option<&Path>,
        overrides: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let mut table = toml::Table::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            table = parse_table(&text, &path.display().to_string())?;
        }
        let defaults = default_table();
        for (key, raw) in overrides {
            let default = defaults.get(key).ok_or_else(|| ConfigError::UnknownKey {
                origin: "command line".into(),
                key: key.clone(),
            })?;
            table.insert(key.clone(), override_value(key, raw, default)?);
        }
        let origin = match file {
            Some(path) if overrides.is_empty() => path.display().to_string(),
            Some(path) => format!("{} with the command-line settings", path.display()),
            None => "the command line".to_string(),
        };
        Config::from_table(table, &origin)
    }

    fn from_table(user: toml::Table, origin: &str) -> Result<Config, ConfigError> {
        let mut merged = default_table();
        for key in user.keys() {
            if !merged.contains_key(key) {
                return Err(ConfigError::UnknownKey {
                    origin: origin.into(),
                    key: key.clone(),
                });
            }
        }
        merged.extend(user);
        Config::deserialize(merged).map_err(|e| ConfigError::Parse {
            origin: origin.into(),
            reason: one_line(&e.to_string()),
        })
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("config serializes")
    }

    /// Replaces the "follow another field" zeros (pool = cols, wl_parallel =
    /// rows) by their values; everything downstream sees resolved numbers.
    pub fn resolved(&self) -> Config {
        let mut c = self.clone();
        if c.pool == 0 {
            c.pool = c.cols;
        }
        if c.wl_parallel == 0 {
            c.wl_parallel = c.rows;
        }
        if c.slots == 0 && c.wl_parallel > 0 && c.is_dense() {
            c.slots = c.rows / c.wl_parallel;
        }
        c
    }

    /// The dense (MARS) engine rather than the pool engine.
    pub fn is_dense(&self) -> bool {
        self.engine == EngineKind::Dense
    }

    /// The dense engine with a sparsity memory (`skip` or `compact`).
    pub fn block_sparse(&self) -> bool {
        self.is_dense() && self.sparsity != Sparsity::None
    }

    /// Output lanes L: macros x cols (pool engine), or macros x cols /
    /// w_bits (dense engine: one weight spans w_bits columns).
    pub fn lanes(&self) -> u32 {
        match self.engine {
            EngineKind::Pool => self.macros * self.cols,
            EngineKind::Dense => self.macros * (self.cols / self.w_bits.max(1)),
        }
    }

    /// Checks every rule the hardware and the semantics rely on; the first
    /// violated rule is returned with the field, its value and the rule.
    pub fn validate(&self) -> Result<(), ConfigError> {
        // Validate the resolved configuration. Resolution can leave a
        // value at 0 (slots when wl_parallel > rows), so recurse only when
        // it changed something: the range checks below then name the field.
        let resolved = self.resolved();
        if resolved != *self {
            return resolved.validate();
        }
        self.validate_array()?;
        self.validate_engine()?;
        self.validate_flow()?;
        self.validate_lanes()?;
        let d = Derived::new(self);
        if d.value_bits > 120 {
            return Err(invalid(
                "max_row_blocks",
                self.max_row_blocks,
                format!("the requantizer input would need {} bits (limit 120); reduce max_row_blocks, scale_bits or bias_bits", d.value_bits),
            ));
        }
        Ok(())
    }

    /// The macros, the pool, the phases and the datapath widths.
    fn validate_array(&self) -> Result<(), ConfigError> {
        in_range("macros", self.macros, 1, 64)?;
        in_range("rows", self.rows, 2, 1024)?;
        in_range("cols", self.cols, 2, 1024)?;
        in_range("wl_parallel", self.wl_parallel, 1, self.rows)?;
        if self.rows % self.wl_parallel != 0 {
            return Err(invalid(
                "wl_parallel",
                self.wl_parallel,
                format!("rows ({}) must be a multiple of wl_parallel", self.rows),
            ));
        }
        in_range("adc_bits", self.adc_bits, 0, 16)?;
        in_range("act_bits", self.act_bits, 1, 16)?;
        if self.act_signed && self.act_bits < 2 {
            return Err(invalid(
                "act_bits",
                self.act_bits,
                "signed activations need act_bits >= 2",
            ));
        }
        in_range("out_bits", self.out_bits, 2, 32)?;
        in_range("scale_bits", self.scale_bits, 2, 32)?;
        in_range("bias_bits", self.bias_bits, 2, 48)?;
        in_range("shift_bits", self.shift_bits, 1, 7)?;
        in_range("max_row_blocks", self.max_row_blocks, 1, 1 << 20)?;
        Ok(())
    }

    /// The dense engine's weights and block sparsity (docs/SPEC.md section 6).
    fn validate_engine(&self) -> Result<(), ConfigError> {
        let phases = self.rows / self.wl_parallel;
        if !self.is_dense() {
            if self.sparsity != Sparsity::None {
                return Err(invalid(
                    "sparsity",
                    self.sparsity,
                    "block sparsity is a feature of the dense engine: set engine = \"dense\" or sparsity = \"none\"",
                ));
            }
            return Ok(());
        }
        in_range("w_bits", self.w_bits, 2, 8)?;
        if self.crossbar != Crossbar::Mux {
            return Err(invalid(
                "crossbar",
                self.crossbar,
                "the dense engine has no pool and no crossbar: crossbar = \"benes\" is a pool-engine option (set crossbar = \"mux\", the default, or engine = \"pool\")",
            ));
        }
        if self.slots > phases {
            return Err(invalid(
                "slots",
                self.slots,
                format!(
                    "slots must be between 1 and rows / wl_parallel = {phases} (0 means {phases})"
                ),
            ));
        }
        if self.cols % self.w_bits != 0 {
            return Err(invalid(
                "w_bits",
                self.w_bits,
                format!(
                    "w_bits must divide cols ({}): a weight spans w_bits adjacent columns",
                    self.cols
                ),
            ));
        }
        if self.macros * self.cols / self.w_bits < 2 {
            // One lane would need a zero-width lane address.
            return Err(invalid(
                "cols",
                self.cols,
                format!(
                    "the dense engine needs at least 2 lanes, but macros x cols / w_bits = {} x {} / {} = 1: add macros or columns",
                    self.macros, self.cols, self.w_bits
                ),
            ));
        }
        Ok(())
    }

    /// The flow hand-off: constraints, ORFS settings, macro views, names.
    fn validate_flow(&self) -> Result<(), ConfigError> {
        in_range("clock_period_ns", self.clock_period_ns, 0.1, 1000.0)?;
        in_range("io_delay_fraction", self.io_delay_fraction, 0.0, 0.9)?;
        in_range("core_utilization", self.core_utilization, 1, 90)?;
        in_range("place_density", self.place_density, 0.05, 1.0)?;
        in_range("macro_bit_area_um2", self.macro_bit_area_um2, 0.01, 1000.0)?;
        in_range(
            "macro_readout_bit_area_um2",
            self.macro_readout_bit_area_um2,
            0.0,
            1000.0,
        )?;
        in_range("macro_pin_pitch_um", self.macro_pin_pitch_um, 0.01, 100.0)?;
        // The macro arcs must leave room in the period, or every path into
        // or out of a black-box macro fails by construction.
        if self.storage == Storage::Blackbox {
            let period = self.clock_period_ns;
            for (field, v) in [
                ("macro_clk_to_q_ns", self.macro_clk_to_q_ns),
                ("macro_wl_setup_ns", self.macro_wl_setup_ns),
                ("macro_setup_ns", self.macro_setup_ns),
                ("macro_hold_ns", self.macro_hold_ns),
            ] {
                if !(v >= 0.0 && v < period) {
                    return Err(invalid(
                        field,
                        v,
                        format!(
                            "{field} must be at least 0 and below clock_period_ns ({period}): set the black-box macro's own timing for this clock"
                        ),
                    ));
                }
            }
        }
        let platform_ok = !self.orfs_platform.is_empty()
            && self
                .orfs_platform
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !platform_ok {
            return Err(invalid(
                "orfs_platform",
                format!("{:?}", self.orfs_platform),
                "orfs_platform must be an ORFS platform name (letters, digits, _), e.g. sky130hd, nangate45, asap7",
            ));
        }
        let prefix_ok = self.prefix.is_empty()
            || (self
                .prefix
                .starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && self
                    .prefix
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_'));
        if !prefix_ok {
            return Err(invalid(
                "prefix",
                format!("{:?}", self.prefix),
                "prefix must be empty or start a Verilog identifier (a letter or _, then letters, digits, _), e.g. \"soc_a_\"",
            ));
        }
        Ok(())
    }

    /// Lanes, lane groups, crossbars and output beats.
    fn validate_lanes(&self) -> Result<(), ConfigError> {
        let lanes = self.lanes();
        if self.macros * self.cols > MAX_LANES {
            return Err(invalid(
                "macros",
                self.macros,
                format!(
                    "macros x cols = {} columns exceeds the limit of {MAX_LANES}",
                    self.macros * self.cols
                ),
            ));
        }
        let what = if self.is_dense() {
            "macros x cols / w_bits"
        } else {
            "macros x cols"
        };
        if !self.is_dense() {
            self.validate_crossbar(lanes)?;
        }
        if self.output_pipeline > MAX_OUTPUT_PIPELINE {
            return Err(invalid(
                "output_pipeline",
                self.output_pipeline,
                format!("output_pipeline must be between 0 and {MAX_OUTPUT_PIPELINE}, the cut points of the requantizer path"),
            ));
        }
        if self.popcount_at_load && self.is_dense() {
            return Err(invalid(
                "popcount_at_load",
                self.popcount_at_load,
                "popcount_at_load applies to the pool engine only: the dense engine's 0/1 cells need no input popcount",
            ));
        }
        if self.out_lanes != 0 && (self.out_lanes > lanes || lanes % self.out_lanes != 0) {
            return Err(invalid(
                "out_lanes",
                self.out_lanes,
                format!("out_lanes must be 0 (auto) or divide the {lanes} lanes ({what})"),
            ));
        }
        if self.out_lanes * self.out_bits > 4096 {
            return Err(invalid(
                "out_lanes",
                self.out_lanes,
                format!(
                    "an output beat of out_lanes x out_bits = {} bits exceeds 4096",
                    self.out_lanes * self.out_bits
                ),
            ));
        }
        Ok(())
    }

    /// The pool engine's pool and crossbars over `lanes` lanes.
    fn validate_crossbar(&self, lanes: u32) -> Result<(), ConfigError> {
        in_range("pool", self.pool, 2, 1024)?;
        if self.pool > self.cols {
            return Err(invalid(
                "pool",
                self.pool,
                format!("pool must be <= cols ({})", self.cols),
            ));
        }
        if self.cols % self.pool != 0 {
            return Err(invalid(
                "pool",
                self.pool,
                format!("pool must divide cols ({})", self.cols),
            ));
        }
        if self.crossbar == Crossbar::Benes && !self.pool.is_power_of_two() {
            return Err(invalid(
                "pool",
                self.pool,
                "crossbar = \"benes\" needs pool to be a power of two; use crossbar = \"mux\" for other sizes",
            ));
        }
        let levels = crossbar_levels(self.crossbar, self.pool);
        if self.crossbar_pipeline > levels {
            return Err(invalid(
                "crossbar_pipeline",
                self.crossbar_pipeline,
                format!(
                    "crossbar_pipeline must be between 0 and {levels}, the logic levels of a {} crossbar of {} lanes",
                    self.crossbar, self.pool
                ),
            ));
        }
        let groups = lanes / self.pool;
        if self.crossbar_units != 0
            && (self.crossbar_units > groups || groups % self.crossbar_units != 0)
        {
            return Err(invalid(
                "crossbar_units",
                self.crossbar_units,
                format!("crossbar_units must be 0 (auto) or divide the {groups} lane groups (macros x cols / pool)"),
            ));
        }
        Ok(())
    }

    /// Short name of the parameter set, used for output folder names.
    pub fn design_name(&self) -> String {
        match self.engine {
            EngineKind::Pool => format!(
                "cim_n{}_r{}_c{}_p{}",
                self.macros, self.rows, self.cols, self.pool
            ),
            EngineKind::Dense => format!(
                "cim_dense_w{}_n{}_r{}_c{}_{}",
                self.w_bits, self.macros, self.rows, self.cols, self.sparsity
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_sets_every_key() {
        let table: toml::Table = DEFAULT_TOML.parse().unwrap();
        let serialized: toml::Table = Config::default().to_toml().parse().unwrap();
        let mut missing: Vec<_> = serialized
            .keys()
            .filter(|k| !table.contains_key(*k))
            .collect();
        missing.sort();
        assert!(missing.is_empty(), "default.toml lacks {missing:?}");
    }

    #[test]
    fn default_is_the_paper_design_and_valid() {
        let c = Config::default().resolved();
        assert_eq!(
            (c.macros, c.rows, c.cols, c.pool, c.wl_parallel, c.act_bits),
            (8, 128, 128, 128, 128, 8)
        );
        c.validate().unwrap();
    }

    #[test]
    fn partial_file_takes_defaults_for_missing_keys() {
        let c = Config::from_toml("macros = 2\nrows = 32\n").unwrap();
        assert_eq!((c.macros, c.rows, c.cols), (2, 32, 128));
    }

    #[test]
    fn unknown_key_is_named() {
        let e = Config::from_toml("macross = 2\n").unwrap_err().to_string();
        assert!(e.contains("unknown config key `macross`"), "{e}");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named_on_one_line() {
        // A quoted TOML key may hold a newline (make fuzz found one).
        let e = Config::from_toml("\"mac\\nros\" = 2\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown config key `mac\\nros`"), "{e}");
        let set = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        let e = Config::from_sources(None, &set("mac\nros", "2"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown config key `mac\\nros`"), "{e}");
        let e = Config::from_sources(None, &set("macros", "8\n9"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "the command line is not valid: `macros` = 8\\n9 is not an integer"
        );
    }

    #[test]
    fn overrides_apply_after_the_file_with_the_defaults_types() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "macros = 2\nrows = 32\n").unwrap();
        let set = |k: &str, v: &str| (k.to_string(), v.to_string());
        let c = Config::from_sources(
            Some(&path),
            &[
                set("rows", "64"),
                set("adc_mode", "round-clamp"),
                set("act_signed", "true"),
            ],
        )
        .unwrap();
        assert_eq!(
            (c.macros, c.rows, c.adc_mode, c.act_signed),
            (2, 64, AdcMode::RoundClamp, true)
        );
        let e = Config::from_sources(None, &[set("macros", "eight")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the command line is not valid: `macros` = eight is not an integer"
        );
        let e = Config::from_sources(None, &[set("crossbar", "ring")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("crossbar") && e.contains("ring"), "{e}");
        let e = Config::from_sources(None, &[set("macross", "2")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown config key `macross`"), "{e}");
    }

    #[test]
    fn schema_lists_every_key_with_its_comment() {
        let keys = schema();
        let serialized: toml::Table = Config::default().to_toml().parse().unwrap();
        assert_eq!(keys.len(), serialized.len());
        let adc = keys.iter().find(|k| k.key == "adc_mode").unwrap();
        assert_eq!(
            (adc.default.as_str(), adc.help.as_str()),
            (
                "\"floor_clamp\"",
                "floor_clamp | round_clamp | round_even_clamp"
            )
        );
        assert!(
            keys.iter().all(|k| !k.help.is_empty()),
            "a key without help"
        );
    }

    #[test]
    fn round_trips_through_toml() {
        let c = Config {
            adc_mode: AdcMode::RoundClamp,
            act_signed: true,
            ..Config::default()
        };
        assert_eq!(Config::from_toml(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn zero_pool_and_wl_follow_cols_and_rows() {
        let c = Config {
            rows: 32,
            cols: 16,
            ..Config::default()
        }
        .resolved();
        assert_eq!((c.pool, c.wl_parallel), (16, 32));
    }

    fn err(c: Config) -> String {
        c.validate().unwrap_err().to_string()
    }

    #[test]
    fn rules_name_field_value_and_rule() {
        let d = Config::default().resolved();
        assert_eq!(
            err(Config {
                pool: 200,
                ..d.clone()
            }),
            "config field `pool` = 200 is invalid: pool must be <= cols (128)"
        );
        assert!(err(Config {
            pool: 48,
            ..d.clone()
        })
        .contains("pool must divide cols (128)"));
        assert!(err(Config {
            wl_parallel: 48,
            ..d.clone()
        })
        .contains("rows (128) must be a multiple of wl_parallel"));
        assert!(err(Config {
            macros: 0,
            ..d.clone()
        })
        .contains("macros must be between 1 and 64"));
        assert!(err(Config {
            rows: 100_000,
            ..d.clone()
        })
        .contains("rows must be between 2 and 1024"));
        assert!(err(Config {
            crossbar_units: 3,
            ..d.clone()
        })
        .contains("divide the 8 lane groups"));
        assert!(err(Config {
            out_lanes: 33,
            ..d.clone()
        })
        .contains("divide the 1024 lanes"));
        assert!(err(Config {
            act_bits: 1,
            act_signed: true,
            ..d.clone()
        })
        .contains("act_bits >= 2"));
        assert!(err(Config {
            macros: 64,
            cols: 1024,
            pool: 1024,
            ..d
        })
        .contains("exceeds the limit"));
    }
}
