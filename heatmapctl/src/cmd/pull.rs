//! `heatmapctl pull NAME`: downloads a model through Ollama, with one
//! progress bar (in bytes) per layer.

use std::io::Write;

use anyhow::Context;
use heatmap_proto::{Event, Request, Response};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::client::{self, Transport};
use crate::exit;
use crate::output::Output;

/// The bars of one pull: one per status that reports a byte total, such as
/// `pulling 6a0746a1ec1a` for one layer.
struct PullBars {
    multi: MultiProgress,
    bars: Vec<(String, ProgressBar)>,
    last_status: Option<String>,
}

impl PullBars {
    fn new(draw: bool) -> PullBars {
        let target = if draw {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        PullBars {
            multi: MultiProgress::with_draw_target(target),
            bars: Vec::new(),
            last_status: None,
        }
    }

    /// Shows one progress event. Without drawn bars, each new status is
    /// written to `err` once, so a log still shows the steps.
    fn show(
        &mut self,
        err: &mut dyn Write,
        status: &str,
        completed: Option<u64>,
        total: Option<u64>,
    ) {
        let is_new = self.last_status.as_deref() != Some(status);
        if is_new {
            self.last_status = Some(status.to_string());
        }
        let Some(total) = total else {
            if is_new {
                self.note(err, status);
            }
            return;
        };
        let bar = match self.bars.iter().find(|(name, _)| name == status) {
            Some((_, bar)) => bar.clone(),
            None => {
                if self.multi.is_hidden() {
                    let _ = writeln!(err, "{status}");
                }
                let bar = self.multi.add(ProgressBar::new(total));
                bar.set_style(bar_style());
                bar.set_prefix(status.to_string());
                self.bars.push((status.to_string(), bar.clone()));
                bar
            }
        };
        bar.set_length(total);
        bar.set_position(completed.unwrap_or(0).min(total));
    }

    fn note(&self, err: &mut dyn Write, line: &str) {
        if self.multi.is_hidden() {
            let _ = writeln!(err, "{line}");
        } else {
            let _ = self.multi.println(line);
        }
    }

    fn finish(&self) {
        for (_, bar) in &self.bars {
            bar.finish();
        }
    }
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
        .expect("static template is valid")
        .progress_chars("=> ")
}

/// Asks heatmapd to pull `model` from the Ollama server at `url`.
pub async fn run<T: Transport>(
    connection: &mut T,
    output: &mut Output<'_>,
    url: String,
    model: String,
) -> anyhow::Result<()> {
    let request = Request::Pull {
        url: url.clone(),
        model: model.clone(),
    };
    connection
        .send(&request)
        .await
        .context("failed to send the Pull request to heatmapd")?;
    let mut bars = PullBars::new(output.progress_bars && !output.json);
    loop {
        let response = connection
            .recv()
            .await
            .map_err(|error| client::receive_error("Pull", error))?;
        if output.json {
            output.print_json(&response)?;
        }
        match response {
            Response::Event(Event::Pull {
                status,
                completed,
                total,
            }) => {
                if !output.json {
                    bars.show(output.err, &status, completed, total);
                }
            }
            Response::Event(_) => {}
            Response::Ok => {
                bars.finish();
                if !output.json {
                    output.line(format!("pulled {model} on {url}"))?;
                }
                return Ok(());
            }
            Response::Error { kind, message } => {
                bars.finish();
                return Err(exit::from_response(kind, &message).into());
            }
            other => return Err(client::unexpected("Pull", &other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Capture, Scripted};
    use heatmap_proto::ErrorKind;

    fn pull_event(status: &str, completed: Option<u64>, total: Option<u64>) -> Response {
        Response::Event(Event::Pull {
            status: status.into(),
            completed,
            total,
        })
    }

    #[tokio::test]
    async fn pull_logs_each_step_once() {
        let mut connection = Scripted::new(vec![
            pull_event("pulling manifest", None, None),
            pull_event("pulling 6a0746a1ec1a", Some(10), Some(100)),
            pull_event("pulling 6a0746a1ec1a", Some(100), Some(100)),
            pull_event("verifying sha256 digest", None, None),
            pull_event("success", None, None),
            Response::Ok,
        ]);
        let mut capture = Capture::default();
        run(
            &mut connection,
            &mut capture.output(false),
            "http://127.0.0.1:11434".into(),
            "tiny".into(),
        )
        .await
        .unwrap();
        assert_eq!(
            connection.sent,
            vec![Request::Pull {
                url: "http://127.0.0.1:11434".into(),
                model: "tiny".into()
            }]
        );
        assert_eq!(
            capture.err(),
            "pulling manifest\npulling 6a0746a1ec1a\nverifying sha256 digest\nsuccess\n"
        );
        assert_eq!(capture.out(), "pulled tiny on http://127.0.0.1:11434\n");
    }

    #[tokio::test]
    async fn pull_error_fails() {
        let mut connection = Scripted::new(vec![
            pull_event("pulling manifest", None, None),
            Response::Error {
                kind: ErrorKind::Backend,
                message: "file does not exist".into(),
            },
        ]);
        let mut capture = Capture::default();
        let error = run(
            &mut connection,
            &mut capture.output(false),
            "http://127.0.0.1:1".into(),
            "x".into(),
        )
        .await
        .unwrap_err();
        assert_eq!(error.to_string(), "file does not exist");
    }
}
