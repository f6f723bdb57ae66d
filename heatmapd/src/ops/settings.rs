//! `settings.json` as shown by `heatmapctl settings`, and changes to it from
//! `heatmapctl settings set KEY VALUE ...`.
//!
//! The daemon reads the file again at every submit, so a change applies to
//! the next job without a restart.

use std::path::Path;
use std::sync::Mutex;

use heatmap_proto::SettingsView;

use crate::config::{Settings, SettingsError, Workspace};

/// Keys that `set` accepts.
pub const KNOWN_KEYS: [&str; 7] = [
    "temp_min",
    "temp_max",
    "temp_step",
    "question_range",
    "question_range.start",
    "question_range.end",
    "min_samples",
];

/// Serializes read-modify-write cycles of `settings.json` within the daemon.
static SETTINGS_LOCK: Mutex<()> = Mutex::new(());

/// Reads `settings.json` (or the defaults when it is missing) into a view.
pub fn view(workspace: &Workspace) -> Result<SettingsView, SettingsError> {
    let path = workspace.settings();
    let settings = Settings::load(&path)?;
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let mut text =
                serde_json::to_string_pretty(&settings.raw).expect("a JSON map serializes");
            text.push('\n');
            text
        }
        Err(source) => return Err(SettingsError::Io { path, source }),
    };
    Ok(view_of(&path, &settings, text))
}

fn view_of(path: &Path, settings: &Settings, text: String) -> SettingsView {
    SettingsView {
        path: path.display().to_string(),
        text,
        temperatures: settings.temperatures(),
        question_start: settings.question_start,
        question_end: settings.question_end,
        min_samples: settings.min_samples,
    }
}

/// Applies every pair to the current settings, validates the result and
/// writes it, keeping unknown keys. Nothing is written when any pair is invalid.
pub fn set(
    workspace: &Workspace,
    pairs: &[(String, String)],
) -> Result<SettingsView, SettingsError> {
    let path = workspace.settings();
    let _guard = SETTINGS_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let current = Settings::load(&path)?;
    let changed = apply_pairs(&current, pairs, &path)?;
    changed.save(&path)?;
    drop(_guard);
    view(workspace)
}

/// Returns `settings` with the pairs applied, after validating the result.
pub fn apply_pairs(
    settings: &Settings,
    pairs: &[(String, String)],
    path: &Path,
) -> Result<Settings, SettingsError> {
    if pairs.is_empty() {
        return Err(invalid(
            path,
            "(none)",
            format!(
                "no setting given; pass KEY VALUE pairs with a key out of {}",
                KNOWN_KEYS.join(", ")
            ),
        ));
    }
    let mut changed = settings.clone();
    for (key, value) in pairs {
        let key = key.trim();
        let value = value.trim();
        match key {
            "temp_min" => changed.temp_min = number(path, key, value)?,
            "temp_max" => changed.temp_max = number(path, key, value)?,
            "temp_step" => changed.temp_step = number(path, key, value)?,
            "min_samples" => changed.min_samples = whole(path, key, value)?,
            "question_range.start" => changed.question_start = whole(path, key, value)?,
            "question_range.end" => {
                changed.question_end = if is_null(value) {
                    None
                } else {
                    Some(whole(path, key, value)?)
                };
            }
            "question_range" => {
                let (start, end) = range(path, value)?;
                changed.question_start = start;
                changed.question_end = end;
            }
            _ => {
                return Err(invalid(
                    path,
                    key,
                    format!("unknown setting; known keys: {}", KNOWN_KEYS.join(", ")),
                ));
            }
        }
    }
    match changed.validate(path) {
        Ok(()) => {}
        // The check can fail on a key the user did not set (temp_max below a new
        // temp_min), so the keys that were set are named too.
        Err(SettingsError::Invalid { path, key, message }) => {
            let set: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
            let message = if set.contains(&key.as_str()) {
                message
            } else {
                format!("{message} (after setting {})", set.join(", "))
            };
            return Err(SettingsError::Invalid { path, key, message });
        }
        Err(other) => return Err(other),
    }
    Ok(changed)
}

fn is_null(value: &str) -> bool {
    value.is_empty() || value.eq_ignore_ascii_case("null") || value.eq_ignore_ascii_case("none")
}

fn number(path: &Path, key: &str, value: &str) -> Result<f64, SettingsError> {
    match value.parse::<f64>() {
        Ok(parsed) if parsed.is_finite() => Ok(parsed),
        _ => Err(invalid(
            path,
            key,
            format!("expected a number such as 0.5, got {value:?}"),
        )),
    }
}

fn whole(path: &Path, key: &str, value: &str) -> Result<u32, SettingsError> {
    value.parse::<u32>().map_err(|_| {
        invalid(
            path,
            key,
            format!("expected a whole number such as 5, got {value:?}"),
        )
    })
}

/// Parses `START..END`, `START..` (to the last prompt) or `..END` (from the first).
fn range(path: &Path, value: &str) -> Result<(u32, Option<u32>), SettingsError> {
    let key = "question_range";
    let Some((start, end)) = value.split_once("..") else {
        return Err(invalid(
            path,
            key,
            format!("expected START..END or START.., such as 5..40, got {value:?}"),
        ));
    };
    let start = if start.trim().is_empty() {
        1
    } else {
        whole(path, key, start.trim())?
    };
    let end = end.trim().strip_prefix('=').unwrap_or(end.trim());
    let end = if end.is_empty() {
        None
    } else {
        Some(whole(path, key, end)?)
    };
    Ok((start, end))
}

