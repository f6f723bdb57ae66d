//! The heatmap grid: one row per model, one column per temperature, each
//! cell coloured by its mean accuracy and labelled with the mean and count.

use heatmap_proto::types::HeatmapTable;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{FONT, PlotError, accuracy_colour, draw_error};
use crate::layout;

const CELL_WIDTH: i32 = 76;
const CELL_HEIGHT: i32 = 44;
/// Space above the grid for the title and the temperature header.
const TOP: i32 = 76;
/// Space right of the grid for the colour scale.
const SCALE_WIDTH: i32 = 100;
const BOTTOM: i32 = 44;
/// Estimated width of one character of a 13 px label, for sizing the name column.
const CHAR_WIDTH: i32 = 8;

/// Draws `table` as an SVG heatmap titled `title`.
///
/// A filled cell shows its mean accuracy to 2 decimals and its grade count
/// `n`. An empty cell is grey: it shows `n` when it has grades (fewer than
/// `min_samples`) and a dash when it has none.
pub fn render_heatmap(table: &HeatmapTable, title: &str) -> Result<String, PlotError> {
    let error = draw_error("heatmap");
    let longest_name = table
        .rows
        .iter()
        .map(|row| row.model.chars().count())
        .max()
        .unwrap_or(0) as i32;
    let left = (longest_name * CHAR_WIDTH + 24).max(90);
    let columns = table.temperatures.len().max(1) as i32;
    let rows = table.rows.len().max(1) as i32;
    let width = left + columns * CELL_WIDTH + SCALE_WIDTH;
    let height = TOP + rows * CELL_HEIGHT + BOTTOM;

    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (width as u32, height as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(&error)?;
        let centred = |size: i32| {
            TextStyle::from((FONT, size).into_font()).pos(Pos::new(HPos::Center, VPos::Center))
        };
        root.draw(&Text::new(
            title.to_string(),
            (width / 2, 20),
            centred(18).color(&BLACK),
        ))
        .map_err(&error)?;
        root.draw(&Text::new(
            "temperature",
            (left + columns * CELL_WIDTH / 2, 42),
            centred(13).color(&BLACK),
        ))
        .map_err(&error)?;

        for (column, &t) in table.temperatures.iter().enumerate() {
            let x = left + column as i32 * CELL_WIDTH + CELL_WIDTH / 2;
            root.draw(&Text::new(
                layout::format_temp(t),
                (x, TOP - 12),
                centred(13).color(&BLACK),
            ))
            .map_err(&error)?;
        }

        if table.rows.is_empty() {
            root.draw(&Text::new(
                "no grades",
                (left + columns * CELL_WIDTH / 2, TOP + CELL_HEIGHT / 2),
                centred(14).color(&BLACK),
            ))
            .map_err(&error)?;
        }

        let name_style = TextStyle::from((FONT, 13).into_font())
            .pos(Pos::new(HPos::Right, VPos::Center))
            .color(&BLACK);
        for (index, row) in table.rows.iter().enumerate() {
            let y0 = TOP + index as i32 * CELL_HEIGHT;
            root.draw(&Text::new(
                row.model.clone(),
                (left - 10, y0 + CELL_HEIGHT / 2),
                name_style.clone(),
            ))
            .map_err(&error)?;
            for column in 0..table.temperatures.len() {
                let x0 = left + column as i32 * CELL_WIDTH;
                let cell = row.cells.get(column).copied().flatten();
                let count = row.counts.get(column).copied().unwrap_or(0);
                draw_cell(&root, (x0, y0), cell, count).map_err(&error)?;
            }
        }

        draw_scale(&root, left + columns * CELL_WIDTH + 30, rows).map_err(&error)?;
        root.present().map_err(&error)?;
    }
    Ok(svg)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type DrawResult<'a> =
    Result<(), DrawingAreaErrorKind<<SVGBackend<'a> as DrawingBackend>::ErrorType>>;

/// Draws one cell with its top left corner at `corner`.
fn draw_cell<'a>(
    root: &Area<'a>,
    corner: (i32, i32),
    cell: Option<f64>,
    count: u64,
) -> DrawResult<'a> {
    let (x0, y0) = corner;
    let fill = match cell {
        Some(value) => accuracy_colour(value),
        None if count > 0 => RGBColor(200, 200, 200),
        None => RGBColor(235, 235, 235),
    };
    root.draw(&Rectangle::new(
        [(x0, y0), (x0 + CELL_WIDTH, y0 + CELL_HEIGHT)],
        fill.filled(),
    ))?;
    root.draw(&Rectangle::new(
        [(x0, y0), (x0 + CELL_WIDTH, y0 + CELL_HEIGHT)],
        WHITE.stroke_width(2),
    ))?;
    let text_colour = match cell {
        Some(value) if value < 0.2 => WHITE,
        _ => BLACK,
    };
    let centre_x = x0 + CELL_WIDTH / 2;
    let style = |size: i32| {
        TextStyle::from((FONT, size).into_font())
            .pos(Pos::new(HPos::Center, VPos::Center))
            .color(&text_colour)
    };
    match cell {
        Some(value) => {
            root.draw(&Text::new(
                format!("{value:.2}"),
                (centre_x, y0 + 16),
                style(14),
            ))?;
            root.draw(&Text::new(
                format!("n={count}"),
                (centre_x, y0 + 32),
                style(10),
            ))?;
        }
        None if count > 0 => {
            root.draw(&Text::new(
                format!("n={count}"),
                (centre_x, y0 + CELL_HEIGHT / 2),
                style(11),
            ))?;
        }
        None => {
            root.draw(&Text::new("-", (centre_x, y0 + CELL_HEIGHT / 2), style(13)))?;
        }
    }
    Ok(())
}

