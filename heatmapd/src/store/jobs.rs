//! Job rows: creation with all of a job's items, state changes and counts.

use heatmap_proto::{Counts, ItemFailure, JobId, JobSpec, JobState, ModelProgress};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::items::NewItem;
use super::{Store, StoreError, now_rfc3339};
use crate::prompts::Prompt;

/// The session folder one model of a job writes into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// Real model name.
    pub model: String,
    /// Folder name of the model under `output/`.
    pub model_dir: String,
    /// Session folder name under the model folder.
    pub session: String,
}

impl SessionInfo {
    /// Path relative to `output/`: `<model_dir>/<session>`.
    pub fn relative(&self) -> String {
        format!("{}/{}", self.model_dir, self.session)
    }
}

/// A job as stored.
#[derive(Debug, Clone)]
pub struct JobRow {
    /// Id.
    pub id: JobId,
    /// State.
    pub state: JobState,
    /// The submitted spec.
    pub spec: JobSpec,
    /// Temperatures of the grid, resolved at submit.
    pub temperatures: Vec<f64>,
    /// Snapshot of the selected prompts.
    pub prompts: Vec<Prompt>,
    /// Hash of the snapshot.
    pub prompts_hash: String,
    /// Session folders, once the job has started.
    pub sessions: Vec<SessionInfo>,
    /// Creation time.
    pub created_at: String,
    /// First start.
    pub started_at: Option<String>,
    /// Time the job reached a final state.
    pub finished_at: Option<String>,
    /// Why the job failed.
    pub error: Option<String>,
}

const JOB_COLUMNS: &str = "id, state, spec, temperatures, prompts, prompts_hash, sessions, created_at, started_at, finished_at, error";

