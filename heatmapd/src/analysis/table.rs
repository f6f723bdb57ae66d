//! Reading a heatmap CSV back, and writing rows of numbers in the same shape.

use std::path::Path;

use super::AnalysisError;
use crate::layout;

/// A heatmap as read from its CSV: temperatures and one row of cells per model.
#[derive(Debug, Clone, PartialEq)]
pub struct HeatmapCsv {
    /// Temperatures of the columns, strictly ascending.
    pub temperatures: Vec<f64>,
    /// Model name and cells of each row, in file order; `None` for an empty cell.
    pub rows: Vec<(String, Vec<Option<f64>>)>,
}

/// Parses heatmap CSV text: a header `Model,<t1>,<t2>,...` with ascending
/// temperatures, then one row per model with empty or numeric cells. A row
/// shorter than the header has empty cells at the end.
pub fn parse_heatmap(path: &Path, text: &str) -> Result<HeatmapCsv, AnalysisError> {
    let invalid = |line: u64, message: String| AnalysisError::InvalidCsv {
        path: path.to_path_buf(),
        line,
        message,
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = reader.records();

    let header = match records.next() {
        Some(record) => record.map_err(|err| invalid(1, err.to_string()))?,
        None => {
            return Err(invalid(
                1,
                "the file is empty; expected a header Model,<t1>,<t2>,...".into(),
            ));
        }
    };
    let mut temperatures = Vec::with_capacity(header.len().saturating_sub(1));
    for (column, field) in header.iter().enumerate().skip(1) {
        let t: f64 = field.trim().parse().map_err(|_| {
            invalid(
                1,
                format!(
                    "column {}: header {field:?} is not a temperature",
                    column + 1
                ),
            )
        })?;
        if !t.is_finite() || temperatures.last().is_some_and(|&last| t <= last) {
            return Err(invalid(
                1,
                format!(
                    "column {}: temperatures must be finite and ascending, found {field}",
                    column + 1
                ),
            ));
        }
        temperatures.push(t);
    }

    let mut rows = Vec::new();
    for record in records {
        let record = record
            .map_err(|err| invalid(err.position().map_or(0, |p| p.line()), err.to_string()))?;
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(|field| field.trim().is_empty()) {
            continue;
        }
        if record.len() > temperatures.len() + 1 {
            let message = format!(
                "{} cells for {} temperatures",
                record.len() - 1,
                temperatures.len()
            );
            return Err(invalid(line, message));
        }
        let model = record.get(0).unwrap_or_default().to_string();
        let mut cells = vec![None; temperatures.len()];
        for (column, field) in record.iter().enumerate().skip(1) {
            let field = field.trim();
            if field.is_empty() {
                continue;
            }
            match field.parse::<f64>() {
                Ok(value) if value.is_finite() => cells[column - 1] = Some(value),
                _ => {
                    return Err(invalid(
                        line,
                        format!("column {}: {field:?} is not a number", column + 1),
                    ));
                }
            }
        }
        rows.push((model, cells));
    }
    Ok(HeatmapCsv { temperatures, rows })
}

/// Formats a number with 4 decimals, writing `-0.0000` as `0.0000`.
pub fn format4(value: f64) -> String {
    let text = format!("{value:.4}");
    if text == "-0.0000" {
        "0.0000".to_string()
    } else {
        text
    }
}

/// Renders CSV text from a header and rows of already formatted fields.
pub fn render(header: &[String], rows: &[Vec<String>]) -> String {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    writer
        .write_record(header)
        .expect("writing to memory cannot fail");
    for row in rows {
        writer
            .write_record(row)
            .expect("writing to memory cannot fail");
    }
    String::from_utf8(writer.into_inner().expect("writing to memory cannot fail"))
        .expect("the CSV is built from strings")
}

/// Returns the heatmap header `Model,<t1>,<t2>,...`.
pub fn heatmap_header(temperatures: &[f64]) -> Vec<String> {
    std::iter::once("Model".to_string())
        .chain(temperatures.iter().map(|&t| layout::format_temp(t)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<HeatmapCsv, AnalysisError> {
        parse_heatmap(Path::new("h.csv"), text)
    }

    #[test]
    fn parses_our_format() {
        let table =
            parse("\u{feff}Model,0,0.05,1\ngemma3:1b,,0.1235,\n\"org/model, v2\",0.6667,,0.0000\n")
                .unwrap();
        assert_eq!(table.temperatures, [0.0, 0.05, 1.0]);
        assert_eq!(
            table.rows[0],
            ("gemma3:1b".to_string(), vec![None, Some(0.1235), None])
        );
        assert_eq!(
            table.rows[1],
            (
                "org/model, v2".to_string(),
                vec![Some(0.6667), None, Some(0.0)]
            )
        );
    }

    #[test]
    fn short_rows_and_blank_lines() {
        let table = parse("Model,0.5,1.5\nm,0.25\n\n").unwrap();
        assert_eq!(table.rows, [("m".to_string(), vec![Some(0.25), None])]);
    }

    #[test]
    fn rejects_bad_files_with_line() {
        let cases = [
            ("", 1, "the file is empty"),
            (
                "Model,0,warm\n",
                1,
                "column 3: header \"warm\" is not a temperature",
            ),
            (
                "Model,1,0.5\n",
                1,
                "column 3: temperatures must be finite and ascending",
            ),
            ("Model,0\nm,high\n", 2, "column 2: \"high\" is not a number"),
            ("Model,0\nm,0.5,0.7\n", 2, "2 cells for 1 temperatures"),
            ("Model,0\nm,inf\n", 2, "column 2: \"inf\" is not a number"),
        ];
        for (text, expected_line, expected) in cases {
            match parse(text) {
                Err(AnalysisError::InvalidCsv { line, message, .. }) => {
                    assert_eq!(line, expected_line, "{text:?}");
                    assert!(message.starts_with(expected), "{text:?}: {message}");
                }
                other => panic!("{text:?}: expected an invalid CSV, got {other:?}"),
            }
        }
    }

    #[test]
    fn format4_has_no_negative_zero() {
        assert_eq!(format4(-0.00001), "0.0000");
        assert_eq!(format4(-0.5), "-0.5000");
        assert_eq!(format4(2.0 / 3.0), "0.6667");
    }
}
