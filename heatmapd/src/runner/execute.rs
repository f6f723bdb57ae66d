//! Running one job: lanes of workers per model, one item at a time per worker.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use heatmap_proto::{Event, GradeMode, ItemFailure, JobState};
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::progress::{Progress, Transition, Update};
use super::session::{create_sessions, session_dir, write_session_json};
use super::{ActiveJob, Runner};
use crate::aggregate;
use crate::backend::{BackendError, Client, GenerateRequest, Generation, generate_with_retry};
use crate::grade::{self, GradeRecord};
use crate::layout::{self, write_atomic};
use crate::prompts::Prompt;
use crate::store::{ItemOutcome, ItemRow, JobRow, SessionInfo};

/// State shared by every worker of a job.
struct JobContext {
    job: JobRow,
    output: PathBuf,
    root: PathBuf,
    sessions: Vec<SessionInfo>,
    clients: Vec<Client>,
    slots: Vec<Arc<Semaphore>>,
    progress: Arc<Progress>,
    cancel: CancellationToken,
    paused: watch::Receiver<bool>,
    evaluator_prompt: String,
}

impl Runner {
    /// Runs a job until its items are all ended, it is cancelled, or the daemon stops.
    pub(super) async fn run_job(&self, job: JobRow) {
        let span = tracing::info_span!("job", job = job.id);
        self.run_job_inner(job).instrument(span).await;
    }

