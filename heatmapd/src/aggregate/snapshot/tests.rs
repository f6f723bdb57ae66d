use std::fs;
use std::path::Path;

use super::*;

const SESSION: &str = "gemma3_1b/20260101_120000";

fn write(output: &Path, rel: &str, text: &str) {
    let path = output.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

/// Builds a small tree: our grades, a foreign tool's JSON, an invalid JSON,
/// a grade without accuracy, and files the scan must skip.
fn sample_tree(output: &Path) {
    write(
        output,
        &format!("{SESSION}/session.json"),
        r#"{"model": "gemma3:1b", "backend": "ollama"}"#,
    );
    write(
        output,
        &format!("{SESSION}/gemma3_1b.t00,num1_eval.json"),
        r#"{"temperature": 0.0, "prompt_id": "1", "accuracy": 1.0, "correct": true, "category": "geography"}"#,
    );
    write(
        output,
        &format!("{SESSION}/gemma3_1b.t00,num2_eval.json"),
        r#"{"correct": false, "category": "geography"}"#,
    );
    write(
        output,
        &format!("{SESSION}/gemma3_1b.t07,num1_eval.json"),
        r#"{"accuracy": 85}"#,
    );
    write(
        output,
        &format!("{SESSION}/gemma3_1b.t10,num3_eval.json"),
        "{ broken",
    );
    write(
        output,
        &format!("{SESSION}/gemma3_1b.t10,num4_eval.json"),
        r#"{"justification": "judge timed out"}"#,
    );
    write(
        output,
        &format!("{SESSION}/gemma3_1b.t07,num1.txt"),
        "Paris",
    );
    write(
        output,
        &format!("{SESSION}/gemma3_1b.t07,num1.thinking.txt"),
        "thinking",
    );
    write(
        output,
        &format!("{SESSION}/.tmp-abc.part"),
        r#"{"accuracy": 0}"#,
    );
    write(
        output,
        "othertool/run1/result.json",
        r#"{"model": "llama3.2:3b", "temp": 0.05, "verdict": "not factual", "question_id": 7}"#,
    );
    write(
        output,
        "Summaries/old.json",
        r#"{"accuracy": 0, "temperature": 0, "model": "x"}"#,
    );
    write(
        output,
        "specifics/x.json",
        r#"{"accuracy": 0, "temperature": 0, "model": "x"}"#,
    );
    write(
        output,
        "graphs/y.json",
        r#"{"accuracy": 0, "temperature": 0, "model": "x"}"#,
    );
}

fn only_file(dir: &Path, prefix: &str) -> String {
    let names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with(prefix))
        .collect();
    assert_eq!(names.len(), 1, "files starting with {prefix}: {names:?}");
    fs::read_to_string(dir.join(&names[0])).unwrap()
}

#[test]
fn snapshot_of_sample_tree() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("output");
    sample_tree(&output);
    let report = snapshot(&output, &Scope::All).unwrap();

    assert_eq!(report.graded, 4);
    assert_eq!(report.unscored, 1);
    assert_eq!(report.invalid, 1);
    let csv = fs::read_to_string(&report.heatmap_csv).unwrap();
    assert_eq!(
        csv,
        "Model,0,0.05,0.7\ngemma3:1b,0.5000,,0.8500\nllama3.2:3b,,0.0000,\n"
    );
    assert_eq!(report.table.temperatures, [0.0, 0.05, 0.7]);
    assert_eq!(report.table.rows[0].counts, [2, 0, 1]);
    assert_eq!(report.table.rows[1].counts, [0, 1, 0]);

    let specifics = output.join("specifics");
    assert_eq!(
        only_file(&specifics, "heatmap_geography_"),
        "Model,0\ngemma3:1b,0.5000\n"
    );
    assert_eq!(
        only_file(&specifics, "heatmap_Uncategorized_"),
        "Model,0.05,0.7\ngemma3:1b,,0.8500\nllama3.2:3b,0.0000,\n"
    );

    let summaries = output.join("Summaries");
    let invalid = fs::read_to_string(summaries.join("invalid_files.json")).unwrap();
    let invalid: serde_json::Value = serde_json::from_str(&invalid).unwrap();
    assert_eq!(invalid.as_array().unwrap().len(), 1);
    assert_eq!(
        invalid[0]["file"],
        "gemma3_1b/20260101_120000/gemma3_1b.t10,num3_eval.json"
    );
    assert!(
        invalid[0]["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON: ")
    );

    let valid = fs::read_to_string(summaries.join("super_valid.json")).unwrap();
    let valid: serde_json::Value = serde_json::from_str(&valid).unwrap();
    let valid = valid.as_array().unwrap();
    assert_eq!(valid.len(), 5);
    assert_eq!(
        valid[0],
        serde_json::json!({
            "file": "gemma3_1b/20260101_120000/gemma3_1b.t00,num1_eval.json",
            "model": "gemma3:1b", "temperature": 0.0, "prompt_id": "1",
            "category": "geography", "accuracy": 1.0
        })
    );
    assert_eq!(valid[3]["accuracy"], serde_json::Value::Null);
    assert_eq!(valid[3]["prompt_id"], "4");
    assert_eq!(valid[4]["model"], "llama3.2:3b");
    assert_eq!(valid[4]["prompt_id"], "7");

    let id = report.id.unwrap();
    let entries = index::load(&output).unwrap().unwrap();
    assert_eq!(entries[&id].temps, [0.0, 0.05, 0.7]);
    assert_eq!(
        Path::new(&entries[&id].path),
        Path::new(&report.heatmap_csv)
    );
    assert!(entries[&id].filename.starts_with("heatmap_"));
    assert_eq!(report.files.len(), 8);
    let stamp = Path::new(&report.heatmap_csv)
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .trim_start_matches("heatmap_")
        .to_string();
    for name in [
        format!("heatmap_{stamp}.svg"),
        format!("accuracy_{stamp}.svg"),
    ] {
        let path = output.join("graphs").join(&name);
        assert!(
            report.files.contains(&path.to_string_lossy().into_owned()),
            "{name}"
        );
        let svg = fs::read_to_string(&path).unwrap();
        assert!(svg.contains("gemma3:1b"), "{name}");
        assert!(svg.contains("llama3.2:3b"), "{name}");
    }

    let long_path = report.heatmap_csv.replace(".csv", "_long.csv");
    assert!(report.files.contains(&long_path), "{:?}", report.files);
    assert_eq!(
        fs::read_to_string(&long_path).unwrap(),
        "model,temperature,n_graded,n_unscored,mean_accuracy,wilson_low,wilson_high,\
         mean_tokens_out,tokens_per_second,mean_latency_ms,share_truncated\n\
         gemma3:1b,0,2,0,0.5000,0.0945,0.9055,,,,\n\
         gemma3:1b,0.7,1,0,0.8500,0.1501,0.9945,,,,\n\
         gemma3:1b,1,0,1,,,,,,,\n\
         llama3.2:3b,0.05,1,0,0.0000,0.0000,0.7935,,,,\n"
    );
}

