//! Stopping the daemon in the middle of a job with SIGKILL or SIGTERM, and
//! starting it again. Every item must end done exactly once, and a stale PID
//! file and socket must not block the restart.

mod common;

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use common::{
    EXIT_TIMEOUT, ItemKey, PromptCase, Workspace, case_for, numbered_prompts, request_key,
    requests_for, wait_for, wait_for_request,
};
use heatmap_tests::fake::{FakeConfig, FakeReply, FakeServer, WRONG_ANSWER};
use serde_json::Value;

const ALPHA: &str = "alpha";
const BETA: &str = "beta";

/// Starts a fake server that answers every prompt correctly after `delay`,
/// except that the first request for `hang` gets the headers and then
/// nothing until the client goes away.
fn hanging_server(
    models: &[&str],
    cases: Vec<PromptCase>,
    hang: ItemKey,
    delay: Duration,
) -> FakeServer {
    let config = FakeConfig::new(models.to_vec(), move |request| {
        let Some(case) = case_for(&cases, &request.prompt) else {
            return FakeReply::text(WRONG_ANSWER);
        };
        let key = ItemKey::new(
            &request.model,
            request.temperature.unwrap_or(f64::NAN),
            &case.id,
        );
        if key == hang && request.attempt == 1 {
            FakeReply::hang()
        } else {
            FakeReply::text(&case.answer)
        }
    });
    FakeServer::start_blocking(config.delay(delay))
}

#[test]
fn sigkill_resumes_each_item_once() {
    let workspace = Workspace::new();
    let cases = numbered_prompts(6);
    workspace.write_prompts(&cases);
    let models = [ALPHA, BETA];
    let temperatures = [0.0, 1.0];
    let hang = ItemKey::new(BETA, 1.0, "q2");
    let fake = hanging_server(
        &models,
        cases.clone(),
        hang.clone(),
        Duration::from_millis(20),
    );

    let first = workspace.start_daemon(&["--no-watch"]);
    let job = workspace.submit_job(&fake, &models, "0,1");
    wait_for_request(&fake, &cases, &hang);
    let status = first.kill_hard();
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "heatmapd exit status {status}"
    );

    // The queue as the killed daemon left it.
    let items = workspace.items();
    let done_before: BTreeSet<ItemKey> = items
        .iter()
        .filter(|item| item.state == "done")
        .map(|item| item.key())
        .collect();
    assert!(!done_before.is_empty(), "no item was done before the kill");
    let hung = items
        .iter()
        .find(|item| item.key() == hang)
        .expect("the hung item is queued");
    assert_eq!(
        hung.state, "pending",
        "state of the item in flight at the kill"
    );
    let requests_before = fake.requests().len();

    // The restarted daemon resumes the job by itself.
    let second = workspace.start_daemon(&["--no-watch"]);
    workspace.wait_job_state(&second, job, "completed");

    workspace.assert_each_item_done_once(&models, &temperatures, &cases);
    for request in &fake.requests()[requests_before..] {
        let key = request_key(&cases, request);
        assert!(
            !done_before.contains(&key),
            "{key:?} was done before the kill but was sent again"
        );
    }
    assert_eq!(
        requests_for(&fake, &cases, &hang),
        2,
        "requests for the item in flight at the kill"
    );
}

#[test]
fn sigkill_during_writes_loses_nothing() {
    let workspace = Workspace::new();
    let cases = numbered_prompts(25);
    workspace.write_prompts(&cases);
    let models = [ALPHA, BETA];
    let temperatures = [0.0, 1.0];
    let script_cases = cases.clone();
    // Short replies keep the daemon busy writing files and committing items,
    // so the kill lands at an arbitrary point of that work.
    let config = FakeConfig::new(models, move |request| {
        match case_for(&script_cases, &request.prompt) {
            Some(case) => FakeReply::text(&case.answer),
            None => FakeReply::text(WRONG_ANSWER),
        }
    });
    let fake = FakeServer::start_blocking(config.delay(Duration::from_millis(5)));

    let first = workspace.start_daemon(&["--no-watch"]);
    let job = workspace.submit_job(&fake, &models, "0,1");
    workspace.wait_items_done(&first, 20);
    first.kill_hard();

    let items = workspace.items();
    let done_before: BTreeSet<ItemKey> = items
        .iter()
        .filter(|item| item.state == "done")
        .map(|item| item.key())
        .collect();
    let pending = items.iter().filter(|item| item.state == "pending").count();
    assert!(pending > 0, "the job ended before the kill");
    let requests_before = fake.requests().len();

    let second = workspace.start_daemon(&["--no-watch"]);
    workspace.wait_job_state(&second, job, "completed");
    workspace.assert_each_item_done_once(&models, &temperatures, &cases);
    for request in &fake.requests()[requests_before..] {
        let key = request_key(&cases, request);
        assert!(
            !done_before.contains(&key),
            "{key:?} was done before the kill but was sent again"
        );
    }
}

