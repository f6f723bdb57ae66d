//! Measures how soon the watcher rewrites `heatmap_live.csv` after a new
//! grade is renamed into place.
//!
//! Usage: `watch_bench OUTPUT [TRIALS]`. Starts `watch::spawn` on OUTPUT,
//! then per trial writes one new grade to a temporary file, renames it into
//! a session folder and times until the refresh that counts it. Prints one
//! line per trial and then the median in milliseconds alone on the last line.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use heatmapd::watch;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let output = PathBuf::from(
        args.next()
            .ok_or_else(|| anyhow::anyhow!("usage: watch_bench OUTPUT [TRIALS]"))?,
    );
    let trials: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(9);

    let started = Instant::now();
    let handle = watch::spawn(output.clone())?;
    let mut status = handle
        .wait_for_generation(1, Duration::from_secs(120))
        .ok_or_else(|| anyhow::anyhow!("no initial refresh within 120 s"))?;
    eprintln!(
        "initial scan: {:.0} ms for {} grades",
        started.elapsed().as_secs_f64() * 1000.0,
        status.counts.graded + status.counts.unscored
    );

    let session = output.join("bench_model/20260101_000000");
    std::fs::create_dir_all(&session)?;
    // Let the watch on the new folder settle before timing.
    std::thread::sleep(Duration::from_millis(300));
    status = handle.status();

    let mut times = Vec::with_capacity(trials);
    for trial in 1..=trials {
        let name = format!("bench_model.t07,numbench{trial}_eval.json");
        let mut temp = tempfile::Builder::new()
            .prefix(".tmp-")
            .suffix(".part")
            .tempfile_in(&session)?;
        write!(
            temp,
            r#"{{"model": "bench-model", "temperature": 0.7, "accuracy": 1.0}}"#
        )?;
        temp.as_file().sync_data()?;

        let before = status.counts.graded;
        let renamed = Instant::now();
        temp.persist(session.join(&name))?;
        loop {
            status = handle
                .wait_for_generation(status.generation + 1, Duration::from_secs(10))
                .ok_or_else(|| anyhow::anyhow!("trial {trial}: no refresh within 10 s"))?;
            if status.counts.graded > before {
                break;
            }
        }
        let elapsed = renamed.elapsed().as_secs_f64() * 1000.0;
        eprintln!("trial {trial}: heatmap_live.csv rewritten {elapsed:.1} ms after the rename");
        times.push(elapsed);
        std::thread::sleep(Duration::from_millis(200));
    }
    handle.stop();
    std::fs::remove_dir_all(output.join("bench_model"))?;

    times.sort_by(f64::total_cmp);
    println!("{:.1}", times[times.len() / 2]);
    Ok(())
}
