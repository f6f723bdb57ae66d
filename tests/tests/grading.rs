//! Grading end to end: seeds and file names of repeats, the measurements in
//! grade files, `heatmapctl evaluate` with a scripted judge, and answers of
//! thinking models.

mod common;

use std::path::{Path, PathBuf};

use common::{Workspace, case_for, file_name, numbered_prompts};
use heatmap_tests::fake::{Api, FakeConfig, FakeReply, FakeServer, WRONG_ANSWER};
use serde_json::Value;

const JUDGE: &str = "judge";

/// Reads a JSON file, naming it when that fails.
fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("{} is invalid JSON ({error}): {text}", path.display()))
}

/// Returns the grade file beside an answer file.
fn grade_of(answer: &Path) -> PathBuf {
    let stem = file_name(answer);
    let stem = stem.strip_suffix(".txt").expect("answer files end in .txt");
    answer.with_file_name(format!("{stem}_eval.json"))
}

#[test]
fn repeats_send_consecutive_seeds() {
    let workspace = Workspace::new();
    let cases = numbered_prompts(1);
    workspace.write_prompts(&cases);
    let answers = cases.clone();
    let fake =
        FakeServer::start_blocking(FakeConfig::new(["alpha"], move |request| {
            match case_for(&answers, &request.prompt) {
                Some(case) => FakeReply::text(case.answer.clone()),
                None => FakeReply::text(WRONG_ANSWER),
            }
        }));
    let _daemon = workspace.start_daemon(&[]);

    let submit = workspace.ctl(&[
        "submit",
        "--url",
        fake.url(),
        "--backend",
        "openai",
        "--model",
        "alpha",
        "--temps",
        "0",
        "--repeats",
        "2",
        "--seed",
        "10",
        "--wait",
    ]);
    submit.assert_success();

    let mut seeds: Vec<Option<u64>> = fake.requests().iter().map(|r| r.seed).collect();
    seeds.sort();
    assert_eq!(seeds, [Some(10), Some(11)], "seeds sent");

    let session = workspace.session_dir("alpha");
    for (repeat, seed) in [(1, 10), (2, 11)] {
        let answer = session.join(format!("alpha.t00,numq1,rep{repeat}.txt"));
        let text = std::fs::read_to_string(&answer)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", answer.display()));
        assert_eq!(text, "2", "content of {}", answer.display());
        let grade = read_json(&grade_of(&answer));
        assert_eq!(grade["repeat"], repeat, "repeat in {grade}");
        assert_eq!(grade["seed"], seed, "seed in {grade}");
        assert_eq!(grade["accuracy"], 1.0, "accuracy in {grade}");
        assert_eq!(grade["finish_reason"], "stop", "finish_reason in {grade}");
        assert!(
            grade["completion_tokens"].is_u64(),
            "completion_tokens in {grade}"
        );
        assert!(grade["prompt_tokens"].is_u64(), "prompt_tokens in {grade}");
        assert!(grade["latency_ms"].is_f64(), "latency_ms in {grade}");
        assert!(grade.get("no_answer").is_none(), "no_answer in {grade}");
    }
    assert_eq!(workspace.answer_files().len(), 2, "answer files");
}

/// Judge output per question: plain JSON, a fenced object, a single-quoted
/// object with a trailing comma and apostrophes, and a truncated object.
fn judge_reply(prompt: &str) -> String {
    let wrong = prompt.contains(WRONG_ANSWER);
    let verdict = if wrong { "incorrect" } else { "correct" };
    if prompt.contains("Question 1:") {
        format!("{{\"verdict\": \"{verdict}\", \"justification\": \"matches\"}}")
    } else if prompt.contains("Question 2:") {
        format!("Sure.\n```json\n{{\"verdict\": \"{verdict}\", \"justification\": \"same\"}}\n```")
    } else if prompt.contains("Question 3:") {
        "{'verdict': 'Incorrect.', 'justification': 'it's the model's hedge',}".to_owned()
    } else {
        "{\"verdict\": \"corr".to_owned()
    }
}

/// Starts a fake server where alpha answers questions 1 and 2 correctly and
/// the others wrongly, and the judge replies with [`judge_reply`].
fn evaluate_server(cases: Vec<common::PromptCase>) -> FakeServer {
    FakeServer::start_blocking(FakeConfig::new(["alpha", JUDGE], move |request| {
        if request.model == JUDGE {
            return FakeReply::text(judge_reply(&request.prompt));
        }
        match case_for(&cases, &request.prompt) {
            Some(case) if case.id == "q1" || case.id == "q2" => {
                FakeReply::text(case.answer.clone())
            }
            _ => FakeReply::text(WRONG_ANSWER),
        }
    }))
}

