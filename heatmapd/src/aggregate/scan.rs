//! Listing the grade files under `output/` and reading them in parallel.
//!
//! Every `*.json` file counts except `session.json`, the temporary files of
//! [`layout::write_atomic`] and anything below the summary folders at the top
//! of `output/`. Symbolic links are never followed: a link to a file inside
//! `output/` would count that file twice, and one to a file outside is not
//! part of the tree.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::AggregateError;
use super::read::{Reader, parallel_map};
use super::record::{self, FileOutcome, InvalidFile};
use crate::layout;

/// A folder to scan: its path and its path relative to `output/` (empty for `output/` itself).
#[derive(Debug, Clone)]
pub(crate) struct ScanRoot {
    pub(crate) path: PathBuf,
    pub(crate) rel: String,
    /// Real model name from a `session.json` above the folder, if any.
    pub(crate) session_model: Option<Arc<str>>,
}

/// A folder that contains listed grade files.
#[derive(Debug)]
pub(crate) struct ListedDir {
    pub(crate) path: PathBuf,
    /// Real model name from the nearest `session.json` at or above the folder.
    pub(crate) session_model: Option<Arc<str>>,
}

/// A grade file found by [`list`].
#[derive(Debug)]
pub(crate) struct ListedFile {
    /// Index of the file's folder in [`Listing::dirs`].
    pub(crate) dir: usize,
    /// Path relative to `output/`, with `/` separators.
    pub(crate) rel: String,
}

impl ListedFile {
    /// Returns the file name, the last part of the relative path.
    pub(crate) fn name(&self) -> &str {
        self.rel.rsplit('/').next().unwrap_or(&self.rel)
    }
}

/// The grade files below some folders, and the folders that could not be listed.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub(crate) dirs: Vec<ListedDir>,
    /// Files sorted by relative path.
    pub(crate) files: Vec<ListedFile>,
    pub(crate) errors: Vec<InvalidFile>,
}

/// Tells whether a file name is a grade candidate.
pub(crate) fn is_grade_name(name: &str) -> bool {
    let is_json = name.len() > 5
        && name.is_char_boundary(name.len() - 5)
        && name[name.len() - 5..].eq_ignore_ascii_case(".json");
    is_json && name != "session.json" && !layout::is_temp_file(name)
}

/// Tells whether a path relative to `output/` lies in a summary folder.
pub(crate) fn in_summary_dir(rel: &str) -> bool {
    let first = rel.split('/').next().unwrap_or(rel);
    layout::SUMMARY_DIRS.contains(&first)
}

/// Joins a relative folder path and a name with `/`.
pub(crate) fn join_rel(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// Lists the grade files below `roots`, sorted by relative path.
///
/// A root that cannot be listed is an error. A folder below it that cannot
/// be listed is recorded in [`Listing::errors`] and skipped.
pub(crate) fn list(roots: &[ScanRoot]) -> Result<Listing, AggregateError> {
    let mut listing = Listing::default();
    for root in roots {
        let mut stack = vec![(
            root.path.clone(),
            root.rel.clone(),
            root.session_model.clone(),
        )];
        let mut is_root = true;
        while let Some((dir, rel, inherited)) = stack.pop() {
            let entries = match read_dir_entries(&dir) {
                Ok(entries) => entries,
                Err(source) if is_root => return Err(AggregateError::List { path: dir, source }),
                Err(err) => {
                    tracing::warn!(path = %dir.display(), error = %err, "cannot list folder");
                    let error = format!("cannot list folder: {err}");
                    listing.errors.push(InvalidFile { file: rel, error });
                    continue;
                }
            };
            is_root = false;

            let has_session_file = entries
                .iter()
                .any(|(name, kind)| name == "session.json" && kind.is_file());
            let session_model = if has_session_file {
                read_session_model(&dir.join("session.json")).or(inherited)
            } else {
                inherited
            };
            let dir_index = listing.dirs.len();
            let mut has_grades = false;
            for (name, kind) in entries {
                if kind.is_dir() {
                    if !(rel.is_empty() && layout::SUMMARY_DIRS.contains(&name.as_str())) {
                        stack.push((
                            dir.join(&name),
                            join_rel(&rel, &name),
                            session_model.clone(),
                        ));
                    }
                } else if kind.is_file() && is_grade_name(&name) {
                    has_grades = true;
                    listing.files.push(ListedFile {
                        dir: dir_index,
                        rel: join_rel(&rel, &name),
                    });
                }
            }
            if has_grades {
                listing.dirs.push(ListedDir {
                    path: dir,
                    session_model,
                });
            }
        }
    }
    listing.files.sort_unstable_by(|a, b| a.rel.cmp(&b.rel));
    listing.files.dedup_by(|a, b| a.rel == b.rel);
    Ok(listing)
}

/// Lists a folder's entries with their types, without following symbolic links.
fn read_dir_entries(dir: &Path) -> io::Result<Vec<(String, fs::FileType)>> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            continue;
        }
        match entry.file_name().into_string() {
            Ok(name) => entries.push((name, kind)),
            Err(name) => {
                tracing::warn!(path = %dir.join(&name).display(), "skipping a file name that is not UTF-8");
            }
        }
    }
    Ok(entries)
}

/// Reads the real model name of a session, logging why when it cannot.
pub(crate) fn read_session_model(path: &Path) -> Option<Arc<str>> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) => {
            tracing::warn!(path = %path.display(), error = %err, "cannot read session file");
            return None;
        }
    };
    match record::session_model(&bytes) {
        Ok(model) => model.map(Arc::from),
        Err(err) => {
            tracing::warn!(path = %path.display(), error = %err, "invalid session file");
            None
        }
    }
}

/// Reads and parses every listed file on all cores; outcomes keep the order of the files.
pub(crate) fn read_all(listing: Listing) -> (Vec<FileOutcome>, Vec<InvalidFile>) {
    let dirs = &listing.dirs;
    let outcomes = parallel_map(listing.files, Reader::new, |reader, file| {
        let dir = &dirs[file.dir];
        reader.read(&dir.path, file.rel, dir.session_model.as_ref())
    });
    (outcomes, listing.errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grade_names() {
        assert!(is_grade_name("m.t07,num1_eval.json"));
        assert!(is_grade_name("REPORT.JSON"));
        assert!(!is_grade_name("session.json"));
        assert!(!is_grade_name(".tmp-abc.part"));
        assert!(!is_grade_name("m.t07,num1.thinking.txt"));
        assert!(!is_grade_name(".json"));
        assert!(!is_grade_name("ü.jso"));
    }

    #[test]
    fn summary_dirs_only_at_top() {
        assert!(in_summary_dir("Summaries/heatmap_live.csv"));
        assert!(in_summary_dir("graphs"));
        assert!(!in_summary_dir("m/Summaries/a.json"));
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(
            outside.path().join("x.t07,num1_eval.json"),
            r#"{"accuracy": 1}"#,
        )
        .unwrap();
        let session = dir.path().join("m/s");
        fs::create_dir_all(&session).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("m/link")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("x.t07,num1_eval.json"),
            session.join("y.t07,num1_eval.json"),
        )
        .unwrap();
        fs::write(session.join("m.t07,num2_eval.json"), r#"{"accuracy": 1}"#).unwrap();
        let root = ScanRoot {
            path: dir.path().to_path_buf(),
            rel: String::new(),
            session_model: None,
        };
        let listing = list(&[root]).unwrap();
        let rels: Vec<&str> = listing.files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(rels, ["m/s/m.t07,num2_eval.json"]);
    }
}