    async fn run_job_inner(&self, mut job: JobRow) {
        let id = job.id;
        let store = self.store().clone();
        let output = self.workspace().output();
        let start_paused = job.state == JobState::Paused;
        if !start_paused && let Err(err) = store.set_job_state(id, JobState::Running, None) {
            tracing::error!(error = %err, "cannot mark the job running");
            return;
        }
        job.state = if start_paused {
            JobState::Paused
        } else {
            JobState::Running
        };

        if job.sessions.is_empty() {
            let stamp = chrono::Local::now().format("%Y%m%d_%H%M%S").to_string();
            match create_sessions(&output, &job.spec.models, &stamp) {
                Ok(sessions) => {
                    if let Err(err) = store.set_job_sessions(id, &sessions) {
                        tracing::error!(error = %err, "cannot record the session folders");
                        return;
                    }
                    job.sessions = sessions;
                    job.started_at = Some(crate::store::now_rfc3339());
                }
                Err(err) => {
                    self.fail_job(
                        id,
                        &format!(
                            "cannot create session folders under {}: {err}",
                            output.display()
                        ),
                    );
                    return;
                }
            }
        }
        for session in &job.sessions {
            if let Err(err) = write_session_json(&output, &job, session, None) {
                tracing::warn!(error = %err, model = %session.model, "cannot write session.json");
            }
        }

        let mut clients = Vec::new();
        for url in &job.spec.urls {
            match Client::new(job.spec.backend, url) {
                Ok(client) => clients.push(client),
                Err(err) => {
                    self.fail_job(id, &err.to_string());
                    return;
                }
            }
        }
        let per_url = effective_parallel(job.spec.parallel, job.spec.crunch, job.spec.models.len());
        let slots = clients
            .iter()
            .map(|_| Arc::new(Semaphore::new(per_url)))
            .collect();

        let (counts, per_model) = match store.job_counts(id, &job.spec.models) {
            Ok(counts) => counts,
            Err(err) => {
                tracing::error!(error = %err, "cannot count the job's items");
                return;
            }
        };
        let progress = Arc::new(Progress::new(id, job.state, counts, per_model));
        let cancel = self.inner.shutdown.child_token();
        let (paused_tx, paused_rx) = watch::channel(start_paused);
        let active = Arc::new(ActiveJob {
            id,
            cancel: cancel.clone(),
            paused: paused_tx,
            progress: progress.clone(),
        });
        *self.inner.active.lock().unwrap_or_else(|p| p.into_inner()) = Some(active);

        let pending = match store.pending_items(id) {
            Ok(items) => items,
            Err(err) => {
                tracing::error!(error = %err, "cannot load the job's items");
                *self.inner.active.lock().unwrap_or_else(|p| p.into_inner()) = None;
                return;
            }
        };
        tracing::info!(
            pending = pending.len(),
            models = job.spec.models.len(),
            parallel = per_url,
            crunch = job.spec.crunch,
            "job started"
        );
        progress.flush();

        let evaluator_prompt = match job.spec.grade {
            GradeMode::Judge { .. } => {
                grade::judge::load_instructions(&self.workspace().evaluator_prompt())
            }
            _ => String::new(),
        };
        let context = Arc::new(JobContext {
            root: self.workspace().root.clone(),
            output: output.clone(),
            sessions: job.sessions.clone(),
            clients,
            slots,
            progress: progress.clone(),
            cancel: cancel.clone(),
            paused: paused_rx,
            evaluator_prompt,
            job,
        });

        let lanes = build_lanes(&context.job.spec.models, pending);
        if context.job.spec.crunch {
            // Each lane gets its share of every server's slots, so one model's workers
            // cannot hold all the slots and leave the other lanes waiting.
            let workers = lane_workers(per_url, lanes.len());
            let mut tasks = Vec::new();
            for lane in lanes {
                tasks.push(tokio::spawn(run_lane(
                    self.clone(),
                    context.clone(),
                    lane,
                    workers,
                )));
            }
            for task in tasks {
                let _ = task.await;
            }
        } else {
            for lane in lanes {
                run_lane(self.clone(), context.clone(), lane, per_url).await;
                if cancel.is_cancelled() {
                    break;
                }
            }
        }

        self.finish_job(&context).await;
        *self.inner.active.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn fail_job(&self, id: heatmap_proto::JobId, message: &str) {
        tracing::error!(job = id, error = message, "job failed");
        if let Err(err) = self
            .store()
            .set_job_state(id, JobState::Failed, Some(message))
        {
            tracing::error!(job = id, error = %err, "cannot mark the job failed");
        }
    }

    async fn finish_job(&self, context: &JobContext) {
        let id = context.job.id;
        let store = self.store();
        if self.inner.shutdown.is_cancelled() {
            tracing::info!("job interrupted by shutdown; it resumes on the next start");
            return;
        }
        let state = match store.job(id) {
            Ok(Some(row)) => row.state,
            _ => JobState::Running,
        };
        let final_state = if state == JobState::Cancelled {
            JobState::Cancelled
        } else {
            JobState::Completed
        };
        if final_state == JobState::Completed
            && let Err(err) = store.set_job_state(id, JobState::Completed, None)
        {
            tracing::error!(error = %err, "cannot mark the job completed");
        }
        let ended = crate::store::now_rfc3339();
        let row = match store.job(id) {
            Ok(Some(row)) => row,
            _ => context.job.clone(),
        };
        for session in &context.sessions {
            if let Err(err) = write_session_json(&context.output, &row, session, Some(&ended)) {
                tracing::warn!(error = %err, model = %session.model, "cannot write session.json");
            }
        }
        let mut heatmap = None;
        if final_state == JobState::Completed && context.job.spec.grade != GradeMode::None {
            context.progress.send(Update::Event(Event::Message(
                "aggregating the job's grades".into(),
            )));
            let output = context.output.clone();
            let scope =
                aggregate::Scope::Sessions(context.sessions.iter().map(|s| s.relative()).collect());
            match tokio::task::spawn_blocking(move || aggregate::snapshot(&output, &scope)).await {
                Ok(Ok(report)) => {
                    tracing::info!(heatmap = %report.heatmap_csv, graded = report.graded, "job snapshot written");
                    self.remember_report(id, report.clone());
                    heatmap = Some(Box::new(report));
                }
                Ok(Err(err)) => tracing::error!(error = %err, "cannot aggregate the job's grades"),
                Err(err) => tracing::error!(error = %err, "aggregation panicked"),
            }
        }
        context.progress.set_state(final_state);
        match self.summary(&row) {
            Ok(summary) => {
                tracing::info!(state = %final_state, done = summary.counts.done, failed = summary.counts.failed, "job ended");
                context.progress.end(Update::Ended {
                    summary: Box::new(summary),
                    heatmap,
                });
            }
            Err(err) => tracing::error!(error = %err, "cannot summarize the job"),
        }
    }
}

/// Workers per server URL for each of `lanes` parallel lanes sharing `per_url` slots.
fn lane_workers(per_url: usize, lanes: usize) -> usize {
    per_url.div_ceil(lanes.max(1)).max(1)
}

/// Requests in flight per server URL: the job's setting, or automatic when 0
/// (one per model in Crunch Mode, else one).
fn effective_parallel(parallel: u32, crunch: bool, models: usize) -> usize {
    match parallel {
        0 if crunch => models.max(1),
        0 => 1,
        n => n as usize,
    }
}

struct Lane {
    model_index: usize,
    items: Mutex<VecDeque<ItemRow>>,
}

fn build_lanes(models: &[String], pending: Vec<ItemRow>) -> Vec<Arc<Lane>> {
    let lanes: Vec<Arc<Lane>> = (0..models.len())
        .map(|i| {
            Arc::new(Lane {
                model_index: i,
                items: Mutex::new(VecDeque::new()),
            })
        })
        .collect();
    for item in pending {
        if let Some(i) = models.iter().position(|m| *m == item.model) {
            lanes[i]
                .items
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push_back(item);
        }
    }
    lanes
        .into_iter()
        .filter(|l| !l.items.lock().unwrap_or_else(|p| p.into_inner()).is_empty())
        .collect()
}

async fn run_lane(
    runner: Runner,
    context: Arc<JobContext>,
    lane: Arc<Lane>,
    workers_per_url: usize,
) {
    let model = context.job.spec.models[lane.model_index].clone();
    let span = tracing::info_span!("lane", model = %model);
    let mut workers = Vec::new();
    for w in 0..workers_per_url * context.clients.len() {
        let url_index = w % context.clients.len();
        workers.push(tokio::spawn(
            worker(runner.clone(), context.clone(), lane.clone(), url_index)
                .instrument(span.clone()),
        ));
    }
    for worker in workers {
        let _ = worker.await;
    }
}

async fn worker(runner: Runner, context: Arc<JobContext>, lane: Arc<Lane>, url_index: usize) {
    let mut paused = context.paused.clone();
    loop {
        if context.cancel.is_cancelled() {
            return;
        }
        while *paused.borrow() {
            tokio::select! {
                changed = paused.changed() => if changed.is_err() { return },
                _ = context.cancel.cancelled() => return,
            }
        }
        let permit = tokio::select! {
            permit = context.slots[url_index].clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => return },
            _ = context.cancel.cancelled() => return,
        };
        if *paused.borrow() {
            drop(permit);
            continue;
        }
        let Some(item) = lane
            .items
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
        else {
            return;
        };
        let model = item.model.clone();
        context.progress.record(&model, Transition::Started);
        let span = tracing::debug_span!("item", item = item.id, temp = item.temperature, prompt = %item.prompt_id, repeat = item.repeat);
        let returned = process_item(&runner, &context, &lane, item, url_index)
            .instrument(span)
            .await;
        drop(permit);
        if returned {
            return;
        }
    }
}

