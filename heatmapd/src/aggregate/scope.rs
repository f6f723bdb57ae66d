//! The scope of an aggregation: all of `output/` or some session folders.

use std::fs;
use std::path::Path;

use super::AggregateError;
use super::scan::ScanRoot;
use crate::layout;

/// The part of `output/` to aggregate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Scope {
    /// Every grade below `output/`.
    #[default]
    All,
    /// Only these session folders: `model_dir/session` paths relative to
    /// `output/`, or bare `session` names, which match that session under
    /// every model folder.
    Sessions(Vec<String>),
}

impl Scope {
    /// Resolves the scope to the folders to scan, in a stable order without duplicates.
    pub(crate) fn roots(&self, output: &Path) -> Result<Vec<ScanRoot>, AggregateError> {
        let sessions = match self {
            Scope::All => {
                return Ok(vec![ScanRoot {
                    path: output.to_path_buf(),
                    rel: String::new(),
                    session_model: None,
                }]);
            }
            Scope::Sessions(sessions) => sessions,
        };
        let mut rels = Vec::new();
        for session in sessions {
            rels.extend(resolve_session(output, session)?);
        }
        rels.sort();
        rels.dedup();
        Ok(rels
            .into_iter()
            .map(|rel| ScanRoot {
                path: output.join(&rel),
                rel,
                session_model: None,
            })
            .collect())
    }
}

/// Returns the relative folders one session entry names.
fn resolve_session(output: &Path, session: &str) -> Result<Vec<String>, AggregateError> {
    let invalid = |reason: &str| AggregateError::InvalidSession {
        session: session.to_string(),
        reason: reason.into(),
    };
    let trimmed = session.trim().trim_end_matches('/');
    let parts: Vec<&str> = trimmed.split('/').collect();
    if trimmed.is_empty() {
        return Err(invalid("the name is empty"));
    }
    if trimmed.starts_with('/') || trimmed.contains('\\') || trimmed.contains(':') {
        return Err(invalid(
            "expected a path relative to output/ with / separators",
        ));
    }
    if parts
        .iter()
        .any(|part| part.is_empty() || *part == "." || *part == "..")
    {
        return Err(invalid("path parts must not be empty, . or .."));
    }
    if layout::SUMMARY_DIRS.contains(&parts[0]) {
        return Err(invalid("summary folders hold no sessions"));
    }
    let not_found = || AggregateError::SessionNotFound {
        session: session.to_string(),
        output: output.to_path_buf(),
    };
    match parts.as_slice() {
        [model_dir, name] => {
            let rel = format!("{model_dir}/{name}");
            if is_real_dir(&output.join(&rel)) {
                Ok(vec![rel])
            } else {
                Err(not_found())
            }
        }
        [name] => {
            let entries = fs::read_dir(output).map_err(|source| AggregateError::List {
                path: output.to_path_buf(),
                source,
            })?;
            let mut found = Vec::new();
            for entry in entries.flatten() {
                let Ok(model_dir) = entry.file_name().into_string() else {
                    continue;
                };
                if layout::SUMMARY_DIRS.contains(&model_dir.as_str())
                    || !entry.file_type().is_ok_and(|t| t.is_dir())
                {
                    continue;
                }
                if is_real_dir(&entry.path().join(name)) {
                    found.push(format!("{model_dir}/{name}"));
                }
            }
            if found.is_empty() {
                Err(not_found())
            } else {
                Ok(found)
            }
        }
        _ => Err(invalid("expected model_dir/session or a bare session name")),
    }
}

/// Tells whether a path is a folder and not a symbolic link to one.
fn is_real_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|meta| meta.is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rels(output: &Path, sessions: &[&str]) -> Result<Vec<String>, AggregateError> {
        let scope = Scope::Sessions(sessions.iter().map(|s| s.to_string()).collect());
        Ok(scope
            .roots(output)?
            .into_iter()
            .map(|root| root.rel)
            .collect())
    }

    #[test]
    fn sessions_resolve() {
        let dir = tempfile::tempdir().unwrap();
        for rel in ["a/s1", "a/s2", "b/s1", "Summaries/s1"] {
            fs::create_dir_all(dir.path().join(rel)).unwrap();
        }
        assert_eq!(rels(dir.path(), &["s1"]).unwrap(), ["a/s1", "b/s1"]);
        assert_eq!(
            rels(dir.path(), &["a/s2/", "s1", "a/s1"]).unwrap(),
            ["a/s1", "a/s2", "b/s1"]
        );
        let all = Scope::All.roots(dir.path()).unwrap();
        assert_eq!(all[0].rel, "");
    }

    #[test]
    fn missing_session_is_named() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("a/s1")).unwrap();
        let err = rels(dir.path(), &["s1", "20260101_000000"]).unwrap_err();
        assert!(
            matches!(&err, AggregateError::SessionNotFound { session, .. } if session == "20260101_000000")
        );
        assert!(
            err.to_string()
                .starts_with("session not found: 20260101_000000")
        );
        assert!(matches!(
            rels(dir.path(), &["b/s1"]),
            Err(AggregateError::SessionNotFound { .. })
        ));
    }

    #[test]
    fn sessions_stay_inside_output() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["../x", "/etc", "a/../b", "", "Summaries/x", "a/b/c", "a\\b"] {
            assert!(
                matches!(
                    rels(dir.path(), &[bad]),
                    Err(AggregateError::InvalidSession { .. })
                ),
                "{bad:?}"
            );
        }
    }
}
