//! Output streams of a command: text or JSON on stdout, warnings on stderr,
//! and the choice of drawing progress bars.

use std::io::Write;

use anyhow::Context;
use serde::Serialize;

/// Output streams and format options of one command.
pub struct Output<'a> {
    /// Results: text, or one JSON object per line with `--json`.
    pub out: &'a mut dyn Write,
    /// Warnings and notes that must not mix with results.
    pub err: &'a mut dyn Write,
    /// Print responses as JSON instead of text.
    pub json: bool,
    /// Draw progress bars on stderr. Even when set, indicatif draws nothing
    /// unless stderr is a terminal.
    pub progress_bars: bool,
    /// Command prefix for hints such as `heatmapctl --socket /x cancel 4`.
    pub program: String,
}

impl Output<'_> {
    /// Writes one line of text to stdout.
    pub fn line(&mut self, text: impl AsRef<str>) -> anyhow::Result<()> {
        writeln!(self.out, "{}", text.as_ref()).context("failed to write to stdout")
    }

    /// Writes `value` as one line of JSON to stdout.
    pub fn print_json<T: Serialize>(&mut self, value: &T) -> anyhow::Result<()> {
        let text = serde_json::to_string(value).context("failed to encode the response as JSON")?;
        self.line(text)
    }

    /// Writes a warning to stderr.
    pub fn warn(&mut self, text: impl AsRef<str>) {
        // A warning that cannot be written has nowhere else to go.
        let _ = writeln!(self.err, "heatmapctl: warning: {}", text.as_ref());
    }
}
