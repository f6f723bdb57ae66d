//! Workspace paths, settings (`settings.json`) and the temperature axis.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::layout::{round_temp, write_atomic};

/// Largest number of temperatures an axis may have.
pub const MAX_TEMPERATURES: usize = 1000;

/// Paths of one workspace root.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The root folder.
    pub root: PathBuf,
}

impl Workspace {
    /// Wraps a root folder, made absolute so later `chdir`s cannot move it.
    pub fn new(root: &Path) -> std::io::Result<Workspace> {
        let root = if root.is_absolute() {
            root.to_path_buf()
        } else {
            std::env::current_dir()?.join(root)
        };
        Ok(Workspace { root })
    }
    /// `prompts.csv`.
    pub fn prompts(&self) -> PathBuf {
        self.root.join("prompts.csv")
    }
    /// `prompts_categories.csv`, read when present.
    pub fn prompt_categories(&self) -> PathBuf {
        self.root.join("prompts_categories.csv")
    }
    /// `settings.json`.
    pub fn settings(&self) -> PathBuf {
        self.root.join("settings.json")
    }
    /// `evaluator_prompt.txt`.
    pub fn evaluator_prompt(&self) -> PathBuf {
        self.root.join("evaluator_prompt.txt")
    }
    /// `output/`.
    pub fn output(&self) -> PathBuf {
        self.root.join("output")
    }
    /// `.heatmapd/`, the daemon's private state.
    pub fn state_dir(&self) -> PathBuf {
        self.root.join(".heatmapd")
    }
    /// The queue database.
    pub fn queue_db(&self) -> PathBuf {
        self.state_dir().join("queue.db")
    }
}

/// An invalid or unreadable `settings.json`.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a JSON object.
    #[error("{path} is not valid JSON: {source}; fix the file or delete it to get the defaults")]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// A key has an invalid value.
    #[error("invalid setting {key} in {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The key, e.g. `temp_step` or `question_range.end`.
        key: String,
        /// Message naming what is wrong and what is accepted.
        message: String,
    },
}

/// Validated settings, with the unknown keys kept for rewriting.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Lowest temperature of the axis.
    pub temp_min: f64,
    /// Highest temperature of the axis.
    pub temp_max: f64,
    /// Distance between temperatures.
    pub temp_step: f64,
    /// First prompt, counting from 1.
    pub question_start: u32,
    /// Last prompt, inclusive; `None` is the last one.
    pub question_end: Option<u32>,
    /// Minimum number of grades a heatmap cell needs to be filled.
    pub min_samples: u32,
    /// Every key of the file, known or not, in file order.
    pub raw: Map<String, Value>,
}

impl Default for Settings {
    fn default() -> Self {
        let raw = serde_json::json!({
            "temp_min": 0.0,
            "temp_max": 1.0,
            "temp_step": 0.1,
            "question_range": {"start": 1, "end": null},
            "min_samples": 1
        });
        let Value::Object(raw) = raw else {
            unreachable!()
        };
        Settings {
            temp_min: 0.0,
            temp_max: 1.0,
            temp_step: 0.1,
            question_start: 1,
            question_end: None,
            min_samples: 1,
            raw,
        }
    }
}

