//! Live counts of a running job and the stream of updates sent to followers.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use heatmap_proto::{
    AggregateReport, Counts, Event, JobId, JobProgress, JobState, JobSummary, ModelProgress,
};
use tokio::sync::broadcast;

/// How often progress events are sent at most, per job.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// Window over which the item rate is measured.
const RATE_WINDOW: Duration = Duration::from_secs(60);

/// One message to the followers of a job.
#[derive(Debug, Clone)]
pub enum Update {
    /// An event to pass on.
    Event(Event),
    /// The job ended; ends every follower's stream.
    Ended {
        /// Final summary.
        summary: Box<JobSummary>,
        /// The snapshot written for the job.
        heatmap: Option<Box<AggregateReport>>,
    },
}

/// How an item moved between counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Pending to running.
    Started,
    /// Running to done.
    Done,
    /// Running to failed.
    Failed,
    /// Running back to pending (cancel or shutdown).
    Returned,
}

struct State {
    state: JobState,
    total: Counts,
    per_model: Vec<ModelProgress>,
    finished_at: VecDeque<Instant>,
    last_sent: Option<Instant>,
}

/// Counts and update channel of one job.
pub struct Progress {
    job: JobId,
    state: Mutex<State>,
    sender: broadcast::Sender<Update>,
    /// The final update, kept for followers that subscribe after it was sent.
    ended: Mutex<Option<Update>>,
}

impl Progress {
    /// Starts from the counts stored in the queue.
    pub fn new(
        job: JobId,
        state: JobState,
        total: Counts,
        per_model: Vec<ModelProgress>,
    ) -> Progress {
        let (sender, _) = broadcast::channel(1024);
        Progress {
            job,
            state: Mutex::new(State {
                state,
                total,
                per_model,
                finished_at: VecDeque::new(),
                last_sent: None,
            }),
            sender,
            ended: Mutex::new(None),
        }
    }

    /// Sends the final update and keeps it for late followers.
    pub fn end(&self, update: Update) {
        *self.ended.lock().unwrap_or_else(|p| p.into_inner()) = Some(update.clone());
        self.send(update);
    }

    /// Returns the final update, once [`Progress::end`] has sent it.
    pub fn ended(&self) -> Option<Update> {
        self.ended.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Subscribes to updates.
    pub fn subscribe(&self) -> broadcast::Receiver<Update> {
        self.sender.subscribe()
    }

    /// Sends an update to every follower; having none is fine.
    pub fn send(&self, update: Update) {
        let _ = self.sender.send(update);
    }

    /// Records that one item of `model` moved, and sends progress when due.
    pub fn record(&self, model: &str, transition: Transition) {
        let snapshot = {
            let mut state = self.lock();
            let now = Instant::now();
            let entry = state.per_model.iter().position(|p| p.model == model);
            let apply = |counts: &mut Counts| match transition {
                Transition::Started => {
                    counts.pending = counts.pending.saturating_sub(1);
                    counts.running += 1;
                }
                Transition::Done => {
                    counts.running = counts.running.saturating_sub(1);
                    counts.done += 1;
                }
                Transition::Failed => {
                    counts.running = counts.running.saturating_sub(1);
                    counts.failed += 1;
                }
                Transition::Returned => {
                    counts.running = counts.running.saturating_sub(1);
                    counts.pending += 1;
                }
            };
            apply(&mut state.total);
            if let Some(i) = entry {
                apply(&mut state.per_model[i].counts);
            }
            if matches!(transition, Transition::Done | Transition::Failed) {
                state.finished_at.push_back(now);
            }
            let due = state
                .last_sent
                .is_none_or(|at| now.duration_since(at) >= PROGRESS_INTERVAL);
            if !due {
                return;
            }
            state.last_sent = Some(now);
            self.snapshot_locked(&mut state)
        };
        self.send(Update::Event(Event::Progress(snapshot)));
    }

    /// Sets the job state and sends progress at once.
    pub fn set_state(&self, job_state: JobState) {
        let snapshot = {
            let mut state = self.lock();
            state.state = job_state;
            self.snapshot_locked(&mut state)
        };
        self.send(Update::Event(Event::Progress(snapshot)));
    }

    /// Sends the current progress now, whatever the interval.
    pub fn flush(&self) {
        let snapshot = self.snapshot();
        self.send(Update::Event(Event::Progress(snapshot)));
    }

    /// Returns the current progress.
    pub fn snapshot(&self) -> JobProgress {
        let mut state = self.lock();
        self.snapshot_locked(&mut state)
    }

    fn snapshot_locked(&self, state: &mut State) -> JobProgress {
        let now = Instant::now();
        while state
            .finished_at
            .front()
            .is_some_and(|at| now.duration_since(*at) > RATE_WINDOW)
        {
            state.finished_at.pop_front();
        }
        let rate = match state.finished_at.front() {
            Some(first) if state.finished_at.len() > 1 => {
                let span = now.duration_since(*first).as_secs_f64().max(1.0);
                state.finished_at.len() as f64 / span
            }
            _ => 0.0,
        };
        JobProgress {
            job: self.job,
            state: state.state,
            counts: state.total.clone(),
            per_model: state.per_model.clone(),
            rate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress() -> Progress {
        let counts = Counts {
            total: 4,
            pending: 4,
            ..Counts::default()
        };
        let per_model = vec![
            ModelProgress {
                model: "a".into(),
                counts: Counts {
                    total: 2,
                    pending: 2,
                    ..Counts::default()
                },
            },
            ModelProgress {
                model: "b".into(),
                counts: Counts {
                    total: 2,
                    pending: 2,
                    ..Counts::default()
                },
            },
        ];
        Progress::new(1, JobState::Running, counts, per_model)
    }

    #[test]
    fn transitions_move_counts() {
        let progress = progress();
        progress.record("a", Transition::Started);
        progress.record("a", Transition::Done);
        progress.record("b", Transition::Started);
        progress.record("b", Transition::Failed);
        progress.record("b", Transition::Started);
        progress.record("b", Transition::Returned);
        let snapshot = progress.snapshot();
        assert_eq!(
            snapshot.counts,
            Counts {
                total: 4,
                done: 1,
                failed: 1,
                running: 0,
                pending: 2
            }
        );
        assert_eq!(snapshot.per_model[0].counts.done, 1);
        assert_eq!(snapshot.per_model[1].counts.failed, 1);
        assert_eq!(snapshot.per_model[1].counts.pending, 1);
    }

    #[tokio::test]
    async fn followers_receive_state_changes() {
        let progress = progress();
        let mut rx = progress.subscribe();
        progress.set_state(JobState::Paused);
        let Update::Event(Event::Progress(p)) = rx.recv().await.unwrap() else {
            panic!("no progress")
        };
        assert_eq!(p.state, JobState::Paused);
    }
}
