//! Timing statistics per model, read from the answered rows of the `items` table.

use std::collections::BTreeMap;

use heatmap_proto::ModelStats;

use super::{Store, StoreError};

/// Timing figures of one answered item.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ItemTiming {
    latency_ms: Option<f64>,
    server_ms: Option<f64>,
    completion_tokens: Option<i64>,
}

impl Store {
    /// Returns, per model (sorted by name), the number of answered items, the
    /// median wall time per item and the generated tokens per second.
    ///
    /// Tokens per second is the sum of `completion_tokens` over the sum of
    /// generation seconds of the items that report tokens. An item's seconds
    /// come from `server_ms` when the server reported its own time, else from
    /// `latency_ms`, which also counts the network and the prompt evaluation.
    pub fn model_stats(&self) -> Result<Vec<ModelStats>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare(
                "SELECT model, latency_ms, server_ms, completion_tokens FROM items
                 WHERE state = 'done' ORDER BY model",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    ItemTiming {
                        latency_ms: row.get(1)?,
                        server_ms: row.get(2)?,
                        completion_tokens: row.get(3)?,
                    },
                ))
            })
            .map_err(|e| self.sqlite(e))?;
        let mut per_model: BTreeMap<String, Vec<ItemTiming>> = BTreeMap::new();
        for row in rows {
            let (model, timing) = row.map_err(|e| self.sqlite(e))?;
            per_model.entry(model).or_default().push(timing);
        }
        Ok(per_model
            .into_iter()
            .map(|(model, timings)| summarize(model, &timings))
            .collect())
    }
}

fn summarize(model: String, timings: &[ItemTiming]) -> ModelStats {
    let mut latencies: Vec<f64> = timings
        .iter()
        .filter_map(|t| t.latency_ms)
        .filter(|ms| ms.is_finite())
        .collect();
    let mut tokens = 0i64;
    let mut seconds = 0.0;
    for timing in timings {
        let Some(count) = timing.completion_tokens else {
            continue;
        };
        let Some(ms) = timing.server_ms.or(timing.latency_ms) else {
            continue;
        };
        if ms.is_finite() && ms > 0.0 && count >= 0 {
            tokens += count;
            seconds += ms / 1000.0;
        }
    }
    ModelStats {
        model,
        items: timings.len() as u64,
        median_item_ms: median(&mut latencies),
        tokens_per_second: (seconds > 0.0).then(|| tokens as f64 / seconds),
    }
}

/// Returns the median, the mean of the middle two for an even count.
fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Model, state, `latency_ms`, `server_ms` and `completion_tokens` of one item row.
    type Row<'a> = (&'a str, &'a str, Option<f64>, Option<f64>, Option<i64>);

    fn store_with(rows: &[Row<'_>]) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("queue.db")).unwrap();
        {
            let conn = store.lock();
            conn.execute(
                "INSERT INTO jobs (id, state, spec, temperatures, prompts, prompts_hash, created_at)
                 VALUES (1, 'completed', '{}', '[]', '[]', 'h', 't')",
                [],
            )
            .unwrap();
            for (model, state, latency, server, tokens) in rows {
                conn.execute(
                    "INSERT INTO items (job_id, model, temperature, prompt_index, prompt_id, repeat, state,
                     latency_ms, server_ms, completion_tokens) VALUES (1, ?1, 0.0, 0, 'p', 0, ?2, ?3, ?4, ?5)",
                    rusqlite::params![model, state, latency, server, tokens],
                )
                .unwrap();
            }
        }
        (dir, store)
    }

    #[test]
    fn median_and_rate_per_model() {
        let (_dir, store) = store_with(&[
            ("b", "done", Some(100.0), None, Some(10)),
            ("b", "done", Some(300.0), None, Some(50)),
            ("b", "done", Some(200.0), None, None),
            ("a", "done", Some(40.0), Some(20.0), Some(10)),
            ("a", "done", Some(60.0), Some(30.0), Some(15)),
            ("a", "failed", None, None, None),
            ("a", "pending", None, None, None),
        ]);
        let stats = store.model_stats().unwrap();
        assert_eq!(stats.len(), 2);
        assert_eq!(stats[0].model, "a");
        assert_eq!(stats[0].items, 2);
        assert_eq!(stats[0].median_item_ms, Some(50.0));
        // 25 tokens over 0.05 s of server time.
        assert_eq!(stats[0].tokens_per_second, Some(500.0));
        assert_eq!(stats[1].model, "b");
        assert_eq!(stats[1].items, 3);
        assert_eq!(stats[1].median_item_ms, Some(200.0));
        // 60 tokens over 0.4 s of wall time; the item without tokens is left out.
        assert_eq!(stats[1].tokens_per_second, Some(150.0));
    }

    #[test]
    fn no_timings_give_none() {
        let (_dir, store) = store_with(&[("c", "done", None, None, Some(5))]);
        let stats = store.model_stats().unwrap();
        assert_eq!(stats[0].items, 1);
        assert_eq!(stats[0].median_item_ms, None);
        assert_eq!(stats[0].tokens_per_second, None);
    }

    #[test]
    fn empty_queue_has_no_models() {
        let (_dir, store) = store_with(&[]);
        assert!(store.model_stats().unwrap().is_empty());
    }
}
