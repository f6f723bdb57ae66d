//! `heatmapctl evaluate`: grades saved answers with an evaluator model,
//! showing a progress bar until heatmapd sends the counts.

use anyhow::Context;
use clap::Args;
use heatmap_proto::{EvaluateReport, EvaluateSpec, Event, Request, Response};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::BackendArg;
use crate::client::{self, Transport};
use crate::cmd::submit::resolve_server;
use crate::exit::{self, Failure, USAGE};
use crate::output::Output;

/// Options of `evaluate`.
#[derive(Debug, Clone, Args)]
pub struct EvaluateArgs {
    /// Session folder to grade (`MODEL_DIR/SESSION`, or `SESSION` for every model
    /// folder that has it); repeat for more
    #[arg(
        long = "session",
        value_name = "S",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub sessions: Vec<String>,

    /// Grade every session under output/
    #[arg(long)]
    pub all: bool,

    /// Evaluator model, as the judge's server names it
    #[arg(long, value_name = "MODEL")]
    pub judge: String,

    /// Base URL of a judge server; repeat to spread the requests across servers.
    /// [default: OLLAMA_HOST, else http://127.0.0.1:11434]
    #[arg(long = "url", value_name = "URL")]
    pub urls: Vec<String>,

    /// API of the judge servers [default: ollama without --url, openai with --url]
    #[arg(long, value_enum)]
    pub backend: Option<BackendArg>,

    /// Grade answers that already have a grade too, replacing it
    #[arg(long)]
    pub regrade: bool,

    /// Judge requests in flight per server URL
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub parallel: u32,
}

/// Builds the request's spec, resolving the servers as `submit` does.
pub fn build_spec(args: &EvaluateArgs, ollama_host: Option<&str>) -> Result<EvaluateSpec, Failure> {
    let judge = args.judge.trim();
    if judge.is_empty() {
        return Err(Failure {
            code: USAGE,
            message: "--judge is empty; give the evaluator model as the server lists it".into(),
        });
    }
    let (backend, urls) = resolve_server(&args.urls, args.backend.map(Into::into), ollama_host)?;
    Ok(EvaluateSpec {
        sessions: args.sessions.clone(),
        all: args.all,
        judge: judge.to_string(),
        backend,
        urls,
        regrade: args.regrade,
        parallel: args.parallel,
    })
}

/// Sends the evaluation, shows its progress and prints the counts.
///
/// Fails with exit code 1 when a judge request failed for some answer, since
/// those answers stay ungraded.
pub async fn run<T: Transport>(
    connection: &mut T,
    output: &mut Output<'_>,
    spec: EvaluateSpec,
) -> anyhow::Result<()> {
    connection
        .send(&Request::Evaluate(spec))
        .await
        .context("failed to send the Evaluate request to heatmapd")?;
    let bar = progress_bar(output.progress_bars && !output.json);
    loop {
        let response = match connection.recv().await {
            Ok(response) => response,
            Err(error) => {
                bar.finish_and_clear();
                return Err(client::receive_error("Evaluate", error));
            }
        };
        if output.json {
            output.print_json(&response)?;
        }
        match response {
            Response::Event(Event::Count { done, total, .. }) => {
                bar.set_length(total);
                bar.set_position(done);
            }
            Response::Event(Event::Message(text)) => {
                bar.suspend(|| output.warn(text));
            }
            Response::Event(_) => {}
            Response::Evaluated(report) => {
                bar.finish_and_clear();
                if !output.json {
                    output.line(report_line(&report))?;
                }
                return outcome(&report);
            }
            Response::Error { kind, message } => {
                bar.finish_and_clear();
                return Err(exit::from_response(kind, &message).into());
            }
            other => {
                bar.finish_and_clear();
                return Err(client::unexpected("Evaluate", &other));
            }
        }
    }
}

fn progress_bar(draw: bool) -> ProgressBar {
    let target = if draw {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(0), target);
    let style = ProgressStyle::with_template("grading {bar:40} {pos}/{len} answers ({eta} left)")
        .expect("static template is valid");
    bar.set_style(style);
    bar
}

/// Describes the counts, e.g. `graded 10, unscored 1, skipped 4, failed 0`.
pub fn report_line(report: &EvaluateReport) -> String {
    format!(
        "graded {}, unscored {}, skipped {} (already graded), failed {}",
        report.graded, report.unscored, report.skipped, report.failed
    )
}

