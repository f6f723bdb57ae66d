//! `heatmapctl canary`: checks whether a server honours temperature for a model.

use clap::Args;
use heatmap_proto::{BackendKind, CanaryReport, Request, Response};

use crate::cli::BackendArg;
use crate::client::{self, Transport};
use crate::exit::Failure;
use crate::output::Output;

/// Options of `canary`.
#[derive(Debug, Clone, Args)]
pub struct CanaryArgs {
    /// Model to test, as the server names it
    #[arg(long, short = 'm', value_name = "M")]
    pub model: String,

    /// Base URL of the server [default: OLLAMA_HOST, else http://127.0.0.1:11434]
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// API of the server [default: ollama without --url, openai with --url]
    #[arg(long, value_enum)]
    pub backend: Option<BackendArg>,

    /// High temperature to test [default: the top of the temperature axis in settings.json]
    #[arg(long = "high", value_name = "T")]
    pub high_temperature: Option<f64>,
}

/// Runs the canary and prints the answers and the verdict. A server that
/// ignores temperature makes the command fail (exit status 1).
pub async fn run<T: Transport>(
    connection: &mut T,
    output: &mut Output<'_>,
    backend: BackendKind,
    url: String,
    model: String,
    high_temperature: Option<f64>,
) -> anyhow::Result<()> {
    let request = Request::Canary {
        backend,
        url,
        model,
        high_temperature,
    };
    let response = client::call(connection, output, request).await?;
    let Response::Canary(report) = &response else {
        return Err(client::unexpected("Canary", &response));
    };
    if !output.json {
        output.line(describe(report))?;
    }
    if report.honours_temperature {
        Ok(())
    } else {
        // The verdict is printed already.
        Err(Failure::failed(String::new()).into())
    }
}

/// Renders both sets of answers, then the verdict.
pub fn describe(report: &CanaryReport) -> String {
    let quote = |answers: &[String]| {
        answers
            .iter()
            .map(|a| format!("{a:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "temperature {}: {}\ntemperature {}: {}\n{}",
        report.low_temperature,
        quote(&report.low_answers),
        report.high_temperature,
        quote(&report.high_answers),
        report.message
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Capture, Scripted};

    fn report(honours: bool) -> CanaryReport {
        CanaryReport {
            model: "tiny".into(),
            low_temperature: 0.0,
            high_temperature: 1.5,
            low_answers: vec!["sun".into(), "sun".into()],
            high_answers: vec!["sun".into(), if honours { "tree" } else { "sun" }.into()],
            low_agree: true,
            high_differ: honours,
            honours_temperature: honours,
            message: "verdict".into(),
        }
    }

    #[tokio::test]
    async fn honouring_server_succeeds() {
        let mut connection = Scripted::new(vec![Response::Canary(report(true))]);
        let mut capture = Capture::default();
        run(
            &mut connection,
            &mut capture.output(false),
            BackendKind::OpenAi,
            "http://127.0.0.1:1".into(),
            "tiny".into(),
            None,
        )
        .await
        .unwrap();
        assert_eq!(
            capture.out(),
            "temperature 0: \"sun\", \"sun\"\ntemperature 1.5: \"sun\", \"tree\"\nverdict\n"
        );
    }

    #[tokio::test]
    async fn ignoring_server_fails_quietly() {
        let mut connection = Scripted::new(vec![Response::Canary(report(false))]);
        let mut capture = Capture::default();
        let error = run(
            &mut connection,
            &mut capture.output(false),
            BackendKind::OpenAi,
            "http://127.0.0.1:1".into(),
            "tiny".into(),
            Some(1.5),
        )
        .await
        .unwrap_err();
        assert_eq!(error.to_string(), "");
        assert_eq!(crate::exit::code_for_error(&error), crate::exit::FAILED);
    }
}
