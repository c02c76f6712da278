//! Pictures: the true offset of chronyd and gnomond over simulated time, one seed, on
//! the same axes, drawn as SVG with plotters (SVG backend only, no font files: text is
//! left to the viewer's fonts).

use std::path::Path;

use plotters::prelude::*;

/// One curve: a label and the per-second offset in seconds.
pub struct Curve<'a> {
    pub label: &'a str,
    pub offset_s: &'a [f32],
    pub color: RGBColor,
}

/// chronyd's colour.
pub const CHRONYD_COLOR: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
/// gnomond's colour.
pub const GNOMOND_COLOR: RGBColor = RGBColor(0xd6, 0x27, 0x28);

/// At most this many points per curve: each point is the sample of largest |offset|
/// in its bucket, so peaks survive.
const MAX_POINTS: usize = 2000;

fn decimate(offset_s: &[f32], from_s: usize) -> Vec<(f64, f64)> {
    let data = offset_s.get(from_s..).unwrap_or(&[]);
    let bucket = data.len().div_ceil(MAX_POINTS).max(1);
    data.chunks(bucket)
        .enumerate()
        .map(|(index, chunk)| {
            let (at, value) = chunk
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
                .map(|(at, value)| (at, *value))
                .unwrap_or((0, 0.0));
            (
                (from_s + index * bucket + at) as f64,
                f64::from(value) * 1e6,
            )
        })
        .collect()
}

/// Draw the curves from `from_s` on into `path` (µs over seconds of simulated time).
pub fn draw(path: &Path, title: &str, curves: &[Curve<'_>], from_s: usize) -> Result<(), String> {
    let series: Vec<Vec<(f64, f64)>> = curves
        .iter()
        .map(|curve| decimate(curve.offset_s, from_s))
        .collect();
    let end_s = curves
        .iter()
        .map(|curve| curve.offset_s.len())
        .max()
        .unwrap_or(from_s + 1) as f64;
    let peak_us = series
        .iter()
        .flatten()
        .map(|(_, us)| us.abs())
        .fold(1.0, f64::max)
        * 1.05;
    let root = SVGBackend::new(path, (900, 420)).into_drawing_area();
    let error = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| error(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(from_s as f64..end_s, -peak_us..peak_us)
        .map_err(|e| error(&e))?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.15))
        .x_desc("simulated time (s)")
        .y_desc("true offset (µs)")
        .draw()
        .map_err(|e| error(&e))?;
    for (curve, points) in curves.iter().zip(series) {
        let color = curve.color;
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(1)))
            .map_err(|e| error(&e))?
            .label(curve.label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| error(&e))?;
    root.present().map_err(|e| error(&e))?;
    Ok(())
}
