//! `heatmapctl stats`: storage and file counts under `output/`, grades by
//! outcome, and per-model timing from the queue.
//!
//! The walk never follows symbolic links, so a link to a large folder
//! elsewhere adds nothing; the link itself counts as an "other" file.

use std::fs;
use std::path::Path;

use heatmap_proto::StatsReport;
use serde_json::Value;

use crate::aggregate::accuracy::{Accuracy, accuracy};
use crate::store::{Store, StoreError};

/// Suffix of grade files.
const GRADE_SUFFIX: &str = "_eval.json";

/// Suffix of the reasoning text saved beside an answer; not an answer itself.
const THINKING_SUFFIX: &str = ".thinking.txt";

/// Counts under `output/`, before the queue's figures are added.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FileCounts {
    /// Bytes of regular files.
    pub bytes: u64,
    /// Answer files (`.txt`, not `.thinking.txt`).
    pub answers: u64,
    /// Grade files (`*_eval.json`).
    pub grades: u64,
    /// Every other file and symbolic link.
    pub other: u64,
    /// Grades with an accuracy.
    pub scored: u64,
    /// Grades that parse but have no usable accuracy.
    pub unscored: u64,
    /// Grades that are not JSON, cannot be read, or hold an impossible accuracy.
    pub invalid: u64,
}

/// Walks `output/`, or returns zero counts when it does not exist.
///
/// A folder or file that cannot be read is logged and counted as far as
/// possible, so one bad entry does not hide the rest.
pub fn count_files(output: &Path) -> FileCounts {
    let mut counts = FileCounts::default();
    let mut stack = vec![output.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && dir == output => {
                return counts;
            }
            Err(err) => {
                tracing::warn!(path = %dir.display(), error = %err, "stats: cannot list folder");
                continue;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let meta = match fs::symlink_metadata(&path) {
                Ok(meta) => meta,
                Err(err) => {
                    tracing::warn!(path = %path.display(), error = %err, "stats: cannot read metadata");
                    continue;
                }
            };
            if meta.is_dir() {
                stack.push(path);
                continue;
            }
            if !meta.is_file() {
                counts.other += 1;
                continue;
            }
            counts.bytes += meta.len();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(GRADE_SUFFIX) {
                counts.grades += 1;
                match grade_outcome(&path) {
                    Accuracy::Scored(_) => counts.scored += 1,
                    Accuracy::Unscored => counts.unscored += 1,
                    Accuracy::Invalid(_) => counts.invalid += 1,
                }
            } else if name.ends_with(".txt") && !name.ends_with(THINKING_SUFFIX) {
                counts.answers += 1;
            } else {
                counts.other += 1;
            }
        }
    }
    counts
}

/// Reads one grade and classifies it with the aggregator's accuracy rules.
fn grade_outcome(path: &Path) -> Accuracy {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) => return Accuracy::Invalid(format!("cannot read: {err}")),
    };
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(value) => accuracy(&value),
        Err(err) => Accuracy::Invalid(format!("invalid JSON: {err}")),
    }
}

/// Builds the whole report: the walk of `output/` and the queue's timings.
pub fn report(output: &Path, store: &Store) -> Result<StatsReport, StoreError> {
    let counts = count_files(output);
    let per_model = store.model_stats()?;
    Ok(StatsReport {
        output_bytes: counts.bytes,
        answer_files: counts.answers,
        grade_files: counts.grades,
        other_files: counts.other,
        scored: counts.scored,
        unscored: counts.unscored,
        invalid: counts.invalid,
        per_model,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_kind_and_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let session = dir.path().join("m/20260101_120000");
        fs::create_dir_all(&session).unwrap();
        fs::write(session.join("m.t00,num1.txt"), "Paris").unwrap();
        fs::write(session.join("m.t00,num2.txt"), "Rome").unwrap();
        fs::write(session.join("m.t00,num2.thinking.txt"), "hmm").unwrap();
        fs::write(session.join("m.t00,num1_eval.json"), r#"{"accuracy": 1}"#).unwrap();
        fs::write(
            session.join("m.t00,num2_eval.json"),
            r#"{"verdict": "not factual"}"#,
        )
        .unwrap();
        fs::write(
            session.join("m.t00,num3_eval.json"),
            r#"{"note": "no verdict"}"#,
        )
        .unwrap();
        fs::write(session.join("m.t00,num4_eval.json"), "{ broken").unwrap();
        fs::write(session.join("m.t00,num5_eval.json"), r#"{"accuracy": -3}"#).unwrap();
        fs::write(session.join("session.json"), r#"{"model": "m"}"#).unwrap();
        fs::create_dir_all(dir.path().join("Summaries")).unwrap();
        fs::write(dir.path().join("Summaries/heatmap_live.csv"), "Model\n").unwrap();

        let counts = count_files(dir.path());
        let expected_bytes: u64 = [5, 4, 3, 15, 26, 22, 8, 16, 14, 6].iter().sum();
        assert_eq!(
            counts,
            FileCounts {
                bytes: expected_bytes,
                answers: 2,
                grades: 5,
                other: 3,
                scored: 2,
                unscored: 1,
                invalid: 2,
            }
        );
    }

    #[test]
    fn missing_output_counts_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            count_files(&dir.path().join("output")),
            FileCounts::default()
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("big.txt"), "x".repeat(1000)).unwrap();
        fs::create_dir(dir.path().join("m")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("m/link")).unwrap();
        let counts = count_files(dir.path());
        assert_eq!(counts.bytes, 0);
        assert_eq!(counts.answers, 0);
        assert_eq!(counts.other, 1);
    }
}
