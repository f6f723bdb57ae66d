//! Runs a fake inference server on a loopback port for manual checks. It
//! serves Ollama's and the OpenAI-compatible API and replies to every
//! generation request with the same text.
//!
//! Usage: `fake-server [--port PORT] [--text TEXT] [--delay-ms MS] MODEL...`

use std::time::Duration;

use anyhow::{Context, bail};
use heatmap_tests::fake::{FakeConfig, FakeReply, FakeServer};

const USAGE: &str = "usage: fake-server [--port PORT] [--text TEXT] [--delay-ms MS] MODEL...";

fn main() -> anyhow::Result<()> {
    let mut port = 0u16;
    let mut text = "Paris".to_owned();
    let mut delay = Duration::ZERO;
    let mut models = Vec::new();

    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                let value = args.next().context("--port needs a value")?;
                port = value
                    .parse()
                    .with_context(|| format!("invalid --port {value:?}"))?;
            }
            "--text" => text = args.next().context("--text needs a value")?,
            "--delay-ms" => {
                let value = args.next().context("--delay-ms needs a value")?;
                let ms: u64 = value
                    .parse()
                    .with_context(|| format!("invalid --delay-ms {value:?}"))?;
                delay = Duration::from_millis(ms);
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            flag if flag.starts_with('-') => bail!("unknown option {flag:?}\n{USAGE}"),
            model => models.push(model.to_owned()),
        }
    }
    if models.is_empty() {
        models.push("fake-model".to_owned());
    }

    let config = FakeConfig::new(models.clone(), move |_| FakeReply::text(text.clone()))
        .delay(delay)
        .port(port);
    let server = FakeServer::try_start(config)
        .with_context(|| format!("failed to start the fake server on 127.0.0.1:{port}"))?;
    println!("{}", server.url());
    eprintln!("serving models {}; press Ctrl-C to stop", models.join(", "));
    loop {
        std::thread::park();
    }
}
