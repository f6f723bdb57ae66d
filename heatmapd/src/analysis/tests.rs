use std::fs;

use super::*;

const HEATMAP: &str = "Model,0,0.5,1,2\n\
    rising,0.2000,,0.6000,0.7000\n\
    zero start,0.0000,0.0000,0.5000,\n\
    single,,0.9000,,\n\
    falling,1.0000,,,0.0000\n\
    flat,0.5000,0.5000,0.5000,0.5000\n";

/// Writes a heatmap CSV and registers it in the index under `id`.
fn register(output: &Path, id: &str, text: &str) {
    let summaries = output.join("Summaries");
    fs::create_dir_all(&summaries).unwrap();
    let filename = format!("heatmap_{id}.csv");
    fs::write(summaries.join(&filename), text).unwrap();
    let mut index: serde_json::Map<String, serde_json::Value> =
        fs::read(summaries.join("csv_index.json"))
            .map(|bytes| serde_json::from_slice(&bytes).unwrap())
            .unwrap_or_default();
    index.insert(
        id.to_string(),
        serde_json::json!({
            "id": id, "filename": filename, "path": summaries.join(&filename),
            "created_at": format!("2026-01-01T12:00:0{}+00:00", index.len()), "temps": [0.0]
        }),
    );
    fs::write(
        summaries.join("csv_index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
}

fn read(output: &Path, name: &str) -> String {
    fs::read_to_string(output.join("Summaries").join(name)).unwrap()
}

#[test]
fn derive_writes_csvs_and_pictures() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path();
    register(output, "abcd1234", HEATMAP);
    let reports = derive(output, &["abcd1234".to_string()], false).unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].id, "abcd1234");
    assert_eq!(reports[0].files.len(), 6);
    for name in [
        "derivative_abcd1234.svg",
        "pct_change_abcd1234.svg",
        "trends_abcd1234.svg",
    ] {
        let path = output.join("graphs").join(name);
        assert!(
            reports[0]
                .files
                .contains(&path.to_string_lossy().into_owned()),
            "{name}"
        );
        let svg = fs::read_to_string(&path).unwrap();
        assert!(svg.contains("rising"), "{name}");
        assert!(svg.contains("zero start"), "{name}");
    }
    let trends = fs::read_to_string(output.join("graphs/trends_abcd1234.svg")).unwrap();
    assert!(trends.contains("0.2500"), "rising slope missing");
    assert!(trends.contains("-0.5000"), "falling slope missing");

    assert_eq!(
        read(output, "heatmap_derivative_abcd1234.csv"),
        "Model,0,0.5,1,2\n\
         rising,0.4000,,0.2500,0.1000\n\
         zero start,0.0000,0.5000,1.0000,\n\
         single,,,,\n\
         falling,-0.5000,,,-0.5000\n\
         flat,0.0000,0.0000,0.0000,0.0000\n"
    );
    assert_eq!(
        read(output, "heatmap_pct_change_abcd1234.csv"),
        "Model,0,0.5,1,2\n\
         rising,,,200.0000,16.6667\n\
         zero start,,0.0000,INF,\n\
         single,,,,\n\
         falling,,,,-100.0000\n\
         flat,,0.0000,0.0000,0.0000\n"
    );
    assert_eq!(
        read(output, "heatmap_trends_abcd1234.csv"),
        "Model,slope,intercept,direction,r_squared\n\
         rising,0.2500,0.2500,Positive,0.8929\n\
         zero start,0.5000,-0.0833,Positive,0.7500\n\
         single,,,,\n\
         falling,-0.5000,1.0000,Negative,1.0000\n\
         flat,0.0000,0.5000,Neutral,1.0000\n"
    );
}

#[test]
fn derive_all_in_creation_order() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path();
    register(output, "bbbb0000", "Model,0,1\nm,0.5,1\n");
    register(output, "aaaa0000", "Model,0,1\nm,1,0.5\n");
    let reports = derive(output, &[], true).unwrap();
    let ids: Vec<&str> = reports.iter().map(|report| report.id.as_str()).collect();
    assert_eq!(ids, ["bbbb0000", "aaaa0000"]);
    assert_eq!(
        read(output, "heatmap_trends_aaaa0000.csv"),
        "Model,slope,intercept,direction,r_squared\nm,-0.5000,1.0000,Negative,1.0000\n"
    );
}

#[test]
fn unknown_id_lists_known_ids() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path();
    register(output, "abcd1234", HEATMAP);
    let err = derive(output, &["ffff0000".to_string()], false).unwrap_err();
    assert_eq!(
        err.to_string(),
        "heatmap id not found: ffff0000; known ids: abcd1234"
    );
}

#[test]
fn derive_argument_errors() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path();
    assert!(matches!(
        derive(output, &[], false),
        Err(AnalysisError::NoIds)
    ));
    assert!(matches!(
        derive(output, &[], true),
        Err(AnalysisError::NoSnapshots { .. })
    ));
    let err = derive(output, &["x".to_string()], false).unwrap_err();
    assert_eq!(err.to_string(), "heatmap id not found: x; known ids: none");
}

#[test]
fn unsafe_ids_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path();
    register(output, "abcd1234", HEATMAP);
    let index_path = output.join("Summaries/csv_index.json");
    let text = fs::read_to_string(&index_path)
        .unwrap()
        .replace("\"abcd1234\":", "\"../escape\":");
    fs::write(&index_path, text).unwrap();
    let err = derive(output, &[], true).unwrap_err();
    assert!(matches!(err, AnalysisError::InvalidId { .. }), "{err}");
}

#[test]
fn missing_csv_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path();
    register(output, "abcd1234", HEATMAP);
    fs::remove_file(output.join("Summaries/heatmap_abcd1234.csv")).unwrap();
    let err = derive(output, &["abcd1234".to_string()], false).unwrap_err();
    assert!(
        matches!(&err, AnalysisError::Read { path, .. } if path.ends_with("Summaries/heatmap_abcd1234.csv")),
        "{err}"
    );
}

#[test]
fn derive_reads_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path();
    let grade = |rel: &str, accuracy: f64| {
        let path = output.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, format!(r#"{{"accuracy": {accuracy}}}"#)).unwrap();
    };
    grade("m/s/m.t00,num1_eval.json", 1.0);
    grade("m/s/m.t05,num1_eval.json", 0.5);
    grade("m/s/m.t10,num1_eval.json", 0.0);
    let report = crate::aggregate::snapshot(output, &crate::aggregate::Scope::All).unwrap();
    let id = report.id.unwrap();
    derive(output, std::slice::from_ref(&id), false).unwrap();
    assert_eq!(
        read(output, &format!("heatmap_derivative_{id}.csv")),
        "Model,0,0.5,1\nm,-1.0000,-1.0000,-1.0000\n"
    );
}