/// Draws the vertical colour scale from 0 (bottom) to 1 (top) at `x`.
fn draw_scale<'a>(root: &Area<'a>, x: i32, rows: i32) -> DrawResult<'a> {
    const STEPS: i32 = 20;
    let bar_height = (rows * CELL_HEIGHT).max(100);
    let step_height = bar_height as f64 / STEPS as f64;
    for step in 0..STEPS {
        let value = 1.0 - (step as f64 + 0.5) / STEPS as f64;
        let top = TOP + (step as f64 * step_height).round() as i32;
        let bottom = TOP + ((step + 1) as f64 * step_height).round() as i32;
        root.draw(&Rectangle::new(
            [(x, top), (x + 16, bottom)],
            accuracy_colour(value).filled(),
        ))?;
    }
    let label = TextStyle::from((FONT, 11).into_font())
        .pos(Pos::new(HPos::Left, VPos::Center))
        .color(&BLACK);
    for (value, text) in [(1.0, "1"), (0.5, "0.5"), (0.0, "0")] {
        let y = TOP + ((1.0 - value) * bar_height as f64).round() as i32;
        root.draw(&Text::new(text, (x + 22, y), label.clone()))?;
    }
    root.draw(&Text::new(
        "accuracy",
        (x - 4, TOP - 12),
        TextStyle::from((FONT, 11).into_font())
            .pos(Pos::new(HPos::Left, VPos::Center))
            .color(&BLACK),
    ))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use heatmap_proto::types::HeatmapRow;

    use super::*;
    use crate::plot::svg_texts;

    fn table() -> HeatmapTable {
        HeatmapTable {
            temperatures: vec![0.0, 0.7, 1.25],
            rows: vec![
                HeatmapRow {
                    model: "gemma3:1b".into(),
                    cells: vec![Some(0.85), None, Some(0.1)],
                    counts: vec![20, 0, 8],
                },
                HeatmapRow {
                    model: "qwen2.5:7b".into(),
                    cells: vec![None, Some(1.0), Some(0.5)],
                    counts: vec![2, 10, 4],
                },
            ],
        }
    }

    #[test]
    fn heatmap_shows_names_values_counts() {
        let svg = render_heatmap(&table(), "heatmap 20260101_120000").unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        let texts = svg_texts(&svg);
        for text in [
            "heatmap 20260101_120000",
            "gemma3:1b",
            "qwen2.5:7b",
            "0.85",
            "n=20",
            "0.10",
            "1.00",
            "0.50",
            "n=2",
            "-",
            "0",
            "0.7",
            "1.25",
        ] {
            assert!(
                texts.iter().any(|t| t == text),
                "missing {text} in {texts:?}"
            );
        }
    }

    #[test]
    fn heatmap_with_single_temperature() {
        let table = HeatmapTable {
            temperatures: vec![0.3],
            rows: vec![HeatmapRow {
                model: "tiny".into(),
                cells: vec![Some(0.4)],
                counts: vec![5],
            }],
        };
        let texts = svg_texts(&render_heatmap(&table, "one").unwrap());
        for text in ["tiny", "0.40", "n=5", "0.3"] {
            assert!(
                texts.iter().any(|t| t == text),
                "missing {text} in {texts:?}"
            );
        }
    }

    #[test]
    fn heatmap_without_rows() {
        let table = HeatmapTable {
            temperatures: Vec::new(),
            rows: Vec::new(),
        };
        let texts = svg_texts(&render_heatmap(&table, "empty").unwrap());
        assert!(texts.iter().any(|t| t == "no grades"), "{texts:?}");
    }
}