/// Sends one item and records its outcome. Returns true when the item was
/// put back because the job was cancelled or the daemon is stopping.
async fn process_item(
    runner: &Runner,
    context: &JobContext,
    lane: &Lane,
    item: ItemRow,
    url_index: usize,
) -> bool {
    let spec = &context.job.spec;
    let client = &context.clients[url_index];
    let prompt = &context.job.prompts[item.prompt_index as usize];
    let text = match &spec.template {
        Some(template) => template.replace("{prompt}", &prompt.prompt),
        None => prompt.prompt.clone(),
    };
    let request = GenerateRequest {
        model: item.model.clone(),
        prompt: text,
        mode: spec.mode,
        temperature: item.temperature,
        seed: item.seed,
        max_tokens: spec.max_tokens,
        stop: spec.stop.clone(),
        json_output: false,
        json_schema: None,
        think: spec.think,
    };
    let progress = context.progress.clone();
    let model = item.model.clone();
    let outcome = generate_with_retry(
        client,
        &request,
        &runner.inner.retry,
        &context.cancel,
        |retry| {
            let message = format!("attempt {} failed: {}", retry.attempt, retry.error);
            progress.send(Update::Event(Event::Retry {
                model: model.clone(),
                message,
            }));
        },
    )
    .await;
    let session = &context.sessions[lane.model_index];
    let attempts = outcome.attempts;
    let generation = match outcome.result {
        Ok(generation) => generation,
        Err(err) if is_interrupt(&err, context) => {
            context.progress.record(&item.model, Transition::Returned);
            return true;
        }
        Err(err) => {
            tracing::warn!(model = %item.model, temp = item.temperature, prompt = %item.prompt_id, attempts, error = %err, "item failed");
            let outcome = ItemOutcome::Failed {
                attempts,
                error: err.to_string(),
            };
            record_outcome(runner, context, &item, &outcome);
            context
                .progress
                .send(Update::Event(Event::ItemFailed(ItemFailure {
                    model: item.model.clone(),
                    temperature: item.temperature,
                    prompt_id: item.prompt_id.clone(),
                    repeat: item.repeat,
                    attempts,
                    error: err.to_string(),
                })));
            return false;
        }
    };
    let outcome = match save_answer(
        context,
        session,
        &item,
        prompt,
        &generation,
        attempts,
        client,
    )
    .await
    {
        Ok(outcome) => outcome,
        Err(err) => {
            tracing::error!(model = %item.model, prompt = %item.prompt_id, error = %err, "cannot save the answer");
            ItemOutcome::Failed {
                attempts,
                error: format!("cannot save the answer: {err}"),
            }
        }
    };
    if context.cancel.is_cancelled() && !matches!(outcome, ItemOutcome::Done { .. }) {
        context.progress.record(&item.model, Transition::Returned);
        return true;
    }
    record_outcome(runner, context, &item, &outcome);
    false
}

