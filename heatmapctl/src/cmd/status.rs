//! `heatmapctl status`: the daemon's state, or one job's progress and failures.

use std::path::Path;

use heatmap_proto::{DaemonStatus, JobDetail, JobId, Request, Response};

use crate::client::{self, Transport};
use crate::output::Output;
use crate::parse::format_temperature;
use crate::render;

/// Failures shown by `status JOB`; `--json` carries all that the daemon sends.
const MAX_FAILURES_SHOWN: usize = 20;

/// Shows the daemon's status, or with `job` that job's detail.
pub async fn run<T: Transport>(
    connection: &mut T,
    output: &mut Output<'_>,
    job: Option<JobId>,
    socket: &Path,
) -> anyhow::Result<()> {
    let Some(id) = job else {
        let response = client::call(connection, output, Request::Status).await?;
        let Response::Status(status) = &response else {
            return Err(client::unexpected("Status", &response));
        };
        if output.json {
            return Ok(());
        }
        return output.line(daemon_text(status, socket));
    };
    let response = client::call(connection, output, Request::Job { id }).await?;
    let Response::Job(detail) = &response else {
        return Err(client::unexpected("Job", &response));
    };
    if output.json {
        return Ok(());
    }
    output.line(job_text(detail, &output.program))
}

/// Describes the daemon: version, process, workspace, uptime and jobs.
pub fn daemon_text(status: &DaemonStatus, socket: &Path) -> String {
    let watcher = if status.watching { "on" } else { "off" };
    [
        format!("heatmapd {} (pid {})", status.version, status.pid),
        format!("root:     {}", status.root),
        format!("socket:   {}", socket.display()),
        format!("uptime:   {}", render::duration(status.uptime_secs)),
        format!(
            "jobs:     {} active, {} in total",
            status.active_jobs, status.total_jobs
        ),
        format!("watcher:  {watcher}"),
    ]
    .join("\n")
}

/// Describes a job: its settings, counts per model, session folders and up to 20 failures.
pub fn job_text(detail: &JobDetail, program: &str) -> String {
    let job = &detail.summary;
    let mut lines = vec![
        format!("job {}  {}", job.id, job.state),
        format!("backend:   {} {}", job.backend, job.urls.join(" ")),
        format!("models:    {}", job.models.join(", ")),
        format!("temps:     {}", render::temperature_list(&job.temperatures)),
        format!("prompts:   {}", job.prompts),
        format!("grade:     {}", job.grade),
        format!("crunch:    {}", if job.crunch { "yes" } else { "no" }),
        format!("created:   {}", job.created_at),
    ];
    if let Some(finished) = &job.finished_at {
        lines.push(format!("finished:  {finished}"));
    }
    lines.push(format!(
        "items:     {} ({:.1} items/s)",
        render::counts(&job.counts),
        detail.rate
    ));
    if let Some(error) = &job.error {
        lines.push(format!("error:     {error}"));
    }

    if !job.per_model.is_empty() {
        let mut table = render::table(&["MODEL", "DONE/TOTAL", "FAILED", "RUNNING", "PENDING"]);
        for model in &job.per_model {
            let counts = &model.counts;
            table.add_row(vec![
                model.model.clone(),
                format!("{}/{}", counts.done + counts.failed, counts.total),
                counts.failed.to_string(),
                counts.running.to_string(),
                counts.pending.to_string(),
            ]);
        }
        render::align_right(&mut table, &[1, 2, 3, 4]);
        lines.push(String::new());
        lines.push(render::to_text(&table));
    }

    if !job.sessions.is_empty() {
        lines.push(String::new());
        lines.push(render::sessions(&job.sessions));
    }

    if !detail.failures.is_empty() {
        lines.push(String::new());
        lines.push(failures_text(detail, program));
    }
    lines.join("\n")
}

