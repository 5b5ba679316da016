//! Stacked bars of the area (every weight on chip) and energy (one engine,
//! weights from DRAM) breakdowns per configuration, as SVG: breakdowns are
//! compared by eye. A component has one colour in both panels, each bar
//! carries its ratio to the first, and where the first two are the pool
//! engine and the 4-bit dense engine the paper's figures stand next to ours.

use super::model::{AREA_PARTS, ENERGY_PARTS};
use super::sensitivity::PAPER;
use super::Entry;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// The colour of a component, shared by the area and energy panels (the
/// energy of per-cell logic is the cell products; of the crossbar and its
/// index fields, the crossbar).
fn color_of(part: &str) -> RGBColor {
    match part {
        "weight bitcells" => RGBColor(31, 119, 180),
        "pool bitcells" => RGBColor(174, 199, 232),
        "side memories" => RGBColor(158, 218, 229),
        "per-cell logic" | "cell products" => RGBColor(44, 160, 44),
        "column read-out" => RGBColor(214, 39, 40),
        "shift-accumulate" => RGBColor(255, 127, 14),
        "crossbar + index" | "crossbar" => RGBColor(148, 103, 189),
        "lane datapath" => RGBColor(227, 119, 194),
        "control + input buffer" => RGBColor(127, 127, 127),
        "partial-sum buffer" => RGBColor(188, 189, 34),
        "weight writes" => RGBColor(23, 190, 207),
        "DRAM weight traffic" => RGBColor(140, 86, 75),
        "host layers (8-bit MACs)" => RGBColor(199, 199, 199),
        _ => BLACK,
    }
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// A panel: stacked bars of `values` (one row of parts per entry, in
/// `unit`), a legend of the parts some entry has, and a mark over each bar.
struct Panel<'a> {
    title: String,
    parts: &'a [&'a str],
    values: Vec<Vec<f64>>,
    marks: Vec<String>,
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    labels: &[String],
    p: &Panel,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (chart_area, legend_area) = area.split_horizontally(area.dim_in_pixel().0 - 260);
    let top = p
        .values
        .iter()
        .map(|v| v.iter().sum::<f64>())
        .fold(0.0, f64::max)
        * 1.12;
    let n = labels.len();
    // Segments 0..=n-1: one per bar, none empty.
    let mut chart = ChartBuilder::on(&chart_area)
        .caption(&p.title, ("sans-serif", 24))
        .margin(14)
        .x_label_area_size(48)
        .y_label_area_size(80)
        .build_cartesian_2d((0..n - 1).into_segmented(), 0f64..top.max(1e-12))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .x_labels(n)
        .label_style(("sans-serif", 16))
        .y_label_formatter(&|v| {
            let decimals = if top < 10.0 { 1 } else { 0 };
            format!("{v:.decimals$}")
        })
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                labels.get(*i).cloned().unwrap_or_default()
            }
            SegmentValue::Last => String::new(),
        })
        .draw()?;
    let shown: Vec<usize> = (0..p.parts.len())
        .filter(|&j| p.values.iter().any(|v| v[j] > 0.0))
        .collect();
    for &j in &shown {
        let color = color_of(p.parts[j]);
        let bars = p.values.iter().enumerate().map(|(i, v)| {
            let below: f64 = v[..j].iter().sum();
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(i), below),
                    (SegmentValue::Exact(i + 1), below + v[j]),
                ],
                color.filled(),
            );
            bar.set_margin(0, 0, 18, 18);
            bar
        });
        chart.draw_series(bars)?;
    }
    let style =
        TextStyle::from(("sans-serif", 17).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
    chart.draw_series(
        p.values
            .iter()
            .zip(&p.marks)
            .enumerate()
            .map(|(i, (v, m))| {
                Text::new(
                    m.clone(),
                    (
                        SegmentValue::CenterOf(i),
                        v.iter().sum::<f64>() + top * 0.01,
                    ),
                    style.clone(),
                )
            }),
    )?;
    // The legend beside the chart, top-down in stacking order reversed
    // (the top of a bar first).
    for (row, &j) in shown.iter().rev().enumerate() {
        let y = 70 + 26 * row as i32;
        legend_area.draw(&Rectangle::new(
            [(4, y), (20, y + 16)],
            color_of(p.parts[j]).filled(),
        ))?;
        legend_area.draw(&Text::new(
            p.parts[j].to_string(),
            (28, y),
            ("sans-serif", 16).into_font(),
        ))?;
    }
    Ok(())
}