#[test]
fn evaluate_grades_saved_answers() {
    let workspace = Workspace::new();
    let cases = numbered_prompts(4);
    workspace.write_prompts(&cases);
    let fake = evaluate_server(cases.clone());
    let _daemon = workspace.start_daemon(&[]);

    let submit = workspace.ctl(&[
        "submit",
        "--url",
        fake.url(),
        "--backend",
        "openai",
        "--model",
        "alpha",
        "--temps",
        "0",
        "--grade",
        "none",
        "--wait",
    ]);
    submit.assert_success();
    assert!(workspace.grade_files().is_empty(), "grades before evaluate");
    let session = workspace.session_dir("alpha");
    let session_name = file_name(&session);

    let evaluate = workspace.ctl(&[
        "evaluate",
        "--session",
        &session_name,
        "--judge",
        JUDGE,
        "--url",
        fake.url(),
        "--backend",
        "openai",
        "--parallel",
        "2",
    ]);
    evaluate.assert_success();
    assert!(
        evaluate
            .stdout
            .contains("graded 3, unscored 1, skipped 0 (already graded), failed 0"),
        "{}",
        evaluate.describe()
    );

    let expected = [
        ("q1", Some(1.0)),
        ("q2", Some(1.0)),
        ("q3", Some(0.0)),
        ("q4", None),
    ];
    for (id, accuracy) in expected {
        let grade = read_json(&grade_of(&session.join(format!("alpha.t00,num{id}.txt"))));
        assert_eq!(
            grade["accuracy"].as_f64(),
            accuracy,
            "accuracy of {id}: {grade}"
        );
        assert_eq!(grade["model"], "alpha", "model of {id}");
        assert_eq!(grade["prompt_id"], id, "prompt_id of {id}");
        assert_eq!(grade["session"], session_name.as_str(), "session of {id}");
        assert_eq!(grade["grader"], "judge:judge", "grader of {id}");
        assert_eq!(grade["judge_model"], JUDGE, "judge_model of {id}");
        assert_eq!(grade["judge_temperature"], 0.0, "judge_temperature of {id}");
        assert_eq!(grade["judge_seed"], 0, "judge_seed of {id}");
        assert_eq!(grade["category"], "arithmetic", "category of {id}");
        assert!(grade["latency_ms"].is_f64(), "latency_ms of {id}: {grade}");
    }
    let truncated = read_json(&grade_of(&session.join("alpha.t00,numq4.txt")));
    assert_eq!(
        truncated["judge_raw"], "{\"verdict\": \"corr",
        "{truncated}"
    );
    let q3 = read_json(&grade_of(&session.join("alpha.t00,numq3.txt")));
    assert_eq!(q3["justification"], "it's the model's hedge", "{q3}");

    let judge_requests: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.model == JUDGE)
        .collect();
    let q4_requests = judge_requests
        .iter()
        .filter(|r| r.prompt.contains("Question 4:"))
        .count();
    assert_eq!(q4_requests, 3, "judge requests for the truncated verdict");
    assert_eq!(judge_requests.len(), 6, "judge requests in all");
    for request in &judge_requests {
        assert_eq!(request.api, Api::OpenAiChat);
        assert_eq!(request.temperature, Some(0.0));
        assert_eq!(request.seed, Some(0));
        let format = &request.body["response_format"];
        assert_eq!(format["type"], "json_schema", "{}", request.body);
        assert_eq!(format["json_schema"]["name"], "verdict", "{}", request.body);
        assert_eq!(
            format["json_schema"]["schema"]["required"],
            serde_json::json!(["verdict", "justification"])
        );
    }

    // Graded answers are skipped; --regrade grades them again.
    let again = workspace.ctl(&["evaluate", "--all", "--judge", JUDGE, "--url", fake.url()]);
    again.assert_success();
    assert!(
        again
            .stdout
            .contains("graded 0, unscored 0, skipped 4 (already graded), failed 0"),
        "{}",
        again.describe()
    );
    let regrade = workspace.ctl(&[
        "evaluate",
        "--all",
        "--regrade",
        "--judge",
        JUDGE,
        "--url",
        fake.url(),
    ]);
    regrade.assert_success();
    assert!(
        regrade
            .stdout
            .contains("graded 3, unscored 1, skipped 0 (already graded), failed 0"),
        "{}",
        regrade.describe()
    );

    // An answer that no job wrote takes its prompt from prompts.csv.
    let manual = workspace.output().join("hand_1b").join("20240101_000000");
    std::fs::create_dir_all(&manual).expect("cannot create a session folder");
    std::fs::write(manual.join("session.json"), r#"{"model": "hand:1b"}"#).unwrap();
    std::fs::write(manual.join("hand_1b.t05,numq1.txt"), "2").unwrap();
    let manual_run = workspace.ctl(&[
        "evaluate",
        "--session",
        "hand_1b/20240101_000000",
        "--judge",
        JUDGE,
        "--url",
        fake.url(),
    ]);
    manual_run.assert_success();
    assert!(
        manual_run.stdout.contains("graded 1,"),
        "{}",
        manual_run.describe()
    );
    let grade = read_json(&manual.join("hand_1b.t05,numq1_eval.json"));
    assert_eq!(grade["model"], "hand:1b", "{grade}");
    assert_eq!(grade["temperature"], 0.5, "{grade}");
    assert_eq!(grade["accuracy"], 1.0, "{grade}");
    assert_eq!(grade["expected"], "2", "{grade}");
}

