//! `heatmapctl follow` and `submit --wait`: shows a job's event stream until the job ends.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use heatmap_proto::{Event, ItemFailure, JobId, JobState, JobSummary, Request, Response};

use crate::client::{self, Transport};
use crate::exit::{self, Failure, INTERRUPTED};
use crate::output::Output;
use crate::parse::format_temperature;
use crate::progress::JobBars;
use crate::render;

/// How long an identical retry message stays quiet after it was shown.
const RETRY_QUIET_PERIOD: Duration = Duration::from_secs(10);

/// Asks heatmapd to stream a job's events, then shows them until the job ends.
pub async fn run<T: Transport>(
    connection: &mut T,
    output: &mut Output<'_>,
    job: JobId,
    interrupt: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    connection
        .send(&Request::Follow { id: job })
        .await
        .context("failed to send the Follow request to heatmapd")?;
    stream(connection, output, Some(job), interrupt).await
}

/// Shows the responses of a stream that has been requested: an optional
/// `Submitted`, then events, then `JobEnded`.
///
/// Returns a [`Failure`] with exit code 1 when the job ended failed or
/// cancelled, and with exit code 130 when `interrupt` completes first. The job
/// keeps running in that case, because only this client stops listening.
pub async fn stream<T: Transport>(
    connection: &mut T,
    output: &mut Output<'_>,
    mut job: Option<JobId>,
    interrupt: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let mut interrupt = std::pin::pin!(interrupt);
    let mut bars = JobBars::new(output.progress_bars && !output.json);
    let mut retries = RetryNotes::default();
    let mut last_plain: Option<Instant> = None;
    loop {
        let received = tokio::select! {
            received = connection.recv() => received,
            () = &mut interrupt => {
                bars.clear();
                return Err(interrupted(job, &output.program).into());
            }
        };
        let response = match received {
            Ok(response) => response,
            Err(error) => {
                bars.clear();
                return Err(lost_connection(job, &output.program, error));
            }
        };
        if output.json {
            output.print_json(&response)?;
        }
        match response {
            Response::Submitted(summary) => {
                job = Some(summary.id);
                if !output.json {
                    let line = format!(
                        "queued job {} ({} items); Ctrl-C stops following, not the job",
                        summary.id, summary.counts.total
                    );
                    bars.suspend(|| output.line(line))?;
                }
                bars.show_summary(&summary);
            }
            Response::Event(event) => {
                if let Event::Progress(progress) = &event {
                    job.get_or_insert(progress.job);
                    bars.show_progress(progress);
                    // Without bars (a log file or a pipe), a plain line now and then
                    // shows that the job is moving.
                    if !bars.is_drawn()
                        && !output.json
                        && last_plain
                            .is_none_or(|at: Instant| at.elapsed() >= PLAIN_PROGRESS_INTERVAL)
                    {
                        last_plain = Some(Instant::now());
                        bars.note(output.err, &plain_progress(progress));
                    }
                } else if !output.json {
                    show_event(&bars, &mut retries, output, &event);
                }
            }
            Response::JobEnded { summary, heatmap } => {
                bars.clear();
                if !output.json {
                    output.line(render::job_outcome(&summary))?;
                    show_end(output, &summary, heatmap.as_ref())?;
                }
                return ended(&summary, &output.program);
            }
            Response::Error { kind, message } => {
                bars.clear();
                return Err(exit::from_response(kind, &message).into());
            }
            other => {
                bars.clear();
                return Err(client::unexpected("Follow", &other));
            }
        }
    }
}

/// Prints a retry, a failed item or a message above the bars.
fn show_event(bars: &JobBars, retries: &mut RetryNotes, output: &mut Output<'_>, event: &Event) {
    let line = match event {
        Event::Progress(_) => return,
        Event::ItemFailed(failure) => failure_line(failure),
        Event::Retry { model, message } => match retries.admit(model, message, Instant::now()) {
            Some(line) => line,
            None => return,
        },
        Event::Message(text) => text.clone(),
        Event::Pull { status, .. } => status.clone(),
        Event::Count { label, done, total } => format!("{label}: {done} of {total}"),
    };
    bars.note(output.err, &line);
}

