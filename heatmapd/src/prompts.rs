//! Reading `prompts.csv` (and `prompts_categories.csv` when present).
//!
//! The file is UTF-8 with an optional BOM, comma-separated, with a header
//! row and RFC 4180 quoting, so a prompt may span lines. Columns `id` and
//! `prompt` are required; `category` and `expected` are optional.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One prompt of the set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prompt {
    /// Unique id.
    pub id: String,
    /// The question or instruction.
    pub prompt: String,
    /// Category, when known.
    pub category: Option<String>,
    /// Accepted answers separated by `|`, when known.
    pub expected: Option<String>,
}

/// A problem with a prompts file, naming the file and line.
#[derive(Debug, thiserror::Error)]
pub enum PromptsError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A row or the header is invalid.
    #[error("{path}:{line}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line where the row starts.
        line: u64,
        /// What is wrong and what to do.
        message: String,
    },
}

/// Reads `prompts.csv`, then fills missing categories from `categories` when that file exists.
pub fn load(path: &Path, categories: Option<&Path>) -> Result<Vec<Prompt>, PromptsError> {
    let bytes = std::fs::read(path).map_err(|source| PromptsError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut prompts = parse(path, &bytes)?;
    if let Some(categories) = categories.filter(|p| p.exists()) {
        let bytes = std::fs::read(categories).map_err(|source| PromptsError::Io {
            path: categories.to_path_buf(),
            source,
        })?;
        let map = parse_categories(categories, &bytes)?;
        for prompt in &mut prompts {
            if prompt.category.is_none() {
                prompt.category = map.get(&prompt.id).cloned();
            }
        }
    }
    Ok(prompts)
}

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

fn invalid(path: &Path, line: u64, message: impl Into<String>) -> PromptsError {
    PromptsError::Invalid {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
}

fn reader(bytes: &[u8]) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(strip_bom(bytes))
}

fn column_index(
    path: &Path,
    headers: &csv::StringRecord,
    name: &str,
    required: bool,
) -> Result<Option<usize>, PromptsError> {
    let found = headers
        .iter()
        .position(|h| h.trim().eq_ignore_ascii_case(name));
    if found.is_none() && required {
        let have: Vec<&str> = headers.iter().collect();
        return Err(invalid(
            path,
            1,
            format!(
                "missing required column '{name}' in the header (found: {}); the header must name id and prompt",
                have.join(", ")
            ),
        ));
    }
    Ok(found)
}

fn csv_error(path: &Path, err: csv::Error) -> PromptsError {
    let line = err.position().map(|p| p.line()).unwrap_or(0);
    let message = match err.kind() {
        csv::ErrorKind::Utf8 { .. } => "invalid UTF-8; save the file as UTF-8".to_string(),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!(
                "row has {len} fields but the header has {expected_len}; quote fields that contain commas"
            )
        }
        _ => err.to_string(),
    };
    invalid(path, line, message)
}

/// Parses the contents of a prompts file; `path` is used in messages.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Vec<Prompt>, PromptsError> {
    let mut reader = reader(bytes);
    let headers = reader.headers().map_err(|e| csv_error(path, e))?.clone();
    let id_col = column_index(path, &headers, "id", true)?.expect("required");
    let prompt_col = column_index(path, &headers, "prompt", true)?.expect("required");
    let category_col = column_index(path, &headers, "category", false)?;
    let expected_col = column_index(path, &headers, "expected", false)?;

    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut prompts = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(path, e))?;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if record.iter().all(|field| field.trim().is_empty()) {
            continue;
        }
        let id = record.get(id_col).unwrap_or("").trim().to_string();
        if id.is_empty() {
            return Err(invalid(
                path,
                line,
                "empty id; every prompt needs a unique id",
            ));
        }
        if let Some(first) = seen.get(&id) {
            return Err(invalid(
                path,
                line,
                format!("duplicate id '{id}' (first used on line {first}); ids must be unique"),
            ));
        }
        seen.insert(id.clone(), line);
        let prompt = record.get(prompt_col).unwrap_or("").trim().to_string();
        if prompt.is_empty() {
            return Err(invalid(path, line, format!("empty prompt for id '{id}'")));
        }
        let optional = |col: Option<usize>| {
            col.and_then(|c| record.get(c))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        prompts.push(Prompt {
            id,
            prompt,
            category: optional(category_col),
            expected: optional(expected_col),
        });
    }
    if prompts.is_empty() {
        return Err(invalid(
            path,
            1,
            "no prompts found; add rows below the header",
        ));
    }
    Ok(prompts)
}

/// Parses `prompts_categories.csv` (`id,category`).
pub fn parse_categories(
    path: &Path,
    bytes: &[u8],
) -> Result<HashMap<String, String>, PromptsError> {
    let mut reader = reader(bytes);
    let headers = reader.headers().map_err(|e| csv_error(path, e))?.clone();
    let id_col = column_index(path, &headers, "id", true)?.expect("required");
    let category_col = column_index(path, &headers, "category", true)?.expect("required");
    let mut map = HashMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(path, e))?;
        let id = record.get(id_col).unwrap_or("").trim();
        let category = record.get(category_col).unwrap_or("").trim();
        if !id.is_empty() && !category.is_empty() {
            map.insert(id.to_string(), category.to_string());
        }
    }
    Ok(map)
}

