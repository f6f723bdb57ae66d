//! Ollama's `POST /api/pull`: downloading a model, with progress.
//!
//! Ollama streams NDJSON lines such as
//! `{"status": "pulling 6a0746a1ec1a", "digest": "sha256:...", "total": 2019377376, "completed": 241970}`
//! and ends with `{"status": "success"}`. A line with `error` ends the pull
//! as failed, even after a 200 status.

use std::time::Duration;

use heatmap_proto::types::BackendKind;
use reqwest::Method;
use serde::Deserialize;

use super::Client;
use super::error::{BackendError, TransientKind};
use super::failure::transport_error;
use super::lines::LineBuffer;

/// Path of the pull endpoint.
const PULL_PATH: &str = "/api/pull";

/// Maximum wait for the next line. Ollama may send nothing for a while when
/// it verifies a large download, so this is longer than a generation's wait.
const PULL_READ_TIMEOUT: Duration = Duration::from_secs(600);

/// One progress line of a pull.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PullProgress {
    /// Ollama's status, e.g. `pulling manifest` or `pulling 6a0746a1ec1a`.
    #[serde(default)]
    pub status: String,
    /// Digest of the layer being downloaded, when there is one.
    #[serde(default)]
    pub digest: Option<String>,
    /// Bytes of the layer in all, when known.
    #[serde(default)]
    pub total: Option<u64>,
    /// Bytes of the layer downloaded so far, when known.
    #[serde(default)]
    pub completed: Option<u64>,
    /// Error reported by Ollama.
    #[serde(default)]
    pub error: Option<String>,
}

impl Client {
    /// Pulls `model` through Ollama's API, calling `on_progress` for every
    /// progress line, and returns once Ollama reports `success`.
    pub async fn pull(
        &self,
        model: &str,
        mut on_progress: impl FnMut(&PullProgress),
    ) -> Result<(), BackendError> {
        let url = self.endpoint(PULL_PATH);
        if self.kind() != BackendKind::Ollama {
            return Err(BackendError::Permanent {
                url,
                model: Some(model.to_string()),
                status: None,
                detail: "pulling models works with Ollama only; download the model with the server's own tools"
                    .to_string(),
            });
        }
        let body = serde_json::json!({"model": model, "stream": true});
        let send = self.request(Method::POST, &url).json(&body).send();
        let mut response = match tokio::time::timeout(PULL_READ_TIMEOUT, send).await {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => return Err(transport_error(&url, Some(model), error, false)),
            Err(_) => return Err(timeout(&url, model)),
        };
        if !response.status().is_success() {
            return Err(self.status_error(&url, Some(model), response).await);
        }
        let mut lines = LineBuffer::default();
        let mut succeeded = false;
        loop {
            let chunk = match tokio::time::timeout(PULL_READ_TIMEOUT, response.chunk()).await {
                Ok(Ok(Some(chunk))) => chunk,
                Ok(Ok(None)) => break,
                Ok(Err(error)) => return Err(transport_error(&url, Some(model), error, true)),
                Err(_) => return Err(timeout(&url, model)),
            };
            let complete = lines
                .push(&chunk)
                .map_err(|_| malformed(&url, model, "a line is too long"))?;
            for line in complete {
                succeeded |= handle_line(&url, model, &line, &mut on_progress)?;
            }
        }
        if let Some(line) = lines.finish() {
            succeeded |= handle_line(&url, model, &line, &mut on_progress)?;
        }
        if succeeded {
            Ok(())
        } else {
            Err(BackendError::Transient {
                kind: TransientKind::CutShort,
                url,
                model: Some(model.to_string()),
                status: Some(200),
                detail: "the pull stream ended without a success line".to_string(),
                retry_after: None,
            })
        }
    }
}

/// Parses one line; returns whether it reports success.
fn handle_line(
    url: &str,
    model: &str,
    line: &str,
    on_progress: &mut impl FnMut(&PullProgress),
) -> Result<bool, BackendError> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(false);
    }
    let progress: PullProgress = serde_json::from_str(line)
        .map_err(|err| malformed(url, model, &format!("invalid line {line:?}: {err}")))?;
    if let Some(error) = progress.error {
        return Err(BackendError::Permanent {
            url: url.to_string(),
            model: Some(model.to_string()),
            status: Some(200),
            detail: format!(
                "Ollama reported: {error}; check the model name and tag, e.g. gemma3:1b"
            ),
        });
    }
    on_progress(&progress);
    Ok(progress.status == "success")
}

