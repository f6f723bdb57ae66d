//! `heatmapctl settings [set KEY VALUE ...]`: show or change `settings.json`.

use clap::{Args, Subcommand};
use heatmap_proto::{Request, Response, SettingsView};

use crate::client::{self, Transport};
use crate::exit::{Failure, USAGE};
use crate::output::Output;
use crate::render;

/// Options of `settings`.
#[derive(Debug, Clone, Args)]
pub struct SettingsArgs {
    #[command(subcommand)]
    pub action: Option<SettingsAction>,
}

/// Subcommands of `settings`.
#[derive(Debug, Clone, Subcommand)]
pub enum SettingsAction {
    /// Change settings: KEY VALUE pairs, e.g. `set temp_min 0 temp_max 2 temp_step 0.05`.
    /// Keys: temp_min, temp_max, temp_step, question_range (5..40 or 5..),
    /// question_range.start, question_range.end (a number or null), min_samples
    Set {
        /// KEY VALUE pairs, or KEY=VALUE words
        #[arg(required = true, num_args = 1.., value_name = "KEY VALUE")]
        words: Vec<String>,
    },
}

/// Pairs the words after `set` into (key, value); an odd count is a usage error.
///
/// `key=value` is accepted as one word too, so `temp_max=2` and `temp_max 2` mean the same.
pub fn pair_up(words: &[String]) -> Result<Vec<(String, String)>, Failure> {
    let mut pairs = Vec::new();
    let mut rest = words.iter();
    while let Some(word) = rest.next() {
        if let Some((key, value)) = word.split_once('=') {
            pairs.push((key.to_string(), value.to_string()));
            continue;
        }
        let Some(value) = rest.next() else {
            return Err(Failure {
                code: USAGE,
                message: format!(
                    "setting {word} has no value; pass KEY VALUE pairs, e.g. settings set temp_max 2"
                ),
            });
        };
        pairs.push((word.clone(), value.clone()));
    }
    if pairs.is_empty() {
        return Err(Failure {
            code: USAGE,
            message: "no setting given; pass KEY VALUE pairs, e.g. settings set temp_max 2"
                .to_string(),
        });
    }
    Ok(pairs)
}

/// Shows the settings, or applies `pairs` first when given.
pub async fn run<T: Transport>(
    connection: &mut T,
    output: &mut Output<'_>,
    pairs: Option<Vec<(String, String)>>,
) -> anyhow::Result<()> {
    let changed = pairs.is_some();
    let request = match pairs {
        Some(pairs) => Request::SetSettings { pairs },
        None => Request::GetSettings,
    };
    let response = client::call(connection, output, request).await?;
    let Response::Settings(view) = &response else {
        return Err(client::unexpected("Settings", &response));
    };
    if output.json {
        return Ok(());
    }
    if changed {
        output.line(format!("wrote {}", view.path))?;
    }
    output.line(describe(view))
}

/// Renders the file text, then the temperature axis, question range and `min_samples` it gives.
pub fn describe(view: &SettingsView) -> String {
    let questions = match view.question_end {
        Some(end) => format!("{}..{end}", view.question_start),
        None => format!("{}.. (to the last prompt)", view.question_start),
    };
    format!(
        "{}\n{}\ntemperatures: {} [{}]\nquestions: {questions}\nmin_samples: {}",
        view.path,
        view.text.trim_end(),
        render::temperature_range(&view.temperatures),
        render::temperature_list(&view.temperatures),
        view.min_samples
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Capture, Scripted};

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|w| w.to_string()).collect()
    }

    fn view() -> SettingsView {
        SettingsView {
            path: "/w/settings.json".into(),
            text: "{\n  \"temp_max\": 0.5\n}\n".into(),
            temperatures: vec![0.0, 0.25, 0.5],
            question_start: 5,
            question_end: None,
            min_samples: 2,
        }
    }

    #[test]
    fn pairs_from_words() {
        let pairs = pair_up(&words(&[
            "temp_min",
            "0",
            "temp_max=2",
            "question_range",
            "5..",
        ]))
        .unwrap();
        let expected = vec![
            ("temp_min".to_string(), "0".to_string()),
            ("temp_max".to_string(), "2".to_string()),
            ("question_range".to_string(), "5..".to_string()),
        ];
        assert_eq!(pairs, expected);
    }

    #[test]
    fn odd_words_are_a_usage_error() {
        let failure = pair_up(&words(&["temp_min", "0", "temp_max"])).unwrap_err();
        assert_eq!(failure.code, USAGE);
        assert!(
            failure.message.starts_with("setting temp_max has no value"),
            "{failure}"
        );
        assert_eq!(pair_up(&[]).unwrap_err().code, USAGE);
    }

    #[test]
    fn description_lists_axis_and_range() {
        assert_eq!(
            describe(&view()),
            "/w/settings.json\n{\n  \"temp_max\": 0.5\n}\ntemperatures: 3 (0-0.5) [0, 0.25, 0.5]\n\
             questions: 5.. (to the last prompt)\nmin_samples: 2"
        );
    }

    #[tokio::test]
    async fn set_sends_pairs_and_reports_file() {
        let mut connection = Scripted::new(vec![Response::Settings(view())]);
        let mut capture = Capture::default();
        let pairs = vec![("temp_max".to_string(), "0.5".to_string())];
        run(
            &mut connection,
            &mut capture.output(false),
            Some(pairs.clone()),
        )
        .await
        .unwrap();
        assert_eq!(connection.sent, vec![Request::SetSettings { pairs }]);
        assert!(
            capture
                .out()
                .starts_with("wrote /w/settings.json\n/w/settings.json\n{"),
            "{}",
            capture.out()
        );
    }
}
