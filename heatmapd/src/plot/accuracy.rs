//! Accuracy against temperature: one curve per model with its 95% Wilson band.

use plotters::prelude::*;

use super::{CHART_SIZE, DrawResult, FONT, PlotError, draw_error, temperature_range};
use crate::aggregate::long::LongRow;

/// One point of a model's curve.
struct Point {
    temperature: f64,
    mean: f64,
    low: f64,
    high: f64,
}

/// Draws mean accuracy against temperature for each model in `rows`.
///
/// Each point gets its Wilson interval as an error bar, and a model with 2
/// or more points also gets a shaded band between the bounds. Cells with
/// fewer than `min_samples` grades are left out, as in the heatmap. `rows`
/// must be sorted by model, as [`crate::aggregate::long`] writes them.
pub fn render_accuracy(
    rows: &[LongRow],
    min_samples: u32,
    title: &str,
) -> Result<String, PlotError> {
    let mut curves: Vec<(&str, Vec<Point>)> = Vec::new();
    for row in rows {
        let (Some(mean), Some(interval)) = (row.mean_accuracy, row.wilson) else {
            continue;
        };
        if row.n_graded < u64::from(min_samples) {
            continue;
        }
        let point = Point {
            temperature: row.temperature,
            mean,
            low: interval.low,
            high: interval.high,
        };
        match curves.last_mut() {
            Some((model, points)) if *model == row.model => points.push(point),
            _ => curves.push((&row.model, vec![point])),
        }
    }
    let temperatures: Vec<f64> = rows.iter().map(|row| row.temperature).collect();

    let mut svg = String::new();
    draw(&mut svg, &curves, &temperatures, title).map_err(draw_error("accuracy curves"))?;
    Ok(svg)
}

fn draw(
    svg: &mut String,
    curves: &[(&str, Vec<Point>)],
    temperatures: &[f64],
    title: &str,
) -> DrawResult {
    let root = SVGBackend::with_string(svg, CHART_SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let (x_min, x_max) = temperature_range(temperatures);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 20))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(60)
        .build_cartesian_2d(x_min..x_max, -0.02f64..1.02f64)?;
    chart
        .configure_mesh()
        .x_desc("temperature")
        .y_desc("mean accuracy (95% Wilson interval)")
        .label_style((FONT, 13))
        .draw()?;

    for (index, (model, points)) in curves.iter().enumerate() {
        let colour = Palette99::pick(index).to_rgba();
        if points.len() >= 2 {
            let mut band: Vec<(f64, f64)> =
                points.iter().map(|p| (p.temperature, p.high)).collect();
            band.extend(points.iter().rev().map(|p| (p.temperature, p.low)));
            chart.draw_series(std::iter::once(Polygon::new(
                band,
                colour.mix(0.15).filled(),
            )))?;
        }
        chart.draw_series(points.iter().map(|p| {
            PathElement::new(
                vec![(p.temperature, p.low), (p.temperature, p.high)],
                colour.mix(0.5).stroke_width(1),
            )
        }))?;
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.temperature, p.mean)),
                colour.stroke_width(2),
            ))?
            .label(*model)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
        chart.draw_series(
            points
                .iter()
                .map(|p| Circle::new((p.temperature, p.mean), 3, colour.filled())),
        )?;
    }

    if curves.is_empty() {
        chart.draw_series(std::iter::once(Text::new(
            "no cells with enough grades",
            ((x_min + x_max) / 2.0, 0.5),
            (FONT, 14),
        )))?;
    } else {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font((FONT, 13))
            .draw()?;
    }
    root.present()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::wilson::wilson_interval;
    use crate::plot::svg_texts;

    fn row(model: &str, temperature: f64, successes: f64, n: u64) -> LongRow {
        LongRow {
            model: model.into(),
            temperature,
            n_graded: n,
            n_unscored: 0,
            mean_accuracy: (n > 0).then(|| successes / n as f64),
            wilson: wilson_interval(successes, n),
            mean_tokens_out: None,
            tokens_per_second: None,
            mean_latency_ms: None,
            share_truncated: None,
        }
    }

    #[test]
    fn curves_name_every_model() {
        let rows = vec![
            row("gemma3:1b", 0.0, 8.0, 10),
            row("gemma3:1b", 0.5, 6.0, 10),
            row("gemma3:1b", 1.0, 3.0, 10),
            row("qwen2.5:7b", 0.5, 1.0, 1),
        ];
        let svg = render_accuracy(&rows, 1, "accuracy 20260101_120000").unwrap();
        let texts = svg_texts(&svg);
        for text in [
            "accuracy 20260101_120000",
            "gemma3:1b",
            "qwen2.5:7b",
            "temperature",
        ] {
            assert!(
                texts.iter().any(|t| t == text),
                "missing {text} in {texts:?}"
            );
        }
        assert!(svg.contains("<polygon"), "no Wilson band drawn");
    }

    #[test]
    fn thin_cells_are_left_out() {
        let rows = vec![row("a", 0.0, 1.0, 1), row("b", 0.0, 2.0, 3)];
        let texts = svg_texts(&render_accuracy(&rows, 2, "t").unwrap());
        assert!(!texts.iter().any(|t| t == "a"), "{texts:?}");
        assert!(texts.iter().any(|t| t == "b"), "{texts:?}");
    }

    #[test]
    fn single_temperature_and_empty_rows() {
        let rows = vec![row("solo", 0.7, 1.0, 2), row("none", 0.7, 0.0, 0)];
        let texts = svg_texts(&render_accuracy(&rows, 1, "t").unwrap());
        assert!(texts.iter().any(|t| t == "solo"), "{texts:?}");
        assert!(!texts.iter().any(|t| t == "none"), "{texts:?}");
        let texts = svg_texts(&render_accuracy(&[], 1, "t").unwrap());
        assert!(
            texts.iter().any(|t| t == "no cells with enough grades"),
            "{texts:?}"
        );
    }
}
