//! `estimate --sensitivity`: how far the headline comparison moves when
//! each uncertain constant takes the ends of its published range and each
//! main design choice its alternatives, one at a time and all at once.
//!
//! The headline is the pair tables 1 and 3 of docs/ESTIMATE.md print: the
//! area cut of the proposal (the first configuration) against the baseline
//! (the second), every weight on chip; and the baseline's energy per
//! inference over the proposal's, one engine with its weights in DRAM. The
//! knobs and their ranges live here, each with its source, so the band the
//! command prints is reproducible from the table in docs/ESTIMATE.md.

use super::constants::{Constants, DenseAdderTree};
use serde::Serialize;
use std::fmt::Write;

/// CIMPool's published headline (ResNet-18 at ~0.5 bit per weight against
/// 4-bit weights): -62.3% area, 3.24x energy.
pub const PAPER: Headline = Headline {
    area_cut: 0.623,
    energy_ratio: 3.24,
};

/// The two figures every setting is judged by.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Headline {
    /// 1 - proposal area / baseline area, every weight on chip.
    pub area_cut: f64,
    /// Baseline energy / proposal energy, one engine, weights from DRAM.
    pub energy_ratio: f64,
}

/// One setting of a knob: a change of the constants and configuration keys
/// set in both configurations.
pub struct Setting {
    pub label: String,
    pub constants: Box<dyn Fn(&mut Constants)>,
    pub config: Vec<(String, String)>,
}

/// Something uncertain (a constant) or chosen (a design choice).
pub struct Knob {
    pub name: &'static str,
    pub design_choice: bool,
    pub source: &'static str,
    pub settings: Vec<Setting>,
}

fn constant(label: &str, f: impl Fn(&mut Constants) + 'static) -> Setting {
    Setting {
        label: label.to_string(),
        constants: Box::new(f),
        config: Vec::new(),
    }
}

