//! Single-instance lock: an advisory lock on the PID file, held for the daemon's life.
//!
//! The kernel drops the lock when the process dies, so a PID file left by a
//! crash never blocks a new start.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Error of taking the lock.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error("another heatmapd is running (pid {pid})")]
    Held {
        /// The pid written in the file, or "unknown".
        pid: String,
    },
    /// The file could not be opened or written.
    #[error("cannot use the PID file {path}: {source}")]
    Io {
        /// The PID file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The held lock; dropping it releases the lock and removes nothing else.
#[derive(Debug)]
pub struct PidLock {
    file: File,
    path: PathBuf,
}

impl PidLock {
    /// Takes the lock on `path` without waiting and writes our pid into it.
    pub fn acquire(path: &Path) -> Result<PidLock, LockError> {
        let io = |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent() {
            create_private_dir(parent).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let pid = text.trim();
                let pid = if pid.is_empty() {
                    "unknown".to_string()
                } else {
                    pid.to_string()
                };
                return Err(LockError::Held { pid });
            }
            Err(std::fs::TryLockError::Error(source)) => return Err(io(source)),
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        file.sync_data().map_err(io)?;
        Ok(PidLock {
            file,
            path: path.to_path_buf(),
        })
    }

    /// The PID file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PidLock {
    fn drop(&mut self) {
        // An empty file tells readers that no daemon runs. The lock itself is released with the handle.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// Creates a folder (and its parents) readable only by the owner.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        let meta = std::fs::metadata(dir)?;
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_reports_holder_pid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/heatmapd.pid");
        let first = PidLock::acquire(&path).unwrap();
        let err = PidLock::acquire(&path).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("another heatmapd is running (pid {})", std::process::id())
        );
        drop(first);
        PidLock::acquire(&path).unwrap();
    }

    #[test]
    fn stale_file_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("heatmapd.pid");
        std::fs::write(&path, "999999\n").unwrap();
        let lock = PidLock::acquire(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(lock.path()).unwrap().trim(),
            std::process::id().to_string()
        );
    }

    #[cfg(unix)]
    #[test]
    fn runtime_dir_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("a/b");
        create_private_dir(&run).unwrap();
        assert_eq!(
            std::fs::metadata(&run).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }
}
