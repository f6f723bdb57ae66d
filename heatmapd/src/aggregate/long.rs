//! The long form of a heatmap: one CSV row per model and temperature.
//!
//! `heatmap_<stamp>_long.csv` has the header
//! `model,temperature,n_graded,n_unscored,mean_accuracy,wilson_low,wilson_high,mean_tokens_out,tokens_per_second,mean_latency_ms,share_truncated`.
//! Rows are sorted by model name, then temperature, and cover every cell
//! with at least one parsed grade, scored or not. Accuracy fields and
//! `share_truncated` have 4 decimals, the other means 2. A field is empty
//! when no grade in the cell carries the value it needs.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::record::GradeRecord;
use super::wilson::{Interval, wilson_interval};
use crate::layout;

/// Column names of the long CSV.
pub const LONG_HEADER: [&str; 11] = [
    "model",
    "temperature",
    "n_graded",
    "n_unscored",
    "mean_accuracy",
    "wilson_low",
    "wilson_high",
    "mean_tokens_out",
    "tokens_per_second",
    "mean_latency_ms",
    "share_truncated",
];

/// Returns the file name of the long CSV beside `heatmap_<stamp>.csv`.
pub fn long_file_name(stamp: &str) -> String {
    format!("heatmap_{stamp}_long.csv")
}

/// Statistics of the grades of one model at one temperature.
#[derive(Debug, Clone, PartialEq)]
pub struct LongRow {
    /// Real model name.
    pub model: String,
    /// Temperature, rounded to 6 decimal places.
    pub temperature: f64,
    /// Grades with a usable accuracy.
    pub n_graded: u64,
    /// Grades without a usable accuracy.
    pub n_unscored: u64,
    /// Mean accuracy of the graded grades.
    pub mean_accuracy: Option<f64>,
    /// 95% Wilson score interval of the mean accuracy.
    pub wilson: Option<Interval>,
    /// Mean `completion_tokens` over the grades that record it.
    pub mean_tokens_out: Option<f64>,
    /// Mean `tokens_per_second` over the grades that record it.
    pub tokens_per_second: Option<f64>,
    /// Mean `latency_ms` over the grades that record it.
    pub mean_latency_ms: Option<f64>,
    /// Share of the grades with a `finish_reason` whose reason is `length`.
    pub share_truncated: Option<f64>,
}

/// A running mean over the values that are present.
#[derive(Debug, Default, Clone, Copy)]
struct Mean {
    sum: f64,
    count: u64,
}

impl Mean {
    fn add(&mut self, value: Option<f64>) {
        if let Some(value) = value {
            self.sum += value;
            self.count += 1;
        }
    }

    fn value(self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }
}

/// Sums over the grades of one cell.
#[derive(Debug, Default)]
struct CellSums {
    graded: u64,
    unscored: u64,
    accuracy_sum: f64,
    tokens_out: Mean,
    tokens_per_second: Mean,
    latency_ms: Mean,
    truncated: Mean,
}

/// Computes one row per model and temperature over every parsed grade.
pub(crate) fn long_rows(grades: &[GradeRecord]) -> Vec<LongRow> {
    // Temperatures are rounded and >= 0, so their bits sort in numeric order.
    let mut cells: BTreeMap<(&str, u64), CellSums> = BTreeMap::new();
    for grade in grades {
        let key = (&*grade.model, (grade.temperature + 0.0).to_bits());
        let sums = cells.entry(key).or_default();
        match grade.accuracy {
            Some(accuracy) => {
                sums.graded += 1;
                sums.accuracy_sum += accuracy;
            }
            None => sums.unscored += 1,
        }
        let measured = &grade.measurements;
        sums.tokens_out.add(measured.completion_tokens);
        sums.tokens_per_second.add(measured.tokens_per_second);
        sums.latency_ms.add(measured.latency_ms);
        sums.truncated
            .add(measured.truncated.map(|hit| if hit { 1.0 } else { 0.0 }));
    }
    cells
        .into_iter()
        .map(|((model, bits), sums)| LongRow {
            model: model.to_string(),
            temperature: f64::from_bits(bits),
            n_graded: sums.graded,
            n_unscored: sums.unscored,
            mean_accuracy: (sums.graded > 0).then(|| sums.accuracy_sum / sums.graded as f64),
            wilson: wilson_interval(sums.accuracy_sum, sums.graded),
            mean_tokens_out: sums.tokens_out.value(),
            tokens_per_second: sums.tokens_per_second.value(),
            mean_latency_ms: sums.latency_ms.value(),
            share_truncated: sums.truncated.value(),
        })
        .collect()
}

