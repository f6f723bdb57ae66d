//! End-to-end tests: the real command path, from parsed arguments to exit
//! code, against a mock heatmapd on a Unix socket.

use std::path::Path;
use std::time::Duration;

use clap::Parser;
use heatmap_proto::socket::version_mismatch_message;
use heatmap_proto::{
    Counts, ErrorKind, Event, ItemFailure, JobProgress, JobState, ModelProgress, PROTOCOL_VERSION,
    Request, Response,
};

use crate::cli::Cli;
use crate::cmd::Action;
use crate::exit::{FAILED, INTERRUPTED, NOT_RUNNING, VERSION_MISMATCH, code_for_error};
use crate::testing::{Capture, MockDaemon, hello, sample_report, sample_summary};

/// Output of one heatmapctl run.
struct Run {
    result: anyhow::Result<()>,
    out: String,
    err: String,
}

impl Run {
    fn code(&self) -> u8 {
        match &self.result {
            Ok(()) => 0,
            Err(error) => code_for_error(error),
        }
    }

    fn message(&self) -> String {
        match &self.result {
            Ok(()) => String::new(),
            Err(error) => format!("{error:#}"),
        }
    }
}

/// Runs heatmapctl with `args` against the socket at `socket`.
async fn heatmapctl(socket: &Path, args: &[&str]) -> Run {
    let socket = socket.display().to_string();
    let mut argv = vec!["heatmapctl", "--socket", &socket];
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(argv).unwrap();
    let mut out = Vec::new();
    let mut err = Vec::new();
    let result = crate::run(cli, &mut out, &mut err).await;
    Run {
        result,
        out: String::from_utf8(out).unwrap(),
        err: String::from_utf8(err).unwrap(),
    }
}

fn progress(done_a: u64, done_b: u64, failed_a: u64) -> Response {
    let model = |name: &str, done: u64, failed: u64| ModelProgress {
        model: name.into(),
        counts: Counts {
            total: 30,
            done,
            failed,
            running: 1,
            pending: 30 - done - failed,
        },
    };
    let done = done_a + done_b;
    Response::Event(Event::Progress(JobProgress {
        job: 7,
        state: JobState::Running,
        counts: Counts {
            total: 60,
            done,
            failed: failed_a,
            running: 2,
            pending: 60 - done - failed_a,
        },
        per_model: vec![model("a", done_a, failed_a), model("b", done_b, 0)],
        rate: 12.5,
    }))
}

fn job_ended(state: JobState) -> Response {
    let mut summary = sample_summary(7, state);
    summary.counts = Counts {
        total: 60,
        done: 59,
        failed: 1,
        running: 0,
        pending: 0,
    };
    Response::JobEnded {
        summary,
        heatmap: Some(sample_report()),
    }
}

/// Replies like a daemon whose jobs run to completion with one retry and one failed item.
fn completing_daemon(request: &Request) -> Vec<Response> {
    match request {
        Request::Hello { .. } => vec![hello()],
        Request::Submit { wait: false, .. } => {
            vec![Response::Submitted(sample_summary(7, JobState::Queued))]
        }
        Request::Submit { wait: true, .. } | Request::Follow { .. } => vec![
            Response::Submitted(sample_summary(7, JobState::Queued)),
            progress(5, 3, 0),
            Response::Event(Event::Retry {
                model: "a".into(),
                message: "HTTP 503 from 127.0.0.1".into(),
            }),
            progress(20, 18, 0),
            Response::Event(Event::ItemFailed(ItemFailure {
                model: "a".into(),
                temperature: 0.5,
                prompt_id: "geo-03".into(),
                repeat: 0,
                attempts: 5,
                error: "HTTP 503".into(),
            })),
            progress(29, 30, 1),
            Response::Event(Event::Message("aggregating".into())),
            job_ended(JobState::Completed),
        ],
        _ => vec![Response::Error {
            kind: ErrorKind::Internal,
            message: "not scripted".into(),
        }],
    }
}

