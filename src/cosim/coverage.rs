//! Merges Verilator line, branch and toggle coverage over many runs and
//! configurations into one figure per module, and lists what no run reached.
//!
//! Runs of different configurations verilate different RTL: a module's line
//! numbers move with the config, and sized modules carry their size in the
//! name (`cim_macro_16x16`). So a point is keyed by the module's family (the
//! name without its size suffix), the kind, and the *text* of its source line
//! (read from the package the run verilated) rather than by line number; a
//! toggle point by family, signal and bit. A point counts as covered when any
//! run in any configuration hit it.

use super::CosimError;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Line,
    Branch,
    Toggle,
}

/// One coverage point as merged: module family, kind, what it is.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    family: String,
    kind: Kind,
    /// Statement text and Verilator's comment (`if`, `else`, `block`...) for
    /// lines and branches; the signal for toggles.
    what: String,
    /// The bit of a toggled signal; 0 otherwise.
    bit: u32,
}

/// Coverage merged over any number of Verilator .dat files.
#[derive(Default)]
pub struct Merged {
    hits: BTreeMap<Key, u64>,
    /// Runs (files) read.
    pub runs: usize,
}

/// Covered and total points of one kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Count {
    pub covered: usize,
    pub total: usize,
}

impl Count {
    fn add(&mut self, hit: bool) {
        self.total += 1;
        self.covered += hit as usize;
    }

    fn percent(self) -> String {
        if self.total == 0 {
            "-".into()
        } else {
            format!(
                "{:.1}% ({}/{})",
                100.0 * self.covered as f64 / self.total as f64,
                self.covered,
                self.total
            )
        }
    }
}

/// A module family's figures.
#[derive(Clone, Debug, Default)]
pub struct ModuleCoverage {
    pub lines: Count,
    pub branches: Count,
    pub toggles: Count,
    /// Signals with bits that never toggled, with those bits.
    pub never_toggled: Vec<(String, Vec<u32>, u32)>,
    /// Lines and branches never reached: the statement and Verilator's comment.
    pub never_reached: Vec<String>,
}

/// `cim_macro_16x16` -> `cim_macro`, `popcount_8` -> `popcount`,
/// `dense_lanes_10x2b` -> `dense_lanes`: the
/// generator names sized variants of one module this way.
/// Verilator names its per-parameter copies `cim_tile_16x16__Tz1`; they
/// merge with the module too.
pub fn family(module: &str) -> &str {
    let mut name = module.split("__").next().unwrap_or(module);
    while let Some((head, tail)) = name.rsplit_once('_') {
        // `16x16`, `8`, `10x2b`: sizes start with a digit, names never do.
        let sized = tail.starts_with(|c: char| c.is_ascii_digit());
        if !sized {
            break;
        }
        name = head;
    }
    name
}

/// The fields of one `C '...' count` line of a .dat file.
fn parse_point(line: &str) -> Option<(BTreeMap<&str, &str>, u64)> {
    let body = line.strip_prefix("C '")?;
    let (fields, count) = body.rsplit_once("' ")?;
    let count = count.trim().parse().ok()?;
    let mut map = BTreeMap::new();
    for field in fields.split('\u{1}').filter(|f| !f.is_empty()) {
        let (k, v) = field.split_once('\u{2}')?;
        map.insert(k, v);
    }
    Some((map, count))
}

/// `sum[3]` -> (`sum`, 3); a scalar is bit 0.
fn split_bit(signal: &str) -> (&str, u32) {
    if let Some(open) = signal.rfind('[') {
        if let Some(bit) = signal[open + 1..]
            .strip_suffix(']')
            .and_then(|b| b.parse().ok())
        {
            return (&signal[..open], bit);
        }
    }
    (signal, 0)
}

impl Merged {
    /// Reads .dat files whose sources are the package folders next to them:
    /// each item is (the .dat file, the package folder it verilated).
    pub fn read_runs(runs: &[(PathBuf, PathBuf)]) -> Result<Merged, CosimError> {
        let mut merged = Merged::default();
        for (dat, package) in runs {
            merged.add(dat, package)?;
        }
        Ok(merged)
    }

    /// Reads .dat files of runs on the package in `package`.
    pub fn read(dats: &[PathBuf], package: &Path) -> Result<Merged, CosimError> {
        let runs: Vec<(PathBuf, PathBuf)> = dats
            .iter()
            .map(|d| (d.clone(), package.to_path_buf()))
            .collect();
        Merged::read_runs(&runs)
    }