/// Renders rows as long CSV text.
pub(crate) fn render_long(rows: &[LongRow]) -> String {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    writer
        .write_record(LONG_HEADER)
        .expect("writing to memory cannot fail");
    let fixed = |value: Option<f64>, decimals: usize| {
        value
            .map(|value| format!("{value:.decimals$}"))
            .unwrap_or_default()
    };
    for row in rows {
        let record = [
            row.model.clone(),
            layout::format_temp(row.temperature),
            row.n_graded.to_string(),
            row.n_unscored.to_string(),
            fixed(row.mean_accuracy, 4),
            fixed(row.wilson.map(|interval| interval.low), 4),
            fixed(row.wilson.map(|interval| interval.high), 4),
            fixed(row.mean_tokens_out, 2),
            fixed(row.tokens_per_second, 2),
            fixed(row.mean_latency_ms, 2),
            fixed(row.share_truncated, 4),
        ];
        writer
            .write_record(&record)
            .expect("writing to memory cannot fail");
    }
    let bytes = writer.into_inner().expect("writing to memory cannot fail");
    String::from_utf8(bytes).expect("the CSV is built from strings")
}

/// A long CSV that cannot be read back.
#[derive(Debug, thiserror::Error)]
#[error("invalid long heatmap CSV {path}: {reason}")]
pub struct LongCsvError {
    /// The CSV file.
    pub path: std::path::PathBuf,
    /// The problem found.
    pub reason: String,
}

/// Reads the graded count of each model and temperature from long CSV
/// text, keyed by model name and the temperature's bits after rounding.
pub fn read_counts(path: &Path, text: &str) -> Result<HashMap<(String, u64), u64>, LongCsvError> {
    let invalid = |reason: String| LongCsvError {
        path: path.to_path_buf(),
        reason,
    };
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|err| invalid(err.to_string()))?
        .clone();
    let column = |name: &str| {
        header
            .iter()
            .position(|field| field == name)
            .ok_or_else(|| invalid(format!("missing column {name}")))
    };
    let (model, temperature, n_graded) = (
        column("model")?,
        column("temperature")?,
        column("n_graded")?,
    );
    let mut counts = HashMap::new();
    for record in reader.records() {
        let record = record.map_err(|err| invalid(err.to_string()))?;
        let line = record.position().map_or(0, |position| position.line());
        let field = |index: usize| record.get(index).unwrap_or("").trim();
        let t: f64 = field(temperature)
            .parse()
            .map_err(|_| invalid(format!("line {line}: invalid temperature")))?;
        let n: u64 = field(n_graded)
            .parse()
            .map_err(|_| invalid(format!("line {line}: invalid n_graded")))?;
        let key = (field(model).to_string(), temperature_key(t));
        counts.insert(key, n);
    }
    Ok(counts)
}