type RawJob = (
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

impl Store {
    /// Inserts a job and all of its items in one transaction, and returns its id.
    pub fn create_job(
        &self,
        spec: &JobSpec,
        temperatures: &[f64],
        prompts: &[Prompt],
        prompts_hash: &str,
        items: &[NewItem],
    ) -> Result<JobId, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(|e| self.sqlite(e))?;
        tx.execute(
            "INSERT INTO jobs (state, spec, temperatures, prompts, prompts_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                JobState::Queued.as_str(),
                json(spec),
                json(temperatures),
                json(prompts),
                prompts_hash,
                now_rfc3339()
            ],
        )
        .map_err(|e| self.sqlite(e))?;
        let job = tx.last_insert_rowid();
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO items (job_id, model, temperature, prompt_index, prompt_id, repeat, seed)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(|e| self.sqlite(e))?;
            for item in items {
                insert
                    .execute(params![
                        job,
                        item.model,
                        item.temperature,
                        item.prompt_index,
                        item.prompt_id,
                        item.repeat,
                        item.seed.map(|s| s as i64)
                    ])
                    .map_err(|e| self.sqlite(e))?;
            }
        }
        tx.commit().map_err(|e| self.sqlite(e))?;
        Ok(job)
    }

    fn decode_job(&self, raw: RawJob) -> Result<JobRow, StoreError> {
        let (
            id,
            state,
            spec,
            temperatures,
            prompts,
            prompts_hash,
            sessions,
            created_at,
            started_at,
            finished_at,
            error,
        ) = raw;
        let corrupt = |field: &'static str, message: String| StoreError::Corrupt {
            path: self.path.to_path_buf(),
            job: id,
            field,
            message,
        };
        Ok(JobRow {
            id,
            state: JobState::parse(&state)
                .ok_or_else(|| corrupt("state", format!("unknown state '{state}'")))?,
            spec: serde_json::from_str(&spec).map_err(|e| corrupt("spec", e.to_string()))?,
            temperatures: serde_json::from_str(&temperatures)
                .map_err(|e| corrupt("temperatures", e.to_string()))?,
            prompts: serde_json::from_str(&prompts)
                .map_err(|e| corrupt("prompts", e.to_string()))?,
            prompts_hash,
            sessions: serde_json::from_str(&sessions)
                .map_err(|e| corrupt("sessions", e.to_string()))?,
            created_at,
            started_at,
            finished_at,
            error,
        })
    }

    /// Returns one job, or `None` when the id is unknown.
    pub fn job(&self, id: JobId) -> Result<Option<JobRow>, StoreError> {
        let raw = {
            let conn = self.lock();
            conn.query_row(
                &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"),
                [id],
                raw_job,
            )
            .optional()
            .map_err(|e| self.sqlite(e))?
        };
        raw.map(|raw| self.decode_job(raw)).transpose()
    }

    /// Returns every job, newest first.
    pub fn jobs(&self) -> Result<Vec<JobRow>, StoreError> {
        let raws = {
            let conn = self.lock();
            let mut stmt = conn
                .prepare(&format!("SELECT {JOB_COLUMNS} FROM jobs ORDER BY id DESC"))
                .map_err(|e| self.sqlite(e))?;
            stmt.query_map([], raw_job)
                .map_err(|e| self.sqlite(e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.sqlite(e))?
        };
        raws.into_iter().map(|raw| self.decode_job(raw)).collect()
    }

    /// Sets a job's state; a final state also records the finish time and error.
    pub fn set_job_state(
        &self,
        id: JobId,
        state: JobState,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let conn = self.lock();
        let finished = state.is_final().then(now_rfc3339);
        conn.execute(
            "UPDATE jobs SET state = ?2, finished_at = ?3, error = COALESCE(?4, error) WHERE id = ?1",
            params![id, state.as_str(), finished, error],
        )
        .map_err(|e| self.sqlite(e))?;
        Ok(())
    }

    /// Records the session folders and the first start time of a job.
    pub fn set_job_sessions(&self, id: JobId, sessions: &[SessionInfo]) -> Result<(), StoreError> {
        let conn = self.lock();
        conn.execute(
            "UPDATE jobs SET sessions = ?2, started_at = COALESCE(started_at, ?3) WHERE id = ?1",
            params![
                id,
                serde_json::to_string(sessions).expect("sessions serialize"),
                now_rfc3339()
            ],
        )
        .map_err(|e| self.sqlite(e))?;
        Ok(())
    }

    /// Counts a job's items by state, over all and per model (in `models` order).
    pub fn job_counts(
        &self,
        id: JobId,
        models: &[String],
    ) -> Result<(Counts, Vec<ModelProgress>), StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare(
                "SELECT model, state, COUNT(*) FROM items WHERE job_id = ?1 GROUP BY model, state",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([id], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            })
            .map_err(|e| self.sqlite(e))?;
        let mut total = Counts::default();
        let mut per_model: Vec<ModelProgress> = models
            .iter()
            .map(|m| ModelProgress {
                model: m.clone(),
                counts: Counts::default(),
            })
            .collect();
        for row in rows {
            let (model, state, n) = row.map_err(|e| self.sqlite(e))?;
            let n = n as u64;
            let Some(entry) = per_model.iter_mut().find(|p| p.model == model) else {
                continue;
            };
            for counts in [&mut total, &mut entry.counts] {
                counts.total += n;
                match state.as_str() {
                    "done" => counts.done += n,
                    "failed" => counts.failed += n,
                    "running" => counts.running += n,
                    _ => counts.pending += n,
                }
            }
        }
        Ok((total, per_model))
    }

    /// Returns up to `limit` failed items of a job, newest first.
    pub fn failures(&self, id: JobId, limit: usize) -> Result<Vec<ItemFailure>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare(
                "SELECT model, temperature, prompt_id, repeat, attempts, COALESCE(last_error, '')
                 FROM items WHERE job_id = ?1 AND state = 'failed' ORDER BY finished_at DESC, id DESC LIMIT ?2",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map(params![id, limit as i64], |row| {
                Ok(ItemFailure {
                    model: row.get(0)?,
                    temperature: row.get(1)?,
                    prompt_id: row.get(2)?,
                    repeat: row.get(3)?,
                    attempts: row.get(4)?,
                    error: row.get(5)?,
                })
            })
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.sqlite(e))
    }
}

fn raw_job(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawJob> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
        row.get(9)?,
        row.get(10)?,
    ))
}

fn json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("job fields serialize to JSON")
}