#[tokio::test]
async fn submit_wait_prints_heatmap() {
    let daemon = MockDaemon::start(completing_daemon);
    let run = heatmapctl(
        &daemon.socket,
        &[
            "submit", "-m", "a", "-m", "b", "--temps", "0,0.5,1", "--wait",
        ],
    )
    .await;
    assert_eq!(run.code(), 0, "{}", run.message());

    let out = &run.out;
    assert!(
        out.contains("queued job 7 (60 items); Ctrl-C stops following, not the job"),
        "{out}"
    );
    assert!(
        out.contains("job 7 completed: 59 of 60 items answered, 1 failed"),
        "{out}"
    );
    assert!(
        out.contains("MODEL     0   0.5     1\na      0.90  0.75     -\nb      1.00  0.50  0.25\n"),
        "{out}"
    );
    assert!(out.contains("graded 38, unscored 1, invalid 0"), "{out}");
    assert!(
        out.contains("heatmap 0badf00d: output/Summaries/heatmap_20261204_101500.csv"),
        "{out}"
    );
    assert!(out.contains("output/b/20261204_100000"), "{out}");
    assert!(
        out.contains("list the failed items with: heatmapctl --socket"),
        "{out}"
    );

    let err = &run.err;
    assert!(err.contains("retrying a: HTTP 503 from 127.0.0.1"), "{err}");
    assert!(
        err.contains("failed: a at temperature 0.5, prompt geo-03, after 5 attempts: HTTP 503"),
        "{err}"
    );
    assert!(err.contains("aggregating"), "{err}");
}

#[tokio::test]
async fn submit_wait_json_lines() {
    let daemon = MockDaemon::start(completing_daemon);
    let run = heatmapctl(&daemon.socket, &["--json", "submit", "-m", "a", "--wait"]).await;
    assert_eq!(run.code(), 0, "{}", run.message());
    let lines: Vec<serde_json::Value> = run
        .out
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 8, "{}", run.out);
    assert!(lines[0].get("Submitted").is_some(), "{}", run.out);
    assert!(lines[1]["Event"].get("Progress").is_some(), "{}", run.out);
    assert_eq!(lines[7]["JobEnded"]["summary"]["state"], "Completed");
    assert_eq!(run.err, "");
}

#[tokio::test]
async fn submit_without_wait_prints_follow_hint() {
    let daemon = MockDaemon::start(completing_daemon);
    let run = heatmapctl(&daemon.socket, &["submit", "-m", "a", "-m", "b"]).await;
    assert_eq!(run.code(), 0, "{}", run.message());
    let expected = format!(
        "queued job 7: 2 models x 3 temperatures x 10 prompts = 60 items\n\
         follow it with: heatmapctl --socket {} follow 7\n",
        daemon.socket.display()
    );
    assert_eq!(run.out, expected);
}

#[tokio::test]
async fn follow_cancelled_job_exits_1() {
    fn daemon(request: &Request) -> Vec<Response> {
        match request {
            Request::Hello { .. } => vec![hello()],
            _ => vec![progress(1, 1, 0), job_ended(JobState::Cancelled)],
        }
    }
    let daemon = MockDaemon::start(daemon);
    let run = heatmapctl(&daemon.socket, &["follow", "7"]).await;
    assert_eq!(run.code(), FAILED);
    assert!(run.out.contains("job 7 cancelled:"), "{}", run.out);
    assert!(
        run.message()
            .starts_with("job 7 was cancelled; resume it with: heatmapctl"),
        "{}",
        run.message()
    );
}

#[tokio::test]
async fn interrupt_stops_following_only() {
    // The daemon sends one event and then keeps the stream open.
    fn daemon(request: &Request) -> Vec<Response> {
        match request {
            Request::Hello { .. } => vec![hello()],
            _ => vec![progress(1, 1, 0)],
        }
    }
    let daemon = MockDaemon::start(daemon);
    let mut connection = crate::client::connect(&daemon.socket).await.unwrap();
    let mut capture = Capture::default();
    let interrupt = tokio::time::sleep(Duration::from_millis(200));
    let result = Action::Follow(9)
        .run(
            &mut connection,
            &mut capture.output(false),
            &daemon.socket,
            interrupt,
        )
        .await;
    let error = result.unwrap_err();
    assert_eq!(code_for_error(&error), INTERRUPTED);
    let message = error.to_string();
    assert!(
        message.contains("stopped following job 9; it keeps running in heatmapd"),
        "{message}"
    );
    assert!(
        message.contains("Cancel it with: heatmapctl cancel 9"),
        "{message}"
    );
}