#[test]
fn snapshot_long_csv_carries_measurements() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("output");
    write(
        &output,
        "m/s/m.t05,num1_eval.json",
        r#"{"accuracy": 1, "completion_tokens": 40, "latency_ms": 400,
            "tokens_per_second": 100, "finish_reason": "stop"}"#,
    );
    write(
        &output,
        "m/s/m.t05,num2_eval.json",
        r#"{"no_answer": true, "completion_tokens": 512, "latency_ms": 2600,
            "tokens_per_second": 196.9, "finish_reason": "length"}"#,
    );
    let report = snapshot(&output, &Scope::All).unwrap();
    let long = fs::read_to_string(report.heatmap_csv.replace(".csv", "_long.csv")).unwrap();
    assert_eq!(
        long.lines().nth(1),
        Some("m,0.5,1,1,1.0000,0.2065,1.0000,276.00,148.45,1500.00,0.5000")
    );
}

#[test]
fn snapshot_respects_min_samples() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("output");
    sample_tree(&output);
    fs::write(dir.path().join("settings.json"), r#"{"min_samples": 2}"#).unwrap();
    let report = snapshot(&output, &Scope::All).unwrap();
    assert_eq!(
        fs::read_to_string(&report.heatmap_csv).unwrap(),
        "Model,0,0.05,0.7\ngemma3:1b,0.5000,,\nllama3.2:3b,,,\n"
    );
    assert_eq!(report.table.rows[0].cells, [Some(0.5), None, None]);
    assert_eq!(report.table.rows[0].counts, [2, 0, 1]);
    assert_eq!(
        only_file(&output.join("specifics"), "heatmap_geography_"),
        "Model,0\ngemma3:1b,0.5000\n"
    );
    assert_eq!(
        only_file(&output.join("specifics"), "heatmap_Uncategorized_"),
        "Model,0.05,0.7\ngemma3:1b,,\nllama3.2:3b,,\n"
    );
}

#[test]
fn snapshot_rejects_invalid_settings() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("output");
    sample_tree(&output);
    fs::write(
        dir.path().join("settings.json"),
        r#"{"min_samples": "two"}"#,
    )
    .unwrap();
    let err = snapshot(&output, &Scope::All).unwrap_err();
    assert!(matches!(&err, AggregateError::Settings(_)), "{err}");
    assert!(err.to_string().contains("min_samples"), "{err}");
}

#[test]
fn snapshot_names_stay_unique() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("output");
    sample_tree(&output);
    let first = snapshot(&output, &Scope::All).unwrap();
    let second = snapshot(&output, &Scope::All).unwrap();
    assert_ne!(first.heatmap_csv, second.heatmap_csv);
    assert_ne!(first.id, second.id);
    assert_eq!(index::load(&output).unwrap().unwrap().len(), 2);
    // The second snapshot's own summaries were ignored by its scan.
    assert_eq!(second.graded, 4);
}

#[test]
fn snapshot_of_one_session() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("output");
    sample_tree(&output);
    let report = snapshot(&output, &Scope::Sessions(vec!["run1".into()])).unwrap();
    assert_eq!(
        fs::read_to_string(&report.heatmap_csv).unwrap(),
        "Model,0.05\nllama3.2:3b,0.0000\n"
    );
    assert_eq!(report.graded, 1);
    assert_eq!(report.invalid, 0);
}

#[test]
fn snapshot_without_categories_writes_no_specifics() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("output");
    write(&output, "m/s/m.t05,num1_eval.json", r#"{"accuracy": 0.25}"#);
    let report = snapshot(&output, &Scope::All).unwrap();
    assert_eq!(
        fs::read_to_string(&report.heatmap_csv).unwrap(),
        "Model,0.5\nm,0.2500\n"
    );
    assert!(!output.join("specifics").exists());
}

#[test]
fn snapshot_errors_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let err = snapshot(&missing, &Scope::All).unwrap_err();
    assert!(matches!(&err, AggregateError::OutputNotFound { path } if *path == missing));
    fs::create_dir(&missing).unwrap();
    let err = snapshot(&missing, &Scope::Sessions(vec!["20260101_000000".into()])).unwrap_err();
    assert!(
        matches!(&err, AggregateError::SessionNotFound { session, .. } if session == "20260101_000000")
    );
}
