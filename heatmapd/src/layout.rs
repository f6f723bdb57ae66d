//! Names and paths of answer and grade files under `output/`, and atomic file writes.
//!
//! An answer lives at `output/<model_dir>/<session>/<model_dir>.t<temp>,num<id>[,rep<k>].txt`
//! and its grade beside it as `<stem>_eval.json`.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Folders under `output/` that hold summaries, not answers.
pub const SUMMARY_DIRS: [&str; 3] = ["Summaries", "specifics", "graphs"];

/// Replaces every character outside `[A-Za-z0-9._-]` with `_`.
///
/// The result is never empty, `.` or `..`, and never names one of
/// [`SUMMARY_DIRS`], so a model name cannot escape or shadow a folder.
pub fn sanitize_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.chars().all(|c| c == '.') {
        out = out.replace('.', "_");
        out.insert(0, '_');
    }
    if SUMMARY_DIRS
        .iter()
        .any(|dir| dir.eq_ignore_ascii_case(&out))
    {
        out.insert(0, '_');
    }
    out
}

/// Returns a short, stable hash of a name, used to tell apart models whose
/// sanitized names collide.
pub fn short_hash(name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    digest[..3].iter().map(|b| format!("{b:02x}")).collect()
}

/// Maps each model name to a distinct folder name.
///
/// Names that sanitize to the same folder all get a `-<hash>` suffix, so the
/// mapping of one model does not depend on which others share the job.
pub fn model_dirs(models: &[String]) -> Vec<String> {
    let sanitized: Vec<String> = models.iter().map(|m| sanitize_name(m)).collect();
    sanitized
        .iter()
        .zip(models)
        .map(|(dir, model)| {
            let clashes = sanitized
                .iter()
                .zip(models)
                .any(|(other_dir, other)| other_dir == dir && other != model);
            if clashes || *dir != *model && needs_hash(dir, model) {
                format!("{dir}-{}", short_hash(model))
            } else {
                dir.clone()
            }
        })
        .collect()
}

/// Tells whether a sanitized name lost so much that it needs a hash to stay distinct
/// from other models that may appear in later jobs: only when it was changed
/// into a reserved or empty form.
fn needs_hash(dir: &str, model: &str) -> bool {
    dir.starts_with('_') && !model.starts_with('_')
}

/// Rounds a temperature to 6 decimal places, as the temperature axis does.
pub fn round_temp(t: f64) -> f64 {
    (t * 1e6).round() / 1e6
}

/// Formats a temperature in its shortest decimal form (`0.5`, `1`, `0.05`).
pub fn format_temp(t: f64) -> String {
    let t = round_temp(t);
    let t = if t == 0.0 { 0.0 } else { t };
    format!("{t}")
}

/// Returns the temperature part of a file name, without the leading `t`.
///
/// Multiples of 0.1 in [0, 9.9] use two digits of tenths (`07` for 0.7), as
/// older workspaces have it; every other value is written as its decimal
/// (`0.05`, `12`), which always has a `.` or at least three digits, so no two
/// temperatures share a tag.
pub fn temp_tag(t: f64) -> String {
    let t = round_temp(t);
    let tenths = (t * 10.0).round();
    if (0.0..=99.0).contains(&tenths) && round_temp(tenths / 10.0) == t {
        format!("{:02}", tenths as u32)
    } else if t.fract() == 0.0 {
        // Whole numbers from 10 up: written with a decimal point so they cannot read as tenths.
        format!("{t:.1}")
    } else {
        format_temp(t)
    }
}

/// Parses a tag written by [`temp_tag`]: two digits are tenths, anything else a decimal.
pub fn parse_temp_tag(tag: &str) -> Option<f64> {
    if tag.len() == 2 && tag.bytes().all(|b| b.is_ascii_digit()) {
        return tag
            .parse::<u32>()
            .ok()
            .map(|tenths| round_temp(f64::from(tenths) / 10.0));
    }
    let t: f64 = tag.parse().ok()?;
    (t.is_finite() && t >= 0.0).then(|| round_temp(t))
}

/// Longest prompt id written into a file name as it is.
const MAX_FILE_ID_LEN: usize = 80;

