//! Harness of the end-to-end tests: a private workspace per test, the real
//! heatmapd and heatmapctl binaries, and read-only access to the queue.
//!
//! Each test gets its own temporary folder with the workspace root, the
//! runtime folder (passed as `XDG_RUNTIME_DIR`, so the PID locks of tests that
//! run in parallel never meet), the socket and the log of every process the
//! test starts. When a test panics, the logs of its daemons are printed.

// Each test binary uses a different part of the harness.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use heatmap_tests::fake::{FakeServer, RecordedRequest};
use rusqlite::{Connection, OpenFlags};
use serde_json::Value;

/// Time a started daemon gets to respond to `heatmapctl status`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Time a job gets to reach the state that a test waits for.
pub const JOB_TIMEOUT: Duration = Duration::from_secs(60);
/// Time one heatmapctl command gets before it is killed.
pub const CTL_TIMEOUT: Duration = Duration::from_secs(60);
/// Time a daemon gets to exit after a signal.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(15);
/// Pause between two polls of a condition.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Variables that could route the daemon's requests through a proxy instead
/// of straight to the loopback fake server.
const PROXY_VARIABLES: [&str; 6] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Returns the path of a binary of the workspace, built next to the test
/// executable by `cargo build --workspace --bins`.
///
/// # Panics
///
/// Panics with the build command when the binary is missing.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("cannot find the path of the test executable");
    // The test executable is target/<profile>/deps/<test>-<hash>, and the
    // binaries are in target/<profile>/.
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("unexpected test executable path {}", exe.display()));
    let path = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing; build the binaries with `cargo build --workspace --bins` before running these tests",
        path.display()
    );
    path
}

/// Polls `probe` until it returns a value, and panics after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Returns a temperature in thousandths, so temperatures can be compared and
/// used as map keys. NaN, which stands for a request without a temperature,
/// maps to `i64::MIN` so that it never matches a real temperature.
pub fn milli(temperature: f64) -> i64 {
    if temperature.is_finite() {
        (temperature * 1000.0).round() as i64
    } else {
        i64::MIN
    }
}

/// Returns the temperature part of an answer file name: two digits of tenths
/// for multiples of 0.1, else the decimal itself.
pub fn temp_tag(temperature: f64) -> String {
    let tenths = temperature * 10.0;
    if (tenths - tenths.round()).abs() < 1e-9 {
        format!("{:02}", tenths.round() as u32)
    } else {
        format!("{temperature}")
    }
}

/// Returns the value of `"id"` in the JSON that `heatmapctl --json submit`
/// prints, which is the job summary, possibly wrapped in its response variant.
pub fn job_id_from_json(stdout: &str) -> i64 {
    let line = stdout
        .lines()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("");
    let value: Value = serde_json::from_str(line)
        .unwrap_or_else(|error| panic!("submit printed invalid JSON ({error}): {stdout:?}"));
    let summary = match value.get("Submitted") {
        Some(inner) => inner,
        None => &value,
    };
    summary
        .get("id")
        .and_then(Value::as_i64)
        .unwrap_or_else(|| panic!("submit printed no job id: {stdout}"))
}

/// One prompt of a test's `prompts.csv`, with the answer that counts as correct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptCase {
    /// Prompt id.
    pub id: String,
    /// Prompt text, as the fake server receives it.
    pub prompt: String,
    /// The one accepted answer.
    pub answer: String,
}

/// Builds `count` prompts with ids `q1`, `q2`, ..., each with a distinct
/// numeric answer.
pub fn numbered_prompts(count: usize) -> Vec<PromptCase> {
    (1..=count)
        .map(|n| PromptCase {
            id: format!("q{n}"),
            prompt: format!("Question {n}: what is {n} plus {n}?"),
            answer: (2 * n).to_string(),
        })
        .collect()
}

/// Returns the case whose prompt text equals `prompt`.
pub fn case_for<'a>(cases: &'a [PromptCase], prompt: &str) -> Option<&'a PromptCase> {
    cases.iter().find(|case| case.prompt == prompt)
}

