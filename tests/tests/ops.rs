//! Workspace commands against the real binaries: settings, stats, show,
//! purge and the temperature canary.

mod common;

use std::path::Path;

use common::{PromptCase, Workspace, case_for, numbered_prompts};
use heatmap_tests::fake::{FakeConfig, FakeReply, FakeRequest, FakeServer, WRONG_ANSWER};
use serde_json::Value;

const ALPHA: &str = "alpha";

/// Parses the one JSON line that `heatmapctl --json` printed and returns the
/// payload of the response variant `variant`.
fn json_payload(stdout: &str, variant: &str) -> Value {
    let line = stdout
        .lines()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("");
    let value: Value = serde_json::from_str(line)
        .unwrap_or_else(|error| panic!("invalid JSON ({error}): {stdout:?}"));
    value
        .get(variant)
        .cloned()
        .unwrap_or_else(|| panic!("no {variant} response in {stdout:?}"))
}

/// Starts a fake server for `models` that answers the prompts of `cases`
/// correctly and every other prompt through `other`.
fn server(
    models: &[&str],
    cases: Vec<PromptCase>,
    other: fn(&FakeRequest) -> FakeReply,
) -> FakeServer {
    FakeServer::start_blocking(FakeConfig::new(
        models.to_vec(),
        move |request| match case_for(&cases, &request.prompt) {
            Some(case) => FakeReply::text(&case.answer),
            None => other(request),
        },
    ))
}

/// Replies with the same word at temperature 0 and a new word per attempt above it.
fn honouring(request: &FakeRequest) -> FakeReply {
    match request.temperature {
        Some(t) if t > 0.0 => FakeReply::text(format!("word{}", request.attempt)),
        _ => FakeReply::text("blue"),
    }
}

/// Replies with the same word whatever the temperature.
fn ignoring(_: &FakeRequest) -> FakeReply {
    FakeReply::text("blue")
}

fn read_settings(workspace: &Workspace) -> Value {
    let text = std::fs::read_to_string(workspace.root.join("settings.json"))
        .expect("settings.json exists");
    serde_json::from_str(&text).expect("settings.json is JSON")
}

#[test]
fn settings_set_and_show() {
    let workspace = Workspace::new();
    workspace.write_file("settings.json", "{\"my_note\": \"keep\"}\n");
    let _daemon = workspace.start_daemon(&["--no-watch"]);

    workspace
        .ctl(&[
            "settings",
            "set",
            "temp_min",
            "0",
            "temp_max",
            "2",
            "temp_step",
            "0.05",
        ])
        .assert_success();
    workspace
        .ctl(&["settings", "set", "question_range", "5..40"])
        .assert_success();
    let written = read_settings(&workspace);
    assert_eq!(written["temp_max"], 2.0);
    assert_eq!(written["temp_step"], 0.05);
    assert_eq!(written["question_range"]["start"], 5);
    assert_eq!(written["question_range"]["end"], 40);
    assert_eq!(written["my_note"], "keep");

    workspace
        .ctl(&[
            "settings",
            "set",
            "question_range.end",
            "null",
            "min_samples",
            "3",
        ])
        .assert_success();
    let shown = workspace.ctl(&["--json", "settings"]);
    shown.assert_success();
    let view = json_payload(&shown.stdout, "Settings");
    let temperatures = view["temperatures"]
        .as_array()
        .expect("temperatures is a list");
    assert_eq!(temperatures.len(), 41);
    assert_eq!(temperatures[1], 0.05);
    assert_eq!(temperatures[40], 2.0);
    assert_eq!(view["question_start"], 5);
    assert_eq!(view["question_end"], Value::Null);
    assert_eq!(view["min_samples"], 3);

    let text = workspace.ctl(&["settings"]);
    text.assert_success();
    assert!(
        text.stdout.contains("temperatures: 41 (0-2)"),
        "{}",
        text.describe()
    );
    assert!(
        text.stdout.contains("questions: 5.. (to the last prompt)"),
        "{}",
        text.describe()
    );
}

