//! Item rows: the pending work of a job and the recorded result of each item.

use heatmap_proto::JobId;
use rusqlite::params;

use super::{Store, StoreError, now_rfc3339};

/// State of one work item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemState {
    /// Not sent yet (or put back after a crash or cancel).
    Pending,
    /// Answered and saved.
    Done,
    /// Failed after its retries.
    Failed,
}

/// A work item to insert.
#[derive(Debug, Clone)]
pub struct NewItem {
    /// Model name.
    pub model: String,
    /// Temperature.
    pub temperature: f64,
    /// Position of the prompt in the job's snapshot.
    pub prompt_index: u32,
    /// Prompt id.
    pub prompt_id: String,
    /// Repeat index from 0.
    pub repeat: u32,
    /// Seed to send, if any.
    pub seed: Option<u64>,
}

/// A stored work item.
#[derive(Debug, Clone)]
pub struct ItemRow {
    /// Item id.
    pub id: i64,
    /// Model name.
    pub model: String,
    /// Temperature.
    pub temperature: f64,
    /// Position of the prompt in the job's snapshot.
    pub prompt_index: u32,
    /// Prompt id.
    pub prompt_id: String,
    /// Repeat index from 0.
    pub repeat: u32,
    /// Seed to send, if any.
    pub seed: Option<u64>,
    /// Attempts made so far.
    pub attempts: u32,
}

/// Outcome of an item, recorded in one update.
#[derive(Debug, Clone)]
pub enum ItemOutcome {
    /// The answer was saved.
    Done {
        /// Attempts made, including the successful one.
        attempts: u32,
        /// Answer file, relative to the workspace root.
        answer_path: String,
        /// Sampling settings sent, as JSON.
        sent: String,
        /// `done_reason` or `finish_reason`.
        finish_reason: Option<String>,
        /// Prompt tokens.
        prompt_tokens: Option<u64>,
        /// Generated tokens.
        completion_tokens: Option<u64>,
        /// Wall time of the successful request in milliseconds.
        latency_ms: f64,
        /// Time the server reports for the request in milliseconds.
        server_ms: Option<f64>,
        /// Thinking text file, when the model produced one.
        thinking_path: Option<String>,
        /// Grade file, when graded.
        grade_path: Option<String>,
        /// Accuracy, when graded and scored.
        accuracy: Option<f64>,
        /// Reason grading failed, when it did.
        grade_error: Option<String>,
    },
    /// Every attempt failed.
    Failed {
        /// Attempts made.
        attempts: u32,
        /// The last error.
        error: String,
    },
}

impl Store {
    /// Returns a job's pending items in insertion order.
    pub fn pending_items(&self, job: JobId) -> Result<Vec<ItemRow>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare(
                "SELECT id, model, temperature, prompt_index, prompt_id, repeat, seed, attempts
                 FROM items WHERE job_id = ?1 AND state = 'pending' ORDER BY id",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([job], |row| {
                Ok(ItemRow {
                    id: row.get(0)?,
                    model: row.get(1)?,
                    temperature: row.get(2)?,
                    prompt_index: row.get(3)?,
                    prompt_id: row.get(4)?,
                    repeat: row.get(5)?,
                    seed: row.get::<_, Option<i64>>(6)?.map(|s| s as u64),
                    attempts: row.get(7)?,
                })
            })
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.sqlite(e))
    }

    /// Records an item's outcome with one update by primary key.
    pub fn finish_item(&self, item: i64, outcome: &ItemOutcome) -> Result<(), StoreError> {
        let conn = self.lock();
        let mut stmt = match outcome {
            ItemOutcome::Done { .. } => conn.prepare_cached(
                "UPDATE items SET state = 'done', attempts = ?2, answer_path = ?3, sent = ?4, finish_reason = ?5,
                 prompt_tokens = ?6, completion_tokens = ?7, latency_ms = ?8, server_ms = ?9, thinking_path = ?10,
                 grade_path = ?11, accuracy = ?12, grade_error = ?13, last_error = NULL, finished_at = ?14
                 WHERE id = ?1",
            ),
            ItemOutcome::Failed { .. } => conn.prepare_cached(
                "UPDATE items SET state = 'failed', attempts = ?2, last_error = ?3, finished_at = ?4 WHERE id = ?1",
            ),
        }
        .map_err(|e| self.sqlite(e))?;
        match outcome {
            ItemOutcome::Done {
                attempts,
                answer_path,
                sent,
                finish_reason,
                prompt_tokens,
                completion_tokens,
                latency_ms,
                server_ms,
                thinking_path,
                grade_path,
                accuracy,
                grade_error,
            } => stmt.execute(params![
                item,
                attempts,
                answer_path,
                sent,
                finish_reason,
                prompt_tokens.map(|n| n as i64),
                completion_tokens.map(|n| n as i64),
                latency_ms,
                server_ms,
                thinking_path,
                grade_path,
                accuracy,
                grade_error,
                now_rfc3339()
            ]),
            ItemOutcome::Failed { attempts, error } => {
                stmt.execute(params![item, attempts, error, now_rfc3339()])
            }
        }
        .map_err(|e| self.sqlite(e))?;
        Ok(())
    }

    /// Puts a job's failed items back to pending, so a resume retries them; returns how many.
    pub fn retry_failed(&self, job: JobId) -> Result<usize, StoreError> {
        let conn = self.lock();
        conn.execute(
            "UPDATE items SET state = 'pending' WHERE job_id = ?1 AND state = 'failed'",
            [job],
        )
        .map_err(|e| self.sqlite(e))
    }

    /// Counts a job's items in one state.
    pub fn count_items(&self, job: JobId, state: ItemState) -> Result<u64, StoreError> {
        let name = match state {
            ItemState::Pending => "pending",
            ItemState::Done => "done",
            ItemState::Failed => "failed",
        };
        let conn = self.lock();
        conn.query_row(
            "SELECT COUNT(*) FROM items WHERE job_id = ?1 AND state = ?2",
            params![job, name],
            |row| row.get::<_, i64>(0),
        )
        .map(|n| n as u64)
        .map_err(|e| self.sqlite(e))
    }
}

