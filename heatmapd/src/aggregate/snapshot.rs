//! A full aggregation of `output/` into registered summary files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{Local, SecondsFormat};
use heatmap_proto::types::AggregateReport;

use super::heatmap::{TableBuilder, apply_min_samples, load_min_samples, render_csv};
use super::long::{LongRow, long_file_name, long_rows, render_long};
use super::record::{FileOutcome, GradeRecord, InvalidFile};
use super::summaries::{self, Reserved};
use super::{AggregateError, Scope, index, scan};
use crate::{layout, plot};

/// Category of grades whose `category` field is missing.
pub const UNCATEGORIZED: &str = "Uncategorized";

/// Reads every grade in `scope` and writes the summaries.
///
/// Writes `Summaries/super_valid.json`, `Summaries/invalid_files.json` and
/// `Summaries/heatmap_<YYYYmmdd_HHMMSS>.csv` (with `_2`, `_3`, ... when that
/// name is taken) with its long form `Summaries/heatmap_<stamp>_long.csv`,
/// and registers the CSV in `Summaries/csv_index.json`. Heatmap cells with
/// fewer grades than `min_samples` are left empty. That setting comes from
/// the `settings.json` in the parent of `output`. The long CSV keeps every
/// mean, with its count beside it.
/// When any scored grade has a category (a `category` field that is not a
/// verdict label), it also writes one `specifics/heatmap_<category>_<stamp>.csv`
/// per category, with the temperatures of that category's grades as columns.
/// Grades without a category go to `Uncategorized`. Every file is replaced atomically.
///
/// ```no_run
/// use heatmapd::aggregate::{snapshot, Scope};
/// let report = snapshot("output".as_ref(), &Scope::All)?;
/// println!("{} graded, heatmap {}", report.graded, report.heatmap_csv);
/// # Ok::<(), heatmapd::aggregate::AggregateError>(())
/// ```
pub fn snapshot(output: &Path, scope: &Scope) -> Result<AggregateReport, AggregateError> {
    let started = Instant::now();
    if !output.is_dir() {
        return Err(AggregateError::OutputNotFound {
            path: output.to_path_buf(),
        });
    }
    let min_samples = load_min_samples(output)?;
    let roots = scope.roots(output)?;
    let listing = scan::list(&roots)?;
    let listed_ms = started.elapsed().as_millis() as u64;
    let file_count = listing.files.len();
    let (outcomes, unlisted) = scan::read_all(listing);
    let (grades, invalid) = split(outcomes, unlisted);
    let read_ms = started.elapsed().as_millis() as u64;

    let mut builder = TableBuilder::default();
    for grade in &grades {
        if let Some(accuracy) = grade.accuracy {
            builder.add(&grade.model, grade.temperature, accuracy);
        }
    }
    let mut table = builder.build();
    apply_min_samples(&mut table, min_samples);
    let graded = grades
        .iter()
        .filter(|grade| grade.accuracy.is_some())
        .count() as u64;
    let unscored = grades.len() as u64 - graded;

    let now = Local::now();
    let stamp = now.format("%Y%m%d_%H%M%S").to_string();
    let summaries_dir = output.join("Summaries");
    summaries::create_dir(&summaries_dir)?;
    let mut files = Vec::new();

    let valid_path = summaries_dir.join("super_valid.json");
    summaries::write(&valid_path, &summaries::render_valid(&grades))?;
    files.push(valid_path);
    let invalid_path = summaries_dir.join("invalid_files.json");
    summaries::write(&invalid_path, &summaries::render_invalid(&invalid))?;
    files.push(invalid_path);

    let heatmap = Reserved::take(&summaries_dir, "heatmap_", &stamp)?;
    let unique_stamp = heatmap.stamp.clone();
    let filename = heatmap.file_name();
    let heatmap_path = heatmap.fill(render_csv(&table).as_bytes())?;
    let long = long_rows(&grades);
    let long_path = summaries_dir.join(long_file_name(&unique_stamp));
    summaries::write(&long_path, render_long(&long).as_bytes())?;
    files.push(long_path);

    for (category, mut category_table) in category_tables(&grades) {
        apply_min_samples(&mut category_table, min_samples);
        let specifics = output.join("specifics");
        summaries::create_dir(&specifics)?;
        let prefix = format!("heatmap_{}_", layout::sanitize_name(category));
        let file = Reserved::take(&specifics, &prefix, &unique_stamp)?;
        files.push(file.fill(render_csv(&category_table).as_bytes())?);
    }

    let created_at = now.to_rfc3339_opts(SecondsFormat::Secs, false);
    let id = index::register(
        output,
        &heatmap_path,
        &filename,
        &table.temperatures,
        &created_at,
        &stamp,
    )?;
    files.push(index::index_path(output));
    files.extend(write_pictures(
        output,
        &unique_stamp,
        &table,
        &long,
        min_samples,
    ));

    let elapsed_ms = started.elapsed().as_millis() as u64;
    tracing::debug!(
        listed_ms,
        read_ms,
        elapsed_ms,
        files = file_count,
        "aggregation phases"
    );
    tracing::info!(
        id = %id, csv = %heatmap_path.display(), graded, unscored, invalid = invalid.len(), elapsed_ms,
        "aggregated grades"
    );
    Ok(AggregateReport {
        id: Some(id),
        heatmap_csv: heatmap_path.to_string_lossy().into_owned(),
        files: files
            .iter()
            .map(|path| path.to_string_lossy().into_owned())
            .collect(),
        graded,
        unscored,
        invalid: invalid.len() as u64,
        table,
    })
}