fn failures_text(detail: &JobDetail, program: &str) -> String {
    let shown = detail.failures.len().min(MAX_FAILURES_SHOWN);
    let failed = detail
        .summary
        .counts
        .failed
        .max(detail.failures.len() as u64);
    let mut table = render::table(&["MODEL", "TEMP", "PROMPT", "ATTEMPTS", "ERROR"]);
    for failure in &detail.failures[..shown] {
        let prompt = if failure.repeat > 0 {
            format!("{} (repeat {})", failure.prompt_id, failure.repeat)
        } else {
            failure.prompt_id.clone()
        };
        table.add_row(vec![
            failure.model.clone(),
            format_temperature(failure.temperature),
            prompt,
            failure.attempts.to_string(),
            failure.error.clone(),
        ]);
    }
    render::align_right(&mut table, &[1, 3]);
    let mut text = format!(
        "failed items ({shown} of {failed} shown):\n{}",
        render::to_text(&table)
    );
    if (shown as u64) < failed {
        text.push_str(&format!(
            "\n{program} --json status {} lists up to 100 failures",
            detail.summary.id
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Capture, Scripted, sample_summary};
    use heatmap_proto::{ItemFailure, JobState};

    fn failure(index: usize) -> ItemFailure {
        ItemFailure {
            model: "a".into(),
            temperature: 0.05,
            prompt_id: format!("geo-{index:02}"),
            repeat: 0,
            attempts: 5,
            error: "HTTP 503".into(),
        }
    }

    #[test]
    fn daemon_status_lines() {
        let status = DaemonStatus {
            version: "0.1.0".into(),
            pid: 77,
            root: "/srv/bench".into(),
            uptime_secs: 7_500,
            active_jobs: 1,
            total_jobs: 3,
            watching: true,
        };
        let text = daemon_text(&status, Path::new("/run/user/1000/heatmapd/heatmapd.sock"));
        assert!(
            text.starts_with(
                "heatmapd 0.1.0 (pid 77)
"
            ),
            "{text}"
        );
        assert!(text.contains("root:     /srv/bench"), "{text}");
        assert!(text.contains("uptime:   2h 5m"), "{text}");
        assert!(text.contains("jobs:     1 active, 3 in total"), "{text}");
    }

    #[test]
    fn job_failures_capped_at_20() {
        let mut summary = sample_summary(5, JobState::Completed);
        summary.counts.failed = 25;
        let detail = JobDetail {
            summary,
            failures: (0..25).map(failure).collect(),
            rate: 0.0,
        };
        let text = job_text(&detail, "heatmapctl");
        assert!(text.contains("failed items (20 of 25 shown):"), "{text}");
        assert!(text.contains("geo-19"), "{text}");
        assert!(!text.contains("geo-20"), "{text}");
        assert!(
            text.contains("heatmapctl --json status 5 lists up to 100 failures"),
            "{text}"
        );
    }

    #[test]
    fn job_failure_row() {
        let summary = sample_summary(5, JobState::Running);
        let detail = JobDetail {
            summary,
            failures: vec![failure(1)],
            rate: 2.5,
        };
        let text = job_text(&detail, "heatmapctl");
        let row = text.lines().find(|line| line.contains("geo-01")).unwrap();
        let fields: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(fields, ["a", "0.05", "geo-01", "5", "HTTP", "503"]);
        assert!(text.contains("(2.5 items/s)"), "{text}");
        assert!(text.contains("output/a/20261204_100000"), "{text}");
    }

    #[tokio::test]
    async fn status_job_sends_job_request() {
        let detail = JobDetail {
            summary: sample_summary(5, JobState::Queued),
            failures: vec![],
            rate: 0.0,
        };
        let mut connection = Scripted::new(vec![Response::Job(detail)]);
        let mut capture = Capture::default();
        let result = run(
            &mut connection,
            &mut capture.output(false),
            Some(5),
            Path::new("/s"),
        )
        .await;
        result.unwrap();
        assert_eq!(connection.sent, vec![Request::Job { id: 5 }]);
        assert!(
            capture.out().starts_with(
                "job 5  queued
"
            ),
            "{}",
            capture.out()
        );
    }
}
