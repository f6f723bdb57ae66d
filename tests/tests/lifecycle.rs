//! Job and daemon lifecycle: cancel and resume, the single-instance lock and
//! the modes of its files, clean stops on SIGINT and on request, and
//! heatmapctl without a daemon.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{EXIT_TIMEOUT, ItemKey, Workspace, case_for, numbered_prompts, request_key, wait_for};
use heatmap_tests::fake::{FakeConfig, FakeReply, FakeServer, WRONG_ANSWER};
use serde_json::Value;

const ALPHA: &str = "alpha";
const BETA: &str = "beta";

#[test]
fn cancel_resume_answers_once() {
    let workspace = Workspace::new();
    let cases = numbered_prompts(6);
    workspace.write_prompts(&cases);
    let models = [ALPHA, BETA];
    let temperatures = [0.0, 1.0];
    let script_cases = cases.clone();
    let config = FakeConfig::new(models, move |request| {
        match case_for(&script_cases, &request.prompt) {
            Some(case) => FakeReply::text(&case.answer),
            None => FakeReply::text(WRONG_ANSWER),
        }
    });
    let fake = FakeServer::start_blocking(config.delay(Duration::from_millis(40)));
    let daemon = workspace.start_daemon(&["--no-watch"]);

    let job = workspace.submit_job(&fake, &models, "0,1");
    workspace.wait_items_done(&daemon, 4);
    workspace
        .ctl(&["cancel", &job.to_string()])
        .assert_success();
    workspace.wait_job_state(&daemon, job, "cancelled");
    wait_for(
        "requests in flight at the cancel to end",
        EXIT_TIMEOUT,
        || (fake.in_flight() == 0).then_some(()),
    );

    // Let the daemon record what ended with the cancel; after that nothing
    // may move while the job is cancelled.
    std::thread::sleep(Duration::from_millis(200));
    let items = workspace.items();
    let requests_at_cancel = fake.requests().len();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        fake.requests().len(),
        requests_at_cancel,
        "requests sent for a cancelled job"
    );
    let done_before: BTreeSet<ItemKey> = items
        .iter()
        .filter(|item| item.state == "done")
        .map(|item| item.key())
        .collect();
    let pending = items.iter().filter(|item| item.state == "pending").count();
    assert!(pending > 0, "no item was left pending by the cancel");
    let done_now = workspace
        .items()
        .iter()
        .filter(|item| item.state == "done")
        .count();
    assert_eq!(
        done_now,
        done_before.len(),
        "items done while the job was cancelled"
    );

    let status = workspace.ctl(&["--json", "status", &job.to_string()]);
    status.assert_success();
    let value: Value =
        serde_json::from_str(status.stdout.trim()).expect("status printed invalid JSON");
    let detail = value.get("Job").unwrap_or(&value);
    let state = detail
        .pointer("/summary/state")
        .and_then(Value::as_str)
        .unwrap_or_default();
    assert!(
        state.eq_ignore_ascii_case("cancelled"),
        "job state in status: {}",
        status.stdout
    );

    workspace
        .ctl(&["resume", &job.to_string()])
        .assert_success();
    workspace.wait_job_state(&daemon, job, "completed");
    workspace.assert_each_item_done_once(&models, &temperatures, &cases);
    for request in &fake.requests()[requests_at_cancel..] {
        let key = request_key(&cases, request);
        assert!(
            !done_before.contains(&key),
            "{key:?} was done before the cancel but was sent again"
        );
    }
}

#[test]
fn second_daemon_rejected() {
    let workspace = Workspace::new();
    let first = workspace.start_daemon(&["--no-watch"]);
    let expected = format!("another heatmapd is running (pid {})", first.pid);

    // Another socket: only the PID lock can stop this one.
    let other_socket = workspace.dir().join("second.sock");
    let second = workspace.spawn_daemon_on(&other_socket, &["--no-watch"]);
    let status = second.wait_exit(EXIT_TIMEOUT);
    assert!(!status.success(), "a second heatmapd exited with {status}");
    assert!(
        second.logs().contains(&expected),
        "log of the second heatmapd:\n{}",
        second.logs()
    );
    assert!(
        !other_socket.exists(),
        "the rejected heatmapd created its socket"
    );

    // The same socket: the rejected daemon must leave the first one's socket alone.
    let third = workspace.spawn_daemon(&["--no-watch"]);
    let status = third.wait_exit(EXIT_TIMEOUT);
    assert!(!status.success(), "a third heatmapd exited with {status}");
    assert!(
        third.logs().contains(&expected),
        "log of the third heatmapd:\n{}",
        third.logs()
    );

    first.assert_running();
    workspace.ctl(&["status"]).assert_success();
}

