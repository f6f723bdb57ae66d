//! Generation requests as passed to a fake server script, the replies it
//! can choose, and ready-made scripts.

use std::sync::Arc;
use std::time::Duration;

/// API that a generation request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Api {
    /// Ollama `POST /api/generate`.
    OllamaGenerate,
    /// Ollama `POST /api/chat`.
    OllamaChat,
    /// OpenAI-compatible `POST /v1/chat/completions`.
    OpenAiChat,
    /// OpenAI-compatible `POST /v1/completions`.
    OpenAiCompletion,
}

impl Api {
    /// Tells whether the request used Ollama's native API.
    pub fn is_ollama(self) -> bool {
        matches!(self, Api::OllamaGenerate | Api::OllamaChat)
    }

    /// Returns a short name: `ollama`, `ollama-chat`, `openai-chat` or `openai-completion`.
    pub fn as_str(self) -> &'static str {
        match self {
            Api::OllamaGenerate => "ollama",
            Api::OllamaChat => "ollama-chat",
            Api::OpenAiChat => "openai-chat",
            Api::OpenAiCompletion => "openai-completion",
        }
    }
}

/// A generation request as passed to the script.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeRequest {
    /// API the request came in on.
    pub api: Api,
    /// Model name as sent.
    pub model: String,
    /// Prompt text: the `prompt` field, or the content of the last user message.
    pub prompt: String,
    /// Temperature as sent: `options.temperature` for Ollama, `temperature` for OpenAI.
    pub temperature: Option<f64>,
    /// Seed as sent: `options.seed` for Ollama, `seed` for OpenAI.
    pub seed: Option<u64>,
    /// Attempt number for this (model, prompt, temperature, seed) key, counting from 1.
    pub attempt: u32,
}

/// A script: picks the reply to each generation request. It runs on the
/// server's threads, so it must be `Send + Sync`.
pub type Script = Arc<dyn Fn(&FakeRequest) -> FakeReply + Send + Sync>;

/// What the fake server does with one generation request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ReplyKind {
    /// Streams the text and ends with the API's end marker.
    Text(String),
    /// Responds with an HTTP error status and an error body in the API's format.
    Status {
        status: u16,
        retry_after: Option<String>,
    },
    /// Streams the text, then an error line or chunk, then ends the body.
    ErrorAfter(String),
    /// Streams the text and ends without the end marker. `abort` closes the
    /// connection instead of ending the body cleanly.
    CutShort { text: String, abort: bool },
    /// Sends the response headers, then nothing until the client disconnects
    /// or the server shuts down.
    Hang,
}

/// The reply to one generation request, built with the constructors below
/// and adjusted with the builder methods.
///
/// ```
/// use std::time::Duration;
/// use heatmap_tests::fake::FakeReply;
///
/// let slow = FakeReply::text("Paris").chunks(5).chunk_delay(Duration::from_millis(10));
/// let busy = FakeReply::status(503).retry_after(2);
/// let broken = FakeReply::error_after("Par", "model runner stopped");
/// # let _ = (slow, busy, broken);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct FakeReply {
    pub(crate) kind: ReplyKind,
    pub(crate) message: String,
    pub(crate) first_byte_delay: Duration,
    pub(crate) chunk_delay: Duration,
    pub(crate) chunks: usize,
    pub(crate) thinking: Option<String>,
    pub(crate) finish_reason: String,
    pub(crate) split_lines: bool,
    pub(crate) crlf: bool,
}

impl FakeReply {
    fn new(kind: ReplyKind) -> FakeReply {
        FakeReply {
            kind,
            message: "fake server error".to_owned(),
            first_byte_delay: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            chunks: 3,
            thinking: None,
            finish_reason: "stop".to_owned(),
            split_lines: false,
            crlf: false,
        }
    }

    /// Streams `text` in several chunks (3 by default) and ends normally.
    pub fn text(text: impl Into<String>) -> FakeReply {
        FakeReply::new(ReplyKind::Text(text.into()))
    }

    /// Responds with HTTP `status` and an error body in the API's format.
    pub fn status(status: u16) -> FakeReply {
        FakeReply::new(ReplyKind::Status {
            status,
            retry_after: None,
        })
    }

    /// Streams `text` with status 200, then an error line (Ollama) or an
    /// error chunk (OpenAI) carrying `message`, then ends the body.
    pub fn error_after(text: impl Into<String>, message: impl Into<String>) -> FakeReply {
        FakeReply::new(ReplyKind::ErrorAfter(text.into())).message(message)
    }

