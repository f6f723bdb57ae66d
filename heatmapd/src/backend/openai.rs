//! The OpenAI-compatible API (llama-server, vLLM, LM Studio, Ollama's `/v1`):
//! request bodies for `/v1/chat/completions` and `/v1/completions`, decoding
//! of their SSE stream, and the model list of `GET /v1/models`.

use heatmap_proto::types::{ModelInfo, PromptMode};
use serde_json::{Map, Value, json};

use super::GenerateRequest;
use super::decode::{Collected, StreamFault, error_text, excerpt, millis};
use super::lines::{LineBuffer, MAX_LINE_BYTES, SseEvent, SseParser};

/// Path of the chat endpoint.
pub(crate) const CHAT_PATH: &str = "/v1/chat/completions";
/// Path of the raw completion endpoint.
pub(crate) const COMPLETION_PATH: &str = "/v1/completions";
/// Path of the model list.
pub(crate) const MODELS_PATH: &str = "/v1/models";

/// Returns the endpoint path for a prompt mode.
pub(crate) fn path(mode: PromptMode) -> &'static str {
    match mode {
        PromptMode::Chat => CHAT_PATH,
        PromptMode::Completion => COMPLETION_PATH,
    }
}

/// Builds the body of a streamed chat or completion request, asking for a
/// usage chunk at the end. `think` is Ollama's alone and is never sent here.
pub(crate) fn request_body(request: &GenerateRequest) -> Value {
    let mut body = Map::new();
    body.insert("model".to_owned(), json!(request.model));
    match request.mode {
        PromptMode::Chat => {
            let message = json!({"role": "user", "content": request.prompt});
            body.insert("messages".to_owned(), json!([message]));
        }
        PromptMode::Completion => {
            body.insert("prompt".to_owned(), json!(request.prompt));
        }
    }
    body.insert("stream".to_owned(), json!(true));
    body.insert("stream_options".to_owned(), json!({"include_usage": true}));
    body.insert("temperature".to_owned(), json!(request.temperature));
    if let Some(seed) = request.seed {
        body.insert("seed".to_owned(), json!(seed));
    }
    if let Some(max_tokens) = request.max_tokens {
        body.insert("max_tokens".to_owned(), json!(max_tokens));
    }
    if !request.stop.is_empty() {
        body.insert("stop".to_owned(), json!(request.stop));
    }
    if let Some(schema) = &request.json_schema {
        body.insert("response_format".to_owned(), schema_format(schema));
    } else if request.json_output {
        body.insert("response_format".to_owned(), json!({"type": "json_object"}));
    }
    Value::Object(body)
}

/// Builds a `json_schema` response format, which llama-server and vLLM
/// accept. The schema's `title` names it, else the name is `response`.
fn schema_format(schema: &Value) -> Value {
    let name = schema
        .get("title")
        .and_then(Value::as_str)
        .filter(|title| !title.is_empty())
        .unwrap_or("response");
    json!({"type": "json_schema", "json_schema": {"name": name, "schema": schema}})
}

/// Decodes an SSE stream of completion chunks up to `data: [DONE]`.
#[derive(Debug, Default)]
pub(crate) struct OpenAiDecoder {
    lines: LineBuffer,
    sse: SseParser,
    collected: Collected,
    done: bool,
}