#[tokio::test]
async fn error_response_exits_1() {
    fn daemon(request: &Request) -> Vec<Response> {
        match request {
            Request::Hello { .. } => vec![hello()],
            _ => vec![Response::Error {
                kind: ErrorKind::InvalidRequest,
                message: "model nosuch is not on http://127.0.0.1:11434".into(),
            }],
        }
    }
    let daemon = MockDaemon::start(daemon);
    let run = heatmapctl(&daemon.socket, &["submit", "-m", "nosuch", "--wait"]).await;
    assert_eq!(run.code(), FAILED);
    assert_eq!(
        run.message(),
        "model nosuch is not on http://127.0.0.1:11434"
    );
}

#[tokio::test]
async fn missing_daemon_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("heatmapd.sock");
    let run = heatmapctl(&socket, &["list"]).await;
    assert_eq!(run.code(), NOT_RUNNING);
    let expected = format!(
        "heatmapd is not running (no socket at {});",
        socket.display()
    );
    assert!(run.message().starts_with(&expected), "{}", run.message());
    assert!(
        run.message().contains("systemctl --user start heatmapd"),
        "{}",
        run.message()
    );
    assert_eq!(run.out, "");
}

#[tokio::test]
async fn version_mismatch_reported_by_daemon_exits_4() {
    fn daemon(request: &Request) -> Vec<Response> {
        match request {
            Request::Hello { protocol_version } => vec![Response::Error {
                kind: ErrorKind::VersionMismatch,
                message: version_mismatch_message(*protocol_version, PROTOCOL_VERSION + 1, "9.0.0"),
            }],
            _ => vec![],
        }
    }
    let daemon = MockDaemon::start(daemon);
    let run = heatmapctl(&daemon.socket, &["status"]).await;
    assert_eq!(run.code(), VERSION_MISMATCH);
    let expected = format!(
        "client speaks version {PROTOCOL_VERSION}, daemon speaks version {}",
        PROTOCOL_VERSION + 1
    );
    assert!(run.message().contains(&expected), "{}", run.message());
}

#[tokio::test]
async fn version_mismatch_in_hello_exits_4() {
    fn daemon(request: &Request) -> Vec<Response> {
        match request {
            Request::Hello { .. } => vec![Response::Hello {
                protocol_version: PROTOCOL_VERSION + 1,
                daemon_version: "9.0.0".into(),
            }],
            _ => vec![],
        }
    }
    let daemon = MockDaemon::start(daemon);
    let run = heatmapctl(&daemon.socket, &["list"]).await;
    assert_eq!(run.code(), VERSION_MISMATCH);
    assert!(
        run.message().contains("heatmapd 9.0.0"),
        "{}",
        run.message()
    );
}

#[tokio::test]
async fn connection_lost_while_following() {
    fn daemon(request: &Request) -> Vec<Response> {
        match request {
            Request::Hello { .. } => vec![hello()],
            // An empty reply keeps the stream silent; the test then drops the daemon.
            _ => vec![],
        }
    }
    let daemon = MockDaemon::start(daemon);
    let socket = daemon.socket.clone();
    let mut connection = crate::client::connect(&socket).await.unwrap();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(daemon);
    });
    let mut capture = Capture::default();
    let mut output = capture.output(false);
    let follow = Action::Follow(3).run(
        &mut connection,
        &mut output,
        &socket,
        std::future::pending(),
    );
    let error = tokio::time::timeout(Duration::from_secs(5), follow)
        .await
        .unwrap()
        .unwrap_err();
    let message = format!("{error:#}");
    assert!(
        message.contains("lost the connection to heatmapd while following job 3"),
        "{message}"
    );
    assert_eq!(code_for_error(&error), FAILED);
}