/// Returns the form of a prompt id used in file names.
///
/// An id that is already file-safe and short stays as it is. Any other id is
/// sanitized, cut to [`MAX_FILE_ID_LEN`] characters and given a `-<hash>`
/// suffix of the original, so `a/b` and `a_b`, or two long ids with the same
/// start, never share a file. Grades record the original id.
pub fn file_id(prompt_id: &str) -> String {
    let sanitized = sanitize_name(prompt_id);
    if sanitized == prompt_id && prompt_id.len() <= MAX_FILE_ID_LEN {
        return sanitized;
    }
    let cut: String = sanitized.chars().take(MAX_FILE_ID_LEN).collect();
    format!("{cut}-{}", short_hash(prompt_id))
}

/// Builds the file stem of an answer: `<model_dir>.t<temp>,num<id>[,rep<k>]`.
///
/// `repeat` is the repeat index from 0; the `,rep<k>` part appears only when
/// the job has more than one repeat, and counts from 1.
pub fn answer_stem(
    model_dir: &str,
    temperature: f64,
    prompt_id: &str,
    repeat: u32,
    repeats: u32,
) -> String {
    let id = file_id(prompt_id);
    let mut stem = format!("{model_dir}.t{},num{id}", temp_tag(temperature));
    if repeats > 1 {
        stem.push_str(&format!(",rep{}", repeat + 1));
    }
    stem
}

/// The parts of an answer or grade file name.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedName {
    /// Model folder name as written in the file name.
    pub model_dir: String,
    /// Temperature.
    pub temperature: f64,
    /// Prompt id.
    pub prompt_id: String,
    /// Repeat number from 1, when present.
    pub repeat: Option<u32>,
}

/// Parses `<model_dir>.t<temp>,num<id>[,rep<k>]` followed by `.txt` or `_eval.json`
/// (or any other suffix after the stem, which is ignored).
pub fn parse_file_name(name: &str) -> Option<ParsedName> {
    let stem = name
        .strip_suffix("_eval.json")
        .or_else(|| name.strip_suffix(".json"))
        .or_else(|| name.strip_suffix(".txt"))
        .unwrap_or(name);
    let num_at = stem.rfind(",num")?;
    let (head, tail) = stem.split_at(num_at);
    let tail = &tail[4..];
    let (prompt_id, repeat) = match tail.rfind(",rep") {
        Some(at) => (&tail[..at], tail[at + 4..].parse::<u32>().ok()),
        None => (tail, None),
    };
    let t_at = head.rfind(".t")?;
    let model_dir = &head[..t_at];
    let temperature = parse_temp_tag(&head[t_at + 2..])?;
    if model_dir.is_empty() || prompt_id.is_empty() {
        return None;
    }
    Some(ParsedName {
        model_dir: model_dir.to_string(),
        temperature,
        prompt_id: prompt_id.to_string(),
        repeat,
    })
}

/// Returns the grade file path of an answer file: `<stem>_eval.json` beside it.
pub fn grade_path(answer: &Path) -> PathBuf {
    let stem = answer
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    answer.with_file_name(format!("{stem}_eval.json"))
}

/// Writes `contents` to `path` through a temporary file in the same folder,
/// then renames it into place, so no reader ever sees half a file.
///
/// The file is not fsynced: a killed daemon loses nothing written, because
/// the data is already in the page cache. After a power loss or kernel crash
/// the newest files may be lost even when the queue records their items as
/// done; skipping the fsync keeps the cost per item low.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .suffix(".part")
        .tempfile_in(dir)?;
    tmp.write_all(contents)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Tells whether a file name is one of [`write_atomic`]'s temporary files.
pub fn is_temp_file(name: &str) -> bool {
    name.starts_with(".tmp-") && name.ends_with(".part")
}

