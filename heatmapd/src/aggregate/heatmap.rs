//! Model x temperature tables of mean accuracy and their CSV form.
//!
//! A heatmap CSV has the header `Model,<t1>,<t2>,...` with temperatures
//! ascending in shortest decimal form, one row per model sorted by name, and
//! cells with the mean accuracy to 4 decimals, empty where no grade falls
//! or where fewer grades fall than the `min_samples` setting requires.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use heatmap_proto::types::{HeatmapRow, HeatmapTable};

use crate::config::{Settings, SettingsError};
use crate::layout;

/// Sums of accuracies per model and temperature, filled in a fixed order so
/// two builds over the same grades give bit-identical means.
#[derive(Debug, Default)]
pub(crate) struct TableBuilder<'a> {
    temperatures: BTreeSet<u64>,
    cells: BTreeMap<&'a str, HashMap<u64, (f64, u64)>>,
}

impl<'a> TableBuilder<'a> {
    /// Adds one grade's accuracy to the cell of its model and temperature.
    pub(crate) fn add(&mut self, model: &'a str, temperature: f64, accuracy: f64) {
        let key = temp_key(temperature);
        self.temperatures.insert(key);
        let cell = self
            .cells
            .entry(model)
            .or_default()
            .entry(key)
            .or_insert((0.0, 0));
        cell.0 += accuracy;
        cell.1 += 1;
    }

    /// Builds the table: temperatures ascending, models sorted by name.
    pub(crate) fn build(self) -> HeatmapTable {
        let keys: Vec<u64> = self.temperatures.into_iter().collect();
        let rows = self
            .cells
            .into_iter()
            .map(|(model, cells)| {
                let sums: Vec<Option<&(f64, u64)>> =
                    keys.iter().map(|key| cells.get(key)).collect();
                HeatmapRow {
                    model: model.to_string(),
                    cells: sums
                        .iter()
                        .map(|cell| cell.map(|(sum, count)| sum / *count as f64))
                        .collect(),
                    counts: sums
                        .iter()
                        .map(|cell| cell.map_or(0, |(_, count)| *count))
                        .collect(),
                }
            })
            .collect();
        HeatmapTable {
            temperatures: keys.into_iter().map(f64::from_bits).collect(),
            rows,
        }
    }
}

/// Empties every cell with fewer than `min_samples` grades. The counts stay,
/// so a reader can tell a thin cell from one without grades.
pub fn apply_min_samples(table: &mut HeatmapTable, min_samples: u32) {
    for row in &mut table.rows {
        for (cell, &count) in row.cells.iter_mut().zip(&row.counts) {
            if count < u64::from(min_samples) {
                *cell = None;
            }
        }
    }
}

/// Reads `min_samples` from the `settings.json` in the parent of `output`
/// (the workspace root); 1 when the file does not exist.
pub fn load_min_samples(output: &Path) -> Result<u32, SettingsError> {
    let root = output.parent().unwrap_or(Path::new(""));
    Ok(Settings::load(&root.join("settings.json"))?.min_samples)
}

/// Orders temperatures by their bits, which for numbers >= 0 is numeric order.
fn temp_key(temperature: f64) -> u64 {
    (layout::round_temp(temperature) + 0.0).to_bits()
}

/// Renders a table as heatmap CSV text.
pub fn render_csv(table: &HeatmapTable) -> String {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let mut record: Vec<String> = Vec::with_capacity(table.temperatures.len() + 1);
    record.push("Model".to_string());
    record.extend(table.temperatures.iter().map(|&t| layout::format_temp(t)));
    write_record(&mut writer, &record);
    for row in &table.rows {
        record.clear();
        record.push(row.model.clone());
        record.extend(
            row.cells
                .iter()
                .map(|cell| cell.map(|mean| format!("{mean:.4}")).unwrap_or_default()),
        );
        write_record(&mut writer, &record);
    }
    let bytes = writer.into_inner().expect("writing to memory cannot fail");
    String::from_utf8(bytes).expect("the CSV is built from strings")
}

fn write_record(writer: &mut csv::Writer<Vec<u8>>, record: &[String]) {
    writer
        .write_record(record)
        .expect("writing to memory cannot fail");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_means_and_counts() {
        let mut builder = TableBuilder::default();
        builder.add("b", 0.7, 1.0);
        builder.add("b", 0.7, 0.0);
        builder.add("b", 0.7, 0.5);
        builder.add("a", 0.1 + 0.2, 1.0);
        builder.add("a", 1.25, 0.25);
        let table = builder.build();
        assert_eq!(table.temperatures, [0.3, 0.7, 1.25]);
        assert_eq!(table.rows[0].model, "a");
        assert_eq!(table.rows[0].cells, [Some(1.0), None, Some(0.25)]);
        assert_eq!(table.rows[0].counts, [1, 0, 1]);
        assert_eq!(table.rows[1].model, "b");
        assert_eq!(table.rows[1].cells, [None, Some(0.5), None]);
        assert_eq!(table.rows[1].counts, [0, 3, 0]);
    }

    #[test]
    fn csv_text() {
        let mut builder = TableBuilder::default();
        builder.add("org/model, v2", 0.0, 2.0 / 3.0);
        builder.add("org/model, v2", 1.0, 0.0);
        builder.add("gemma3:1b", 0.05, 0.123456);
        let csv = render_csv(&builder.build());
        assert_eq!(
            csv,
            "Model,0,0.05,1\ngemma3:1b,,0.1235,\n\"org/model, v2\",0.6667,,0.0000\n"
        );
    }

    #[test]
    fn thin_cells_are_emptied() {
        let mut builder = TableBuilder::default();
        builder.add("a", 0.0, 1.0);
        builder.add("a", 0.0, 0.0);
        builder.add("a", 0.5, 1.0);
        builder.add("b", 0.5, 0.25);
        let mut table = builder.build();
        apply_min_samples(&mut table, 2);
        assert_eq!(table.rows[0].cells, [Some(0.5), None]);
        assert_eq!(table.rows[0].counts, [2, 1]);
        assert_eq!(table.rows[1].cells, [None, None]);
        assert_eq!(render_csv(&table), "Model,0,0.5\na,0.5000,\nb,,\n");
    }

    #[test]
    fn min_samples_of_one_changes_nothing() {
        let mut builder = TableBuilder::default();
        builder.add("a", 0.0, 1.0);
        builder.add("a", 0.5, 0.0);
        let mut table = builder.build();
        let before = table.clone();
        apply_min_samples(&mut table, 1);
        assert_eq!(table, before);
    }

    #[test]
    fn min_samples_from_settings() {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("output");
        assert_eq!(load_min_samples(&output).unwrap(), 1);
        std::fs::write(dir.path().join("settings.json"), r#"{"min_samples": 3}"#).unwrap();
        assert_eq!(load_min_samples(&output).unwrap(), 3);
        std::fs::write(dir.path().join("settings.json"), r#"{"min_samples": 0}"#).unwrap();
        let err = load_min_samples(&output).unwrap_err();
        assert!(err.to_string().contains("min_samples"), "{err}");
    }

    #[test]
    fn empty_table_has_header_only() {
        let csv = render_csv(&TableBuilder::default().build());
        assert_eq!(csv, "Model\n");
    }
}
