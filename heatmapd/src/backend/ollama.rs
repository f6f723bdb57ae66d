//! Ollama's native API: request bodies for `POST /api/generate`, decoding of
//! its NDJSON stream, and the model list of `GET /api/tags`.

use heatmap_proto::types::{ModelInfo, PromptMode};
use serde_json::{Map, Value, json};

use super::GenerateRequest;
use super::ServerDurations;
use super::decode::{Collected, StreamFault, error_text, excerpt, nanos};
use super::lines::{LineBuffer, MAX_LINE_BYTES};

/// Path of the generation endpoint, used for both prompt modes.
pub(crate) const GENERATE_PATH: &str = "/api/generate";
/// Path of the model list.
pub(crate) const TAGS_PATH: &str = "/api/tags";

/// Builds the body of `POST /api/generate`.
///
/// Sampling settings go in `options`, the only place Ollama reads them. Chat
/// mode sends the prompt without `raw`, so Ollama applies the model's chat
/// template with the prompt as the user message. Completion mode sets
/// `raw: true` so the text reaches the model unchanged. A JSON schema goes in
/// `format` (Ollama 0.5 and later), and `think` stays at the top level,
/// where Ollama reads it.
pub(crate) fn request_body(request: &GenerateRequest) -> Value {
    let mut options = Map::new();
    options.insert("temperature".to_owned(), json!(request.temperature));
    if let Some(seed) = request.seed {
        options.insert("seed".to_owned(), json!(seed));
    }
    if let Some(max_tokens) = request.max_tokens {
        options.insert("num_predict".to_owned(), json!(max_tokens));
    }
    if !request.stop.is_empty() {
        options.insert("stop".to_owned(), json!(request.stop));
    }

    let mut body = Map::new();
    body.insert("model".to_owned(), json!(request.model));
    body.insert("prompt".to_owned(), json!(request.prompt));
    body.insert("stream".to_owned(), json!(true));
    if request.mode == PromptMode::Completion {
        body.insert("raw".to_owned(), json!(true));
    }
    if let Some(schema) = &request.json_schema {
        body.insert("format".to_owned(), schema.clone());
    } else if request.json_output {
        body.insert("format".to_owned(), json!("json"));
    }
    if let Some(think) = request.think {
        body.insert("think".to_owned(), json!(think));
    }
    body.insert("options".to_owned(), Value::Object(options));
    Value::Object(body)
}

/// Decodes Ollama's NDJSON stream: one JSON object per line, text in
/// `response`, and a last line with `done: true` and the counters.
#[derive(Debug, Default)]
pub(crate) struct OllamaDecoder {
    lines: LineBuffer,
    collected: Collected,
    done: bool,
}

