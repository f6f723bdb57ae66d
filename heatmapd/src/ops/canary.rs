//! The temperature canary: does a server really sample with the temperature it is sent?
//!
//! One fixed prompt is sent [`SAMPLES`] times at temperature 0 and as often
//! at a high temperature, with no seed. A server that honours temperature
//! gives the same answer every time at 0 and different answers at the high
//! temperature. Some servers drop the temperature field (or clamp it), and a
//! benchmark across temperatures would then measure nothing.

use std::time::Duration;

use heatmap_proto::{CanaryReport, ErrorKind, JobSpec, PromptMode};
use tokio_util::sync::CancellationToken;

use crate::backend::{BackendError, Client, GenerateRequest, RetryPolicy, generate_with_retry};
use crate::runner::ApiError;

/// The fixed prompt: short, open-ended answers differ easily when sampled.
pub const PROMPT: &str = "Write one word that comes to mind.";

/// Requests per temperature.
pub const SAMPLES: usize = 5;

/// Token limit of each answer; a word needs few.
pub const MAX_TOKENS: u32 = 16;

/// High temperature used when the job or the settings offer none above 0.
pub const FALLBACK_HIGH_TEMPERATURE: f64 = 1.0;

/// Retries of the canary's requests: a few quick ones, since a user waits.
const RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 3,
    base_delay: Duration::from_millis(250),
    max_delay: Duration::from_secs(2),
};

/// Sends the canary prompts to `model` and judges the answers.
pub async fn run(
    client: &Client,
    model: &str,
    high_temperature: f64,
    cancel: &CancellationToken,
) -> Result<CanaryReport, BackendError> {
    let mut low = Vec::with_capacity(SAMPLES);
    let mut high = Vec::with_capacity(SAMPLES);
    for (temperature, answers) in [(0.0, &mut low), (high_temperature, &mut high)] {
        let mut request = GenerateRequest::new(model, PROMPT, PromptMode::Chat, temperature);
        request.max_tokens = Some(MAX_TOKENS);
        for _ in 0..SAMPLES {
            let outcome = generate_with_retry(client, &request, &RETRY, cancel, |_| {}).await;
            answers.push(outcome.result?.text.trim().to_string());
        }
    }
    Ok(judge(model, high_temperature, low, high))
}

/// Builds the report: low answers must all agree, high answers must not.
pub fn judge(
    model: &str,
    high_temperature: f64,
    low_answers: Vec<String>,
    high_answers: Vec<String>,
) -> CanaryReport {
    let low_agree = all_same(&low_answers);
    let high_differ = !all_same(&high_answers);
    let honours_temperature = low_agree && high_differ;
    let low_part = if low_agree {
        format!("the {} answers at temperature 0 agree", low_answers.len())
    } else {
        format!(
            "the {} answers at temperature 0 differ ({} distinct), so the server does not decode greedily at 0",
            low_answers.len(),
            distinct(&low_answers)
        )
    };
    let high_part = if high_differ {
        format!(
            "the {} answers at temperature {high_temperature} differ ({} distinct)",
            high_answers.len(),
            distinct(&high_answers)
        )
    } else {
        format!(
            "the {} answers at temperature {high_temperature} are all identical, so the server seems to ignore temperature",
            high_answers.len()
        )
    };
    let message = if honours_temperature {
        format!("{model} honours temperature: {low_part} and {high_part}")
    } else {
        format!("{model} does not honour temperature: {low_part}, and {high_part}")
    };
    CanaryReport {
        model: model.to_string(),
        low_temperature: 0.0,
        high_temperature,
        low_answers,
        high_answers,
        low_agree,
        high_differ,
        honours_temperature,
        message,
    }
}

fn all_same(answers: &[String]) -> bool {
    answers.windows(2).all(|pair| pair[0] == pair[1])
}

fn distinct(answers: &[String]) -> usize {
    let mut seen: Vec<&String> = answers.iter().collect();
    seen.sort();
    seen.dedup();
    seen.len()
}

/// Returns the canary's high temperature for a job: the job's highest, or
/// [`FALLBACK_HIGH_TEMPERATURE`] when the job only samples at 0.
pub fn job_high_temperature(temperatures: &[f64]) -> f64 {
    let highest = temperatures.iter().copied().fold(0.0, f64::max);
    if highest > 0.0 {
        highest
    } else {
        FALLBACK_HIGH_TEMPERATURE
    }
}

/// Runs the canary for every model of a job on every server, and rejects the
/// job when a server ignores temperature for a model.
pub async fn check_job(spec: &JobSpec, temperatures: &[f64]) -> Result<(), ApiError> {
    let high = job_high_temperature(temperatures);
    let cancel = CancellationToken::new();
    for url in &spec.urls {
        let client =
            Client::new(spec.backend, url).map_err(|e| ApiError::invalid(e.to_string()))?;
        for model in &spec.models {
            let report = run(&client, model, high, &cancel).await.map_err(|err| {
                tracing::warn!(model = %model, url = %url, error = %err, "temperature canary failed");
                ApiError::new(ErrorKind::Backend, format!("temperature canary for {model} on {url} failed: {err}"))
            })?;
            tracing::info!(model = %model, url = %url, honours = report.honours_temperature, "temperature canary");
            if !report.honours_temperature {
                return Err(ApiError::invalid(format!(
                    "job rejected by the temperature canary on {url}: {}; answers at 0: {:?}, at {high}: {:?}. \
                     Check the server's sampling settings, or submit without --canary",
                    report.message, report.low_answers, report.high_answers
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn honouring_server() {
        let report = judge(
            "m",
            1.5,
            words(&["sun"; 5]),
            words(&["sun", "tree", "sun", "river", "sky"]),
        );
        assert!(report.low_agree);
        assert!(report.high_differ);
        assert!(report.honours_temperature);
        assert_eq!(
            report.message,
            "m honours temperature: the 5 answers at temperature 0 agree and the 5 answers at temperature 1.5 differ (4 distinct)"
        );
    }

    #[test]
    fn ignoring_server() {
        let report = judge("m", 2.0, words(&["sun"; 5]), words(&["sun"; 5]));
        assert!(report.low_agree);
        assert!(!report.high_differ);
        assert!(!report.honours_temperature);
        assert_eq!(
            report.message,
            "m does not honour temperature: the 5 answers at temperature 0 agree, and the 5 answers at temperature 2 \
             are all identical, so the server seems to ignore temperature"
        );
    }

    #[test]
    fn random_at_zero_fails() {
        let report = judge(
            "m",
            1.0,
            words(&["a", "b", "a", "a", "a"]),
            words(&["a", "b", "c", "d", "e"]),
        );
        assert!(!report.low_agree);
        assert!(report.high_differ);
        assert!(!report.honours_temperature);
        assert!(
            report
                .message
                .contains("differ (2 distinct), so the server does not decode greedily at 0")
        );
    }

    #[test]
    fn high_temperature_of_job() {
        assert_eq!(job_high_temperature(&[0.0, 0.7, 1.3]), 1.3);
        assert_eq!(job_high_temperature(&[0.0]), 1.0);
    }
}