fn outcome(report: &EvaluateReport) -> anyhow::Result<()> {
    if report.failed == 0 {
        return Ok(());
    }
    Err(Failure::failed(format!(
        "{} answers could not be graded; see the heatmapd log, then run evaluate again to retry them",
        report.failed
    ))
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use crate::testing::{Capture, Scripted};
    use clap::Parser;
    use heatmap_proto::{BackendKind, ErrorKind};

    fn args(extra: &[&str]) -> EvaluateArgs {
        let mut argv = vec!["heatmapctl", "evaluate"];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Evaluate(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    fn report(failed: u64) -> EvaluateReport {
        EvaluateReport {
            graded: 3,
            skipped: 1,
            unscored: 1,
            failed,
        }
    }

    #[test]
    fn spec_from_sessions() {
        let args = args(&[
            "--session",
            "a/20250101_120000",
            "--session",
            "20250102_090000",
            "--judge",
            "qwen3:8b",
            "--url",
            "127.0.0.1:8080",
            "--parallel",
            "4",
            "--regrade",
        ]);
        let spec = build_spec(&args, None).unwrap();
        assert_eq!(spec.sessions, ["a/20250101_120000", "20250102_090000"]);
        assert!(!spec.all);
        assert_eq!(spec.judge, "qwen3:8b");
        assert_eq!(spec.backend, BackendKind::OpenAi);
        assert_eq!(spec.urls, ["http://127.0.0.1:8080"]);
        assert!(spec.regrade);
        assert_eq!(spec.parallel, 4);
    }

    #[test]
    fn spec_all_defaults_to_ollama() {
        let spec = build_spec(&args(&["--all", "--judge", "j"]), Some("127.0.0.1:11500")).unwrap();
        assert!(spec.all);
        assert!(spec.sessions.is_empty());
        assert_eq!(spec.backend, BackendKind::Ollama);
        assert_eq!(spec.urls, ["http://127.0.0.1:11500"]);
        assert_eq!(spec.parallel, 1);
        assert!(!spec.regrade);
    }

    #[test]
    fn usage_errors() {
        let cases: [&[&str]; 5] = [
            &["heatmapctl", "evaluate", "--judge", "j"],
            &["heatmapctl", "evaluate", "--all"],
            &[
                "heatmapctl",
                "evaluate",
                "--all",
                "--session",
                "s",
                "--judge",
                "j",
            ],
            &[
                "heatmapctl",
                "evaluate",
                "--all",
                "--judge",
                "j",
                "--parallel",
                "0",
            ],
            &[
                "heatmapctl",
                "evaluate",
                "--all",
                "--judge",
                "j",
                "--backend",
                "vllm",
            ],
        ];
        for argv in cases {
            let error = Cli::try_parse_from(argv).unwrap_err();
            assert_eq!(error.exit_code(), USAGE as i32, "{argv:?}");
        }
        let failure = build_spec(&args(&["--all", "--judge", " "]), None).unwrap_err();
        assert_eq!(failure.code, USAGE);
    }

    #[tokio::test]
    async fn run_prints_counts() {
        let mut connection = Scripted::new(vec![
            Response::Event(Event::Count {
                label: "graded".into(),
                done: 0,
                total: 5,
            }),
            Response::Event(Event::Count {
                label: "graded".into(),
                done: 5,
                total: 5,
            }),
            Response::Evaluated(report(0)),
        ]);
        let mut capture = Capture::default();
        let spec = build_spec(&args(&["--all", "--judge", "j"]), None).unwrap();
        run(&mut connection, &mut capture.output(false), spec.clone())
            .await
            .unwrap();
        assert_eq!(
            capture.out(),
            "graded 3, unscored 1, skipped 1 (already graded), failed 0\n"
        );
        assert_eq!(connection.sent, vec![Request::Evaluate(spec)]);
    }

    #[tokio::test]
    async fn failed_answers_exit_with_one() {
        let mut connection = Scripted::new(vec![Response::Evaluated(report(2))]);
        let mut capture = Capture::default();
        let spec = build_spec(&args(&["--all", "--judge", "j"]), None).unwrap();
        let error = run(&mut connection, &mut capture.output(false), spec)
            .await
            .unwrap_err();
        assert_eq!(exit::code_for_error(&error), exit::FAILED);
        assert!(
            error.to_string().contains("2 answers could not be graded"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn error_response_keeps_its_kind() {
        let mut connection = Scripted::new(vec![Response::Error {
            kind: ErrorKind::NotFound,
            message: "session \"s9\" not found".into(),
        }]);
        let mut capture = Capture::default();
        let spec = build_spec(&args(&["--session", "s9", "--judge", "j"]), None).unwrap();
        let error = run(&mut connection, &mut capture.output(false), spec)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("s9"), "{error}");
        assert_eq!(
            exit::code_for_error(&error),
            exit::code_for_kind(ErrorKind::NotFound)
        );
    }

    #[tokio::test]
    async fn json_prints_every_response() {
        let mut connection = Scripted::new(vec![
            Response::Event(Event::Count {
                label: "graded".into(),
                done: 1,
                total: 1,
            }),
            Response::Evaluated(report(0)),
        ]);
        let mut capture = Capture::default();
        let spec = build_spec(&args(&["--all", "--judge", "j"]), None).unwrap();
        run(&mut connection, &mut capture.output(true), spec)
            .await
            .unwrap();
        let out = capture.out();
        assert_eq!(out.lines().count(), 2, "{out}");
        assert!(out.lines().last().unwrap().contains("Evaluated"), "{out}");
    }
}
