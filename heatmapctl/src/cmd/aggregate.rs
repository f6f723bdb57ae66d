//! `heatmapctl aggregate` and `derive`: heatmap snapshots and their derivative files.

use heatmap_proto::{Request, Response};

use crate::client::{self, Transport};
use crate::output::Output;
use crate::render;

/// Aggregates the given session folders, or all of `output/` when none are given.
pub async fn aggregate<T: Transport>(
    connection: &mut T,
    output: &mut Output<'_>,
    sessions: Vec<String>,
) -> anyhow::Result<()> {
    let response = client::call(connection, output, Request::Aggregate { sessions }).await?;
    let Response::Aggregated(report) = &response else {
        return Err(client::unexpected("Aggregate", &response));
    };
    if output.json {
        return Ok(());
    }
    output.line(render::aggregate_report(report, true))
}

/// Writes the derivative family of the given heatmap ids, or of all of them.
pub async fn derive<T: Transport>(
    connection: &mut T,
    output: &mut Output<'_>,
    ids: Vec<String>,
    all: bool,
) -> anyhow::Result<()> {
    let response = client::call(connection, output, Request::Derive { ids, all }).await?;
    let Response::Derived(reports) = &response else {
        return Err(client::unexpected("Derive", &response));
    };
    if output.json {
        return Ok(());
    }
    if reports.is_empty() {
        return output.line("no heatmap is registered yet; run aggregate first");
    }
    for report in reports {
        output.line(format!("heatmap {}:", report.id))?;
        for file in &report.files {
            output.line(format!("  wrote {file}"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Capture, Scripted, sample_report};
    use heatmap_proto::DeriveReport;

    #[tokio::test]
    async fn aggregate_prints_table_counts_and_paths() {
        let mut connection = Scripted::new(vec![Response::Aggregated(sample_report())]);
        let mut capture = Capture::default();
        let result = aggregate(
            &mut connection,
            &mut capture.output(false),
            vec!["a/20261204_100000".into()],
        )
        .await;
        result.unwrap();
        let out = capture.out();
        assert!(out.starts_with("MODEL     0   0.5     1\n"), "{out}");
        assert!(out.contains("\na      0.90  0.75     -\n"), "{out}");
        assert!(out.contains("graded 38, unscored 1, invalid 0"), "{out}");
        assert!(
            out.contains("heatmap 0badf00d: output/Summaries/heatmap_20261204_101500.csv"),
            "{out}"
        );
        assert!(
            out.contains("wrote output/Summaries/super_valid.json"),
            "{out}"
        );
        assert_eq!(
            connection.sent,
            vec![Request::Aggregate {
                sessions: vec!["a/20261204_100000".into()]
            }]
        );
    }

    #[tokio::test]
    async fn derive_lists_files() {
        let report = DeriveReport {
            id: "0badf00d".into(),
            files: vec!["output/Summaries/heatmap_derivative_0badf00d.csv".into()],
        };
        let mut connection = Scripted::new(vec![Response::Derived(vec![report])]);
        let mut capture = Capture::default();
        let result = derive(&mut connection, &mut capture.output(false), vec![], true).await;
        result.unwrap();
        assert_eq!(
            capture.out(),
            "heatmap 0badf00d:\n  wrote output/Summaries/heatmap_derivative_0badf00d.csv\n"
        );
        assert_eq!(
            connection.sent,
            vec![Request::Derive {
                ids: vec![],
                all: true
            }]
        );
    }
}
