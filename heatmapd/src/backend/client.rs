//! The HTTP client of one inference server: URL checks, timeouts,
//! cancellation, and the mapping of HTTP and transport failures to
//! [`BackendError`].

use std::time::{Duration, Instant};

use heatmap_proto::types::{BackendKind, ModelInfo};
use reqwest::{Method, RequestBuilder, Response, header};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::decode::{Decoder, StreamFault, error_text, excerpt};
use super::error::{BackendError, TransientKind};
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

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(300),
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

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn request(&self, method: Method, url: &str) -> RequestBuilder {
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
    async fn status_error(
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
fn transport_error(
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
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
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

/// Reads what is left of a body after its end marker, for a short while.
async fn drain(response: &mut Response) {
    let rest = async { while let Ok(Some(_)) = response.chunk().await {} };
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, rest).await;
}

/// Checks a server URL and returns its base without a trailing slash and
/// without a trailing API prefix (`/v1` for OpenAI, `/api` for Ollama).
pub(crate) fn normalize_base_url(kind: BackendKind, url: &str) -> Result<String, BackendError> {
    let invalid = |reason: String| BackendError::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    let trimmed = url.trim();
    if trimmed.is_empty() {
        return Err(invalid("the URL is empty".to_owned()));
    }
    let parsed = reqwest::Url::parse(trimmed).map_err(|error| invalid(error.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "the scheme must be http or https, not {:?}",
            parsed.scheme()
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("the URL has no host".to_owned()));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid(
            "a user name or password in the URL is not supported; pass an API key instead"
                .to_owned(),
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid("a base URL takes no query or fragment".to_owned()));
    }

    let mut base = parsed.as_str().trim_end_matches('/').to_owned();
    let prefix = match kind {
        BackendKind::OpenAi => "/v1",
        BackendKind::Ollama => "/api",
    };
    if let Some(stripped) = base.strip_suffix(prefix) {
        base = stripped.trim_end_matches('/').to_owned();
    }
    Ok(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_is_normalized() {
        let ollama = |url| normalize_base_url(BackendKind::Ollama, url);
        let openai = |url| normalize_base_url(BackendKind::OpenAi, url);
        assert_eq!(
            ollama("http://127.0.0.1:11434/").unwrap(),
            "http://127.0.0.1:11434"
        );
        assert_eq!(
            ollama(" http://LOCALHOST:11434/api ").unwrap(),
            "http://localhost:11434"
        );
        assert_eq!(
            openai("http://127.0.0.1:8080/v1/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            openai("https://host/proxy/v1").unwrap(),
            "https://host/proxy"
        );
        assert_eq!(
            openai("http://127.0.0.1:8080/api").unwrap(),
            "http://127.0.0.1:8080/api"
        );
    }

    #[test]
    fn bad_base_urls_are_rejected() {
        for url in [
            "",
            "localhost:11434",
            "ftp://127.0.0.1",
            "http://",
            "http://user:secret@127.0.0.1:8080",
            "http://127.0.0.1:8080/?x=1",
            "not a url",
        ] {
            let error = normalize_base_url(BackendKind::OpenAi, url).unwrap_err();
            assert!(
                matches!(error, BackendError::InvalidUrl { .. }),
                "{url}: {error}"
            );
        }
    }

    #[test]
    fn invalid_url_message_keeps_secret_out() {
        let error = normalize_base_url(BackendKind::OpenAi, "http://user:secret@h").unwrap_err();
        assert!(error.to_string().contains("user name or password"));
    }

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
