//! heatmapctl, the command-line client of heatmapd.

mod cli;
mod client;
mod cmd;
#[cfg(all(test, unix))]
mod e2e_tests;
mod exit;
mod output;
mod parse;
mod progress;
mod render;
#[cfg(test)]
mod testing;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;
use crate::cmd::Action;
use crate::output::Output;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("heatmapctl: failed to start the async runtime: {error}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut out = stdout.lock();
    let mut err = stderr.lock();
    let result = runtime.block_on(run(cli, &mut out, &mut err));
    let _ = out.flush();
    match result {
        Ok(()) => ExitCode::from(exit::SUCCESS),
        // The reader of stdout went away, as with `heatmapctl list | head -1`, so the rest of the output is dropped.
        Err(error) if exit::is_broken_pipe(&error) => ExitCode::from(exit::SUCCESS),
        Err(error) => {
            let message = format!("{error:#}");
            if !message.is_empty() {
                let _ = writeln!(err, "heatmapctl: {message}");
            }
            let code = exit::code_for_error(&error);
            // Scripts that read --json output get this failure as JSON too, in the
            // same shape as an error response from the daemon.
            if json && code == exit::NOT_RUNNING {
                let value =
                    serde_json::json!({"Error": {"kind": "NotRunning", "message": message}});
                let _ = writeln!(out, "{value}");
                let _ = out.flush();
            }
            ExitCode::from(code)
        }
    }
}

/// Resolves the command, connects to heatmapd and runs the command.
async fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<()> {
    let socket = cli
        .socket
        .clone()
        .unwrap_or_else(heatmap_proto::socket::default_socket);
    let ollama_host = std::env::var("OLLAMA_HOST").ok();
    let (action, warnings) = Action::from_command(cli.command, ollama_host.as_deref())?;

    let mut output = Output {
        out,
        err,
        json: cli.json,
        progress_bars: true,
        program: program_name(&socket),
    };
    for warning in warnings {
        output.warn(warning);
    }

    let mut connection = client::connect(&socket).await?;
    action
        .run(&mut connection, &mut output, &socket, interrupted())
        .await
}

/// Completes when the user presses Ctrl-C, or never if the handler cannot be installed.
async fn interrupted() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Returns how hints should spell the command: with `--socket` only when the
/// socket differs from the one heatmapctl finds without it.
fn program_name(socket: &Path) -> String {
    if socket == heatmap_proto::socket::default_socket() {
        "heatmapctl".to_string()
    } else {
        format!("heatmapctl --socket {}", socket.display())
    }
}
