//! Derivative, percent change and trend lines of heatmap rows.
//!
//! [`derive()`] looks heatmap snapshots up by id in
//! `output/Summaries/csv_index.json` and writes three CSVs per snapshot into
//! `output/Summaries/`, all numbers with 4 decimals:
//! - `heatmap_derivative_<id>.csv`: d/dT per cell ([`math::derivative`]);
//! - `heatmap_pct_change_<id>.csv`: percent change against the previous
//!   present cell, `INF` from 0 to a positive value ([`math::percent_change`]);
//! - `heatmap_trends_<id>.csv`: `Model,slope,intercept,direction,r_squared`
//!   per model ([`math::trend`]). The last four fields are empty for a row
//!   with fewer than 2 cells.
//!
//! It also draws `derivative_<id>.svg`, `pct_change_<id>.svg` and
//! `trends_<id>.svg` into `output/graphs/`.

pub mod math;
pub mod table;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use heatmap_proto::types::DeriveReport;

use crate::aggregate::AggregateError;
use crate::aggregate::index::{self, IndexEntry};
use crate::{layout, plot};
use math::PercentChange;
use table::{HeatmapCsv, format4};

/// Errors of [`derive()`].
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// Neither ids nor `all` were given.
    #[error("no heatmap id given; pass ids from csv_index.json or ask for all")]
    NoIds,
    /// The index has no snapshots.
    #[error("no heatmap snapshots found in {path}; run an aggregation first")]
    NoSnapshots {
        /// The index file.
        path: PathBuf,
    },
    /// An id is not in the index.
    #[error("heatmap id not found: {id}; known ids: {known}")]
    UnknownId {
        /// The id asked for.
        id: String,
        /// The ids in the index, comma-separated, or "none".
        known: String,
    },
    /// An index key cannot name files safely.
    #[error("invalid heatmap id {id:?} in {path}: ids are letters, digits, '-' and '_'")]
    InvalidId {
        /// The id.
        id: String,
        /// The index file.
        path: PathBuf,
    },
    /// The index could not be read.
    #[error(transparent)]
    Index(#[from] AggregateError),
    /// A heatmap CSV could not be read.
    #[error("cannot read heatmap {path}: {source}")]
    Read {
        /// The CSV file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A heatmap CSV is not in the heatmap format.
    #[error("invalid heatmap CSV {path}, line {line}: {message}")]
    InvalidCsv {
        /// The CSV file.
        path: PathBuf,
        /// Line number, from 1.
        line: u64,
        /// The problem found.
        message: String,
    },
    /// An output file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// Writes the derivative, percent change and trends CSVs of the heatmaps
/// `ids` (or of every registered heatmap when `all` is set).
///
/// ```no_run
/// let reports = heatmapd::analysis::derive("output".as_ref(), &["3fa85f64".to_string()], false)?;
/// println!("{:?}", reports[0].files);
/// # Ok::<(), heatmapd::analysis::AnalysisError>(())
/// ```
pub fn derive(
    output: &Path,
    ids: &[String],
    all: bool,
) -> Result<Vec<DeriveReport>, AnalysisError> {
    if ids.is_empty() && !all {
        return Err(AnalysisError::NoIds);
    }
    let index_path = index::index_path(output);
    let entries: BTreeMap<String, IndexEntry> = index::load(output)?.unwrap_or_default();
    let chosen: Vec<(&String, &IndexEntry)> = if all {
        if entries.is_empty() {
            return Err(AnalysisError::NoSnapshots { path: index_path });
        }
        let mut everything: Vec<_> = entries.iter().collect();
        everything.sort_by(|a, b| (&a.1.created_at, a.0).cmp(&(&b.1.created_at, b.0)));
        everything
    } else {
        let mut chosen = Vec::with_capacity(ids.len());
        for id in ids {
            let entry =
                entries
                    .get_key_value(id.trim())
                    .ok_or_else(|| AnalysisError::UnknownId {
                        id: id.clone(),
                        known: known_ids(&entries),
                    })?;
            chosen.push(entry);
        }
        chosen
    };

    let mut reports = Vec::with_capacity(chosen.len());
    for (id, entry) in chosen {
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(AnalysisError::InvalidId {
                id: id.clone(),
                path: index_path,
            });
        }
        let csv_path = entry.resolve(output);
        let text = std::fs::read_to_string(&csv_path).map_err(|source| AnalysisError::Read {
            path: csv_path.clone(),
            source,
        })?;
        let heatmap = table::parse_heatmap(&csv_path, &text)?;
        let mut files = write_outputs(&output.join("Summaries"), id, &heatmap)?;
        files.extend(write_pictures(&output.join("graphs"), id, &heatmap));
        tracing::info!(id = %id, csv = %csv_path.display(), rows = heatmap.rows.len(), "derived heatmap");
        reports.push(DeriveReport {
            id: id.clone(),
            files,
        });
    }
    Ok(reports)
}

fn known_ids(entries: &BTreeMap<String, IndexEntry>) -> String {
    if entries.is_empty() {
        "none".to_string()
    } else {
        entries.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// Writes the three derived CSVs of one heatmap and returns their paths.
fn write_outputs(
    summaries: &Path,
    id: &str,
    heatmap: &HeatmapCsv,
) -> Result<Vec<String>, AnalysisError> {
    let header = table::heatmap_header(&heatmap.temperatures);
    let derivative: Vec<Vec<String>> = heatmap
        .rows
        .iter()
        .map(|(model, cells)| {
            let values = math::derivative(&heatmap.temperatures, cells);
            row(
                model,
                values
                    .iter()
                    .map(|value| value.map(format4).unwrap_or_default()),
            )
        })
        .collect();
    let percent: Vec<Vec<String>> = heatmap
        .rows
        .iter()
        .map(|(model, cells)| {
            row(
                model,
                math::percent_change(cells).iter().map(format_percent),
            )
        })
        .collect();
    let trends: Vec<Vec<String>> = heatmap
        .rows
        .iter()
        .map(
            |(model, cells)| match math::trend(&heatmap.temperatures, cells) {
                Some(fit) => vec![
                    model.clone(),
                    format4(fit.slope),
                    format4(fit.intercept),
                    fit.direction.as_str().to_string(),
                    format4(fit.r_squared),
                ],
                None => vec![
                    model.clone(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                ],
            },
        )
        .collect();
    let trends_header: Vec<String> = ["Model", "slope", "intercept", "direction", "r_squared"]
        .iter()
        .map(|s| s.to_string())
        .collect();

    std::fs::create_dir_all(summaries).map_err(|source| AnalysisError::Write {
        path: summaries.to_path_buf(),
        source,
    })?;
    let outputs = [
        (
            format!("heatmap_derivative_{id}.csv"),
            table::render(&header, &derivative),
        ),
        (
            format!("heatmap_pct_change_{id}.csv"),
            table::render(&header, &percent),
        ),
        (
            format!("heatmap_trends_{id}.csv"),
            table::render(&trends_header, &trends),
        ),
    ];
    let mut files = Vec::with_capacity(outputs.len());
    for (name, text) in outputs {
        let path = summaries.join(name);
        layout::write_atomic(&path, text.as_bytes()).map_err(|source| AnalysisError::Write {
            path: path.clone(),
            source,
        })?;
        files.push(path.to_string_lossy().into_owned());
    }
    Ok(files)
}

/// Draws the derivative, percent change and trends pictures of one heatmap
/// into `graphs` and returns the paths written. A picture that fails is
/// logged and left out, because the CSVs it would show are already written.
fn write_pictures(graphs: &Path, id: &str, heatmap: &HeatmapCsv) -> Vec<String> {
    let temperatures = &heatmap.temperatures;
    let derivative: Vec<(String, Vec<Option<f64>>)> = heatmap
        .rows
        .iter()
        .map(|(model, cells)| (model.clone(), math::derivative(temperatures, cells)))
        .collect();
    // Infinite changes (from 0) cannot be placed on an axis, so they are left out.
    let percent: Vec<(String, Vec<Option<f64>>)> = heatmap
        .rows
        .iter()
        .map(|(model, cells)| {
            let values = math::percent_change(cells)
                .into_iter()
                .map(|change| match change {
                    Some(PercentChange::Value(value)) => Some(value),
                    _ => None,
                })
                .collect();
            (model.clone(), values)
        })
        .collect();
    let trends: Vec<(String, Option<math::Trend>)> = heatmap
        .rows
        .iter()
        .map(|(model, cells)| (model.clone(), math::trend(temperatures, cells)))
        .collect();

    let pictures = [
        (
            format!("derivative_{id}.svg"),
            plot::render_curves(
                temperatures,
                &derivative,
                &format!("d accuracy / dT, heatmap {id}"),
                "d accuracy / dT",
            ),
        ),
        (
            format!("pct_change_{id}.svg"),
            plot::render_curves(
                temperatures,
                &percent,
                &format!("percent change of accuracy, heatmap {id}"),
                "change from the previous temperature (%)",
            ),
        ),
        (
            format!("trends_{id}.svg"),
            plot::render_trends(&trends, &format!("accuracy trend per model, heatmap {id}")),
        ),
    ];
    let mut written = Vec::new();
    for (name, svg) in pictures {
        let path = graphs.join(name);
        match svg.and_then(|svg| plot::write_svg(&path, &svg)) {
            Ok(()) => written.push(path.to_string_lossy().into_owned()),
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "cannot write picture");
            }
        }
    }
    written
}

fn row(model: &str, cells: impl Iterator<Item = String>) -> Vec<String> {
    std::iter::once(model.to_string()).chain(cells).collect()
}

fn format_percent(change: &Option<PercentChange>) -> String {
    match change {
        None => String::new(),
        Some(PercentChange::Value(value)) => format4(*value),
        Some(PercentChange::Infinite) => "INF".to_string(),
        Some(PercentChange::NegativeInfinite) => "-INF".to_string(),
    }
}

#[cfg(test)]
mod tests;