#[test]
fn settings_invalid_value_rejected() {
    let workspace = Workspace::new();
    workspace.write_file("settings.json", "{\"temp_max\": 1.0}\n");
    let _daemon = workspace.start_daemon(&["--no-watch"]);

    let rejected = workspace.ctl(&["settings", "set", "temp_max", "3", "temp_step", "0"]);
    assert_eq!(rejected.code, Some(1), "{}", rejected.describe());
    assert!(
        rejected.stderr.contains("invalid setting temp_step"),
        "{}",
        rejected.describe()
    );
    let unknown = workspace.ctl(&["settings", "set", "colour", "red"]);
    assert_eq!(unknown.code, Some(1), "{}", unknown.describe());
    assert!(
        unknown.stderr.contains("known keys: temp_min"),
        "{}",
        unknown.describe()
    );
    let text = std::fs::read_to_string(workspace.root.join("settings.json")).unwrap();
    assert_eq!(
        text, "{\"temp_max\": 1.0}\n",
        "a rejected change writes nothing"
    );
}

#[test]
fn job_stats_and_show_snapshot() {
    let workspace = Workspace::new();
    let cases = numbered_prompts(3);
    workspace.write_prompts(&cases);
    let fake = server(&[ALPHA], cases, |_| FakeReply::text(WRONG_ANSWER));
    let _daemon = workspace.start_daemon(&["--no-watch"]);
    workspace
        .ctl(&[
            "submit",
            "--url",
            fake.url(),
            "--backend",
            "openai",
            "--model",
            ALPHA,
            "--temps",
            "0,1",
            "--wait",
        ])
        .assert_success();

    let stats = workspace.ctl(&["--json", "stats"]);
    stats.assert_success();
    let report = json_payload(&stats.stdout, "Stats");
    assert_eq!(report["answer_files"], 6);
    assert_eq!(report["grade_files"], 6);
    assert_eq!(report["scored"], 6);
    assert_eq!(report["unscored"], 0);
    assert_eq!(report["invalid"], 0);
    assert!(report["output_bytes"].as_u64().unwrap() > 0, "{report}");
    let per_model = report["per_model"].as_array().unwrap();
    assert_eq!(per_model.len(), 1);
    assert_eq!(per_model[0]["model"], ALPHA);
    assert_eq!(per_model[0]["items"], 6);
    assert!(
        per_model[0]["median_item_ms"].as_f64().is_some(),
        "{report}"
    );

    let index: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace.output().join("Summaries/csv_index.json")).unwrap(),
    )
    .unwrap();
    let id = index
        .as_object()
        .unwrap()
        .keys()
        .next()
        .expect("one snapshot")
        .clone();
    let shown = workspace.ctl(&["show", &id]);
    shown.assert_success();
    let lines: Vec<&str> = shown.stdout.lines().collect();
    assert!(
        lines[0].starts_with(&format!("heatmap {id}: ")),
        "{}",
        shown.describe()
    );
    // The snapshot's long CSV gives each cell its grade count.
    assert_eq!(lines[1], "MODEL         0         1");
    assert_eq!(lines[2], "alpha  1.00 n=3  1.00 n=3");
    assert!(
        !shown.stdout.contains('\x1b'),
        "no colour without a terminal"
    );

    let unknown = workspace.ctl(&["show", "nothere"]);
    assert_eq!(unknown.code, Some(1), "{}", unknown.describe());
    assert!(
        unknown.stderr.contains(&format!("known ids: {id}, live")),
        "{}",
        unknown.describe()
    );
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[cfg(unix)]
#[test]
fn purge_keeps_symlink_target() {
    let workspace = Workspace::new();
    let output = workspace.output();
    let outside = workspace.dir().join("outside");
    write(&outside.join("precious.txt"), "do not delete");
    write(&output.join("m/20260101_120000/m.t00,num1.txt"), "Paris");
    write(
        &output.join("m/20260101_120000/m.t00,num1_eval.json"),
        "{\"accuracy\": 1}",
    );
    write(&output.join("Summaries/heatmap_live.csv"), "Model\n");
    std::os::unix::fs::symlink(&outside, output.join("linked")).unwrap();
    std::os::unix::fs::symlink(&outside, output.join("m/20260101_120000/inner_link")).unwrap();
    let _daemon = workspace.start_daemon(&["--no-watch"]);

    let unconfirmed = workspace.ctl(&["purge", "--all"]);
    assert_eq!(unconfirmed.code, Some(1), "{}", unconfirmed.describe());
    assert!(
        unconfirmed.stderr.contains("pass --yes"),
        "{}",
        unconfirmed.describe()
    );
    assert!(
        unconfirmed
            .stdout
            .contains("would remove 4 files and 2 folders"),
        "{}",
        unconfirmed.describe()
    );
    assert!(
        output.join("m/20260101_120000/m.t00,num1.txt").exists(),
        "nothing removed without --yes"
    );

    let purged = workspace.ctl(&["purge", "--all", "--yes"]);
    purged.assert_success();
    assert!(
        purged.stdout.contains("removed 4 files and 2 folders"),
        "{}",
        purged.describe()
    );
    assert_eq!(
        std::fs::read_to_string(outside.join("precious.txt")).unwrap(),
        "do not delete"
    );
    assert!(
        std::fs::symlink_metadata(output.join("linked")).is_err(),
        "the link itself is removed"
    );
    assert!(!output.join("m").exists());
    assert!(
        output.join("Summaries/heatmap_live.csv").exists(),
        "summaries stay without --summaries"
    );
}

