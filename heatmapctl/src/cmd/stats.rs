//! `heatmapctl stats`: storage, file counts, grades by outcome and per-model timing.

use heatmap_proto::{Request, Response, StatsReport};

use crate::client::{self, Transport};
use crate::output::Output;
use crate::render;

/// Asks heatmapd for the statistics of its workspace.
pub async fn run<T: Transport>(connection: &mut T, output: &mut Output<'_>) -> anyhow::Result<()> {
    let response = client::call(connection, output, Request::Stats).await?;
    let Response::Stats(report) = &response else {
        return Err(client::unexpected("Stats", &response));
    };
    if output.json {
        return Ok(());
    }
    output.line(describe(report))
}

/// Renders the counts, then a table of timings per model.
pub fn describe(report: &StatsReport) -> String {
    let mut lines = vec![
        format!("output/: {}", render::size(Some(report.output_bytes))),
        format!(
            "files: {} answers, {} grades, {} other",
            report.answer_files, report.grade_files, report.other_files
        ),
        format!(
            "grades: {} scored, {} unscored, {} invalid",
            report.scored, report.unscored, report.invalid
        ),
    ];
    if report.per_model.is_empty() {
        lines.push("no answered items in the queue yet".to_string());
        return lines.join("\n");
    }
    let mut table = render::table(&["MODEL", "ITEMS", "MEDIAN ITEM", "TOKENS/S"]);
    for model in &report.per_model {
        table.add_row(vec![
            model.model.clone(),
            model.items.to_string(),
            model
                .median_item_ms
                .map_or_else(|| "-".to_string(), milliseconds),
            model
                .tokens_per_second
                .map_or_else(|| "-".to_string(), |rate| format!("{rate:.1}")),
        ]);
    }
    render::align_right(&mut table, &[1, 2, 3]);
    lines.push(String::new());
    lines.push(render::to_text(&table));
    lines.join("\n")
}

/// Formats a duration in milliseconds: `850 ms`, or `2.35 s` from one second up.
fn milliseconds(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use heatmap_proto::ModelStats;

    #[test]
    fn report_text() {
        let report = StatsReport {
            output_bytes: 2048,
            answer_files: 10,
            grade_files: 9,
            other_files: 2,
            scored: 7,
            unscored: 1,
            invalid: 1,
            per_model: vec![
                ModelStats {
                    model: "gemma3:1b".into(),
                    items: 10,
                    median_item_ms: Some(850.4),
                    tokens_per_second: Some(41.25),
                },
                ModelStats {
                    model: "tiny".into(),
                    items: 3,
                    median_item_ms: Some(2345.0),
                    tokens_per_second: None,
                },
            ],
        };
        let expected = "\
output/: 2.00 KiB
files: 10 answers, 9 grades, 2 other
grades: 7 scored, 1 unscored, 1 invalid

MODEL      ITEMS  MEDIAN ITEM  TOKENS/S
gemma3:1b     10       850 ms      41.2
tiny           3       2.35 s         -";
        assert_eq!(describe(&report), expected);
    }

    #[test]
    fn empty_queue_is_said() {
        let report = StatsReport {
            output_bytes: 0,
            answer_files: 0,
            grade_files: 0,
            other_files: 0,
            scored: 0,
            unscored: 0,
            invalid: 0,
            per_model: vec![],
        };
        assert!(describe(&report).ends_with("no answered items in the queue yet"));
    }
}