/// Returns the key of a recorded request, with the prompt id looked up.
pub fn request_key(cases: &[PromptCase], request: &RecordedRequest) -> ItemKey {
    let case = case_for(cases, &request.prompt)
        .unwrap_or_else(|| panic!("request with an unknown prompt {:?}", request.prompt));
    ItemKey::new(
        &request.model,
        request.temperature.unwrap_or(f64::NAN),
        &case.id,
    )
}

/// Returns how many requests the fake server received for `key`.
pub fn requests_for(fake: &FakeServer, cases: &[PromptCase], key: &ItemKey) -> usize {
    fake.requests()
        .iter()
        .filter(|request| request_key(cases, request) == *key)
        .count()
}

/// Waits until the fake server has received a request for `key`.
pub fn wait_for_request(fake: &FakeServer, cases: &[PromptCase], key: &ItemKey) {
    wait_for(&format!("a request for {key:?}"), JOB_TIMEOUT, || {
        (requests_for(fake, cases, key) > 0).then_some(())
    });
}

/// Renders `prompts.csv` with the header `id,category,prompt,expected`.
pub fn prompts_csv(cases: &[PromptCase]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record(["id", "category", "prompt", "expected"])
        .expect("writing to memory cannot fail");
    for case in cases {
        writer
            .write_record([case.id.as_str(), "arithmetic", &case.prompt, &case.answer])
            .expect("writing to memory cannot fail");
    }
    let bytes = writer.into_inner().expect("writing to memory cannot fail");
    String::from_utf8(bytes).expect("the CSV is built from strings")
}

/// Item of the queue, identified by model, temperature and prompt id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ItemKey {
    /// Model name.
    pub model: String,
    /// Temperature in thousandths.
    pub temp_milli: i64,
    /// Prompt id.
    pub prompt_id: String,
}

impl ItemKey {
    /// Builds a key from a temperature in its usual form.
    pub fn new(model: &str, temperature: f64, prompt_id: &str) -> ItemKey {
        ItemKey {
            model: model.to_owned(),
            temp_milli: milli(temperature),
            prompt_id: prompt_id.to_owned(),
        }
    }
}

/// Builds every key of a model x temperature x prompt grid.
pub fn grid_keys(models: &[&str], temperatures: &[f64], cases: &[PromptCase]) -> Vec<ItemKey> {
    let mut keys = Vec::new();
    for model in models {
        for &temperature in temperatures {
            for case in cases {
                keys.push(ItemKey::new(model, temperature, &case.id));
            }
        }
    }
    keys.sort();
    keys
}

/// Row of the `items` table, with the columns the tests check.
#[derive(Debug, Clone)]
pub struct ItemRow {
    pub id: i64,
    pub job_id: i64,
    pub model: String,
    pub temperature: f64,
    pub prompt_id: String,
    pub repeat: i64,
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub answer_path: Option<String>,
    pub grade_path: Option<String>,
    pub accuracy: Option<f64>,
}

impl ItemRow {
    /// Returns the model, temperature and prompt id of the item.
    pub fn key(&self) -> ItemKey {
        ItemKey::new(&self.model, self.temperature, &self.prompt_id)
    }
}

/// What a heatmapctl run returned.
#[derive(Debug)]
pub struct CtlOutput {
    /// Arguments after `--socket PATH`.
    pub args: Vec<String>,
    /// Exit code; `None` when a signal ended the process.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CtlOutput {
    /// Panics with the command and its output unless it exited with 0.
    pub fn assert_success(&self) -> &CtlOutput {
        assert_eq!(self.code, Some(0), "{}", self.describe());
        self
    }

    /// Describes the command and everything it printed, for assert messages.
    pub fn describe(&self) -> String {
        format!(
            "heatmapctl {} exited with {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.args.join(" "),
            self.code,
            self.stdout,
            self.stderr
        )
    }
}

/// A private workspace root, runtime folder and socket for one test.
pub struct Workspace {
    dir: tempfile::TempDir,
    /// Workspace root passed with `--root`.
    pub root: PathBuf,
    /// Value of `XDG_RUNTIME_DIR` for every process the test starts.
    pub runtime: PathBuf,
    /// Socket passed with `--socket`.
    pub socket: PathBuf,
    log_count: Cell<u32>,
}