fn design(label: &str, keys: &[(&str, &str)], f: impl Fn(&mut Constants) + 'static) -> Setting {
    Setting {
        label: label.to_string(),
        constants: Box::new(f),
        config: keys
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

/// The knobs, with the ends of their ranges and where those come from.
pub fn knobs() -> Vec<Knob> {
    vec![
        Knob {
            name: "ADC area",
            design_choice: false,
            source: "ZigZag-IMC's survey fit down to Jia et al.'s measured 8-bit column ADC (4.4x smaller: the Jia anchor)",
            settings: vec![
                constant("fit / 4.4 (Jia)", |k| k.adc_area_offset -= 4.376f64.log10()),
                constant("ZigZag-IMC fit", |_| {}),
            ],
        },
        Knob {
            name: "ADC energy",
            design_choice: false,
            source: "ZigZag-IMC's fit up to Jia et al.'s 3.56 pJ per 8-bit conversion at 1.2 V (2.85x the fit: the Jia anchor)",
            settings: vec![
                constant("ZigZag-IMC fit", |_| {}),
                constant("fit x 2.85 (Jia)", |k| {
                    k.adc_energy_linear_ff *= 2.85;
                    k.adc_energy_exponential_ff *= 2.85;
                }),
            ],
        },
        Knob {
            name: "bitcell area",
            design_choice: false,
            source: "assumption: half to twice NeuroSim's 280 F^2 (a dense foundry 6T cell to an 8T compute cell)",
            settings: vec![
                constant("140 F^2", |k| k.bitcell_f2 = 140.0),
                constant("560 F^2", |k| k.bitcell_f2 = 560.0),
            ],
        },
        Knob {
            name: "DRAM energy per bit",
            design_choice: false,
            source: "HBM2E 6 pJ (vendor table), HBM 7 pJ (HyGCN, HPCA 2020), LPDDR4 13.5 pJ (Ha, Stanford thesis, DramDSE), DDR3-era 20 pJ (Horowitz, ISSCC 2014)",
            settings: vec![
                constant("6 pJ (HBM2E)", |k| k.dram_pj_per_bit = 6.0),
                constant("7 pJ (HBM)", |k| k.dram_pj_per_bit = 7.0),
                constant("13.5 pJ (LPDDR4)", |k| k.dram_pj_per_bit = 13.5),
                constant("20 pJ (DDR3, Horowitz)", |k| k.dram_pj_per_bit = 20.0),
            ],
        },
        Knob {
            name: "write energy per bit",
            design_choice: false,
            source: "one flop toggle (1.7 fJ, our assumption) up to CACTI 7's SRAM write at 28 nm: 13 fJ (128 B) and 49 fJ (8 KB) per bit",
            settings: vec![
                constant("1.7 fJ (1 flop toggle)", |k| k.write_flops_per_bit = 1.0),
                constant("13 fJ (CACTI, 128 B)", |k| {
                    k.write_flops_per_bit = 13.0 / k.flop_fj
                }),
                constant("49 fJ (CACTI, 8 KB)", |k| {
                    k.write_flops_per_bit = 48.6 / k.flop_fj
                }),
            ],
        },
        Knob {
            name: "gate energy",
            design_choice: false,
            source: "the full adder's energy per area (0.436 fJ, our assumption) to ZigZag-IMC's nd2_cap of 0.7 fF at 0.9 V (0.567 fJ)",
            settings: vec![
                constant("0.436 fJ", |k| k.gate_energy_scale = 1.0),
                constant("0.567 fJ (ZigZag-IMC)", |k| k.gate_energy_scale = 1.30),
            ],
        },
        Knob {
            name: "word lines per phase (wl_parallel)",
            design_choice: true,
            source: "both engines; smaller W, smaller adder trees or fewer ADC codes, more phases",
            settings: ["16", "32", "64", "128"]
                .iter()
                .map(|w| design(&format!("W = {w}"), &[("wl_parallel", w)], |_| {}))
                .collect(),
        },
        Knob {
            name: "column read-out",
            design_choice: true,
            source: "both engines: cimpool's exact adder trees, a 5-bit ADC per column, or NeuroSim's 5-bit ADC shared by 8 columns",
            settings: vec![
                design("exact (adder tree)", &[("adc_bits", "0")], |_| {}),
                design("5-bit ADC per column", &[("adc_bits", "5")], |k| {
                    k.columns_per_adc = 1
                }),
                design("5-bit ADC per 8 columns", &[("adc_bits", "5")], |k| {
                    k.columns_per_adc = 8
                }),
            ],
        },
        Knob {
            name: "dense adder tree",
            design_choice: true,
            source: "the baseline's exact read-out: a 1-bit tree per bit column (cimpool's RTL) or a w_bits-bit tree per weight (ZigZag-IMC's digital IMC)",
            settings: vec![
                constant("1-bit tree per column", |k| {
                    k.dense_adder_tree = DenseAdderTree::PerColumn
                }),
                constant("4-bit tree per weight", |k| {
                    k.dense_adder_tree = DenseAdderTree::PerWeight
                }),
            ],
        },
    ]
}

/// One setting's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    pub setting: String,
    /// None when the configurations refuse the setting (the reason).
    pub headline: Option<Headline>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub knob: String,
    pub design_choice: bool,
    pub source: String,
    pub points: Vec<Point>,
}

/// A band: the lowest and highest value reached.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Band {
    pub low: f64,
    pub high: f64,
}

impl Band {
    fn of(values: impl Iterator<Item = f64>) -> Band {
        values.fold(
            Band {
                low: f64::INFINITY,
                high: f64::NEG_INFINITY,
            },
            |b, v| Band {
                low: b.low.min(v),
                high: b.high.max(v),
            },
        )
    }
    pub fn contains(&self, v: f64) -> bool {
        v >= self.low && v <= self.high
    }
}

/// The corner where every knob sits at its setting that, alone, moved a
/// figure furthest one way.
#[derive(Clone, Debug, Serialize)]
pub struct Corner {
    pub name: String,
    pub settings: Vec<String>,
    pub headline: Headline,
}

#[derive(Clone, Debug, Serialize)]
pub struct Sensitivity {
    pub proposal: String,
    pub baseline: String,
    pub workload: String,
    pub base: Headline,
    pub rows: Vec<Row>,
    /// Over every setting, one knob at a time.
    pub area_cut_one_at_a_time: Band,
    pub energy_ratio_one_at_a_time: Band,
    /// The four corners (each figure's lowest and highest, every knob at
    /// once) and the band they span.
    pub corners: Vec<Corner>,
    pub area_cut_all_at_once: Band,
    pub energy_ratio_all_at_once: Band,
    pub paper: Headline,
}

