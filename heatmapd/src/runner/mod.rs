//! Scheduling jobs and their work items onto inference servers.
//!
//! One job runs at a time, in submission order; a paused job keeps its
//! place. Within a job, Crunch Mode runs one lane per model in parallel,
//! otherwise the models run one after another. `parallel` caps the requests
//! in flight per server URL across all lanes.

mod execute;
pub mod progress;
pub mod session;
mod submit;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use heatmap_proto::{
    AggregateReport, ErrorKind, JobDetail, JobId, JobState, JobSummary, ModelInfo, SessionRef,
};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::backend::RetryPolicy;
use crate::config::Workspace;
use crate::store::{JobRow, Store, StoreError};
use progress::Progress;

pub use progress::{Transition, Update};

/// An error to report to a client, with its category.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// Category, mapped to the client's exit code.
    pub kind: ErrorKind,
    /// Message naming what failed and what to do next.
    pub message: String,
}

impl ApiError {
    /// Builds an error of the given kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: message.into(),
        }
    }
    /// An invalid request.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::InvalidRequest, message)
    }
    /// An unknown job.
    pub fn job_not_found(id: JobId) -> ApiError {
        ApiError::new(
            ErrorKind::NotFound,
            format!("job {id} not found; run 'heatmapctl list' to see the jobs"),
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        ApiError::new(ErrorKind::Internal, err.to_string())
    }
}

/// Returns the items ended per second between a job's first start and its end,
/// or 0 when the job has not ended. A job paused or stopped in between
/// counts its idle time too, so this is a lower bound of its working rate.
fn average_rate(job: &JobRow, summary: &JobSummary) -> f64 {
    let parse = |text: &Option<String>| {
        text.as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    };
    let (Some(start), Some(end)) = (parse(&job.started_at), parse(&job.finished_at)) else {
        return 0.0;
    };
    let seconds = (end - start).num_milliseconds() as f64 / 1000.0;
    let ended = (summary.counts.done + summary.counts.failed) as f64;
    if seconds > 0.0 { ended / seconds } else { 0.0 }
}

/// Result of following a job.
pub enum Following {
    /// Updates of a job that has not ended.
    Live(tokio::sync::broadcast::Receiver<Update>),
    /// The final summary and snapshot of a job that has ended.
    Ended(Box<JobSummary>, Option<Box<AggregateReport>>),
}

/// Control of the job that is running now.
struct ActiveJob {
    id: JobId,
    cancel: CancellationToken,
    paused: watch::Sender<bool>,
    progress: Arc<Progress>,
}

struct Inner {
    workspace: Workspace,
    store: Store,
    retry: RetryPolicy,
    active: Mutex<Option<Arc<ActiveJob>>>,
    reports: Mutex<HashMap<JobId, AggregateReport>>,
    wake: Notify,
    shutdown: CancellationToken,
}

/// The scheduler and the operations clients request on jobs.
#[derive(Clone)]
pub struct Runner {
    inner: Arc<Inner>,
}

impl Runner {
    /// Builds a runner; call [`Runner::run`] to start scheduling.
    pub fn new(
        workspace: Workspace,
        store: Store,
        retry: RetryPolicy,
        shutdown: CancellationToken,
    ) -> Runner {
        Runner {
            inner: Arc::new(Inner {
                workspace,
                store,
                retry,
                active: Mutex::new(None),
                reports: Mutex::new(HashMap::new()),
                wake: Notify::new(),
                shutdown,
            }),
        }
    }

    /// The workspace.
    pub fn workspace(&self) -> &Workspace {
        &self.inner.workspace
    }

    /// The queue.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    fn active(&self) -> Option<Arc<ActiveJob>> {
        self.inner
            .active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn active_for(&self, id: JobId) -> Option<Arc<ActiveJob>> {
        self.active().filter(|a| a.id == id)
    }

    /// Runs jobs until shutdown: the next unfinished job in id order, then waits for more.
    pub async fn run(&self) {
        tracing::info!("scheduler started");
        loop {
            if self.inner.shutdown.is_cancelled() {
                break;
            }
            let next = match self.next_job() {
                Ok(next) => next,
                Err(err) => {
                    tracing::error!(error = %err, "cannot read the queue; retrying in 5 s");
                    tokio::select! {
                        _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => continue,
                        _ = self.inner.shutdown.cancelled() => break,
                    }
                }
            };
            match next {
                Some(job) => self.run_job(job).await,
                None => {
                    tokio::select! {
                        _ = self.inner.wake.notified() => {}
                        _ = self.inner.shutdown.cancelled() => break,
                    }
                }
            }
        }
        tracing::info!("scheduler stopped");
    }

    fn next_job(&self) -> Result<Option<JobRow>, StoreError> {
        let jobs = self.inner.store.jobs()?;
        Ok(jobs.into_iter().rev().find(|job| !job.state.is_final()))
    }

