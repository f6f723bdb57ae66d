//! Whole jobs against the fake server: heatmap cells that match the scripted
//! answers on both APIs, the temperature sent with every request, and how
//! many models have requests in flight with and without Crunch Mode.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{
    Daemon, ItemKey, PromptCase, Workspace, case_for, file_name, grid_keys, numbered_prompts,
    temp_tag,
};
use heatmap_tests::fake::{FakeConfig, FakeReply, FakeServer, WRONG_ANSWER};
use serde_json::Value;

const ALPHA: &str = "alpha";
const BETA: &str = "beta:1b";
/// Folder of `beta:1b`, whose `:` is not allowed in folder names and becomes `_`.
const BETA_DIR: &str = "beta_1b";
const PROMPT_COUNT: usize = 8;

/// Tells whether a scripted model answers correctly. alpha is right except on
/// prompt 8 at temperature 1 and above. beta is right only below temperature
/// 0.75, and never on prompts whose number is a multiple of 4.
fn answers_correctly(model: &str, temperature: f64, prompt_number: usize) -> bool {
    match model {
        ALPHA => temperature < 1.0 || prompt_number != 8,
        BETA => temperature < 0.75 && !prompt_number.is_multiple_of(4),
        _ => false,
    }
}

/// Returns the number in a prompt id such as `q7`.
fn prompt_number(case: &PromptCase) -> usize {
    case.id[1..].parse().expect("prompt ids are q<number>")
}

/// Returns the scripted answer of a model at a temperature.
fn scripted_answer(model: &str, temperature: f64, case: &PromptCase) -> String {
    if answers_correctly(model, temperature, prompt_number(case)) {
        case.answer.clone()
    } else {
        WRONG_ANSWER.to_owned()
    }
}

/// Starts a fake server for alpha and beta that answers as
/// [`answers_correctly`] says. A request without a temperature gets the wrong
/// answer, so a missing temperature shows in the heatmap too.
fn grid_server(cases: Vec<PromptCase>, delay: Duration) -> FakeServer {
    let config = FakeConfig::new([ALPHA, BETA], move |request| {
        let Some(case) = case_for(&cases, &request.prompt) else {
            return FakeReply::text(WRONG_ANSWER);
        };
        let temperature = request.temperature.unwrap_or(f64::NAN);
        FakeReply::text(scripted_answer(&request.model, temperature, case))
    });
    FakeServer::start_blocking(config.delay(delay))
}

/// Runs a graded 2 models x 3 temperatures x 8 prompts job on `backend` and
/// checks the heatmap, the requests, the answer and grade files and the queue.
fn check_grid_job(backend: &str, temperatures: &[f64], expected_csv: &str) {
    let workspace = Workspace::new();
    let cases = numbered_prompts(PROMPT_COUNT);
    workspace.write_prompts(&cases);
    let fake = grid_server(cases.clone(), Duration::ZERO);
    let _daemon = workspace.start_daemon(&[]);

    let temps_arg: Vec<String> = temperatures.iter().map(f64::to_string).collect();
    let temps_arg = temps_arg.join(",");
    let submit = workspace.ctl(&[
        "submit",
        "--url",
        fake.url(),
        "--backend",
        backend,
        "--model",
        ALPHA,
        "--model",
        BETA,
        "--temps",
        &temps_arg,
        "--grade",
        "exact",
        "--wait",
    ]);
    submit.assert_success();

    // The snapshot written at the job's end, cell by cell, then as a whole.
    let snapshots = workspace.snapshots();
    assert_eq!(
        snapshots.len(),
        1,
        "expected one heatmap snapshot: {snapshots:?}"
    );
    let snapshot = &snapshots[0];
    let actual_csv = std::fs::read_to_string(snapshot).expect("cannot read the snapshot");
    let actual = parse_csv(&actual_csv);
    let expected = parse_csv(expected_csv);
    assert_eq!(actual[0], expected[0], "header of {}", snapshot.display());
    assert_eq!(
        actual.len(),
        expected.len(),
        "rows of {}:\n{actual_csv}",
        snapshot.display()
    );
    for (actual_row, expected_row) in actual.iter().zip(&expected).skip(1) {
        assert_eq!(
            actual_row[0], expected_row[0],
            "model order in:\n{actual_csv}"
        );
        assert_eq!(
            actual_row.len(),
            expected_row.len(),
            "cells of {}",
            expected_row[0]
        );
        for (column, (cell, expected_cell)) in
            actual_row.iter().zip(expected_row).enumerate().skip(1)
        {
            let temperature = &expected[0][column];
            assert_eq!(
                cell, expected_cell,
                "cell of {} at temperature {temperature}",
                expected_row[0]
            );
        }
    }
    assert_eq!(actual_csv, expected_csv, "text of {}", snapshot.display());

    let snapshot_name = file_name(snapshot);
    assert!(
        submit.stdout.contains(&snapshot_name),
        "submit --wait does not name the snapshot {snapshot_name}\n{}",
        submit.describe()
    );
    let index_path = workspace.output().join("Summaries").join("csv_index.json");
    let index_text = std::fs::read_to_string(&index_path).expect("cannot read csv_index.json");
    let index: Value = serde_json::from_str(&index_text).expect("csv_index.json is invalid JSON");
    assert!(
        index_entries(&index)
            .iter()
            .any(|entry| entry.get("filename").and_then(Value::as_str)
                == Some(snapshot_name.as_str())),
        "csv_index.json has no entry for {snapshot_name}:\n{index_text}"
    );

    check_requests(&fake, backend, temperatures, &cases);
    check_answer_files(&workspace, temperatures, &cases);
    check_grade_files(&workspace, temperatures, &cases);

    let items = workspace.items();
    assert_eq!(
        items.len(),
        grid_keys(&[ALPHA, BETA], temperatures, &cases).len()
    );
    for item in &items {
        assert_eq!(item.state, "done", "item {:?}", item.key());
        assert_eq!(item.attempts, 1, "attempts of item {:?}", item.key());
    }
}