/// Describes a failed item in one line.
fn failure_line(failure: &ItemFailure) -> String {
    let repeat = if failure.repeat > 0 {
        format!(" (repeat {})", failure.repeat)
    } else {
        String::new()
    };
    format!(
        "failed: {} at temperature {}, prompt {}{repeat}, after {} attempts: {}",
        failure.model,
        format_temperature(failure.temperature),
        failure.prompt_id,
        failure.attempts,
        failure.error
    )
}

/// Prints the heatmap, counts and session folders of a job that ended.
fn show_end(
    output: &mut Output<'_>,
    summary: &JobSummary,
    heatmap: Option<&heatmap_proto::AggregateReport>,
) -> anyhow::Result<()> {
    output.line("")?;
    match heatmap {
        Some(report) => output.line(render::aggregate_report(report, false))?,
        None => output.line("no heatmap was written, because no grade was found")?,
    }
    if !summary.sessions.is_empty() {
        output.line("")?;
        output.line(render::sessions(&summary.sessions))?;
    }
    if summary.counts.failed > 0 {
        let hint = format!(
            "list the failed items with: {} status {}",
            output.program, summary.id
        );
        output.line(format!("\n{hint}"))?;
    }
    Ok(())
}

/// Time between plain progress lines when no bars are drawn.
const PLAIN_PROGRESS_INTERVAL: Duration = Duration::from_secs(15);

/// Describes a job's progress in one line, for logs.
fn plain_progress(progress: &heatmap_proto::JobProgress) -> String {
    let counts = &progress.counts;
    format!(
        "job {}: {} of {} items answered, {} failed, {:.1} items/s",
        progress.job, counts.done, counts.total, counts.failed, progress.rate
    )
}

/// Turns a job's final state into the command's result.
fn ended(summary: &JobSummary, program: &str) -> anyhow::Result<()> {
    let id = summary.id;
    match summary.state {
        JobState::Cancelled => Err(Failure::failed(format!(
            "job {id} was cancelled; resume it with: {program} resume {id}"
        ))
        .into()),
        JobState::Failed => {
            let reason = summary.error.as_deref().unwrap_or("no reason given");
            Err(Failure::failed(format!("job {id} failed: {reason}")).into())
        }
        JobState::Completed if summary.counts.total > 0 && summary.counts.done == 0 => {
            Err(Failure::failed(format!(
                "job {id} answered none of its {} items; list the errors with: {program} status {id}",
                summary.counts.total
            ))
            .into())
        }
        _ => Ok(()),
    }
}

fn interrupted(job: Option<JobId>, program: &str) -> Failure {
    let message = match job {
        Some(id) => format!(
            "stopped following job {id}; it keeps running in heatmapd. Cancel it with: {program} cancel {id}"
        ),
        None => format!(
            "stopped waiting before heatmapd confirmed the job; {program} list shows whether it was queued"
        ),
    };
    Failure {
        code: INTERRUPTED,
        message,
    }
}

fn lost_connection(
    job: Option<JobId>,
    program: &str,
    error: heatmap_proto::socket::ClientError,
) -> anyhow::Error {
    let error = client::receive_error("Follow", error);
    match job {
        Some(id) => error.context(format!(
            "lost the connection to heatmapd while following job {id}; check it with: {program} status {id}"
        )),
        None => error,
    }
}

/// Keeps identical retry messages from flooding the terminal.
///
/// A message is shown at most once per [`RETRY_QUIET_PERIOD`] for each model,
/// and the next one shown counts those held back.
#[derive(Default)]
struct RetryNotes {
    shown: HashMap<(String, String), (Instant, u64)>,
}

