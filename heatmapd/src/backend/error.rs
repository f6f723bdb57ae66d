//! Errors of backend requests, split by what the caller should do next:
//! retry, give up on the model, give up on the request, or stop.

use std::time::Duration;

/// Cause of a request failure that may pass on a later attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransientKind {
    /// The connection could not be made, or was reset.
    Connection,
    /// The server sent nothing within the connect or read timeout.
    Timeout,
    /// The server responded with 408, 429 or 5xx.
    Status,
    /// The server reported an error inside a stream that had started with 200.
    StreamError,
    /// The stream ended before its end marker (Ollama's `done: true` line or
    /// SSE `data: [DONE]`).
    CutShort,
}

/// Error of one backend request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BackendError {
    /// The server URL given to [`Client::new`](super::Client::new) is unusable.
    #[error("invalid server URL {url:?}: {reason}; give a base URL such as http://127.0.0.1:11434")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Reason the URL is rejected.
        reason: String,
    },

    /// A failure that may pass on a later attempt.
    #[error("{}", transient_message(*.kind, .url, .model.as_deref(), *.status, .detail))]
    Transient {
        /// Cause of the failure.
        kind: TransientKind,
        /// Endpoint URL of the request.
        url: String,
        /// Model of the request, if it was for one.
        model: Option<String>,
        /// HTTP status of the response, if there was one.
        status: Option<u16>,
        /// The server's error message or the transport error.
        detail: String,
        /// Wait that the server requested with `Retry-After`.
        retry_after: Option<Duration>,
    },

    /// One or more models are not on the server.
    #[error(
        "{} not found on {url}; {}",
        model_list(.models),
        available_note(.available.as_deref())
    )]
    ModelNotFound {
        /// Server URL or endpoint URL that reported it.
        url: String,
        /// Names of the models not found.
        models: Vec<String>,
        /// Models the server lists, where known.
        available: Option<Vec<String>>,
    },

    /// A failure that another attempt would repeat: a 4xx response or a
    /// response that does not follow the API.
    #[error(
        "request to {url}{} failed{}: {detail}",
        model_note(.model.as_deref()),
        status_note(*.status)
    )]
    Permanent {
        /// Endpoint URL of the request.
        url: String,
        /// Model of the request, if it was for one.
        model: Option<String>,
        /// HTTP status of the response, if there was one.
        status: Option<u16>,
        /// Description of the failure and of the fix.
        detail: String,
    },

    /// The request was cancelled by the caller.
    #[error("request to {url}{} was cancelled", model_note(.model.as_deref()))]
    Cancelled {
        /// Endpoint URL of the request.
        url: String,
        /// Model of the request, if it was for one.
        model: Option<String>,
    },
}

impl BackendError {
    /// Tells whether another attempt may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, BackendError::Transient { .. })
    }

    /// Tells whether the caller cancelled the request.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, BackendError::Cancelled { .. })
    }

    /// Returns the wait that the server requested with `Retry-After`.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            BackendError::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Returns the HTTP status of the response, if there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            BackendError::Transient { status, .. } | BackendError::Permanent { status, .. } => {
                *status
            }
            _ => None,
        }
    }

    /// Returns the URL the request failed on.
    pub fn url(&self) -> &str {
        match self {
            BackendError::InvalidUrl { url, .. }
            | BackendError::Transient { url, .. }
            | BackendError::ModelNotFound { url, .. }
            | BackendError::Permanent { url, .. }
            | BackendError::Cancelled { url, .. } => url,
        }
    }
}

fn model_note(model: Option<&str>) -> String {
    model.map_or_else(String::new, |model| format!(" for model {model:?}"))
}

fn status_note(status: Option<u16>) -> String {
    status.map_or_else(String::new, |status| format!(" with HTTP {status}"))
}

fn model_list(models: &[String]) -> String {
    let quoted: Vec<String> = models.iter().map(|model| format!("{model:?}")).collect();
    match quoted.len() {
        1 => format!("model {}", quoted[0]),
        _ => format!("models {}", quoted.join(", ")),
    }
}

fn available_note(available: Option<&[String]>) -> String {
    match available {
        Some([]) => "the server lists no models; pull or load one first".to_owned(),
        Some(names) => format!(
            "available: {}; pull or load the model on the server, or fix the name",
            names.join(", ")
        ),
        None => "pull or load the model on the server, or fix the name".to_owned(),
    }
}

fn transient_message(
    kind: TransientKind,
    url: &str,
    model: Option<&str>,
    status: Option<u16>,
    detail: &str,
) -> String {
    let model = model_note(model);
    match kind {
        TransientKind::Connection => format!(
            "connection to {url}{model} failed: {detail}; check that the server is running at that address"
        ),
        TransientKind::Timeout => format!(
            "request to {url}{model} timed out: {detail}; the server may be overloaded or stuck"
        ),
        TransientKind::Status => format!(
            "server at {url}{model} responded{}: {detail}; it is busy or failing, so try again later",
            status_note(status)
        ),
        TransientKind::StreamError => format!(
            "server at {url}{model} reported an error in the stream: {detail}; see the server log"
        ),
        TransientKind::CutShort => format!(
            "stream from {url}{model} ended before its end marker: {detail}; the server may have crashed or restarted"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_not_found_names_missing_and_available() {
        let error = BackendError::ModelNotFound {
            url: "http://127.0.0.1:11434".to_owned(),
            models: vec!["llama9".to_owned(), "qwen9".to_owned()],
            available: Some(vec!["gemma3:1b".to_owned()]),
        };
        let message = error.to_string();
        assert!(
            message.contains("models \"llama9\", \"qwen9\" not found"),
            "{message}"
        );
        assert!(message.contains("available: gemma3:1b"), "{message}");
    }

    #[test]
    fn transient_message_has_status_and_model() {
        let error = BackendError::Transient {
            kind: TransientKind::Status,
            url: "http://127.0.0.1:8080/v1/chat/completions".to_owned(),
            model: Some("tiny".to_owned()),
            status: Some(503),
            detail: "loading model".to_owned(),
            retry_after: Some(Duration::from_secs(2)),
        };
        let message = error.to_string();
        assert!(message.contains("HTTP 503"), "{message}");
        assert!(message.contains("model \"tiny\""), "{message}");
        assert!(error.is_transient());
        assert_eq!(error.retry_after(), Some(Duration::from_secs(2)));
        assert_eq!(error.status(), Some(503));
    }
}
