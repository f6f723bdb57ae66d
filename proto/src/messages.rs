//! Requests, responses and stream events exchanged over a connection.
//!
//! Variants are encoded by position, so new variants go at the end and
//! `Hello` stays first in both enums.

use serde::{Deserialize, Serialize};

use crate::types::*;

/// A message from a client to the daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Handshake; must be the first request on a connection.
    Hello {
        /// The client's [`crate::PROTOCOL_VERSION`].
        protocol_version: u32,
    },
    /// Daemon status.
    Status,
    /// Queues a job. With `wait`, the daemon streams progress until it ends.
    Submit {
        /// The job.
        spec: JobSpec,
        /// Follow the job to its end.
        wait: bool,
    },
    /// Lists jobs, newest first.
    List,
    /// One job in detail.
    Job {
        /// Job id.
        id: JobId,
    },
    /// Streams progress of a job until it ends.
    Follow {
        /// Job id.
        id: JobId,
    },
    /// Cancels a job, aborting requests in flight.
    Cancel {
        /// Job id.
        id: JobId,
    },
    /// Stops handing out new items of a job.
    Pause {
        /// Job id.
        id: JobId,
    },
    /// Continues a paused or cancelled job.
    Resume {
        /// Job id.
        id: JobId,
    },
    /// Aggregates grades into a heatmap snapshot.
    Aggregate {
        /// Session folders (`model_dir/session` or just `session`) to cover; empty means all of `output/`.
        sessions: Vec<String>,
    },
    /// Writes the derivative family of registered heatmaps.
    Derive {
        /// Heatmap ids from `csv_index.json`; empty with `all` means every one.
        ids: Vec<String>,
        /// Derive every registered heatmap.
        all: bool,
    },
    /// Lists the models a server offers.
    Models {
        /// API kind.
        backend: BackendKind,
        /// Base URL.
        url: String,
    },
    /// Stops the daemon cleanly.
    Shutdown,
    /// Grades saved answers with an evaluator model; streams progress, then [`Response::Evaluated`].
    Evaluate(EvaluateSpec),
    /// Checks whether a server honours temperature for a model.
    Canary {
        /// API kind.
        backend: BackendKind,
        /// Base URL.
        url: String,
        /// Model to test.
        model: String,
        /// High temperature to test; `None` takes the top of the settings axis.
        high_temperature: Option<f64>,
    },
    /// Shows `settings.json`.
    GetSettings,
    /// Validates and writes settings: pairs of key and value as typed.
    SetSettings {
        /// Keys and values, e.g. `("temp_max", "2")` or `("question_range", "5..40")`.
        pairs: Vec<(String, String)>,
    },
    /// Pulls a model through Ollama; streams [`Event::Pull`], then [`Response::Ok`].
    Pull {
        /// Ollama base URL.
        url: String,
        /// Model to pull.
        model: String,
    },
    /// Storage, grade and timing statistics.
    Stats,
    /// Deletes files under `output/`.
    Purge(PurgeSpec),
    /// A heatmap as a table: an id from `csv_index.json`, or `live`.
    Show {
        /// Heatmap id or `live`.
        id: String,
    },
}

/// A message from the daemon to a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    /// Handshake accepted.
    Hello {
        /// The daemon's [`crate::PROTOCOL_VERSION`].
        protocol_version: u32,
        /// The daemon's version.
        daemon_version: String,
    },
    /// The request failed.
    Error {
        /// Category, for exit codes.
        kind: ErrorKind,
        /// Message naming what failed and what to do next.
        message: String,
    },
    /// Done, nothing to return.
    Ok,
    /// Daemon status.
    Status(DaemonStatus),
    /// A job was queued. With `wait`, events and then [`Response::JobEnded`] follow.
    Submitted(JobSummary),
    /// Jobs, newest first.
    Jobs(Vec<JobSummary>),
    /// One job in detail.
    Job(JobDetail),
    /// One event of a stream; more frames follow.
    Event(Event),
    /// A followed job ended; ends the stream.
    JobEnded {
        /// Final summary.
        summary: JobSummary,
        /// The snapshot written for the job, if any grade was found.
        heatmap: Option<AggregateReport>,
    },
    /// An aggregation finished.
    Aggregated(AggregateReport),
    /// Derivative files written.
    Derived(Vec<DeriveReport>),
    /// Models of a server.
    Models(Vec<ModelInfo>),
    /// An evaluation finished.
    Evaluated(EvaluateReport),
    /// Result of a temperature canary.
    Canary(CanaryReport),
    /// Current settings.
    Settings(SettingsView),
    /// Statistics.
    Stats(StatsReport),
    /// Files a purge removed, or would remove in a dry run.
    Purged(PurgeReport),
    /// A heatmap table.
    Heatmap(HeatmapView),
}