/// Picks a session folder name `YYYYmmdd_HHMMSS` under `model_root`, adding
/// `_2`, `_3`, ... when a folder of that name already exists.
pub fn unique_session(model_root: &Path, stamp: &str) -> String {
    if !model_root.join(stamp).exists() {
        return stamp.to_string();
    }
    (2..)
        .map(|n| format!("{stamp}_{n}"))
        .find(|name| !model_root.join(name).exists())
        .expect("an unused suffix exists")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_replaces_unsafe_characters() {
        assert_eq!(sanitize_name("llama3.2:1b"), "llama3.2_1b");
        assert_eq!(sanitize_name("org/model name"), "org_model_name");
        assert_eq!(sanitize_name("../etc"), ".._etc");
    }

    #[test]
    fn sanitize_never_yields_dot_names() {
        assert_eq!(sanitize_name(".."), "___");
        assert_eq!(sanitize_name("."), "__");
        assert_eq!(sanitize_name(""), "_");
        assert_eq!(sanitize_name("Summaries"), "_Summaries");
    }

    #[test]
    fn colliding_model_dirs_get_hashes() {
        let models = vec!["a:b".to_string(), "a/b".to_string(), "plain".to_string()];
        let dirs = model_dirs(&models);
        assert_ne!(dirs[0], dirs[1]);
        assert!(dirs[0].starts_with("a_b-"));
        assert!(dirs[1].starts_with("a_b-"));
        assert_eq!(dirs[2], "plain");
    }

    #[test]
    fn temp_tags_are_lossless() {
        assert_eq!(temp_tag(0.0), "00");
        assert_eq!(temp_tag(0.7), "07");
        assert_eq!(temp_tag(0.1 + 0.2), "03");
        assert_eq!(temp_tag(1.0), "10");
        assert_eq!(temp_tag(1.5), "15");
        assert_eq!(temp_tag(9.9), "99");
        assert_eq!(temp_tag(0.05), "0.05");
        assert_eq!(temp_tag(1.25), "1.25");
        assert_eq!(temp_tag(10.0), "10.0");
        assert_eq!(temp_tag(12.5), "12.5");
    }

    #[test]
    fn temp_tags_parse_back() {
        for t in [
            0.0, 0.05, 0.1, 0.7, 1.0, 1.25, 1.5, 2.0, 9.9, 10.0, 12.5, 0.333333,
        ] {
            assert_eq!(
                parse_temp_tag(&temp_tag(t)),
                Some(round_temp(t)),
                "temperature {t}"
            );
        }
    }

    #[test]
    fn answer_stem_format() {
        assert_eq!(
            answer_stem("gemma", 0.7, "geo-01", 0, 1),
            "gemma.t07,numgeo-01"
        );
        assert_eq!(
            answer_stem("gemma", 0.05, "7", 2, 3),
            "gemma.t0.05,num7,rep3"
        );
    }

    #[test]
    fn unsafe_prompt_ids_get_distinct_names() {
        assert_eq!(file_id("geo-01"), "geo-01");
        let slash = file_id("a/b");
        assert!(slash.starts_with("a_b-"), "{slash}");
        assert_ne!(slash, file_id("a_b"));
        assert_ne!(file_id("."), file_id("ü名"));
        let long_a = file_id(&"x".repeat(300));
        let long_b = file_id(&format!("{}y", "x".repeat(299)));
        assert_ne!(long_a, long_b);
        assert!(long_a.len() <= MAX_FILE_ID_LEN + 7, "{}", long_a.len());
    }

    #[test]
    fn file_names_parse_back() {
        let parsed = parse_file_name("llama3.2_1b.t0.05,numgeo-01,rep2_eval.json").unwrap();
        assert_eq!(parsed.model_dir, "llama3.2_1b");
        assert_eq!(parsed.temperature, 0.05);
        assert_eq!(parsed.prompt_id, "geo-01");
        assert_eq!(parsed.repeat, Some(2));
        let parsed = parse_file_name("m.t07,num12.txt").unwrap();
        assert_eq!(parsed.temperature, 0.7);
        assert_eq!(parsed.prompt_id, "12");
        assert_eq!(parsed.repeat, None);
        assert!(parse_file_name("notes.json").is_none());
    }

    #[test]
    fn grade_path_sits_beside_answer() {
        let answer = Path::new("output/m/s/m.t07,num1.txt");
        assert_eq!(
            grade_path(answer),
            Path::new("output/m/s/m.t07,num1_eval.json")
        );
    }

    #[test]
    fn atomic_write_replaces_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1);
    }

    #[test]
    fn unique_session_adds_suffix() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            unique_session(dir.path(), "20261204_101500"),
            "20261204_101500"
        );
        std::fs::create_dir(dir.path().join("20261204_101500")).unwrap();
        assert_eq!(
            unique_session(dir.path(), "20261204_101500"),
            "20261204_101500_2"
        );
    }
}
