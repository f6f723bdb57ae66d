//! The grade file written beside each answer.

use serde::{Deserialize, Serialize};

/// Contents of `<answer stem>_eval.json`; fields that do not apply are left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradeRecord {
    /// Real model name.
    pub model: String,
    /// Temperature of the answer.
    pub temperature: f64,
    /// Prompt id.
    pub prompt_id: String,
    /// Session folder name.
    pub session: String,
    /// Repeat number from 1, when the job has repeats.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat: Option<u32>,
    /// `exact`, `contains` or `judge:<model>`.
    pub grader: String,
    /// Accuracy in [0, 1]; absent when the answer could not be scored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    /// Whether the answer was judged correct; absent when unscored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correct: Option<bool>,
    /// Prompt category.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Why the grader decided as it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    /// Accepted answers, as in `prompts.csv`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// Temperature the judge was asked with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge_temperature: Option<f64>,
    /// The judge's raw output, kept when it could not be parsed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge_raw: Option<String>,
}

impl GradeRecord {
    /// Serializes the record as pretty JSON with a trailing newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut text = serde_json::to_vec_pretty(self).expect("a grade record serializes");
        text.push(b'\n');
        text
    }
}
