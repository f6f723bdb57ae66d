//! Measures the round trip of a `Status` request to a running heatmapd.
//!
//! Usage: `cargo run --release -p heatmap-tests --example ipc_latency -- SOCKET [COUNT]`

use std::path::PathBuf;
use std::time::Instant;

use heatmap_proto::Request;
use heatmap_proto::socket::Connection;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let socket = PathBuf::from(
        args.next()
            .ok_or_else(|| anyhow::anyhow!("usage: ipc_latency SOCKET [COUNT]"))?,
    );
    let count: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(2000);
    let mut connection = Connection::connect(&socket).await?;
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        connection.call(&Request::Status).await?;
        samples.push(started.elapsed().as_secs_f64() * 1e6);
    }
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    println!("status round trips: {count}");
    println!(
        "median_us={:.1} p90_us={:.1} p99_us={:.1}",
        at(0.5),
        at(0.9),
        at(0.99)
    );
    Ok(())
}