#[test]
fn purge_rejects_path_as_model() {
    let workspace = Workspace::new();
    write(&workspace.output().join("m/s/m.t00,num1.txt"), "Paris");
    let _daemon = workspace.start_daemon(&["--no-watch"]);
    let rejected = workspace.ctl(&["purge", "--model", "../root", "--yes"]);
    assert_eq!(rejected.code, Some(1), "{}", rejected.describe());
    assert!(
        rejected.stderr.contains("invalid model \"../root\""),
        "{}",
        rejected.describe()
    );
    let session = workspace.ctl(&["purge", "--model", "m", "--session", "../s", "--yes"]);
    assert_eq!(session.code, Some(1), "{}", session.describe());
    assert!(
        session.stderr.contains("invalid session"),
        "{}",
        session.describe()
    );
    assert!(workspace.output().join("m/s/m.t00,num1.txt").exists());
}

#[test]
fn canary_honouring_server_passes() {
    let workspace = Workspace::new();
    let cases = numbered_prompts(1);
    workspace.write_prompts(&cases);
    let fake = server(&[ALPHA], cases, honouring);
    let _daemon = workspace.start_daemon(&["--no-watch"]);

    let canary = workspace.ctl(&[
        "canary",
        "--url",
        fake.url(),
        "--backend",
        "openai",
        "--model",
        ALPHA,
        "--high",
        "1.5",
    ]);
    canary.assert_success();
    assert!(
        canary.stdout.contains("alpha honours temperature"),
        "{}",
        canary.describe()
    );
    let high_requests = fake
        .requests()
        .iter()
        .filter(|r| r.temperature == Some(1.5))
        .count();
    assert_eq!(high_requests, 5);

    workspace
        .ctl(&[
            "submit",
            "--url",
            fake.url(),
            "--backend",
            "openai",
            "--model",
            ALPHA,
            "--temps",
            "0,1",
            "--canary",
        ])
        .assert_success();
}

#[test]
fn canary_ignoring_server_rejects_submit() {
    let workspace = Workspace::new();
    let cases = numbered_prompts(1);
    workspace.write_prompts(&cases);
    let fake = server(&[ALPHA], cases, ignoring);
    let _daemon = workspace.start_daemon(&["--no-watch"]);

    let canary = workspace.ctl(&[
        "canary",
        "--url",
        fake.url(),
        "--backend",
        "openai",
        "--model",
        ALPHA,
        "--high",
        "1",
    ]);
    assert_eq!(canary.code, Some(1), "{}", canary.describe());
    assert!(
        canary.stdout.contains("alpha does not honour temperature"),
        "{}",
        canary.describe()
    );

    let submit = workspace.ctl(&[
        "submit",
        "--url",
        fake.url(),
        "--backend",
        "openai",
        "--model",
        ALPHA,
        "--temps",
        "0,1",
        "--canary",
    ]);
    assert_eq!(submit.code, Some(1), "{}", submit.describe());
    assert!(
        submit.stderr.contains("rejected by the temperature canary"),
        "{}",
        submit.describe()
    );
    assert!(
        submit.stderr.contains("alpha does not honour temperature"),
        "{}",
        submit.describe()
    );
    assert!(workspace.job_states().is_empty(), "no job is queued");
}