impl Settings {
    /// Loads `settings.json`, or the defaults when it does not exist.
    pub fn load(path: &Path) -> Result<Settings, SettingsError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Settings::default()),
            Err(source) => {
                return Err(SettingsError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        Settings::parse(path, &text)
    }

    /// Parses and validates settings text; `path` is used in messages.
    pub fn parse(path: &Path, text: &str) -> Result<Settings, SettingsError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let value: Value = serde_json::from_str(text).map_err(|source| SettingsError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        let Value::Object(raw) = value else {
            return Err(invalid(
                path,
                "(top level)",
                "expected a JSON object such as {\"temp_min\": 0.0}",
            ));
        };
        let defaults = Settings::default();
        let number = |key: &str, default: f64| -> Result<f64, SettingsError> {
            match raw.get(key) {
                None | Some(Value::Null) => Ok(default),
                Some(Value::Number(n)) => n
                    .as_f64()
                    .ok_or_else(|| invalid(path, key, "expected a number")),
                Some(other) => Err(invalid(
                    path,
                    key,
                    &format!("expected a number, got {other}"),
                )),
            }
        };
        let temp_min = number("temp_min", defaults.temp_min)?;
        let temp_max = number("temp_max", defaults.temp_max)?;
        let temp_step = number("temp_step", defaults.temp_step)?;
        let (question_start, question_end) = match raw.get("question_range") {
            None | Some(Value::Null) => (1, None),
            Some(Value::Object(range)) => {
                let start = match range.get("start") {
                    None | Some(Value::Null) => 1,
                    Some(v) => whole(v).ok_or_else(|| {
                        invalid(
                            path,
                            "question_range.start",
                            &format!("expected a whole number of at least 1, got {v}"),
                        )
                    })?,
                };
                let end = match range.get("end") {
                    None | Some(Value::Null) => None,
                    Some(v) => Some(whole(v).ok_or_else(|| {
                        invalid(
                            path,
                            "question_range.end",
                            &format!("expected a whole number or null, got {v}"),
                        )
                    })?),
                };
                (start, end)
            }
            Some(other) => {
                return Err(invalid(
                    path,
                    "question_range",
                    &format!(
                        "expected an object like {{\"start\": 1, \"end\": null}}, got {other}"
                    ),
                ));
            }
        };
        let min_samples = match raw.get("min_samples") {
            None | Some(Value::Null) => defaults.min_samples,
            Some(v) => whole(v).ok_or_else(|| {
                invalid(
                    path,
                    "min_samples",
                    &format!("expected a whole number of at least 1, got {v}"),
                )
            })?,
        };
        let settings = Settings {
            temp_min,
            temp_max,
            temp_step,
            question_start,
            question_end,
            min_samples,
            raw,
        };
        settings.validate(path)?;
        Ok(settings)
    }

    /// Checks the ranges of every known key.
    pub fn validate(&self, path: &Path) -> Result<(), SettingsError> {
        if !self.temp_min.is_finite() || self.temp_min < 0.0 {
            return Err(invalid(
                path,
                "temp_min",
                &format!("must be a number of at least 0, got {}", self.temp_min),
            ));
        }
        if !self.temp_max.is_finite() || self.temp_max < self.temp_min {
            return Err(invalid(
                path,
                "temp_max",
                &format!(
                    "must be at least temp_min ({}), got {}",
                    self.temp_min, self.temp_max
                ),
            ));
        }
        if !self.temp_step.is_finite() || self.temp_step <= 0.0 {
            return Err(invalid(
                path,
                "temp_step",
                &format!("must be greater than 0, got {}", self.temp_step),
            ));
        }
        let count = axis_len(self.temp_min, self.temp_max, self.temp_step);
        if count > MAX_TEMPERATURES {
            return Err(invalid(
                path,
                "temp_step",
                &format!(
                    "gives {} temperatures from {} to {}, more than the limit of {MAX_TEMPERATURES}; use a larger step",
                    if count >= MAX_TEMPERATURES * 10 {
                        format!("at least {count}")
                    } else {
                        count.to_string()
                    },
                    self.temp_min,
                    self.temp_max
                ),
            ));
        }
        if self.question_start < 1 {
            return Err(invalid(
                path,
                "question_range.start",
                "must be at least 1 (prompts count from 1)",
            ));
        }
        if let Some(end) = self.question_end
            && end < self.question_start
        {
            return Err(invalid(
                path,
                "question_range.end",
                &format!(
                    "must be at least question_range.start ({}), got {end}",
                    self.question_start
                ),
            ));
        }
        if self.min_samples < 1 {
            return Err(invalid(
                path,
                "min_samples",
                "must be at least 1 (a filled cell needs one grade or more)",
            ));
        }
        Ok(())
    }

    /// Returns the temperature axis.
    pub fn temperatures(&self) -> Vec<f64> {
        temperature_axis(self.temp_min, self.temp_max, self.temp_step)
    }

    /// Writes the settings back, keeping unknown keys and their order.
    pub fn save(&self, path: &Path) -> Result<(), SettingsError> {
        let mut raw = self.raw.clone();
        raw.insert("temp_min".into(), serde_json::json!(self.temp_min));
        raw.insert("temp_max".into(), serde_json::json!(self.temp_max));
        raw.insert("temp_step".into(), serde_json::json!(self.temp_step));
        raw.insert(
            "question_range".into(),
            serde_json::json!({"start": self.question_start, "end": self.question_end}),
        );
        raw.insert("min_samples".into(), serde_json::json!(self.min_samples));
        let mut text =
            serde_json::to_string_pretty(&Value::Object(raw)).expect("a JSON map serializes");
        text.push('\n');
        write_atomic(path, text.as_bytes()).map_err(|source| SettingsError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

fn whole(value: &Value) -> Option<u32> {
    value.as_u64().and_then(|n| u32::try_from(n).ok())
}

fn invalid(path: &Path, key: &str, message: &str) -> SettingsError {
    SettingsError::Invalid {
        path: path.to_path_buf(),
        key: key.to_string(),
        message: message.to_string(),
    }
}

/// Number of points `min + i * step` that do not pass `max`, with a tolerance
/// of a millionth of a step for the last one.
fn axis_len(min: f64, max: f64, step: f64) -> usize {
    let steps = ((max - min) / step + 1e-6).floor();
    if steps > (MAX_TEMPERATURES * 10) as f64 {
        MAX_TEMPERATURES * 10
    } else {
        steps as usize + 1
    }
}

/// Builds the axis `min + i * step` for `i = 0..=n`, each computed by
/// multiplication and rounded to 6 decimal places, so 0.1 steps give 0.3,
/// not 0.30000000000000004.
pub fn temperature_axis(min: f64, max: f64, step: f64) -> Vec<f64> {
    (0..axis_len(min, max, step))
        .map(|i| round_temp(min + i as f64 * step))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, SettingsError> {
        Settings::parse(Path::new("settings.json"), text)
    }

    fn invalid_key(text: &str) -> String {
        match parse(text) {
            Err(SettingsError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid key, got {other:?}"),
        }
    }

    #[test]
    fn axis_uses_multiplication() {
        let axis = temperature_axis(0.0, 1.0, 0.1);
        assert_eq!(axis.len(), 11);
        assert_eq!(axis[3], 0.3);
        assert_eq!(axis[10], 1.0);
    }

    #[test]
    fn axis_with_uneven_end_stops_below_max() {
        assert_eq!(temperature_axis(0.0, 1.0, 0.3), vec![0.0, 0.3, 0.6, 0.9]);
        assert_eq!(temperature_axis(0.5, 0.5, 0.1), vec![0.5]);
        assert_eq!(temperature_axis(0.0, 2.0, 0.05).len(), 41);
    }

    #[test]
    fn defaults_when_keys_missing() {
        let settings = parse("{}").unwrap();
        assert_eq!(settings.temperatures().len(), 11);
        assert_eq!(settings.question_start, 1);
        assert_eq!(settings.question_end, None);
        assert_eq!(settings.min_samples, 1);
    }

    #[test]
    fn min_samples_read_and_saved() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        std::fs::write(&path, r#"{"min_samples": 3}"#).unwrap();
        let mut settings = Settings::load(&path).unwrap();
        assert_eq!(settings.min_samples, 3);
        settings.min_samples = 5;
        settings.save(&path).unwrap();
        assert_eq!(Settings::load(&path).unwrap().min_samples, 5);
    }

    #[test]
    fn invalid_values_name_their_key() {
        assert_eq!(invalid_key(r#"{"temp_step": 0}"#), "temp_step");
        assert_eq!(invalid_key(r#"{"temp_step": -0.1}"#), "temp_step");
        assert_eq!(
            invalid_key(r#"{"temp_min": 1.0, "temp_max": 0.5}"#),
            "temp_max"
        );
        assert_eq!(
            invalid_key(r#"{"temp_max": 100, "temp_step": 0.01}"#),
            "temp_step"
        );
        assert_eq!(
            invalid_key(r#"{"question_range": {"start": 0}}"#),
            "question_range.start"
        );
        assert_eq!(
            invalid_key(r#"{"question_range": {"start": 5, "end": 2}}"#),
            "question_range.end"
        );
        assert_eq!(invalid_key(r#"{"temp_min": "low"}"#), "temp_min");
        assert_eq!(invalid_key(r#"[1, 2]"#), "(top level)");
        assert_eq!(invalid_key(r#"{"min_samples": 0}"#), "min_samples");
        assert_eq!(invalid_key(r#"{"min_samples": 1.5}"#), "min_samples");
        assert_eq!(invalid_key(r#"{"min_samples": "3"}"#), "min_samples");
    }

    #[test]
    fn exactly_one_thousand_temperatures_accepted() {
        let settings = parse(r#"{"temp_min": 0, "temp_max": 9.99, "temp_step": 0.01}"#).unwrap();
        assert_eq!(settings.temperatures().len(), 1000);
    }

    #[test]
    fn unknown_keys_survive_save() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        std::fs::write(
            &path,
            r#"{"temp_min": 0.2, "my_note": "keep me", "temp_step": 0.2}"#,
        )
        .unwrap();
        let mut settings = Settings::load(&path).unwrap();
        settings.temp_max = 2.0;
        settings.save(&path).unwrap();
        let reread: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(reread["my_note"], "keep me");
        assert_eq!(reread["temp_max"], 2.0);
        assert_eq!(
            Settings::load(&path).unwrap().temperatures(),
            temperature_axis(0.2, 2.0, 0.2)
        );
    }

    #[test]
    fn missing_file_gives_defaults() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            Settings::load(&dir.path().join("nope.json")).unwrap(),
            Settings::default()
        );
    }
}