/// Evaluates the headline under changed constants and extra configuration
/// keys (set in both configurations); Err names why the configurations
/// refuse the keys.
pub type Evaluate<'a> = dyn Fn(&Constants, &[(String, String)]) -> Result<Headline, String> + 'a;

/// The constants and keys of one setting per knob (None: as given), and
/// the settings' names.
fn apply(
    k: &Constants,
    knobs: &[Knob],
    choice: &[Option<usize>],
) -> (Constants, Vec<(String, String)>, Vec<String>) {
    let mut changed = k.clone();
    let mut config = Vec::new();
    let mut names = Vec::new();
    for (knob, c) in knobs.iter().zip(choice) {
        if let Some(i) = c {
            let s = &knob.settings[*i];
            (s.constants)(&mut changed);
            config.extend(s.config.iter().cloned());
            names.push(format!("{}: {}", knob.name, s.label));
        }
    }
    (changed, config, names)
}

/// Runs every setting of every knob, then the corners.
pub fn run(
    k: &Constants,
    proposal: String,
    baseline: String,
    workload: String,
    evaluate: &Evaluate,
    progress: &dyn Fn(),
) -> Result<Sensitivity, String> {
    let base = evaluate(k, &[])?;
    progress();
    let knobs = knobs();
    let mut rows = Vec::new();
    for knob in &knobs {
        let mut points = Vec::new();
        for s in &knob.settings {
            let mut changed = k.clone();
            (s.constants)(&mut changed);
            let outcome = evaluate(&changed, &s.config);
            progress();
            points.push(Point {
                setting: s.label.clone(),
                headline: outcome.as_ref().ok().copied(),
                refused: outcome.err(),
            });
        }
        rows.push(Row {
            knob: knob.name.to_string(),
            design_choice: knob.design_choice,
            source: knob.source.to_string(),
            points,
        });
    }
    let reached = || {
        rows.iter()
            .flat_map(|r| r.points.iter().filter_map(|p| p.headline))
            .chain(std::iter::once(base))
    };
    let area_cut_one_at_a_time = Band::of(reached().map(|h| h.area_cut));
    let energy_ratio_one_at_a_time = Band::of(reached().map(|h| h.energy_ratio));

    // Each corner starts from the settings that alone went furthest (a knob
    // that moved nothing stays as given), then moves one knob at a time to
    // its best setting given the others until none improves: the knobs
    // interact (the ADC's cost counts only with a lossy read-out).
    type Pick = fn(&Headline) -> f64;
    let corner_specs: [(&str, Pick, bool); 4] = [
        ("smallest area cut", |h| h.area_cut, false),
        ("largest area cut", |h| h.area_cut, true),
        ("smallest energy ratio", |h| h.energy_ratio, false),
        ("largest energy ratio", |h| h.energy_ratio, true),
    ];
    let mut corners = Vec::new();
    for (name, figure, highest) in corner_specs {
        let better = |a: f64, b: f64| {
            if highest {
                a > b + 1e-12
            } else {
                a < b - 1e-12
            }
        };
        let score = |choice: &[Option<usize>]| -> Result<Headline, String> {
            let (changed, config, _) = apply(k, &knobs, choice);
            evaluate(&changed, &config)
        };
        let mut choice: Vec<Option<usize>> = rows
            .iter()
            .map(|row| {
                let mut best: Option<(usize, f64)> = None;
                for (i, p) in row.points.iter().enumerate() {
                    if let Some(h) = p.headline {
                        let v = figure(&h);
                        if better(v, best.map_or(figure(&base), |b| b.1)) {
                            best = Some((i, v));
                        }
                    }
                }
                best.map(|b| b.0)
            })
            .collect();
        let mut current = score(&choice)?;
        for _round in 0..4 {
            let mut moved = false;
            for (j, row) in rows.iter().enumerate() {
                for (i, p) in row.points.iter().enumerate() {
                    if p.headline.is_none() || choice[j] == Some(i) {
                        continue;
                    }
                    let mut trial = choice.clone();
                    trial[j] = Some(i);
                    if let Ok(h) = score(&trial) {
                        if better(figure(&h), figure(&current)) {
                            choice = trial;
                            current = h;
                            moved = true;
                        }
                    }
                }
            }
            if !moved {
                break;
            }
        }
        // Drop settings the corner does not need (the figure stays put
        // without them), so its list names only what moves it.
        for j in 0..choice.len() {
            if choice[j].is_none() {
                continue;
            }
            let mut trial = choice.clone();
            trial[j] = None;
            if let Ok(h) = score(&trial) {
                if !better(figure(&current), figure(&h)) {
                    choice = trial;
                    current = h;
                }
            }
        }
        let (_, _, settings) = apply(k, &knobs, &choice);
        corners.push(Corner {
            name: name.to_string(),
            settings,
            headline: current,
        });
    }
    let area_cut_all_at_once = Band::of(
        corners
            .iter()
            .map(|c| c.headline.area_cut)
            .chain([area_cut_one_at_a_time.low, area_cut_one_at_a_time.high]),
    );
    let energy_ratio_all_at_once =
        Band::of(corners.iter().map(|c| c.headline.energy_ratio).chain([
            energy_ratio_one_at_a_time.low,
            energy_ratio_one_at_a_time.high,
        ]));
    Ok(Sensitivity {
        proposal,
        baseline,
        workload,
        base,
        rows,
        area_cut_one_at_a_time,
        energy_ratio_one_at_a_time,
        corners,
        area_cut_all_at_once,
        energy_ratio_all_at_once,
        paper: PAPER,
    })
}