impl OpenAiDecoder {
    /// Takes the bytes of one network read and returns true once `data: [DONE]`
    /// has arrived.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<bool, StreamFault> {
        let lines = self.lines.push(bytes).map_err(|_| {
            StreamFault::Malformed(format!("a line is longer than {MAX_LINE_BYTES} bytes"))
        })?;
        for line in lines {
            if let Some(event) = self.sse.line(&line) {
                self.event(event)?;
                if self.done {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Returns what the stream carried, or [`StreamFault::CutShort`] when it
    /// ended before `data: [DONE]`.
    pub fn finish(mut self) -> Result<Collected, StreamFault> {
        if !self.done {
            if let Some(line) = self.lines.finish()
                && let Some(event) = self.sse.line(&line)
            {
                self.event(event)?;
            }
            if let Some(event) = self.sse.finish() {
                self.event(event)?;
            }
        }
        if self.done {
            Ok(self.collected)
        } else {
            Err(StreamFault::CutShort(format!(
                "no data: [DONE] after {} characters of text",
                self.collected.text.chars().count()
            )))
        }
    }

    fn event(&mut self, event: SseEvent) -> Result<(), StreamFault> {
        let data = event.data.trim();
        if event.event.as_deref() == Some("error") {
            let message = serde_json::from_str::<Value>(data)
                .map(|value| error_text(value.get("error").unwrap_or(&value)))
                .unwrap_or_else(|_| data.to_owned());
            return Err(StreamFault::ServerError(message));
        }
        if data == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        if data.is_empty() {
            return Ok(());
        }

        let chunk: Value = serde_json::from_str(data).map_err(|error| {
            StreamFault::Malformed(format!(
                "invalid JSON in SSE data {:?}: {error}",
                excerpt(data)
            ))
        })?;
        if let Some(error) = chunk.get("error").filter(|error| !error.is_null()) {
            return Err(StreamFault::ServerError(error_text(error)));
        }
        // vLLM sends errors as an object of type "error".
        if chunk.get("object").and_then(Value::as_str) == Some("error") {
            return Err(StreamFault::ServerError(error_text(&chunk)));
        }
        self.chunk(&chunk);
        Ok(())
    }

    fn chunk(&mut self, chunk: &Value) {
        let choices = chunk.get("choices").and_then(Value::as_array);
        // Only one choice is requested, so others would belong to a second sample.
        let first = choices.and_then(|choices| {
            choices
                .iter()
                .find(|choice| choice.get("index").and_then(Value::as_u64).unwrap_or(0) == 0)
        });
        if let Some(choice) = first {
            self.choice(choice);
        }

        if let Some(usage) = chunk.get("usage").filter(|usage| usage.is_object()) {
            let count = |key: &str| usage.get(key).and_then(Value::as_u64);
            self.collected.prompt_tokens = count("prompt_tokens").or(self.collected.prompt_tokens);
            self.collected.completion_tokens =
                count("completion_tokens").or(self.collected.completion_tokens);
        }
        if let Some(timings) = chunk.get("timings").filter(|timings| timings.is_object()) {
            self.timings(timings);
        }
    }

    fn choice(&mut self, choice: &Value) {
        let collected = &mut self.collected;
        if let Some(delta) = choice.get("delta") {
            if let Some(text) = delta.get("content").and_then(Value::as_str) {
                collected.text.push_str(text);
            }
            // llama-server and older vLLM send `reasoning_content`, newer
            // servers `reasoning`.
            let reasoning = delta
                .get("reasoning_content")
                .and_then(Value::as_str)
                .or_else(|| delta.get("reasoning").and_then(Value::as_str));
            if let Some(reasoning) = reasoning {
                collected.thinking.push_str(reasoning);
            }
        } else if let Some(text) = choice.get("text").and_then(Value::as_str) {
            collected.text.push_str(text);
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            collected.finish_reason = Some(reason.to_owned());
        }
    }

    /// Records llama-server's `timings`, whose token counts fill in for a
    /// missing `usage`.
    fn timings(&mut self, timings: &Value) {
        let collected = &mut self.collected;
        collected.timings = Some(timings.clone());
        collected.durations.prompt_eval = millis(timings.get("prompt_ms"));
        collected.durations.eval = millis(timings.get("predicted_ms"));
        if collected.prompt_tokens.is_none() {
            collected.prompt_tokens = timings.get("prompt_n").and_then(Value::as_u64);
        }
        if collected.completion_tokens.is_none() {
            collected.completion_tokens = timings.get("predicted_n").and_then(Value::as_u64);
        }
    }
}

/// Reads the model list of `GET /v1/models`: `data[].id`, plus any names
/// that only llama-server's `models[]` list has.
pub(crate) fn parse_models(body: &Value) -> Result<Vec<ModelInfo>, String> {
    let data = body.get("data").and_then(Value::as_array);
    let extra = body.get("models").and_then(Value::as_array);
    if data.is_none() && extra.is_none() {
        return Err(format!(
            "expected an object with a \"data\" list, got {:?}",
            excerpt(&body.to_string())
        ));
    }

    let mut infos: Vec<ModelInfo> = Vec::new();
    for entry in data.into_iter().flatten() {
        let Some(id) = entry.get("id").and_then(Value::as_str) else {
            continue;
        };
        // llama-server puts the file size under `meta`.
        let size = entry
            .get("meta")
            .and_then(|meta| meta.get("size"))
            .or_else(|| entry.get("size"))
            .and_then(Value::as_u64);
        infos.push(ModelInfo {
            name: id.to_owned(),
            size,
            family: None,
            quantization: None,
        });
    }
    for entry in extra.into_iter().flatten() {
        let name = entry
            .get("name")
            .or_else(|| entry.get("model"))
            .or_else(|| entry.get("id"))
            .and_then(Value::as_str);
        let Some(name) = name else { continue };
        if infos.iter().any(|info| info.name == name) {
            continue;
        }
        let details = entry.get("details");
        let detail = |key: &str| {
            details
                .and_then(|details| details.get(key))
                .and_then(Value::as_str)
                .filter(|text| !text.is_empty())
                .map(str::to_owned)
        };
        infos.push(ModelInfo {
            name: name.to_owned(),
            size: entry.get("size").and_then(Value::as_u64),
            family: detail("family"),
            quantization: detail("quantization_level"),
        });
    }
    Ok(infos)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn decode(reads: &[&str]) -> Result<Collected, StreamFault> {
        let mut decoder = OpenAiDecoder::default();
        for read in reads {
            if decoder.feed(read.as_bytes())? {
                break;
            }
        }
        decoder.finish()
    }

    #[test]
    fn chat_body_has_messages_and_usage_option() {
        let mut request = GenerateRequest::new("qwen", "Hi", PromptMode::Chat, 0.7);
        request.seed = Some(3);
        request.max_tokens = Some(10);
        request.stop = vec!["END".to_owned()];
        request.json_output = true;
        let body = request_body(&request);
        assert_eq!(body["messages"], json!([{"role": "user", "content": "Hi"}]));
        assert_eq!(body["temperature"], json!(0.7));
        assert_eq!(body["seed"], json!(3));
        assert_eq!(body["max_tokens"], json!(10));
        assert_eq!(body["stop"], json!(["END"]));
        assert_eq!(body["stream"], json!(true));
        assert_eq!(body["stream_options"], json!({"include_usage": true}));
        assert_eq!(body["response_format"], json!({"type": "json_object"}));
        assert!(body.get("prompt").is_none());
    }

    #[test]
    fn body_sends_schema_response_format() {
        let schema = json!({"title": "verdict", "type": "object"});
        let mut request = GenerateRequest::new("judge", "Grade", PromptMode::Chat, 0.0);
        request.json_output = true;
        request.json_schema = Some(schema.clone());
        request.think = Some(true);
        let body = request_body(&request);
        let expected = json!({
            "type": "json_schema",
            "json_schema": {"name": "verdict", "schema": schema},
        });
        assert_eq!(body["response_format"], expected);
        assert!(body.get("think").is_none());
    }

    #[test]
    fn schema_without_title_is_named_response() {
        let mut request = GenerateRequest::new("judge", "Grade", PromptMode::Chat, 0.0);
        request.json_schema = Some(json!({"type": "object"}));
        let body = request_body(&request);
        assert_eq!(
            body["response_format"]["json_schema"]["name"],
            json!("response")
        );
    }

    #[test]
    fn completion_body_has_prompt() {
        let body = request_body(&GenerateRequest::new(
            "m",
            "Q: 2+2\nA:",
            PromptMode::Completion,
            0.0,
        ));
        assert_eq!(body["prompt"], json!("Q: 2+2\nA:"));
        assert!(body.get("messages").is_none());
        assert!(body.get("seed").is_none());
        assert!(body.get("stop").is_none());
        assert_eq!(path(PromptMode::Completion), COMPLETION_PATH);
    }

    #[test]
    fn sse_chat_split_across_reads() {
        let collected = decode(&[
            ": comment\r\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\r\n\r\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"think\"}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Pa",
            "ris\"},\"finish_reason\":null}]}\n",
            "\ndata: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}],",
            "\"timings\":{\"prompt_n\":9,\"prompt_ms\":12.5,\"predicted_n\":2,\"predicted_ms\":40.0}}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":2}}\n\n",
            "data: [DO",
            "NE]\n\n",
        ])
        .unwrap();
        assert_eq!(collected.text, "Paris");
        assert_eq!(collected.thinking, "think");
        assert_eq!(collected.finish_reason.as_deref(), Some("length"));
        assert_eq!(collected.prompt_tokens, Some(10));
        assert_eq!(collected.completion_tokens, Some(2));
        assert_eq!(
            collected.durations.prompt_eval,
            Some(Duration::from_micros(12_500))
        );
        assert_eq!(collected.durations.eval, Some(Duration::from_millis(40)));
        assert_eq!(collected.timings.unwrap()["prompt_n"], json!(9));
    }

    #[test]
    fn sse_completion_text() {
        let collected = decode(&[
            "data: {\"choices\":[{\"index\":0,\"text\":\" 4\",\"finish_reason\":null}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"text\":\"\",\"finish_reason\":\"stop\"}]}\n\n",
            "data: [DONE]\n\n",
        ])
        .unwrap();
        assert_eq!(collected.text, " 4");
        assert_eq!(collected.finish_reason.as_deref(), Some("stop"));
        assert_eq!(collected.prompt_tokens, None);
    }

    #[test]
    fn sse_timings_fill_missing_usage() {
        let collected = decode(&[
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},\"finish_reason\":\"stop\"}],",
            "\"timings\":{\"prompt_n\":5,\"predicted_n\":1}}\n\ndata: [DONE]\n\n",
        ])
        .unwrap();
        assert_eq!(collected.prompt_tokens, Some(5));
        assert_eq!(collected.completion_tokens, Some(1));
    }

