//! `heatmapctl list`: a table of jobs, newest first.

use heatmap_proto::{JobSummary, Request, Response};

use crate::client::{self, Transport};
use crate::output::Output;
use crate::render;

/// Lists the daemon's jobs.
pub async fn run<T: Transport>(connection: &mut T, output: &mut Output<'_>) -> anyhow::Result<()> {
    let response = client::call(connection, output, Request::List).await?;
    let Response::Jobs(jobs) = &response else {
        return Err(client::unexpected("List", &response));
    };
    if output.json {
        return Ok(());
    }
    if jobs.is_empty() {
        return output.line(format!(
            "no jobs; queue one with: {} submit --model MODEL",
            output.program
        ));
    }
    output.line(jobs_table(jobs))
}

/// Renders jobs as a table: id, state, models, temperatures, progress, failures and creation time.
pub fn jobs_table(jobs: &[JobSummary]) -> String {
    let mut table = render::table(&[
        "ID",
        "STATE",
        "MODELS",
        "TEMPS",
        "DONE/TOTAL",
        "FAILED",
        "CREATED",
    ]);
    for job in jobs {
        table.add_row(vec![
            job.id.to_string(),
            job.state.to_string(),
            render::model_list(&job.models),
            render::temperature_range(&job.temperatures),
            format!(
                "{}/{}",
                job.counts.done + job.counts.failed,
                job.counts.total
            ),
            job.counts.failed.to_string(),
            job.created_at.clone(),
        ]);
    }
    render::align_right(&mut table, &[0, 4, 5]);
    render::to_text(&table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Capture, Scripted, sample_summary};
    use heatmap_proto::JobState;

    #[test]
    fn table_columns() {
        let mut job = sample_summary(7, JobState::Running);
        job.counts.done = 10;
        job.counts.failed = 2;
        let text = jobs_table(&[job]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].starts_with("ID  STATE"), "{text}");
        assert!(lines[1].contains("running"), "{text}");
        assert!(lines[1].contains("a, b"), "{text}");
        assert!(lines[1].contains("3 (0-1)"), "{text}");
        assert!(lines[1].contains("12/60"), "{text}");
        assert!(lines[1].contains("2026-12-04T10:00:00Z"), "{text}");
    }

    #[tokio::test]
    async fn empty_list_hint() {
        let mut connection = Scripted::new(vec![Response::Jobs(vec![])]);
        let mut capture = Capture::default();
        let result = run(&mut connection, &mut capture.output(false)).await;
        let out = capture.out();
        result.unwrap();
        assert_eq!(
            out,
            "no jobs; queue one with: heatmapctl submit --model MODEL\n"
        );
        assert_eq!(connection.sent, vec![Request::List]);
    }

    #[tokio::test]
    async fn json_prints_response() {
        let mut connection = Scripted::new(vec![Response::Jobs(vec![])]);
        let mut capture = Capture::default();
        let result = run(&mut connection, &mut capture.output(true)).await;
        let out = capture.out();
        result.unwrap();
        assert_eq!(out, "{\"Jobs\":[]}\n");
    }
}
