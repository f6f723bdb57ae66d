//! Clients of inference servers: Ollama and OpenAI-compatible APIs.
//!
//! A [`Client`] talks to one server base URL with one API kind. It sends one
//! streamed generation per [`Client::generate`] call and lists the server's
//! models. [`generate_with_retry`] adds retries with exponential backoff for
//! transient failures.
//!
//! ```no_run
//! # async fn example() -> Result<(), heatmapd::backend::BackendError> {
//! use heatmap_proto::types::{BackendKind, PromptMode};
//! use heatmapd::backend::{self, Client, GenerateRequest, RetryPolicy};
//! use tokio_util::sync::CancellationToken;
//!
//! let client = Client::new(BackendKind::Ollama, "http://127.0.0.1:11434")?;
//! client.check_models(&["gemma3:1b".to_owned()]).await?;
//! let request = GenerateRequest::new("gemma3:1b", "What is the capital of France?", PromptMode::Chat, 0.7);
//! let cancel = CancellationToken::new();
//! let outcome = backend::generate_with_retry(&client, &request, &RetryPolicy::default(), &cancel, |retry| {
//!     eprintln!("attempt {} failed: {}", retry.attempt, retry.error);
//! })
//! .await;
//! println!("{} attempts: {:?}", outcome.attempts, outcome.result.map(|answer| answer.text));
//! # Ok(())
//! # }
//! ```

mod base_url;
mod client;
mod decode;
mod error;
mod failure;
mod lines;
mod ollama;
mod openai;
mod pull;
mod retry;

#[cfg(test)]
mod tests;

use std::time::Duration;

use heatmap_proto::types::PromptMode;
use serde_json::Value;

pub use client::{Client, ClientOptions, set_default_read_timeout};
pub use error::{BackendError, TransientKind};
pub use pull::PullProgress;
pub use retry::{RetryEvent, RetryOutcome, RetryPolicy, generate_with_retry, parse_retry_after};

/// One generation to send to a server.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateRequest {
    /// Model name as the server lists it.
    pub model: String,
    /// The user message in [`PromptMode::Chat`], or the full raw text, with
    /// any template already filled in, in [`PromptMode::Completion`].
    pub prompt: String,
    /// Chat or raw completion.
    pub mode: PromptMode,
    /// Sampling temperature.
    pub temperature: f64,
    /// Sampling seed, if any.
    pub seed: Option<u64>,
    /// Maximum number of tokens to generate, if limited.
    pub max_tokens: Option<u32>,
    /// Stop sequences, none when empty.
    pub stop: Vec<String>,
    /// Asks the server to constrain the output to JSON.
    pub json_output: bool,
    /// JSON schema the output must follow; when set, it takes the place of
    /// `json_output`. Ollama receives it as `format`, OpenAI-compatible
    /// servers as a `json_schema` response format.
    pub json_schema: Option<Value>,
    /// Ollama's top-level `think` switch for thinking models; `None` leaves
    /// the server's default. OpenAI-compatible servers never receive it.
    pub think: Option<bool>,
}

impl GenerateRequest {
    /// Creates a request with no seed, no token limit, no stop sequences,
    /// free-form output and the server's default for thinking.
    pub fn new(
        model: impl Into<String>,
        prompt: impl Into<String>,
        mode: PromptMode,
        temperature: f64,
    ) -> GenerateRequest {
        GenerateRequest {
            model: model.into(),
            prompt: prompt.into(),
            mode,
            temperature,
            seed: None,
            max_tokens: None,
            stop: Vec::new(),
            json_output: false,
            json_schema: None,
            think: None,
        }
    }
}

/// Durations that the server reported for one generation.
///
/// Ollama reports all four in its last line. llama-server reports the
/// prompt and generation times in `timings`, which fill `prompt_eval` and
/// `eval`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerDurations {
    /// Whole request on the server.
    pub total: Option<Duration>,
    /// Loading the model.
    pub load: Option<Duration>,
    /// Evaluating the prompt.
    pub prompt_eval: Option<Duration>,
    /// Generating the output tokens.
    pub eval: Option<Duration>,
}

/// A finished generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// The generated text.
    pub text: String,
    /// Reason generation stopped (`stop`, `length`, ...), as the server reports it.
    pub finish_reason: Option<String>,
    /// Prompt tokens, as the server counts them.
    pub prompt_tokens: Option<u64>,
    /// Generated tokens, as the server counts them.
    pub completion_tokens: Option<u64>,
    /// Durations that the server reported.
    pub server_durations: ServerDurations,
    /// llama-server's `timings` object as sent, if present.
    pub timings: Option<Value>,
    /// Wall time from sending the request to the end marker of the stream.
    pub latency: Duration,
    /// The JSON body as sent, without the prompt text (`prompt` or
    /// `messages`), so the sampling settings can be recorded.
    pub sent: Value,
    /// Reasoning text streamed apart from the generated text: Ollama's `thinking`
    /// field, or OpenAI-style `reasoning_content` (or `reasoning`) deltas.
    pub thinking: Option<String>,
}
