use std::fs;

use super::*;
use crate::aggregate::heatmap::render_csv;
use crate::layout::write_atomic;

fn write(output: &Path, rel: &str, text: &str) -> PathBuf {
    let path = output.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    write_atomic(&path, text.as_bytes()).unwrap();
    path
}

fn csv(index: &LiveIndex) -> String {
    render_csv(&index.table())
}

#[test]
fn build_matches_tree() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path();
    write(output, "m/s/session.json", r#"{"model": "real:1b"}"#);
    write(output, "m/s/m.t00,num1_eval.json", r#"{"accuracy": 1}"#);
    write(output, "m/s/m.t00,num2_eval.json", r#"{"accuracy": 0}"#);
    write(output, "m/s/m.t05,num1_eval.json", "{");
    write(output, "m/s/m.t05,num2_eval.json", "{}");
    write(
        output,
        "Summaries/x.json",
        r#"{"accuracy": 0, "temperature": 0}"#,
    );
    let index = LiveIndex::build(output).unwrap();
    assert_eq!(csv(&index), "Model,0\nreal:1b,0.5000\n");
    assert_eq!(
        index.counts(),
        LiveCounts {
            graded: 2,
            unscored: 1,
            invalid: 1
        }
    );
}

#[test]
fn apply_reads_only_changed_files() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path();
    let first = write(output, "m/s/m.t00,num1_eval.json", r#"{"accuracy": 1}"#);
    let mut index = LiveIndex::build(output).unwrap();

    let added = write(output, "m/s/m.t10,num1_eval.json", r#"{"accuracy": 0.5}"#);
    let stats = index.apply([added.as_path(), first.as_path()]);
    assert_eq!(
        stats,
        UpdateStats {
            read: 1,
            changed: 1
        }
    );
    assert_eq!(csv(&index), "Model,0,1\nm,1.0000,0.5000\n");

    write(output, "m/s/m.t10,num1_eval.json", r#"{"accuracy": 0.25}"#);
    index.apply([added.as_path()]);
    assert_eq!(csv(&index), "Model,0,1\nm,1.0000,0.2500\n");

    fs::remove_file(&added).unwrap();
    let stats = index.apply([added.as_path()]);
    assert_eq!(
        stats,
        UpdateStats {
            read: 0,
            changed: 1
        }
    );
    assert_eq!(csv(&index), "Model,0\nm,1.0000\n");
}

#[test]
fn apply_ignores_summaries_and_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path();
    write(output, "m/s/m.t00,num1_eval.json", r#"{"accuracy": 1}"#);
    let mut index = LiveIndex::build(output).unwrap();
    let summary = write(output, "Summaries/heatmap_live.csv", "Model\n");
    let temp = write(output, "m/s/.tmp-x.part", r#"{"accuracy": 0}"#);
    let answer = write(output, "m/s/m.t00,num1.txt", "Paris");
    let outside = dir.path().parent().unwrap().join("elsewhere.json");
    let stats = index.apply([
        summary.as_path(),
        temp.as_path(),
        answer.as_path(),
        outside.as_path(),
    ]);
    assert_eq!(stats, UpdateStats::default());
}

#[test]
fn folder_events_refresh_subtrees() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path();
    write(output, "a/s/a.t00,num1_eval.json", r#"{"accuracy": 1}"#);
    let mut index = LiveIndex::build(output).unwrap();

    write(output, "b/s2/session.json", r#"{"model": "bee"}"#);
    write(output, "b/s2/b.t00,num1_eval.json", r#"{"accuracy": 0}"#);
    write(output, "b/s2/b.t00,num2_eval.json", r#"{"accuracy": 1}"#);
    let stats = index.apply([output.join("b").as_path()]);
    assert_eq!(
        stats,
        UpdateStats {
            read: 2,
            changed: 2
        }
    );
    assert_eq!(csv(&index), "Model,0\na,1.0000\nbee,0.5000\n");

    write(output, "b/s2/session.json", r#"{"model": "bee:7b"}"#);
    index.apply([output.join("b/s2/session.json").as_path()]);
    assert_eq!(csv(&index), "Model,0\na,1.0000\nbee:7b,0.5000\n");

    fs::rename(output.join("b"), output.join("c")).unwrap();
    index.apply([output.join("b").as_path(), output.join("c").as_path()]);
    assert_eq!(csv(&index), "Model,0\na,1.0000\nbee:7b,0.5000\n");
    assert_eq!(index.counts().graded, 3);

    fs::remove_dir_all(output.join("c")).unwrap();
    index.apply([output.join("c").as_path()]);
    assert_eq!(csv(&index), "Model,0\na,1.0000\n");
}

#[test]
fn rescan_reads_only_changed_files() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path();
    for n in 0..5 {
        write(
            output,
            &format!("m/s/m.t00,num{n}_eval.json"),
            r#"{"accuracy": 1}"#,
        );
    }
    let mut index = LiveIndex::build(output).unwrap();
    assert_eq!(index.rescan().unwrap(), UpdateStats::default());
    write(output, "m/s/m.t00,num0_eval.json", r#"{"accuracy": 0}"#);
    fs::remove_file(output.join("m/s/m.t00,num1_eval.json")).unwrap();
    assert_eq!(
        index.rescan().unwrap(),
        UpdateStats {
            read: 1,
            changed: 2
        }
    );
    assert_eq!(csv(&index), "Model,0\nm,0.7500\n");
}

#[test]
fn live_csv_matches_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path();
    for n in 0..40 {
        let accuracy = f64::from(n % 7) / 7.0;
        write(
            output,
            &format!("m{}/s/m.t0{},num{n}_eval.json", n % 3, n % 4),
            &format!(r#"{{"accuracy": {accuracy}}}"#),
        );
    }
    let index = LiveIndex::build(output).unwrap();
    let written = index.write_csv(&csv(&index)).unwrap();
    assert_eq!(written, output.join("Summaries/heatmap_live.csv"));
    let report = crate::aggregate::snapshot(output, &crate::aggregate::Scope::All).unwrap();
    assert_eq!(
        fs::read_to_string(written).unwrap(),
        fs::read_to_string(report.heatmap_csv).unwrap()
    );
    assert!(
        crate::aggregate::index::load(output)
            .unwrap()
            .unwrap()
            .values()
            .all(|e| e.filename != LIVE_CSV)
    );
}

#[test]
fn recreated_folder_is_read_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path();
    let grade = write(output, "m/s/m.t00,num1_eval.json", r#"{"accuracy": 1}"#);
    let mut index = LiveIndex::build(output).unwrap();
    write(output, "m/s/m.t00,num1_eval.json", r#"{"accuracy": 0.5}"#);
    index.apply([grade.as_path()]);
    assert_eq!(csv(&index), "Model,0\nm,0.5000\n");

    fs::rename(output.join("m/s"), output.join("m/old")).unwrap();
    write(output, "m/s/m.t00,num1_eval.json", r#"{"accuracy": 0}"#);
    index.apply([grade.as_path()]);
    assert_eq!(csv(&index), "Model,0\nm,0.0000\n");
}