/// Energy in fJ as the largest unit that keeps the tallest bar above 1.
fn energy_unit(max_fj: f64) -> (&'static str, f64) {
    [("mJ", 1e12), ("uJ", 1e9), ("nJ", 1e6), ("pJ", 1e3)]
        .into_iter()
        .find(|(_, f)| max_fj >= *f)
        .unwrap_or(("fJ", 1.0))
}

/// Whether the first two entries are the comparison the paper reports
/// (the pool engine against 4-bit dense weights).
fn paper_pair(entries: &[Entry]) -> bool {
    entries.len() >= 2
        && !entries[0].config.is_dense()
        && entries[1].config.is_dense()
        && entries[1].config.w_bits == 4
}

/// Writes the two panels to `path` (SVG).
pub fn write_svg(entries: &[Entry], path: &Path) -> DrawResult {
    let labels: Vec<String> = entries.iter().map(|e| e.label.clone()).collect();
    let width = 620 + 190 * entries.len() as u32;
    let root = SVGBackend::new(path, (2 * width, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(width);
    let paper = paper_pair(entries);
    let area = |e: &Entry| e.on_chip.area();
    let energy = |e: &Entry| e.streamed.energy();
    let area_marks = entries
        .iter()
        .enumerate()
        .map(|(i, e)| match i {
            0 => String::new(),
            1 if paper => format!(
                "pool -{:.1}% (paper -{:.1}%)",
                100.0 * (1.0 - area(&entries[0]) / area(e)),
                100.0 * PAPER.area_cut
            ),
            _ => format!("{:.2}x the first", area(e) / area(&entries[0])),
        })
        .collect();
    draw_panel(
        &left,
        &labels,
        &Panel {
            title: "Area, every weight on chip (mm^2)".into(),
            parts: &AREA_PARTS,
            values: entries
                .iter()
                .map(|e| e.on_chip.area_um2.iter().map(|a| a * 1e-6).collect())
                .collect(),
            marks: area_marks,
        },
    )?;
    let (unit, per) = energy_unit(entries.iter().map(energy).fold(0.0, f64::max));
    let energy_marks = entries
        .iter()
        .enumerate()
        .map(|(i, e)| match i {
            0 => String::new(),
            1 if paper => format!(
                "{:.2}x the pool (paper {:.2}x)",
                energy(e) / energy(&entries[0]),
                PAPER.energy_ratio
            ),
            _ => format!("{:.2}x the first", energy(e) / energy(&entries[0])),
        })
        .collect();
    draw_panel(
        &right,
        &labels,
        &Panel {
            title: format!("Energy per inference, one engine + DRAM ({unit})"),
            parts: &ENERGY_PARTS,
            values: entries
                .iter()
                .map(|e| e.streamed.energy_fj.iter().map(|x| x / per).collect())
                .collect(),
            marks: energy_marks,
        },
    )?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_colour_per_component_in_both_panels() {
        for p in AREA_PARTS.iter().chain(&ENERGY_PARTS) {
            assert_ne!(color_of(p), BLACK, "{p} has no colour");
        }
        assert_eq!(color_of("per-cell logic"), color_of("cell products"));
        assert_eq!(color_of("crossbar + index"), color_of("crossbar"));
        // Distinct components, distinct colours.
        let mut all: Vec<RGBColor> = AREA_PARTS
            .iter()
            .chain(&ENERGY_PARTS)
            .map(|p| color_of(p))
            .collect();
        all.sort_by_key(|c| (c.0, c.1, c.2));
        all.dedup();
        assert_eq!(all.len(), AREA_PARTS.len() + ENERGY_PARTS.len() - 6);
    }

    #[test]
    fn energy_units_keep_numbers_readable() {
        assert_eq!(energy_unit(4.5e14).0, "mJ");
        assert_eq!(energy_unit(4.5e11).0, "uJ");
        assert_eq!(energy_unit(4.5e6).0, "nJ");
    }
}
