//! Session folders under `output/` and their `session.json` records.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::layout::{self, write_atomic};
use crate::store::{JobRow, SessionInfo};

/// Picks a folder name for each model of a job and creates its session folder.
///
/// A model whose sanitized name is already used under `output/` by a
/// different model gets a short hash suffix, so two models never share a folder.
pub fn create_sessions(
    output: &Path,
    models: &[String],
    stamp: &str,
) -> std::io::Result<Vec<SessionInfo>> {
    let dirs = layout::model_dirs(models);
    let mut sessions = Vec::with_capacity(models.len());
    for (model, dir) in models.iter().zip(dirs) {
        let dir = if folder_used_by_other_model(&output.join(&dir), model)
            || !is_real_dir_or_missing(&output.join(&dir))
        {
            format!("{dir}-{}", layout::short_hash(model))
        } else {
            dir
        };
        let model_root = output.join(&dir);
        if !is_real_dir_or_missing(&model_root) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!(
                    "{} is a symlink or a file, not a folder; move it out of output/",
                    model_root.display()
                ),
            ));
        }
        std::fs::create_dir_all(&model_root)?;
        let session = layout::unique_session(&model_root, stamp);
        std::fs::create_dir(model_root.join(&session))?;
        sessions.push(SessionInfo {
            model: model.clone(),
            model_dir: dir,
            session,
        });
    }
    Ok(sessions)
}

/// Tells whether `path` is a real folder (not a symlink) or does not exist,
/// so answers written under it stay inside `output/`.
fn is_real_dir_or_missing(path: &Path) -> bool {
    match std::fs::symlink_metadata(path) {
        Ok(meta) => meta.is_dir(),
        Err(err) => err.kind() == std::io::ErrorKind::NotFound,
    }
}

/// Tells whether a model folder already contains sessions of another model.
fn folder_used_by_other_model(folder: &Path, model: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return false;
    };
    entries.filter_map(Result::ok).any(|entry| {
        let Ok(text) = std::fs::read_to_string(entry.path().join("session.json")) else {
            return false;
        };
        let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
            return false;
        };
        value
            .get("model")
            .and_then(|m| m.as_str())
            .is_some_and(|m| m != model)
    })
}

/// Returns the absolute folder of a session.
pub fn session_dir(output: &Path, session: &SessionInfo) -> PathBuf {
    output.join(&session.model_dir).join(&session.session)
}

/// Writes `session.json` for one model of a job.
pub fn write_session_json(
    output: &Path,
    job: &JobRow,
    session: &SessionInfo,
    ended_at: Option<&str>,
) -> std::io::Result<()> {
    let spec = &job.spec;
    let record = json!({
        "model": session.model,
        "job": job.id,
        "backend": spec.backend.as_str(),
        "urls": spec.urls,
        "mode": match spec.mode { heatmap_proto::PromptMode::Chat => "chat", heatmap_proto::PromptMode::Completion => "completion" },
        "template": spec.template_name,
        "stop": spec.stop,
        "temperatures": job.temperatures,
        "repeats": spec.repeats,
        "seed": spec.seed,
        "max_tokens": spec.max_tokens,
        "grade": spec.grade.to_string(),
        "prompt_count": job.prompts.len(),
        "prompts_sha256": job.prompts_hash,
        "started_at": job.started_at.clone().unwrap_or_else(crate::store::now_rfc3339),
        "ended_at": ended_at,
    });
    let mut text = serde_json::to_vec_pretty(&record).expect("session record serializes");
    text.push(b'\n');
    write_atomic(&session_dir(output, session).join("session.json"), &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_get_distinct_folders() {
        let dir = tempfile::tempdir().unwrap();
        let models = vec!["gemma3:270m".to_string(), "qwen/0.5b".to_string()];
        let first = create_sessions(dir.path(), &models, "20261204_100000").unwrap();
        assert_eq!(first[0].model_dir, "gemma3_270m");
        assert_eq!(first[0].session, "20261204_100000");
        let second = create_sessions(dir.path(), &models, "20261204_100000").unwrap();
        assert_eq!(second[0].session, "20261204_100000_2");
        assert!(dir.path().join("qwen_0.5b/20261204_100000_2").is_dir());
    }

    #[cfg(unix)]
    #[test]
    fn symlinked_model_folder_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("m1")).unwrap();
        let sessions = create_sessions(dir.path(), &["m1".to_string()], "s1").unwrap();
        assert!(
            sessions[0].model_dir.starts_with("m1-"),
            "{}",
            sessions[0].model_dir
        );
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    #[test]
    fn folder_of_another_model_gets_hash() {
        let dir = tempfile::tempdir().unwrap();
        let first = create_sessions(dir.path(), &["a:b".to_string()], "s1").unwrap();
        std::fs::write(
            dir.path().join("a_b/s1/session.json"),
            r#"{"model": "a:b"}"#,
        )
        .unwrap();
        let second = create_sessions(dir.path(), &["a/b".to_string()], "s2").unwrap();
        assert_eq!(first[0].model_dir, "a_b");
        assert!(
            second[0].model_dir.starts_with("a_b-"),
            "{}",
            second[0].model_dir
        );
    }
}
