//! Text forms of responses: tables, heatmaps, counts and durations.

use comfy_table::{CellAlignment, Table, presets};
use heatmap_proto::{AggregateReport, Counts, HeatmapTable, JobSummary, SessionRef};

use crate::parse::format_temperature;

/// Decimals of a mean accuracy in a heatmap cell.
const CELL_DECIMALS: usize = 2;

/// Creates a borderless table with upper-case column titles and two spaces between columns.
pub fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_style(presets::NOTHING);
    table.set_header(header.to_vec());
    for (index, column) in table.column_iter_mut().enumerate() {
        column.set_padding((if index == 0 { 0 } else { 2 }, 0));
    }
    table
}

/// Right-aligns the given columns, for numbers.
pub fn align_right(table: &mut Table, columns: &[usize]) {
    for &index in columns {
        if let Some(column) = table.column_mut(index) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
}

/// Renders a table without trailing spaces.
pub fn to_text(table: &Table) -> String {
    table.trim_fmt()
}

/// Renders a heatmap: models as rows, temperatures as columns, `-` for cells without grades.
///
/// A line below the table gives the number of grades per cell.
pub fn heatmap(heatmap: &HeatmapTable) -> String {
    if heatmap.rows.is_empty() {
        return "no grades yet".to_string();
    }
    let mut header = vec!["MODEL".to_string()];
    header.extend(heatmap.temperatures.iter().map(|&t| format_temperature(t)));
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut table = table(&header);
    for row in &heatmap.rows {
        let mut cells = vec![row.model.clone()];
        for column in 0..heatmap.temperatures.len() {
            cells.push(format_cell(row.cells.get(column).copied().flatten()));
        }
        table.add_row(cells);
    }
    let numeric: Vec<usize> = (1..=heatmap.temperatures.len()).collect();
    align_right(&mut table, &numeric);
    let mut text = to_text(&table);
    if let Some(line) = grades_per_cell(heatmap) {
        text.push('\n');
        text.push_str(&line);
    }
    text
}

/// Formats a mean accuracy, or `-` for an empty cell.
pub fn format_cell(cell: Option<f64>) -> String {
    match cell {
        Some(value) if value.is_finite() => format!("{value:.CELL_DECIMALS$}"),
        _ => "-".to_string(),
    }
}

/// Describes how many grades fall in the cells that have any.
fn grades_per_cell(heatmap: &HeatmapTable) -> Option<String> {
    let counts = heatmap.rows.iter().flat_map(|row| {
        row.cells
            .iter()
            .zip(&row.counts)
            .filter(|(cell, _)| cell.is_some())
            .map(|(_, &count)| count)
    });
    let (min, max) = counts.fold(None, |range: Option<(u64, u64)>, count| match range {
        None => Some((count, count)),
        Some((min, max)) => Some((min.min(count), max.max(count))),
    })?;
    if min == max {
        Some(format!("grades per cell: {min}"))
    } else {
        Some(format!("grades per cell: {min} to {max}"))
    }
}

/// Renders what an aggregation wrote: the heatmap, the counts, the CSV and,
/// with `list_files`, the other files.
pub fn aggregate_report(report: &AggregateReport, list_files: bool) -> String {
    let mut lines = vec![heatmap(&report.table), String::new()];
    lines.push(format!(
        "graded {}, unscored {}, invalid {}",
        report.graded, report.unscored, report.invalid
    ));
    match &report.id {
        Some(id) => lines.push(format!("heatmap {id}: {}", report.heatmap_csv)),
        None => lines.push(format!("heatmap: {}", report.heatmap_csv)),
    }
    if list_files {
        lines.extend(report.files.iter().map(|file| format!("wrote {file}")));
    }
    lines.join("\n")
}

/// Lists the session folders of a job, one per model.
pub fn sessions(sessions: &[SessionRef]) -> String {
    let mut table = table(&["MODEL", "SESSION FOLDER"]);
    for session in sessions {
        table.add_row(vec![
            session.model.clone(),
            format!("output/{}", session.path),
        ]);
    }
    to_text(&table)
}

/// Summarises a temperature grid as its count and range, e.g. `11 (0-1)`.
pub fn temperature_range(temperatures: &[f64]) -> String {
    let min = temperatures.iter().copied().reduce(f64::min);
    let max = temperatures.iter().copied().reduce(f64::max);
    match (min, max) {
        (Some(min), Some(max)) if min == max => format!("1 ({})", format_temperature(min)),
        (Some(min), Some(max)) => format!(
            "{} ({}-{})",
            temperatures.len(),
            format_temperature(min),
            format_temperature(max)
        ),
        _ => "0".to_string(),
    }
}

/// Lists temperatures in shortest decimal form, separated by commas.
pub fn temperature_list(temperatures: &[f64]) -> String {
    let texts: Vec<String> = temperatures
        .iter()
        .map(|&t| format_temperature(t))
        .collect();
    texts.join(", ")
}

/// Names the models of a job, shortened to the first two and a count of the rest.
pub fn model_list(models: &[String]) -> String {
    match models {
        [] => "-".to_string(),
        [one] => one.clone(),
        [first, second] => format!("{first}, {second}"),
        [first, second, rest @ ..] => format!("{first}, {second} +{} more", rest.len()),
    }
}

/// Describes item counts, e.g. `120/384 done, 3 failed, 2 running, 259 pending`.
///
/// Failed items count towards `done` here, because they will not run again.
pub fn counts(counts: &Counts) -> String {
    format!(
        "{}/{} done, {} failed, {} running, {} pending",
        counts.done + counts.failed,
        counts.total,
        counts.failed,
        counts.running,
        counts.pending
    )
}

/// Describes how a job ended, e.g. `job 4 completed: 380 of 384 items answered, 4 failed`.
pub fn job_outcome(summary: &JobSummary) -> String {
    let counts = &summary.counts;
    let mut text = format!(
        "job {} {}: {} of {} items answered, {} failed",
        summary.id, summary.state, counts.done, counts.total, counts.failed
    );
    if let Some(error) = &summary.error {
        text.push_str(&format!("\nerror: {error}"));
    }
    text
}

/// Formats a duration in seconds as its two largest units, e.g. `3d 4h`, `2h 5m`, `42s`.
pub fn duration(seconds: u64) -> String {
    let (days, hours) = (seconds / 86_400, seconds / 3_600 % 24);
    let (minutes, secs) = (seconds / 60 % 60, seconds % 60);
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {minutes}m")
    } else if minutes > 0 {
        format!("{minutes}m {secs}s")
    } else {
        format!("{secs}s")
    }
}

