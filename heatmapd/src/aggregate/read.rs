//! Reading grade files fast: per-thread buffers, few system calls per file,
//! and work spread over all cores.
//!
//! On a tree of 100,000 small grades most of the time goes into opening
//! files. So a [`Reader`] opens each file relative to its folder's
//! descriptor, which costs the kernel one path step instead of a whole path.
//! It also stops after a single `read` when the bytes already parse as
//! complete JSON.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;
#[cfg(unix)]
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::fields::GradeFields;
use super::record::{self, FileOutcome, Interner, InvalidFile};

/// Items handed to a worker thread at a time: enough to make the shared
/// queue's lock rare, few enough to balance the load.
const CHUNK: usize = 64;

/// Initial size of each reader's buffer; it grows for larger files.
const BUFFER_SIZE: usize = 64 * 1024;

/// Applies `work` to every item on all cores, giving each thread its own
/// state from `init`. Results keep the order of `items`.
pub(crate) fn parallel_map<T, R, S>(
    items: Vec<T>,
    init: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, T) -> R + Sync,
) -> Vec<R>
where
    T: Send,
    R: Send,
{
    let total = items.len();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = cores.min(total.div_ceil(CHUNK));
    if workers <= 1 {
        let mut state = init();
        return items
            .into_iter()
            .map(|item| work(&mut state, item))
            .collect();
    }

    let queue = Mutex::new((0usize, items.into_iter()));
    let drain = || {
        let mut state = init();
        let mut results = Vec::new();
        loop {
            let (start, chunk): (usize, Vec<T>) = {
                let mut queue = queue
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                let start = queue.0;
                let chunk: Vec<T> = queue.1.by_ref().take(CHUNK).collect();
                queue.0 += chunk.len();
                (start, chunk)
            };
            if chunk.is_empty() {
                return results;
            }
            for (offset, item) in chunk.into_iter().enumerate() {
                results.push((start + offset, work(&mut state, item)));
            }
        }
    };
    let parts: Vec<Vec<(usize, R)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers).map(|_| scope.spawn(drain)).collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("a scan worker thread panicked"))
            .collect()
    });

    let mut slots: Vec<Option<R>> = Vec::with_capacity(total);
    slots.resize_with(total, || None);
    for (index, result) in parts.into_iter().flatten() {
        slots[index] = Some(result);
    }
    slots
        .into_iter()
        .map(|slot| slot.expect("every item was handed out once"))
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
    /// Takes the stamp from a file's metadata.
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

/// One thread's read buffer, name interner and open folder.
#[derive(Debug)]
pub(crate) struct Reader {
    buffer: Vec<u8>,
    interner: Interner,
    /// The folder of the previous file, kept open for `openat`.
    #[cfg(unix)]
    dir: Option<(PathBuf, File)>,
    /// Whether to open with `O_NOATIME`, which spares an inode write on the
    /// first read of a fresh file. Only the file's owner may use it, so it is
    /// dropped after the kernel rejects it once.
    #[cfg(unix)]
    noatime: bool,
}

impl Reader {
    pub(crate) fn new() -> Reader {
        Reader {
            buffer: vec![0u8; BUFFER_SIZE],
            interner: Interner::default(),
            #[cfg(unix)]
            dir: None,
            #[cfg(unix)]
            noatime: true,
        }
    }

    /// Closes the folder kept open from the last read. A long-lived reader
    /// calls this after each batch, because a folder deleted or renamed in
    /// the meantime would otherwise still be read through the old descriptor.
    pub(crate) fn forget_dir(&mut self) {
        #[cfg(unix)]
        {
            self.dir = None;
        }
    }

    /// Reads and parses the grade file `rel` (relative to `output/`) in folder `dir`.
    pub(crate) fn read(
        &mut self,
        dir: &Path,
        rel: String,
        session_model: Option<&Arc<str>>,
    ) -> FileOutcome {
        self.read_inner(dir, rel, session_model, false).0
    }

    /// Reads and parses a grade file like [`Reader::read`], and returns the
    /// stamp of the file read, for the live index.
    pub(crate) fn read_stamped(
        &mut self,
        dir: &Path,
        rel: String,
        session_model: Option<&Arc<str>>,
    ) -> (FileOutcome, Option<FileStamp>) {
        self.read_inner(dir, rel, session_model, true)
    }

    fn read_inner(
        &mut self,
        dir: &Path,
        rel: String,
        session_model: Option<&Arc<str>>,
        stamped: bool,
    ) -> (FileOutcome, Option<FileStamp>) {
        let name = rel.rsplit('/').next().unwrap_or(&rel);
        let mut stamp = None;
        let parsed = self.open(dir, name).and_then(|mut file| {
            if stamped {
                stamp = Some(FileStamp::of(&file.metadata()?));
            }
            self.read_json(&mut file)
        });
        let outcome = match parsed {
            Ok(fields) => record::grade_from_fields(fields, rel, session_model, &mut self.interner),
            Err(err) => FileOutcome::Invalid(InvalidFile {
                file: rel,
                error: format!("cannot read: {err}"),
            }),
        };
        (outcome, stamp)
    }

