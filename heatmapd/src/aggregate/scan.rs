//! Listing the grade files under `output/` and reading them in parallel.
//!
//! Every `*.json` file counts except `session.json`, the temporary files of
//! [`layout::write_atomic`] and anything below the summary folders at the top
//! of `output/`. Symbolic links are never followed: a link to a file inside
//! `output/` would count that file twice, and one to a file outside is not
//! part of the tree.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use super::AggregateError;
use super::record::{self, FileOutcome, Interner, InvalidFile};
use crate::layout;

/// A folder to scan: its path and its path relative to `output/` (empty for `output/` itself).
#[derive(Debug, Clone)]
pub(crate) struct ScanRoot {
    pub(crate) path: PathBuf,
    pub(crate) rel: String,
    /// Real model name from a `session.json` above the folder, if any.
    pub(crate) session_model: Option<Arc<str>>,
}

/// A grade file found by [`list`].
#[derive(Debug)]
pub(crate) struct ListedFile {
    pub(crate) path: PathBuf,
    pub(crate) rel: String,
    pub(crate) session_model: Option<Arc<str>>,
}

/// The grade files below some folders, and the folders that could not be listed.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub(crate) files: Vec<ListedFile>,
    pub(crate) errors: Vec<InvalidFile>,
}

/// Files read per claim by a worker thread: large enough to keep the shared
/// counter cold, small enough to balance the load.
const CHUNK: usize = 64;

/// Initial size of each worker's read buffer; it grows for larger files.
const BUFFER_SIZE: usize = 64 * 1024;

/// Tells whether a file name is a grade candidate.
pub(crate) fn is_grade_name(name: &str) -> bool {
    let is_json = name.len() > 5 && name[name.len() - 5..].eq_ignore_ascii_case(".json");
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
/// A root that cannot be listed is an error; a folder below it that cannot
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
                    listing.errors.push(InvalidFile {
                        file: rel,
                        error: format!("cannot list folder: {err}"),
                    });
                    continue;
                }
            };
            is_root = false;
            let session_model = if entries
                .iter()
                .any(|(name, kind)| name == "session.json" && kind.is_file())
            {
                read_session_model(&dir.join("session.json")).or(inherited)
            } else {
                inherited
            };
            for (name, kind) in entries {
                if kind.is_dir() {
                    if rel.is_empty() && layout::SUMMARY_DIRS.contains(&name.as_str()) {
                        continue;
                    }
                    stack.push((
                        dir.join(&name),
                        join_rel(&rel, &name),
                        session_model.clone(),
                    ));
                } else if kind.is_file() && is_grade_name(&name) {
                    listing.files.push(ListedFile {
                        path: dir.join(&name),
                        rel: join_rel(&rel, &name),
                        session_model: session_model.clone(),
                    });
                }
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

/// Reads and parses every listed file on all cores; outcomes keep the order of `files`.
pub(crate) fn read_all(files: &[ListedFile]) -> Vec<FileOutcome> {
    parallel_map(files, Reader::new, |reader, file| reader.read(file))
}

/// Applies `work` to every item on all cores, giving each thread its own
/// state from `init`; results keep the order of `items`.
pub(crate) fn parallel_map<T, R, S>(
    items: &[T],
    init: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, &T) -> R + Sync,
) -> Vec<R>
where
    T: Sync,
    R: Send,
{
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = cores.min(items.len().div_ceil(CHUNK));
    if workers <= 1 {
        let mut state = init();
        return items.iter().map(|item| work(&mut state, item)).collect();
    }
    let next = AtomicUsize::new(0);
    let claim = || {
        let mut state = init();
        let mut results = Vec::new();
        loop {
            let start = next.fetch_add(CHUNK, Ordering::Relaxed);
            if start >= items.len() {
                return results;
            }
            let end = (start + CHUNK).min(items.len());
            for (index, item) in items[start..end].iter().enumerate() {
                results.push((start + index, work(&mut state, item)));
            }
        }
    };
    let parts: Vec<Vec<(usize, R)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers).map(|_| scope.spawn(claim)).collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("scan worker thread panicked"))
            .collect()
    });
    let mut slots: Vec<Option<R>> = Vec::with_capacity(items.len());
    slots.resize_with(items.len(), || None);
    for (index, result) in parts.into_iter().flatten() {
        slots[index] = Some(result);
    }
    slots
        .into_iter()
        .map(|slot| slot.expect("every item was claimed once"))
        .collect()
}

/// Size, times and inode of a file: when they are unchanged, so is the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    inode: u64,
    #[cfg(unix)]
    changed: (i64, i64),
}

impl FileStamp {
    pub(crate) fn of(meta: &fs::Metadata) -> FileStamp {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        FileStamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            #[cfg(unix)]
            inode: meta.ino(),
            #[cfg(unix)]
            changed: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// One thread's reusable read buffer and name interner.
#[derive(Debug)]
pub(crate) struct Reader {
    buffer: Vec<u8>,
    interner: Interner,
}

impl Reader {
    pub(crate) fn new() -> Reader {
        Reader {
            buffer: vec![0u8; BUFFER_SIZE],
            interner: Interner::default(),
        }
    }

    /// Reads and parses one listed file.
    pub(crate) fn read(&mut self, file: &ListedFile) -> FileOutcome {
        let result =
            File::open(&file.path).and_then(|mut handle| read_into(&mut handle, &mut self.buffer));
        self.parse(file, result)
    }

    /// Reads and parses one listed file, with the stamp of the file read.
    pub(crate) fn read_stamped(&mut self, file: &ListedFile) -> (FileOutcome, Option<FileStamp>) {
        let mut stamp = None;
        let result = File::open(&file.path).and_then(|mut handle| {
            stamp = Some(FileStamp::of(&handle.metadata()?));
            read_into(&mut handle, &mut self.buffer)
        });
        (self.parse(file, result), stamp)
    }

    fn parse(&mut self, file: &ListedFile, read: io::Result<usize>) -> FileOutcome {
        match read {
            Ok(len) => record::parse_grade(
                &self.buffer[..len],
                &file.rel,
                file.session_model.as_ref(),
                &mut self.interner,
            ),
            Err(err) => FileOutcome::Invalid(InvalidFile {
                file: file.rel.clone(),
                error: format!("cannot read: {err}"),
            }),
        }
    }
}

/// Reads a whole file into `buffer`, growing it when needed, and returns the length.
///
/// Unlike `fs::read` this asks the kernel for no metadata, which saves a
/// system call per file on trees of many small grades.
fn read_into(file: &mut File, buffer: &mut Vec<u8>) -> io::Result<usize> {
    let mut filled = 0;
    loop {
        if filled == buffer.len() {
            buffer.resize(buffer.len().max(1024) * 2, 0);
        }
        match file.read(&mut buffer[filled..]) {
            Ok(0) => return Ok(filled),
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
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
    }

    #[test]
    fn summary_dirs_only_at_top() {
        assert!(in_summary_dir("Summaries/heatmap_live.csv"));
        assert!(in_summary_dir("graphs"));
        assert!(!in_summary_dir("m/Summaries/a.json"));
    }

    #[test]
    fn read_into_grows_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.json");
        let text = vec![b'x'; 5000];
        fs::write(&path, &text).unwrap();
        let mut buffer = vec![0u8; 16];
        let mut file = File::open(&path).unwrap();
        assert_eq!(read_into(&mut file, &mut buffer).unwrap(), 5000);
        assert_eq!(&buffer[..5000], &text[..]);
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
