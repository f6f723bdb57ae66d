//! SVG pictures of heatmaps and their analyses, drawn with `plotters`.
//!
//! Each `render_*` function returns the SVG text of one picture, and
//! [`write_svg`] stores it under `output/graphs/` through a temporary file
//! and a rename. The SVG backend writes labels as `<text>` elements, so no
//! font files are needed to draw, and the viewer picks the font.

mod accuracy;
mod curves;
mod heatmap;
mod trends;

use std::path::{Path, PathBuf};

use plotters::style::RGBColor;

pub use accuracy::render_accuracy;
pub use curves::render_curves;
pub use heatmap::render_heatmap;
pub use trends::render_trends;

use crate::layout;

/// Font family of every label.
const FONT: &str = "sans-serif";

/// Size of the chart pictures in pixels.
const CHART_SIZE: (u32, u32) = (860, 520);

/// Result of drawing on the SVG backend, whose errors are I/O errors.
type DrawResult = Result<(), plotters::drawing::DrawingAreaErrorKind<std::io::Error>>;

/// Errors of drawing or storing a picture.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// `plotters` failed to draw a picture.
    #[error("cannot draw {picture}: {reason}")]
    Draw {
        /// The picture, such as `heatmap`.
        picture: &'static str,
        /// The drawing error.
        reason: String,
    },
    /// The SVG file or its folder could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Returns a function that wraps a drawing error as [`PlotError::Draw`].
fn draw_error<E: std::fmt::Display>(picture: &'static str) -> impl Fn(E) -> PlotError {
    move |err| PlotError::Draw {
        picture,
        reason: err.to_string(),
    }
}

/// Writes SVG text to `path` atomically, creating its folder first.
pub fn write_svg(path: &Path, svg: &str) -> Result<(), PlotError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| PlotError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    layout::write_atomic(path, svg.as_bytes()).map_err(|source| PlotError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Returns the colour of an accuracy on a scale from red (0) through
/// yellow (0.5) to green (1), as `heatmapctl show` colours cells.
pub fn accuracy_colour(value: f64) -> RGBColor {
    let value = if value.is_finite() {
        value.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (red, green) = if value < 0.5 {
        (1.0, value * 2.0)
    } else {
        (2.0 - value * 2.0, 1.0)
    };
    // Darken the pure colours a little so white and black text stay legible.
    RGBColor((red * 230.0) as u8, (green * 200.0) as u8, 60)
}

/// Returns the range of `values` widened by 5% on each side, or `fallback`
/// when there are none. A single value gets a range of width 1 around it.
fn padded_range(values: impl Iterator<Item = f64>, fallback: (f64, f64)) -> (f64, f64) {
    let (low, high) = values
        .filter(|value| value.is_finite())
        .fold(None, |range: Option<(f64, f64)>, value| match range {
            None => Some((value, value)),
            Some((low, high)) => Some((low.min(value), high.max(value))),
        })
        .unwrap_or(fallback);
    if high > low {
        let pad = (high - low) * 0.05;
        (low - pad, high + pad)
    } else {
        (low - 0.5, high + 0.5)
    }
}

/// Returns the temperature axis range of a picture: the temperatures with a
/// margin, and a width of 0.2 around a single temperature.
fn temperature_range(temperatures: &[f64]) -> (f64, f64) {
    let low = temperatures.iter().copied().fold(f64::INFINITY, f64::min);
    let high = temperatures
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    if !low.is_finite() || !high.is_finite() {
        return (0.0, 1.0);
    }
    if high > low {
        let pad = (high - low) * 0.05;
        (low - pad, high + pad)
    } else {
        (low - 0.1, high + 0.1)
    }
}

/// Splits a row of cells into runs of consecutive present points, so a line
/// breaks where a cell is empty.
fn present_runs(temperatures: &[f64], cells: &[Option<f64>]) -> Vec<Vec<(f64, f64)>> {
    let mut runs = Vec::new();
    let mut run = Vec::new();
    for (&t, cell) in temperatures.iter().zip(cells) {
        match cell.filter(|value| value.is_finite()) {
            Some(value) => run.push((t, value)),
            None if !run.is_empty() => runs.push(std::mem::take(&mut run)),
            None => {}
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

/// Returns the contents of the `<text>` elements of an SVG, trimmed.
#[cfg(test)]
pub(crate) fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|part| {
            let start = part.find('>')? + 1;
            let end = part.find("</text>")?;
            Some(part[start..end].trim().to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_scale_ends() {
        assert_eq!(accuracy_colour(0.0), RGBColor(230, 0, 60));
        assert_eq!(accuracy_colour(0.5), RGBColor(230, 200, 60));
        assert_eq!(accuracy_colour(1.0), RGBColor(0, 200, 60));
        assert_eq!(accuracy_colour(2.0), RGBColor(0, 200, 60));
        assert_eq!(accuracy_colour(f64::NAN), RGBColor(230, 0, 60));
    }

    #[test]
    fn ranges_get_margins() {
        assert_eq!(temperature_range(&[0.7]), (0.6, 0.7999999999999999));
        assert_eq!(temperature_range(&[]), (0.0, 1.0));
        assert_eq!(temperature_range(&[0.0, 1.0]), (-0.05, 1.05));
        assert_eq!(padded_range([2.0].into_iter(), (0.0, 1.0)), (1.5, 2.5));
        assert_eq!(padded_range(std::iter::empty(), (-1.0, 1.0)), (-1.1, 1.1));
    }

    #[test]
    fn runs_break_at_gaps() {
        let runs = present_runs(
            &[0.0, 0.5, 1.0, 1.5],
            &[Some(1.0), None, Some(0.5), Some(f64::NAN)],
        );
        assert_eq!(runs, vec![vec![(0.0, 1.0)], vec![(1.0, 0.5)]]);
    }

    #[test]
    fn svg_is_written_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("graphs/x.svg");
        write_svg(&path, "<svg/>").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "<svg/>");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("graphs"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["x.svg"]);
    }
}
