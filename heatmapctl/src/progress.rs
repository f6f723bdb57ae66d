//! Progress bars of a followed job: a status line and one bar per model, on stderr.

use std::io::Write;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use heatmap_proto::{Counts, JobId, JobProgress, JobState, JobSummary, ModelProgress};

/// Widest name column; longer names push their bar to the right.
const MAX_NAME_WIDTH: usize = 40;

/// Prefix of the bar that stands for all models when the daemon sends no per-model counts.
const ALL_MODELS: &str = "all models";

/// The bars of one job.
pub struct JobBars {
    multi: MultiProgress,
    status: ProgressBar,
    models: Vec<(String, ProgressBar)>,
    /// Width of the name column, the longest name shown so far up to [`MAX_NAME_WIDTH`].
    name_width: usize,
    style: ProgressStyle,
}

impl JobBars {
    /// Creates the bars. With `draw` false, or when stderr is not a terminal, nothing is drawn.
    pub fn new(draw: bool) -> JobBars {
        let target = if draw {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let multi = MultiProgress::with_draw_target(target);
        let status = multi.add(ProgressBar::new_spinner());
        status.set_style(ProgressStyle::with_template("{msg}").expect("static template is valid"));
        JobBars {
            multi,
            status,
            models: Vec::new(),
            name_width: 0,
            style: bar_style(0),
        }
    }

    /// Tells whether the bars are drawn.
    pub fn is_drawn(&self) -> bool {
        !self.multi.is_hidden()
    }

    /// Shows the counts of a job summary, as sent before the first event.
    ///
    /// A summary without per-model counts adds no bar, because the first
    /// progress event brings them.
    pub fn show_summary(&mut self, summary: &JobSummary) {
        self.set_status(summary.id, summary.state, &summary.counts, None);
        self.update_models(&summary.per_model);
    }

    /// Shows a progress event.
    pub fn show_progress(&mut self, progress: &JobProgress) {
        self.set_status(
            progress.job,
            progress.state,
            &progress.counts,
            Some(progress.rate),
        );
        if progress.per_model.is_empty() {
            self.update_bar(ALL_MODELS, &progress.counts);
        } else {
            self.update_models(&progress.per_model);
        }
    }

    fn set_status(&self, job: JobId, state: JobState, counts: &Counts, rate: Option<f64>) {
        let mut status = format!(
            "job {job} {state}: {}/{} items",
            counts.done + counts.failed,
            counts.total
        );
        if counts.failed > 0 {
            status.push_str(&format!(", {} failed", counts.failed));
        }
        if let Some(rate) = rate {
            status.push_str(&format!(", {rate:.1} items/s"));
        }
        self.status.set_message(status);
    }

    fn update_models(&mut self, per_model: &[ModelProgress]) {
        if per_model.is_empty() {
            return;
        }
        if let Some(index) = self.models.iter().position(|(name, _)| name == ALL_MODELS) {
            let (_, bar) = self.models.remove(index);
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        for model in per_model {
            self.update_bar(&model.model, &model.counts);
        }
    }

    fn update_bar(&mut self, model: &str, counts: &Counts) {
        let bar = match self.models.iter().find(|(name, _)| name == model) {
            Some((_, bar)) => bar.clone(),
            None => self.add_bar(model, counts.total),
        };
        bar.set_length(counts.total);
        bar.set_position(counts.done + counts.failed);
        if counts.failed > 0 {
            bar.set_message(format!("{} failed", counts.failed));
        }
    }

    /// Adds a bar for `model`, widening the name column of every bar when the name needs it.
    fn add_bar(&mut self, model: &str, total: u64) -> ProgressBar {
        let width = model.chars().count().min(MAX_NAME_WIDTH);
        if width > self.name_width {
            self.name_width = width;
            self.style = bar_style(self.name_width);
            for (_, bar) in &self.models {
                bar.set_style(self.style.clone());
            }
        }
        let bar = self.multi.add(ProgressBar::new(total));
        bar.set_style(self.style.clone());
        bar.set_prefix(model.to_string());
        self.models.push((model.to_string(), bar.clone()));
        bar
    }

    /// Prints a line above the bars, or to `err` when the bars are not drawn.
    ///
    /// indicatif drops lines printed through hidden bars, so that case writes directly.
    pub fn note(&self, err: &mut dyn Write, line: &str) {
        if self.is_drawn() {
            let _ = self.multi.println(line);
        } else {
            let _ = writeln!(err, "{line}");
        }
    }

    /// Hides the bars while `write` prints to the terminal, then draws them again.
    pub fn suspend<R>(&self, write: impl FnOnce() -> R) -> R {
        self.multi.suspend(write)
    }

    /// Removes the bars from the terminal.
    pub fn clear(&self) {
        for (_, bar) in &self.models {
            bar.finish_and_clear();
        }
        self.status.finish_and_clear();
        let _ = self.multi.clear();
    }
}

/// Builds the style of a model's bar: name, bar, done of total, rate and time left.
fn bar_style(name_width: usize) -> ProgressStyle {
    let template = format!(
        "{{prefix:<{name_width}}} [{{bar:30}}] {{pos:>5}}/{{len:<5}} {{rate:>9}}  eta {{eta:<4}} {{msg}}"
    );
    ProgressStyle::with_template(&template)
        .expect("generated template is valid")
        .with_key(
            "rate",
            |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                let _ = write!(out, "{:.1}/s", state.per_sec());
            },
        )
        .progress_chars("=> ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(total: u64, done: u64, failed: u64) -> Counts {
        Counts {
            total,
            done,
            failed,
            running: 0,
            pending: total - done - failed,
        }
    }

    #[test]
    fn one_bar_per_model() {
        let mut bars = JobBars::new(false);
        bars.show_progress(&JobProgress {
            job: 1,
            state: JobState::Running,
            counts: counts(20, 5, 1),
            per_model: vec![
                ModelProgress {
                    model: "a".into(),
                    counts: counts(10, 4, 1),
                },
                ModelProgress {
                    model: "b".into(),
                    counts: counts(10, 1, 0),
                },
            ],
            rate: 2.0,
        });
        assert_eq!(bars.models.len(), 2);
        assert_eq!(bars.models[0].1.position(), 5);
        assert_eq!(bars.models[0].1.length(), Some(10));
        assert_eq!(bars.models[1].1.position(), 1);
        assert!(!bars.is_drawn());
    }

    #[test]
    fn hidden_notes_go_to_err() {
        let bars = JobBars::new(false);
        let mut err = Vec::new();
        bars.note(&mut err, "retry a: HTTP 503");
        assert_eq!(String::from_utf8(err).unwrap(), "retry a: HTTP 503\n");
    }

    #[test]
    fn missing_per_model_uses_one_bar() {
        let mut bars = JobBars::new(false);
        bars.show_progress(&JobProgress {
            job: 1,
            state: JobState::Running,
            counts: counts(8, 2, 0),
            per_model: vec![],
            rate: 0.0,
        });
        assert_eq!(bars.models.len(), 1);
        assert_eq!(bars.models[0].0, ALL_MODELS);
    }

    #[test]
    fn per_model_counts_replace_overall_bar() {
        let mut bars = JobBars::new(false);
        let mut progress = JobProgress {
            job: 1,
            state: JobState::Running,
            counts: counts(8, 2, 0),
            per_model: vec![],
            rate: 0.0,
        };
        bars.show_progress(&progress);
        progress.per_model = vec![ModelProgress {
            model: "a-long-model-name".into(),
            counts: counts(8, 3, 0),
        }];
        bars.show_progress(&progress);
        let names: Vec<&str> = bars.models.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["a-long-model-name"]);
        assert_eq!(bars.name_width, 17);
    }

    #[test]
    fn summary_without_per_model_adds_no_bar() {
        let mut bars = JobBars::new(false);
        let mut summary = crate::testing::sample_summary(1, JobState::Queued);
        summary.per_model.clear();
        bars.show_summary(&summary);
        assert!(bars.models.is_empty());
    }
}
