//! Test doubles: a scripted connection, captured output, sample responses
//! and a mock heatmapd that speaks the real protocol on a Unix socket.

use std::collections::VecDeque;

use heatmap_proto::socket::ClientError;
use heatmap_proto::{
    AggregateReport, BackendKind, Counts, FrameError, GradeMode, HeatmapRow, HeatmapTable, JobId,
    JobState, JobSummary, ModelProgress, Request, Response, SessionRef,
};

use crate::client::Transport;
use crate::output::Output;

/// A connection that records requests and replays canned responses, then reports a closed connection.
pub struct Scripted {
    responses: VecDeque<Response>,
    /// Requests sent, in order.
    pub sent: Vec<Request>,
}

impl Scripted {
    pub fn new(responses: Vec<Response>) -> Scripted {
        Scripted {
            responses: responses.into(),
            sent: Vec::new(),
        }
    }
}

impl Transport for Scripted {
    async fn send(&mut self, request: &Request) -> Result<(), ClientError> {
        self.sent.push(request.clone());
        Ok(())
    }

    async fn recv(&mut self) -> Result<Response, ClientError> {
        self.responses
            .pop_front()
            .ok_or(ClientError::Frame(FrameError::Closed))
    }
}

/// Stdout and stderr of a command under test.
#[derive(Default)]
pub struct Capture {
    out: Vec<u8>,
    err: Vec<u8>,
}

impl Capture {
    /// Returns an output that writes into this capture and never draws progress bars.
    pub fn output(&mut self, json: bool) -> Output<'_> {
        Output {
            out: &mut self.out,
            err: &mut self.err,
            json,
            progress_bars: false,
            program: "heatmapctl".to_string(),
        }
    }

    pub fn out(&self) -> String {
        String::from_utf8(self.out.clone()).unwrap()
    }

    pub fn err(&self) -> String {
        String::from_utf8(self.err.clone()).unwrap()
    }
}

/// Returns a queued job of two models, three temperatures and ten prompts: 60 items.
pub fn sample_summary(id: JobId, state: JobState) -> JobSummary {
    JobSummary {
        id,
        state,
        backend: BackendKind::Ollama,
        urls: vec!["http://127.0.0.1:11434".into()],
        models: vec!["a".into(), "b".into()],
        temperatures: vec![0.0, 0.5, 1.0],
        prompts: 10,
        grade: GradeMode::Exact,
        crunch: false,
        created_at: "2026-12-04T10:00:00Z".into(),
        finished_at: None,
        sessions: vec![
            SessionRef {
                model: "a".into(),
                path: "a/20261204_100000".into(),
            },
            SessionRef {
                model: "b".into(),
                path: "b/20261204_100000".into(),
            },
        ],
        counts: Counts {
            total: 60,
            done: 0,
            failed: 0,
            running: 0,
            pending: 60,
        },
        per_model: vec![
            ModelProgress {
                model: "a".into(),
                counts: Counts {
                    total: 30,
                    pending: 30,
                    ..Counts::default()
                },
            },
            ModelProgress {
                model: "b".into(),
                counts: Counts {
                    total: 30,
                    pending: 30,
                    ..Counts::default()
                },
            },
        ],
        error: None,
    }
}

/// Returns an aggregation of the sample job, registered as `0badf00d`.
pub fn sample_report() -> AggregateReport {
    AggregateReport {
        id: Some("0badf00d".into()),
        heatmap_csv: "output/Summaries/heatmap_20261204_101500.csv".into(),
        files: vec!["output/Summaries/super_valid.json".into()],
        graded: 38,
        unscored: 1,
        invalid: 0,
        table: HeatmapTable {
            temperatures: vec![0.0, 0.5, 1.0],
            rows: vec![
                HeatmapRow {
                    model: "a".into(),
                    cells: vec![Some(0.9), Some(0.75), None],
                    counts: vec![10, 4, 0],
                },
                HeatmapRow {
                    model: "b".into(),
                    cells: vec![Some(1.0), Some(0.5), Some(0.25)],
                    counts: vec![10, 10, 4],
                },
            ],
        },
    }
}

/// A mock heatmapd on a Unix socket in a temporary folder.
///
/// It replies to each request, the handshake included, with the frames that
/// `reply` returns for it, and sends nothing when that list is empty.
#[cfg(unix)]
pub struct MockDaemon {
    /// Path of the socket.
    pub socket: std::path::PathBuf,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

#[cfg(unix)]
impl MockDaemon {
    pub fn start(reply: fn(&Request) -> Vec<Response>) -> MockDaemon {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("heatmapd.sock");
        let listener = tokio::net::UnixListener::bind(&socket).unwrap();
        let task = tokio::spawn(async move {
            // Connections live in this set, so aborting the task closes them too.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                connections.spawn(serve(stream, reply));
            }
        });
        MockDaemon {
            socket,
            _dir: dir,
            task,
        }
    }
}

#[cfg(unix)]
impl Drop for MockDaemon {
    /// Stops listening and closes every connection.
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(unix)]
async fn serve(mut stream: tokio::net::UnixStream, reply: fn(&Request) -> Vec<Response>) {
    use heatmap_proto::{read_frame, write_frame};

    while let Ok(request) = read_frame::<_, Request>(&mut stream).await {
        for response in reply(&request) {
            if write_frame(&mut stream, &response).await.is_err() {
                return;
            }
        }
    }
}

/// Returns the handshake reply of a daemon of this protocol version.
pub fn hello() -> Response {
    Response::Hello {
        protocol_version: heatmap_proto::PROTOCOL_VERSION,
        daemon_version: "0.0.0-mock".into(),
    }
}
