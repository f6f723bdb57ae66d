//! Grading saved answers with an evaluator model after their job ended.
//!
//! The answers are the `*.txt` files (not `*.thinking.txt`) of the chosen
//! session folders. Each answer's prompt comes from the snapshot of the job
//! that wrote it, as the queue records it, or else from the workspace's
//! `prompts.csv` by prompt id. Grades are written beside the answers, and
//! answers that have one already are skipped unless a regrade is requested.

use std::collections::{HashMap, VecDeque};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use heatmap_proto::{EvaluateReport, EvaluateSpec};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::GradeRecord;
use super::judge::{Judge, load_instructions};
use super::thinking;
use crate::backend::{BackendError, Client, RetryPolicy};
use crate::config::Workspace;
use crate::layout::{self, SUMMARY_DIRS};
use crate::prompts::{self, Prompt};
use crate::store::{AnswerSource, Store, StoreError};

/// Failure of a whole evaluation.
#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    /// The request is invalid, and the message states the fix.
    #[error("{0}")]
    Invalid(String),
    /// A named session folder does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The judge's server could not be used.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The queue database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A folder under `output/` could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The folder or file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The daemon is stopping or the client went away.
    #[error("the evaluation was cancelled; grades written so far are kept")]
    Cancelled,
}

/// Answers graded so far and in all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count {
    /// Answers finished (graded, unscored or failed).
    pub done: u64,
    /// Answers to grade in all.
    pub total: u64,
}

/// One answer to grade.
#[derive(Debug, Clone)]
struct Task {
    answer: PathBuf,
    model: String,
    session: String,
    temperature: f64,
    prompt_id: String,
    repeat: Option<u32>,
    source: Option<AnswerSource>,
}

/// Outcome of grading one answer.
enum Outcome {
    Graded,
    Unscored,
    Failed,
}

#[derive(Default)]
struct Tally {
    graded: AtomicU64,
    unscored: AtomicU64,
    failed: AtomicU64,
    done: AtomicU64,
}