    /// Streams `text` and ends the body cleanly, but without the `done: true`
    /// line or `data: [DONE]`.
    pub fn cut_short(text: impl Into<String>) -> FakeReply {
        FakeReply::new(ReplyKind::CutShort {
            text: text.into(),
            abort: false,
        })
    }

    /// Streams `text`, then closes the connection in the middle of the body,
    /// as a crashed server would.
    pub fn disconnect_after(text: impl Into<String>) -> FakeReply {
        FakeReply::new(ReplyKind::CutShort {
            text: text.into(),
            abort: true,
        })
    }

    /// Sends status 200 and then nothing until the client goes away or the
    /// server shuts down.
    pub fn hang() -> FakeReply {
        FakeReply::new(ReplyKind::Hang)
    }

    /// Sets the `Retry-After` header, in seconds, of a status reply.
    pub fn retry_after(self, seconds: u64) -> FakeReply {
        self.retry_after_header(seconds.to_string())
    }

    /// Sets the raw `Retry-After` header value of a status reply, for
    /// example an HTTP date.
    pub fn retry_after_header(mut self, value: impl Into<String>) -> FakeReply {
        if let ReplyKind::Status { retry_after, .. } = &mut self.kind {
            *retry_after = Some(value.into());
        }
        self
    }

    /// Sets the error message of a status or error-in-stream reply.
    pub fn message(mut self, message: impl Into<String>) -> FakeReply {
        self.message = message.into();
        self
    }

    /// Waits this long before sending the response headers. It adds to the
    /// server-wide delay.
    pub fn first_byte_delay(mut self, delay: Duration) -> FakeReply {
        self.first_byte_delay = delay;
        self
    }

    /// Waits this long before each streamed chunk after the first.
    pub fn chunk_delay(mut self, delay: Duration) -> FakeReply {
        self.chunk_delay = delay;
        self
    }

    /// Splits the text into this many chunks: at least 1, and fewer when the
    /// text has fewer characters.
    pub fn chunks(mut self, chunks: usize) -> FakeReply {
        self.chunks = chunks.max(1);
        self
    }

    /// Streams `thinking` first: Ollama's `thinking` field, OpenAI's
    /// `reasoning_content` delta.
    pub fn thinking(mut self, thinking: impl Into<String>) -> FakeReply {
        self.thinking = Some(thinking.into());
        self
    }

    /// Sets the finish reason of the last chunk (`stop` by default).
    pub fn finish_reason(mut self, reason: impl Into<String>) -> FakeReply {
        self.finish_reason = reason.into();
        self
    }

    /// Sends every line of the stream in pieces of a few bytes, with short
    /// pauses, so lines reach the client split across network reads.
    pub fn split_lines(mut self) -> FakeReply {
        self.split_lines = true;
        self
    }

    /// Ends SSE lines with `\r\n` and puts a comment line before each event
    /// (OpenAI APIs only).
    pub fn crlf(mut self) -> FakeReply {
        self.crlf = true;
        self
    }
}

/// Reply text of [`answer_key`] when its rule calls for a wrong answer or no
/// key matches.
pub const WRONG_ANSWER: &str = "I am not sure.";

/// Builds a script that replies from an answer key, so tests can predict
/// exact accuracies.
///
/// For each request the first entry whose prompt substring occurs in the
/// prompt gives the expected answer. The reply is that answer when
/// `is_correct(request)` is true, and [`WRONG_ANSWER`] otherwise or when no
/// entry matches.
///
/// ```
/// use heatmap_tests::fake::{answer_key, FakeConfig};
///
/// // Correct below temperature 0.5, wrong from 0.5 up.
/// let script = answer_key(
///     [("capital of France", "Paris"), ("2 + 2", "4")],
///     |request| request.temperature.unwrap_or(0.0) < 0.5,
/// );
/// let config = FakeConfig::new(["small", "large"], script);
/// # let _ = config;
/// ```
pub fn answer_key<K, V, R>(
    entries: impl IntoIterator<Item = (K, V)>,
    is_correct: R,
) -> impl Fn(&FakeRequest) -> FakeReply + Send + Sync + 'static
where
    K: Into<String>,
    V: Into<String>,
    R: Fn(&FakeRequest) -> bool + Send + Sync + 'static,
{
    let entries: Vec<(String, String)> = entries
        .into_iter()
        .map(|(key, answer)| (key.into(), answer.into()))
        .collect();
    move |request: &FakeRequest| {
        let expected = entries
            .iter()
            .find(|(key, _)| request.prompt.contains(key.as_str()))
            .map(|(_, answer)| answer.as_str());
        match expected {
            Some(answer) if is_correct(request) => FakeReply::text(answer),
            _ => FakeReply::text(WRONG_ANSWER),
        }
    }
}