/// Selects prompts `start..=end` (1-based); `end: None` runs to the last one.
///
/// Returns an error message when the range starts past the end of the set.
pub fn select(prompts: &[Prompt], start: u32, end: Option<u32>) -> Result<Vec<Prompt>, String> {
    let total = prompts.len();
    let first = start.max(1) as usize;
    if first > total {
        return Err(format!(
            "question range starts at {start}, but the prompt set has only {total} prompts"
        ));
    }
    let last = end.map(|e| (e as usize).min(total)).unwrap_or(total);
    if last < first {
        return Err(format!(
            "question range {start}..{} selects no prompts",
            end.unwrap_or(0)
        ));
    }
    Ok(prompts[first - 1..last].to_vec())
}

/// Returns the hex sha256 of a prompt snapshot, recorded in `session.json`.
pub fn snapshot_hash(prompts: &[Prompt]) -> String {
    let mut hasher = Sha256::new();
    for prompt in prompts {
        for field in [
            Some(&prompt.id),
            Some(&prompt.prompt),
            prompt.category.as_ref(),
            prompt.expected.as_ref(),
        ] {
            hasher.update(field.map(String::as_bytes).unwrap_or(b"\x00"));
            hasher.update(b"\x1f");
        }
        hasher.update(b"\x1e");
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks that ids are unique; used for snapshots restored from the queue.
pub fn ids_unique(prompts: &[Prompt]) -> bool {
    let mut seen = HashSet::new();
    prompts.iter().all(|p| seen.insert(p.id.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Vec<Prompt>, PromptsError> {
        parse(Path::new("prompts.csv"), text.as_bytes())
    }

    fn error_of(text: &str) -> (u64, String) {
        match parse_str(text) {
            Err(PromptsError::Invalid { line, message, .. }) => (line, message),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn reads_bom_and_multiline_quotes() {
        let text = "\u{feff}id,category,prompt,expected\n1,math,\"What is\n2+2?\",4\n2,,\"Say \"\"hi\"\"\",hi\n";
        let prompts = parse_str(text).unwrap();
        assert_eq!(prompts.len(), 2);
        assert_eq!(prompts[0].id, "1");
        assert_eq!(prompts[0].prompt, "What is\n2+2?");
        assert_eq!(prompts[0].category.as_deref(), Some("math"));
        assert_eq!(prompts[1].prompt, "Say \"hi\"");
        assert_eq!(prompts[1].category, None);
        assert_eq!(prompts[1].expected.as_deref(), Some("hi"));
    }

    #[test]
    fn duplicate_id_names_both_lines() {
        let (line, message) = error_of("id,prompt\na,one\nb,\"two\nlines\"\na,three\n");
        assert_eq!(line, 5);
        assert!(message.contains("duplicate id 'a'"), "{message}");
        assert!(message.contains("line 2"), "{message}");
    }

    #[test]
    fn missing_column_rejected() {
        let (line, message) = error_of("id,question\n1,what\n");
        assert_eq!(line, 1);
        assert!(message.contains("'prompt'"), "{message}");
    }

    #[test]
    fn empty_prompt_rejected_with_line() {
        let (line, message) = error_of("id,prompt\n1,ok\n2,  \n");
        assert_eq!(line, 3);
        assert!(message.contains("empty prompt for id '2'"), "{message}");
    }

    #[test]
    fn ragged_row_rejected_with_line() {
        let (line, message) = error_of("id,prompt\n1,ok\n2,a,b\n");
        assert_eq!(line, 3);
        assert!(message.contains("3 fields"), "{message}");
    }

    #[test]
    fn categories_file_fills_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("prompts.csv");
        let cats = dir.path().join("prompts_categories.csv");
        std::fs::write(&main, "id,prompt,category\n1,a,own\n2,b,\n").unwrap();
        std::fs::write(&cats, "id,category\n1,other\n2,filled\n").unwrap();
        let prompts = load(&main, Some(&cats)).unwrap();
        assert_eq!(prompts[0].category.as_deref(), Some("own"));
        assert_eq!(prompts[1].category.as_deref(), Some("filled"));
    }

    #[test]
    fn select_is_one_based_inclusive() {
        let prompts = parse_str("id,prompt\n1,a\n2,b\n3,c\n").unwrap();
        let ids = |v: Vec<Prompt>| v.into_iter().map(|p| p.id).collect::<Vec<_>>();
        assert_eq!(ids(select(&prompts, 2, None).unwrap()), ["2", "3"]);
        assert_eq!(ids(select(&prompts, 1, Some(2)).unwrap()), ["1", "2"]);
        assert_eq!(ids(select(&prompts, 3, Some(99)).unwrap()), ["3"]);
        assert!(select(&prompts, 4, None).is_err());
    }

    #[test]
    fn snapshot_hash_changes_with_content() {
        let a = parse_str("id,prompt\n1,a\n").unwrap();
        let b = parse_str("id,prompt\n1,b\n").unwrap();
        assert_ne!(snapshot_hash(&a), snapshot_hash(&b));
        assert_eq!(snapshot_hash(&a), snapshot_hash(&a.clone()));
    }
}
