//! Looking up the items that wrote the answer files of a session folder,
//! with the prompt of each from its job's snapshot.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use rusqlite::params;

use super::{Store, StoreError};
use crate::prompts::Prompt;

/// What the queue recorded about one saved answer.
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerSource {
    /// Answer file, relative to the workspace root, as the item recorded it.
    pub answer_path: String,
    /// Job that wrote it.
    pub job_id: i64,
    /// The prompt from the job's snapshot; `None` when the snapshot has no
    /// prompt at the item's index.
    pub prompt: Option<Prompt>,
    /// Seed sent with the request, if any.
    pub seed: Option<u64>,
    /// Reason generation stopped, as the server reported it.
    pub finish_reason: Option<String>,
    /// Prompt tokens.
    pub prompt_tokens: Option<u64>,
    /// Generated tokens.
    pub completion_tokens: Option<u64>,
    /// Wall time of the request in milliseconds.
    pub latency_ms: Option<f64>,
}

type RawSource = (
    String,
    i64,
    u32,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<f64>,
);

impl Store {
    /// Returns the finished items whose answer path starts with `prefix`
    /// (such as `output/model/20250101_120000/`), keyed by answer path.
    ///
    /// A later job that wrote the same path wins, because its answer
    /// replaced the earlier one.
    pub fn answers_under(&self, prefix: &str) -> Result<HashMap<String, AnswerSource>, StoreError> {
        let raws: Vec<RawSource> = {
            let conn = self.lock();
            let mut stmt = conn
                .prepare(
                    "SELECT answer_path, job_id, prompt_index, seed, finish_reason, prompt_tokens,
                            completion_tokens, latency_ms
                     FROM items
                     WHERE state = 'done' AND answer_path IS NOT NULL
                       AND substr(answer_path, 1, length(?1)) = ?1
                     ORDER BY id",
                )
                .map_err(|e| self.sqlite(e))?;
            let rows = stmt
                .query_map(params![prefix], |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                        row.get(5)?,
                        row.get(6)?,
                        row.get(7)?,
                    ))
                })
                .map_err(|e| self.sqlite(e))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.sqlite(e))?
        };

        let mut snapshots: HashMap<i64, Vec<Prompt>> = HashMap::new();
        let mut sources = HashMap::with_capacity(raws.len());
        for (
            answer_path,
            job_id,
            prompt_index,
            seed,
            finish_reason,
            prompt_tokens,
            completion_tokens,
            latency_ms,
        ) in raws
        {
            let prompts = match snapshots.entry(job_id) {
                Entry::Occupied(entry) => entry.into_mut(),
                Entry::Vacant(entry) => {
                    entry.insert(self.job(job_id)?.map(|job| job.prompts).unwrap_or_default())
                }
            };
            let prompt = prompts.get(prompt_index as usize).cloned();
            let source = AnswerSource {
                answer_path: answer_path.clone(),
                job_id,
                prompt,
                seed: seed.map(|s| s as u64),
                finish_reason,
                prompt_tokens: prompt_tokens.map(|n| n as u64),
                completion_tokens: completion_tokens.map(|n| n as u64),
                latency_ms,
            };
            sources.insert(answer_path, source);
        }
        Ok(sources)
    }
}

#[cfg(test)]
mod tests {
    use heatmap_proto::{BackendKind, GradeMode, JobSpec, PromptMode};

    use super::*;
    use crate::store::{ItemOutcome, NewItem};

    fn spec() -> JobSpec {
        JobSpec {
            backend: BackendKind::Ollama,
            urls: vec!["http://127.0.0.1:11434".into()],
            models: vec!["m".into()],
            temperatures: None,
            question_range: None,
            repeats: 1,
            seed: Some(5),
            max_tokens: None,
            parallel: 0,
            crunch: false,
            mode: PromptMode::Chat,
            template: None,
            template_name: None,
            stop: Vec::new(),
            grade: GradeMode::None,
            think: None,
            canary: false,
            force: false,
        }
    }

    fn prompt(id: &str, text: &str) -> Prompt {
        Prompt {
            id: id.into(),
            prompt: text.into(),
            category: None,
            expected: Some("4".into()),
        }
    }

    fn done(path: &str) -> ItemOutcome {
        ItemOutcome::Done {
            attempts: 1,
            answer_path: path.into(),
            sent: "{}".into(),
            finish_reason: Some("stop".into()),
            prompt_tokens: Some(12),
            completion_tokens: Some(3),
            latency_ms: 40.0,
            server_ms: None,
            thinking_path: None,
            grade_path: None,
            accuracy: None,
            grade_error: None,
        }
    }

    #[test]
    fn answers_under_reads_prompt_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("queue.db")).unwrap();
        let prompts = vec![prompt("a", "2+2?"), prompt("b", "3+1?")];
        let items = vec![
            NewItem {
                model: "m".into(),
                temperature: 0.0,
                prompt_index: 1,
                prompt_id: "b".into(),
                repeat: 0,
                seed: Some(5),
            },
            NewItem {
                model: "m".into(),
                temperature: 0.0,
                prompt_index: 0,
                prompt_id: "a".into(),
                repeat: 0,
                seed: Some(5),
            },
        ];
        let job = store
            .create_job(&spec(), &[0.0], &prompts, "hash", &items)
            .unwrap();
        let pending = store.pending_items(job).unwrap();
        store
            .finish_item(pending[0].id, &done("output/m/s1/m.t00,numb.txt"))
            .unwrap();
        store
            .finish_item(pending[1].id, &done("output/m/s2/m.t00,numa.txt"))
            .unwrap();

        let found = store.answers_under("output/m/s1/").unwrap();
        assert_eq!(found.len(), 1);
        let source = &found["output/m/s1/m.t00,numb.txt"];
        assert_eq!(source.job_id, job);
        assert_eq!(
            source.prompt.as_ref().map(|p| p.prompt.as_str()),
            Some("3+1?")
        );
        assert_eq!(source.seed, Some(5));
        assert_eq!(source.finish_reason.as_deref(), Some("stop"));
        assert_eq!(source.prompt_tokens, Some(12));
        assert_eq!(source.completion_tokens, Some(3));
        assert_eq!(source.latency_ms, Some(40.0));
        assert!(store.answers_under("output/other/").unwrap().is_empty());
    }
}