/// The units `run` reports to `progress`: the base and one per setting
/// (the corners' searches, a fraction of a second, are not counted).
pub fn evaluations() -> u64 {
    knobs().iter().map(|k| k.settings.len() as u64).sum::<u64>() + 1
}

fn pct(v: f64) -> String {
    format!("{:.1}%", 100.0 * v)
}

fn ratio(v: f64) -> String {
    format!("{v:.2}x")
}

fn inside(band: &Band, v: f64) -> &'static str {
    if band.contains(v) {
        "inside"
    } else {
        "outside"
    }
}

impl Sensitivity {
    /// The band as a table, the paper's figures marked.
    pub fn table(&self) -> String {
        let mut s = format!(
            "Sensitivity of {} against {} ({}): area cut with every weight on chip, \
             energy ratio (baseline / proposal) of one engine with its weights in DRAM.\n\n\
             | knob | setting | area cut | energy ratio |\n|---|---|---:|---:|\n",
            self.proposal, self.baseline, self.workload
        );
        let _ = writeln!(
            s,
            "| **model as given** | | **{}** | **{}** |",
            pct(self.base.area_cut),
            ratio(self.base.energy_ratio)
        );
        for r in &self.rows {
            for (i, p) in r.points.iter().enumerate() {
                let name = if i == 0 {
                    format!(
                        "{}{}",
                        r.knob,
                        if r.design_choice { " (design)" } else { "" }
                    )
                } else {
                    String::new()
                };
                let (a, e) = match (&p.headline, &p.refused) {
                    (Some(h), _) => (pct(h.area_cut), ratio(h.energy_ratio)),
                    (None, Some(why)) => (format!("refused: {why}"), String::new()),
                    (None, None) => unreachable!("a point has a headline or a reason"),
                };
                let _ = writeln!(s, "| {name} | {} | {a} | {e} |", p.setting);
            }
        }
        let _ = writeln!(
            s,
            "| **band, one knob at a time** | | **{}-{}** | **{}-{}** |",
            pct(self.area_cut_one_at_a_time.low),
            pct(self.area_cut_one_at_a_time.high),
            ratio(self.energy_ratio_one_at_a_time.low),
            ratio(self.energy_ratio_one_at_a_time.high)
        );
        for c in &self.corners {
            let _ = writeln!(
                s,
                "| corner: {} | every knob at once | {} | {} |",
                c.name,
                pct(c.headline.area_cut),
                ratio(c.headline.energy_ratio)
            );
        }
        let _ = writeln!(
            s,
            "| **band, all knobs at once** | | **{}-{}** | **{}-{}** |",
            pct(self.area_cut_all_at_once.low),
            pct(self.area_cut_all_at_once.high),
            ratio(self.energy_ratio_all_at_once.low),
            ratio(self.energy_ratio_all_at_once.high)
        );
        let mark = |one: &Band, all: &Band, v: f64| {
            format!(
                "{} one at a time, {} all at once",
                inside(one, v),
                inside(all, v)
            )
        };
        let _ = writeln!(
            s,
            "| CIMPool (paper) | | {} ({}) | {} ({}) |",
            pct(self.paper.area_cut),
            mark(
                &self.area_cut_one_at_a_time,
                &self.area_cut_all_at_once,
                self.paper.area_cut
            ),
            ratio(self.paper.energy_ratio),
            mark(
                &self.energy_ratio_one_at_a_time,
                &self.energy_ratio_all_at_once,
                self.paper.energy_ratio
            )
        );
        s.push_str("\nSources of the ranges:\n\n");
        for r in &self.rows {
            let _ = writeln!(s, "- {}: {}", r.knob, r.source);
        }
        s.push_str(
            "\nCorners (the settings each corner chose; a knob not listed stays as given):\n\n",
        );
        for c in &self.corners {
            let list = if c.settings.is_empty() {
                "the model as given".to_string()
            } else {
                c.settings.join("; ")
            };
            let _ = writeln!(s, "- {}: {list}", c.name);
        }
        s
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("sensitivity serializes") + "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A made-up headline that moves with a few constants and keys: the
    /// bands hold every point, the corners combine the extreme settings.
    #[test]
    fn bands_hold_every_point_and_corners_combine_extremes() {
        let evaluate = |k: &Constants, keys: &[(String, String)]| {
            if keys.iter().any(|(_, v)| v == "16") {
                return Err("wl_parallel = 16 is refused here".to_string());
            }
            Ok(Headline {
                area_cut: 0.5 + 0.001 * k.bitcell_f2 / 28.0,
                energy_ratio: k.dram_pj_per_bit / 5.0 + k.write_flops_per_bit / 100.0,
            })
        };
        let k = Constants::default();
        let s = run(&k, "p".into(), "d".into(), "w".into(), &evaluate, &|| {}).unwrap();
        assert_eq!(s.base.energy_ratio, 4.01);
        for r in &s.rows {
            for p in &r.points {
                match p.headline {
                    Some(h) => {
                        assert!(s.area_cut_one_at_a_time.contains(h.area_cut));
                        assert!(s.energy_ratio_one_at_a_time.contains(h.energy_ratio));
                    }
                    None => assert!(p.refused.as_ref().unwrap().contains("16")),
                }
            }
        }
        // DRAM 6..20 pJ, writes 1..28.6 flop toggles: alone 1.21..4.29; the
        // highest corner takes both highs at once.
        let high = s
            .corners
            .iter()
            .find(|c| c.name == "largest energy ratio")
            .unwrap();
        let want = 20.0 / 5.0 + 48.6 / k.flop_fj / 100.0;
        assert!((high.headline.energy_ratio - want).abs() < 1e-9, "{high:?}");
        assert!((s.energy_ratio_all_at_once.high - want).abs() < 1e-9);
        let low = s
            .corners
            .iter()
            .find(|c| c.name == "smallest energy ratio")
            .unwrap();
        assert!((low.headline.energy_ratio - (6.0 / 5.0 + 0.01)).abs() < 1e-9);
        let t = s.table();
        assert!(t.contains("refused: wl_parallel = 16"), "{t}");
        assert!(t.contains("CIMPool (paper) | | 62.3%"), "{t}");
        assert_eq!(
            evaluations(),
            s.rows.iter().map(|r| r.points.len() as u64).sum::<u64>() + 1
        );
        // A knob that moves nothing stays as given in the corners.
        assert!(
            high.settings.iter().all(|n| !n.starts_with("ADC")),
            "{high:?}"
        );
    }
}