    #[test]
    fn sse_error_chunk_fails_after_text() {
        let fault = decode(&[
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Pa\"}}]}\n\n",
            "data: {\"error\":{\"message\":\"out of memory\",\"code\":500}}\n\n",
        ])
        .unwrap_err();
        assert_eq!(fault, StreamFault::ServerError("out of memory".to_owned()));
    }

    #[test]
    fn sse_llama_server_error_line_fails() {
        let fault =
            decode(&["error: {\"code\":500,\"message\":\"slot crashed\"}\n\n"]).unwrap_err();
        assert_eq!(fault, StreamFault::ServerError("slot crashed".to_owned()));
    }

    #[test]
    fn sse_vllm_error_object_fails() {
        let fault = decode(&["data: {\"object\":\"error\",\"message\":\"bad\",\"code\":400}\n\n"])
            .unwrap_err();
        assert_eq!(fault, StreamFault::ServerError("bad".to_owned()));
    }

    #[test]
    fn sse_without_done_is_cut_short() {
        let fault = decode(&[
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Pa\"},\"finish_reason\":\"stop\"}]}\n\n",
        ])
        .unwrap_err();
        assert!(matches!(fault, StreamFault::CutShort(_)), "{fault:?}");
    }

    #[test]
    fn sse_done_without_trailing_blank_line_counts() {
        let collected =
            decode(&["data: {\"choices\":[{\"index\":0,\"text\":\"a\"}]}\n\ndata: [DONE]"])
                .unwrap();
        assert_eq!(collected.text, "a");
    }

    #[test]
    fn sse_invalid_json_is_malformed() {
        let fault = decode(&["data: {not json}\n\n"]).unwrap_err();
        assert!(matches!(fault, StreamFault::Malformed(_)), "{fault:?}");
    }

    #[test]
    fn models_list_reads_data_and_llama_server_models() {
        let body = json!({
            "object": "list",
            "data": [
                {"id": "qwen2.5-0.5b", "object": "model", "meta": {"size": 1234}},
                {"object": "model"},
            ],
            "models": [
                {"name": "qwen2.5-0.5b", "model": "qwen2.5-0.5b"},
                {"name": "router-only", "details": {"family": "llama"}},
            ],
        });
        let models = parse_models(&body).unwrap();
        let names: Vec<&str> = models.iter().map(|model| model.name.as_str()).collect();
        assert_eq!(names, ["qwen2.5-0.5b", "router-only"]);
        assert_eq!(models[0].size, Some(1234));
        assert_eq!(models[1].family.as_deref(), Some("llama"));
    }

    #[test]
    fn models_list_without_data_is_error() {
        assert!(parse_models(&json!({"object": "list"})).is_err());
    }
}
