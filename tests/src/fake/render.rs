//! Turns a [`FakeReply`] into an HTTP response in the format of each API:
//! NDJSON lines for Ollama, SSE events for the OpenAI APIs, or one JSON
//! object when the request did not ask for streaming.

use std::io;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::reply::{Api, FakeReply, ReplyKind};
use super::state::InFlight;

/// Pause between the pieces of a line sent with [`FakeReply::split_lines`].
const SPLIT_PAUSE: Duration = Duration::from_millis(2);

/// Request details that rendering a reply needs.
pub(crate) struct Context {
    pub api: Api,
    pub model: String,
    pub prompt_tokens: u64,
    pub stream: bool,
    pub include_usage: bool,
    pub started: Instant,
    pub shutdown: CancellationToken,
}

/// How a streamed body ends after its frames.
enum Ending {
    Clean,
    Abort,
    Hang,
}

/// Builds the response for `reply`. The in-flight guard lives until the
/// body ends or the client goes away.
pub(crate) fn respond(context: Context, reply: FakeReply, guard: InFlight) -> Response {
    if let ReplyKind::Status {
        status,
        retry_after,
    } = &reply.kind
    {
        let mut response = error_response(context.api, *status, &reply.message, None);
        if let Some(value) = retry_after
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    if !context.stream {
        return respond_whole(&context, &reply, guard);
    }

    let (frames, ending) = plan_stream(&context, &reply);
    let content_type = if context.api.is_ollama() {
        "application/x-ndjson"
    } else {
        "text/event-stream"
    };
    let body = stream_body(
        frames,
        ending,
        reply.chunk_delay,
        reply.split_lines,
        context.shutdown.clone(),
        guard,
    );
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Builds the response to a request with `stream: false`.
fn respond_whole(context: &Context, reply: &FakeReply, guard: InFlight) -> Response {
    let ending = match &reply.kind {
        ReplyKind::Text(text) => {
            let completion_tokens = split_chunks(text, reply.chunks).len() as u64;
            let object = whole_object(context, reply, text, completion_tokens);
            return axum::Json(object).into_response();
        }
        ReplyKind::ErrorAfter(_) => {
            return error_response(context.api, 500, &reply.message, None);
        }
        ReplyKind::CutShort { abort: false, .. } => Ending::Clean,
        ReplyKind::CutShort { abort: true, .. } => Ending::Abort,
        ReplyKind::Hang | ReplyKind::Status { .. } => Ending::Hang,
    };
    let body = stream_body(
        Vec::new(),
        ending,
        Duration::ZERO,
        false,
        context.shutdown.clone(),
        guard,
    );
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Lists the frames of a streamed reply and how the body ends.
fn plan_stream(context: &Context, reply: &FakeReply) -> (Vec<String>, Ending) {
    let (text, ending) = match &reply.kind {
        ReplyKind::Text(text) => (text.as_str(), Ending::Clean),
        ReplyKind::ErrorAfter(text) => (text.as_str(), Ending::Clean),
        ReplyKind::CutShort { text, abort } => (
            text.as_str(),
            if *abort { Ending::Abort } else { Ending::Clean },
        ),
        ReplyKind::Hang => ("", Ending::Hang),
        ReplyKind::Status { .. } => unreachable!("status replies are not streamed"),
    };
    let chunks = split_chunks(text, reply.chunks);
    let mut objects = Vec::new();
    if context.api == Api::OpenAiChat {
        objects.push(openai_chunk(
            context,
            json!({"role": "assistant", "content": ""}),
            None,
        ));
    }
    if let Some(thinking) = reply
        .thinking
        .as_deref()
        .filter(|_| !matches!(reply.kind, ReplyKind::Hang))
    {
        objects.push(thinking_object(context, thinking));
    }
    for chunk in &chunks {
        objects.push(content_object(context, chunk));
    }
    let completion_tokens = chunks.len() as u64;
    match &reply.kind {
        ReplyKind::Text(_) => objects.extend(final_objects(context, reply, completion_tokens)),
        ReplyKind::ErrorAfter(_) => objects.push(stream_error_object(context.api, &reply.message)),
        _ => {}
    }

    let mut frames: Vec<String> = objects
        .iter()
        .map(|object| frame(context.api, &object.to_string(), reply.crlf))
        .collect();
    if matches!(reply.kind, ReplyKind::Text(_)) && !context.api.is_ollama() {
        frames.push(frame(context.api, "[DONE]", reply.crlf));
    }
    (frames, ending)
}

/// Wraps one JSON text as an NDJSON line or an SSE event.
fn frame(api: Api, data: &str, crlf: bool) -> String {
    if api.is_ollama() {
        format!("{data}\n")
    } else if crlf {
        format!(": fake keep-alive\r\ndata: {data}\r\n\r\n")
    } else {
        format!("data: {data}\n\n")
    }
}

/// Splits `text` into at most `count` pieces of nearly equal length, never
/// inside a character. Empty text gives no pieces.
fn split_chunks(text: &str, count: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return Vec::new();
    }
    let size = chars.len().div_ceil(count.max(1));
    chars
        .chunks(size)
        .map(|piece| piece.iter().collect())
        .collect()
}

fn created_at() -> &'static str {
    "2025-01-01T00:00:00Z"
}

fn openai_chunk(context: &Context, delta: Value, finish_reason: Option<&str>) -> Value {
    if context.api == Api::OpenAiChat {
        json!({
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": context.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        })
    } else {
        let text = delta.get("content").cloned().unwrap_or(json!(""));
        json!({
            "id": "cmpl-fake",
            "object": "text_completion",
            "created": 0,
            "model": context.model,
            "choices": [{"index": 0, "text": text, "finish_reason": finish_reason}],
        })
    }
}

fn content_object(context: &Context, chunk: &str) -> Value {
    match context.api {
        Api::OllamaGenerate => json!({
            "model": context.model, "created_at": created_at(), "response": chunk, "done": false,
        }),
        Api::OllamaChat => json!({
            "model": context.model, "created_at": created_at(),
            "message": {"role": "assistant", "content": chunk}, "done": false,
        }),
        Api::OpenAiChat | Api::OpenAiCompletion => {
            openai_chunk(context, json!({"content": chunk}), None)
        }
    }
}

fn thinking_object(context: &Context, thinking: &str) -> Value {
    match context.api {
        Api::OllamaGenerate => json!({
            "model": context.model, "created_at": created_at(),
            "response": "", "thinking": thinking, "done": false,
        }),
        Api::OllamaChat => json!({
            "model": context.model, "created_at": created_at(),
            "message": {"role": "assistant", "content": "", "thinking": thinking}, "done": false,
        }),
        Api::OpenAiChat | Api::OpenAiCompletion => {
            openai_chunk(context, json!({"reasoning_content": thinking}), None)
        }
    }
}

/// Returns the last objects of a normal stream: Ollama's `done: true` line,
/// or the OpenAI finish chunk with llama-server style `timings` and, when
/// requested, the usage chunk.
fn final_objects(context: &Context, reply: &FakeReply, completion_tokens: u64) -> Vec<Value> {
    let elapsed_ns = u64::try_from(context.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    if context.api.is_ollama() {
        let mut done = json!({
            "model": context.model,
            "created_at": created_at(),
            "done": true,
            "done_reason": reply.finish_reason,
            "total_duration": elapsed_ns,
            "load_duration": 1_000,
            "prompt_eval_count": context.prompt_tokens,
            "prompt_eval_duration": 2_000,
            "eval_count": completion_tokens,
            "eval_duration": 3_000,
        });
        if context.api == Api::OllamaGenerate {
            done["response"] = json!("");
            done["context"] = json!([1, 2, 3]);
        } else {
            done["message"] = json!({"role": "assistant", "content": ""});
        }
        return vec![done];
    }

    let mut finish = openai_chunk(context, json!({}), Some(&reply.finish_reason));
    finish["timings"] = json!({
        "prompt_n": context.prompt_tokens,
        "prompt_ms": 2.0,
        "predicted_n": completion_tokens,
        "predicted_ms": 3.0,
    });
    let mut objects = vec![finish];
    if context.include_usage {
        objects.push(json!({
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": context.model,
            "choices": [],
            "usage": usage(context.prompt_tokens, completion_tokens),
        }));
    }
    objects
}

fn usage(prompt_tokens: u64, completion_tokens: u64) -> Value {
    json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    })
}

/// Returns the single JSON object that replies to a request with `stream: false`.
fn whole_object(context: &Context, reply: &FakeReply, text: &str, completion_tokens: u64) -> Value {
    match context.api {
        Api::OllamaGenerate | Api::OllamaChat => {
            let mut object = final_objects(context, reply, completion_tokens).remove(0);
            if context.api == Api::OllamaGenerate {
                object["response"] = json!(text);
            } else {
                object["message"] = json!({"role": "assistant", "content": text});
            }
            object
        }
        Api::OpenAiChat => json!({
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": context.model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": reply.finish_reason,
            }],
            "usage": usage(context.prompt_tokens, completion_tokens),
        }),
        Api::OpenAiCompletion => json!({
            "id": "cmpl-fake",
            "object": "text_completion",
            "created": 0,
            "model": context.model,
            "choices": [{"index": 0, "text": text, "finish_reason": reply.finish_reason}],
            "usage": usage(context.prompt_tokens, completion_tokens),
        }),
    }
}

