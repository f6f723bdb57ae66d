//! `heatmapctl submit`: builds a job spec from the options and queues it.

use std::path::Path;

use anyhow::Context;
use heatmap_proto::{BackendKind, JobSpec, JobSummary, PromptMode, Request, Response};

use crate::cli::SubmitArgs;
use crate::client::{self, Transport};
use crate::cmd::follow;
use crate::exit::{Failure, USAGE};
use crate::output::Output;
use crate::parse::{ollama_url, server_url};

/// Placeholder that marks where a template takes the prompt.
const PROMPT_PLACEHOLDER: &str = "{prompt}";

/// Resolves the backend and its URLs: `--url` values, else `OLLAMA_HOST`, else Ollama's default.
///
/// The backend defaults to Ollama without `--url` and to OpenAI-compatible with it.
pub fn resolve_server(
    urls: &[String],
    backend: Option<BackendKind>,
    ollama_host: Option<&str>,
) -> Result<(BackendKind, Vec<String>), Failure> {
    let backend = backend.unwrap_or(if urls.is_empty() {
        BackendKind::Ollama
    } else {
        BackendKind::OpenAi
    });
    if urls.is_empty() {
        let url = ollama_url(ollama_host).map_err(usage)?;
        return Ok((backend, vec![url]));
    }
    let mut resolved: Vec<String> = Vec::with_capacity(urls.len());
    for url in urls {
        let url = server_url(url, backend == BackendKind::OpenAi).map_err(usage)?;
        if resolved.contains(&url) {
            return Err(usage(format!("server {url} is given twice with --url")));
        }
        resolved.push(url);
    }
    Ok((backend, resolved))
}

/// Builds the job spec, reading the template file on this side.
///
/// Returns the spec and warnings for the user. Errors exit with the usage code.
pub fn build_spec(
    args: &SubmitArgs,
    ollama_host: Option<&str>,
) -> Result<(JobSpec, Vec<String>), Failure> {
    let mut warnings = Vec::new();
    let (backend, urls) = resolve_server(&args.urls, args.backend.map(Into::into), ollama_host)?;

    let mut models: Vec<String> = Vec::with_capacity(args.models.len());
    for model in &args.models {
        let model = model.trim();
        if model.is_empty() {
            return Err(usage(
                "--model is empty; give a model name as the server lists it",
            ));
        }
        if models.iter().any(|m| m == model) {
            return Err(usage(format!("model {model} is given twice with --model")));
        }
        models.push(model.to_string());
    }

    let (template, template_name) = match &args.template {
        Some(path) => {
            let text = read_template(path)?;
            if !text.contains(PROMPT_PLACEHOLDER) {
                warnings.push(format!(
                    "template {} has no {PROMPT_PLACEHOLDER} placeholder; add one where the prompt text belongs",
                    path.display()
                ));
            }
            (Some(text), Some(path.display().to_string()))
        }
        None => (None, None),
    };
    if template.is_none() && PromptMode::from(args.mode) == PromptMode::Completion {
        warnings.push(
            "--mode completion without --template sends each prompt as the whole text; \
             base models answer better after a few-shot template such as templates/fewshot-qa.txt"
                .to_string(),
        );
    }

    let spec = JobSpec {
        backend,
        urls,
        models,
        temperatures: args.temps.as_ref().map(|temps| temps.0.clone()),
        question_range: args.questions,
        repeats: args.repeats,
        seed: args.seed,
        max_tokens: args.max_tokens,
        // Zero lets the daemon choose: one request at a time, or one per model in Crunch Mode.
        parallel: args.parallel.unwrap_or(0),
        crunch: args.crunch,
        mode: args.mode.into(),
        template,
        template_name,
        stop: args.stops.clone(),
        grade: args.grade.clone(),
        think: args.think,
        canary: args.canary,
        force: args.force,
    };
    Ok((spec, warnings))
}

fn read_template(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|error| {
        usage(format!(
            "failed to read template {}: {error}",
            path.display()
        ))
    })
}

fn usage(message: impl Into<String>) -> Failure {
    Failure {
        code: USAGE,
        message: message.into(),
    }
}

/// Queues the job. Without `wait`, prints its id and how to follow it; with
/// `wait`, follows it to the end like `heatmapctl follow`.
pub async fn run<T: Transport>(
    connection: &mut T,
    output: &mut Output<'_>,
    spec: JobSpec,
    wait: bool,
    interrupt: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    if wait {
        let request = Request::Submit { spec, wait: true };
        connection
            .send(&request)
            .await
            .context("failed to send the Submit request to heatmapd")?;
        return follow::stream(connection, output, None, interrupt).await;
    }
    let response = client::call(connection, output, Request::Submit { spec, wait: false }).await?;
    let Response::Submitted(summary) = &response else {
        return Err(client::unexpected("Submit", &response));
    };
    if output.json {
        return Ok(());
    }
    output.line(queued_line(summary))?;
    output.line(format!(
        "follow it with: {} follow {}",
        output.program, summary.id
    ))?;
    Ok(())
}

