//! `heatmapctl show ID|live`: a heatmap CSV read back into a table.
//!
//! An id is looked up in `output/Summaries/csv_index.json`; `live` is
//! `output/Summaries/heatmap_live.csv`, which the watcher rewrites.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use heatmap_proto::{ErrorKind, HeatmapRow, HeatmapTable, HeatmapView};

use crate::aggregate::index;
use crate::aggregate::live::LIVE_CSV;
use crate::aggregate::long;
use crate::analysis::table::parse_heatmap;
use crate::runner::ApiError;

/// Id that names the live heatmap.
pub const LIVE_ID: &str = "live";

/// Reads the heatmap `id` under `output/`.
///
/// Grade counts come from the long CSV beside the heatmap
/// (`heatmap_<stamp>_long.csv`). Without one, as for the live heatmap,
/// every count is 0.
pub fn show(output: &Path, id: &str) -> Result<HeatmapView, ApiError> {
    let id = id.trim();
    let path = locate(output, id)?;
    let text = std::fs::read_to_string(&path).map_err(|err| {
        let kind = if err.kind() == std::io::ErrorKind::NotFound { ErrorKind::NotFound } else { ErrorKind::Internal };
        let hint = if id == LIVE_ID {
            "; the watcher writes it when a grade lands in output/ (start heatmapd without --no-watch)"
        } else {
            "; run 'heatmapctl aggregate' for a new snapshot"
        };
        ApiError::new(kind, format!("cannot read heatmap {id} at {}: {err}{hint}", path.display()))
    })?;
    let parsed = parse_heatmap(&path, &text).map_err(|err| ApiError::invalid(err.to_string()))?;
    let counts = read_long_counts(&path);
    let temperatures = &parsed.temperatures;
    let rows = parsed
        .rows
        .into_iter()
        .map(|(model, cells)| {
            let counts = temperatures
                .iter()
                .map(|&t| {
                    let key = (model.clone(), long::temperature_key(t));
                    counts.get(&key).copied().unwrap_or(0)
                })
                .collect();
            HeatmapRow {
                model,
                cells,
                counts,
            }
        })
        .collect();
    Ok(HeatmapView {
        id: id.to_string(),
        path: path.display().to_string(),
        table: HeatmapTable {
            temperatures: parsed.temperatures,
            rows,
        },
    })
}

/// Reads the graded counts from the long CSV beside the heatmap CSV at
/// `path`. Returns no counts when that file is missing, and also when it
/// cannot be read or parsed, which is logged.
fn read_long_counts(path: &Path) -> HashMap<(String, u64), u64> {
    let Some(stem) = path.file_stem().and_then(|stem| stem.to_str()) else {
        return HashMap::new();
    };
    let long_path = path.with_file_name(format!("{stem}_long.csv"));
    let text = match std::fs::read_to_string(&long_path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return HashMap::new(),
        Err(err) => {
            tracing::warn!(path = %long_path.display(), error = %err, "cannot read long heatmap CSV");
            return HashMap::new();
        }
    };
    long::read_counts(&long_path, &text).unwrap_or_else(|err| {
        tracing::warn!(error = %err, "ignoring grade counts of an invalid long heatmap CSV");
        HashMap::new()
    })
}

