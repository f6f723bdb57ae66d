//! Domain types shared by the daemon and its clients: job specs, job state,
//! progress, heatmap tables and model listings.

use serde::{Deserialize, Serialize};

/// Identifier of a job in the daemon's queue.
pub type JobId = i64;

/// Kind of inference server API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackendKind {
    /// Ollama's native API (`/api/generate`, `/api/tags`).
    Ollama,
    /// An OpenAI-compatible API (`/v1/chat/completions`, `/v1/completions`, `/v1/models`).
    OpenAi,
}

impl BackendKind {
    /// Returns the name used on the command line and in `session.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Ollama => "ollama",
            BackendKind::OpenAi => "openai",
        }
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Form in which a prompt is sent to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PromptMode {
    /// A chat request with the prompt as the user message.
    Chat,
    /// A raw completion of the template with the prompt filled in, for base models.
    Completion,
}

/// How answers are graded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GradeMode {
    /// No grading; other tools may grade the answer files.
    None,
    /// The first non-empty line must equal an accepted answer.
    Exact,
    /// An accepted answer must appear as a whole word anywhere in the answer.
    Contains,
    /// An evaluator model judges each answer.
    Judge {
        /// Name of the evaluator model on the same server.
        model: String,
    },
}

impl std::fmt::Display for GradeMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GradeMode::None => f.write_str("none"),
            GradeMode::Exact => f.write_str("exact"),
            GradeMode::Contains => f.write_str("contains"),
            GradeMode::Judge { model } => write!(f, "judge:{model}"),
        }
    }
}

/// Everything a client specifies when it submits a job.
///
/// Paths are resolved by the client: the template travels as text, so the
/// daemon never reads files named by a client outside its workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    /// API kind of the servers.
    pub backend: BackendKind,
    /// Base URLs of the servers; work is spread across them.
    pub urls: Vec<String>,
    /// Model names as the server lists them.
    pub models: Vec<String>,
    /// Temperatures to sample; `None` takes the axis from `settings.json`.
    pub temperatures: Option<Vec<f64>>,
    /// 1-based inclusive range of prompts; `None` takes `question_range` from `settings.json`.
    pub question_range: Option<QuestionRange>,
    /// Samples per (model, temperature, prompt) cell.
    pub repeats: u32,
    /// Base seed; repeat `k` uses `seed + k`.
    pub seed: Option<u64>,
    /// Maximum number of tokens generated per answer.
    pub max_tokens: Option<u32>,
    /// Requests in flight per server URL; 0 lets the daemon choose (one, or
    /// one per model in Crunch Mode).
    pub parallel: u32,
    /// Runs one lane per model in parallel (Crunch Mode).
    pub crunch: bool,
    /// Chat or raw completion.
    pub mode: PromptMode,
    /// Template text with a `{prompt}` placeholder, if any.
    pub template: Option<String>,
    /// Path of the template as the client gave it, for the record.
    pub template_name: Option<String>,
    /// Stop sequences.
    pub stop: Vec<String>,
    /// How answers are graded.
    pub grade: GradeMode,
    /// Ollama's top-level `think` switch for thinking models; `None` leaves the server's default.
    #[serde(default)]
    pub think: Option<bool>,
    /// Runs a temperature canary per model first and rejects the job when the server ignores temperature.
    #[serde(default)]
    pub canary: bool,
    /// Skips the memory check of Crunch Mode.
    #[serde(default)]
    pub force: bool,
}

/// A 1-based inclusive range of prompts; `end: None` means to the last prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuestionRange {
    /// First prompt, counting from 1.
    pub start: u32,
    /// Last prompt, inclusive, or `None` for the last one.
    pub end: Option<u32>,
}

/// Lifecycle state of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobState {
    /// Waiting for the scheduler.
    Queued,
    /// Items are being sent.
    Running,
    /// No new items are handed out until resumed.
    Paused,
    /// Every item ended (answered or failed).
    Completed,
    /// Stopped by a client; finished items are kept.
    Cancelled,
    /// The job could not run at all.
    Failed,
}

