//! The summary files of a snapshot: grade lists and uniquely named CSVs.

use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::AggregateError;
use super::record::{GradeRecord, InvalidFile};
use crate::layout;

/// One line of `super_valid.json`.
#[derive(Serialize)]
struct ValidRow<'a> {
    file: &'a str,
    model: &'a str,
    temperature: f64,
    prompt_id: Option<&'a str>,
    category: Option<&'a str>,
    accuracy: Option<f64>,
}

/// Renders `super_valid.json`: a JSON array with one grade object per line.
/// Grades without a usable accuracy have `"accuracy": null`.
pub(crate) fn render_valid(grades: &[GradeRecord]) -> Vec<u8> {
    json_lines(grades.iter().map(|grade| ValidRow {
        file: &grade.file,
        model: &grade.model,
        temperature: grade.temperature,
        prompt_id: grade.prompt_id.as_deref(),
        category: grade.category.as_deref(),
        accuracy: grade.accuracy,
    }))
}

/// Renders `invalid_files.json`: a JSON array of `{"file", "error"}` objects, one per line.
pub(crate) fn render_invalid(invalid: &[InvalidFile]) -> Vec<u8> {
    json_lines(invalid.iter())
}

fn json_lines<T: Serialize>(rows: impl ExactSizeIterator<Item = T>) -> Vec<u8> {
    // About 160 bytes per row, so the buffer rarely grows and copies.
    let mut out = Vec::with_capacity(16 + rows.len() * 160);
    out.push(b'[');
    let mut first = true;
    for row in rows {
        out.extend_from_slice(if first { b"\n" } else { b",\n" });
        first = false;
        serde_json::to_writer(&mut out, &row).expect("a summary row serializes");
    }
    out.extend_from_slice(if first { b"]\n" } else { b"\n]\n" });
    out
}

/// A file name taken for this snapshot. An empty file reserves the name
/// until the content replaces it, and is removed if the snapshot fails first.
pub(crate) struct Reserved {
    pub(crate) path: PathBuf,
    /// The stamp with any `_<n>` suffix added to make the name unique.
    pub(crate) stamp: String,
    filled: bool,
}

impl Reserved {
    /// Takes `<dir>/<prefix><stamp>.csv`, or `<prefix><stamp>_<n>.csv` when
    /// that exists, creating it empty so no concurrent snapshot takes it too.
    pub(crate) fn take(dir: &Path, prefix: &str, stamp: &str) -> Result<Reserved, AggregateError> {
        for n in 1u32.. {
            let stamp = if n == 1 {
                stamp.to_string()
            } else {
                format!("{stamp}_{n}")
            };
            let path = dir.join(format!("{prefix}{stamp}.csv"));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(_) => {
                    return Ok(Reserved {
                        path,
                        stamp,
                        filled: false,
                    });
                }
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
                Err(source) => return Err(AggregateError::Write { path, source }),
            }
        }
        unreachable!("an unused suffix exists")
    }

    /// Writes the content in place of the empty file.
    pub(crate) fn fill(mut self, contents: &[u8]) -> Result<PathBuf, AggregateError> {
        write(&self.path, contents)?;
        self.filled = true;
        Ok(self.path.clone())
    }

    /// Returns the file name.
    pub(crate) fn file_name(&self) -> String {
        self.path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned()
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        if !self.filled {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Writes a summary file atomically.
pub(crate) fn write(path: &Path, contents: &[u8]) -> Result<(), AggregateError> {
    layout::write_atomic(path, contents).map_err(|source| AggregateError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Creates a summary folder.
pub(crate) fn create_dir(path: &Path) -> Result<(), AggregateError> {
    std::fs::create_dir_all(path).map_err(|source| AggregateError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn valid_rows_one_per_line() {
        let grades = vec![
            GradeRecord {
                file: "m/s/a.json".into(),
                model: Arc::from("m:1b"),
                temperature: 0.7,
                prompt_id: Some("3".into()),
                category: None,
                accuracy: Some(1.0),
                measurements: Default::default(),
            },
            GradeRecord {
                file: "m/s/b.json".into(),
                model: Arc::from("m:1b"),
                temperature: 0.0,
                prompt_id: None,
                category: Some(Arc::from("math")),
                accuracy: None,
                measurements: Default::default(),
            },
        ];
        let text = String::from_utf8(render_valid(&grades)).unwrap();
        assert_eq!(
            text,
            "[\n{\"file\":\"m/s/a.json\",\"model\":\"m:1b\",\"temperature\":0.7,\"prompt_id\":\"3\",\"category\":null,\"accuracy\":1.0},\n\
             {\"file\":\"m/s/b.json\",\"model\":\"m:1b\",\"temperature\":0.0,\"prompt_id\":null,\"category\":\"math\",\"accuracy\":null}\n]\n"
        );
        assert_eq!(String::from_utf8(render_invalid(&[])).unwrap(), "[]\n");
    }

    #[test]
    fn reserved_names_are_unique() {
        let dir = tempfile::tempdir().unwrap();
        let first = Reserved::take(dir.path(), "heatmap_", "20260101_120000").unwrap();
        let second = Reserved::take(dir.path(), "heatmap_", "20260101_120000").unwrap();
        assert_eq!(first.file_name(), "heatmap_20260101_120000.csv");
        assert_eq!(second.file_name(), "heatmap_20260101_120000_2.csv");
        assert_eq!(second.stamp, "20260101_120000_2");
        let kept = first.fill(b"Model\n").unwrap();
        drop(second);
        assert!(kept.exists());
        assert!(!dir.path().join("heatmap_20260101_120000_2.csv").exists());
    }
}
