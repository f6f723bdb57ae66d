//! HTTP routes of the fake server: both APIs' generation and model-list
//! endpoints, and a health check.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as Shared;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::render::{Context, error_response, respond};
use super::reply::Api;
use super::state::{Incoming, State};

/// Builds the router that serves both APIs at once.
pub(crate) fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/", get(|| async { "fake inference server is running" }))
        .route(
            "/health",
            get(|| async { axum::Json(json!({"status": "ok"})) }),
        )
        .route(
            "/api/version",
            get(|| async { axum::Json(json!({"version": "0.0.0-fake"})) }),
        )
        .route("/api/tags", get(ollama_tags))
        .route("/api/generate", post(ollama_generate))
        .route("/api/chat", post(ollama_chat))
        .route("/v1/models", get(openai_models))
        .route("/v1/chat/completions", post(openai_chat))
        .route("/v1/completions", post(openai_completion))
        .with_state(state)
}

async fn ollama_tags(Shared(state): Shared<Arc<State>>) -> Response {
    let models: Vec<Value> = state
        .models()
        .iter()
        .map(|name| {
            json!({
                "name": name,
                "model": name,
                "modified_at": "2025-01-01T00:00:00Z",
                "size": 1_000_000,
                "digest": "0000000000000000000000000000000000000000000000000000000000000000",
                "details": {
                    "format": "gguf",
                    "family": "fake",
                    "families": ["fake"],
                    "parameter_size": "1B",
                    "quantization_level": "Q4_0",
                },
            })
        })
        .collect();
    axum::Json(json!({"models": models})).into_response()
}

async fn openai_models(Shared(state): Shared<Arc<State>>) -> Response {
    let models: Vec<Value> = state
        .models()
        .iter()
        .map(|name| json!({"id": name, "object": "model", "created": 0, "owned_by": "fake"}))
        .collect();
    axum::Json(json!({"object": "list", "data": models})).into_response()
}

async fn ollama_generate(Shared(state): Shared<Arc<State>>, body: Bytes) -> Response {
    generate(state, Api::OllamaGenerate, &body).await
}

async fn ollama_chat(Shared(state): Shared<Arc<State>>, body: Bytes) -> Response {
    generate(state, Api::OllamaChat, &body).await
}

async fn openai_chat(Shared(state): Shared<Arc<State>>, body: Bytes) -> Response {
    generate(state, Api::OpenAiChat, &body).await
}

async fn openai_completion(Shared(state): Shared<Arc<State>>, body: Bytes) -> Response {
    generate(state, Api::OpenAiCompletion, &body).await
}

/// Records a generation request, runs the script to pick the reply, waits
/// the configured delays and renders the reply.
async fn generate(state: Arc<State>, api: Api, raw: &[u8]) -> Response {
    let started = Instant::now();
    let body: Value = match serde_json::from_slice(raw) {
        Ok(body) => body,
        Err(error) => {
            return error_response(api, 400, &format!("invalid JSON body: {error}"), None);
        }
    };
    let Some(model) = body.get("model").and_then(Value::as_str).map(str::to_owned) else {
        return error_response(api, 400, "model is required", None);
    };

    // Ollama reads sampling settings from `options` only.
    let options = if api.is_ollama() {
        body.get("options")
    } else {
        Some(&body)
    };
    let setting = |name: &str| options.and_then(|options| options.get(name));
    let known_model = state.resolve_model(&model).is_some();
    let prompt = prompt_text(api, &body);
    let prompt_tokens = prompt.split_whitespace().count() as u64;
    let incoming = Incoming {
        api,
        model: model.clone(),
        prompt,
        temperature: setting("temperature").and_then(Value::as_f64),
        top_level_temperature: body.get("temperature").and_then(Value::as_f64),
        seed: setting("seed").and_then(Value::as_u64),
        known_model,
        body: body.clone(),
    };
    let (request, guard) = state.admit(incoming);
    if !known_model {
        let message = format!("model '{model}' not found");
        return error_response(api, 404, &message, Some("model_not_found"));
    }

    let reply = (state.script)(&request);
    let delay = state.delay() + reply.first_byte_delay;
    if !delay.is_zero() {
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = state.shutdown.cancelled() => {
                return error_response(api, 503, "fake server is shutting down", None);
            }
        }
    }

    let context = Context {
        api,
        model,
        prompt_tokens,
        // Ollama streams unless `stream` is false, the OpenAI APIs only when it is true.
        stream: body
            .get("stream")
            .and_then(Value::as_bool)
            .unwrap_or(api.is_ollama()),
        include_usage: body
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        started,
        shutdown: state.shutdown.clone(),
    };
    respond(context, reply, guard)
}

/// Returns the prompt of a request: the `prompt` field, or the text of the
/// last user message for chat APIs.
fn prompt_text(api: Api, body: &Value) -> String {
    match api {
        Api::OllamaGenerate | Api::OpenAiCompletion => body
            .get("prompt")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        Api::OllamaChat | Api::OpenAiChat => body
            .get("messages")
            .and_then(Value::as_array)
            .and_then(|messages| {
                messages
                    .iter()
                    .rev()
                    .find(|message| message.get("role").and_then(Value::as_str) == Some("user"))
            })
            .and_then(|message| message.get("content"))
            .map(message_content)
            .unwrap_or_default(),
    }
}

/// Returns the text of a message's `content`, which OpenAI clients may send
/// as a list of parts.
fn message_content(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}
