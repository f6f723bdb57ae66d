//! A bar chart of the trend slope of each model, coloured by direction.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{CHART_SIZE, DrawResult, FONT, PlotError, draw_error, padded_range};
use crate::analysis::math::{DIRECTION_THRESHOLD, Direction, Trend};

/// Returns the bar colour of a direction: green, red or grey.
fn direction_colour(direction: Direction) -> RGBColor {
    match direction {
        Direction::Positive => RGBColor(40, 160, 70),
        Direction::Negative => RGBColor(210, 50, 50),
        Direction::Neutral => RGBColor(150, 150, 150),
    }
}

/// Draws one bar per model with the slope of its least-squares trend,
/// coloured by direction, with grey lines at the direction thresholds.
/// A model without a trend (fewer than 2 cells) gets the label `no trend`
/// and no bar.
pub fn render_trends(rows: &[(String, Option<Trend>)], title: &str) -> Result<String, PlotError> {
    let mut svg = String::new();
    draw(&mut svg, rows, title).map_err(draw_error("trends"))?;
    Ok(svg)
}

fn draw(svg: &mut String, rows: &[(String, Option<Trend>)], title: &str) -> DrawResult {
    let root = SVGBackend::with_string(svg, CHART_SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let slopes = rows
        .iter()
        .filter_map(|(_, trend)| trend.map(|fit| fit.slope));
    let bounds = [DIRECTION_THRESHOLD, -DIRECTION_THRESHOLD];
    let (y_min, y_max) = padded_range(slopes.chain(bounds), (-1.0, 1.0));
    let count = rows.len().max(1);
    let names: Vec<&str> = rows.iter().map(|(model, _)| model.as_str()).collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 20))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(70)
        // NOTE: a segmented 0..count range has count + 1 slots, so an empty
        // slot stays at the right. 0..count - 1 would collapse a single bar.
        .build_cartesian_2d((0..count).into_segmented(), y_min..y_max)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(count)
        .x_label_formatter(&|value| match value {
            SegmentValue::CenterOf(index) => names.get(*index).copied().unwrap_or("").to_string(),
            _ => String::new(),
        })
        .y_desc("slope (accuracy per unit of temperature)")
        .label_style((FONT, 13))
        .draw()?;

    for bound in [0.0, DIRECTION_THRESHOLD, -DIRECTION_THRESHOLD] {
        let style = if bound == 0.0 {
            BLACK.stroke_width(1)
        } else {
            BLACK.mix(0.35).stroke_width(1)
        };
        chart.draw_series(std::iter::once(PathElement::new(
            vec![
                (SegmentValue::Exact(0), bound),
                (SegmentValue::Exact(count), bound),
            ],
            style,
        )))?;
    }

    let value_style =
        TextStyle::from((FONT, 12).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
    for (index, (_, trend)) in rows.iter().enumerate() {
        let Some(fit) = trend else {
            chart.draw_series(std::iter::once(Text::new(
                "no trend",
                (SegmentValue::CenterOf(index), 0.0),
                value_style.clone(),
            )))?;
            continue;
        };
        let colour = direction_colour(fit.direction);
        let mut bar = Rectangle::new(
            [
                (SegmentValue::Exact(index), 0.0),
                (SegmentValue::Exact(index + 1), fit.slope),
            ],
            colour.filled(),
        );
        bar.set_margin(0, 0, 12, 12);
        chart.draw_series(std::iter::once(bar))?;
        chart.draw_series(std::iter::once(Text::new(
            format!("{:.4}", fit.slope),
            (SegmentValue::CenterOf(index), fit.slope.max(0.0)),
            value_style.clone(),
        )))?;
    }

    for direction in [Direction::Positive, Direction::Negative, Direction::Neutral] {
        let colour = direction_colour(direction);
        chart
            .draw_series(std::iter::empty::<Rectangle<(SegmentValue<usize>, f64)>>())?
            .label(direction.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, 13))
        .draw()?;
    root.present()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::svg_texts;

    fn fit(slope: f64, direction: Direction) -> Option<Trend> {
        Some(Trend {
            slope,
            intercept: 0.5,
            direction,
            r_squared: 0.9,
        })
    }

    #[test]
    fn bars_show_models_slopes_and_colours() {
        let rows = vec![
            ("gemma3:1b".to_string(), fit(-0.3125, Direction::Negative)),
            ("qwen2.5:7b".to_string(), fit(0.2, Direction::Positive)),
            ("flat".to_string(), fit(0.01, Direction::Neutral)),
            ("single".to_string(), None),
        ];
        let svg = render_trends(&rows, "trends 0badf00d").unwrap();
        let texts = svg_texts(&svg);
        for text in [
            "trends 0badf00d",
            "gemma3:1b",
            "qwen2.5:7b",
            "flat",
            "single",
            "-0.3125",
            "0.2000",
            "0.0100",
            "no trend",
            "Positive",
            "Negative",
            "Neutral",
        ] {
            assert!(
                texts.iter().any(|t| t == text),
                "missing {text} in {texts:?}"
            );
        }
        assert!(svg.contains("#28A046"), "no green bar");
        assert!(svg.contains("#D23232"), "no red bar");
        assert!(svg.contains("#969696"), "no grey bar");
    }

    #[test]
    fn single_model_without_trend() {
        let rows = vec![("alone".to_string(), None)];
        let texts = svg_texts(&render_trends(&rows, "t").unwrap());
        assert!(texts.iter().any(|t| t == "alone"), "{texts:?}");
        assert!(texts.iter().any(|t| t == "no trend"), "{texts:?}");
    }
}