impl JobState {
    /// Returns the lowercase name stored in the queue and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Paused => "paused",
            JobState::Completed => "completed",
            JobState::Cancelled => "cancelled",
            JobState::Failed => "failed",
        }
    }

    /// Parses a name written by [`JobState::as_str`].
    pub fn parse(name: &str) -> Option<JobState> {
        Some(match name {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "paused" => JobState::Paused,
            "completed" => JobState::Completed,
            "cancelled" => JobState::Cancelled,
            "failed" => JobState::Failed,
            _ => return None,
        })
    }

    /// Tells whether the job can no longer change.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Completed | JobState::Cancelled | JobState::Failed
        )
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Item counts of a job or of one model within it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// All items.
    pub total: u64,
    /// Items answered.
    pub done: u64,
    /// Items that failed after their retries.
    pub failed: u64,
    /// Items in flight.
    pub running: u64,
    /// Items waiting.
    pub pending: u64,
}

/// Progress of one model's items within a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelProgress {
    /// Model name.
    pub model: String,
    /// Item counts.
    pub counts: Counts,
}

/// A job as listed by `heatmapctl list` and `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSummary {
    /// Queue id.
    pub id: JobId,
    /// Current state.
    pub state: JobState,
    /// Backend kind.
    pub backend: BackendKind,
    /// Server URLs.
    pub urls: Vec<String>,
    /// Models, in submission order.
    pub models: Vec<String>,
    /// Temperatures of the grid.
    pub temperatures: Vec<f64>,
    /// Number of prompts in the job's snapshot range.
    pub prompts: u64,
    /// Grading mode.
    pub grade: GradeMode,
    /// Crunch Mode.
    pub crunch: bool,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Time the job reached a final state, RFC 3339.
    pub finished_at: Option<String>,
    /// Session folder name per model (`YYYYmmdd_HHMMSS`).
    pub sessions: Vec<SessionRef>,
    /// Counts over all items.
    pub counts: Counts,
    /// Counts per model.
    pub per_model: Vec<ModelProgress>,
    /// Reason the job failed, if it did.
    pub error: Option<String>,
}

/// The session folder of one model within a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRef {
    /// Real model name.
    pub model: String,
    /// Folder under `output/`, e.g. `gemma_3/20261204_101500`.
    pub path: String,
}

/// One failed item, as shown by `heatmapctl status JOB`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemFailure {
    /// Model name.
    pub model: String,
    /// Temperature.
    pub temperature: f64,
    /// Prompt id.
    pub prompt_id: String,
    /// Repeat index, from 0.
    pub repeat: u32,
    /// Attempts made.
    pub attempts: u32,
    /// Last error message.
    pub error: String,
}

/// A job with its failures, for `heatmapctl status JOB`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobDetail {
    /// The summary.
    pub summary: JobSummary,
    /// Failed items, at most 100.
    pub failures: Vec<ItemFailure>,
    /// Rate of answered items per second over the last minute.
    pub rate: f64,
}

/// Progress of a running job, streamed to followers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobProgress {
    /// Job id.
    pub job: JobId,
    /// State at the time of the event.
    pub state: JobState,
    /// Counts over all items.
    pub counts: Counts,
    /// Counts per model.
    pub per_model: Vec<ModelProgress>,
    /// Answered items per second over the last minute.
    pub rate: f64,
}

/// A model x temperature table of mean accuracies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeatmapTable {
    /// Temperatures, ascending.
    pub temperatures: Vec<f64>,
    /// One row per model.
    pub rows: Vec<HeatmapRow>,
}

/// One model's row of a [`HeatmapTable`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeatmapRow {
    /// Real model name.
    pub model: String,
    /// Mean accuracy per temperature; `None` where no grade falls in the cell.
    pub cells: Vec<Option<f64>>,
    /// Number of grades per temperature.
    pub counts: Vec<u64>,
}

/// Files and table written by one aggregation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AggregateReport {
    /// Short id in `csv_index.json`, if the heatmap was registered.
    pub id: Option<String>,
    /// Path of the heatmap CSV.
    pub heatmap_csv: String,
    /// Other files written (summaries, category heatmaps, pictures).
    pub files: Vec<String>,
    /// Grade files with a usable accuracy.
    pub graded: u64,
    /// Grade files parsed but without a usable accuracy.
    pub unscored: u64,
    /// Files that could not be parsed.
    pub invalid: u64,
    /// The table written.
    pub table: HeatmapTable,
}

/// Files written by `derive` for one heatmap id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeriveReport {
    /// The heatmap id.
    pub id: String,
    /// Paths of the files written.
    pub files: Vec<String>,
}

/// A model listed by a server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Model name as requests must spell it.
    pub name: String,
    /// Size on disk in bytes, when the server reports it.
    pub size: Option<u64>,
    /// Model family, when the server reports it.
    pub family: Option<String>,
    /// Quantization level, where the server says.
    pub quantization: Option<String>,
}