/// Draws `graphs/heatmap_<stamp>.svg` and `graphs/accuracy_<stamp>.svg`
/// and returns the paths written. A picture that fails is logged and left
/// out, because the CSVs it would show are already written.
fn write_pictures(
    output: &Path,
    stamp: &str,
    table: &heatmap_proto::types::HeatmapTable,
    long: &[LongRow],
    min_samples: u32,
) -> Vec<PathBuf> {
    let graphs = output.join("graphs");
    let pictures = [
        (
            format!("heatmap_{stamp}.svg"),
            plot::render_heatmap(table, &format!("heatmap {stamp}")),
        ),
        (
            format!("accuracy_{stamp}.svg"),
            plot::render_accuracy(long, min_samples, &format!("accuracy {stamp}")),
        ),
    ];
    let mut written = Vec::new();
    for (name, svg) in pictures {
        let path = graphs.join(name);
        match svg.and_then(|svg| plot::write_svg(&path, &svg)) {
            Ok(()) => written.push(path),
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "cannot write picture");
            }
        }
    }
    written
}

/// Splits outcomes into grades and invalid files, adding the folders that could not be listed.
pub(crate) fn split(
    outcomes: Vec<FileOutcome>,
    mut invalid: Vec<InvalidFile>,
) -> (Vec<GradeRecord>, Vec<InvalidFile>) {
    let mut grades = Vec::with_capacity(outcomes.len());
    for outcome in outcomes {
        match outcome {
            FileOutcome::Grade(grade) => grades.push(grade),
            FileOutcome::Invalid(file) => invalid.push(file),
        }
    }
    invalid.sort_by(|a, b| a.file.cmp(&b.file));
    (grades, invalid)
}

/// Builds one table per category over the scored grades, or none when no grade has a category.
fn category_tables(grades: &[GradeRecord]) -> Vec<(&str, heatmap_proto::types::HeatmapTable)> {
    let scored = || grades.iter().filter(|grade| grade.accuracy.is_some());
    if !scored().any(|grade| grade.category.is_some()) {
        return Vec::new();
    }
    let mut builders: BTreeMap<&str, TableBuilder<'_>> = BTreeMap::new();
    for grade in scored() {
        let category = grade.category.as_deref().unwrap_or(UNCATEGORIZED);
        let accuracy = grade.accuracy.expect("filtered to scored grades");
        builders
            .entry(category)
            .or_default()
            .add(&grade.model, grade.temperature, accuracy);
    }
    builders
        .into_iter()
        .map(|(category, builder)| (category, builder.build()))
        .collect()
}

#[cfg(test)]
mod tests;