fn malformed(url: &str, model: &str, detail: &str) -> BackendError {
    BackendError::Permanent {
        url: url.to_string(),
        model: Some(model.to_string()),
        status: Some(200),
        detail: format!(
            "invalid pull stream: {detail}; check that the server at this URL is Ollama"
        ),
    }
}

fn timeout(url: &str, model: &str) -> BackendError {
    BackendError::Transient {
        kind: TransientKind::Timeout,
        url: url.to_string(),
        model: Some(model.to_string()),
        status: None,
        detail: format!("no data within {} s", PULL_READ_TIMEOUT.as_secs()),
        retry_after: None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::routing::post;

    use super::*;

    /// Serves `body` as the response of `/api/pull` on a loopback port and
    /// records the request bodies.
    async fn serve(body: &'static str, status: u16) -> (String, Arc<Mutex<Vec<String>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorded = seen.clone();
        let app = Router::new().route(
            PULL_PATH,
            post(move |request: String| {
                let recorded = recorded.clone();
                async move {
                    recorded.lock().unwrap().push(request);
                    (axum::http::StatusCode::from_u16(status).unwrap(), body)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, seen)
    }

    #[tokio::test]
    async fn pull_reports_each_line() {
        let body = "{\"status\":\"pulling manifest\"}\n\
                    {\"status\":\"pulling 6a0746a1ec1a\",\"digest\":\"sha256:6a07\",\"total\":100,\"completed\":40}\n\
                    {\"status\":\"pulling 6a0746a1ec1a\",\"digest\":\"sha256:6a07\",\"total\":100,\"completed\":100}\n\
                    {\"status\":\"success\"}\n";
        let (url, seen) = serve(body, 200).await;
        let client = Client::new(BackendKind::Ollama, &url).unwrap();
        let mut events = Vec::new();
        client
            .pull("tiny:1b", |p| events.push(p.clone()))
            .await
            .unwrap();
        assert_eq!(events.len(), 4);
        assert_eq!(events[0].status, "pulling manifest");
        assert_eq!(events[0].total, None);
        assert_eq!(events[1].digest.as_deref(), Some("sha256:6a07"));
        assert_eq!(
            (events[1].completed, events[1].total),
            (Some(40), Some(100))
        );
        assert_eq!(events[3].status, "success");
        let sent: serde_json::Value = serde_json::from_str(&seen.lock().unwrap()[0]).unwrap();
        assert_eq!(
            sent,
            serde_json::json!({"model": "tiny:1b", "stream": true})
        );
    }

    #[tokio::test]
    async fn error_line_fails() {
        let body = "{\"status\":\"pulling manifest\"}\n{\"error\":\"pull model manifest: file does not exist\"}\n";
        let (url, _) = serve(body, 200).await;
        let client = Client::new(BackendKind::Ollama, &url).unwrap();
        let err = client.pull("nope", |_| {}).await.unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("Ollama reported: pull model manifest: file does not exist"),
            "{message}"
        );
        assert!(message.contains("\"nope\""), "{message}");
    }

    #[tokio::test]
    async fn stream_without_success_is_cut_short() {
        let (url, _) = serve("{\"status\":\"pulling manifest\"}", 200).await;
        let client = Client::new(BackendKind::Ollama, &url).unwrap();
        let err = client.pull("tiny", |_| {}).await.unwrap_err();
        assert!(
            matches!(
                err,
                BackendError::Transient {
                    kind: TransientKind::CutShort,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn openai_backend_is_rejected() {
        let client = Client::new(BackendKind::OpenAi, "http://127.0.0.1:9").unwrap();
        let err = client.pull("tiny", |_| {}).await.unwrap_err();
        assert!(err.to_string().contains("Ollama only"), "{err}");
    }
}