/// State of the daemon, for `heatmapctl status` without a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonStatus {
    /// Daemon version.
    pub version: String,
    /// Process id.
    pub pid: u32,
    /// Workspace root.
    pub root: String,
    /// Seconds since start.
    pub uptime_secs: u64,
    /// Jobs not in a final state.
    pub active_jobs: u64,
    /// Jobs in the queue database.
    pub total_jobs: u64,
    /// Whether the output watcher is running.
    pub watching: bool,
}

/// What `heatmapctl evaluate` grades, and with which judge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvaluateSpec {
    /// Session folders to grade (`model_dir/session` or bare `session`).
    pub sessions: Vec<String>,
    /// Grade every session under `output/`.
    pub all: bool,
    /// Evaluator model.
    pub judge: String,
    /// API kind of the judge's server.
    pub backend: BackendKind,
    /// Base URLs of the judge's servers.
    pub urls: Vec<String>,
    /// Replace existing grades too.
    pub regrade: bool,
    /// Judge requests in flight per server URL.
    pub parallel: u32,
}

/// What an evaluation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvaluateReport {
    /// Answers graded with a verdict.
    pub graded: u64,
    /// Answers skipped because they had a grade already.
    pub skipped: u64,
    /// Answers whose judge output had no usable verdict.
    pub unscored: u64,
    /// Answers whose judge requests failed.
    pub failed: u64,
}

/// Result of a temperature canary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanaryReport {
    /// Model tested.
    pub model: String,
    /// Low temperature (0).
    pub low_temperature: f64,
    /// High temperature.
    pub high_temperature: f64,
    /// Answers at the low temperature.
    pub low_answers: Vec<String>,
    /// Answers at the high temperature.
    pub high_answers: Vec<String>,
    /// Whether all low-temperature answers are the same.
    pub low_agree: bool,
    /// Whether the high-temperature answers are not all the same.
    pub high_differ: bool,
    /// The verdict: low agree and high differ.
    pub honours_temperature: bool,
    /// A sentence for the user.
    pub message: String,
}

/// Settings as shown by `heatmapctl settings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingsView {
    /// Path of `settings.json`.
    pub path: String,
    /// The file's JSON, pretty-printed (defaults when the file is missing).
    pub text: String,
    /// The temperature axis.
    pub temperatures: Vec<f64>,
    /// First prompt, from 1.
    pub question_start: u32,
    /// Last prompt, inclusive.
    pub question_end: Option<u32>,
    /// Fewest grades a heatmap cell needs to be filled.
    pub min_samples: u32,
}

/// Statistics of a workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsReport {
    /// Bytes under `output/`.
    pub output_bytes: u64,
    /// Answer files.
    pub answer_files: u64,
    /// Grade files.
    pub grade_files: u64,
    /// Other files.
    pub other_files: u64,
    /// Grades with an accuracy.
    pub scored: u64,
    /// Grades without a usable accuracy.
    pub unscored: u64,
    /// Files that could not be parsed.
    pub invalid: u64,
    /// Per model, from the queue.
    pub per_model: Vec<ModelStats>,
}

/// Timing of one model's answered items, from the queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelStats {
    /// Model name.
    pub model: String,
    /// Items answered.
    pub items: u64,
    /// Median wall time per item in milliseconds.
    pub median_item_ms: Option<f64>,
    /// Generated tokens per second of generation time.
    pub tokens_per_second: Option<f64>,
}

/// What `heatmapctl purge` deletes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeSpec {
    /// Models whose folders are removed.
    pub models: Vec<String>,
    /// With models: only these sessions.
    pub sessions: Vec<String>,
    /// Remove grade files only.
    pub grades: bool,
    /// Remove everything under `output/` except `Summaries/` (unless `summaries`).
    pub all: bool,
    /// Also remove `Summaries/`, `specifics/` and `graphs/`.
    pub summaries: bool,
    /// List what would be removed without removing it.
    pub dry_run: bool,
}

/// What a purge removed, or would remove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeReport {
    /// Nothing was removed.
    pub dry_run: bool,
    /// Files.
    pub files: u64,
    /// Folders.
    pub folders: u64,
    /// Bytes.
    pub bytes: u64,
    /// Paths, relative to the workspace, at most 50.
    pub paths: Vec<String>,
}

/// A heatmap table with where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeatmapView {
    /// Id in `csv_index.json`, or `live`.
    pub id: String,
    /// Path of the CSV.
    pub path: String,
    /// The table.
    pub table: HeatmapTable,
}