impl Workspace {
    /// Creates the folders in a new temporary folder.
    pub fn new() -> Workspace {
        let dir = tempfile::Builder::new()
            .prefix("heatmap-e2e-")
            .tempdir()
            .expect("cannot create a temporary folder");
        let root = dir.path().join("root");
        let runtime = dir.path().join("run");
        std::fs::create_dir(&root).expect("cannot create the workspace root");
        std::fs::create_dir(&runtime).expect("cannot create the runtime folder");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let private = std::fs::Permissions::from_mode(0o700);
            std::fs::set_permissions(&runtime, private)
                .expect("cannot restrict the runtime folder");
        }
        let socket = dir.path().join("heatmapd.sock");
        Workspace {
            dir,
            root,
            runtime,
            socket,
            log_count: Cell::new(0),
        }
    }

    /// Returns the temporary folder that holds everything of the test.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Returns `<root>/output`.
    pub fn output(&self) -> PathBuf {
        self.root.join("output")
    }

    /// Returns the queue database.
    pub fn queue_path(&self) -> PathBuf {
        self.root.join(".heatmapd").join("queue.db")
    }

    /// Returns the PID file that heatmapd locks.
    pub fn pid_file(&self) -> PathBuf {
        self.runtime.join("heatmapd").join("heatmapd.pid")
    }

    /// Writes `prompts.csv` for `cases`.
    pub fn write_prompts(&self, cases: &[PromptCase]) {
        self.write_file("prompts.csv", prompts_csv(cases));
    }

    /// Writes a file relative to the workspace root.
    pub fn write_file(&self, name: &str, contents: impl AsRef<[u8]>) {
        let path = self.root.join(name);
        std::fs::write(&path, contents)
            .unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
    }

    /// Returns a new numbered path in the test folder for a log file.
    fn next_log(&self, stem: &str) -> PathBuf {
        let count = self.log_count.get() + 1;
        self.log_count.set(count);
        self.dir.path().join(format!("{stem}-{count}.log"))
    }

    /// Builds a command with the test's runtime folder and without any
    /// setting that could send traffic anywhere but to loopback servers.
    pub fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .env("XDG_RUNTIME_DIR", &self.runtime)
            .env_remove("HEATMAPD_SOCKET")
            .env_remove("OLLAMA_HOST")
            .env("NO_PROXY", "127.0.0.1,localhost,::1")
            .env("no_proxy", "127.0.0.1,localhost,::1")
            .current_dir(&self.root)
            .stdin(Stdio::null());
        for variable in PROXY_VARIABLES {
            command.env_remove(variable);
        }
        command
    }

    /// Runs `heatmapctl --socket <socket> ARGS` and returns what it printed.
    pub fn ctl(&self, args: &[&str]) -> CtlOutput {
        self.ctl_with_socket(&self.socket, args, CTL_TIMEOUT)
    }

    /// Runs heatmapctl against another socket, killing it after `timeout`.
    pub fn ctl_with_socket(&self, socket: &Path, args: &[&str], timeout: Duration) -> CtlOutput {
        let stdout_path = self.next_log("heatmapctl-stdout");
        let stderr_path = self.next_log("heatmapctl-stderr");
        let mut command = self.command(&binary("heatmapctl"));
        command
            .arg("--socket")
            .arg(socket)
            .args(args)
            .stdout(create_log(&stdout_path))
            .stderr(create_log(&stderr_path));
        let mut child = command.spawn().expect("cannot start heatmapctl");
        let status = wait_child(&mut child, timeout);
        let output = CtlOutput {
            args: args.iter().map(|arg| (*arg).to_owned()).collect(),
            code: status.and_then(|status| status.code()),
            stdout: read_lossy(&stdout_path),
            stderr: read_lossy(&stderr_path),
        };
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "heatmapctl did not exit within {timeout:?}\n{}",
                output.describe()
            );
        }
        output
    }

    /// Starts heatmapd with `--retry-base-ms 10` and `extra` arguments, and
    /// waits until it answers `status`.
    pub fn start_daemon(&self, extra: &[&str]) -> Daemon {
        let daemon = self.spawn_daemon(extra);
        daemon.wait_ready(self);
        daemon
    }

    /// Starts heatmapd without waiting for it.
    pub fn spawn_daemon(&self, extra: &[&str]) -> Daemon {
        self.spawn_daemon_on(&self.socket, extra)
    }

    /// Starts heatmapd on another socket, without waiting for it.
    pub fn spawn_daemon_on(&self, socket: &Path, extra: &[&str]) -> Daemon {
        let log = self.next_log("heatmapd");
        let stderr = create_log(&log);
        let stdout = stderr
            .try_clone()
            .expect("cannot share the daemon's log file");
        let mut command = self.command(&binary("heatmapd"));
        command
            .arg("--root")
            .arg(&self.root)
            .arg("--socket")
            .arg(socket)
            .args(["--retry-base-ms", "10"])
            .args(extra)
            .stdout(stdout)
            .stderr(stderr);
        let child = command.spawn().expect("cannot start heatmapd");
        Daemon {
            pid: child.id(),
            child: RefCell::new(child),
            log,
        }
    }

    /// Opens the queue database read-only, or returns `None` when it does not
    /// exist yet. Read-only access never checkpoints the daemon's WAL.
    fn open_queue(&self) -> Option<Connection> {
        let path = self.queue_path();
        if !path.exists() {
            return None;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = Connection::open_with_flags(&path, flags)
            .unwrap_or_else(|error| panic!("cannot open {}: {error}", path.display()));
        connection
            .busy_timeout(Duration::from_secs(5))
            .expect("cannot set the busy timeout");
        Some(connection)
    }

    /// Returns every row of the `items` table, in id order.
    pub fn items(&self) -> Vec<ItemRow> {
        let Some(connection) = self.open_queue() else {
            return Vec::new();
        };
        let mut statement = connection
            .prepare(
                "SELECT id, job_id, model, temperature, prompt_id, repeat, state, attempts, \
                 last_error, answer_path, grade_path, accuracy FROM items ORDER BY id",
            )
            .expect("cannot query the items table");
        let rows = statement
            .query_map([], |row| {
                Ok(ItemRow {
                    id: row.get(0)?,
                    job_id: row.get(1)?,
                    model: row.get(2)?,
                    temperature: row.get(3)?,
                    prompt_id: row.get(4)?,
                    repeat: row.get(5)?,
                    state: row.get(6)?,
                    attempts: row.get(7)?,
                    last_error: row.get(8)?,
                    answer_path: row.get(9)?,
                    grade_path: row.get(10)?,
                    accuracy: row.get(11)?,
                })
            })
            .expect("cannot read the items table");
        rows.collect::<Result<Vec<_>, _>>()
            .expect("cannot decode a row of the items table")
    }

    /// Returns the state of every job, by id.
    pub fn job_states(&self) -> BTreeMap<i64, String> {
        let Some(connection) = self.open_queue() else {
            return BTreeMap::new();
        };
        let mut statement = connection
            .prepare("SELECT id, state FROM jobs")
            .expect("cannot query the jobs table");
        let rows = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .expect("cannot read the jobs table");
        rows.collect::<Result<BTreeMap<_, _>, _>>()
            .expect("cannot decode a row of the jobs table")
    }

    /// Returns the state of one job as stored, e.g. `running` or `completed`.
    pub fn job_state(&self, job: i64) -> Option<String> {
        self.job_states().remove(&job)
    }

    /// Waits until `job` is stored in `state`, failing early when the daemon exits.
    pub fn wait_job_state(&self, daemon: &Daemon, job: i64, state: &str) {
        wait_for(&format!("job {job} to be {state}"), JOB_TIMEOUT, || {
            daemon.assert_running();
            (self.job_state(job).as_deref() == Some(state)).then_some(())
        });
    }

    /// Waits until at least `count` items are done, failing early when the daemon exits.
    pub fn wait_items_done(&self, daemon: &Daemon, count: usize) {
        wait_for(&format!("{count} items to be done"), JOB_TIMEOUT, || {
            daemon.assert_running();
            let done = self
                .items()
                .iter()
                .filter(|item| item.state == "done")
                .count();
            (done >= count).then_some(())
        });
    }

    /// Submits a job on the OpenAI API without waiting, and returns its id.
    pub fn submit_job(&self, fake: &FakeServer, models: &[&str], temps: &str) -> i64 {
        let mut args = vec![
            "--json",
            "submit",
            "--url",
            fake.url(),
            "--backend",
            "openai",
            "--temps",
            temps,
        ];
        for model in models {
            args.extend(["--model", model]);
        }
        let output = self.ctl(&args);
        output.assert_success();
        job_id_from_json(&output.stdout)
    }

    /// Checks that every item of the grid is done exactly once: one queue row
    /// in state `done`, one answer file holding exactly the case's answer, and
    /// one grade that is valid JSON with accuracy 1. Model names must be valid
    /// folder names.
    pub fn assert_each_item_done_once(
        &self,
        models: &[&str],
        temperatures: &[f64],
        cases: &[PromptCase],
    ) {
        let expected = grid_keys(models, temperatures, cases);
        let items = self.items();
        let mut keys: Vec<ItemKey> = items.iter().map(ItemRow::key).collect();
        keys.sort();
        assert_eq!(keys, expected, "items in the queue");
        for item in &items {
            assert_eq!(
                item.state,
                "done",
                "state of {:?} ({:?})",
                item.key(),
                item.last_error
            );
            let answer_path = item
                .answer_path
                .as_deref()
                .unwrap_or_else(|| panic!("{:?} has no answer path", item.key()));
            let answer_path = self.root.join(answer_path);
            let text = std::fs::read_to_string(&answer_path)
                .unwrap_or_else(|error| panic!("cannot read {}: {error}", answer_path.display()));
            let case = cases
                .iter()
                .find(|case| case.id == item.prompt_id)
                .expect("known prompt id");
            assert_eq!(text, case.answer, "content of {}", answer_path.display());
        }

        let answers = self.answer_files();
        assert_eq!(answers.len(), expected.len(), "answer files: {answers:#?}");
        for key in &expected {
            let temperature = key.temp_milli as f64 / 1000.0;
            let path = self.answer_path(&key.model, temperature, &key.prompt_id);
            assert!(path.is_file(), "missing answer file {}", path.display());
        }

        let grades = self.grade_files();
        assert_eq!(grades.len(), expected.len(), "grade files: {grades:#?}");
        for path in &grades {
            let text = std::fs::read_to_string(path)
                .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
            let grade: Value = serde_json::from_str(&text).unwrap_or_else(|error| {
                panic!("{} is invalid JSON ({error}): {text:?}", path.display())
            });
            let accuracy = grade.get("accuracy").and_then(Value::as_f64);
            assert_eq!(accuracy, Some(1.0), "{}: {text}", path.display());
        }
    }

    /// Returns every answer file under `output/`: `.txt` files outside
    /// `Summaries`, leaving out thinking files and temporary files.
    pub fn answer_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        collect_files(&self.output(), &mut files);
        files.retain(|path| {
            let name = file_name(path);
            name.ends_with(".txt")
                && !name.ends_with(".thinking.txt")
                && !name.starts_with(".tmp-")
                && !path
                    .components()
                    .any(|part| part.as_os_str() == "Summaries")
        });
        files.sort();
        files
    }

    /// Returns every grade file (`*_eval.json`) under `output/`.
    pub fn grade_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        collect_files(&self.output(), &mut files);
        files.retain(|path| {
            let name = file_name(path);
            name.ends_with("_eval.json") && !name.starts_with(".tmp-")
        });
        files.sort();
        files
    }

    /// Returns the only session folder of a model folder, e.g.
    /// `output/beta_1b/20250101_120000`.
    pub fn session_dir(&self, model_dir: &str) -> PathBuf {
        let parent = self.output().join(model_dir);
        let entries = std::fs::read_dir(&parent)
            .unwrap_or_else(|error| panic!("cannot list {}: {error}", parent.display()));
        let mut sessions: Vec<PathBuf> = entries
            .map(|entry| entry.expect("cannot read a folder entry").path())
            .filter(|path| path.is_dir())
            .collect();
        assert_eq!(
            sessions.len(),
            1,
            "expected one session folder in {}: {sessions:?}",
            parent.display()
        );
        sessions.remove(0)
    }

    /// Returns where the answer of one item must be.
    pub fn answer_path(&self, model_dir: &str, temperature: f64, prompt_id: &str) -> PathBuf {
        let name = format!("{model_dir}.t{},num{prompt_id}.txt", temp_tag(temperature));
        self.session_dir(model_dir).join(name)
    }

    /// Returns the heatmap snapshots in `output/Summaries`, leaving out the
    /// live heatmap and the derivative files.
    pub fn snapshots(&self) -> Vec<PathBuf> {
        let summaries = self.output().join("Summaries");
        let Ok(entries) = std::fs::read_dir(&summaries) else {
            return Vec::new();
        };
        let mut snapshots: Vec<PathBuf> = entries
            .map(|entry| entry.expect("cannot read a folder entry").path())
            .filter(|path| {
                let name = file_name(path);
                name.starts_with("heatmap_")
                    && name.ends_with(".csv")
                    && name != "heatmap_live.csv"
                    && !name.starts_with("heatmap_derivative_")
                    && !name.starts_with("heatmap_pct_change_")
                    && !name.starts_with("heatmap_trends_")
                    && !name.ends_with("_long.csv")
            })
            .collect();
        snapshots.sort();
        snapshots
    }
}

