//! Stacked bars of the area (every weight on chip) and energy (one engine,
//! weights from DRAM) breakdowns per configuration, as SVG: breakdowns are
//! compared by eye.

use super::model::{AREA_PARTS, ENERGY_PARTS};
use super::Entry;
use plotters::prelude::*;
use std::path::Path;

const COLORS: [RGBColor; 9] = [
    RGBColor(31, 119, 180),
    RGBColor(174, 199, 232),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    labels: &[String],
    parts: &[&str],
    values: &[Vec<f64>],
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let top = values
        .iter()
        .map(|v| v.iter().sum::<f64>())
        .fold(0.0, f64::max)
        * 1.05;
    let n = labels.len();
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        // One segment more than bars: the legend sits over the empty one.
        .build_cartesian_2d((0..n).into_segmented(), 0f64..top.max(1e-12))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .x_labels(n)
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                labels.get(*i).cloned().unwrap_or_default()
            }
            SegmentValue::Last => String::new(),
        })
        .draw()?;
    for (j, name) in parts.iter().enumerate() {
        let color = COLORS[j % COLORS.len()];
        let bars = values.iter().enumerate().map(|(i, v)| {
            let below: f64 = v[..j].iter().sum();
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(i), below),
                    (SegmentValue::Exact(i + 1), below + v[j]),
                ],
                color.filled(),
            );
            bar.set_margin(0, 0, 12, 12);
            bar
        });
        chart
            .draw_series(bars)?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    Ok(())
}

/// Writes the two panels to `path` (SVG).
pub fn write_svg(entries: &[Entry], path: &Path) -> DrawResult {
    let labels: Vec<String> = entries.iter().map(|e| e.label.clone()).collect();
    let width = 520 + 120 * entries.len() as u32;
    let root = SVGBackend::new(path, (2 * width, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(width);
    let area: Vec<Vec<f64>> = entries
        .iter()
        .map(|e| e.on_chip.area_um2.iter().map(|a| a * 1e-6).collect())
        .collect();
    panel(
        &left,
        "Area, every weight on chip (mm^2)",
        &labels,
        &AREA_PARTS,
        &area,
    )?;
    let energy: Vec<Vec<f64>> = entries
        .iter()
        .map(|e| e.streamed.energy_fj.iter().map(|x| x * 1e-6).collect())
        .collect();
    panel(
        &right,
        "Energy per inference, one engine + DRAM (nJ)",
        &labels,
        &ENERGY_PARTS,
        &energy,
    )?;
    root.present()?;
    Ok(())
}
