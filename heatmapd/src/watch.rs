//! Watching `output/` and refreshing the live heatmap.
//!
//! [`spawn`] starts a thread that keeps a [`LiveIndex`] of every grade and
//! rewrites `output/Summaries/heatmap_live.csv` whenever a grade lands,
//! changes or goes away. File events only point to where to look: the index
//! re-reads the files named, lists folders that appeared, and compares file
//! stamps on a rescan. A rescan runs after the watcher reports lost events
//! (an inotify queue overflow) and on a timer.
//!
//! Each rewrite of the CSV also redraws `output/graphs/heatmap_live.svg`.
//! Cells with fewer grades than `min_samples` in `settings.json` are left
//! empty in both; the setting is read again on every refresh.
//!
//! The summary folders (`Summaries/`, `specifics/`, `graphs/`) are ignored,
//! so the files this module writes never trigger another refresh.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use heatmap_proto::types::HeatmapTable;
use notify_debouncer_full::notify::event::{AccessKind, AccessMode};
use notify_debouncer_full::notify::{self, EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, DebouncedEvent, new_debouncer};

use crate::aggregate::AggregateError;
use crate::aggregate::heatmap::{apply_min_samples, load_min_samples};
use crate::aggregate::live::{LiveCounts, LiveIndex, UpdateStats};

/// Settings of the watcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchOptions {
    /// How long the debouncer waits for a burst of events on a file to end.
    pub debounce: Duration,
    /// Time between full rescans that catch changes the watcher missed.
    pub rescan_interval: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            debounce: Duration::from_millis(50),
            rescan_interval: Duration::from_secs(300),
        }
    }
}

/// Errors that keep the watcher from starting.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The output folder does not exist.
    #[error("output folder not found: {path}")]
    OutputNotFound {
        /// The missing folder.
        path: PathBuf,
    },
    /// The system limit on inotify watches was reached.
    #[error(
        "cannot watch {path}: the limit on inotify watches is reached; raise it with \
         `sudo sysctl fs.inotify.max_user_watches=524288` (and set it in /etc/sysctl.conf to keep it)"
    )]
    WatchLimit {
        /// The folder being watched.
        path: PathBuf,
    },
    /// The file watcher failed to start.
    #[error("cannot watch {path}: {source}")]
    Notify {
        /// The folder being watched.
        path: PathBuf,
        /// The underlying error.
        source: notify::Error,
    },
    /// The watcher thread could not be started.
    #[error("cannot start the watcher thread for {path}: {source}")]
    Thread {
        /// The folder being watched.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl WatchError {
    fn from_notify(path: &Path, source: notify::Error) -> WatchError {
        if is_watch_limit(&source) {
            WatchError::WatchLimit {
                path: path.to_path_buf(),
            }
        } else {
            WatchError::Notify {
                path: path.to_path_buf(),
                source,
            }
        }
    }
}

/// Tells whether a notify error means the inotify watch limit was reached.
fn is_watch_limit(error: &notify::Error) -> bool {
    match &error.kind {
        notify::ErrorKind::MaxFilesWatch => true,
        // ENOSPC from inotify_add_watch means the same on Linux.
        notify::ErrorKind::Io(err) => cfg!(target_os = "linux") && err.raw_os_error() == Some(28),
        _ => false,
    }
}

/// State of the live heatmap after a refresh.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveStatus {
    /// Number of refreshes so far; 1 after the initial scan.
    pub generation: u64,
    /// Counts over the whole tree.
    pub counts: LiveCounts,
    /// The table written to `heatmap_live.csv`.
    pub table: Arc<HeatmapTable>,
    /// Files read by the last refresh.
    pub files_read: usize,
    /// Duration of the last refresh in milliseconds.
    pub elapsed_ms: u64,
}

impl Default for LiveStatus {
    fn default() -> Self {
        LiveStatus {
            generation: 0,
            counts: LiveCounts::default(),
            table: Arc::new(HeatmapTable {
                temperatures: Vec::new(),
                rows: Vec::new(),
            }),
            files_read: 0,
            elapsed_ms: 0,
        }
    }
}

/// Messages to the watcher thread.
enum Message {
    Events(DebounceEventResult),
    Stop,
}

/// Status shared between the watcher thread and its handle.
struct Shared {
    status: Mutex<LiveStatus>,
    changed: Condvar,
    sender: tokio::sync::watch::Sender<LiveStatus>,
}

