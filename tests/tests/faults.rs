//! Server failures during a job. An error inside a 200 stream, 503 and 429
//! responses, a stream cut short and a dropped connection are retried and
//! leave no partial file. An item that always gets 500 ends failed, with its
//! error in the queue and no answer file.

mod common;

use common::{
    PromptCase, Workspace, case_for, collect_files, file_name, numbered_prompts, requests_for,
};
use heatmap_tests::fake::{FakeConfig, FakeReply, FakeServer, WRONG_ANSWER};

const MODEL: &str = "alpha";
/// Attempts the daemon may make per item in these tests.
const MAX_ATTEMPTS: i64 = 3;
/// Text streamed before a failure, which must never reach an answer file.
const PARTIAL: &str = "Partial ans";

/// Returns the reply to one attempt (counting from 1) for a prompt.
fn fault_reply(case: &PromptCase, attempt: u32) -> FakeReply {
    match (case.id.as_str(), attempt) {
        ("q1", 1) => FakeReply::error_after(PARTIAL, "model runner stopped"),
        ("q2", 1 | 2) => FakeReply::status(503).message("server busy"),
        ("q3", 1) => FakeReply::cut_short(PARTIAL),
        ("q4", 1) => FakeReply::disconnect_after(PARTIAL),
        ("q5", 1) => FakeReply::status(429).message("too many requests"),
        ("q6", _) => FakeReply::status(500).message("model crashed"),
        _ => FakeReply::text(&case.answer),
    }
}

/// Returns the attempts that [`fault_reply`] makes a prompt take.
fn expected_attempts(prompt_id: &str) -> i64 {
    match prompt_id {
        "q2" | "q6" => MAX_ATTEMPTS,
        "q1" | "q3" | "q4" | "q5" => 2,
        _ => 1,
    }
}

fn check_faults(backend: &str) {
    let workspace = Workspace::new();
    let cases = numbered_prompts(7);
    workspace.write_prompts(&cases);
    let script_cases = cases.clone();
    let fake =
        FakeServer::start_blocking(FakeConfig::new([MODEL], move |request| {
            match case_for(&script_cases, &request.prompt) {
                Some(case) => fault_reply(case, request.attempt),
                None => FakeReply::text(WRONG_ANSWER),
            }
        }));
    let attempts_arg = MAX_ATTEMPTS.to_string();
    let _daemon = workspace.start_daemon(&["--no-watch", "--retry-attempts", &attempts_arg]);

    workspace
        .ctl(&[
            "submit",
            "--url",
            fake.url(),
            "--backend",
            backend,
            "--model",
            MODEL,
            "--temps",
            "0,1",
            "--grade",
            "exact",
            "--wait",
        ])
        .assert_success();

    let items = workspace.items();
    assert_eq!(items.len(), cases.len() * 2, "items in the queue");
    for item in &items {
        let key = item.key();
        let case = cases
            .iter()
            .find(|case| case.id == item.prompt_id)
            .expect("known prompt id");
        assert_eq!(
            item.attempts,
            expected_attempts(&case.id),
            "attempts of {key:?} ({:?})",
            item.last_error
        );
        let requests = requests_for(&fake, &cases, &key);
        assert_eq!(
            requests as i64,
            expected_attempts(&case.id),
            "requests for {key:?}"
        );
        let answer = workspace.answer_path(MODEL, item.temperature, &case.id);
        if case.id == "q6" {
            assert_eq!(item.state, "failed", "state of {key:?}");
            let error = item.last_error.as_deref().unwrap_or_default();
            assert!(
                error.contains("500"),
                "error of {key:?} does not name the status: {error:?}"
            );
            assert_eq!(item.answer_path, None, "answer path of {key:?}");
            assert_eq!(item.grade_path, None, "grade path of {key:?}");
            assert!(
                !answer.exists(),
                "the failed item left {}",
                answer.display()
            );
        } else {
            assert_eq!(
                item.state, "done",
                "state of {key:?} ({:?})",
                item.last_error
            );
            let text = std::fs::read_to_string(&answer)
                .unwrap_or_else(|error| panic!("cannot read {}: {error}", answer.display()));
            assert_eq!(text, case.answer, "content of {}", answer.display());
        }
    }
    assert_eq!(
        workspace.answer_files().len(),
        (cases.len() - 1) * 2,
        "answer files"
    );
    assert_eq!(
        workspace.grade_files().len(),
        (cases.len() - 1) * 2,
        "grade files"
    );

    let mut files = Vec::new();
    collect_files(&workspace.output(), &mut files);
    let temporary: Vec<_> = files
        .iter()
        .filter(|path| file_name(path).ends_with(".part"))
        .collect();
    assert!(
        temporary.is_empty(),
        "temporary files left behind: {temporary:?}"
    );

    let status = workspace.ctl(&["status", "1"]);
    status.assert_success();
    assert!(
        status.stdout.contains("q6"),
        "status does not list the failed prompt q6\n{}",
        status.describe()
    );
}

#[test]
fn faults_retried_openai() {
    check_faults("openai");
}

#[test]
fn faults_retried_ollama() {
    check_faults("ollama");
}
