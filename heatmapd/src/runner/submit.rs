//! Checking a submitted job spec and queueing its work items.

use heatmap_proto::{ErrorKind, GradeMode, JobSpec, JobSummary};

use super::{ApiError, Runner};
use crate::backend::{BackendError, Client};
use crate::config::{MAX_TEMPERATURES, Settings};
use crate::layout::round_temp;
use crate::prompts;
use crate::store::NewItem;

/// Largest temperature accepted; servers clamp or reject far above this.
const MAX_TEMPERATURE: f64 = 100.0;

/// Largest number of work items in one job.
const MAX_ITEMS: usize = 10_000_000;

impl Runner {
    /// Validates a spec against the workspace and the servers, then queues the job.
    pub async fn submit(&self, mut spec: JobSpec) -> Result<JobSummary, ApiError> {
        let workspace = self.workspace().clone();
        check_shape(&spec)?;
        let settings =
            Settings::load(&workspace.settings()).map_err(|e| ApiError::invalid(e.to_string()))?;
        let temperatures = match &spec.temperatures {
            Some(list) => list.iter().map(|t| round_temp(*t)).collect::<Vec<_>>(),
            None => settings.temperatures(),
        };
        check_temperatures(&temperatures)?;
        spec.temperatures = Some(temperatures.clone());

        let all = prompts::load(&workspace.prompts(), Some(&workspace.prompt_categories()))
            .map_err(|e| ApiError::invalid(format!("{e}; fix the file and submit again")))?;
        let (start, end) = match spec.question_range {
            Some(range) => (range.start, range.end),
            None => (settings.question_start, settings.question_end),
        };
        let selected = prompts::select(&all, start, end).map_err(ApiError::invalid)?;
        let hash = prompts::snapshot_hash(&selected);

        self.check_servers(&spec).await?;
        crate::ops::memory::check_job(&spec).await?;
        if spec.canary {
            crate::ops::canary::check_job(&spec, &temperatures).await?;
        }

        let item_count =
            spec.models.len() * temperatures.len() * selected.len() * spec.repeats as usize;
        if item_count > MAX_ITEMS {
            return Err(ApiError::invalid(format!(
                "the job has {item_count} work items, more than the limit of {MAX_ITEMS}; use fewer models, temperatures, prompts or repeats"
            )));
        }
        let mut items = Vec::with_capacity(item_count);
        for model in &spec.models {
            for &temperature in &temperatures {
                for (index, prompt) in selected.iter().enumerate() {
                    for repeat in 0..spec.repeats {
                        items.push(NewItem {
                            model: model.clone(),
                            temperature,
                            prompt_index: index as u32,
                            prompt_id: prompt.id.clone(),
                            repeat,
                            seed: spec.seed.map(|s| s.wrapping_add(u64::from(repeat))),
                        });
                    }
                }
            }
        }
        let store = self.store().clone();
        let spec_for_store = spec.clone();
        let job = tokio::task::spawn_blocking(move || {
            store.create_job(&spec_for_store, &temperatures, &selected, &hash, &items)
        })
        .await
        .map_err(|e| {
            ApiError::new(
                ErrorKind::Internal,
                format!("queueing the job panicked: {e}"),
            )
        })??;
        tracing::info!(job, models = ?spec.models, items = item_count, "job queued");
        self.inner.wake.notify_one();
        let row = self.load(job)?;
        self.summary(&row)
    }

    /// Checks that every server answers and offers every model of the job.
    async fn check_servers(&self, spec: &JobSpec) -> Result<(), ApiError> {
        let mut wanted = spec.models.clone();
        if let GradeMode::Judge { model } = &spec.grade
            && !wanted.contains(model)
        {
            wanted.push(model.clone());
        }
        for url in &spec.urls {
            let client =
                Client::new(spec.backend, url).map_err(|e| ApiError::invalid(e.to_string()))?;
            client.check_models(&wanted).await.map_err(|e| {
                let kind = match e {
                    BackendError::ModelNotFound { .. } | BackendError::InvalidUrl { .. } => {
                        ErrorKind::InvalidRequest
                    }
                    _ => ErrorKind::Backend,
                };
                ApiError::new(kind, e.to_string())
            })?;
        }
        Ok(())
    }
}

fn check_shape(spec: &JobSpec) -> Result<(), ApiError> {
    if spec.models.is_empty() {
        return Err(ApiError::invalid(
            "no model given; name at least one with --model",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = spec.models.iter().find(|m| !seen.insert(m.as_str())) {
        return Err(ApiError::invalid(format!(
            "model '{dup}' is named twice; name each model once"
        )));
    }
    if spec.models.iter().any(|m| m.trim().is_empty()) {
        return Err(ApiError::invalid("empty model name"));
    }
    if spec.urls.is_empty() {
        return Err(ApiError::invalid("no server URL given; pass --url"));
    }
    if spec.repeats == 0 {
        return Err(ApiError::invalid("repeats must be at least 1"));
    }
    if let GradeMode::Judge { model } = &spec.grade
        && model.trim().is_empty()
    {
        return Err(ApiError::invalid(
            "judge grading needs a model: --grade judge:MODEL",
        ));
    }
    if spec.max_tokens == Some(0) {
        return Err(ApiError::invalid("max tokens must be at least 1"));
    }
    Ok(())
}

fn check_temperatures(temperatures: &[f64]) -> Result<(), ApiError> {
    if temperatures.is_empty() {
        return Err(ApiError::invalid("no temperatures given"));
    }
    if temperatures.len() > MAX_TEMPERATURES {
        return Err(ApiError::invalid(format!(
            "{} temperatures given, more than the limit of {MAX_TEMPERATURES}",
            temperatures.len()
        )));
    }
    for (i, t) in temperatures.iter().enumerate() {
        if !t.is_finite() || *t < 0.0 || *t > MAX_TEMPERATURE {
            return Err(ApiError::invalid(format!(
                "invalid temperature {t}: temperatures must be between 0 and {MAX_TEMPERATURE}"
            )));
        }
        if temperatures[..i].contains(t) {
            return Err(ApiError::invalid(format!("temperature {t} is given twice")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temperatures_are_checked() {
        assert!(check_temperatures(&[0.0, 0.5]).is_ok());
        assert!(check_temperatures(&[]).is_err());
        assert!(
            check_temperatures(&[-0.1])
                .unwrap_err()
                .message
                .contains("-0.1")
        );
        assert!(check_temperatures(&[f64::NAN]).is_err());
        assert!(
            check_temperatures(&[0.5, 0.5])
                .unwrap_err()
                .message
                .contains("twice")
        );
    }
}
