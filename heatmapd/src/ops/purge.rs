//! `heatmapctl purge`: removing answers, grades or whole folders under `output/`.
//!
//! A purge first builds a plan, the list of entries to remove in order
//! (children before their folder), and then removes them unless it is a dry
//! run. Symbolic links are never followed: a link is removed as a link, and
//! what it points to is never read, descended into or removed. Nothing
//! outside `output/` is named by a plan, because every path in it comes from
//! listing `output/`, and the summary folders (`Summaries/`, `specifics/`,
//! `graphs/`) are left alone unless `summaries` is set.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use heatmap_proto::{ErrorKind, JobState, PurgeReport, PurgeSpec};

use crate::aggregate::record::session_model;
use crate::layout::SUMMARY_DIRS;
use crate::runner::ApiError;
use crate::store::JobRow;

/// Most paths listed in a report.
pub const MAX_LISTED_PATHS: usize = 50;

/// Suffix of grade files, the only files `grades` removes.
const GRADE_SUFFIX: &str = "_eval.json";

/// Kind of an entry to remove, as seen without following links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryKind {
    File,
    Link,
    Dir,
}

/// One entry to remove.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Removal {
    path: PathBuf,
    kind: EntryKind,
    bytes: u64,
}

/// The entries a purge removes, in removal order.
#[derive(Debug, Default)]
pub struct Plan {
    removals: Vec<Removal>,
    /// Model folders the plan touches, by folder name; empty for a purge of all of `output/`.
    pub model_dirs: Vec<String>,
}

/// Checks a spec, then lists what it removes under `output`.
pub fn plan(output: &Path, spec: &PurgeSpec) -> Result<Plan, ApiError> {
    check_spec(spec)?;
    match fs::symlink_metadata(output) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(ApiError::invalid(format!(
                "{} is not a folder (it may be a symbolic link); purge only works on a real output folder",
                output.display()
            )));
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Plan::default()),
        Err(err) => return Err(io_error(output, &err)),
    }

    let mut plan = Plan::default();
    let mut roots: Vec<PathBuf> = Vec::new();
    if !spec.models.is_empty() {
        let folders = model_folders(output, &spec.models)?;
        for folder in &folders {
            let path = output.join(folder);
            if spec.sessions.is_empty() {
                roots.push(path);
            } else {
                roots.extend(sessions_in(output, folder, &spec.sessions)?);
            }
        }
        plan.model_dirs = folders;
    } else {
        for (name, _) in top_level(output)? {
            let is_summary = SUMMARY_DIRS.contains(&name.as_str());
            let selected = if is_summary {
                spec.summaries && !spec.grades
            } else {
                spec.all || spec.grades
            };
            if selected {
                roots.push(output.join(name));
            }
        }
    }
    for root in roots {
        collect(&root, spec.grades, &mut plan.removals)?;
    }
    Ok(plan)
}

/// Removes what the plan lists, or only reports it when `dry_run` is set.
///
/// A failure to remove one entry is logged and the rest are still tried;
/// the error then names the first failure and what was removed.
pub fn execute(plan: &Plan, root: &Path, dry_run: bool) -> Result<PurgeReport, ApiError> {
    let mut report = PurgeReport {
        dry_run,
        files: 0,
        folders: 0,
        bytes: 0,
        paths: Vec::new(),
    };
    let mut failures: Vec<String> = Vec::new();
    for removal in &plan.removals {
        if !dry_run && let Err(err) = remove(removal) {
            tracing::warn!(path = %removal.path.display(), error = %err, "purge: cannot remove");
            failures.push(format!("{}: {err}", removal.path.display()));
            continue;
        }
        match removal.kind {
            EntryKind::Dir => report.folders += 1,
            EntryKind::File | EntryKind::Link => report.files += 1,
        }
        report.bytes += removal.bytes;
        if report.paths.len() < MAX_LISTED_PATHS {
            let shown = removal.path.strip_prefix(root).unwrap_or(&removal.path);
            report.paths.push(shown.display().to_string());
        }
    }
    if let Some(first) = failures.first() {
        return Err(ApiError::new(
            ErrorKind::Internal,
            format!(
                "removed {} files and {} folders, but {} entries could not be removed, first {first}; \
                 check their permissions and run purge again",
                report.files,
                report.folders,
                failures.len()
            ),
        ));
    }
    Ok(report)
}

