//! Scanning grade files and writing heatmap summaries.
//!
//! [`snapshot`] reads every grade below `output/` (or below some session
//! folders), extracts each one's accuracy ([`accuracy`]) and identity, and
//! writes the summaries under `output/Summaries/`: `super_valid.json`,
//! `invalid_files.json`, a `heatmap_<stamp>.csv` registered in
//! `csv_index.json`, its long form `heatmap_<stamp>_long.csv` ([`long`]),
//! and per-category heatmaps under `output/specifics/`. Cells with fewer
//! grades than the `min_samples` setting are left empty.
//! [`live::LiveIndex`] keeps the same table up to date file by file for the watcher.

pub mod accuracy;
mod fields;
pub mod heatmap;
pub mod index;
mod label;
pub mod live;
pub mod long;
mod read;
pub mod record;
mod scan;
mod scope;
mod snapshot;
mod summaries;
pub mod wilson;

use std::io;
use std::path::PathBuf;

pub use scope::Scope;
pub use snapshot::{UNCATEGORIZED, snapshot};

/// Errors of an aggregation. Problems with single grade files are not
/// errors: they are counted and listed in `invalid_files.json`.
#[derive(Debug, thiserror::Error)]
pub enum AggregateError {
    /// The output folder does not exist.
    #[error(
        "output folder not found: {path}; run a job first or pass the workspace root with --root"
    )]
    OutputNotFound {
        /// The missing folder.
        path: PathBuf,
    },
    /// A session named in the scope does not exist.
    #[error("session not found: {session} (looked under {output})")]
    SessionNotFound {
        /// The session as given.
        session: String,
        /// The output folder searched.
        output: PathBuf,
    },
    /// A session in the scope is not a `model_dir/session` or `session` path inside `output/`.
    #[error("invalid session {session:?}: {reason}")]
    InvalidSession {
        /// The session as given.
        session: String,
        /// The problem found.
        reason: String,
    },
    /// A folder to scan could not be listed.
    #[error("cannot list folder {path}: {source}")]
    List {
        /// The folder.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A summary file or folder could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// `settings.json` beside `output/` could not be read or is invalid.
    #[error(transparent)]
    Settings(#[from] crate::config::SettingsError),
    /// `csv_index.json` is not a JSON object of entries.
    #[error("invalid heatmap index {path}: {reason}")]
    InvalidIndex {
        /// The index file.
        path: PathBuf,
        /// The problem found.
        reason: String,
    },
}
