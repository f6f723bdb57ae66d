//! The SQLite job queue at `<root>/.heatmapd/queue.db` (WAL mode).
//!
//! One row per job and one row per work item (model x temperature x prompt x
//! repeat). Finishing an item updates its own row by primary key, so the cost
//! per item does not grow with the job. Rows are the record of every item:
//! users can query them with the sqlite3 shell.

mod answers;
mod items;
mod jobs;
mod schema;
mod stats;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Connection;

pub use answers::AnswerSource;
pub use items::{ItemOutcome, ItemRow, ItemState, NewItem};
pub use jobs::{JobRow, SessionInfo};

/// Errors of the queue database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("queue database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// The cause.
        source: rusqlite::Error,
    },
    /// A stored value could not be decoded.
    #[error("queue database {path}: job {job} has an unreadable {field}: {message}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// The job.
        job: i64,
        /// The column.
        field: &'static str,
        /// What failed.
        message: String,
    },
    /// The database file could not be prepared.
    #[error("cannot prepare the queue database {path}: {source}")]
    Io {
        /// The database file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// A shared handle to the queue database.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    path: Arc<PathBuf>,
}

impl Store {
    /// Opens (or creates) the database and brings its schema up to date.
    ///
    /// A file that is not a readable SQLite database is moved aside to
    /// `queue.db.corrupt-<unix time>` with a warning, never deleted.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        }
        match Store::open_inner(path) {
            Ok(store) => Ok(store),
            Err(StoreError::Sqlite { source, .. }) if is_not_a_database(&source) => {
                let stamp = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                let aside = path.with_file_name(format!("queue.db.corrupt-{stamp}"));
                tracing::warn!(path = %path.display(), moved_to = %aside.display(), error = %source,
                    "queue database is unreadable; moved it aside and starting an empty queue");
                std::fs::rename(path, &aside).map_err(|source| StoreError::Io {
                    path: path.to_path_buf(),
                    source,
                })?;
                for suffix in ["-wal", "-shm"] {
                    let side = PathBuf::from(format!("{}{suffix}", path.display()));
                    if side.exists() {
                        let _ = std::fs::rename(
                            &side,
                            PathBuf::from(format!("{}{suffix}", aside.display())),
                        );
                    }
                }
                Store::open_inner(path)
            }
            Err(e) => Err(e),
        }
    }

    fn open_inner(path: &Path) -> Result<Store, StoreError> {
        let sqlite = |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(sqlite)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sqlite)?;
        // WAL with synchronous=NORMAL survives a killed process without losing commits,
        // and does not fsync on every item.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sqlite)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sqlite)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(sqlite)?;
        schema::migrate(&conn).map_err(sqlite)?;
        // A file with a valid header can still have damaged pages, which only show
        // when they are read; quick_check reads every page once, at start.
        let check: String = conn
            .query_row("PRAGMA quick_check(1)", [], |row| row.get(0))
            .map_err(sqlite)?;
        if check != "ok" {
            return Err(sqlite(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
                Some(format!("integrity check failed: {check}")),
            )));
        }
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            path: Arc::new(path.to_path_buf()),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (every write is one statement
        // or one transaction), so a poisoned lock is safe to reuse.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn sqlite(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.to_path_buf(),
            source,
        }
    }

    /// Puts every item left `running` by a previous daemon back to `pending`,
    /// and returns how many there were.
    pub fn recover_running(&self) -> Result<usize, StoreError> {
        let conn = self.lock();
        conn.execute(
            "UPDATE items SET state = 'pending' WHERE state = 'running'",
            [],
        )
        .map_err(|e| self.sqlite(e))
    }
}

fn is_not_a_database(err: &rusqlite::Error) -> bool {
    matches!(
        err,
        rusqlite::Error::SqliteFailure(e, _)
            if matches!(e.code, rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
    )
}

/// Returns the current time as RFC 3339 in UTC.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
