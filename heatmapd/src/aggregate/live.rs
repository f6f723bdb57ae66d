//! An in-memory index of every grade under `output/`, updated file by file,
//! behind the live heatmap `output/Summaries/heatmap_live.csv`.
//!
//! The index records each file's cell, accuracy and stamp (size, times and
//! inode). After one full read at start, updates re-read only files whose
//! stamp or session model changed, so a refresh of a large tree costs a few
//! stats and reads rather than a full scan. Rescans compare stamps and open only the files
//! that changed, which also keeps them from flooding a file watcher with
//! open events.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use heatmap_proto::types::HeatmapTable;

use super::heatmap::TableBuilder;
use super::read::{FileStamp, Reader, parallel_map};
use super::record::FileOutcome;
use super::scan::{self, Listing, ScanRoot};
use super::{AggregateError, summaries};

/// File name of the live heatmap inside `Summaries/`.
pub const LIVE_CSV: &str = "heatmap_live.csv";

/// The index entry of one file.
#[derive(Debug, Clone)]
struct Entry {
    stamp: Option<FileStamp>,
    /// The session model the file was read with; a change means a re-read.
    session_model: Option<Arc<str>>,
    grade: Option<Cell>,
}

/// The cell of a parsed grade and its accuracy, `None` for an unscored grade.
#[derive(Debug, Clone)]
struct Cell {
    model: Arc<str>,
    temperature: f64,
    accuracy: Option<f64>,
}

/// Counts of the files in the index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveCounts {
    /// Grades with a usable accuracy.
    pub graded: u64,
    /// Grades without a usable accuracy.
    pub unscored: u64,
    /// Files that are not usable grades.
    pub invalid: u64,
}

/// Counts of the files an update read and changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpdateStats {
    /// Files read.
    pub read: usize,
    /// Files added, changed or removed.
    pub changed: usize,
}

/// The live index of one `output/` folder.
#[derive(Debug)]
pub struct LiveIndex {
    output: PathBuf,
    entries: BTreeMap<String, Entry>,
    /// Session model per folder (relative path), as resolved from `session.json` files.
    session_models: HashMap<String, Option<Arc<str>>>,
    reader: Reader,
}

impl LiveIndex {
    /// Reads every grade below `output`, as [`super::snapshot`] does.
    pub fn build(output: &Path) -> Result<LiveIndex, AggregateError> {
        if !output.is_dir() {
            return Err(AggregateError::OutputNotFound {
                path: output.to_path_buf(),
            });
        }
        let mut index = LiveIndex {
            output: output.to_path_buf(),
            entries: BTreeMap::new(),
            session_models: HashMap::new(),
            reader: Reader::new(),
        };
        let root = ScanRoot {
            path: output.to_path_buf(),
            rel: String::new(),
            session_model: None,
        };
        let Listing { dirs, files, .. } = scan::list(&[root])?;
        let results = parallel_map(files, Reader::new, |reader, file| {
            let dir = &dirs[file.dir];
            let session_model = dir.session_model.clone();
            (
                reader.read_stamped(&dir.path, file.rel, session_model.as_ref()),
                session_model,
            )
        });
        for ((outcome, stamp), session_model) in results {
            index.insert(outcome, session_model, stamp);
        }
        Ok(index)
    }

    /// Returns the output folder.
    pub fn output(&self) -> &Path {
        &self.output
    }

    /// Compares every file below `output/` with the index and re-reads only
    /// the new and changed ones; files gone from disk are dropped.
    pub fn rescan(&mut self) -> Result<UpdateStats, AggregateError> {
        self.session_models.clear();
        self.refresh_dir("")
    }

