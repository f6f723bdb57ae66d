//! The index of heatmap snapshots, `output/Summaries/csv_index.json`.
//!
//! The index is a JSON object from a short id (8 hex digits) to
//! `{"id", "filename", "path", "created_at", "temps"}`. It is rewritten whole
//! through [`layout::write_atomic`]; entries this code does not understand
//! are kept as they are.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::AggregateError;
use crate::layout;

/// File name of the index inside `Summaries/`.
pub const INDEX_FILE: &str = "csv_index.json";

/// Serializes read-modify-write cycles of the index within this process.
static INDEX_LOCK: Mutex<()> = Mutex::new(());

/// One registered heatmap snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// Short id: the first 8 hex digits of a SHA-256 of the path and creation time.
    pub id: String,
    /// File name of the CSV.
    pub filename: String,
    /// Path of the CSV as written.
    pub path: String,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Temperatures of the CSV's columns.
    pub temps: Vec<f64>,
}

impl IndexEntry {
    /// Returns where the CSV is now: the recorded path when it exists, else
    /// the file name inside `output/Summaries/`, which still works after the
    /// workspace was moved.
    pub fn resolve(&self, output: &Path) -> PathBuf {
        let recorded = PathBuf::from(&self.path);
        if recorded.is_file() {
            recorded
        } else {
            output.join("Summaries").join(&self.filename)
        }
    }
}

/// Returns the path of the index under `output/`.
pub fn index_path(output: &Path) -> PathBuf {
    output.join("Summaries").join(INDEX_FILE)
}

/// Reads the index: `Ok(None)` when there is none, an error when it cannot be
/// read or is not a JSON object. Entries that lack a field are skipped with a warning.
pub fn load(output: &Path) -> Result<Option<BTreeMap<String, IndexEntry>>, AggregateError> {
    let path = index_path(output);
    let Some(map) = read_map(&path)? else {
        return Ok(None);
    };
    let mut entries = BTreeMap::new();
    for (id, value) in map {
        match serde_json::from_value::<IndexEntry>(value) {
            Ok(entry) => {
                entries.insert(id, entry);
            }
            Err(err) => {
                tracing::warn!(path = %path.display(), id = %id, error = %err, "skipping index entry")
            }
        }
    }
    Ok(Some(entries))
}

/// Reads the index as a raw JSON object.
fn read_map(path: &Path) -> Result<Option<Map<String, Value>>, AggregateError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(AggregateError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(_) => Err(AggregateError::InvalidIndex {
            path: path.to_path_buf(),
            reason: "not a JSON object".into(),
        }),
        Err(err) => Err(AggregateError::InvalidIndex {
            path: path.to_path_buf(),
            reason: err.to_string(),
        }),
    }
}

/// Adds a heatmap CSV to the index and returns its new id.
///
/// An index that cannot be parsed is renamed to `csv_index.json.bad-<stamp>`
/// with a warning, and a new index is started.
pub(crate) fn register(
    output: &Path,
    csv_path: &Path,
    filename: &str,
    temps: &[f64],
    created_at: &str,
    stamp: &str,
) -> Result<String, AggregateError> {
    let _guard = INDEX_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let path = index_path(output);
    let mut map = match read_map(&path) {
        Ok(map) => map.unwrap_or_default(),
        Err(AggregateError::InvalidIndex { reason, .. }) => {
            let aside = unused_path(&path.with_file_name(format!("{INDEX_FILE}.bad-{stamp}")));
            fs::rename(&path, &aside).map_err(|source| AggregateError::Write {
                path: aside.clone(),
                source,
            })?;
            tracing::warn!(
                path = %path.display(), moved_to = %aside.display(), error = %reason,
                "csv index is invalid; moved it aside and started a new one"
            );
            Map::new()
        }
        Err(err) => return Err(err),
    };

    let csv_path = csv_path.to_string_lossy().into_owned();
    let id = unused_id(&map, &csv_path, created_at);
    let entry = IndexEntry {
        id: id.clone(),
        filename: filename.to_string(),
        path: csv_path,
        created_at: created_at.to_string(),
        temps: temps.to_vec(),
    };
    map.insert(
        id.clone(),
        serde_json::to_value(&entry).expect("an index entry serializes"),
    );
    let mut text = serde_json::to_vec_pretty(&map).expect("a JSON map serializes");
    text.push(b'\n');
    layout::write_atomic(&path, &text).map_err(|source| AggregateError::Write { path, source })?;
    Ok(id)
}