fn is_interrupt(err: &BackendError, context: &JobContext) -> bool {
    err.is_cancelled() || context.cancel.is_cancelled()
}

fn record_outcome(runner: &Runner, context: &JobContext, item: &ItemRow, outcome: &ItemOutcome) {
    if let Err(err) = runner.store().finish_item(item.id, outcome) {
        tracing::error!(item = item.id, error = %err, "cannot record the item's outcome");
    }
    let transition = match outcome {
        ItemOutcome::Done { .. } => Transition::Done,
        ItemOutcome::Failed { .. } => Transition::Failed,
    };
    context.progress.record(&item.model, transition);
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// Writes the answer (and thinking) files, grades the answer and builds the outcome.
async fn save_answer(
    context: &JobContext,
    session: &SessionInfo,
    item: &ItemRow,
    prompt: &Prompt,
    generation: &Generation,
    attempts: u32,
    client: &Client,
) -> std::io::Result<ItemOutcome> {
    // A leading <think> block is reasoning: it goes to the thinking file and is never graded.
    let generation = &grade::thinking::strip_generation(generation);
    let spec = &context.job.spec;
    let dir = session_dir(&context.output, session);
    let stem = layout::answer_stem(
        &session.model_dir,
        item.temperature,
        &item.prompt_id,
        item.repeat,
        spec.repeats,
    );
    let answer_path = dir.join(format!("{stem}.txt"));
    write_atomic(&answer_path, generation.text.as_bytes())?;
    let thinking_path = match generation
        .thinking
        .as_deref()
        .filter(|t| !t.trim().is_empty())
    {
        Some(thinking) => {
            let path = dir.join(format!("{stem}.thinking.txt"));
            write_atomic(&path, thinking.as_bytes())?;
            Some(relative(&context.root, &path))
        }
        None => None,
    };

    let (grade_path, accuracy, grade_error) =
        match grade_answer(context, session, item, prompt, generation, client).await {
            Some(Ok(record)) => {
                let path = layout::grade_path(&answer_path);
                write_atomic(&path, &record.to_json())?;
                (Some(relative(&context.root, &path)), record.accuracy, None)
            }
            Some(Err(message)) => (None, None, Some(message)),
            None => (None, None, None),
        };
    let durations = &generation.server_durations;
    let server_ms = durations
        .total
        .or_else(|| Some(durations.prompt_eval? + durations.eval?))
        .map(|d| d.as_secs_f64() * 1000.0);
    Ok(ItemOutcome::Done {
        attempts,
        answer_path: relative(&context.root, &answer_path),
        sent: generation.sent.to_string(),
        finish_reason: generation.finish_reason.clone(),
        prompt_tokens: generation.prompt_tokens,
        completion_tokens: generation.completion_tokens,
        latency_ms: generation.latency.as_secs_f64() * 1000.0,
        server_ms,
        thinking_path,
        grade_path,
        accuracy,
        grade_error,
    })
}

/// Grades one answer as the job asks; `None` when the job does not grade.
async fn grade_answer(
    context: &JobContext,
    session: &SessionInfo,
    item: &ItemRow,
    prompt: &Prompt,
    generation: &Generation,
    client: &Client,
) -> Option<Result<GradeRecord, String>> {
    let spec = &context.job.spec;
    let mut record = GradeRecord {
        model: item.model.clone(),
        temperature: item.temperature,
        prompt_id: item.prompt_id.clone(),
        session: session.session.clone(),
        repeat: (spec.repeats > 1).then_some(item.repeat + 1),
        grader: spec.grade.to_string(),
        accuracy: None,
        correct: None,
        category: prompt.category.clone(),
        justification: None,
        expected: prompt.expected.clone(),
        judge_temperature: None,
        judge_raw: None,
        ..GradeRecord::default()
    };
    record.set_measurements(generation, item.seed);
    if spec.grade != GradeMode::None && grade::thinking::is_no_answer(generation) {
        record.mark_no_answer();
        return Some(Ok(record));
    }
    let matcher = match &spec.grade {
        GradeMode::None => return None,
        GradeMode::Exact => grade::matching::exact,
        GradeMode::Contains => grade::matching::contains,
        GradeMode::Judge { model } => {
            let verdict = grade::judge::judge(
                client,
                model,
                &context.evaluator_prompt,
                &prompt.prompt,
                prompt.expected.as_deref(),
                &generation.text,
                &context.cancel,
            )
            .await;
            return Some(verdict.map(|v| v.fill(record)).map_err(|e| e.to_string()));
        }
    };
    let Some(expected) = prompt.expected.as_deref() else {
        record.justification =
            Some("the prompt has no expected answer, so the answer is unscored".into());
        return Some(Ok(record));
    };
    let result = matcher(&generation.text, expected);
    record.accuracy = Some(if result.correct { 1.0 } else { 0.0 });
    record.correct = Some(result.correct);
    record.justification = Some(result.justification);
    Some(Ok(record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_defaults() {
        assert_eq!(effective_parallel(0, false, 3), 1);
        assert_eq!(effective_parallel(0, true, 3), 3);
        assert_eq!(effective_parallel(4, true, 3), 4);
    }

    #[test]
    fn lanes_share_slots() {
        assert_eq!(lane_workers(2, 2), 1);
        assert_eq!(lane_workers(8, 3), 3);
        assert_eq!(lane_workers(1, 4), 1);
        assert_eq!(lane_workers(4, 1), 4);
    }
}