    /// Adds one run's counters.
    pub fn add(&mut self, dat: &Path, package: &Path) -> Result<(), CosimError> {
        let text = std::fs::read_to_string(dat)
            .map_err(|e| CosimError::Tool(format!("coverage file {}: {e}", dat.display())))?;
        if !text.starts_with("# SystemC::Coverage") {
            return Err(CosimError::Tool(format!(
                "{} is not a Verilator coverage file (no `# SystemC::Coverage` header)",
                dat.display()
            )));
        }
        // A prefixed package's modules (`prefix` in its configuration) merge
        // with the same modules of unprefixed ones.
        let prefix = crate::config::Config::from_file(&package.join("cim_config.toml"))
            .map(|c| c.prefix)
            .unwrap_or_default();
        let mut sources: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (n, line) in text.lines().enumerate().skip(1) {
            let Some((f, count)) = parse_point(line) else {
                return Err(CosimError::Tool(format!(
                    "{}:{}: not a coverage point: {line}",
                    dat.display(),
                    n + 1
                )));
            };
            let page = f.get("page").copied().unwrap_or("");
            let Some((kind, module)) = page.split_once('/') else {
                continue;
            };
            let kind = match kind {
                "v_line" => Kind::Line,
                "v_branch" => Kind::Branch,
                "v_toggle" => Kind::Toggle,
                _ => continue,
            };
            let comment = f.get("o").copied().unwrap_or("");
            let (what, bit) = match kind {
                Kind::Toggle => {
                    let (signal, bit) = split_bit(comment);
                    (signal.to_string(), bit)
                }
                _ => {
                    let file = f.get("f").copied().unwrap_or("");
                    let name = Path::new(file)
                        .file_name()
                        .map(|n| n.to_string_lossy().to_string())
                        .unwrap_or_default();
                    let lines = sources.entry(name.clone()).or_insert_with(|| {
                        std::fs::read_to_string(package.join(&name))
                            .map(|t| t.lines().map(|l| l.trim().to_string()).collect())
                            .unwrap_or_default()
                    });
                    let at: usize = f.get("l").and_then(|l| l.parse().ok()).unwrap_or(0);
                    let statement = at
                        .checked_sub(1)
                        .and_then(|i| lines.get(i))
                        .cloned()
                        .unwrap_or_else(|| format!("{name}:{at}"));
                    (format!("{comment}: {statement}"), 0)
                }
            };
            let module = module.strip_prefix(prefix.as_str()).unwrap_or(module);
            let key = Key {
                family: family(module).to_string(),
                kind,
                what,
                bit,
            };
            *self.hits.entry(key).or_default() += count;
        }
        self.runs += 1;
        Ok(())
    }

    /// Figures per module family, in name order.
    pub fn modules(&self) -> BTreeMap<String, ModuleCoverage> {
        let mut out: BTreeMap<String, ModuleCoverage> = BTreeMap::new();
        // signal -> (bits never toggled, width seen)
        let mut toggles: BTreeMap<(String, String), (BTreeSet<u32>, u32)> = BTreeMap::new();
        for (key, &count) in &self.hits {
            let m = out.entry(key.family.clone()).or_default();
            let hit = count > 0;
            match key.kind {
                Kind::Line => m.lines.add(hit),
                Kind::Branch => m.branches.add(hit),
                Kind::Toggle => {
                    m.toggles.add(hit);
                    let t = toggles
                        .entry((key.family.clone(), key.what.clone()))
                        .or_default();
                    t.1 = t.1.max(key.bit + 1);
                    if !hit {
                        t.0.insert(key.bit);
                    }
                }
            }
            if !hit && key.kind != Kind::Toggle {
                m.never_reached.push(key.what.clone());
            }
        }
        for ((family, signal), (bits, width)) in toggles {
            if !bits.is_empty() {
                let m = out.get_mut(&family).expect("family seen");
                m.never_toggled
                    .push((signal, bits.into_iter().collect(), width));
            }
        }
        out
    }

    /// Totals over every module: lines, branches, toggle bits.
    pub fn totals(&self) -> (Count, Count, Count) {
        let mut t = (Count::default(), Count::default(), Count::default());
        for (key, &count) in &self.hits {
            let sum = match key.kind {
                Kind::Line => &mut t.0,
                Kind::Branch => &mut t.1,
                Kind::Toggle => &mut t.2,
            };
            sum.add(count > 0);
        }
        t
    }

