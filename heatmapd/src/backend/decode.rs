//! Stream decoding: the collected fields, the failure kinds, and the choice
//! of decoder by API kind.

use heatmap_proto::types::BackendKind;
use serde_json::Value;

use super::ServerDurations;
use super::ollama::OllamaDecoder;
use super::openai::OpenAiDecoder;

/// Maximum length, in characters, of server text quoted in an error message.
const EXCERPT_CHARS: usize = 200;

/// Everything a decoder took from a finished stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Collected {
    pub text: String,
    pub thinking: String,
    pub finish_reason: Option<String>,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub durations: ServerDurations,
    pub timings: Option<Value>,
}

/// Failure to decode a stream into a generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StreamFault {
    /// The server sent an error line or chunk.
    ServerError(String),
    /// The stream does not follow the API's format.
    Malformed(String),
    /// The stream ended before its end marker.
    CutShort(String),
}

/// A stream decoder for either API kind.
#[derive(Debug)]
pub(crate) enum Decoder {
    Ollama(OllamaDecoder),
    OpenAi(OpenAiDecoder),
}

impl Decoder {
    pub fn new(kind: BackendKind) -> Decoder {
        match kind {
            BackendKind::Ollama => Decoder::Ollama(OllamaDecoder::default()),
            BackendKind::OpenAi => Decoder::OpenAi(OpenAiDecoder::default()),
        }
    }

    /// Takes the bytes of one network read. Returns true once the end marker
    /// has arrived, after which later bytes are not needed.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<bool, StreamFault> {
        match self {
            Decoder::Ollama(decoder) => decoder.feed(bytes),
            Decoder::OpenAi(decoder) => decoder.feed(bytes),
        }
    }

    /// Returns what the stream carried, once it has ended.
    pub fn finish(self) -> Result<Collected, StreamFault> {
        match self {
            Decoder::Ollama(decoder) => decoder.finish(),
            Decoder::OpenAi(decoder) => decoder.finish(),
        }
    }
}

/// Returns the message of an `error` value: the string itself, or the
/// `message` field of an error object.
pub(crate) fn error_text(error: &Value) -> String {
    match error {
        Value::String(text) => text.clone(),
        Value::Object(object) => match object.get("message") {
            Some(Value::String(message)) => message.clone(),
            _ => error.to_string(),
        },
        other => other.to_string(),
    }
}

/// Returns the start of `text`, marked when it was cut, for error messages.
pub(crate) fn excerpt(text: &str) -> String {
    let text = text.trim();
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(EXCERPT_CHARS).collect();
    if chars.next().is_some() {
        format!("{head}...")
    } else {
        head
    }
}

/// Converts a count of nanoseconds, as Ollama reports them, to a duration.
pub(crate) fn nanos(value: Option<&Value>) -> Option<std::time::Duration> {
    value
        .and_then(Value::as_u64)
        .map(std::time::Duration::from_nanos)
}

/// Converts a count of milliseconds, as llama-server reports them, to a duration.
pub(crate) fn millis(value: Option<&Value>) -> Option<std::time::Duration> {
    value
        .and_then(Value::as_f64)
        .and_then(|ms| std::time::Duration::try_from_secs_f64(ms / 1000.0).ok())
}
