//! The HTTP client of one inference server: requests, timeouts, streaming
//! and cancellation.

use std::time::{Duration, Instant};

use heatmap_proto::types::{BackendKind, ModelInfo};
use reqwest::{Method, RequestBuilder, Response, header};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::base_url::normalize_base_url;
use super::decode::{Decoder, StreamFault, excerpt};
use super::error::{BackendError, TransientKind};
use super::failure::{classify_status, error_chain, transport_error};
use super::retry::parse_retry_after;
use super::{GenerateRequest, Generation, ollama, openai};

/// Most bytes of an error response body that are read for its message.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// How long to wait for the rest of a body after its end marker, so the
/// connection can go back to the pool.
const DRAIN_TIMEOUT: Duration = Duration::from_millis(500);
/// How long to wait for the model list that completes a "model not found" error.
const LIST_FOR_ERROR_TIMEOUT: Duration = Duration::from_secs(10);

/// Timeouts and credentials of a [`Client`].
#[derive(Clone)]
pub struct ClientOptions {
    /// Limit for opening a TCP connection.
    pub connect_timeout: Duration,
    /// Limit for waiting on the response headers and then on each read of
    /// the body, so a hung server becomes a transient error. It includes the
    /// time a server takes to load a model before its first byte.
    pub read_timeout: Duration,
    /// Bearer token sent in `Authorization`, for servers started with an API key.
    pub api_key: Option<String>,
}

/// Read timeout of new clients in seconds; see [`set_default_read_timeout`].
static DEFAULT_READ_TIMEOUT_SECS: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(300);

/// Sets the read timeout that [`ClientOptions::default`] gives every client
/// created afterwards; `heatmapd --read-timeout` calls it once at start.
pub fn set_default_read_timeout(timeout: Duration) {
    DEFAULT_READ_TIMEOUT_SECS.store(
        timeout.as_secs().max(1),
        std::sync::atomic::Ordering::Relaxed,
    );
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        let read_secs = DEFAULT_READ_TIMEOUT_SECS.load(std::sync::atomic::Ordering::Relaxed);
        ClientOptions {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(read_secs),
            api_key: None,
        }
    }
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// Client of one inference server base URL with one API kind. Cloning is
/// cheap and clones share the connection pool.
#[derive(Clone)]
pub struct Client {
    kind: BackendKind,
    base: String,
    http: reqwest::Client,
    read_timeout: Duration,
    api_key: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("kind", &self.kind)
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Creates a client with default timeouts (10 s connect, 300 s read).
    ///
    /// The URL is the server's base, such as `http://127.0.0.1:11434`. A
    /// trailing `/v1` (OpenAI) or `/api` (Ollama) is accepted and dropped,
    /// since the client adds the API paths itself.
    pub fn new(kind: BackendKind, url: &str) -> Result<Client, BackendError> {
        Client::with_options(kind, url, ClientOptions::default())
    }

    /// Creates a client with the given timeouts and API key.
    ///
    /// The client ignores proxy settings from the environment, so prompts
    /// never pass through a proxy the user did not name for this server.
    pub fn with_options(
        kind: BackendKind,
        url: &str,
        options: ClientOptions,
    ) -> Result<Client, BackendError> {
        let base = normalize_base_url(kind, url)?;
        let http = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .no_proxy()
            .user_agent(concat!("heatmapd/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| BackendError::Permanent {
                url: base.clone(),
                model: None,
                status: None,
                detail: format!("failed to set up the HTTP client: {}", error_chain(&error)),
            })?;
        Ok(Client {
            kind,
            base,
            http,
            read_timeout: options.read_timeout,
            api_key: options.api_key,
        })
    }

    /// Returns the API kind.
    pub fn kind(&self) -> BackendKind {
        self.kind
    }