/// Rejects the purge when a running or paused job writes into what it removes.
///
/// A purge of some models only conflicts with jobs on those models; any
/// other purge conflicts with every running or paused job.
pub fn check_jobs(plan: &Plan, spec: &PurgeSpec, jobs: &[JobRow]) -> Result<(), ApiError> {
    for job in jobs {
        if !matches!(job.state, JobState::Running | JobState::Paused) {
            continue;
        }
        let conflict = if spec.models.is_empty() {
            true
        } else {
            spec.models.iter().any(|m| job.spec.models.contains(m))
                || job
                    .sessions
                    .iter()
                    .any(|s| plan.model_dirs.contains(&s.model_dir))
        };
        if conflict {
            return Err(ApiError::invalid(format!(
                "job {} is {} and writes into what this purge removes; cancel it with 'heatmapctl cancel {}' \
                 or wait for it to end, then purge again",
                job.id, job.state, job.id
            )));
        }
    }
    Ok(())
}

fn check_spec(spec: &PurgeSpec) -> Result<(), ApiError> {
    if spec.models.is_empty() && !spec.all && !spec.grades && !spec.summaries {
        return Err(ApiError::invalid(
            "nothing to purge; pass --model M, --grades, --all or --summaries",
        ));
    }
    if spec.all && !spec.models.is_empty() {
        return Err(ApiError::invalid(
            "--all cannot be combined with --model; pass one of them",
        ));
    }
    if !spec.sessions.is_empty() && spec.models.is_empty() {
        return Err(ApiError::invalid(
            "--session needs --model, the model whose session it is",
        ));
    }
    for model in &spec.models {
        check_model_name(model)?;
    }
    for session in &spec.sessions {
        let plain = !session.is_empty()
            && session != "."
            && session != ".."
            && !session.contains(['/', '\\', '\0'])
            && !is_drive_path(session);
        if !plain {
            return Err(ApiError::invalid(format!(
                "invalid session {session:?}: give a session folder name such as 20261204_101500, without '/' or '..'"
            )));
        }
    }
    Ok(())
}

/// Accepts a real model name (which may hold `/`, as in `hf.co/org/model`)
/// or a folder name, but no absolute path and no `..` part. The name is only
/// compared with folder names and `session.json` contents, never joined to a path.
fn check_model_name(model: &str) -> Result<(), ApiError> {
    let valid = !model.trim().is_empty()
        && !model.contains('\0')
        && !model.starts_with(['/', '\\'])
        && !is_drive_path(model)
        && !model
            .split(['/', '\\'])
            .any(|part| part == ".." || part == ".");
    if valid {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "invalid model {model:?}: give the model name or its folder under output/, not a path"
        )))
    }
}

fn is_drive_path(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() >= 2
        && bytes[0].is_ascii_alphabetic()
        && bytes[1] == b':'
        && (bytes.len() == 2 || matches!(bytes[2], b'/' | b'\\'))
}

/// Lists the entries directly under `output/` with their metadata, sorted by name.
fn top_level(output: &Path) -> Result<Vec<(String, fs::Metadata)>, ApiError> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(output).map_err(|err| io_error(output, &err))? {
        let entry = entry.map_err(|err| io_error(output, &err))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let meta =
            fs::symlink_metadata(entry.path()).map_err(|err| io_error(&entry.path(), &err))?;
        entries.push((name, meta));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(entries)
}