/// A running heatmapd. Dropping it kills the process, and during a panic
/// prints its log.
pub struct Daemon {
    /// Process id.
    pub pid: u32,
    child: RefCell<Child>,
    /// File with the daemon's stdout and stderr.
    pub log: PathBuf,
}

impl Daemon {
    /// Returns everything the daemon logged so far.
    pub fn logs(&self) -> String {
        read_lossy(&self.log)
    }

    /// Returns the exit status, or `None` while the daemon runs.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.child
            .borrow_mut()
            .try_wait()
            .expect("cannot poll the daemon process")
    }

    /// Panics with the log when the daemon has exited.
    pub fn assert_running(&self) {
        if let Some(status) = self.exit_status() {
            panic!(
                "heatmapd exited with {status}\n--- heatmapd log ---\n{}",
                self.logs()
            );
        }
    }

    /// Waits until `heatmapctl status` exits with 0.
    pub fn wait_ready(&self, workspace: &Workspace) {
        wait_for("heatmapd to answer status", READY_TIMEOUT, || {
            self.assert_running();
            let status =
                workspace.ctl_with_socket(&workspace.socket, &["status"], Duration::from_secs(10));
            (status.code == Some(0)).then_some(())
        });
    }

    /// Sends a signal to the daemon.
    pub fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.pid).expect("pid fits in pid_t");
        // SAFETY: kill has no memory-safety preconditions; the pid is our own
        // child, which is not reaped before this call returns.
        let result = unsafe { libc::kill(pid, signal) };
        assert_eq!(
            result, 0,
            "cannot send signal {signal} to heatmapd (pid {pid})"
        );
    }

    /// Waits for the daemon to exit and returns its status.
    pub fn wait_exit(&self, timeout: Duration) -> ExitStatus {
        let status = wait_child(&mut self.child.borrow_mut(), timeout);
        status.unwrap_or_else(|| {
            panic!(
                "heatmapd did not exit within {timeout:?}\n--- heatmapd log ---\n{}",
                self.logs()
            )
        })
    }

    /// Kills the daemon with SIGKILL and waits for it.
    pub fn kill_hard(&self) -> ExitStatus {
        self.signal(libc::SIGKILL);
        self.wait_exit(EXIT_TIMEOUT)
    }

    /// Sends SIGTERM and waits for the daemon to exit.
    pub fn terminate(&self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        self.wait_exit(EXIT_TIMEOUT)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let child = self.child.get_mut();
        if matches!(child.try_wait(), Ok(None)) {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- heatmapd log ({}) ---\n{}\n--- end of heatmapd log ---",
                self.log.display(),
                self.logs()
            );
        }
    }
}

/// Waits up to `timeout` for a child to exit; `None` when it still runs.
fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("cannot poll a child process") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn create_log(path: &Path) -> File {
    File::create(path).unwrap_or_else(|error| panic!("cannot create {}: {error}", path.display()))
}

fn read_lossy(path: &Path) -> String {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(error) => format!("(cannot read {}: {error})", path.display()),
    }
}

/// Returns the file name of a path as text, or "" when it has none.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Adds every file below `dir` to `files`; a missing folder adds nothing.
pub fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("cannot read a folder entry").path();
        if path.is_dir() {
            collect_files(&path, files);
        } else {
            files.push(path);
        }
    }
}