    /// Returns the normalized base URL, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.base
    }

    pub(super) fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(super) fn request(&self, method: Method, url: &str) -> RequestBuilder {
        let builder = self.http.request(method, url);
        match &self.api_key {
            Some(key) => builder.bearer_auth(key),
            None => builder,
        }
    }

    /// Lists the server's models: Ollama's `GET /api/tags` or
    /// `GET /v1/models`.
    pub async fn list_models(&self) -> Result<Vec<ModelInfo>, BackendError> {
        let path = match self.kind {
            BackendKind::Ollama => ollama::TAGS_PATH,
            BackendKind::OpenAi => openai::MODELS_PATH,
        };
        let url = self.endpoint(path);
        match tokio::time::timeout(self.read_timeout, self.fetch_models(&url)).await {
            Ok(result) => result,
            Err(_) => Err(BackendError::Transient {
                kind: TransientKind::Timeout,
                url,
                model: None,
                status: None,
                detail: format!("no model list within {} s", self.read_timeout.as_secs()),
                retry_after: None,
            }),
        }
    }

    async fn fetch_models(&self, url: &str) -> Result<Vec<ModelInfo>, BackendError> {
        let response = self
            .request(Method::GET, url)
            .send()
            .await
            .map_err(|error| transport_error(url, None, error, false))?;
        if !response.status().is_success() {
            return Err(self.status_error(url, None, response).await);
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|error| transport_error(url, None, error, true))?;
        let malformed = |detail: String| BackendError::Permanent {
            url: url.to_owned(),
            model: None,
            status: Some(200),
            detail: format!(
                "{detail}; check that the server at this URL speaks the {} API",
                self.kind
            ),
        };
        let body: Value = serde_json::from_slice(&bytes).map_err(|error| {
            malformed(format!(
                "the model list is not JSON ({error}): {:?}",
                excerpt(&String::from_utf8_lossy(&bytes))
            ))
        })?;
        let parsed = match self.kind {
            BackendKind::Ollama => ollama::parse_tags(&body),
            BackendKind::OpenAi => openai::parse_models(&body),
        };
        parsed.map_err(|detail| malformed(format!("unexpected model list: {detail}")))
    }

    /// Checks that the server lists every model in `expected`. As in Ollama, a
    /// name without a tag also matches the same name with `:latest`, for
    /// both API kinds.
    ///
    /// The error names the missing models and lists the available ones.
    pub async fn check_models(&self, expected: &[String]) -> Result<(), BackendError> {
        let available: Vec<String> = self
            .list_models()
            .await?
            .into_iter()
            .map(|model| model.name)
            .collect();
        let mut missing: Vec<String> = Vec::new();
        for name in expected {
            if !Client::is_listed(&available, name) && !missing.contains(name) {
                missing.push(name.clone());
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        Err(BackendError::ModelNotFound {
            url: self.base.clone(),
            models: missing,
            available: Some(available),
        })
    }

    fn is_listed(available: &[String], name: &str) -> bool {
        if available.iter().any(|listed| listed == name) {
            return true;
        }
        // Ollama's OpenAI-compatible API accepts untagged names too.
        if !name.contains(':') {
            let latest = format!("{name}:latest");
            return available.contains(&latest);
        }
        false
    }

    /// Sends one streamed generation and collects the output. This is one
    /// attempt, and [`generate_with_retry`](super::generate_with_retry) adds retries.
    ///
    /// With Ollama both prompt modes use `/api/generate`: chat mode lets
    /// Ollama apply the model's chat template, and completion mode sends
    /// `raw: true`. When `cancel` fires, the HTTP request is dropped at once,
    /// which closes its connection, and the result is [`BackendError::Cancelled`].
    pub async fn generate(
        &self,
        request: &GenerateRequest,
        cancel: &CancellationToken,
    ) -> Result<Generation, BackendError> {
        let (path, body) = match self.kind {
            BackendKind::Ollama => (ollama::GENERATE_PATH, ollama::request_body(request)),
            BackendKind::OpenAi => (openai::path(request.mode), openai::request_body(request)),
        };
        let url = self.endpoint(path);
        let cancelled = || BackendError::Cancelled {
            url: url.clone(),
            model: Some(request.model.clone()),
        };
        if cancel.is_cancelled() {
            return Err(cancelled());
        }

        let result = tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(cancelled()),
            result = self.stream_generation(&url, &request.model, &body) => result,
        };
        match result {
            Err(BackendError::ModelNotFound {
                url,
                models,
                available: None,
            }) => {
                let available = tokio::select! {
                    biased;
                    () = cancel.cancelled() => None,
                    names = self.model_names_for_error() => names,
                };
                Err(BackendError::ModelNotFound {
                    url,
                    models,
                    available,
                })
            }
            other => other,
        }
    }

    /// Returns the listed model names, or `None` when the list cannot be had
    /// quickly, because it only completes an error message.
    async fn model_names_for_error(&self) -> Option<Vec<String>> {
        let listed = tokio::time::timeout(LIST_FOR_ERROR_TIMEOUT, self.list_models()).await;
        let models = listed.ok()?.ok()?;
        Some(models.into_iter().map(|model| model.name).collect())
    }

    async fn stream_generation(
        &self,
        url: &str,
        model: &str,
        body: &Value,
    ) -> Result<Generation, BackendError> {
        let started = Instant::now();
        let send = self.request(Method::POST, url).json(body).send();
        let mut response = match tokio::time::timeout(self.read_timeout, send).await {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => return Err(transport_error(url, Some(model), error, false)),
            Err(_) => return Err(self.read_timeout_error(url, model, "no response headers")),
        };
        if !response.status().is_success() {
            return Err(self.status_error(url, Some(model), response).await);
        }

        let mut decoder = Decoder::new(self.kind);
        let mut ended = false;
        loop {
            let chunk = match tokio::time::timeout(self.read_timeout, response.chunk()).await {
                Ok(Ok(Some(chunk))) => chunk,
                Ok(Ok(None)) => break,
                Ok(Err(error)) => return Err(transport_error(url, Some(model), error, true)),
                Err(_) => return Err(self.read_timeout_error(url, model, "no data")),
            };
            ended = decoder
                .feed(&chunk)
                .map_err(|fault| self.fault_error(url, model, fault))?;
            if ended {
                break;
            }
        }
        let latency = started.elapsed();
        if ended {
            drain(&mut response).await;
        }
        let collected = decoder
            .finish()
            .map_err(|fault| self.fault_error(url, model, fault))?;

        let mut sent = body.clone();
        if let Some(object) = sent.as_object_mut() {
            object.remove("prompt");
            object.remove("messages");
        }
        Ok(Generation {
            text: collected.text,
            finish_reason: collected.finish_reason,
            prompt_tokens: collected.prompt_tokens,
            completion_tokens: collected.completion_tokens,
            server_durations: collected.durations,
            timings: collected.timings,
            latency,
            sent,
            thinking: Some(collected.thinking).filter(|thinking| !thinking.is_empty()),
        })
    }

    fn read_timeout_error(&self, url: &str, model: &str, missing: &str) -> BackendError {
        BackendError::Transient {
            kind: TransientKind::Timeout,
            url: url.to_owned(),
            model: Some(model.to_owned()),
            status: None,
            detail: format!(
                "{missing} within the read timeout of {} s",
                self.read_timeout.as_secs()
            ),
            retry_after: None,
        }
    }

    fn fault_error(&self, url: &str, model: &str, fault: StreamFault) -> BackendError {
        let model = Some(model.to_owned());
        let url = url.to_owned();
        match fault {
            StreamFault::ServerError(detail) => BackendError::Transient {
                kind: TransientKind::StreamError,
                url,
                model,
                status: Some(200),
                detail,
                retry_after: None,
            },
            StreamFault::CutShort(detail) => BackendError::Transient {
                kind: TransientKind::CutShort,
                url,
                model,
                status: Some(200),
                detail,
                retry_after: None,
            },
            StreamFault::Malformed(detail) => BackendError::Permanent {
                url,
                model,
                status: Some(200),
                detail: format!(
                    "invalid stream: {detail}; check that the server at this URL speaks the {} API",
                    self.kind
                ),
            },
        }
    }

    /// Reads the body of an error response and classifies it.
    pub(super) async fn status_error(
        &self,
        url: &str,
        model: Option<&str>,
        mut response: Response,
    ) -> BackendError {
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(parse_retry_after);
        let mut body = Vec::new();
        let read = async {
            while let Ok(Some(chunk)) = response.chunk().await {
                body.extend_from_slice(&chunk);
                if body.len() >= MAX_ERROR_BODY {
                    break;
                }
            }
        };
        // The status alone decides what happens, so a slow body only loses
        // the message.
        let _ = tokio::time::timeout(self.read_timeout.min(Duration::from_secs(10)), read).await;
        let text = String::from_utf8_lossy(&body);
        classify_status(self.kind, url, model, status, retry_after, &text)
    }
}

/// Reads what is left of a body after its end marker, for a short while.
async fn drain(response: &mut Response) {
    let rest = async { while let Ok(Some(_)) = response.chunk().await {} };
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, rest).await;
}
