//! Times `aggregate::snapshot` on an existing `output/` folder.
//!
//! Usage: `aggregate_bench OUTPUT [TRIALS]`. Prints one line per trial and
//! then the median in milliseconds alone on the last line, for scripts.
//! Each trial writes a new heatmap snapshot under `OUTPUT/Summaries/`.

use std::path::PathBuf;
use std::time::Instant;

use heatmapd::aggregate::{Scope, snapshot};

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let output = PathBuf::from(
        args.next()
            .ok_or_else(|| anyhow::anyhow!("usage: aggregate_bench OUTPUT [TRIALS]"))?,
    );
    let trials: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(5);

    let mut times = Vec::with_capacity(trials);
    for trial in 1..=trials {
        let started = Instant::now();
        let report = snapshot(&output, &Scope::All)?;
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        eprintln!(
            "trial {trial}: {elapsed:.1} ms, {} graded, {} unscored, {} invalid",
            report.graded, report.unscored, report.invalid
        );
        times.push(elapsed);
    }
    times.sort_by(f64::total_cmp);
    println!("{:.1}", times[times.len() / 2]);
    Ok(())
}