    /// A Markdown table per module, then what was never reached or toggled.
    pub fn table(&self) -> String {
        let modules = self.modules();
        let mut s = format!(
            "Coverage merged over {} run(s), per module (sized variants merged):\n\n",
            self.runs
        );
        s.push_str("| module | lines | branches | toggle bits |\n|---|---|---|---|\n");
        for (name, m) in &modules {
            let _ = writeln!(
                s,
                "| {name} | {} | {} | {} |",
                m.lines.percent(),
                m.branches.percent(),
                m.toggles.percent()
            );
        }
        let (l, b, t) = self.totals();
        let _ = writeln!(
            s,
            "| **all** | {} | {} | {} |",
            l.percent(),
            b.percent(),
            t.percent()
        );
        let mut reached = String::new();
        let mut toggled = String::new();
        for (name, m) in &modules {
            for what in &m.never_reached {
                let _ = writeln!(reached, "- {name}: {what}");
            }
            for (signal, bits, width) in &m.never_toggled {
                let which = if bits.len() as u32 == *width {
                    "all bits".to_string()
                } else {
                    format!("bits {}", ranges(bits))
                };
                let _ = writeln!(toggled, "- {name}.{signal} ({which} of {width})");
            }
        }
        if !reached.is_empty() {
            s.push_str("\nLines and branches no run reached:\n\n");
            s.push_str(&reached);
        }
        if !toggled.is_empty() {
            s.push_str("\nSignals with bits that never toggled:\n\n");
            s.push_str(&toggled);
        }
        s
    }
}

/// `[0, 1, 2, 5]` -> `0-2, 5`.
fn ranges(bits: &[u32]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < bits.len() {
        let mut j = i;
        while j + 1 < bits.len() && bits[j + 1] == bits[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            bits[i].to_string()
        } else {
            format!("{}-{}", bits[i], bits[j])
        });
        i = j + 1;
    }
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_drop_size_suffixes_only() {
        assert_eq!(family("cim_macro_16x16"), "cim_macro");
        assert_eq!(family("popcount_8"), "popcount");
        assert_eq!(family("cim_tile_16x16__Tz1"), "cim_tile");
        assert_eq!(family("dense_lanes_10x2b"), "dense_lanes");
        assert_eq!(family("shift_accumulate_16"), "shift_accumulate");
        assert_eq!(family("cim_controller"), "cim_controller");
        assert_eq!(family("pool_crossbar_mux"), "pool_crossbar_mux");
    }

    #[test]
    fn merges_runs_by_statement_text_and_signal_bit() {
        let dir = std::env::temp_dir().join(format!("cimpool-cov-{}", std::process::id()));
        let (a, b) = (dir.join("a"), dir.join("b"));
        for d in [&a, &b] {
            std::fs::create_dir_all(d).unwrap();
        }
        // The same statement sits on different lines in the two packages.
        std::fs::write(a.join("m_4.v"), "module m_4;\nif (x) y <= 1;\n").unwrap();
        // b's package is prefixed: its modules are p_m_8, in p_m_8.v.
        std::fs::write(b.join("p_m_8.v"), "module p_m_8;\n\nif (x) y <= 1;\n").unwrap();
        std::fs::write(b.join("cim_config.toml"), "prefix = \"p_\"\n").unwrap();
        let point = |file: &str, line: u32, page: &str, o: &str, n: u64| {
            format!("C '\u{1}f\u{2}rtl/{file}\u{1}l\u{2}{line}\u{1}page\u{2}{page}\u{1}o\u{2}{o}\u{1}h\u{2}TOP.t' {n}\n")
        };
        let head = "# SystemC::Coverage-3\n";
        std::fs::write(
            a.join("c.dat"),
            format!(
                "{head}{}{}{}",
                point("m_4.v", 2, "v_branch/m_4", "if", 0),
                point("m_4.v", 1, "v_toggle/m_4", "d[0]", 3),
                point("m_4.v", 1, "v_toggle/m_4", "d[1]", 0)
            ),
        )
        .unwrap();
        std::fs::write(
            b.join("c.dat"),
            format!(
                "{head}{}{}{}",
                point("p_m_8.v", 3, "v_branch/p_m_8", "if", 5),
                point("p_m_8.v", 1, "v_toggle/p_m_8", "d[1]", 0),
                point("p_m_8.v", 1, "v_toggle/p_m_8", "d[2]", 0)
            ),
        )
        .unwrap();
        let merged =
            Merged::read_runs(&[(a.join("c.dat"), a.clone()), (b.join("c.dat"), b.clone())])
                .unwrap();
        assert_eq!(merged.modules().keys().collect::<Vec<_>>(), ["m"]);
        let m = &merged.modules()["m"];
        assert_eq!(
            m.branches,
            Count {
                covered: 1,
                total: 1
            }
        );
        assert_eq!(
            m.toggles,
            Count {
                covered: 1,
                total: 3
            }
        );
        assert_eq!(m.never_toggled, vec![("d".to_string(), vec![1, 2], 3)]);
        assert!(merged.table().contains("- m.d (bits 1-2 of 3)"));
        std::fs::write(a.join("bad.dat"), "hello\n").unwrap();
        let err = Merged::read(&[a.join("bad.dat")], &a).err().unwrap();
        assert!(err.to_string().contains("not a Verilator coverage file"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn ranges_compress_runs() {
        assert_eq!(ranges(&[0, 1, 2, 5, 7, 8]), "0-2, 5, 7-8");
    }
}