/// Checks that the fake got every (model, prompt, temperature) of the grid
/// exactly once, on the right API, with the temperature where the API reads it.
fn check_requests(fake: &FakeServer, backend: &str, temperatures: &[f64], cases: &[PromptCase]) {
    let requests = fake.requests();
    let expected = grid_keys(&[ALPHA, BETA], temperatures, cases);
    assert_eq!(
        requests.len(),
        expected.len(),
        "number of generation requests"
    );

    let mut received = Vec::new();
    for request in &requests {
        let case = case_for(cases, &request.prompt)
            .unwrap_or_else(|| panic!("request with an unknown prompt {:?}", request.prompt));
        assert_eq!(
            request.api.is_ollama(),
            backend == "ollama",
            "API of {:?}",
            request.api
        );
        let pointer = if backend == "ollama" {
            "/options/temperature"
        } else {
            "/temperature"
        };
        let sent = request.body.pointer(pointer).and_then(Value::as_f64);
        let sent = sent.unwrap_or_else(|| panic!("request has no {pointer}: {}", request.body));
        assert_eq!(
            request.body.get("stream").and_then(Value::as_bool),
            Some(true),
            "request does not ask for streaming: {}",
            request.body
        );
        received.push(ItemKey::new(&request.model, sent, &case.id));
    }
    received.sort();
    assert_eq!(
        received, expected,
        "(model, temperature, prompt) of the requests"
    );
}

/// Checks that each item has one answer file with the scripted answer.
fn check_answer_files(workspace: &Workspace, temperatures: &[f64], cases: &[PromptCase]) {
    let all = workspace.answer_files();
    let expected_count = grid_keys(&[ALPHA, BETA], temperatures, cases).len();
    assert_eq!(all.len(), expected_count, "answer files: {all:#?}");
    for (model, model_dir) in [(ALPHA, ALPHA), (BETA, BETA_DIR)] {
        for &temperature in temperatures {
            for case in cases {
                let path = workspace.answer_path(model_dir, temperature, &case.id);
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
                assert_eq!(
                    text,
                    scripted_answer(model, temperature, case),
                    "content of {}",
                    path.display()
                );
            }
        }
        let session_json = workspace.session_dir(model_dir).join("session.json");
        let text = std::fs::read_to_string(&session_json)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", session_json.display()));
        let session: Value = serde_json::from_str(&text).expect("session.json is invalid JSON");
        assert_eq!(
            session.get("model").and_then(Value::as_str),
            Some(model),
            "{text}"
        );
    }
}