    /// Reads a file's bytes and parses them.
    ///
    /// A local file returns all its bytes to one `read` into a large enough
    /// buffer, so when the first read leaves room and its bytes parse, the
    /// call that would only confirm the end of the file is skipped. Bytes
    /// that end mid-document make it read on to the end and parse again.
    fn read_json(&mut self, file: &mut File) -> io::Result<Result<GradeFields, serde_json::Error>> {
        let first = read_retrying(file, &mut self.buffer)?;
        if first < self.buffer.len() {
            let parsed = GradeFields::parse(&self.buffer[..first]);
            if !matches!(&parsed, Err(err) if err.is_eof()) {
                return Ok(parsed);
            }
        }
        let mut filled = first;
        loop {
            if filled == self.buffer.len() {
                self.buffer.resize(self.buffer.len() * 2, 0);
            }
            match read_retrying(file, &mut self.buffer[filled..])? {
                0 => return Ok(GradeFields::parse(&self.buffer[..filled])),
                n => filled += n,
            }
        }
    }

    /// Opens `name` in folder `dir` for reading.
    #[cfg(unix)]
    fn open(&mut self, dir: &Path, name: &str) -> io::Result<File> {
        use rustix::fs::{Mode, OFlags};

        if self
            .dir
            .as_ref()
            .is_none_or(|(open_dir, _)| open_dir != dir)
        {
            self.dir = Some((dir.to_path_buf(), File::open(dir)?));
        }
        let (_, dir_file) = self.dir.as_ref().expect("the folder was just opened");
        let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY;
        if self.noatime {
            match rustix::fs::openat(dir_file, name, flags | noatime_flag(), Mode::empty()) {
                Ok(fd) => return Ok(File::from(fd)),
                Err(rustix::io::Errno::PERM) => self.noatime = false,
                Err(errno) => return Err(errno.into()),
            }
        }
        Ok(File::from(rustix::fs::openat(
            dir_file,
            name,
            flags,
            Mode::empty(),
        )?))
    }

    /// Opens `name` in folder `dir` for reading.
    #[cfg(not(unix))]
    fn open(&mut self, dir: &Path, name: &str) -> io::Result<File> {
        File::open(dir.join(name))
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn noatime_flag() -> rustix::fs::OFlags {
    rustix::fs::OFlags::NOATIME
}

#[cfg(all(unix, not(any(target_os = "linux", target_os = "android"))))]
fn noatime_flag() -> rustix::fs::OFlags {
    rustix::fs::OFlags::empty()
}

fn read_retrying(file: &mut File, buffer: &mut [u8]) -> io::Result<usize> {
    loop {
        match file.read(buffer) {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(dir: &Path, name: &str, reader: &mut Reader) -> FileOutcome {
        reader.read(dir, format!("m/s/{name}"), None)
    }

    #[test]
    fn large_files_grow_the_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let padding = "x".repeat(3 * BUFFER_SIZE);
        let text = format!(r#"{{"justification": "{padding}", "accuracy": 0.5}}"#);
        fs::write(dir.path().join("m.t07,num1_eval.json"), text).unwrap();
        let mut reader = Reader::new();
        let FileOutcome::Grade(grade) = read(dir.path(), "m.t07,num1_eval.json", &mut reader)
        else {
            panic!("expected a grade");
        };
        assert_eq!(grade.accuracy, Some(0.5));
        assert!(reader.buffer.len() >= 3 * BUFFER_SIZE);
    }

    #[test]
    fn missing_files_are_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let FileOutcome::Invalid(invalid) = read(dir.path(), "gone.json", &mut Reader::new())
        else {
            panic!("expected an invalid file");
        };
        assert_eq!(invalid.file, "m/s/gone.json");
        assert!(
            invalid.error.starts_with("cannot read: "),
            "{}",
            invalid.error
        );
    }

    #[test]
    fn reader_switches_folders() {
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        fs::write(
            first.path().join("m.t00,num1_eval.json"),
            r#"{"accuracy": 1}"#,
        )
        .unwrap();
        fs::write(
            second.path().join("m.t00,num1_eval.json"),
            r#"{"accuracy": 0}"#,
        )
        .unwrap();
        let mut reader = Reader::new();
        for (dir, expected) in [(&first, 1.0), (&second, 0.0), (&first, 1.0)] {
            let FileOutcome::Grade(grade) = read(dir.path(), "m.t00,num1_eval.json", &mut reader)
            else {
                panic!("expected a grade");
            };
            assert_eq!(grade.accuracy, Some(expected));
        }
    }

    #[test]
    fn parallel_map_keeps_order() {
        let items: Vec<usize> = (0..1000).collect();
        let doubled = parallel_map(
            items,
            || 0usize,
            |calls, item| {
                *calls += 1;
                item * 2
            },
        );
        assert_eq!(doubled, (0..1000).map(|n| n * 2).collect::<Vec<_>>());
    }
}