impl OllamaDecoder {
    /// Takes the bytes of one network read and returns true once the
    /// `done: true` line has arrived.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<bool, StreamFault> {
        let lines = self.lines.push(bytes).map_err(|_| {
            StreamFault::Malformed(format!("a line is longer than {MAX_LINE_BYTES} bytes"))
        })?;
        for line in lines {
            self.line(&line)?;
            if self.done {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Returns what the stream carried, or [`StreamFault::CutShort`] when it
    /// ended without the `done: true` line.
    pub fn finish(mut self) -> Result<Collected, StreamFault> {
        if !self.done
            && let Some(line) = self.lines.finish()
        {
            self.line(&line)?;
        }
        if self.done {
            Ok(self.collected)
        } else {
            Err(StreamFault::CutShort(format!(
                "no line with \"done\": true after {} characters of text",
                self.collected.text.chars().count()
            )))
        }
    }

    fn line(&mut self, line: &str) -> Result<(), StreamFault> {
        let line = line.trim();
        if line.is_empty() {
            return Ok(());
        }
        let value: Value = serde_json::from_str(line).map_err(|error| {
            StreamFault::Malformed(format!("invalid JSON line {:?}: {error}", excerpt(line)))
        })?;
        if !value.is_object() {
            return Err(StreamFault::Malformed(format!(
                "line {:?} is not a JSON object",
                excerpt(line)
            )));
        }
        if let Some(error) = value.get("error") {
            return Err(StreamFault::ServerError(error_text(error)));
        }

        // `/api/chat` puts the text in `message`, so both shapes are read.
        let message = value.get("message");
        let text = value
            .get("response")
            .or_else(|| message.and_then(|m| m.get("content")));
        if let Some(text) = text.and_then(Value::as_str) {
            self.collected.text.push_str(text);
        }
        let thinking = value
            .get("thinking")
            .or_else(|| message.and_then(|m| m.get("thinking")));
        if let Some(thinking) = thinking.and_then(Value::as_str) {
            self.collected.thinking.push_str(thinking);
        }

        if value.get("done").and_then(Value::as_bool) == Some(true) {
            self.done = true;
            self.record_done(&value);
        }
        Ok(())
    }

    fn record_done(&mut self, value: &Value) {
        let collected = &mut self.collected;
        collected.finish_reason = value
            .get("done_reason")
            .and_then(Value::as_str)
            .map(str::to_owned);
        collected.prompt_tokens = value.get("prompt_eval_count").and_then(Value::as_u64);
        collected.completion_tokens = value.get("eval_count").and_then(Value::as_u64);
        collected.durations = ServerDurations {
            total: nanos(value.get("total_duration")),
            load: nanos(value.get("load_duration")),
            prompt_eval: nanos(value.get("prompt_eval_duration")),
            eval: nanos(value.get("eval_duration")),
        };
    }
}

/// Reads the model list of `GET /api/tags`.
pub(crate) fn parse_tags(body: &Value) -> Result<Vec<ModelInfo>, String> {
    let Some(models) = body.get("models").and_then(Value::as_array) else {
        return Err(format!(
            "expected an object with a \"models\" list, got {:?}",
            excerpt(&body.to_string())
        ));
    };
    let infos = models
        .iter()
        .filter_map(|model| {
            let name = model
                .get("name")
                .or_else(|| model.get("model"))
                .and_then(Value::as_str)?;
            let details = model.get("details");
            let detail = |key: &str| {
                details
                    .and_then(|details| details.get(key))
                    .and_then(Value::as_str)
                    .filter(|text| !text.is_empty())
                    .map(str::to_owned)
            };
            Some(ModelInfo {
                name: name.to_owned(),
                size: model.get("size").and_then(Value::as_u64),
                family: detail("family"),
                quantization: detail("quantization_level"),
            })
        })
        .collect();
    Ok(infos)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn decode(reads: &[&str]) -> Result<Collected, StreamFault> {
        let mut decoder = OllamaDecoder::default();
        for read in reads {
            if decoder.feed(read.as_bytes())? {
                break;
            }
        }
        decoder.finish()
    }

    #[test]
    fn body_puts_sampling_in_options() {
        let mut request = GenerateRequest::new("gemma3:1b", "Hi", PromptMode::Completion, 0.3);
        request.seed = Some(7);
        request.max_tokens = Some(64);
        request.stop = vec!["\n\n".to_owned()];
        request.json_output = true;
        let body = request_body(&request);
        assert_eq!(body["options"]["temperature"], json!(0.3));
        assert_eq!(body["options"]["seed"], json!(7));
        assert_eq!(body["options"]["num_predict"], json!(64));
        assert_eq!(body["options"]["stop"], json!(["\n\n"]));
        assert_eq!(body["raw"], json!(true));
        assert_eq!(body["format"], json!("json"));
        assert_eq!(body["stream"], json!(true));
        assert_eq!(body["prompt"], json!("Hi"));
    }

    #[test]
    fn chat_body_omits_raw_and_unset() {
        let body = request_body(&GenerateRequest::new("m", "Hi", PromptMode::Chat, 1.0));
        assert!(body.get("raw").is_none());
        assert!(body.get("format").is_none());
        let options = body["options"].as_object().unwrap();
        assert_eq!(options.len(), 1, "{options:?}");
    }

    #[test]
    fn body_sends_schema_as_format() {
        let schema = json!({"type": "object", "required": ["verdict"]});
        let mut request = GenerateRequest::new("judge", "Grade", PromptMode::Chat, 0.0);
        request.json_output = true;
        request.json_schema = Some(schema.clone());
        let body = request_body(&request);
        assert_eq!(body["format"], schema);
        assert!(body.get("think").is_none());
    }

    #[test]
    fn body_sends_think_at_top_level() {
        let mut request = GenerateRequest::new("qwen3", "Hi", PromptMode::Chat, 0.5);
        request.think = Some(false);
        let body = request_body(&request);
        assert_eq!(body["think"], json!(false));
        assert!(body["options"].get("think").is_none());
        request.think = Some(true);
        assert_eq!(request_body(&request)["think"], json!(true));
    }

    #[test]
    fn ndjson_collects_text_and_done_line() {
        let collected = decode(&[
            "{\"response\":\"Pa\",\"done\":false}\n{\"response\":\"r",
            "is\",\"done\":false}\n",
            "{\"response\":\"\",\"thinking\":\"hmm\",\"done\":false}\n",
            "{\"response\":\"\",\"done\":true,\"done_reason\":\"stop\",\"prompt_eval_count\":12,",
            "\"eval_count\":3,\"total_duration\":5000,\"load_duration\":1000,",
            "\"prompt_eval_duration\":2000,\"eval_duration\":1500}\n",
        ])
        .unwrap();
        assert_eq!(collected.text, "Paris");
        assert_eq!(collected.thinking, "hmm");
        assert_eq!(collected.finish_reason.as_deref(), Some("stop"));
        assert_eq!(collected.prompt_tokens, Some(12));
        assert_eq!(collected.completion_tokens, Some(3));
        assert_eq!(collected.durations.total, Some(Duration::from_nanos(5000)));
        assert_eq!(collected.durations.load, Some(Duration::from_nanos(1000)));
        assert_eq!(
            collected.durations.prompt_eval,
            Some(Duration::from_nanos(2000))
        );
        assert_eq!(collected.durations.eval, Some(Duration::from_nanos(1500)));
    }

    #[test]
    fn ndjson_done_line_without_newline_counts() {
        let collected = decode(&["{\"response\":\"ok\",\"done\":true}"]).unwrap();
        assert_eq!(collected.text, "ok");
    }

    #[test]
    fn ndjson_chat_shape_is_accepted() {
        let collected = decode(&[
            "{\"message\":{\"role\":\"assistant\",\"content\":\"4\"},\"done\":false}\n",
            "{\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true}\n",
        ])
        .unwrap();
        assert_eq!(collected.text, "4");
    }

    #[test]
    fn ndjson_error_line_fails_after_text() {
        let fault = decode(&[
            "{\"response\":\"Par\",\"done\":false}\n",
            "{\"error\":\"model runner has unexpectedly stopped\"}\n",
        ])
        .unwrap_err();
        assert_eq!(
            fault,
            StreamFault::ServerError("model runner has unexpectedly stopped".to_owned())
        );
    }

    #[test]
    fn ndjson_without_done_is_cut_short() {
        let fault = decode(&["{\"response\":\"Par\",\"done\":false}\n"]).unwrap_err();
        assert!(matches!(fault, StreamFault::CutShort(_)), "{fault:?}");
    }

    #[test]
    fn ndjson_invalid_line_is_malformed() {
        let fault = decode(&["<html>bad gateway</html>\n"]).unwrap_err();
        assert!(matches!(fault, StreamFault::Malformed(_)), "{fault:?}");
    }

    #[test]
    fn tags_list_reads_details() {
        let body = json!({"models": [
            {"name": "gemma3:1b", "size": 815_000_000u64,
             "details": {"family": "gemma3", "quantization_level": "Q4_K_M"}},
            {"name": "bare"},
        ]});
        let models = parse_tags(&body).unwrap();
        assert_eq!(models.len(), 2);
        assert_eq!(models[0].name, "gemma3:1b");
        assert_eq!(models[0].size, Some(815_000_000));
        assert_eq!(models[0].family.as_deref(), Some("gemma3"));
        assert_eq!(models[0].quantization.as_deref(), Some("Q4_K_M"));
        assert_eq!(models[1].size, None);
    }

    #[test]
    fn tags_without_models_is_error() {
        assert!(parse_tags(&json!({"data": []})).is_err());
    }
}