/// Returns the CSV path of `id`, which must lie in `output/Summaries/`.
fn locate(output: &Path, id: &str) -> Result<PathBuf, ApiError> {
    let summaries = output.join("Summaries");
    if id == LIVE_ID {
        return Ok(summaries.join(LIVE_CSV));
    }
    let entries = index::load(output)
        .map_err(|err| ApiError::invalid(err.to_string()))?
        .unwrap_or_default();
    let Some(entry) = entries.get(id) else {
        let mut known: Vec<&str> = entries.keys().map(String::as_str).collect();
        known.push(LIVE_ID);
        return Err(ApiError::new(
            ErrorKind::NotFound,
            format!(
                "heatmap id not found: {id:?}; known ids: {}",
                known.join(", ")
            ),
        ));
    };
    let plain_name = !entry.filename.is_empty()
        && !entry.filename.contains(['/', '\\'])
        && entry.filename != "."
        && entry.filename != "..";
    if !plain_name {
        return Err(ApiError::invalid(format!(
            "heatmap {id} in {} has the file name {:?}, which is not a plain file name; fix or remove the entry",
            index::index_path(output).display(),
            entry.filename
        )));
    }
    Ok(summaries.join(&entry.filename))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn reads_live_heatmap() {
        let dir = tempfile::tempdir().unwrap();
        write(
            &dir.path().join("Summaries/heatmap_live.csv"),
            "Model,0,0.5,1\na,1.0000,,0.2500\nb,0.5000,0.7500,\n",
        );
        let view = show(dir.path(), "live").unwrap();
        assert_eq!(view.id, "live");
        assert_eq!(view.table.temperatures, vec![0.0, 0.5, 1.0]);
        assert_eq!(view.table.rows.len(), 2);
        assert_eq!(view.table.rows[0].model, "a");
        assert_eq!(view.table.rows[0].cells, vec![Some(1.0), None, Some(0.25)]);
        assert_eq!(view.table.rows[1].cells, vec![Some(0.5), Some(0.75), None]);
        assert_eq!(view.table.rows[1].counts, vec![0, 0, 0]);
    }

    #[test]
    fn reads_snapshot_by_id() {
        let dir = tempfile::tempdir().unwrap();
        write(
            &dir.path().join("Summaries/heatmap_x.csv"),
            "Model,0.7\nm,0.1235\n",
        );
        write(
            &dir.path().join("Summaries/csv_index.json"),
            r#"{"0badf00d": {"id": "0badf00d", "filename": "heatmap_x.csv", "path": "/nowhere/heatmap_x.csv",
                "created_at": "t", "temps": [0.7]}}"#,
        );
        let view = show(dir.path(), "0badf00d").unwrap();
        assert_eq!(view.table.temperatures, vec![0.7]);
        assert_eq!(view.table.rows[0].cells, vec![Some(0.1235)]);
        assert_eq!(view.table.rows[0].counts, vec![0]);
        assert!(view.path.ends_with("heatmap_x.csv"), "{}", view.path);
    }

    #[test]
    fn snapshot_counts_come_from_long_csv() {
        let dir = tempfile::tempdir().unwrap();
        write(
            &dir.path().join("Summaries/heatmap_x.csv"),
            "Model,0,0.7\na,0.5000,\nb,,1.0000\n",
        );
        write(
            &dir.path().join("Summaries/heatmap_x_long.csv"),
            "model,temperature,n_graded,n_unscored,mean_accuracy\n\
             a,0,4,0,0.5000\na,0.7,1,2,1.0000\nb,0.7,3,0,1.0000\n",
        );
        write(
            &dir.path().join("Summaries/csv_index.json"),
            r#"{"0badf00d": {"id": "0badf00d", "filename": "heatmap_x.csv", "path": "x",
                "created_at": "t", "temps": [0.0, 0.7]}}"#,
        );
        let view = show(dir.path(), "0badf00d").unwrap();
        assert_eq!(view.table.rows[0].counts, vec![4, 1]);
        assert_eq!(view.table.rows[1].counts, vec![0, 3]);
    }

    #[test]
    fn unknown_id_lists_known_ids() {
        let dir = tempfile::tempdir().unwrap();
        write(
            &dir.path().join("Summaries/csv_index.json"),
            r#"{"0badf00d": {"id": "0badf00d", "filename": "h.csv", "path": "h.csv", "created_at": "t", "temps": []}}"#,
        );
        let err = show(dir.path(), "12345678").unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotFound);
        assert_eq!(
            err.message,
            "heatmap id not found: \"12345678\"; known ids: 0badf00d, live"
        );
    }

    #[test]
    fn file_name_with_path_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        write(
            &dir.path().join("Summaries/csv_index.json"),
            r#"{"0badf00d": {"id": "0badf00d", "filename": "../../etc/x.csv", "path": "x", "created_at": "t", "temps": []}}"#,
        );
        let err = show(dir.path(), "0badf00d").unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidRequest);
        assert!(
            err.message.contains("not a plain file name"),
            "{}",
            err.message
        );
    }

    #[test]
    fn missing_live_file_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let err = show(dir.path(), "live").unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotFound);
        assert!(
            err.message.starts_with("cannot read heatmap live at "),
            "{}",
            err.message
        );
    }
}