#[test]
fn second_daemon_on_workspace_rejected() {
    let workspace = Workspace::new();
    let first = workspace.start_daemon(&["--no-watch"]);
    // Another runtime folder: only the lock inside the workspace can stop this one.
    let other_runtime = workspace.dir().join("other-runtime");
    std::fs::create_dir_all(&other_runtime).expect("cannot create a runtime folder");
    let output = workspace
        .command(&common::binary("heatmapd"))
        .env("XDG_RUNTIME_DIR", &other_runtime)
        .arg("--root")
        .arg(&workspace.root)
        .arg("--socket")
        .arg(workspace.dir().join("other.sock"))
        .arg("--no-watch")
        .output()
        .expect("cannot run heatmapd");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "a second heatmapd on the workspace exited with {}",
        output.status
    );
    assert!(
        stderr.contains(&format!(
            "another heatmapd is running on the workspace {} (pid {})",
            workspace.root.display(),
            first.pid
        )),
        "stderr of the second heatmapd:\n{stderr}"
    );
    first.assert_running();
}

#[test]
fn ctl_without_daemon_exits_3() {
    let workspace = Workspace::new();
    let missing = workspace.dir().join("missing.sock");
    let stale = workspace.dir().join("stale.sock");
    // A listener that is bound and dropped leaves a socket file where no process accepts connections.
    drop(std::os::unix::net::UnixListener::bind(&stale).expect("cannot bind a socket"));

    for socket in [&missing, &stale] {
        for args in [&["status"][..], &["list"][..]] {
            let output = workspace.ctl_with_socket(socket, args, common::CTL_TIMEOUT);
            assert_eq!(output.code, Some(3), "{}", output.describe());
            assert!(
                output.stderr.contains("heatmapd is not running"),
                "{}",
                output.describe()
            );
            assert!(
                output.stderr.contains("start it with"),
                "{}",
                output.describe()
            );
            assert!(
                output.stderr.contains("heatmapd --root"),
                "{}",
                output.describe()
            );
        }
    }
}

#[test]
fn sigint_idle_exits_cleanly() {
    let workspace = Workspace::new();
    let daemon = workspace.start_daemon(&["--no-watch"]);
    daemon.signal(libc::SIGINT);
    let status = daemon.wait_exit(EXIT_TIMEOUT);
    assert_eq!(status.code(), Some(0), "heatmapd exit status after SIGINT");
    assert!(
        !workspace.socket.exists(),
        "heatmapd left its socket behind after SIGINT"
    );

    // The lock is released, so a new daemon starts at once.
    let _restarted = workspace.start_daemon(&["--no-watch"]);
}

#[test]
fn shutdown_request_stops_daemon() {
    let workspace = Workspace::new();
    let daemon = workspace.start_daemon(&["--no-watch"]);
    workspace.ctl(&["shutdown"]).assert_success();
    let status = daemon.wait_exit(EXIT_TIMEOUT);
    assert_eq!(
        status.code(),
        Some(0),
        "heatmapd exit status after shutdown"
    );
    assert!(
        !workspace.socket.exists(),
        "heatmapd left its socket behind after shutdown"
    );
    let output = workspace.ctl(&["status"]);
    assert_eq!(output.code, Some(3), "{}", output.describe());
}

#[test]
fn socket_and_lock_owner_only() {
    use std::os::unix::fs::PermissionsExt;

    let workspace = Workspace::new();
    let _daemon = workspace.start_daemon(&["--no-watch"]);
    let mode_of = |path: &std::path::Path| {
        let metadata = std::fs::metadata(path)
            .unwrap_or_else(|error| panic!("cannot stat {}: {error}", path.display()));
        metadata.permissions().mode() & 0o777
    };
    assert_eq!(mode_of(&workspace.socket), 0o600, "mode of the socket");
    let lock_dir = workspace
        .pid_file()
        .parent()
        .expect("the PID file has a folder")
        .to_path_buf();
    assert_eq!(mode_of(&lock_dir), 0o700, "mode of {}", lock_dir.display());
}