#[cfg(test)]
mod tests {
    use heatmap_proto::{BackendKind, GradeMode, JobSpec, JobState, PromptMode};

    use super::*;
    use crate::prompts::Prompt;

    fn spec() -> JobSpec {
        JobSpec {
            backend: BackendKind::OpenAi,
            urls: vec!["http://127.0.0.1:1".into()],
            models: vec!["m1".into(), "m2".into()],
            temperatures: None,
            question_range: None,
            repeats: 1,
            seed: None,
            max_tokens: None,
            parallel: 1,
            crunch: false,
            mode: PromptMode::Chat,
            template: None,
            template_name: None,
            stop: vec![],
            grade: GradeMode::Exact,
            think: None,
            canary: false,
            force: false,
        }
    }

    fn items() -> Vec<NewItem> {
        let mut items = Vec::new();
        for model in ["m1", "m2"] {
            for (index, t) in [0.0, 0.5].into_iter().enumerate() {
                items.push(NewItem {
                    model: model.into(),
                    temperature: t,
                    prompt_index: 0,
                    prompt_id: format!("p{index}"),
                    repeat: 0,
                    seed: Some(7),
                });
            }
        }
        items
    }

    #[test]
    fn job_round_trip_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("q.db")).unwrap();
        let prompts = vec![Prompt {
            id: "p".into(),
            prompt: "q".into(),
            category: None,
            expected: Some("a".into()),
        }];
        let job = store
            .create_job(&spec(), &[0.0, 0.5], &prompts, "hash", &items())
            .unwrap();
        let row = store.job(job).unwrap().unwrap();
        assert_eq!(row.state, JobState::Queued);
        assert_eq!(row.spec, spec());
        assert_eq!(row.prompts, prompts);

        let pending = store.pending_items(job).unwrap();
        assert_eq!(pending.len(), 4);
        assert_eq!(pending[0].seed, Some(7));
        store
            .finish_item(
                pending[0].id,
                &ItemOutcome::Failed {
                    attempts: 5,
                    error: "HTTP 503".into(),
                },
            )
            .unwrap();
        store
            .finish_item(
                pending[1].id,
                &ItemOutcome::Done {
                    attempts: 1,
                    answer_path: "output/x.txt".into(),
                    sent: "{}".into(),
                    finish_reason: Some("stop".into()),
                    prompt_tokens: Some(3),
                    completion_tokens: Some(2),
                    latency_ms: 1.5,
                    server_ms: None,
                    thinking_path: None,
                    grade_path: None,
                    accuracy: Some(1.0),
                    grade_error: None,
                },
            )
            .unwrap();
        let (total, per_model) = store.job_counts(job, &["m1".into(), "m2".into()]).unwrap();
        assert_eq!(
            (total.total, total.done, total.failed, total.pending),
            (4, 1, 1, 2)
        );
        assert_eq!(per_model[0].counts.done, 1);
        assert_eq!(per_model[1].counts.pending, 2);
        let failures = store.failures(job, 10).unwrap();
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].error, "HTTP 503");
        assert_eq!(store.retry_failed(job).unwrap(), 1);
        assert_eq!(store.count_items(job, ItemState::Pending).unwrap(), 3);
    }

    #[test]
    fn damaged_pages_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queue.db");
        {
            let store = Store::open(&path).unwrap();
            let many: Vec<NewItem> = (0..2000)
                .map(|i| NewItem {
                    prompt_id: format!("p{i}"),
                    ..items()[0].clone()
                })
                .collect();
            store
                .create_job(&spec(), &[0.0], &[], "hash", &many)
                .unwrap();
            let conn = store.lock();
            conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
                .unwrap();
        }
        let mut bytes = std::fs::read(&path).unwrap();
        assert!(bytes.len() > 40_000, "database too small: {}", bytes.len());
        for b in &mut bytes[12_288..28_672] {
            *b = 0xA5;
        }
        std::fs::write(&path, &bytes).unwrap();
        let store = Store::open(&path).unwrap();
        assert!(store.jobs().unwrap().is_empty());
        let aside = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("queue.db.corrupt-")
            })
            .count();
        assert_eq!(aside, 1);
    }

    #[test]
    fn unreadable_database_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queue.db");
        std::fs::write(&path, vec![b'x'; 8192]).unwrap();
        let store = Store::open(&path).unwrap();
        assert!(store.jobs().unwrap().is_empty());
        let aside: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("queue.db.corrupt-")
            })
            .collect();
        assert_eq!(aside.len(), 1);
        assert_eq!(std::fs::read(aside[0].path()).unwrap(), vec![b'x'; 8192]);
    }
}
