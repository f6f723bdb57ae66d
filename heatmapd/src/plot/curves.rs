//! Curves of one value per model and temperature, such as d/dT or the
//! percent change of accuracy.

use plotters::prelude::*;

use super::{
    CHART_SIZE, DrawResult, FONT, PlotError, draw_error, padded_range, present_runs,
    temperature_range,
};

/// Draws one curve per model over `temperatures`, labelling the y axis `y_label`.
///
/// Each row's cells line up with `temperatures`. A line breaks at an empty
/// or non-finite cell, and every present point gets a dot, so a point
/// without present neighbours still shows.
pub fn render_curves(
    temperatures: &[f64],
    rows: &[(String, Vec<Option<f64>>)],
    title: &str,
    y_label: &str,
) -> Result<String, PlotError> {
    let mut svg = String::new();
    draw(&mut svg, temperatures, rows, title, y_label).map_err(draw_error("curves"))?;
    Ok(svg)
}

fn draw(
    svg: &mut String,
    temperatures: &[f64],
    rows: &[(String, Vec<Option<f64>>)],
    title: &str,
    y_label: &str,
) -> DrawResult {
    let root = SVGBackend::with_string(svg, CHART_SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let values = rows
        .iter()
        .flat_map(|(_, cells)| cells.iter().flatten().copied());
    let (y_min, y_max) = padded_range(values.chain([0.0]), (-1.0, 1.0));
    let (x_min, x_max) = temperature_range(temperatures);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 20))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(x_min..x_max, y_min..y_max)?;
    chart
        .configure_mesh()
        .x_desc("temperature")
        .y_desc(y_label)
        .label_style((FONT, 13))
        .draw()?;
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(x_min, 0.0), (x_max, 0.0)],
        BLACK.mix(0.4).stroke_width(1),
    )))?;

    let mut drawn = 0;
    for (index, (model, cells)) in rows.iter().enumerate() {
        let runs = present_runs(temperatures, cells);
        if runs.is_empty() {
            continue;
        }
        drawn += 1;
        let colour = Palette99::pick(index).to_rgba();
        for (run_index, run) in runs.iter().enumerate() {
            let line =
                chart.draw_series(LineSeries::new(run.iter().copied(), colour.stroke_width(2)))?;
            if run_index == 0 {
                line.label(model.as_str()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                });
            }
            chart.draw_series(
                run.iter()
                    .map(|&point| Circle::new(point, 3, colour.filled())),
            )?;
        }
    }

    if drawn == 0 {
        chart.draw_series(std::iter::once(Text::new(
            "no values",
            ((x_min + x_max) / 2.0, (y_min + y_max) / 2.0),
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
    use crate::plot::svg_texts;

    #[test]
    fn curves_name_models_and_axis() {
        let rows = vec![
            (
                "gemma3:1b".to_string(),
                vec![Some(-0.5), None, Some(0.25), Some(1.5)],
            ),
            ("qwen2.5:7b".to_string(), vec![None, Some(0.0), None, None]),
            ("blank".to_string(), vec![None, None, None, None]),
        ];
        let svg = render_curves(
            &[0.0, 0.3, 0.7, 1.0],
            &rows,
            "derivative 0badf00d",
            "d accuracy / dT",
        )
        .unwrap();
        let texts = svg_texts(&svg);
        for text in [
            "derivative 0badf00d",
            "d accuracy / dT",
            "gemma3:1b",
            "qwen2.5:7b",
        ] {
            assert!(
                texts.iter().any(|t| t == text),
                "missing {text} in {texts:?}"
            );
        }
        assert!(!texts.iter().any(|t| t == "blank"), "{texts:?}");
    }

    #[test]
    fn single_temperature_and_no_values() {
        let rows = vec![("solo".to_string(), vec![Some(12.5)])];
        let texts = svg_texts(&render_curves(&[0.5], &rows, "t", "y").unwrap());
        assert!(texts.iter().any(|t| t == "solo"), "{texts:?}");
        let rows = vec![("solo".to_string(), vec![None])];
        let texts = svg_texts(&render_curves(&[0.5], &rows, "t", "y").unwrap());
        assert!(texts.iter().any(|t| t == "no values"), "{texts:?}");
    }
}