/// Returns the error line or chunk sent in the middle of a 200 stream.
fn stream_error_object(api: Api, message: &str) -> Value {
    if api.is_ollama() {
        json!({"error": message})
    } else {
        json!({"error": {"message": message, "type": "server_error", "code": 500}})
    }
}

/// Builds an error response in the API's format. `code` overrides the
/// OpenAI `error.code` field, which is the status by default.
pub(crate) fn error_response(api: Api, status: u16, message: &str, code: Option<&str>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = if api.is_ollama() {
        json!({"error": message})
    } else {
        let kind = if status.is_server_error() {
            "server_error"
        } else {
            "invalid_request_error"
        };
        let code = code.map_or(json!(status.as_u16()), |code| json!(code));
        json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
    };
    (status, axum::Json(body)).into_response()
}

/// Streams `frames` from a task, so delays and client disconnects are
/// handled apart from the server's connection code.
fn stream_body(
    frames: Vec<String>,
    ending: Ending,
    chunk_delay: Duration,
    split_lines: bool,
    shutdown: CancellationToken,
    guard: InFlight,
) -> Body {
    let (sender, receiver) = mpsc::channel::<io::Result<String>>(16);
    tokio::spawn(async move {
        let _guard = guard;
        for (index, frame) in frames.into_iter().enumerate() {
            if index > 0 && !pause(&sender, &shutdown, chunk_delay).await {
                return;
            }
            if !send_frame(&sender, &shutdown, frame, split_lines).await {
                return;
            }
        }
        match ending {
            Ending::Clean => {}
            Ending::Abort => {
                let _ = sender
                    .send(Err(io::Error::other("fake server dropped the connection")))
                    .await;
            }
            Ending::Hang => {
                tokio::select! {
                    _ = sender.closed() => {}
                    _ = shutdown.cancelled() => {
                        let _ = sender.send(Err(io::Error::other("fake server shut down"))).await;
                    }
                }
            }
        }
    });
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    });
    Body::from_stream(stream)
}