/// Checks that each answer has a grade beside it with the right accuracy.
fn check_grade_files(workspace: &Workspace, temperatures: &[f64], cases: &[PromptCase]) {
    let all = workspace.grade_files();
    let expected_count = grid_keys(&[ALPHA, BETA], temperatures, cases).len();
    assert_eq!(all.len(), expected_count, "grade files: {all:#?}");
    for (model, model_dir) in [(ALPHA, ALPHA), (BETA, BETA_DIR)] {
        for &temperature in temperatures {
            for case in cases {
                let stem = format!("{model_dir}.t{},num{}", temp_tag(temperature), case.id);
                let path = workspace
                    .session_dir(model_dir)
                    .join(format!("{stem}_eval.json"));
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
                let grade: Value = serde_json::from_str(&text).unwrap_or_else(|error| {
                    panic!("{} is invalid JSON ({error}): {text}", path.display())
                });
                let correct = answers_correctly(model, temperature, prompt_number(case));
                assert_eq!(
                    grade.get("model").and_then(Value::as_str),
                    Some(model),
                    "{text}"
                );
                assert_eq!(
                    grade.get("temperature").and_then(Value::as_f64),
                    Some(temperature),
                    "{text}"
                );
                assert_eq!(
                    grade.get("prompt_id").and_then(Value::as_str),
                    Some(case.id.as_str()),
                    "{text}"
                );
                assert_eq!(
                    grade.get("grader").and_then(Value::as_str),
                    Some("exact"),
                    "{text}"
                );
                assert_eq!(
                    grade.get("correct").and_then(Value::as_bool),
                    Some(correct),
                    "{text}"
                );
                let accuracy = if correct { 1.0 } else { 0.0 };
                assert_eq!(
                    grade.get("accuracy").and_then(Value::as_f64),
                    Some(accuracy),
                    "{text}"
                );
            }
        }
    }
}

fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    reader
        .records()
        .map(|record| {
            let record = record.unwrap_or_else(|error| panic!("invalid CSV ({error}):\n{text}"));
            record.iter().map(str::to_owned).collect()
        })
        .collect()
}

/// Returns the entries of `csv_index.json`, stored as an object keyed by id
/// or as a list.
fn index_entries(index: &Value) -> Vec<&Value> {
    match index {
        Value::Object(map) => map.values().collect(),
        Value::Array(list) => list.iter().collect(),
        _ => Vec::new(),
    }
}

#[test]
fn grid_job_openai_cells() {
    let expected = "Model,0,0.5,1\nalpha,1.0000,1.0000,0.8750\nbeta:1b,0.7500,0.7500,0.0000\n";
    check_grid_job("openai", &[0.0, 0.5, 1.0], expected);
}

#[test]
fn grid_job_ollama_cells() {
    // 0.25 is no multiple of 0.1, so its answer files are named t0.25.
    let expected = "Model,0,0.25,1\nalpha,1.0000,1.0000,0.8750\nbeta:1b,0.7500,0.7500,0.0000\n";
    check_grid_job("ollama", &[0.0, 0.25, 1.0], expected);
}

/// A finished job with the processes that ran it, kept until the test's
/// checks are done so that a failed check prints the daemon's log. The
/// fields drop in order, so the daemon stops before its workspace is deleted.
struct FinishedJob {
    fake: FakeServer,
    _daemon: Daemon,
    _workspace: Workspace,
}

/// Runs a 2 models x 2 temperatures x 3 prompts job against a fake server
/// that delays every reply by 100 ms.
fn run_delayed_job(extra: &[&str]) -> FinishedJob {
    let workspace = Workspace::new();
    let cases = numbered_prompts(3);
    workspace.write_prompts(&cases);
    let fake = grid_server(cases, Duration::from_millis(100));
    let daemon = workspace.start_daemon(&["--no-watch"]);

    let mut args = vec![
        "submit",
        "--url",
        fake.url(),
        "--backend",
        "openai",
        "--model",
        ALPHA,
        "--model",
        BETA,
        "--temps",
        "0,0.5",
        "--wait",
    ];
    args.extend_from_slice(extra);
    workspace.ctl(&args).assert_success();
    let done = workspace
        .items()
        .iter()
        .filter(|item| item.state == "done")
        .count();
    assert_eq!(done, 12, "items done");
    FinishedJob {
        fake,
        _daemon: daemon,
        _workspace: workspace,
    }
}

#[test]
fn crunch_overlaps_models() {
    let job = run_delayed_job(&["--crunch"]);
    let fake = &job.fake;
    assert!(
        fake.max_models_in_flight() >= 2,
        "with --crunch at most {} model had requests in flight at once (max in flight per model: {:?})",
        fake.max_models_in_flight(),
        fake.max_in_flight_per_model()
    );
    let together: BTreeSet<(String, String)> = fake.models_in_flight_together();
    let pair = (ALPHA.to_owned(), BETA.to_owned());
    assert!(
        together.contains(&pair),
        "models in flight together: {together:?}"
    );
}

#[test]
fn sequential_keeps_one_in_flight() {
    let job = run_delayed_job(&[]);
    let fake = &job.fake;
    assert_eq!(
        fake.max_in_flight(),
        1,
        "max requests in flight without --crunch"
    );
    assert!(
        fake.models_in_flight_together().is_empty(),
        "models in flight together without --crunch: {:?}",
        fake.models_in_flight_together()
    );
}