/// Returns the folder names under `output/` that belong to any of `models`:
/// a folder of that name, or one whose sessions' `session.json` names the model.
fn model_folders(output: &Path, models: &[String]) -> Result<Vec<String>, ApiError> {
    let mut found = Vec::new();
    let mut known = Vec::new();
    for (name, meta) in top_level(output)? {
        if SUMMARY_DIRS.contains(&name.as_str()) {
            continue;
        }
        let recorded = if meta.is_dir() {
            recorded_models(&output.join(&name))
        } else {
            Vec::new()
        };
        let matches = models.iter().any(|m| *m == name || recorded.contains(m));
        if matches {
            found.push(name.clone());
        }
        known.extend(recorded);
        if meta.is_dir() {
            known.push(name);
        }
    }
    if found.is_empty() {
        known.sort();
        known.dedup();
        let known = if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        };
        return Err(ApiError::new(
            ErrorKind::NotFound,
            format!(
                "no folder under {} belongs to {}; known models and folders: {known}",
                output.display(),
                models.join(", ")
            ),
        ));
    }
    Ok(found)
}

/// Reads the model names recorded in the `session.json` of each session
/// folder of a model folder. Links are not followed.
fn recorded_models(folder: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut models = Vec::new();
    for entry in entries.flatten() {
        let is_dir = fs::symlink_metadata(entry.path()).is_ok_and(|meta| meta.is_dir());
        if !is_dir {
            continue;
        }
        let session_file = entry.path().join("session.json");
        let is_file = fs::symlink_metadata(&session_file).is_ok_and(|meta| meta.is_file());
        if !is_file {
            continue;
        }
        match fs::read(&session_file).map(|bytes| session_model(&bytes)) {
            Ok(Ok(Some(model))) if !models.contains(&model) => models.push(model),
            Ok(Ok(_)) => {}
            Ok(Err(err)) => {
                tracing::warn!(path = %session_file.display(), error = %err, "purge: invalid session file")
            }
            Err(err) => {
                tracing::warn!(path = %session_file.display(), error = %err, "purge: cannot read session file")
            }
        }
    }
    models
}

/// Returns the paths of the named sessions inside one model folder.
fn sessions_in(output: &Path, folder: &str, sessions: &[String]) -> Result<Vec<PathBuf>, ApiError> {
    let folder_path = output.join(folder);
    let is_dir = fs::symlink_metadata(&folder_path).is_ok_and(|meta| meta.is_dir());
    if !is_dir {
        return Err(ApiError::invalid(format!(
            "{} is not a folder (it may be a symbolic link); purge it without --session",
            folder_path.display()
        )));
    }
    let mut paths = Vec::new();
    for session in sessions {
        let path = folder_path.join(session);
        match fs::symlink_metadata(&path) {
            Ok(_) => paths.push(path),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(ApiError::new(
                    ErrorKind::NotFound,
                    format!(
                        "session {session} not found in {}; list it with ls",
                        folder_path.display()
                    ),
                ));
            }
            Err(err) => return Err(io_error(&path, &err)),
        }
    }
    Ok(paths)
}

/// Adds `path` and, for a real folder, everything below it to `out`,
/// children first. With `grades_only`, only grade files are added.
fn collect(path: &Path, grades_only: bool, out: &mut Vec<Removal>) -> Result<(), ApiError> {
    let meta = fs::symlink_metadata(path).map_err(|err| io_error(path, &err))?;
    let file_type = meta.file_type();
    if file_type.is_dir() {
        let mut children: Vec<PathBuf> = Vec::new();
        for entry in fs::read_dir(path).map_err(|err| io_error(path, &err))? {
            children.push(entry.map_err(|err| io_error(path, &err))?.path());
        }
        children.sort();
        for child in children {
            collect(&child, grades_only, out)?;
        }
        if !grades_only {
            out.push(Removal {
                path: path.to_path_buf(),
                kind: EntryKind::Dir,
                bytes: 0,
            });
        }
        return Ok(());
    }
    if grades_only {
        let is_grade = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(GRADE_SUFFIX));
        if !is_grade {
            return Ok(());
        }
    }
    let (kind, bytes) = if file_type.is_symlink() {
        (EntryKind::Link, 0)
    } else {
        (EntryKind::File, meta.len())
    };
    out.push(Removal {
        path: path.to_path_buf(),
        kind,
        bytes,
    });
    Ok(())
}