/// Returns `path`, or `path_2`, `path_3`, ... when it is taken, so an
/// earlier file moved aside is never overwritten.
fn unused_path(path: &Path) -> PathBuf {
    if !path.exists() {
        return path.to_path_buf();
    }
    let name = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    (2u32..)
        .map(|n| path.with_file_name(format!("{name}_{n}")))
        .find(|candidate| !candidate.exists())
        .expect("an unused suffix exists")
}

/// Derives an 8-hex id from the path and time that no entry uses yet.
fn unused_id(map: &Map<String, Value>, path: &str, created_at: &str) -> String {
    (0u32..)
        .map(|attempt| {
            let mut hasher = Sha256::new();
            hasher.update(path.as_bytes());
            hasher.update(created_at.as_bytes());
            if attempt > 0 {
                hasher.update(attempt.to_le_bytes());
            }
            hasher.finalize()[..4]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        })
        .find(|id| !map.contains_key(id))
        .expect("an unused id exists")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_then_load() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("Summaries")).unwrap();
        let csv = dir.path().join("Summaries/heatmap_20260101_120000.csv");
        let id = register(
            dir.path(),
            &csv,
            "heatmap_20260101_120000.csv",
            &[0.0, 0.5],
            "2026-01-01T12:00:00+00:00",
            "s",
        )
        .unwrap();
        assert_eq!(id.len(), 8);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        let entries = load(dir.path()).unwrap().unwrap();
        let entry = &entries[&id];
        assert_eq!(entry.filename, "heatmap_20260101_120000.csv");
        assert_eq!(entry.temps, [0.0, 0.5]);
        assert_eq!(entry.created_at, "2026-01-01T12:00:00+00:00");
    }

    #[test]
    fn same_path_and_time_get_new_ids() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("Summaries")).unwrap();
        let csv = dir.path().join("Summaries/h.csv");
        let first = register(dir.path(), &csv, "h.csv", &[], "t", "s").unwrap();
        let second = register(dir.path(), &csv, "h.csv", &[], "t", "s").unwrap();
        assert_ne!(first, second);
        assert_eq!(load(dir.path()).unwrap().unwrap().len(), 2);
    }

    #[test]
    fn invalid_index_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("Summaries")).unwrap();
        fs::write(index_path(dir.path()), "{ not json").unwrap();
        let csv = dir.path().join("Summaries/h.csv");
        register(dir.path(), &csv, "h.csv", &[], "t", "20260101_120000").unwrap();
        let aside = dir
            .path()
            .join("Summaries/csv_index.json.bad-20260101_120000");
        assert_eq!(fs::read_to_string(aside).unwrap(), "{ not json");
        assert_eq!(load(dir.path()).unwrap().unwrap().len(), 1);

        fs::write(index_path(dir.path()), "[]").unwrap();
        register(dir.path(), &csv, "h.csv", &[], "t", "20260101_120000").unwrap();
        let second = dir
            .path()
            .join("Summaries/csv_index.json.bad-20260101_120000_2");
        assert_eq!(fs::read_to_string(second).unwrap(), "[]");
    }

    #[test]
    fn unknown_entries_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("Summaries")).unwrap();
        fs::write(
            index_path(dir.path()),
            r#"{"old": {"note": "from another tool"}}"#,
        )
        .unwrap();
        register(
            dir.path(),
            &dir.path().join("Summaries/h.csv"),
            "h.csv",
            &[],
            "t",
            "s",
        )
        .unwrap();
        let text = fs::read_to_string(index_path(dir.path())).unwrap();
        assert!(text.contains("from another tool"));
        assert_eq!(load(dir.path()).unwrap().unwrap().len(), 1);
    }
}
