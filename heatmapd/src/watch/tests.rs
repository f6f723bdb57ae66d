use std::fs;

use super::*;
use crate::layout::write_atomic;

const TIMEOUT: Duration = Duration::from_secs(10);

fn write(output: &Path, rel: &str, text: &str) {
    let path = output.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    write_atomic(&path, text.as_bytes()).unwrap();
}

fn live_csv(handle: &WatchHandle) -> String {
    fs::read_to_string(handle.csv_path()).unwrap()
}

/// Waits for the refresh after `generation` and returns its status.
fn next_refresh(handle: &WatchHandle, generation: u64) -> LiveStatus {
    handle
        .wait_for_generation(generation + 1, TIMEOUT)
        .unwrap_or_else(|| panic!("no refresh after generation {generation} within {TIMEOUT:?}"))
}

#[test]
fn new_grade_rewrites_live_csv() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path();
    write(output, "m/s/session.json", r#"{"model": "real:1b"}"#);
    write(output, "m/s/m.t00,num1_eval.json", r#"{"accuracy": 1}"#);
    let handle = spawn(output.to_path_buf()).unwrap();
    let first = next_refresh(&handle, 0);
    assert_eq!(first.counts.graded, 1);
    assert_eq!(live_csv(&handle), "Model,0\nreal:1b,1.0000\n");

    write(output, "m/s/m.t05,num1_eval.json", r#"{"correct": false}"#);
    let second = next_refresh(&handle, first.generation);
    assert_eq!(second.counts.graded, 2);
    assert_eq!(second.files_read, 1);
    assert_eq!(live_csv(&handle), "Model,0,0.5\nreal:1b,1.0000,0.0000\n");

    fs::remove_file(output.join("m/s/m.t00,num1_eval.json")).unwrap();
    let third = next_refresh(&handle, second.generation);
    assert_eq!(third.counts.graded, 1);
    assert_eq!(live_csv(&handle), "Model,0.5\nreal:1b,0.0000\n");
    handle.stop();
}

#[test]
fn new_session_folder_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path();
    let handle = spawn(output.to_path_buf()).unwrap();
    let first = next_refresh(&handle, 0);
    assert_eq!(live_csv(&handle), "Model\n");

    write(output, "b/s2/session.json", r#"{"model": "bee"}"#);
    write(output, "b/s2/b.t10,num1_eval.json", r#"{"accuracy": 0.5}"#);
    let mut status = next_refresh(&handle, first.generation);
    // The session file and the grade may land in separate refreshes.
    while status.counts.graded < 1 {
        status = next_refresh(&handle, status.generation);
    }
    assert_eq!(live_csv(&handle), "Model,1\nbee,0.5000\n");
}

#[test]
fn summary_writes_do_not_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path();
    write(output, "m/s/m.t00,num1_eval.json", r#"{"accuracy": 1}"#);
    let handle = spawn_with(
        output.to_path_buf(),
        WatchOptions {
            debounce: Duration::from_millis(20),
            rescan_interval: Duration::from_secs(300),
        },
    )
    .unwrap();
    let first = next_refresh(&handle, 0);
    write(
        output,
        "Summaries/notes.json",
        r#"{"accuracy": 0, "temperature": 0}"#,
    );
    write(
        output,
        "graphs/x.json",
        r#"{"accuracy": 0, "temperature": 0}"#,
    );
    write(output, "m/s/m.t00,num1.txt", "Paris");
    // Nothing relevant changed, so no refresh may follow.
    assert_eq!(
        handle.wait_for_generation(first.generation + 1, Duration::from_millis(500)),
        None
    );
    assert_eq!(live_csv(&handle), "Model,0\nm,1.0000\n");
}

#[test]
fn live_picture_and_min_samples() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("output");
    fs::write(dir.path().join("settings.json"), r#"{"min_samples": 2}"#).unwrap();
    write(&output, "m/s/m.t00,num1_eval.json", r#"{"accuracy": 1}"#);
    write(&output, "m/s/m.t00,num2_eval.json", r#"{"accuracy": 0}"#);
    write(&output, "m/s/m.t05,num1_eval.json", r#"{"accuracy": 1}"#);
    let handle = spawn(output.clone()).unwrap();
    let first = next_refresh(&handle, 0);
    assert_eq!(live_csv(&handle), "Model,0,0.5\nm,0.5000,\n");
    assert_eq!(first.table.rows[0].counts, [2, 1]);
    let svg = fs::read_to_string(output.join("graphs").join(LIVE_SVG)).unwrap();
    assert!(svg.contains("live heatmap"), "{svg}");
    assert!(svg.contains("0.50"), "{svg}");
    assert!(svg.contains("n=1"), "{svg}");

    // The picture lies in graphs/, so writing it caused no further refresh.
    assert_eq!(
        handle.wait_for_generation(first.generation + 1, Duration::from_millis(500)),
        None
    );

    write(&output, "m/s/m.t05,num2_eval.json", r#"{"accuracy": 0}"#);
    next_refresh(&handle, first.generation);
    assert_eq!(live_csv(&handle), "Model,0,0.5\nm,0.5000,0.5000\n");
    let svg = fs::read_to_string(output.join("graphs").join(LIVE_SVG)).unwrap();
    assert!(svg.contains("n=2"), "{svg}");
    handle.stop();
}

#[test]
fn subscribers_see_refreshes() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path();
    let handle = spawn(output.to_path_buf()).unwrap();
    let mut receiver = handle.subscribe();
    let first = next_refresh(&handle, 0);
    write(output, "m/s/m.t00,num1_eval.json", r#"{"accuracy": 0.25}"#);
    next_refresh(&handle, first.generation);
    let latest = receiver.borrow_and_update().clone();
    assert!(latest.generation > first.generation);
    assert_eq!(latest.table.rows[0].cells, [Some(0.25)]);
}

#[test]
fn missing_output_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("output");
    let err = spawn(missing.clone()).unwrap_err();
    assert!(matches!(&err, WatchError::OutputNotFound { path } if *path == missing));
}

#[test]
fn watch_limit_message_names_sysctl() {
    let err = WatchError::from_notify(
        Path::new("/o"),
        notify::Error::new(notify::ErrorKind::MaxFilesWatch),
    );
    assert!(
        err.to_string().contains("fs.inotify.max_user_watches"),
        "{err}"
    );
}
