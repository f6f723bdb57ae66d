//! Checks made at submit. A `prompts.csv` with a BOM, CRLF line ends and
//! quoted multi-line prompts is read. Invalid prompt files are rejected with
//! the line number, and an unknown model with the list of available models.

mod common;

use std::collections::BTreeSet;

use common::{PromptCase, Workspace, case_for, numbered_prompts};
use heatmap_tests::fake::{FakeConfig, FakeReply, FakeServer, WRONG_ANSWER};

const ALPHA: &str = "alpha";
const BETA: &str = "beta";

/// Starts a fake server for `models` that replies to each case with its answer.
fn answering_server(models: &[&str], cases: Vec<PromptCase>) -> FakeServer {
    FakeServer::start_blocking(FakeConfig::new(
        models.to_vec(),
        move |request| match case_for(&cases, &request.prompt) {
            Some(case) => FakeReply::text(&case.answer),
            None => FakeReply::text(WRONG_ANSWER),
        },
    ))
}

#[test]
fn prompts_bom_multiline_accepted() {
    let workspace = Workspace::new();
    let cases = vec![
        PromptCase {
            id: "m1".to_owned(),
            prompt: "Read both lines, please.\nWhich word is \"quoted\", here?".to_owned(),
            answer: "quoted".to_owned(),
        },
        PromptCase {
            id: "m2".to_owned(),
            prompt: "What is 1 plus 1?".to_owned(),
            answer: "2".to_owned(),
        },
    ];
    let csv = "\u{feff}id,category,prompt,expected\r\n\
               m1,reading,\"Read both lines, please.\nWhich word is \"\"quoted\"\", here?\",quoted\r\n\
               m2,arithmetic,What is 1 plus 1?,2\r\n";
    workspace.write_file("prompts.csv", csv);
    let fake = answering_server(&[ALPHA], cases.clone());
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
            "0",
            "--wait",
        ])
        .assert_success();

    let sent: BTreeSet<String> = fake
        .requests()
        .into_iter()
        .map(|request| request.prompt)
        .collect();
    let expected: BTreeSet<String> = cases.iter().map(|case| case.prompt.clone()).collect();
    assert_eq!(sent, expected, "prompt texts sent");
    workspace.assert_each_item_done_once(&[ALPHA], &[0.0], &cases);
}

#[test]
fn prompts_errors_name_line() {
    let workspace = Workspace::new();
    let fake = answering_server(&[ALPHA], numbered_prompts(1));
    let _daemon = workspace.start_daemon(&["--no-watch"]);

    // (case, file content, location expected in the message, words expected in the message)
    let cases = [
        (
            "duplicate id after a multi-line prompt",
            "id,prompt,expected\na,\"first\nline\",x\nb,second,y\na,third,z\n",
            "prompts.csv:5",
            "duplicate id",
        ),
        (
            "missing prompt column",
            "id,question,expected\na,hello,x\n",
            "prompts.csv:1",
            "prompt",
        ),
        (
            "empty prompt",
            "id,prompt,expected\na,hello,x\nb,\"  \",y\n",
            "prompts.csv:3",
            "empty prompt",
        ),
    ];
    for (name, content, location, words) in cases {
        workspace.write_file("prompts.csv", content);
        let output = workspace.ctl(&[
            "submit",
            "--url",
            fake.url(),
            "--backend",
            "openai",
            "--model",
            ALPHA,
            "--temps",
            "0",
        ]);
        assert_eq!(output.code, Some(1), "{name}: {}", output.describe());
        assert!(
            output.stderr.contains(location),
            "{name}: {}",
            output.describe()
        );
        assert!(
            output.stderr.contains(words),
            "{name}: {}",
            output.describe()
        );
    }
    assert!(
        workspace.job_states().is_empty(),
        "jobs queued: {:?}",
        workspace.job_states()
    );
    assert!(
        fake.requests().is_empty(),
        "generation requests sent: {}",
        fake.requests().len()
    );
}

#[test]
fn unknown_model_rejected() {
    let workspace = Workspace::new();
    let cases = numbered_prompts(2);
    workspace.write_prompts(&cases);
    let fake = answering_server(&[ALPHA, BETA], cases);
    let _daemon = workspace.start_daemon(&["--no-watch"]);

    for backend in ["openai", "ollama"] {
        let output = workspace.ctl(&[
            "submit",
            "--url",
            fake.url(),
            "--backend",
            backend,
            "--model",
            ALPHA,
            "--model",
            "gamma",
            "--temps",
            "0",
        ]);
        assert_eq!(output.code, Some(1), "{backend}: {}", output.describe());
        for name in ["gamma", ALPHA, BETA] {
            assert!(
                output.stderr.contains(name),
                "{backend}: message does not name {name}\n{}",
                output.describe()
            );
        }
    }
    assert!(
        workspace.job_states().is_empty(),
        "jobs queued: {:?}",
        workspace.job_states()
    );
    assert!(
        fake.requests().is_empty(),
        "generation requests sent: {}",
        fake.requests().len()
    );
}
