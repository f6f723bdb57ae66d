//! Separating a thinking model's reasoning from its answer.
//!
//! Servers that parse reasoning send it apart from the text (Ollama's
//! `thinking`, OpenAI-style `reasoning_content`). Others leave it in the text
//! as a leading `<think>...</think>` block, which is cut off here so that
//! only the answer is saved and graded.

use crate::backend::Generation;

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

/// An answer text with its leading reasoning block taken out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// The text after the reasoning block, without leading whitespace.
    pub answer: String,
    /// The reasoning, without its tags; `None` when the text had no block.
    pub thinking: Option<String>,
}

/// Splits a leading reasoning block off `text`.
///
/// - `<think>R</think>A` (after optional whitespace) gives answer `A` and thinking `R`.
/// - `<think>R` that is never closed, as when generation hit its token
///   limit, gives an empty answer and thinking `R`.
/// - `R</think>A` without an opening tag gives the same as the first case,
///   because some chat templates (DeepSeek-R1 distills among them) put
///   `<think>` into the prompt, so the output starts inside the block.
/// - Any other text is all answer, including a `<think>` that does not lead it.
pub fn split(text: &str) -> Split {
    let trimmed = text.trim_start();
    if let Some(rest) = trimmed.strip_prefix(OPEN) {
        return match rest.find(CLOSE) {
            Some(end) => Split {
                answer: rest[end + CLOSE.len()..].trim_start().to_string(),
                thinking: Some(rest[..end].trim().to_string()),
            },
            None => Split {
                answer: String::new(),
                thinking: Some(rest.trim().to_string()),
            },
        };
    }
    if let Some(end) = trimmed.find(CLOSE)
        && !trimmed[..end].contains(OPEN)
    {
        return Split {
            answer: trimmed[end + CLOSE.len()..].trim_start().to_string(),
            thinking: Some(trimmed[..end].trim().to_string()),
        };
    }
    Split {
        answer: text.to_string(),
        thinking: None,
    }
}

/// Returns a copy of `generation` whose text is the answer alone and whose
/// `thinking` holds the server's reasoning followed by any block cut from the text.
pub fn strip_generation(generation: &Generation) -> Generation {
    let parts = split(&generation.text);
    let mut stripped = generation.clone();
    let Some(inline) = parts.thinking else {
        return stripped;
    };
    stripped.text = parts.answer;
    stripped.thinking = match generation
        .thinking
        .as_deref()
        .filter(|t| !t.trim().is_empty())
    {
        Some(server) if !inline.is_empty() => Some(format!("{server}\n\n{inline}")),
        Some(server) => Some(server.to_string()),
        None => Some(inline),
    };
    stripped
}

/// Tells whether a generation thought but left no answer.
pub fn is_no_answer(generation: &Generation) -> bool {
    let thought = generation
        .thinking
        .as_deref()
        .is_some_and(|thinking| !thinking.trim().is_empty());
    thought && generation.text.trim().is_empty()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::backend::ServerDurations;

    fn generation(text: &str, thinking: Option<&str>) -> Generation {
        Generation {
            text: text.to_string(),
            finish_reason: Some("stop".into()),
            prompt_tokens: None,
            completion_tokens: None,
            server_durations: ServerDurations::default(),
            timings: None,
            latency: Duration::from_millis(10),
            sent: json!({}),
            thinking: thinking.map(str::to_string),
        }
    }

    #[test]
    fn closed_block_is_cut_off() {
        let parts = split("<think>\nThe capital is Paris.\n</think>\n\nParis");
        assert_eq!(parts.answer, "Paris");
        assert_eq!(parts.thinking.as_deref(), Some("The capital is Paris."));
    }

    #[test]
    fn leading_whitespace_before_block() {
        let parts = split("  \n<think>x</think>42\n");
        assert_eq!(parts.answer, "42\n");
        assert_eq!(parts.thinking.as_deref(), Some("x"));
    }

    #[test]
    fn unclosed_block_leaves_empty_answer() {
        let parts = split("<think>Let me count: 1, 2, 3");
        assert_eq!(parts.answer, "");
        assert_eq!(parts.thinking.as_deref(), Some("Let me count: 1, 2, 3"));
    }

    #[test]
    fn closing_tag_without_opening() {
        let parts = split("Count the letters.</think>3");
        assert_eq!(parts.answer, "3");
        assert_eq!(parts.thinking.as_deref(), Some("Count the letters."));
    }

    #[test]
    fn plain_text_is_all_answer() {
        let parts = split("Paris");
        assert_eq!(parts.answer, "Paris");
        assert_eq!(parts.thinking, None);
    }

    #[test]
    fn tag_in_the_middle_is_answer_text() {
        let text = "Use <think> tags like <think>this</think> in prompts";
        let parts = split(text);
        assert_eq!(parts.answer, text);
        assert_eq!(parts.thinking, None);
    }

    #[test]
    fn strip_joins_server_and_inline_thinking() {
        let stripped = strip_generation(&generation("<think>inline</think>4", Some("server")));
        assert_eq!(stripped.text, "4");
        assert_eq!(stripped.thinking.as_deref(), Some("server\n\ninline"));
    }

    #[test]
    fn strip_keeps_text_without_block() {
        let stripped = strip_generation(&generation("4", Some("server")));
        assert_eq!(stripped.text, "4");
        assert_eq!(stripped.thinking.as_deref(), Some("server"));
    }

    #[test]
    fn empty_answer_after_thinking_is_no_answer() {
        assert!(is_no_answer(&strip_generation(&generation(
            "<think>hmm",
            None
        ))));
        assert!(is_no_answer(&generation("  \n", Some("hmm"))));
        assert!(!is_no_answer(&generation("", None)));
        assert!(!is_no_answer(&generation("4", Some("hmm"))));
    }
}