/// Checks the request and resolves the session folders to grade.
pub fn session_dirs(output: &Path, spec: &EvaluateSpec) -> Result<Vec<PathBuf>, EvaluateError> {
    if spec.all && !spec.sessions.is_empty() {
        return Err(EvaluateError::Invalid(
            "give either session names or all, not both".into(),
        ));
    }
    if !spec.all && spec.sessions.is_empty() {
        return Err(EvaluateError::Invalid(
            "no session given; name one or more sessions, or grade all of output/".into(),
        ));
    }
    let mut dirs = Vec::new();
    if spec.all {
        for model_dir in model_dirs(output)? {
            dirs.extend(subdirs(&model_dir)?);
        }
        return Ok(dirs);
    }
    for name in &spec.sessions {
        let found = resolve_session(output, name)?;
        if found.is_empty() {
            return Err(EvaluateError::NotFound(format!(
                "session {name:?} not found under {}; give MODEL_DIR/SESSION or a session folder name",
                output.display()
            )));
        }
        for dir in found {
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
    }
    Ok(dirs)
}

/// Finds `model_dir/session`, or a bare session name under every model folder.
fn resolve_session(output: &Path, name: &str) -> Result<Vec<PathBuf>, EvaluateError> {
    let name = name.trim().trim_end_matches('/');
    let parts: Vec<&str> = name.split('/').collect();
    let safe = !name.is_empty()
        && parts.len() <= 2
        && parts.iter().all(|part| {
            let mut components = Path::new(part).components();
            matches!(components.next(), Some(Component::Normal(_))) && components.next().is_none()
        });
    if !safe {
        return Err(EvaluateError::Invalid(format!(
            "invalid session {name:?}; give MODEL_DIR/SESSION or a session folder name, without .. or a leading /"
        )));
    }
    if let [model_dir, session] = parts[..] {
        let dir = output.join(model_dir).join(session);
        return Ok(if dir.is_dir() { vec![dir] } else { Vec::new() });
    }
    let mut found = Vec::new();
    for model_dir in model_dirs(output)? {
        let dir = model_dir.join(name);
        if dir.is_dir() {
            found.push(dir);
        }
    }
    Ok(found)
}

/// Returns the model folders under `output/`, leaving out summaries and hidden folders.
fn model_dirs(output: &Path) -> Result<Vec<PathBuf>, EvaluateError> {
    if !output.is_dir() {
        return Ok(Vec::new());
    }
    let dirs = subdirs(output)?;
    Ok(dirs
        .into_iter()
        .filter(|dir| {
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            !SUMMARY_DIRS.contains(&name.as_str())
        })
        .collect())
}

/// Returns the folders directly inside `dir` whose names do not start with `.`, sorted.
fn subdirs(dir: &Path) -> Result<Vec<PathBuf>, EvaluateError> {
    let entries = std::fs::read_dir(dir).map_err(|source| EvaluateError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .filter(|entry| !entry.file_name().to_string_lossy().starts_with('.'))
        .map(|entry| entry.path())
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// Returns the answer files of a session folder: `*.txt` but not
/// `*.thinking.txt` or temporary files, sorted.
pub fn answer_files(session: &Path) -> Result<Vec<PathBuf>, EvaluateError> {
    let entries = std::fs::read_dir(session).map_err(|source| EvaluateError::Io {
        path: session.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_file()))
        .filter(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.ends_with(".txt")
                && !name.ends_with(".thinking.txt")
                && !layout::is_temp_file(&name)
        })
        .map(|entry| entry.path())
        .collect();
    files.sort();
    Ok(files)
}

/// Reads the real model name from a session's `session.json`.
fn session_model(session: &Path) -> Option<String> {
    let path = session.join("session.json");
    let text = std::fs::read_to_string(&path).ok()?;
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(value) => value
            .get("model")
            .and_then(|m| m.as_str())
            .map(str::to_string),
        Err(err) => {
            tracing::warn!(path = %path.display(), error = %err, "session.json is invalid JSON; using the folder name as the model");
            None
        }
    }
}

/// Collects the answers to grade and counts those skipped for having a grade.
fn collect_tasks(
    root: &Path,
    store: &Store,
    sessions: &[PathBuf],
    regrade: bool,
) -> Result<(Vec<Task>, u64), EvaluateError> {
    let mut tasks = Vec::new();
    let mut skipped = 0;
    for session_dir in sessions {
        let session = session_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let model_dir = session_dir
            .parent()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let model = session_model(session_dir).unwrap_or_else(|| model_dir.clone());
        let relative = session_dir.strip_prefix(root).unwrap_or(session_dir);
        let prefix = format!(
            "{}{}",
            relative.to_string_lossy(),
            std::path::MAIN_SEPARATOR
        );
        let mut sources = store.answers_under(&prefix)?;
        for answer in answer_files(session_dir)? {
            let name = answer
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let Some(parsed) = layout::parse_file_name(&name) else {
                tracing::warn!(file = %answer.display(), "skipping a .txt file whose name is not <model>.t<temp>,num<id>.txt");
                continue;
            };
            if !regrade && layout::grade_path(&answer).exists() {
                skipped += 1;
                continue;
            }
            let key = answer
                .strip_prefix(root)
                .unwrap_or(&answer)
                .to_string_lossy()
                .into_owned();
            tasks.push(Task {
                source: sources.remove(&key),
                answer,
                model: model.clone(),
                session: session.clone(),
                temperature: parsed.temperature,
                prompt_id: parsed.prompt_id,
                repeat: parsed.repeat,
            });
        }
    }
    Ok((tasks, skipped))
}

/// Grades the answers of the sessions `spec` names with its judge model and
/// returns the counts.
///
/// It checks that every server lists the judge first, then keeps
/// `spec.parallel` judge requests in flight per server URL. `progress`
/// receives the counts as answers finish. An answer whose judge request
/// fails gets no grade, so a later run tries it again.
pub async fn evaluate(
    workspace: Workspace,
    store: Store,
    spec: EvaluateSpec,
    retry: RetryPolicy,
    cancel: CancellationToken,
    progress: watch::Sender<Count>,
) -> Result<EvaluateReport, EvaluateError> {
    let judge_model = spec.judge.trim().to_string();
    if judge_model.is_empty() {
        return Err(EvaluateError::Invalid(
            "the judge model is empty; name an evaluator model".into(),
        ));
    }
    if spec.urls.is_empty() {
        return Err(EvaluateError::Invalid(
            "no server URL given for the judge".into(),
        ));
    }
    let clients = spec
        .urls
        .iter()
        .map(|url| Client::new(spec.backend, url))
        .collect::<Result<Vec<_>, _>>()?;

    let root = workspace.root.clone();
    let collect_store = store.clone();
    let collect_spec = spec.clone();
    let output = workspace.output();
    let collected = tokio::task::spawn_blocking(move || {
        let sessions = session_dirs(&output, &collect_spec)?;
        collect_tasks(&root, &collect_store, &sessions, collect_spec.regrade)
    })
    .await
    .map_err(|err| EvaluateError::Invalid(format!("collecting the answers panicked: {err}")))?;
    let (tasks, skipped) = collected?;
    let total = tasks.len() as u64;
    progress.send_replace(Count { done: 0, total });
    tracing::info!(judge = %judge_model, answers = total, skipped, "evaluation started");
    if tasks.is_empty() {
        return Ok(EvaluateReport {
            graded: 0,
            skipped,
            unscored: 0,
            failed: 0,
        });
    }

    for client in &clients {
        client
            .check_models(std::slice::from_ref(&judge_model))
            .await?;
    }
    let instructions = load_instructions(&workspace.evaluator_prompt());
    let fallback = Arc::new(FallbackPrompts::new(&workspace));
    let queue = Arc::new(Mutex::new(VecDeque::from(tasks)));
    let tally = Arc::new(Tally::default());
    let progress = Arc::new(progress);
    let per_url = spec.parallel.max(1) as usize;

    let mut workers = Vec::new();
    for client in clients {
        let judge = Arc::new(
            Judge::new(client, judge_model.clone(), instructions.clone()).with_retry(retry),
        );
        for _ in 0..per_url {
            let worker = Worker {
                judge: judge.clone(),
                queue: queue.clone(),
                tally: tally.clone(),
                fallback: fallback.clone(),
                progress: progress.clone(),
                cancel: cancel.clone(),
                total,
            };
            workers.push(tokio::spawn(worker.run()));
        }
    }
    for worker in workers {
        if let Err(err) = worker.await {
            tracing::error!(judge = %judge_model, error = %err, "an evaluation worker panicked");
        }
    }
    if cancel.is_cancelled() {
        return Err(EvaluateError::Cancelled);
    }
    let report = EvaluateReport {
        graded: tally.graded.load(Ordering::Relaxed),
        skipped,
        unscored: tally.unscored.load(Ordering::Relaxed),
        failed: tally.failed.load(Ordering::Relaxed),
    };
    tracing::info!(judge = %judge_model, graded = report.graded, unscored = report.unscored,
        failed = report.failed, skipped = report.skipped, "evaluation finished");
    Ok(report)
}

/// Prompts of the workspace's `prompts.csv` by id, read on first use, for
/// answers the queue does not know.
struct FallbackPrompts {
    path: PathBuf,
    categories: PathBuf,
    loaded: std::sync::OnceLock<Result<HashMap<String, Prompt>, String>>,
}

impl FallbackPrompts {
    fn new(workspace: &Workspace) -> FallbackPrompts {
        FallbackPrompts {
            path: workspace.prompts(),
            categories: workspace.prompt_categories(),
            loaded: std::sync::OnceLock::new(),
        }
    }

    fn get(&self, id: &str) -> Result<Option<Prompt>, String> {
        let loaded = self.loaded.get_or_init(|| {
            prompts::load(&self.path, Some(&self.categories))
                .map(|list| {
                    list.into_iter()
                        .map(|p| (layout::sanitize_name(&p.id), p))
                        .collect()
                })
                .map_err(|err| err.to_string())
        });
        match loaded {
            Ok(map) => Ok(map.get(id).cloned()),
            Err(message) => Err(message.clone()),
        }
    }
}

struct Worker {
    judge: Arc<Judge>,
    queue: Arc<Mutex<VecDeque<Task>>>,
    tally: Arc<Tally>,
    fallback: Arc<FallbackPrompts>,
    progress: Arc<watch::Sender<Count>>,
    cancel: CancellationToken,
    total: u64,
}

impl Worker {
    async fn run(self) {
        loop {
            if self.cancel.is_cancelled() {
                return;
            }
            let Some(task) = self
                .queue
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop_front()
            else {
                return;
            };
            let outcome = self.grade(&task).await;
            let counter = match outcome {
                Some(Outcome::Graded) => &self.tally.graded,
                Some(Outcome::Unscored) => &self.tally.unscored,
                Some(Outcome::Failed) => &self.tally.failed,
                None => return,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            let done = self.tally.done.fetch_add(1, Ordering::Relaxed) + 1;
            self.progress.send_modify(|count| {
                count.done = count.done.max(done);
                count.total = self.total;
            });
        }
    }

    /// Grades one answer and writes its grade; `None` when cancelled.
    async fn grade(&self, task: &Task) -> Option<Outcome> {
        let file = task.answer.display().to_string();
        let prompt = match task.source.as_ref().and_then(|s| s.prompt.clone()) {
            Some(prompt) => prompt,
            None => match self.fallback.get(&task.prompt_id) {
                Ok(Some(prompt)) => prompt,
                Ok(None) => {
                    tracing::warn!(file, prompt = %task.prompt_id,
                        "prompt id not found in the queue or prompts.csv; add it to prompts.csv to grade this answer");
                    return Some(Outcome::Failed);
                }
                Err(message) => {
                    tracing::warn!(file, error = %message, "failed to read prompts.csv, so this answer stays ungraded");
                    return Some(Outcome::Failed);
                }
            },
        };
        let text = match std::fs::read_to_string(&task.answer) {
            Ok(text) => text,
            Err(err) => {
                tracing::warn!(file, error = %err, "failed to read the answer file");
                return Some(Outcome::Failed);
            }
        };
        let mut record = self.base_record(task, &prompt);
        let parts = thinking::split(&text);
        let thinking_file = task.answer.with_extension("thinking.txt");
        let thought = parts.thinking.is_some() || thinking_file.exists();
        let outcome = if parts.answer.trim().is_empty() && thought {
            record.judge_model = Some(self.judge.model().to_string());
            record.mark_no_answer();
            Outcome::Unscored
        } else {
            match self
                .judge
                .judge(
                    &prompt.prompt,
                    prompt.expected.as_deref(),
                    &parts.answer,
                    &self.cancel,
                )
                .await
            {
                Ok(verdict) => {
                    record = verdict.fill(record);
                    if record.accuracy.is_some() {
                        Outcome::Graded
                    } else {
                        Outcome::Unscored
                    }
                }
                Err(_) if self.cancel.is_cancelled() => return None,
                Err(err) => {
                    tracing::warn!(file, judge = %self.judge.model(), url = %self.judge.client().url(), error = %err,
                        "judge request failed; the answer stays ungraded");
                    return Some(Outcome::Failed);
                }
            }
        };
        let path = layout::grade_path(&task.answer);
        if let Err(err) = layout::write_atomic(&path, &record.to_json()) {
            tracing::error!(file = %path.display(), error = %err, "failed to write the grade");
            return Some(Outcome::Failed);
        }
        Some(outcome)
    }

    /// Builds the grade's fixed fields, with the measurements of an earlier
    /// grade of this answer, or else those the queue recorded.
    fn base_record(&self, task: &Task, prompt: &Prompt) -> GradeRecord {
        let mut record = GradeRecord {
            model: task.model.clone(),
            temperature: task.temperature,
            prompt_id: prompt.id.clone(),
            session: task.session.clone(),
            repeat: task.repeat,
            grader: format!("judge:{}", self.judge.model()),
            category: prompt.category.clone(),
            expected: prompt.expected.clone(),
            ..GradeRecord::default()
        };
        let earlier = std::fs::read(layout::grade_path(&task.answer))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<GradeRecord>(&bytes).ok());
        if let Some(earlier) = earlier {
            record.completion_tokens = earlier.completion_tokens;
            record.prompt_tokens = earlier.prompt_tokens;
            record.latency_ms = earlier.latency_ms;
            record.tokens_per_second = earlier.tokens_per_second;
            record.finish_reason = earlier.finish_reason;
            record.seed = earlier.seed;
        } else if let Some(source) = &task.source {
            record.completion_tokens = source.completion_tokens;
            record.prompt_tokens = source.prompt_tokens;
            record.latency_ms = source.latency_ms;
            record.tokens_per_second = source
                .completion_tokens
                .zip(source.latency_ms)
                .and_then(|(tokens, ms)| (ms > 0.0).then(|| tokens as f64 / (ms / 1000.0)));
            record.finish_reason = source.finish_reason.clone();
            record.seed = source.seed;
        }
        record
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(sessions: &[&str], all: bool) -> EvaluateSpec {
        EvaluateSpec {
            sessions: sessions.iter().map(|s| s.to_string()).collect(),
            all,
            judge: "judge".into(),
            backend: heatmap_proto::BackendKind::Ollama,
            urls: vec!["http://127.0.0.1:9".into()],
            regrade: false,
            parallel: 1,
        }
    }

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for path in [
            "a/s1",
            "a/s2",
            "b/s1",
            "Summaries/s1",
            "graphs",
            ".hidden/s1",
        ] {
            std::fs::create_dir_all(dir.path().join(path)).unwrap();
        }
        dir
    }

    fn names(output: &Path, dirs: &[PathBuf]) -> Vec<String> {
        dirs.iter()
            .map(|d| {
                d.strip_prefix(output)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    }

    #[test]
    fn all_skips_summary_folders() {
        let dir = tree();
        let dirs = session_dirs(dir.path(), &spec(&[], true)).unwrap();
        assert_eq!(names(dir.path(), &dirs), ["a/s1", "a/s2", "b/s1"]);
    }

    #[test]
    fn bare_session_matches_every_model() {
        let dir = tree();
        let dirs = session_dirs(dir.path(), &spec(&["s1"], false)).unwrap();
        assert_eq!(names(dir.path(), &dirs), ["a/s1", "b/s1"]);
        let dirs = session_dirs(dir.path(), &spec(&["a/s2", "a/s2/"], false)).unwrap();
        assert_eq!(names(dir.path(), &dirs), ["a/s2"]);
    }

    #[test]
    fn missing_session_is_not_found() {
        let dir = tree();
        let err = session_dirs(dir.path(), &spec(&["s9"], false)).unwrap_err();
        assert!(matches!(err, EvaluateError::NotFound(_)), "{err}");
        assert!(
            err.to_string().contains("session \"s9\" not found"),
            "{err}"
        );
    }

    #[test]
    fn unsafe_session_names_rejected() {
        let dir = tree();
        for name in ["../etc", "/tmp", "a/../b", "a/s1/x", ""] {
            let err = session_dirs(dir.path(), &spec(&[name], false)).unwrap_err();
            assert!(matches!(err, EvaluateError::Invalid(_)), "{name}: {err}");
        }
    }

    #[test]
    fn sessions_and_all_conflict() {
        let dir = tree();
        assert!(matches!(
            session_dirs(dir.path(), &spec(&["s1"], true)),
            Err(EvaluateError::Invalid(_))
        ));
        assert!(matches!(
            session_dirs(dir.path(), &spec(&[], false)),
            Err(EvaluateError::Invalid(_))
        ));
    }

    #[test]
    fn answer_files_leave_out_thinking_and_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "m.t00,num1.txt",
            "m.t00,num1.thinking.txt",
            "m.t00,num1_eval.json",
            ".tmp-x.part",
            "m.t05,num2.txt",
        ] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        let files = answer_files(dir.path()).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["m.t00,num1.txt", "m.t05,num2.txt"]);
    }

    #[test]
    fn collect_skips_graded_unless_regrade() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join(".heatmapd/queue.db")).unwrap();
        let session = dir.path().join("output/m/s1");
        std::fs::create_dir_all(&session).unwrap();
        std::fs::write(session.join("session.json"), r#"{"model": "m:1b"}"#).unwrap();
        std::fs::write(session.join("m.t00,num1.txt"), "4").unwrap();
        std::fs::write(session.join("m.t00,num1_eval.json"), "{}").unwrap();
        std::fs::write(session.join("m.t07,num2,rep2.txt"), "5").unwrap();

        let (tasks, skipped) =
            collect_tasks(dir.path(), &store, std::slice::from_ref(&session), false).unwrap();
        assert_eq!(skipped, 1);
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0].model, "m:1b");
        assert_eq!(tasks[0].session, "s1");
        assert_eq!(tasks[0].temperature, 0.7);
        assert_eq!(tasks[0].prompt_id, "2");
        assert_eq!(tasks[0].repeat, Some(2));
        assert!(tasks[0].source.is_none());

        let (tasks, skipped) = collect_tasks(dir.path(), &store, &[session], true).unwrap();
        assert_eq!(skipped, 0);
        assert_eq!(tasks.len(), 2);
    }
}