/// A running watcher. Dropping it stops the watcher and waits for its thread.
pub struct WatchHandle {
    output: PathBuf,
    stop: mpsc::Sender<Message>,
    thread: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for WatchHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchHandle")
            .field("output", &self.output)
            .finish_non_exhaustive()
    }
}

impl WatchHandle {
    /// Returns the status after the latest refresh.
    pub fn status(&self) -> LiveStatus {
        self.shared
            .status
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Returns a receiver of every refresh's status, for async code.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<LiveStatus> {
        self.shared.sender.subscribe()
    }

    /// Blocks until a refresh with a generation of at least `generation` is
    /// done, or `timeout` passes; returns the status then, or `None` on timeout.
    pub fn wait_for_generation(&self, generation: u64, timeout: Duration) -> Option<LiveStatus> {
        let deadline = Instant::now() + timeout;
        let mut status = self
            .shared
            .status
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        while status.generation < generation {
            let left = deadline.checked_duration_since(Instant::now())?;
            status = self
                .shared
                .changed
                .wait_timeout(status, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
        Some(status.clone())
    }

    /// Returns the path of the live heatmap CSV.
    pub fn csv_path(&self) -> PathBuf {
        self.output
            .join("Summaries")
            .join(crate::aggregate::live::LIVE_CSV)
    }

    /// Stops the watcher and waits for its thread to end.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.stop.send(Message::Stop);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!(output = %self.output.display(), "watcher thread panicked");
        }
    }
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts watching `output` with the default options.
///
/// ```no_run
/// let handle = heatmapd::watch::spawn("output".into())?;
/// let status = handle.wait_for_generation(1, std::time::Duration::from_secs(10));
/// # Ok::<(), heatmapd::watch::WatchError>(())
/// ```
pub fn spawn(output: PathBuf) -> Result<WatchHandle, WatchError> {
    spawn_with(output, WatchOptions::default())
}

/// Starts watching `output`.
///
/// Returns once the tree has been read and the watch is in place, so a
/// large tree makes this take as long as a full scan (1 to 8 s for
/// 100,000 grades on the 2-core machine of `docs/benchmarks.md`). The first `heatmap_live.csv` (generation 1) follows
/// right after. The tree is read before the watch starts because every
/// file opened in a watched folder raises an open event, and 100,000 of
/// them would overflow the kernel's event queue.
pub fn spawn_with(output: PathBuf, options: WatchOptions) -> Result<WatchHandle, WatchError> {
    if !output.is_dir() {
        return Err(WatchError::OutputNotFound { path: output });
    }
    // Event paths start with the watched path as the watcher resolves it, so
    // watch the canonical path (macOS, for one, reports /private/var for /var).
    let output = std::fs::canonicalize(&output).unwrap_or(output);
    let (sender, receiver) = mpsc::channel();
    let (ready_sender, ready) = mpsc::sync_channel(1);
    let shared = Arc::new(Shared {
        status: Mutex::new(LiveStatus::default()),
        changed: Condvar::new(),
        sender: tokio::sync::watch::Sender::new(LiveStatus::default()),
    });
    let mut watcher = Watcher {
        output: output.clone(),
        shared: shared.clone(),
        index: None,
        last_csv: None,
        last_error_log: None,
        suppressed_errors: 0,
        min_samples: 1,
        settings_error: None,
    };
    let events = sender.clone();
    let thread = std::thread::Builder::new()
        .name("heatmap-watch".into())
        .spawn(move || {
            watcher.build_index();
            let watch_started = Instant::now();
            let debouncer = match start_debouncer(&watcher.output, options.debounce, events) {
                Ok(debouncer) => {
                    let elapsed_ms = watch_started.elapsed().as_millis() as u64;
                    tracing::debug!(output = %watcher.output.display(), elapsed_ms, "file watch in place");
                    let _ = ready_sender.send(Ok(()));
                    debouncer
                }
                Err(err) => {
                    let _ = ready_sender.send(Err(err));
                    return;
                }
            };
            watcher.run(receiver, options);
            // The debouncer lives until the loop ends, so events keep coming while it runs.
            debouncer.stop();
        })
        .map_err(|source| WatchError::Thread {
            path: output.clone(),
            source,
        })?;

    let started = ready.recv().unwrap_or_else(|_| {
        Err(WatchError::Thread {
            path: output.clone(),
            source: std::io::Error::other("the watcher thread panicked"),
        })
    });
    if let Err(err) = started {
        let _ = thread.join();
        return Err(err);
    }
    tracing::info!(
        output = %output.display(), debounce_ms = options.debounce.as_millis() as u64,
        "watching output folder"
    );
    Ok(WatchHandle {
        output,
        stop: sender,
        thread: Some(thread),
        shared,
    })
}

/// Starts a debouncer on `output` that forwards its events to the watcher thread.
fn start_debouncer(
    output: &Path,
    debounce: Duration,
    events: mpsc::Sender<Message>,
) -> Result<
    notify_debouncer_full::Debouncer<
        notify::RecommendedWatcher,
        notify_debouncer_full::RecommendedCache,
    >,
    WatchError,
> {
    let mut debouncer = new_debouncer(debounce, None, move |result: DebounceEventResult| {
        let _ = events.send(Message::Events(result));
    })
    .map_err(|err| WatchError::from_notify(output, err))?;
    debouncer
        .watch(output, RecursiveMode::Recursive)
        .map_err(|err| WatchError::from_notify(output, err))?;
    Ok(debouncer)
}

/// The watcher thread's state.
struct Watcher {
    output: PathBuf,
    shared: Arc<Shared>,
    index: Option<LiveIndex>,
    /// The CSV text last written, so a timed rescan that changed nothing writes nothing.
    last_csv: Option<String>,
    /// When a watcher error was last logged.
    last_error_log: Option<Instant>,
    /// Watcher errors not logged since then.
    suppressed_errors: u64,
    /// `min_samples` from the last valid `settings.json`.
    min_samples: u32,
    /// The last error reading `settings.json`, logged once until it changes.
    settings_error: Option<String>,
}

/// File name of the live heatmap picture inside `graphs/`.
pub const LIVE_SVG: &str = "heatmap_live.svg";

/// Delay of the rescan that follows a watcher error.
const ERROR_RESCAN_DELAY: Duration = Duration::from_secs(5);

/// Minimum time between two log lines about watcher errors.
const ERROR_LOG_INTERVAL: Duration = Duration::from_secs(10);

impl Watcher {
    fn run(mut self, receiver: mpsc::Receiver<Message>, options: WatchOptions) {
        self.full_refresh("initial scan");
        let mut next_rescan = Instant::now() + options.rescan_interval;
        loop {
            let wait = next_rescan.saturating_duration_since(Instant::now());
            let message = match receiver.recv_timeout(wait) {
                Ok(message) => message,
                Err(RecvTimeoutError::Timeout) => {
                    self.full_refresh("timed rescan");
                    next_rescan = Instant::now() + options.rescan_interval;
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            // Take every message already queued, so a burst costs one refresh.
            let mut batch = vec![message];
            batch.extend(receiver.try_iter());
            let mut paths = Vec::new();
            let mut rescan = false;
            let mut errors = false;
            let mut stop = false;
            for message in batch {
                match message {
                    Message::Stop => stop = true,
                    Message::Events(Ok(events)) => {
                        for event in events {
                            rescan |= event.need_rescan();
                            if is_relevant(&event) {
                                paths.extend(event.event.paths);
                            }
                        }
                    }
                    Message::Events(Err(batch)) => {
                        for error in batch {
                            self.log_notify_error(&error);
                            errors = true;
                        }
                    }
                }
            }
            if stop {
                break;
            }
            if errors {
                // Errors may have cost events, so rescan soon. Past the watch
                // limit each new folder brings one, so do not rescan per error.
                next_rescan = next_rescan.min(Instant::now() + ERROR_RESCAN_DELAY);
            }
            if rescan {
                self.full_refresh("events were lost");
                next_rescan = Instant::now() + options.rescan_interval;
            } else if !paths.is_empty() {
                paths.sort();
                paths.dedup();
                self.apply(&paths);
            }
        }
        tracing::info!(output = %self.output.display(), "stopped watching output folder");
    }

    /// Logs an error from the file watcher, at most one line per
    /// [`ERROR_LOG_INTERVAL`] with the count of the errors left out.
    fn log_notify_error(&mut self, error: &notify::Error) {
        let now = Instant::now();
        if self
            .last_error_log
            .is_some_and(|last| now - last < ERROR_LOG_INTERVAL)
        {
            self.suppressed_errors += 1;
            return;
        }
        let suppressed = std::mem::take(&mut self.suppressed_errors);
        self.last_error_log = Some(now);
        if is_watch_limit(error) {
            tracing::error!(
                output = %self.output.display(), paths = ?error.paths, suppressed,
                "the limit on inotify watches is reached, so new folders are not watched; \
                 raise it with `sudo sysctl fs.inotify.max_user_watches=524288`"
            );
        } else {
            tracing::warn!(
                output = %self.output.display(), paths = ?error.paths, error = %error, suppressed,
                "file watcher error"
            );
        }
    }

    /// Reads the whole tree into a new index.
    fn build_index(&mut self) {
        let started = Instant::now();
        match LiveIndex::build(&self.output) {
            Ok(index) => {
                let elapsed_ms = started.elapsed().as_millis() as u64;
                tracing::debug!(output = %self.output.display(), elapsed_ms, "read all grades");
                self.index = Some(index);
            }
            Err(err) => self.log_error(&err, "initial scan"),
        }
    }

    /// Compares the whole tree with the index, or reads it all when there is no index yet.
    fn full_refresh(&mut self, reason: &str) {
        let started = Instant::now();
        if self.index.is_none() {
            self.build_index();
        }
        let Some(index) = &mut self.index else { return };
        match index.rescan() {
            Ok(stats) => self.publish(stats, started, reason, false),
            Err(err) => self.log_error(&err, reason),
        }
    }

    fn apply(&mut self, paths: &[PathBuf]) {
        let started = Instant::now();
        let Some(index) = &mut self.index else {
            // The initial scan failed; try it again now that something changed.
            self.full_refresh("retry after a failed scan");
            return;
        };
        let stats = index.apply(paths.iter().map(PathBuf::as_path));
        if stats.changed > 0 {
            self.publish(stats, started, "files changed", true);
        }
    }

    /// Writes the CSV when it changed (or always, when `always`) and wakes the waiters.
    fn publish(&mut self, stats: UpdateStats, started: Instant, reason: &str, always: bool) {
        let min_samples = self.load_min_samples();
        let Some(index) = &self.index else { return };
        let mut table = index.table();
        apply_min_samples(&mut table, min_samples);
        let csv = crate::aggregate::heatmap::render_csv(&table);
        if always || self.last_csv.as_deref() != Some(csv.as_str()) {
            if let Err(err) = index.write_csv(&csv) {
                self.log_error(&err, reason);
                return;
            }
            self.write_picture(&table);
            self.last_csv = Some(csv);
        }

        let counts = index.counts();
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let mut status = self
            .shared
            .status
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *status = LiveStatus {
            generation: status.generation + 1,
            counts,
            table: Arc::new(table),
            files_read: stats.read,
            elapsed_ms,
        };

        tracing::debug!(
            generation = status.generation,
            graded = counts.graded,
            unscored = counts.unscored,
            invalid = counts.invalid,
            files_read = stats.read,
            elapsed_ms,
            reason,
            "refreshed live heatmap"
        );
        self.shared.sender.send_replace(status.clone());
        drop(status);
        self.shared.changed.notify_all();
    }

    /// Reads `min_samples` from `settings.json`. While the file is invalid
    /// it keeps the last valid value and logs the error once.
    fn load_min_samples(&mut self) -> u32 {
        match load_min_samples(&self.output) {
            Ok(min_samples) => {
                self.min_samples = min_samples;
                self.settings_error = None;
            }
            Err(err) => {
                let message = err.to_string();
                if self.settings_error.as_deref() != Some(message.as_str()) {
                    tracing::warn!(
                        error = %message, min_samples = self.min_samples,
                        "cannot read min_samples for the live heatmap; keeping the last valid value"
                    );
                    self.settings_error = Some(message);
                }
            }
        }
        self.min_samples
    }

    /// Redraws `graphs/heatmap_live.svg`, logging a failure.
    fn write_picture(&self, table: &HeatmapTable) {
        let path = self.output.join("graphs").join(LIVE_SVG);
        let written = crate::plot::render_heatmap(table, "live heatmap")
            .and_then(|svg| crate::plot::write_svg(&path, &svg));
        if let Err(err) = written {
            tracing::warn!(path = %path.display(), error = %err, "cannot write the live heatmap picture");
        }
    }

    fn log_error(&self, err: &AggregateError, reason: &str) {
        tracing::error!(output = %self.output.display(), error = %err, reason, "live heatmap refresh failed");
    }
}

/// Tells whether an event may change a grade: opens and reads change
/// nothing, so only the end of a write counts among access events.
fn is_relevant(event: &DebouncedEvent) -> bool {
    match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) | EventKind::Other => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests;
