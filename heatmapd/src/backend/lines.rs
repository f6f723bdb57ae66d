//! Splitting of a byte stream into lines, and server-sent events (SSE) built
//! from those lines. Both keep partial input between network reads.

/// Maximum line length in bytes, so a server that never sends a line break
/// cannot grow the buffer without bound.
pub(crate) const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// Error when a line grows past [`MAX_LINE_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LineTooLong;

/// Splits bytes into lines ended by `\n`, `\r\n` or a lone `\r`, as the SSE
/// format allows, without the line ending.
#[derive(Debug, Default)]
pub(crate) struct LineBuffer {
    pending: Vec<u8>,
    /// Set after a `\r` at the end of a read, so a `\n` that starts the next
    /// read completes the same line ending.
    skip_lf: bool,
}

impl LineBuffer {
    /// Appends `bytes` and returns the lines they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<String>, LineTooLong> {
        let mut lines = Vec::new();
        for &byte in bytes {
            if std::mem::take(&mut self.skip_lf) && byte == b'\n' {
                continue;
            }
            match byte {
                b'\n' => lines.push(self.take_line()),
                b'\r' => {
                    lines.push(self.take_line());
                    self.skip_lf = true;
                }
                _ => {
                    if self.pending.len() >= MAX_LINE_BYTES {
                        return Err(LineTooLong);
                    }
                    self.pending.push(byte);
                }
            }
        }
        Ok(lines)
    }

    /// Returns the last line when the input ended without a line break.
    pub fn finish(&mut self) -> Option<String> {
        if self.pending.is_empty() {
            None
        } else {
            Some(self.take_line())
        }
    }

    fn take_line(&mut self) -> String {
        // Lines are decoded whole, so a character split across reads is intact.
        let line = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        line
    }
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The `event` field, if one was sent. llama-server's `error:` lines also
    /// produce an event named `error`.
    pub event: Option<String>,
    /// The `data` fields, joined with `\n`.
    pub data: String,
}

/// Builds server-sent events from lines: `data` fields accumulate until a
/// blank line ends the event, comment lines (starting with `:`) are skipped.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    event: Option<String>,
    data: Option<String>,
}

impl SseParser {
    /// Takes one line and returns the event it completes, if any.
    pub fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "data" => self.append_data(value),
            "event" => self.event = Some(value.to_owned()),
            // llama-server sends errors in a stream as an `error:` line,
            // which is not a standard SSE field.
            "error" => {
                self.event = Some("error".to_owned());
                self.append_data(value);
            }
            _ => {}
        }
        None
    }

    /// Returns the event still open when the input ends without a blank line.
    pub fn finish(&mut self) -> Option<SseEvent> {
        self.dispatch()
    }

    fn append_data(&mut self, value: &str) {
        match &mut self.data {
            Some(data) => {
                data.push('\n');
                data.push_str(value);
            }
            None => self.data = Some(value.to_owned()),
        }
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        let data = self.data.take()?;
        Some(SseEvent { event, data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_all(reads: &[&[u8]]) -> Vec<String> {
        let mut buffer = LineBuffer::default();
        let mut lines = Vec::new();
        for read in reads {
            lines.extend(buffer.push(read).unwrap());
        }
        lines.extend(buffer.finish());
        lines
    }

    #[test]
    fn lines_split_across_reads() {
        let lines = split_all(&[b"{\"a\":", b"1}\n{\"b\"", b":2}\n"]);
        assert_eq!(lines, ["{\"a\":1}", "{\"b\":2}"]);
    }

    #[test]
    fn lines_end_with_crlf_lf_or_cr() {
        let lines = split_all(&[b"one\r\ntwo\nthree\rfour"]);
        assert_eq!(lines, ["one", "two", "three", "four"]);
    }

    #[test]
    fn crlf_split_between_reads_is_one_ending() {
        let lines = split_all(&[b"one\r", b"\ntwo\r\n", b"\r\n"]);
        assert_eq!(lines, ["one", "two", ""]);
    }

    #[test]
    fn multibyte_character_split_across_reads() {
        let text = "Zürich €".as_bytes();
        let lines = split_all(&[&text[..2], &text[2..8], &text[8..], b"\n"]);
        assert_eq!(lines, ["Zürich €"]);
    }

    #[test]
    fn line_too_long_is_rejected() {
        let mut buffer = LineBuffer::default();
        let chunk = vec![b'x'; 1024 * 1024];
        let mut result = Ok(Vec::new());
        for _ in 0..=16 {
            result = buffer.push(&chunk);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(LineTooLong));
    }

    fn events(lines: &[&str]) -> Vec<SseEvent> {
        let mut parser = SseParser::default();
        let mut events: Vec<SseEvent> = lines.iter().filter_map(|line| parser.line(line)).collect();
        events.extend(parser.finish());
        events
    }

    #[test]
    fn sse_skips_comments_and_joins_data() {
        let got = events(&[
            ": keep-alive",
            "data: {\"a\":",
            "data: 1}",
            "",
            "",
            "data:[DONE]",
            "",
        ]);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].data, "{\"a\":\n1}");
        assert_eq!(got[1].data, "[DONE]");
    }

    #[test]
    fn sse_event_name_and_error_field() {
        let got = events(&[
            "event: ping",
            "data: x",
            "",
            "error: {\"message\":\"boom\"}",
            "",
        ]);
        assert_eq!(got[0].event.as_deref(), Some("ping"));
        assert_eq!(got[1].event.as_deref(), Some("error"));
        assert_eq!(got[1].data, "{\"message\":\"boom\"}");
    }

    #[test]
    fn sse_open_event_is_kept_at_end() {
        let got = events(&["data: last"]);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].data, "last");
    }
}