    /// Brings the index up to date for paths a file watcher reported.
    ///
    /// A path may be a grade file, a `session.json` (its session is refreshed),
    /// a folder (its subtree is refreshed) or something gone (its entries are
    /// dropped). Paths outside `output/`, in the summary folders or named like
    /// temporary files are ignored.
    pub fn apply<'a>(&mut self, paths: impl IntoIterator<Item = &'a Path>) -> UpdateStats {
        let mut stats = UpdateStats::default();
        for path in paths {
            let Some(rel) = self.relative(path) else {
                continue;
            };
            if rel.is_empty() {
                // The output folder itself changed: compare everything.
                stats = add(
                    stats,
                    self.rescan().unwrap_or_else(|err| self.log_error(&err)),
                );
                continue;
            }
            if scan::in_summary_dir(&rel) {
                continue;
            }
            let name = rel.rsplit('/').next().unwrap_or(&rel).to_string();
            if crate::layout::is_temp_file(&name) {
                continue;
            }
            let update = match fs::symlink_metadata(path) {
                Ok(meta) if meta.is_dir() => self.refresh_changed_dir(&rel),
                Ok(meta) if meta.is_file() && name == "session.json" => {
                    self.refresh_changed_dir(parent_rel(&rel))
                }
                Ok(meta) if meta.is_file() && scan::is_grade_name(&name) => {
                    Ok(self.refresh_file(path, rel, &meta))
                }
                Ok(_) => Ok(self.remove_below(&rel)),
                Err(err) if err.kind() == io::ErrorKind::NotFound => {
                    let mut removed = self.remove_below(&rel);
                    if name == "session.json" {
                        removed = add(
                            removed,
                            self.refresh_changed_dir(parent_rel(&rel))
                                .unwrap_or_default(),
                        );
                    }
                    Ok(removed)
                }
                Err(err) => {
                    tracing::warn!(path = %path.display(), error = %err, "cannot inspect changed path");
                    Ok(UpdateStats::default())
                }
            };
            stats = add(stats, update.unwrap_or_else(|err| self.log_error(&err)));
        }
        stats
    }

    /// Returns the model x temperature table over the scored grades.
    pub fn table(&self) -> HeatmapTable {
        let mut builder = TableBuilder::default();
        for cell in self
            .entries
            .values()
            .filter_map(|entry| entry.grade.as_ref())
        {
            if let Some(accuracy) = cell.accuracy {
                builder.add(&cell.model, cell.temperature, accuracy);
            }
        }
        builder.build()
    }

    /// Counts graded, unscored and invalid files.
    pub fn counts(&self) -> LiveCounts {
        let mut counts = LiveCounts::default();
        for entry in self.entries.values() {
            match &entry.grade {
                Some(Cell {
                    accuracy: Some(_), ..
                }) => counts.graded += 1,
                Some(Cell { accuracy: None, .. }) => counts.unscored += 1,
                None => counts.invalid += 1,
            }
        }
        counts
    }

    /// Returns the path of the live heatmap CSV.
    pub fn csv_path(&self) -> PathBuf {
        self.output.join("Summaries").join(LIVE_CSV)
    }

    /// Writes heatmap CSV text (see [`super::heatmap::render_csv`]) as the live heatmap,
    /// replacing it atomically. The file is not registered in `csv_index.json`.
    pub fn write_csv(&self, csv: &str) -> Result<PathBuf, AggregateError> {
        summaries::create_dir(&self.output.join("Summaries"))?;
        let path = self.csv_path();
        summaries::write(&path, csv.as_bytes())?;
        Ok(path)
    }

    fn log_error(&self, err: &AggregateError) -> UpdateStats {
        tracing::warn!(output = %self.output.display(), error = %err, "live index update failed");
        UpdateStats::default()
    }

    /// Returns a path relative to `output/` with `/` separators, or `None` outside it.
    fn relative(&self, path: &Path) -> Option<String> {
        let rest = path.strip_prefix(&self.output).ok()?;
        let mut parts = Vec::new();
        for component in rest.components() {
            match component {
                Component::Normal(part) => parts.push(part.to_str()?),
                _ => return None,
            }
        }
        Some(parts.join("/"))
    }

    fn insert(
        &mut self,
        outcome: FileOutcome,
        session_model: Option<Arc<str>>,
        stamp: Option<FileStamp>,
    ) {
        let (rel, grade) = match outcome {
            FileOutcome::Grade(grade) => {
                let cell = Cell {
                    model: grade.model,
                    temperature: grade.temperature,
                    accuracy: grade.accuracy,
                };
                (grade.file, Some(cell))
            }
            FileOutcome::Invalid(invalid) => {
                tracing::debug!(file = %invalid.file, error = %invalid.error, "invalid grade file");
                (invalid.file, None)
            }
        };
        self.session_models
            .insert(parent_rel(&rel).to_string(), session_model.clone());
        self.entries.insert(
            rel,
            Entry {
                stamp,
                session_model,
                grade,
            },
        );
    }

    /// Re-reads one grade file unless its stamp and session model are unchanged.
    fn refresh_file(&mut self, path: &Path, rel: String, meta: &fs::Metadata) -> UpdateStats {
        let session_model = self.session_model(parent_rel(&rel));
        if let Some(entry) = self.entries.get(&rel)
            && entry.stamp == Some(FileStamp::of(meta))
            && entry.session_model == session_model
        {
            return UpdateStats::default();
        }
        let dir = path.parent().unwrap_or(&self.output);
        let (outcome, stamp) = self.reader.read_stamped(dir, rel, session_model.as_ref());
        self.reader.forget_dir();
        self.insert(outcome, session_model, stamp);
        UpdateStats {
            read: 1,
            changed: 1,
        }
    }

    /// Forgets cached session models at and below a folder, then refreshes it.
    fn refresh_changed_dir(&mut self, rel: &str) -> Result<UpdateStats, AggregateError> {
        self.session_models
            .retain(|dir, _| !is_at_or_below(dir, rel));
        self.refresh_dir(rel)
    }

    /// Lists a folder and brings its entries up to date by comparing stamps.
    fn refresh_dir(&mut self, rel: &str) -> Result<UpdateStats, AggregateError> {
        let path = if rel.is_empty() {
            self.output.clone()
        } else {
            self.output.join(rel)
        };
        let inherited = if rel.is_empty() {
            None
        } else {
            self.session_model(parent_rel(rel))
        };
        let root = ScanRoot {
            path,
            rel: rel.to_string(),
            session_model: inherited,
        };
        let Listing { dirs, files, .. } = scan::list(&[root])?;
        let mut stats = UpdateStats::default();

        let listed: HashSet<&str> = files.iter().map(|file| file.rel.as_str()).collect();
        let mut gone = self.keys_at_or_below(rel);
        gone.retain(|key| !listed.contains(key.as_str()));
        stats.changed += gone.len();
        for key in gone {
            self.entries.remove(&key);
        }

        // Compare stamps first: a stat opens nothing, so it costs less than a
        // read and raises no open events in a watcher.
        let stamps = parallel_map(
            files.iter().collect(),
            || (),
            |_, file| {
                let path = dirs[file.dir].path.join(file.name());
                fs::symlink_metadata(path)
                    .ok()
                    .map(|meta| FileStamp::of(&meta))
            },
        );
        let stale: Vec<_> = files
            .into_iter()
            .zip(stamps)
            .filter(|(file, stamp)| match self.entries.get(&file.rel) {
                Some(entry) => {
                    stamp.is_none()
                        || entry.stamp != *stamp
                        || entry.session_model != dirs[file.dir].session_model
                }
                None => true,
            })
            .map(|(file, _)| file)
            .collect();
        stats.read += stale.len();
        stats.changed += stale.len();
        let results = parallel_map(stale, Reader::new, |reader, file| {
            let dir = &dirs[file.dir];
            let session_model = dir.session_model.clone();
            (
                reader.read_stamped(&dir.path, file.rel, session_model.as_ref()),
                session_model,
            )
        });
        for ((outcome, stamp), session_model) in results {
            self.insert(outcome, session_model, stamp);
        }
        Ok(stats)
    }

    /// Drops the entry at `rel` and every entry below it.
    fn remove_below(&mut self, rel: &str) -> UpdateStats {
        let keys = self.keys_at_or_below(rel);
        for key in &keys {
            self.entries.remove(key);
        }
        self.session_models
            .retain(|dir, _| !is_at_or_below(dir, rel));
        UpdateStats {
            read: 0,
            changed: keys.len(),
        }
    }

    /// Returns the keys of the entry at `rel` and of every entry below it.
    fn keys_at_or_below(&self, rel: &str) -> Vec<String> {
        if rel.is_empty() {
            return self.entries.keys().cloned().collect();
        }
        // Keys below `rel/` sort between `rel/` and `rel0`, as '0' follows '/'.
        let below = self
            .entries
            .range(format!("{rel}/")..format!("{rel}0"))
            .map(|(key, _)| key.clone());
        self.entries
            .get_key_value(rel)
            .map(|(key, _)| key.clone())
            .into_iter()
            .chain(below)
            .collect()
    }

    /// Resolves the session model of a folder: the `model` of the nearest
    /// `session.json` at or above it, below `output/`.
    fn session_model(&mut self, rel: &str) -> Option<Arc<str>> {
        if let Some(model) = self.session_models.get(rel) {
            return model.clone();
        }
        let inherited = if rel.is_empty() {
            None
        } else {
            self.session_model(parent_rel(rel))
        };
        let session_file = self.output.join(rel).join("session.json");
        let own = if session_file.is_file() {
            scan::read_session_model(&session_file)
        } else {
            None
        };
        let model = own.or(inherited);
        self.session_models.insert(rel.to_string(), model.clone());
        model
    }
}

fn add(a: UpdateStats, b: UpdateStats) -> UpdateStats {
    UpdateStats {
        read: a.read + b.read,
        changed: a.changed + b.changed,
    }
}

/// Returns the folder part of a relative path (`""` at the top).
fn parent_rel(rel: &str) -> &str {
    rel.rfind('/').map_or("", |at| &rel[..at])
}

/// Tells whether relative path `path` is `dir` or below it; everything is below `""`.
fn is_at_or_below(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || path == dir
        || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
}

#[cfg(test)]
mod tests;
