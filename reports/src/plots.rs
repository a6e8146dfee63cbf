//! SVG plots embedded by REPORT.md: pretraining loss per epoch, and our accuracy beside
//! the paper's per table. Text is left to the viewer's fonts (plotters' SVG backend), so
//! the output depends only on the data: same inputs, same bytes.

use std::fs;
use std::path::Path;

use plotters::prelude::*;

use crate::ReportError;
use crate::tables::Bar;

const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];
const OURS: RGBColor = RGBColor(31, 119, 180);
const PAPER: RGBColor = RGBColor(170, 170, 170);

/// One legend entry of a line plot: one line per run (seed), all in one colour.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    /// Each line's (epoch, value) points, epochs ascending.
    pub lines: Vec<Vec<(f64, f64)>>,
}

fn plot_err(path: &Path, e: impl std::fmt::Display) -> ReportError {
    ReportError::Plot {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn write_svg(path: &Path, svg: &str) -> Result<(), ReportError> {
    fs::write(path, svg).map_err(|e| ReportError::io("write", path, e))
}

/// Lines of `y_label` per epoch, one per series.
pub fn line_plot(
    path: &Path,
    title: &str,
    y_label: &str,
    series: &[Series],
) -> Result<(), ReportError> {
    let points = series.iter().flat_map(|s| s.lines.iter().flatten());
    let (mut x0, mut x1, mut y0, mut y1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for &(x, y) in points {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if !x0.is_finite() || !y0.is_finite() {
        return Err(plot_err(path, "no finite points to plot"));
    }
    if x1 - x0 < 1.0 {
        x1 = x0 + 1.0;
    }
    let pad = if y1 > y0 {
        (y1 - y0) * 0.08
    } else {
        y0.abs().max(1.0) * 0.1
    };
    let (y0, y1) = (y0 - pad, y1 + pad);

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| plot_err(path, e))?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc(y_label)
            .x_label_formatter(&|x| {
                if (x - x.round()).abs() < 1e-9 {
                    format!("{x:.0}")
                } else {
                    String::new()
                }
            })
            .draw()
            .map_err(|e| plot_err(path, e))?;
        for (i, s) in series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            for (j, line) in s.lines.iter().enumerate() {
                let drawn = chart
                    .draw_series(LineSeries::new(line.iter().copied(), color.stroke_width(2)))
                    .map_err(|e| plot_err(path, e))?;
                if j == 0 {
                    drawn.label(s.label.clone()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                    });
                }
                // Markers only where they can be told apart (short runs).
                if line.len() <= 40 {
                    chart
                        .draw_series(line.iter().map(|&p| Circle::new(p, 3, color.filled())))
                        .map_err(|e| plot_err(path, e))?;
                }
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| plot_err(path, e))?;
        root.present().map_err(|e| plot_err(path, e))?;
    }
    write_svg(path, &svg)
}

/// Grouped bars, one panel per paper column: ours (with ± std) beside the paper's number.
pub fn bar_plot(
    path: &Path,
    title: &str,
    y_label: &str,
    percent: bool,
    panels: &[(String, Vec<Bar>)],
) -> Result<(), ReportError> {
    if panels.is_empty() {
        return Err(plot_err(path, "nothing to plot"));
    }
    let max = panels
        .iter()
        .flat_map(|(_, bars)| {
            bars.iter()
                .flat_map(|b| [b.ours + b.std.unwrap_or(0.0), b.paper.unwrap_or(0.0)])
        })
        .fold(0.0f64, f64::max);
    let y1 = if percent {
        100.0
    } else {
        (max * 1.15).max(1e-9)
    };
    let width = (panels.iter().map(|(_, b)| b.len()).sum::<usize>() as u32 * 70
        + panels.len() as u32 * 90)
        .clamp(480, 1600);

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
        let (top, body) = root.split_vertically(40);
        top.titled(title, ("sans-serif", 18))
            .map_err(|e| plot_err(path, e))?;
        let (legend, body) = body.split_vertically(24);
        draw_legend(&legend).map_err(|e| plot_err(path, e))?;
        let areas = body.split_evenly((1, panels.len()));
        for (area, (column, bars)) in areas.iter().zip(panels) {
            let n = bars.len();
            let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
            let mut chart = ChartBuilder::on(area)
                .caption(column, ("sans-serif", 15))
                .margin(8)
                .x_label_area_size(36)
                .y_label_area_size(48)
                .build_cartesian_2d(0.5f64..(n as f64 + 0.5), 0.0f64..y1)
                .map_err(|e| plot_err(path, e))?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .light_line_style(WHITE)
                .y_label_formatter(&|y| format!("{y:.0}"))
                .x_labels(n + 1)
                .x_label_formatter(&|x| {
                    let i = x.round();
                    if (x - i).abs() < 1e-9 && i >= 1.0 && i as usize <= labels.len() {
                        labels[i as usize - 1].clone()
                    } else {
                        String::new()
                    }
                })
                .y_desc(y_label)
                .draw()
                .map_err(|e| plot_err(path, e))?;
            for (i, b) in bars.iter().enumerate() {
                let c = i as f64 + 1.0;
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(c - 0.38, 0.0), (c - 0.02, b.ours)],
                        OURS.filled(),
                    )))
                    .map_err(|e| plot_err(path, e))?;
                if let Some(p) = b.paper {
                    chart
                        .draw_series(std::iter::once(Rectangle::new(
                            [(c + 0.02, 0.0), (c + 0.38, p)],
                            PAPER.filled(),
                        )))
                        .map_err(|e| plot_err(path, e))?;
                }
                if let Some(s) = b.std {
                    let x = c - 0.2;
                    let (lo, hi) = ((b.ours - s).max(0.0), b.ours + s);
                    chart
                        .draw_series([
                            PathElement::new(vec![(x, lo), (x, hi)], BLACK.stroke_width(1)),
                            PathElement::new(
                                vec![(x - 0.06, lo), (x + 0.06, lo)],
                                BLACK.stroke_width(1),
                            ),
                            PathElement::new(
                                vec![(x - 0.06, hi), (x + 0.06, hi)],
                                BLACK.stroke_width(1),
                            ),
                        ])
                        .map_err(|e| plot_err(path, e))?;
                }
                let style = ("sans-serif", 11).into_font().color(&BLACK);
                chart
                    .draw_series(std::iter::once(Text::new(
                        format!("{:.1}", b.ours),
                        (c - 0.36, b.ours + y1 * 0.045),
                        style.clone(),
                    )))
                    .map_err(|e| plot_err(path, e))?;
                if let Some(p) = b.paper {
                    chart
                        .draw_series(std::iter::once(Text::new(
                            format!("{p:.1}"),
                            (c + 0.04, p + y1 * 0.045),
                            style,
                        )))
                        .map_err(|e| plot_err(path, e))?;
                }
            }
        }
        root.present().map_err(|e| plot_err(path, e))?;
    }
    write_svg(path, &svg)
}

fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let font = ("sans-serif", 13).into_font().color(&BLACK);
    area.draw(&Rectangle::new([(60, 6), (76, 18)], OURS.filled()))?;
    area.draw(&Text::new("ours", (82, 6), font.clone()))?;
    area.draw(&Rectangle::new([(140, 6), (156, 18)], PAPER.filled()))?;
    area.draw(&Text::new("paper", (162, 6), font))?;
    Ok(())
}