    /// Builds the summary of a stored job, with live counts when it is running.
    pub fn summary(&self, job: &JobRow) -> Result<JobSummary, ApiError> {
        let (counts, per_model) = match self.active_for(job.id) {
            Some(active) => {
                let snapshot = active.progress.snapshot();
                (snapshot.counts, snapshot.per_model)
            }
            None => self.inner.store.job_counts(job.id, &job.spec.models)?,
        };
        Ok(JobSummary {
            id: job.id,
            state: job.state,
            backend: job.spec.backend,
            urls: job.spec.urls.clone(),
            models: job.spec.models.clone(),
            temperatures: job.temperatures.clone(),
            prompts: job.prompts.len() as u64,
            grade: job.spec.grade.clone(),
            crunch: job.spec.crunch,
            created_at: job.created_at.clone(),
            finished_at: job.finished_at.clone(),
            sessions: job
                .sessions
                .iter()
                .map(|s| SessionRef {
                    model: s.model.clone(),
                    path: s.relative(),
                })
                .collect(),
            counts,
            per_model,
            error: job.error.clone(),
        })
    }

    fn load(&self, id: JobId) -> Result<JobRow, ApiError> {
        self.inner
            .store
            .job(id)?
            .ok_or_else(|| ApiError::job_not_found(id))
    }

    /// Lists every job, newest first.
    pub fn list(&self) -> Result<Vec<JobSummary>, ApiError> {
        self.inner
            .store
            .jobs()?
            .iter()
            .map(|job| self.summary(job))
            .collect()
    }

    /// Returns one job with its most recent failures.
    pub fn detail(&self, id: JobId) -> Result<JobDetail, ApiError> {
        let job = self.load(id)?;
        let summary = self.summary(&job)?;
        let failures = self.inner.store.failures(id, 100)?;
        let rate = match self.active_for(id) {
            Some(active) => active.progress.snapshot().rate,
            None => average_rate(&job, &summary),
        };
        Ok(JobDetail {
            summary,
            failures,
            rate,
        })
    }

    /// Subscribes to a job's updates, or returns its end when it has already ended.
    pub fn follow(&self, id: JobId) -> Result<Following, ApiError> {
        if let Some(active) = self.active_for(id) {
            // Subscribe before looking for the final update, so one sent in between is not missed.
            let receiver = active.progress.subscribe();
            return Ok(match active.progress.ended() {
                Some(Update::Ended { summary, heatmap }) => Following::Ended(summary, heatmap),
                _ => Following::Live(receiver),
            });
        }
        let job = self.load(id)?;
        if job.state.is_final() {
            // Not active and final: the job ended in full, its report included.
            let summary = Box::new(self.summary(&job)?);
            return Ok(Following::Ended(summary, self.report(id).map(Box::new)));
        }
        // Queued behind another job: wait until it becomes active.
        Ok(Following::Live(self.wait_subscription(id)))
    }