/// Describes a queued job, e.g. `queued job 7: 2 models x 3 temperatures x 10 prompts = 60 items`.
///
/// The summary carries no repeat count, so it is inferred from the item total.
fn queued_line(summary: &JobSummary) -> String {
    let cells = summary.models.len() as u64 * summary.temperatures.len() as u64 * summary.prompts;
    let total = summary.counts.total;
    let repeats = match cells {
        0 => String::new(),
        _ if total > cells && total.is_multiple_of(cells) => {
            format!(" x {} repeats", total / cells)
        }
        _ => String::new(),
    };
    format!(
        "queued job {}: {} x {} x {}{repeats} = {}",
        summary.id,
        plural(summary.models.len(), "model"),
        plural(summary.temperatures.len(), "temperature"),
        plural(summary.prompts as usize, "prompt"),
        plural(total as usize, "item"),
    )
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;
    use heatmap_proto::{GradeMode, PromptMode, QuestionRange};

    fn submit_args(extra: &[&str]) -> SubmitArgs {
        let mut argv = vec!["heatmapctl", "submit"];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Submit(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn queued_line_counts() {
        let mut summary = crate::testing::sample_summary(7, heatmap_proto::JobState::Queued);
        let expected = "queued job 7: 2 models x 3 temperatures x 10 prompts = 60 items";
        assert_eq!(queued_line(&summary), expected);
        summary.counts.total = 180;
        let expected =
            "queued job 7: 2 models x 3 temperatures x 10 prompts x 3 repeats = 180 items";
        assert_eq!(queued_line(&summary), expected);
        summary.models.truncate(1);
        summary.temperatures.truncate(1);
        summary.prompts = 1;
        summary.counts.total = 1;
        assert_eq!(
            queued_line(&summary),
            "queued job 7: 1 model x 1 temperature x 1 prompt = 1 item"
        );
    }

    #[test]
    fn spec_without_url_uses_ollama() {
        let args = submit_args(&[
            "-m",
            "llama3.2:1b",
            "--temps",
            "0,0.5",
            "--questions",
            "5..",
        ]);
        let (spec, warnings) = build_spec(&args, None).unwrap();
        assert!(warnings.is_empty());
        assert_eq!(spec.backend, BackendKind::Ollama);
        assert_eq!(spec.urls, vec!["http://127.0.0.1:11434"]);
        assert_eq!(spec.temperatures, Some(vec![0.0, 0.5]));
        assert_eq!(
            spec.question_range,
            Some(QuestionRange {
                start: 5,
                end: None
            })
        );
        assert_eq!(spec.mode, PromptMode::Chat);
        assert_eq!(spec.grade, GradeMode::Exact);
        assert_eq!(spec.template, None);
    }

    #[test]
    fn spec_reads_ollama_host() {
        let args = submit_args(&["-m", "m"]);
        let (spec, _) = build_spec(&args, Some("127.0.0.1:11500")).unwrap();
        assert_eq!(spec.urls, vec!["http://127.0.0.1:11500"]);
    }

    #[test]
    fn spec_with_urls_defaults_to_openai() {
        let args = submit_args(&[
            "-m",
            "m",
            "--url",
            "http://127.0.0.1:8080/v1",
            "--url",
            "127.0.0.1:8081",
        ]);
        let (spec, _) = build_spec(&args, Some("127.0.0.1:9999")).unwrap();
        assert_eq!(spec.backend, BackendKind::OpenAi);
        assert_eq!(
            spec.urls,
            vec!["http://127.0.0.1:8080", "http://127.0.0.1:8081"]
        );
    }

    #[test]
    fn spec_with_url_and_ollama_backend() {
        let args = submit_args(&["-m", "m", "--url", "127.0.0.1:11434", "--backend", "ollama"]);
        let (spec, _) = build_spec(&args, None).unwrap();
        assert_eq!(spec.backend, BackendKind::Ollama);
        assert_eq!(spec.urls, vec!["http://127.0.0.1:11434"]);
    }

    #[test]
    fn duplicate_model_rejected() {
        let args = submit_args(&["-m", "a", "-m", "a"]);
        let failure = build_spec(&args, None).unwrap_err();
        assert_eq!(failure.code, USAGE);
        assert!(
            failure.message.contains("model a is given twice"),
            "{failure}"
        );
    }

    #[test]
    fn duplicate_url_rejected() {
        let args = submit_args(&[
            "-m",
            "a",
            "--url",
            "127.0.0.1:1",
            "--url",
            "http://127.0.0.1:1/",
        ]);
        let failure = build_spec(&args, None).unwrap_err();
        assert!(
            failure
                .message
                .contains("http://127.0.0.1:1 is given twice"),
            "{failure}"
        );
    }

    #[test]
    fn template_read_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fewshot.txt");
        std::fs::write(&path, "Q: {prompt}\nA:").unwrap();
        let path_text = path.display().to_string();
        let args = submit_args(&["-m", "m", "--mode", "completion", "--template", &path_text]);
        let (spec, warnings) = build_spec(&args, None).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(spec.template.as_deref(), Some("Q: {prompt}\nA:"));
        assert_eq!(spec.template_name.as_deref(), Some(path_text.as_str()));
        assert_eq!(spec.mode, PromptMode::Completion);
    }

    #[test]
    fn template_without_placeholder_warns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plain.txt");
        std::fs::write(&path, "Answer briefly.").unwrap();
        let args = submit_args(&["-m", "m", "--template", &path.display().to_string()]);
        let (_, warnings) = build_spec(&args, None).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("plain.txt has no {prompt} placeholder"),
            "{warnings:?}"
        );
    }

    #[test]
    fn missing_template_names_path() {
        let args = submit_args(&["-m", "m", "--template", "/nonexistent/t.txt"]);
        let failure = build_spec(&args, None).unwrap_err();
        assert_eq!(failure.code, USAGE);
        assert!(
            failure
                .message
                .contains("failed to read template /nonexistent/t.txt"),
            "{failure}"
        );
    }
}