/// Formats a size in bytes with binary units, e.g. `1.50 GiB`, or `-` when unknown.
pub fn size(bytes: Option<u64>) -> String {
    match bytes {
        Some(bytes) => indicatif::HumanBytes(bytes).to_string(),
        None => "-".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use heatmap_proto::HeatmapRow;

    fn sample_heatmap() -> HeatmapTable {
        HeatmapTable {
            temperatures: vec![0.0, 0.5, 1.0],
            rows: vec![
                HeatmapRow {
                    model: "llama3.2:1b".into(),
                    cells: vec![Some(0.8125), Some(0.75), None],
                    counts: vec![16, 16, 0],
                },
                HeatmapRow {
                    model: "qwen3:8b".into(),
                    cells: vec![Some(1.0), Some(0.5), Some(0.0625)],
                    counts: vec![16, 8, 16],
                },
            ],
        }
    }

    #[test]
    fn heatmap_layout() {
        let text = heatmap(&sample_heatmap());
        let expected = "\
MODEL           0   0.5     1
llama3.2:1b  0.81  0.75     -
qwen3:8b     1.00  0.50  0.06
grades per cell: 8 to 16";
        assert_eq!(text, expected);
    }

    #[test]
    fn heatmap_uniform_counts() {
        let mut table = sample_heatmap();
        table.rows[1].counts = vec![16, 16, 16];
        let text = heatmap(&table);
        assert!(text.ends_with("\ngrades per cell: 16"), "{text}");
    }

    #[test]
    fn heatmap_without_rows() {
        let table = HeatmapTable {
            temperatures: vec![0.0],
            rows: vec![],
        };
        assert_eq!(heatmap(&table), "no grades yet");
    }

    #[test]
    fn heatmap_short_row_shows_dashes() {
        let table = HeatmapTable {
            temperatures: vec![0.0, 0.05],
            rows: vec![HeatmapRow {
                model: "m".into(),
                cells: vec![Some(0.5)],
                counts: vec![2],
            }],
        };
        let text = heatmap(&table);
        assert_eq!(
            text,
            "MODEL     0  0.05\nm      0.50     -\ngrades per cell: 2"
        );
    }

    #[test]
    fn temperature_summaries() {
        assert_eq!(temperature_range(&[0.0, 0.5, 1.0]), "3 (0-1)");
        assert_eq!(temperature_range(&[0.7]), "1 (0.7)");
        assert_eq!(temperature_range(&[]), "0");
        assert_eq!(temperature_list(&[0.0, 0.05, 1.25]), "0, 0.05, 1.25");
    }

    #[test]
    fn model_lists() {
        assert_eq!(model_list(&[]), "-");
        assert_eq!(model_list(&["a".into()]), "a");
        assert_eq!(
            model_list(&["a".into(), "b".into(), "c".into(), "d".into()]),
            "a, b +2 more"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(duration(42), "42s");
        assert_eq!(duration(125), "2m 5s");
        assert_eq!(duration(7_500), "2h 5m");
        assert_eq!(duration(3 * 86_400 + 4 * 3_600 + 59), "3d 4h");
    }

    #[test]
    fn sizes() {
        assert_eq!(size(None), "-");
        assert_eq!(size(Some(3 * 1024 * 1024)), "3.00 MiB");
        assert_eq!(size(Some(1536 * 1024 * 1024)), "1.50 GiB");
    }
}