    /// Returns a receiver that starts forwarding once the job becomes active.
    fn wait_subscription(&self, id: JobId) -> tokio::sync::broadcast::Receiver<Update> {
        let (tx, rx) = tokio::sync::broadcast::channel(1024);
        let runner = self.clone();
        tokio::spawn(async move {
            loop {
                if let Some(active) = runner.active_for(id) {
                    let mut inner_rx = active.progress.subscribe();
                    let ended = active.progress.ended();
                    let snapshot = active.progress.snapshot();
                    // Holding the job's Arc would keep its channel open after the job ends.
                    drop(active);
                    if let Some(update) = ended {
                        let _ = tx.send(update);
                        return;
                    }
                    let _ = tx.send(Update::Event(heatmap_proto::Event::Progress(snapshot)));
                    while let Ok(update) = inner_rx.recv().await {
                        let ended = matches!(update, Update::Ended { .. });
                        if tx.send(update).is_err() || ended {
                            return;
                        }
                    }
                    return;
                }
                match runner.inner.store.job(id) {
                    Ok(Some(job)) if job.state.is_final() => {
                        // The job ran and ended between two polls: send what it left.
                        if let Ok(summary) = runner.summary(&job) {
                            let heatmap = runner.report(id).map(Box::new);
                            let _ = tx.send(Update::Ended {
                                summary: Box::new(summary),
                                heatmap,
                            });
                        }
                        return;
                    }
                    Ok(Some(_)) => {}
                    _ => return,
                }
                if tx.receiver_count() == 0 {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        });
        rx
    }

    /// Cancels a job: requests in flight are aborted and finished items kept.
    pub fn cancel(&self, id: JobId) -> Result<(), ApiError> {
        let job = self.load(id)?;
        if job.state.is_final() {
            return Err(ApiError::invalid(format!(
                "job {id} is already {}",
                job.state
            )));
        }
        self.inner
            .store
            .set_job_state(id, JobState::Cancelled, None)?;
        if let Some(active) = self.active_for(id) {
            active.cancel.cancel();
        }
        tracing::info!(job = id, "job cancelled");
        self.inner.wake.notify_one();
        Ok(())
    }

    /// Pauses a job: no new items are handed out until it is resumed.
    pub fn pause(&self, id: JobId) -> Result<(), ApiError> {
        let job = self.load(id)?;
        if job.state.is_final() {
            return Err(ApiError::invalid(format!(
                "job {id} is already {}",
                job.state
            )));
        }
        self.inner.store.set_job_state(id, JobState::Paused, None)?;
        if let Some(active) = self.active_for(id) {
            active.paused.send_replace(true);
            active.progress.set_state(JobState::Paused);
        }
        tracing::info!(job = id, "job paused");
        Ok(())
    }

    /// Resumes a paused or cancelled job, or retries the failed items of an ended one.
    pub fn resume(&self, id: JobId) -> Result<String, ApiError> {
        let job = self.load(id)?;
        let message = match job.state {
            JobState::Paused => {
                let state = if self.active_for(id).is_some() {
                    JobState::Running
                } else {
                    JobState::Queued
                };
                self.inner.store.set_job_state(id, state, None)?;
                if let Some(active) = self.active_for(id) {
                    active.paused.send_replace(false);
                    active.progress.set_state(JobState::Running);
                }
                format!("job {id} resumed")
            }
            JobState::Cancelled | JobState::Completed | JobState::Failed => {
                let retried = self.inner.store.retry_failed(id)?;
                let pending = self
                    .inner
                    .store
                    .count_items(id, crate::store::ItemState::Pending)?;
                if pending == 0 {
                    return Err(ApiError::invalid(format!(
                        "job {id} has no unfinished items to resume"
                    )));
                }
                self.inner.store.set_job_state(id, JobState::Queued, None)?;
                format!(
                    "job {id} queued again with {pending} items ({retried} of them failed before)"
                )
            }
            JobState::Queued | JobState::Running => {
                return Err(ApiError::invalid(format!(
                    "job {id} is {}, not paused",
                    job.state
                )));
            }
        };
        tracing::info!(job = id, "job resumed");
        self.inner.wake.notify_one();
        Ok(message)
    }

    /// Lists the models of a server.
    pub async fn models(
        &self,
        kind: heatmap_proto::BackendKind,
        url: &str,
    ) -> Result<Vec<ModelInfo>, ApiError> {
        let client =
            crate::backend::Client::new(kind, url).map_err(|e| ApiError::invalid(e.to_string()))?;
        client
            .list_models()
            .await
            .map_err(|e| ApiError::new(ErrorKind::Backend, e.to_string()))
    }

    /// Returns the snapshot written for a job by this daemon, if any.
    fn report(&self, id: JobId) -> Option<AggregateReport> {
        self.inner
            .reports
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }

    /// Remembers the snapshot written for a job, for late followers.
    fn remember_report(&self, id: JobId, report: AggregateReport) {
        self.inner
            .reports
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, report);
    }

    /// Counts jobs: (not final, all).
    pub fn job_counts(&self) -> Result<(u64, u64), ApiError> {
        let jobs = self.inner.store.jobs()?;
        Ok((
            jobs.iter().filter(|j| !j.state.is_final()).count() as u64,
            jobs.len() as u64,
        ))
    }
}

#[cfg(test)]
mod tests {
    use heatmap_proto::{BackendKind, Counts, GradeMode, JobSpec, PromptMode};

    use super::*;

    fn job(started_at: Option<&str>, finished_at: Option<&str>) -> JobRow {
        JobRow {
            id: 1,
            state: JobState::Completed,
            spec: JobSpec {
                backend: BackendKind::OpenAi,
                urls: vec!["http://127.0.0.1:1".into()],
                models: vec!["m".into()],
                temperatures: None,
                question_range: None,
                repeats: 1,
                seed: None,
                max_tokens: None,
                parallel: 0,
                crunch: false,
                mode: PromptMode::Chat,
                template: None,
                template_name: None,
                stop: vec![],
                grade: GradeMode::Exact,
                think: None,
                canary: false,
                force: false,
            },
            temperatures: vec![0.0],
            prompts: vec![],
            prompts_hash: String::new(),
            sessions: vec![],
            created_at: "2026-12-04T10:00:00.000Z".into(),
            started_at: started_at.map(str::to_string),
            finished_at: finished_at.map(str::to_string),
            error: None,
        }
    }

    fn summary(done: u64, failed: u64) -> JobSummary {
        JobSummary {
            id: 1,
            state: JobState::Completed,
            backend: BackendKind::OpenAi,
            urls: vec![],
            models: vec![],
            temperatures: vec![],
            prompts: 0,
            grade: GradeMode::Exact,
            crunch: false,
            created_at: String::new(),
            finished_at: None,
            sessions: vec![],
            counts: Counts {
                total: done + failed,
                done,
                failed,
                running: 0,
                pending: 0,
            },
            per_model: vec![],
            error: None,
        }
    }

    #[test]
    fn ended_job_rate_from_times() {
        let row = job(
            Some("2026-12-04T10:00:00.000Z"),
            Some("2026-12-04T10:00:04.000Z"),
        );
        assert_eq!(average_rate(&row, &summary(18, 2)), 5.0);
    }

    #[test]
    fn unended_job_rate_is_zero() {
        let row = job(Some("2026-12-04T10:00:00.000Z"), None);
        assert_eq!(average_rate(&row, &summary(18, 2)), 0.0);
        let row = job(None, None);
        assert_eq!(average_rate(&row, &summary(0, 0)), 0.0);
    }
}