/// Removes one entry without following links.
///
/// NOTE: entries are removed by full path, so a folder that another process
/// swaps for a link between planning and removal could redirect a removal.
fn remove(removal: &Removal) -> io::Result<()> {
    match removal.kind {
        EntryKind::File => fs::remove_file(&removal.path),
        // On Windows a link to a folder is removed like a folder; the target stays.
        EntryKind::Link => fs::remove_file(&removal.path).or_else(|err| {
            if cfg!(windows) {
                fs::remove_dir(&removal.path)
            } else {
                Err(err)
            }
        }),
        EntryKind::Dir => fs::remove_dir(&removal.path),
    }
}

fn io_error(path: &Path, err: &io::Error) -> ApiError {
    ApiError::new(
        ErrorKind::Internal,
        format!("cannot read {}: {err}", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> PurgeSpec {
        PurgeSpec {
            models: vec![],
            sessions: vec![],
            grades: false,
            all: false,
            summaries: false,
            dry_run: true,
        }
    }

    /// Builds `root/output` with two models, a summary folder and a loose file.
    fn tree() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let files = [
            (
                "output/gemma3_1b/20260101_120000/session.json",
                r#"{"model": "gemma3:1b"}"#,
            ),
            (
                "output/gemma3_1b/20260101_120000/gemma3_1b.t00,num1.txt",
                "Paris",
            ),
            (
                "output/gemma3_1b/20260101_120000/gemma3_1b.t00,num1_eval.json",
                r#"{"accuracy": 1}"#,
            ),
            (
                "output/gemma3_1b/20260102_120000/session.json",
                r#"{"model": "gemma3:1b"}"#,
            ),
            (
                "output/gemma3_1b/20260102_120000/gemma3_1b.t00,num1.txt",
                "Rome",
            ),
            (
                "output/tiny/20260101_120000/session.json",
                r#"{"model": "tiny"}"#,
            ),
            (
                "output/tiny/20260101_120000/tiny.t00,num1_eval.json",
                r#"{"accuracy": 0}"#,
            ),
            ("output/Summaries/heatmap_live.csv", "Model\n"),
            ("output/notes.md", "keep?"),
        ];
        for (path, text) in files {
            let path = root.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        root
    }

    fn run(root: &Path, spec: &PurgeSpec) -> PurgeReport {
        let output = root.join("output");
        let plan = plan(&output, spec).unwrap();
        execute(&plan, root, spec.dry_run).unwrap()
    }

    #[test]
    fn model_by_real_name_dry_run() {
        let root = tree();
        let spec = PurgeSpec {
            models: vec!["gemma3:1b".into()],
            ..spec()
        };
        let report = run(root.path(), &spec);
        assert_eq!(
            (report.files, report.folders, report.bytes),
            (5, 3, 22 + 5 + 15 + 22 + 4)
        );
        assert_eq!(
            report.paths[0],
            "output/gemma3_1b/20260101_120000/gemma3_1b.t00,num1.txt"
        );
        assert_eq!(report.paths.last().unwrap(), "output/gemma3_1b");
        assert!(
            root.path().join("output/gemma3_1b").exists(),
            "a dry run removes nothing"
        );
    }

    #[test]
    fn model_session_by_folder_name() {
        let root = tree();
        let spec = PurgeSpec {
            models: vec!["gemma3_1b".into()],
            sessions: vec!["20260102_120000".into()],
            dry_run: false,
            ..spec()
        };
        let report = run(root.path(), &spec);
        assert_eq!((report.files, report.folders), (2, 1));
        assert!(
            !root
                .path()
                .join("output/gemma3_1b/20260102_120000")
                .exists()
        );
        assert!(
            root.path()
                .join("output/gemma3_1b/20260101_120000/session.json")
                .exists()
        );
    }

    #[test]
    fn grades_only_removes_eval_files() {
        let root = tree();
        let spec = PurgeSpec {
            grades: true,
            dry_run: false,
            ..spec()
        };
        let report = run(root.path(), &spec);
        assert_eq!((report.files, report.folders, report.bytes), (2, 0, 30));
        assert!(
            !root
                .path()
                .join("output/tiny/20260101_120000/tiny.t00,num1_eval.json")
                .exists()
        );
        assert!(
            root.path()
                .join("output/gemma3_1b/20260101_120000/gemma3_1b.t00,num1.txt")
                .exists()
        );
    }

    #[test]
    fn all_keeps_summaries_unless_asked() {
        let root = tree();
        let report = run(
            root.path(),
            &PurgeSpec {
                all: true,
                dry_run: false,
                ..spec()
            },
        );
        assert_eq!((report.files, report.folders), (8, 5));
        assert!(
            root.path()
                .join("output/Summaries/heatmap_live.csv")
                .exists()
        );
        assert!(!root.path().join("output/notes.md").exists());
        let report = run(
            root.path(),
            &PurgeSpec {
                all: true,
                summaries: true,
                dry_run: false,
                ..spec()
            },
        );
        assert_eq!((report.files, report.folders), (1, 1));
        assert!(root.path().join("output").is_dir(), "output/ itself stays");
        assert_eq!(fs::read_dir(root.path().join("output")).unwrap().count(), 0);
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_removed_as_links() {
        let root = tree();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("precious_eval.json"), "{}").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("output/tiny/link")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("output/linked_model"))
            .unwrap();
        let report = run(
            root.path(),
            &PurgeSpec {
                all: true,
                dry_run: false,
                ..spec()
            },
        );
        assert_eq!((report.files, report.folders), (10, 5));
        assert!(outside.path().join("precious_eval.json").exists());
        assert!(fs::symlink_metadata(root.path().join("output/linked_model")).is_err());
    }

    #[test]
    fn invalid_names_are_rejected() {
        let root = tree();
        let output = root.path().join("output");
        for model in ["..", "../x", "/etc", "a/../b", "", "C:\\x"] {
            let spec = PurgeSpec {
                models: vec![model.into()],
                ..spec()
            };
            assert!(plan(&output, &spec).is_err(), "{model:?}");
        }
        for session in ["..", "a/b", "/tmp", ""] {
            let spec = PurgeSpec {
                models: vec!["tiny".into()],
                sessions: vec![session.into()],
                ..spec()
            };
            let err = plan(&output, &spec).unwrap_err();
            assert!(
                err.message.starts_with("invalid session"),
                "{}",
                err.message
            );
        }
    }

    #[test]
    fn unknown_model_lists_known_ones() {
        let root = tree();
        let spec = PurgeSpec {
            models: vec!["llama".into()],
            ..spec()
        };
        let err = plan(&root.path().join("output"), &spec).unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotFound);
        assert!(
            err.message
                .ends_with("known models and folders: gemma3:1b, gemma3_1b, tiny"),
            "{}",
            err.message
        );
    }

    #[test]
    fn nothing_selected_is_rejected() {
        let root = tree();
        let err = plan(&root.path().join("output"), &spec()).unwrap_err();
        assert!(
            err.message.starts_with("nothing to purge"),
            "{}",
            err.message
        );
    }

    #[test]
    fn report_lists_at_most_fifty_paths() {
        let root = tempfile::tempdir().unwrap();
        let session = root.path().join("output/m/s");
        fs::create_dir_all(&session).unwrap();
        for i in 0..60 {
            fs::write(session.join(format!("m.t00,num{i}.txt")), "x").unwrap();
        }
        let report = run(
            root.path(),
            &PurgeSpec {
                all: true,
                ..spec()
            },
        );
        assert_eq!((report.files, report.folders, report.bytes), (60, 2, 60));
        assert_eq!(report.paths.len(), MAX_LISTED_PATHS);
    }
}