#[test]
fn evaluate_rejects_unknown_judge_and_session() {
    let workspace = Workspace::new();
    let cases = numbered_prompts(1);
    workspace.write_prompts(&cases);
    let fake = evaluate_server(cases);
    let _daemon = workspace.start_daemon(&[]);
    let submit = workspace.ctl(&[
        "submit",
        "--url",
        fake.url(),
        "--backend",
        "openai",
        "--model",
        "alpha",
        "--temps",
        "0",
        "--grade",
        "none",
        "--wait",
    ]);
    submit.assert_success();

    let unknown = workspace.ctl(&[
        "evaluate",
        "--all",
        "--judge",
        "nojudge",
        "--url",
        fake.url(),
    ]);
    assert_ne!(unknown.code, Some(0), "{}", unknown.describe());
    assert!(
        unknown.stderr.contains("\"nojudge\" not found"),
        "{}",
        unknown.describe()
    );
    assert!(
        workspace.grade_files().is_empty(),
        "grades after a rejected evaluate"
    );

    let missing = workspace.ctl(&[
        "evaluate",
        "--session",
        "19990101_000000",
        "--judge",
        JUDGE,
        "--url",
        fake.url(),
    ]);
    assert_ne!(missing.code, Some(0), "{}", missing.describe());
    assert!(
        missing
            .stderr
            .contains("session \"19990101_000000\" not found"),
        "{}",
        missing.describe()
    );
}

#[test]
fn thinking_is_saved_apart_and_never_graded() {
    let workspace = Workspace::new();
    let cases = numbered_prompts(3);
    workspace.write_prompts(&cases);
    let fake = FakeServer::start_blocking(FakeConfig::new(["thinker"], |request| {
        if request.prompt.contains("Question 1:") {
            FakeReply::text("2").thinking("I add 1 and 1.")
        } else if request.prompt.contains("Question 2:") {
            FakeReply::text("<think>2 and 2 make 4</think>\n4")
        } else {
            FakeReply::text("<think>Let me think about 3 plus 3").finish_reason("length")
        }
    }));
    let _daemon = workspace.start_daemon(&[]);

    let submit = workspace.ctl(&[
        "submit",
        "--url",
        fake.url(),
        "--backend",
        "ollama",
        "--model",
        "thinker",
        "--temps",
        "0",
        "--think",
        "true",
        "--wait",
    ]);
    submit.assert_success();
    for request in fake.requests() {
        assert_eq!(request.body["think"], true, "{}", request.body);
    }

    let session = workspace.session_dir("thinker");
    let expected = [
        ("q1", "2", "I add 1 and 1.", Some(1.0)),
        ("q2", "4", "2 and 2 make 4", Some(1.0)),
        ("q3", "", "Let me think about 3 plus 3", None),
    ];
    for (id, answer, thinking, accuracy) in expected {
        let answer_path = session.join(format!("thinker.t00,num{id}.txt"));
        let text = std::fs::read_to_string(&answer_path).expect("cannot read the answer");
        assert_eq!(text, answer, "answer of {id}");
        let thinking_path = session.join(format!("thinker.t00,num{id}.thinking.txt"));
        let saved = std::fs::read_to_string(&thinking_path).expect("cannot read the thinking file");
        assert_eq!(saved, thinking, "thinking of {id}");
        let grade = read_json(&grade_of(&answer_path));
        assert_eq!(
            grade["accuracy"].as_f64(),
            accuracy,
            "accuracy of {id}: {grade}"
        );
        let no_answer = grade.get("no_answer").and_then(Value::as_bool);
        assert_eq!(
            no_answer,
            accuracy.is_none().then_some(true),
            "no_answer of {id}: {grade}"
        );
    }
    let q3 = read_json(&grade_of(&session.join("thinker.t00,numq3.txt")));
    assert_eq!(q3["finish_reason"], "length", "{q3}");
    assert_eq!(
        workspace.answer_files().len(),
        3,
        "thinking files are not answers"
    );
}