impl RetryNotes {
    /// Returns the line to show for a retry, or `None` to hold it back.
    fn admit(&mut self, model: &str, message: &str, now: Instant) -> Option<String> {
        let key = (model.to_string(), message.to_string());
        match self.shown.get_mut(&key) {
            Some((last, held_back)) if now.duration_since(*last) < RETRY_QUIET_PERIOD => {
                *held_back += 1;
                None
            }
            Some((last, held_back)) => {
                let line = match *held_back {
                    0 => format!("retrying {model}: {message}"),
                    n => format!("retrying {model}: {message} ({n} more like it not shown)"),
                };
                *last = now;
                *held_back = 0;
                Some(line)
            }
            None => {
                self.shown.insert(key, (now, 0));
                Some(format!("retrying {model}: {message}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Capture, Scripted, sample_summary};

    fn events() -> Vec<Response> {
        let mut summary = sample_summary(3, JobState::Completed);
        summary.counts.done = 60;
        vec![
            Response::Event(Event::Retry {
                model: "a".into(),
                message: "HTTP 429".into(),
            }),
            Response::Event(Event::Message("aggregating".into())),
            Response::JobEnded {
                summary,
                heatmap: None,
            },
        ]
    }

    #[test]
    fn job_with_no_answer_fails() {
        let mut summary = sample_summary(4, JobState::Completed);
        summary.counts.total = 2;
        summary.counts.done = 0;
        summary.counts.failed = 2;
        let err = ended(&summary, "heatmapctl").unwrap_err();
        assert!(
            err.to_string().contains("answered none of its 2 items"),
            "{err}"
        );

        summary.counts.done = 1;
        summary.counts.failed = 1;
        assert!(ended(&summary, "heatmapctl").is_ok());
    }

    #[tokio::test]
    async fn notes_go_to_stderr() {
        let mut connection = Scripted::new(events());
        let mut capture = Capture::default();
        run(
            &mut connection,
            &mut capture.output(false),
            3,
            std::future::pending(),
        )
        .await
        .unwrap();
        assert_eq!(connection.sent, vec![Request::Follow { id: 3 }]);
        assert_eq!(capture.err(), "retrying a: HTTP 429\naggregating\n");
        let out = capture.out();
        assert!(
            out.starts_with("job 3 completed: 60 of 60 items answered, 0 failed\n"),
            "{out}"
        );
        assert!(
            out.contains("no heatmap was written, because no grade was found"),
            "{out}"
        );
    }

    #[tokio::test]
    async fn json_stream_has_no_notes() {
        let mut connection = Scripted::new(events());
        let mut capture = Capture::default();
        run(
            &mut connection,
            &mut capture.output(true),
            3,
            std::future::pending(),
        )
        .await
        .unwrap();
        assert_eq!(capture.err(), "");
        assert_eq!(capture.out().lines().count(), 3);
    }

    #[test]
    fn interrupt_without_job_id() {
        let failure = interrupted(None, "heatmapctl");
        assert_eq!(failure.code, INTERRUPTED);
        assert!(
            failure
                .message
                .contains("heatmapctl list shows whether it was queued"),
            "{failure}"
        );
    }

    #[tokio::test]
    async fn closed_stream_reported() {
        let mut connection = Scripted::new(vec![]);
        let mut capture = Capture::default();
        let result = stream(
            &mut connection,
            &mut capture.output(false),
            None,
            std::future::pending(),
        )
        .await;
        let message = format!("{:#}", result.unwrap_err());
        assert!(
            message.contains("heatmapd closed the connection"),
            "{message}"
        );
    }

    #[test]
    fn retry_repeats_held_back() {
        let mut notes = RetryNotes::default();
        let start = Instant::now();
        assert_eq!(
            notes.admit("a", "HTTP 503", start).as_deref(),
            Some("retrying a: HTTP 503")
        );
        assert_eq!(
            notes.admit("a", "HTTP 503", start + Duration::from_secs(1)),
            None
        );
        assert_eq!(
            notes.admit("a", "HTTP 503", start + Duration::from_secs(2)),
            None
        );
        assert!(
            notes
                .admit("b", "HTTP 503", start + Duration::from_secs(2))
                .is_some()
        );
        let later = notes.admit(
            "a",
            "HTTP 503",
            start + RETRY_QUIET_PERIOD + Duration::from_secs(1),
        );
        assert_eq!(
            later.as_deref(),
            Some("retrying a: HTTP 503 (2 more like it not shown)")
        );
    }

    #[test]
    fn failure_line_names_item() {
        let failure = ItemFailure {
            model: "m".into(),
            temperature: 0.7,
            prompt_id: "geo-01".into(),
            repeat: 2,
            attempts: 5,
            error: "HTTP 503".into(),
        };
        assert_eq!(
            failure_line(&failure),
            "failed: m at temperature 0.7, prompt geo-01 (repeat 2), after 5 attempts: HTTP 503"
        );
    }
}
