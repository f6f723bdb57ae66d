//! `heatmapctl show ID|live`: draws a heatmap in the terminal.
//!
//! On a terminal each cell gets a background from red (0) through yellow
//! (0.5) to green (1), in 24-bit colour when `COLORTERM` reports that the terminal
//! supports it and in the 256-colour palette otherwise. Without a terminal,
//! or with `NO_COLOR` set, the table is plain text. When the daemon sends
//! grade counts, each cell also shows its count as `n=<count>`.

use heatmap_proto::{HeatmapRow, HeatmapTable, HeatmapView, Request, Response};

use crate::client::{self, Transport};
use crate::output::Output;
use crate::parse::format_temperature;
use crate::render;

/// Colour mode of the cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    /// Plain text.
    None,
    /// The 256-colour palette.
    Palette,
    /// 24-bit RGB colour.
    Rgb,
}

impl Colour {
    /// Picks the colour mode from whether stdout is a terminal and the
    /// values of `NO_COLOR` and `COLORTERM`.
    pub fn choose(
        stdout_is_terminal: bool,
        no_color: Option<&str>,
        colorterm: Option<&str>,
    ) -> Colour {
        if !stdout_is_terminal || no_color.is_some_and(|value| !value.is_empty()) {
            return Colour::None;
        }
        match colorterm {
            Some("truecolor") | Some("24bit") => Colour::Rgb,
            _ => Colour::Palette,
        }
    }
}

/// Asks heatmapd for the heatmap `id` and draws it.
pub async fn run<T: Transport>(
    connection: &mut T,
    output: &mut Output<'_>,
    id: String,
    colour: Colour,
) -> anyhow::Result<()> {
    let response = client::call(connection, output, Request::Show { id }).await?;
    let Response::Heatmap(view) = &response else {
        return Err(client::unexpected("Show", &response));
    };
    if output.json {
        return Ok(());
    }
    output.line(draw(view, colour))
}

/// Draws a heatmap with its source path on the first line.
pub fn draw(view: &HeatmapView, colour: Colour) -> String {
    let title = format!("heatmap {}: {}", view.id, view.path);
    if view.table.rows.is_empty() {
        return format!("{title}\nno models in this heatmap");
    }
    match colour {
        Colour::None => format!("{title}\n{}", plain(&view.table)),
        _ => format!("{title}\n{}", coloured(&view.table, colour)),
    }
}

fn plain(table: &HeatmapTable) -> String {
    let mut header = vec!["MODEL".to_string()];
    header.extend(table.temperatures.iter().map(|&t| format_temperature(t)));
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut text = render::table(&header);
    for row in &table.rows {
        let mut cells = vec![row.model.clone()];
        cells.extend((0..table.temperatures.len()).map(|i| cell_text(table, row, i)));
        text.add_row(cells);
    }
    render::align_right(
        &mut text,
        &(1..=table.temperatures.len()).collect::<Vec<_>>(),
    );
    render::to_text(&text)
}

/// Draws fixed-width cells by hand, since table crates count escape codes as width.
fn coloured(table: &HeatmapTable, colour: Colour) -> String {
    const RESET: &str = "\x1b[0m";
    let name_width = table
        .rows
        .iter()
        .map(|row| row.model.chars().count())
        .max()
        .unwrap_or(0)
        .max(5);
    let headers: Vec<String> = table
        .temperatures
        .iter()
        .map(|&t| format_temperature(t))
        .collect();
    let count_width = if has_counts(table) {
        table
            .rows
            .iter()
            .flat_map(|row| row.counts.iter())
            .map(|count| format!(" n={count}").len())
            .max()
            .unwrap_or(0)
    } else {
        0
    };
    let cell_width = headers
        .iter()
        .map(String::len)
        .max()
        .unwrap_or(0)
        .max(4 + count_width)
        + 2;
    let mut lines = Vec::new();
    let mut header = format!("{:<name_width$}", "MODEL");
    for text in &headers {
        header.push_str(&format!("{text:>cell_width$}"));
    }
    lines.push(header);
    for row in &table.rows {
        let mut line = format!("{:<name_width$}", row.model);
        for index in 0..table.temperatures.len() {
            let cell = row.cells.get(index).copied().flatten();
            let text = format!("{:>cell_width$}", cell_text(table, row, index));
            match cell.filter(|value| value.is_finite()) {
                Some(value) => {
                    line.push_str(&background(value, colour));
                    line.push_str("\x1b[30m");
                    line.push_str(&text);
                    line.push_str(RESET);
                }
                None => line.push_str(&text),
            }
        }
        lines.push(line);
    }
    lines.join("\n")
}