/// One element of an event stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// Counts changed.
    Progress(JobProgress),
    /// An item failed after its retries.
    ItemFailed(ItemFailure),
    /// A transient error that will be retried.
    Retry {
        /// Model name.
        model: String,
        /// What failed.
        message: String,
    },
    /// Free text for the user, such as "aggregating".
    Message(String),
    /// Progress of an Ollama pull.
    Pull {
        /// Ollama's status line, e.g. `pulling manifest`.
        status: String,
        /// Bytes done, when known.
        completed: Option<u64>,
        /// Bytes in all, when known.
        total: Option<u64>,
    },
    /// Progress of an operation that is not a job, such as an evaluation.
    Count {
        /// Name of the counted things.
        label: String,
        /// Done so far.
        done: u64,
        /// In all.
        total: u64,
    },
}

/// Category of an error response; the client maps these to exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorKind {
    /// The request is invalid (bad spec, unknown model).
    InvalidRequest,
    /// No such job or heatmap id.
    NotFound,
    /// The protocol versions differ.
    VersionMismatch,
    /// The inference server could not be reached or failed.
    Backend,
    /// Anything else inside the daemon.
    Internal,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{read_frame, write_frame};

    fn sample_summary() -> JobSummary {
        JobSummary {
            id: 42,
            state: JobState::Running,
            backend: BackendKind::OpenAi,
            urls: vec!["http://127.0.0.1:8080".into()],
            models: vec!["a".into(), "b".into()],
            temperatures: vec![0.0, 0.5, 1.0],
            prompts: 64,
            grade: GradeMode::Judge {
                model: "judge".into(),
            },
            crunch: true,
            created_at: "2026-12-04T10:00:00Z".into(),
            finished_at: None,
            sessions: vec![SessionRef {
                model: "a".into(),
                path: "a/20261204_100000".into(),
            }],
            counts: Counts {
                total: 384,
                done: 10,
                failed: 1,
                running: 2,
                pending: 371,
            },
            per_model: vec![ModelProgress {
                model: "a".into(),
                counts: Counts::default(),
            }],
            error: None,
        }
    }

    fn sample_spec() -> JobSpec {
        JobSpec {
            backend: BackendKind::Ollama,
            urls: vec!["http://127.0.0.1:11434".into()],
            models: vec!["llama3.2:1b".into()],
            temperatures: Some(vec![0.0, 0.05, 1.25]),
            question_range: Some(QuestionRange {
                start: 2,
                end: None,
            }),
            repeats: 3,
            seed: Some(7),
            max_tokens: Some(32),
            parallel: 4,
            crunch: false,
            mode: PromptMode::Completion,
            template: Some("Q: {prompt}\nA:".into()),
            template_name: Some("templates/fewshot-qa.txt".into()),
            stop: vec!["\n".into()],
            grade: GradeMode::Exact,
            think: Some(false),
            canary: true,
            force: false,
        }
    }

    fn sample_report() -> AggregateReport {
        AggregateReport {
            id: Some("0badf00d".into()),
            heatmap_csv: "output/Summaries/heatmap_x.csv".into(),
            files: vec!["output/Summaries/super_valid.json".into()],
            graded: 10,
            unscored: 1,
            invalid: 2,
            table: HeatmapTable {
                temperatures: vec![0.0, 1.0],
                rows: vec![HeatmapRow {
                    model: "a".into(),
                    cells: vec![Some(0.5), None],
                    counts: vec![2, 0],
                }],
            },
        }
    }

    async fn round_trip<T>(value: &T) -> T
    where
        T: Serialize + for<'de> Deserialize<'de>,
    {
        let mut buf = Vec::new();
        write_frame(&mut buf, value).await.unwrap();
        read_frame(&mut buf.as_slice()).await.unwrap()
    }

    #[tokio::test]
    async fn every_request_round_trips() {
        let requests = vec![
            Request::Hello {
                protocol_version: crate::PROTOCOL_VERSION,
            },
            Request::Status,
            Request::Submit {
                spec: sample_spec(),
                wait: true,
            },
            Request::List,
            Request::Job { id: 1 },
            Request::Follow { id: 2 },
            Request::Cancel { id: 3 },
            Request::Pause { id: 4 },
            Request::Resume { id: 5 },
            Request::Aggregate {
                sessions: vec!["m/20261204_100000".into()],
            },
            Request::Derive {
                ids: vec!["0badf00d".into()],
                all: false,
            },
            Request::Models {
                backend: BackendKind::OpenAi,
                url: "http://127.0.0.1:1".into(),
            },
            Request::Shutdown,
            Request::Evaluate(EvaluateSpec {
                sessions: vec!["s".into()],
                all: false,
                judge: "judge".into(),
                backend: BackendKind::Ollama,
                urls: vec!["http://127.0.0.1:1".into()],
                regrade: true,
                parallel: 2,
            }),
            Request::Canary {
                backend: BackendKind::OpenAi,
                url: "http://127.0.0.1:1".into(),
                model: "m".into(),
                high_temperature: Some(1.5),
            },
            Request::GetSettings,
            Request::SetSettings {
                pairs: vec![("temp_max".into(), "2".into())],
            },
            Request::Pull {
                url: "http://127.0.0.1:1".into(),
                model: "m".into(),
            },
            Request::Stats,
            Request::Purge(PurgeSpec {
                models: vec!["m".into()],
                sessions: vec![],
                grades: false,
                all: false,
                summaries: true,
                dry_run: true,
            }),
            Request::Show { id: "live".into() },
        ];
        for request in requests {
            assert_eq!(round_trip(&request).await, request);
        }
    }

    #[tokio::test]
    async fn every_response_round_trips() {
        let responses = vec![
            Response::Hello {
                protocol_version: 1,
                daemon_version: "0.1.0".into(),
            },
            Response::Error {
                kind: ErrorKind::NotFound,
                message: "job 9 not found".into(),
            },
            Response::Ok,
            Response::Status(DaemonStatus {
                version: "0.1.0".into(),
                pid: 10,
                root: "/tmp/w".into(),
                uptime_secs: 5,
                active_jobs: 1,
                total_jobs: 3,
                watching: true,
            }),
            Response::Submitted(sample_summary()),
            Response::Jobs(vec![sample_summary()]),
            Response::Job(JobDetail {
                summary: sample_summary(),
                failures: vec![ItemFailure {
                    model: "a".into(),
                    temperature: 0.7,
                    prompt_id: "geo-01".into(),
                    repeat: 0,
                    attempts: 5,
                    error: "HTTP 503".into(),
                }],
                rate: 12.5,
            }),
            Response::Event(Event::Progress(JobProgress {
                job: 42,
                state: JobState::Running,
                counts: Counts::default(),
                per_model: vec![],
                rate: 1.0,
            })),
            Response::Event(Event::Retry {
                model: "a".into(),
                message: "HTTP 429".into(),
            }),
            Response::Event(Event::Message("aggregating".into())),
            Response::JobEnded {
                summary: sample_summary(),
                heatmap: Some(sample_report()),
            },
            Response::Aggregated(sample_report()),
            Response::Derived(vec![DeriveReport {
                id: "0badf00d".into(),
                files: vec!["x".into()],
            }]),
            Response::Models(vec![ModelInfo {
                name: "m".into(),
                size: Some(1),
                family: Some("gemma3".into()),
                quantization: Some("Q4_K_M".into()),
            }]),
            Response::Evaluated(EvaluateReport {
                graded: 3,
                skipped: 1,
                unscored: 1,
                failed: 0,
            }),
            Response::Canary(CanaryReport {
                model: "m".into(),
                low_temperature: 0.0,
                high_temperature: 1.5,
                low_answers: vec!["a".into()],
                high_answers: vec!["b".into()],
                low_agree: true,
                high_differ: true,
                honours_temperature: true,
                message: "ok".into(),
            }),
            Response::Settings(SettingsView {
                path: "settings.json".into(),
                text: "{}".into(),
                temperatures: vec![0.0, 1.0],
                question_start: 1,
                question_end: None,
                min_samples: 1,
            }),
            Response::Stats(StatsReport {
                output_bytes: 10,
                answer_files: 2,
                grade_files: 2,
                other_files: 1,
                scored: 1,
                unscored: 1,
                invalid: 0,
                per_model: vec![ModelStats {
                    model: "m".into(),
                    items: 2,
                    median_item_ms: Some(12.5),
                    tokens_per_second: None,
                }],
            }),
            Response::Purged(PurgeReport {
                dry_run: true,
                files: 3,
                folders: 1,
                bytes: 99,
                paths: vec!["x".into()],
            }),
            Response::Heatmap(HeatmapView {
                id: "live".into(),
                path: "p".into(),
                table: sample_report().table,
            }),
            Response::Event(Event::Pull {
                status: "pulling".into(),
                completed: Some(1),
                total: Some(2),
            }),
            Response::Event(Event::Count {
                label: "graded".into(),
                done: 1,
                total: 2,
            }),
        ];
        for response in responses {
            assert_eq!(round_trip(&response).await, response);
        }
    }

    #[tokio::test]
    async fn hello_is_first_variant_in_both_enums() {
        // A client of another version must still be able to read the handshake.
        let request = postcard::to_stdvec(&Request::Hello {
            protocol_version: 9,
        })
        .unwrap();
        assert_eq!(request[0], 0);
        let response = postcard::to_stdvec(&Response::Hello {
            protocol_version: 9,
            daemon_version: String::new(),
        })
        .unwrap();
        assert_eq!(response[0], 0);
    }

    #[test]
    fn job_state_names_round_trip() {
        for state in [
            JobState::Queued,
            JobState::Running,
            JobState::Paused,
            JobState::Completed,
            JobState::Cancelled,
            JobState::Failed,
        ] {
            assert_eq!(JobState::parse(state.as_str()), Some(state));
        }
        assert_eq!(JobState::parse("bogus"), None);
    }
}