/// Returns the key [`read_counts`] files a temperature under.
pub fn temperature_key(temperature: f64) -> u64 {
    (layout::round_temp(temperature) + 0.0).to_bits()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::aggregate::record::Measurements;

    fn grade(model: &str, temperature: f64, accuracy: Option<f64>) -> GradeRecord {
        GradeRecord {
            file: format!("{model}/s/{temperature}.json"),
            model: Arc::from(model),
            temperature,
            prompt_id: None,
            category: None,
            accuracy,
            measurements: Measurements::default(),
        }
    }

    fn measured(
        mut record: GradeRecord,
        tokens: Option<f64>,
        latency: Option<f64>,
        truncated: Option<bool>,
    ) -> GradeRecord {
        record.measurements = Measurements {
            completion_tokens: tokens,
            latency_ms: latency,
            tokens_per_second: tokens.zip(latency).map(|(t, ms)| t / ms * 1000.0),
            truncated,
        };
        record
    }

    #[test]
    fn eight_of_ten_cell() {
        let mut grades: Vec<GradeRecord> = (0..10)
            .map(|i| grade("m", 0.7, Some(if i < 8 { 1.0 } else { 0.0 })))
            .collect();
        grades.push(grade("m", 0.7, None));
        let rows = long_rows(&grades);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].n_graded, 10);
        assert_eq!(rows[0].n_unscored, 1);
        assert_eq!(
            render_long(&rows),
            "model,temperature,n_graded,n_unscored,mean_accuracy,wilson_low,wilson_high,\
             mean_tokens_out,tokens_per_second,mean_latency_ms,share_truncated\n\
             m,0.7,10,1,0.8000,0.4902,0.9433,,,,\n"
        );
    }

    #[test]
    fn measurements_average_where_present() {
        let grades = vec![
            measured(
                grade("m", 0.0, Some(1.0)),
                Some(100.0),
                Some(500.0),
                Some(false),
            ),
            measured(grade("m", 0.0, Some(0.0)), Some(300.0), None, Some(true)),
            measured(grade("m", 0.0, None), None, Some(1500.0), Some(true)),
            measured(grade("m", 0.0, Some(0.0)), None, None, None),
        ];
        let rows = long_rows(&grades);
        let row = &rows[0];
        assert_eq!(row.n_graded, 3);
        assert_eq!(row.n_unscored, 1);
        assert_eq!(row.mean_tokens_out, Some(200.0));
        assert_eq!(row.mean_latency_ms, Some(1000.0));
        assert_eq!(row.tokens_per_second, Some(200.0));
        assert_eq!(row.share_truncated, Some(2.0 / 3.0));
        assert_eq!(
            render_long(&rows).lines().nth(1),
            Some("m,0,3,1,0.3333,0.0615,0.7923,200.00,200.00,1000.00,0.6667")
        );
    }

    #[test]
    fn rows_sort_by_model_then_temperature() {
        let grades = vec![
            grade("b", 0.3, Some(1.0)),
            grade("a", 1.25, Some(0.5)),
            grade("a", 0.05, None),
            grade("org/m, v2", 0.0, Some(0.0)),
        ];
        let text = render_long(&long_rows(&grades));
        let lines: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(
            lines,
            [
                "a,0.05,0,1,,,,,,,",
                "a,1.25,1,0,0.5000,0.0546,0.9454,,,,",
                "b,0.3,1,0,1.0000,0.2065,1.0000,,,,",
                "\"org/m, v2\",0,1,0,0.0000,0.0000,0.7935,,,,",
            ]
        );
    }

    #[test]
    fn counts_read_back() {
        let grades = vec![
            grade("a", 0.3, Some(1.0)),
            grade("a", 0.3, Some(0.0)),
            grade("org/m, v2", 1.0, None),
        ];
        let text = render_long(&long_rows(&grades));
        let counts = read_counts(Path::new("x.csv"), &text).unwrap();
        assert_eq!(counts.len(), 2);
        assert_eq!(counts[&("a".to_string(), temperature_key(0.1 + 0.2))], 2);
        assert_eq!(counts[&("org/m, v2".to_string(), temperature_key(1.0))], 0);
    }

    #[test]
    fn counts_reject_bad_files() {
        let err = read_counts(Path::new("x.csv"), "model,n_graded\na,1\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid long heatmap CSV x.csv: missing column temperature"
        );
        let err = read_counts(
            Path::new("x.csv"),
            "model,temperature,n_graded\na,0.5,many\n",
        )
        .unwrap_err();
        assert_eq!(err.reason, "line 2: invalid n_graded");
    }
}