fn invalid(path: &Path, key: &str, message: String) -> SettingsError {
    SettingsError::Invalid {
        path: path.to_path_buf(),
        key: key.to_string(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn apply(list: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        apply_pairs(
            &Settings::default(),
            &pairs(list),
            Path::new("settings.json"),
        )
    }

    fn rejected_key(list: &[(&str, &str)]) -> String {
        match apply(list) {
            Err(SettingsError::Invalid { key, .. }) => key,
            other => panic!("expected a rejected key, got {other:?}"),
        }
    }

    #[test]
    fn temperature_keys_apply_together() {
        let settings =
            apply(&[("temp_min", "0"), ("temp_max", "2"), ("temp_step", "0.05")]).unwrap();
        let axis = settings.temperatures();
        assert_eq!(axis.len(), 41);
        assert_eq!(axis[1], 0.05);
        assert_eq!(axis[40], 2.0);
    }

    #[test]
    fn question_range_forms() {
        let settings = apply(&[("question_range", "5..40")]).unwrap();
        assert_eq!(
            (settings.question_start, settings.question_end),
            (5, Some(40))
        );
        let settings = apply(&[("question_range", "5..")]).unwrap();
        assert_eq!((settings.question_start, settings.question_end), (5, None));
        let settings = apply(&[("question_range", "..7")]).unwrap();
        assert_eq!(
            (settings.question_start, settings.question_end),
            (1, Some(7))
        );
        let settings =
            apply(&[("question_range", "3..40"), ("question_range.end", "null")]).unwrap();
        assert_eq!((settings.question_start, settings.question_end), (3, None));
        let settings =
            apply(&[("question_range.start", "2"), ("question_range.end", "9")]).unwrap();
        assert_eq!(
            (settings.question_start, settings.question_end),
            (2, Some(9))
        );
    }

    #[test]
    fn conflict_names_the_keys_set() {
        let Err(SettingsError::Invalid { key, message, .. }) = apply(&[("temp_min", "3")]) else {
            panic!("temp_min above temp_max accepted");
        };
        assert_eq!(key, "temp_max");
        assert!(message.contains("(after setting temp_min)"), "{message}");
    }

    #[test]
    fn min_samples_is_set() {
        assert_eq!(apply(&[("min_samples", "4")]).unwrap().min_samples, 4);
    }

    #[test]
    fn invalid_pairs_name_their_key() {
        assert_eq!(rejected_key(&[("temp_step", "0")]), "temp_step");
        assert_eq!(rejected_key(&[("temp_max", "warm")]), "temp_max");
        assert_eq!(rejected_key(&[("temp_min", "inf")]), "temp_min");
        assert_eq!(rejected_key(&[("temp_min", "2")]), "temp_max");
        assert_eq!(
            rejected_key(&[("question_range", "40..5")]),
            "question_range.end"
        );
        assert_eq!(
            rejected_key(&[("question_range", "five")]),
            "question_range"
        );
        assert_eq!(
            rejected_key(&[("question_range.start", "0")]),
            "question_range.start"
        );
        assert_eq!(rejected_key(&[("min_samples", "0")]), "min_samples");
        assert_eq!(rejected_key(&[("min_samples", "-1")]), "min_samples");
        assert_eq!(rejected_key(&[("colour", "red")]), "colour");
        assert_eq!(rejected_key(&[]), "(none)");
    }

    #[test]
    fn unknown_key_lists_known_ones() {
        let message = apply(&[("temp_maxx", "2")]).unwrap_err().to_string();
        assert_eq!(
            message,
            "invalid setting temp_maxx in settings.json: unknown setting; known keys: temp_min, temp_max, \
             temp_step, question_range, question_range.start, question_range.end, min_samples"
        );
    }

    #[test]
    fn set_writes_and_keeps_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let workspace = Workspace::new(dir.path()).unwrap();
        std::fs::write(
            workspace.settings(),
            r#"{"note": "mine", "temp_step": 0.5}"#,
        )
        .unwrap();
        let view = set(
            &workspace,
            &pairs(&[("temp_max", "2"), ("question_range", "5..40")]),
        )
        .unwrap();
        assert_eq!(view.temperatures, vec![0.0, 0.5, 1.0, 1.5, 2.0]);
        assert_eq!(view.question_start, 5);
        assert_eq!(view.question_end, Some(40));
        let written: serde_json::Value = serde_json::from_str(&view.text).unwrap();
        assert_eq!(written["note"], "mine");
        assert_eq!(written["temp_max"], 2.0);
        assert_eq!(written["question_range"]["end"], 40);
    }

    #[test]
    fn rejected_set_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let workspace = Workspace::new(dir.path()).unwrap();
        let original = "{\"temp_max\": 1.0}\n";
        std::fs::write(workspace.settings(), original).unwrap();
        assert!(
            set(
                &workspace,
                &pairs(&[("temp_max", "3"), ("temp_step", "-1")])
            )
            .is_err()
        );
        assert_eq!(
            std::fs::read_to_string(workspace.settings()).unwrap(),
            original
        );
    }

    #[test]
    fn view_of_missing_file_shows_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let workspace = Workspace::new(dir.path()).unwrap();
        let view = view(&workspace).unwrap();
        assert_eq!(view.temperatures.len(), 11);
        assert_eq!(view.min_samples, 1);
        assert!(view.text.contains("\"temp_step\": 0.1"), "{}", view.text);
        assert!(!workspace.settings().exists());
    }
}
