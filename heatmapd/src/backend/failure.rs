//! Mapping of HTTP error statuses and transport failures to
//! [`BackendError`].

use std::time::Duration;

use heatmap_proto::types::BackendKind;
use serde_json::Value;

use super::decode::{error_text, excerpt};
use super::error::{BackendError, TransientKind};

/// Turns an HTTP error status and its body into an error: 404 (or 400) with
/// a "model not found" message stops at once, 408, 429 and 5xx are
/// transient, other statuses are permanent.
pub(crate) fn classify_status(
    kind: BackendKind,
    url: &str,
    model: Option<&str>,
    status: u16,
    retry_after: Option<Duration>,
    body: &str,
) -> BackendError {
    let message = server_message(body);
    if let Some(model) = model
        && matches!(status, 400 | 404)
        && reports_missing_model(body)
    {
        return BackendError::ModelNotFound {
            url: url.to_owned(),
            models: vec![model.to_owned()],
            available: None,
        };
    }
    if matches!(status, 408 | 429) || (500..600).contains(&status) {
        return BackendError::Transient {
            kind: TransientKind::Status,
            url: url.to_owned(),
            model: model.map(str::to_owned),
            status: Some(status),
            detail: message,
            retry_after,
        };
    }
    let hint = match status {
        401 | 403 => "; the server requires a valid API key".to_owned(),
        404 | 405 => format!(
            "; check the URL and that the server speaks the {kind} API (Ollama serves /api/..., \
             OpenAI-compatible servers /v1/...)"
        ),
        _ => String::new(),
    };
    BackendError::Permanent {
        url: url.to_owned(),
        model: model.map(str::to_owned),
        status: Some(status),
        detail: format!("{message}{hint}"),
    }
}

/// Returns the message of an error body: `error` (a string or an object
/// with `message`), `message` or `detail`, else the start of the text.
fn server_message(body: &str) -> String {
    if let Ok(value) = serde_json::from_str::<Value>(body) {
        for key in ["error", "message", "detail"] {
            if let Some(field) = value.get(key).filter(|field| !field.is_null()) {
                return error_text(field);
            }
        }
    }
    let text = excerpt(body);
    if text.is_empty() {
        "empty response body".to_owned()
    } else {
        text
    }
}

/// Tells whether an error body reports a missing model, in the words of
/// Ollama (`model "x" not found`), vLLM (`The model x does not
/// exist`) or OpenAI (`model_not_found`).
fn reports_missing_model(body: &str) -> bool {
    let body = body.to_lowercase();
    body.contains("model_not_found")
        || (body.contains("model")
            && (body.contains("not found") || body.contains("does not exist")))
}

/// Maps a reqwest failure to an error. Failures while reading the body mean
/// the stream was cut short.
pub(crate) fn transport_error(
    url: &str,
    model: Option<&str>,
    error: reqwest::Error,
    in_body: bool,
) -> BackendError {
    let model = model.map(str::to_owned);
    if error.is_builder() {
        return BackendError::Permanent {
            url: url.to_owned(),
            model,
            status: None,
            detail: format!("invalid request: {}", error_chain(&error)),
        };
    }
    let kind = if error.is_timeout() {
        TransientKind::Timeout
    } else if in_body {
        TransientKind::CutShort
    } else {
        TransientKind::Connection
    };
    BackendError::Transient {
        kind,
        url: url.to_owned(),
        model,
        status: None,
        detail: error_chain(&error.without_url()),
        retry_after: None,
    }
}

/// Joins an error and its sources, which hold the useful part of a
/// transport error ("Connection refused").
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "http://127.0.0.1:11434/api/generate";

    #[test]
    fn status_404_model_not_found_in_each_dialect() {
        for body in [
            r#"{"error":"model \"llama9\" not found, try pulling it first"}"#,
            r#"{"error":{"message":"m","type":"invalid_request_error","code":"model_not_found"}}"#,
            r#"{"object":"error","message":"The model `llama9` does not exist.","code":404}"#,
        ] {
            let error = classify_status(BackendKind::Ollama, URL, Some("llama9"), 404, None, body);
            assert!(
                matches!(error, BackendError::ModelNotFound { .. }),
                "{body}: {error}"
            );
            assert!(error.to_string().contains("\"llama9\""), "{error}");
        }
    }

    #[test]
    fn status_404_without_model_message_is_permanent() {
        let error = classify_status(
            BackendKind::OpenAi,
            URL,
            Some("m"),
            404,
            None,
            "404 page not found",
        );
        assert!(
            matches!(
                error,
                BackendError::Permanent {
                    status: Some(404),
                    ..
                }
            ),
            "{error}"
        );
        assert!(
            error.to_string().contains("speaks the openai API"),
            "{error}"
        );
    }

    #[test]
    fn busy_statuses_are_transient_with_retry_after() {
        for status in [408, 429, 500, 502, 503] {
            let wait = Some(Duration::from_secs(3));
            let error = classify_status(BackendKind::OpenAi, URL, Some("m"), status, wait, "");
            assert!(error.is_transient(), "{status}: {error}");
            assert_eq!(error.status(), Some(status));
            assert_eq!(error.retry_after(), wait);
        }
    }

    #[test]
    fn client_errors_are_permanent_with_message() {
        let body = r#"{"error":"invalid options: num_predict"}"#;
        let error = classify_status(BackendKind::Ollama, URL, Some("m"), 400, None, body);
        assert!(
            matches!(
                error,
                BackendError::Permanent {
                    status: Some(400),
                    ..
                }
            ),
            "{error}"
        );
        assert!(
            error.to_string().contains("invalid options: num_predict"),
            "{error}"
        );
    }
}