#[test]
fn stale_lock_allows_restart() {
    let workspace = Workspace::new();
    let first = workspace.start_daemon(&["--no-watch"]);
    first.kill_hard();
    assert!(
        workspace.pid_file().exists(),
        "the killed daemon left no PID file"
    );
    assert!(
        workspace.socket.exists(),
        "the killed daemon left no socket file"
    );

    let second = workspace.start_daemon(&["--no-watch"]);
    let status = workspace.ctl(&["--json", "status"]);
    status.assert_success();
    let value: Value =
        serde_json::from_str(status.stdout.trim()).expect("status printed invalid JSON");
    let daemon_status = value.get("Status").unwrap_or(&value);
    let pid = daemon_status.get("pid").and_then(Value::as_u64);
    assert_eq!(
        pid,
        Some(u64::from(second.pid)),
        "pid in status: {}",
        status.stdout
    );
    let pid_file = std::fs::read_to_string(workspace.pid_file()).expect("cannot read the PID file");
    assert_eq!(pid_file.trim(), second.pid.to_string(), "PID file content");
}

#[test]
fn sigterm_requeues_in_flight_item() {
    let workspace = Workspace::new();
    let cases = numbered_prompts(4);
    workspace.write_prompts(&cases);
    let models = [ALPHA];
    let temperatures = [0.0, 1.0];
    let hang = ItemKey::new(ALPHA, 0.0, "q3");
    let fake = hanging_server(&models, cases.clone(), hang.clone(), Duration::ZERO);

    let first = workspace.start_daemon(&["--no-watch"]);
    let job = workspace.submit_job(&fake, &models, "0,1");
    wait_for_request(&fake, &cases, &hang);
    assert_eq!(fake.in_flight(), 1, "requests in flight before SIGTERM");

    let status = first.terminate();
    assert_eq!(
        status.code(),
        Some(0),
        "heatmapd exit status after SIGTERM\n{}",
        first.logs()
    );
    assert!(
        !workspace.socket.exists(),
        "heatmapd left its socket behind after SIGTERM"
    );
    wait_for("the aborted request to close", EXIT_TIMEOUT, || {
        (fake.in_flight() == 0).then_some(())
    });

    let items = workspace.items();
    for item in &items {
        assert!(
            item.state == "pending" || item.state == "done",
            "state of {:?} after SIGTERM: {} ({:?})",
            item.key(),
            item.state,
            item.last_error
        );
    }
    let hung = items
        .iter()
        .find(|item| item.key() == hang)
        .expect("the hung item is queued");
    assert_eq!(
        hung.state, "pending",
        "state of the item in flight at SIGTERM"
    );
    assert!(
        !workspace.answer_path(ALPHA, 0.0, "q3").exists(),
        "the aborted item left an answer file"
    );
    let state = workspace.job_state(job);
    assert!(
        matches!(state.as_deref(), Some("running" | "queued")),
        "job state after SIGTERM: {state:?}"
    );

    let second = workspace.start_daemon(&["--no-watch"]);
    workspace.wait_job_state(&second, job, "completed");
    workspace.assert_each_item_done_once(&models, &temperatures, &cases);
    assert_eq!(
        requests_for(&fake, &cases, &hang),
        2,
        "requests for the item in flight at SIGTERM"
    );
}