/// Tells whether the table carries grade counts. A heatmap read from a
/// CSV without a long CSV beside it has only zeros.
fn has_counts(table: &HeatmapTable) -> bool {
    table
        .rows
        .iter()
        .any(|row| row.counts.iter().any(|&n| n > 0))
}

/// Returns the text of one cell: the mean, and `n=<count>` when the table has counts.
fn cell_text(table: &HeatmapTable, row: &HeatmapRow, index: usize) -> String {
    let mean = render::format_cell(row.cells.get(index).copied().flatten());
    if has_counts(table) {
        let count = row.counts.get(index).copied().unwrap_or(0);
        format!("{mean} n={count}")
    } else {
        mean
    }
}

/// Returns red, green and blue (0 to 1) on the scale red (0), yellow (0.5), green (1).
fn scale(value: f64) -> (f64, f64) {
    let value = value.clamp(0.0, 1.0);
    if value < 0.5 {
        (1.0, value * 2.0)
    } else {
        (2.0 - value * 2.0, 1.0)
    }
}

/// Returns the escape code that sets the background for `value`.
fn background(value: f64, colour: Colour) -> String {
    let (red, green) = scale(value);
    match colour {
        Colour::Rgb => {
            format!(
                "\x1b[48;2;{};{};0m",
                (red * 255.0).round() as u8,
                (green * 255.0).round() as u8
            )
        }
        _ => {
            // The 6x6x6 colour cube starts at index 16; each channel has levels 0 to 5.
            let index = 16 + 36 * (red * 5.0).round() as u8 + 6 * (green * 5.0).round() as u8;
            format!("\x1b[48;5;{index}m")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> HeatmapView {
        HeatmapView {
            id: "live".into(),
            path: "output/Summaries/heatmap_live.csv".into(),
            table: HeatmapTable {
                temperatures: vec![0.0, 0.5],
                rows: vec![HeatmapRow {
                    model: "tiny".into(),
                    cells: vec![Some(1.0), None],
                    counts: vec![0, 0],
                }],
            },
        }
    }

    #[test]
    fn colour_choice() {
        assert_eq!(Colour::choose(false, None, Some("truecolor")), Colour::None);
        assert_eq!(Colour::choose(true, Some("1"), None), Colour::None);
        assert_eq!(Colour::choose(true, Some(""), None), Colour::Palette);
        assert_eq!(Colour::choose(true, None, Some("24bit")), Colour::Rgb);
        assert_eq!(Colour::choose(true, None, None), Colour::Palette);
    }

    #[test]
    fn palette_scale() {
        assert_eq!(background(0.0, Colour::Palette), "\x1b[48;5;196m");
        assert_eq!(background(0.5, Colour::Palette), "\x1b[48;5;226m");
        assert_eq!(background(1.0, Colour::Palette), "\x1b[48;5;46m");
        assert_eq!(background(0.75, Colour::Rgb), "\x1b[48;2;128;255;0m");
    }

    #[test]
    fn plain_table() {
        assert_eq!(
            draw(&view(), Colour::None),
            "heatmap live: output/Summaries/heatmap_live.csv\nMODEL     0  0.5\ntiny   1.00    -"
        );
    }

    #[test]
    fn plain_table_with_counts() {
        let mut view = view();
        view.table.rows[0].counts = vec![12, 1];
        assert_eq!(
            draw(&view, Colour::None),
            "heatmap live: output/Summaries/heatmap_live.csv\n\
             MODEL          0    0.5\n\
             tiny   1.00 n=12  - n=1"
        );
    }

    #[test]
    fn coloured_table_with_counts() {
        let mut view = view();
        view.table.rows[0].counts = vec![3, 0];
        assert_eq!(
            draw(&view, Colour::Palette),
            "heatmap live: output/Summaries/heatmap_live.csv\nMODEL         0       0.5\n\
             tiny \x1b[48;5;46m\x1b[30m  1.00 n=3\x1b[0m     - n=0"
        );
    }

    #[test]
    fn coloured_table() {
        assert_eq!(
            draw(&view(), Colour::Palette),
            "heatmap live: output/Summaries/heatmap_live.csv\nMODEL     0   0.5\n\
             tiny \x1b[48;5;46m\x1b[30m  1.00\x1b[0m     -"
        );
    }
}
