//! The output watcher: a grade file that another tool renames into
//! `output/` makes the daemon rewrite `output/Summaries/heatmap_live.csv`.

mod common;

use std::path::Path;
use std::time::{Duration, SystemTime};

use common::{Workspace, wait_for};
use serde_json::{Value, json};

/// Time the watcher gets to rewrite the live heatmap after a new grade.
const REFRESH_TIMEOUT: Duration = Duration::from_secs(10);

/// Writes a grade to a temporary file outside `output/`, then renames it to
/// `dir/name`, so the watcher never reads a partly written file.
fn rename_grade_into(workspace: &Workspace, dir: &Path, name: &str, grade: &Value) {
    let staging = workspace.dir().join(format!("staging-{name}"));
    std::fs::write(&staging, grade.to_string()).expect("cannot write the staged grade");
    std::fs::rename(&staging, dir.join(name)).expect("cannot rename the grade into output/");
}

/// Waits until the live heatmap has the row `expected_row`, and returns its text.
fn wait_for_live_row(workspace: &Workspace, expected_row: &str) -> String {
    let live = workspace
        .output()
        .join("Summaries")
        .join("heatmap_live.csv");
    wait_for(
        &format!("heatmap_live.csv to contain {expected_row:?}"),
        REFRESH_TIMEOUT,
        || {
            let text = std::fs::read_to_string(&live).ok()?;
            text.lines()
                .any(|line| line == expected_row)
                .then_some(text)
        },
    )
}

fn modified_time(path: &Path) -> SystemTime {
    let metadata = std::fs::metadata(path)
        .unwrap_or_else(|error| panic!("cannot read the metadata of {}: {error}", path.display()));
    metadata
        .modified()
        .expect("the file system records modification times")
}

#[test]
fn watcher_refreshes_live_heatmap() {
    let workspace = Workspace::new();
    let daemon = workspace.start_daemon(&[]);
    let dir = workspace.output().join("x").join("s");
    std::fs::create_dir_all(&dir).expect("cannot create output/x/s");

    let right = json!({
        "model": "watched-model", "temperature": 0.3, "prompt_id": "q1", "session": "s",
        "grader": "exact", "accuracy": 1.0, "correct": true,
    });
    rename_grade_into(&workspace, &dir, "x.t03,numq1_eval.json", &right);
    let text = wait_for_live_row(&workspace, "watched-model,1.0000");
    assert_eq!(
        text.lines().next(),
        Some("Model,0.3"),
        "header of heatmap_live.csv:\n{text}"
    );

    let wrong = json!({
        "model": "watched-model", "temperature": 0.3, "prompt_id": "q2", "session": "s",
        "grader": "exact", "accuracy": 0.0, "correct": false,
    });
    rename_grade_into(&workspace, &dir, "x.t03,numq2_eval.json", &wrong);
    wait_for_live_row(&workspace, "watched-model,0.5000");

    // Rewriting the live heatmap must not trigger the watcher again. A
    // refresh already under way may still land, so the check starts later.
    let live = workspace
        .output()
        .join("Summaries")
        .join("heatmap_live.csv");
    std::thread::sleep(Duration::from_secs(1));
    let modified = modified_time(&live);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        modified_time(&live),
        modified,
        "heatmap_live.csv keeps being rewritten without a new grade"
    );
    daemon.assert_running();
}
