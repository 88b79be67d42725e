//! Training curves and other line plots, drawn with `plotters` into SVG files any browser opens.

use std::path::Path;

use plotters::prelude::*;

use super::{History, TrainError};

/// One named line of a plot.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// `(x, y)` points, drawn in order; non-finite points are skipped.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A series named `name` through `points`.
    pub fn new(name: &str, points: Vec<(f64, f64)>) -> Self {
        Series { name: name.to_string(), points }
    }
}

/// Axis titles and scale of one panel.
#[derive(Clone, Debug, PartialEq)]
pub struct Panel {
    /// Caption above the panel.
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
}

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn bounds(series: &[Series]) -> ((f64, f64), (f64, f64)) {
    let pts = series.iter().flat_map(|s| s.points.iter()).filter(|(x, y)| x.is_finite() && y.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if !x0.is_finite() {
        return ((0.0, 1.0), (0.0, 1.0));
    }
    let pad = |lo: f64, hi: f64| if hi - lo > 1e-12 { (lo, hi) } else { (lo - 0.5, hi + 0.5) };
    let (x0, x1) = pad(x0, x1);
    let (y0, y1) = pad(y0, y1);
    let m = 0.05 * (y1 - y0);
    ((x0, x1), (y0 - m, y1 + m))
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, plotters::coord::Shift>, panel: &Panel) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let ((x0, x1), (y0, y1)) = bounds(&panel.series);
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(panel.x_label.as_str())
        .y_desc(panel.y_label.as_str())
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, s) in panel.series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let pts: Vec<(f64, f64)> = s.points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(s.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Draws `panels` side by side into the SVG file `path` (each panel 600 x 420 pixels).
///
/// # Errors
/// [`TrainError::Plot`] if the file cannot be written.
pub fn plot_panels(path: impl AsRef<Path>, panels: &[Panel]) -> Result<(), TrainError> {
    let path = path.as_ref();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let n = panels.len().max(1) as u32;
    let root = SVGBackend::new(path, (600 * n, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| TrainError::Plot(e.to_string()))?;
    for (area, panel) in root.split_evenly((1, n as usize)).iter().zip(panels) {
        draw_panel(area, panel).map_err(TrainError::Plot)?;
    }
    root.present().map_err(|e| TrainError::Plot(format!("{}: {e}", path.display())))
}

/// The training curves of `history` as SVG: left, the minibatch loss, its EMA-smoothed curve and the
/// validation loss against iterations; then the validation metric against iterations; and, when the history
/// has sharpness records, `lambda_max` beside `2 / lr` (the edge of stability).
///
/// # Errors
/// [`TrainError::Plot`] if the file cannot be written.
pub fn plot_history(path: impl AsRef<Path>, history: &History) -> Result<(), TrainError> {
    let it = |i: u64| i as f64;
    let loss = Panel {
        title: "loss".into(),
        x_label: "iteration".into(),
        y_label: "loss".into(),
        series: vec![
            Series::new("minibatch loss", history.steps.iter().map(|s| (it(s.iteration), s.loss)).collect()),
            Series::new("EMA-smoothed", history.steps.iter().map(|s| (it(s.iteration), s.smoothed_loss)).collect()),
            Series::new("validation loss", history.validations.iter().map(|v| (it(v.iteration), v.loss)).collect()),
        ],
    };
    let metric = Panel {
        title: format!("validation {}", history.metric_name),
        x_label: "iteration".into(),
        y_label: history.metric_name.clone(),
        series: vec![Series::new(
            &format!("validation {}", history.metric_name),
            history.validations.iter().map(|v| (it(v.iteration), v.metric)).collect(),
        )],
    };
    if history.sharpness.is_empty() {
        return plot_panels(path, &[loss, metric]);
    }
    let sharpness = Panel {
        title: "sharpness".into(),
        x_label: "iteration".into(),
        y_label: "lambda_max".into(),
        series: vec![
            Series::new("lambda_max", history.sharpness.iter().map(|s| (it(s.iteration), s.lambda_max)).collect()),
            Series::new("2 / lr", history.sharpness.iter().map(|s| (it(s.iteration), 2.0 / s.lr)).collect()),
        ],
    };
    plot_panels(path, &[loss, metric, sharpness])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_an_svg_with_every_legend_entry() {
        let dir = std::env::temp_dir().join(format!("wengert-plot-{}", std::process::id()));
        let path = dir.join("p.svg");
        let panel = Panel {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            series: vec![
                Series::new("alpha-line", (0..10).map(|i| (i as f64, (i * i) as f64)).collect()),
                Series::new("beta-line", vec![(0.0, 1.0), (f64::NAN, 2.0), (3.0, 4.0)]),
            ],
        };
        plot_panels(&path, &[panel]).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        assert!(svg.contains("alpha-line") && svg.contains("beta-line"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn degenerate_ranges_get_padded() {
        assert_eq!(bounds(&[]), ((0.0, 1.0), (0.0, 1.0)));
        let ((x0, x1), (y0, y1)) = bounds(&[Series::new("c", vec![(2.0, 3.0)])]);
        assert!(x0 < 2.0 && x1 > 2.0 && y0 < 3.0 && y1 > 3.0);
    }
}