/// Sends one frame, in pieces when `split_lines` is set. Returns false when
/// the client went away or the server is shutting down.
async fn send_frame(
    sender: &mpsc::Sender<io::Result<String>>,
    shutdown: &CancellationToken,
    frame: String,
    split_lines: bool,
) -> bool {
    if !split_lines {
        return sender.send(Ok(frame)).await.is_ok();
    }
    for (index, piece) in split_chunks(&frame, 3).into_iter().enumerate() {
        if index > 0 && !pause(sender, shutdown, SPLIT_PAUSE).await {
            return false;
        }
        if sender.send(Ok(piece)).await.is_err() {
            return false;
        }
    }
    true
}

/// Waits `delay`, or less if the client goes away or the server shuts down,
/// in which case it returns false.
async fn pause(
    sender: &mpsc::Sender<io::Result<String>>,
    shutdown: &CancellationToken,
    delay: Duration,
) -> bool {
    if delay.is_zero() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(delay) => true,
        _ = sender.closed() => false,
        _ = shutdown.cancelled() => false,
    }
}

#[cfg(test)]
mod tests {
    use super::split_chunks;

    #[test]
    fn split_chunks_keeps_characters_whole() {
        assert_eq!(split_chunks("Paris", 3), ["Pa", "ri", "s"]);
        assert_eq!(split_chunks("é€x", 2), ["é€", "x"]);
        assert_eq!(split_chunks("ab", 5), ["a", "b"]);
        assert!(split_chunks("", 3).is_empty());
    }
}
