//! The `heatmapd` binary: parses flags, takes the single-instance lock,
//! opens the queue, starts the watcher, the scheduler and the socket server,
//! and stops them cleanly on SIGTERM, SIGINT or a shutdown request.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use heatmapd::backend::RetryPolicy;
use heatmapd::config::{Settings, Workspace};
use heatmapd::lock::{LockError, PidLock};
use heatmapd::runner::Runner;
use heatmapd::store::Store;
use heatmapd::{grade, ipc, prompts, watch};
use tokio_util::sync::CancellationToken;

/// Format of log lines on stderr.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The heatmap daemon: runs temperature-grid benchmarks against local
/// inference servers and keeps the heatmaps of their grades up to date.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Workspace root holding prompts.csv, settings.json and output/.
    #[arg(long, default_value = ".", value_name = "DIR")]
    root: PathBuf,
    /// Socket path (Unix) or pipe name (Windows); defaults to the per-user runtime folder.
    #[arg(long, env = "HEATMAPD_SOCKET", value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Log format on stderr; RUST_LOG sets the level (default info).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Do not watch output/ for new grades.
    #[arg(long)]
    no_watch: bool,
    /// Attempts per item before it fails, counting the first.
    #[arg(long, default_value_t = 5, value_name = "N")]
    retry_attempts: u32,
    /// Seconds without a byte from a server before a request counts as failed (and is retried).
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    read_timeout: u64,
    /// First retry delay in milliseconds; later ones double, up to 30 s.
    #[arg(long, default_value_t = 500, value_name = "MS")]
    retry_base_ms: u64,
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_tracing(args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("heatmapd: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "heatmapd stopped with an error");
            eprintln!("heatmapd: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    if !args.root.is_dir() {
        bail!(
            "workspace root {} is not a folder; create it or pass --root DIR",
            args.root.display()
        );
    }
    let workspace = Workspace::new(&args.root).context("cannot resolve the workspace root")?;

    let pid_path = heatmap_proto::socket::runtime_dir().join("heatmapd.pid");
    let lock = match PidLock::acquire(&pid_path) {
        Ok(lock) => lock,
        Err(err @ LockError::Held { .. }) => bail!("{err}"),
        Err(err) => return Err(err).context("cannot take the single-instance lock"),
    };
    tracing::info!(pid = std::process::id(), root = %workspace.root.display(), version = env!("CARGO_PKG_VERSION"), "heatmapd starting");
    // A second lock inside the workspace keeps daemons of different runtime
    // folders (a service and a shell, say) from running one queue twice.
    let _workspace_lock = match PidLock::acquire(&workspace.state_dir().join("heatmapd.pid")) {
        Ok(lock) => lock,
        Err(LockError::Held { pid }) => {
            bail!(
                "another heatmapd is running on the workspace {} (pid {pid})",
                workspace.root.display()
            )
        }
        Err(err) => return Err(err).context("cannot take the workspace lock"),
    };

    std::fs::create_dir_all(workspace.output())
        .with_context(|| format!("cannot create {}", workspace.output().display()))?;
    let store = Store::open(&workspace.queue_db())?;
    let recovered = store.recover_running()?;
    if recovered > 0 {
        tracing::info!(
            items = recovered,
            "items left running by a previous daemon put back to pending"
        );
    }
    grade::judge::load_instructions(&workspace.evaluator_prompt());
    check_inputs(&workspace);

    // The watcher's first scan reads every grade, which takes seconds on a large tree,
    // so it runs in the background while the socket is served.
    let watching = Arc::new(AtomicBool::new(false));
    let watcher = if args.no_watch {
        None
    } else {
        let output = workspace.output();
        let watching = watching.clone();
        Some(tokio::task::spawn_blocking(move || {
            match watch::spawn(output) {
                Ok(handle) => {
                    watching.store(true, Ordering::Relaxed);
                    Some(handle)
                }
                Err(err) => {
                    tracing::error!(error = %err, "output watcher not started; heatmap_live.csv will not refresh");
                    None
                }
            }
        }))
    };

    let socket = args
        .socket
        .clone()
        .unwrap_or_else(heatmap_proto::socket::default_socket);
    let listener =
        ipc::bind(&socket).with_context(|| format!("cannot listen on {}", socket.display()))?;
    tracing::info!(socket = %socket.display(), "listening");

    heatmapd::backend::set_default_read_timeout(Duration::from_secs(args.read_timeout));
    let shutdown = CancellationToken::new();
    let retry = RetryPolicy {
        max_attempts: args.retry_attempts.max(1),
        base_delay: Duration::from_millis(args.retry_base_ms),
        ..RetryPolicy::default()
    };
    let runner = Runner::new(workspace.clone(), store, retry, shutdown.clone());
    let scheduler = tokio::spawn({
        let runner = runner.clone();
        async move { runner.run().await }
    });
    let server = Arc::new(ipc::Server {
        runner,
        shutdown: shutdown.clone(),
        started,
        watching,
    });
    let server_task = tokio::spawn(ipc::serve(listener, server));

    notify_systemd(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status("ready"),
    ]);
    spawn_watchdog(shutdown.clone());
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "heatmapd ready"
    );

    wait_for_signal(&shutdown).await;
    notify_systemd(&[sd_notify::NotifyState::Stopping]);
    shutdown.cancel();
    if tokio::time::timeout(Duration::from_secs(15), scheduler)
        .await
        .is_err()
    {
        tracing::warn!("scheduler did not stop within 15 s");
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), server_task).await;
    if let Some(watcher) = watcher {
        // Dropping the handle stops the watcher thread.
        drop(watcher.await);
    }
    drop(lock);
    tracing::info!("heatmapd stopped");
    Ok(())
}

/// Logs problems with prompts.csv and settings.json at start; jobs report them again at submit.
fn check_inputs(workspace: &Workspace) {
    if let Err(err) = Settings::load(&workspace.settings()) {
        tracing::warn!(error = %err, "settings.json is invalid; submits that use it will be rejected");
    }
    if workspace.prompts().exists() {
        match prompts::load(&workspace.prompts(), Some(&workspace.prompt_categories())) {
            Ok(list) => tracing::info!(prompts = list.len(), "prompts.csv read"),
            Err(err) => {
                tracing::warn!(error = %err, "prompts.csv is invalid; fix it before submitting")
            }
        }
    } else {
        tracing::warn!(path = %workspace.prompts().display(), "no prompts.csv in the workspace; add one before submitting");
    }
}

fn notify_systemd(states: &[sd_notify::NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_some()
        && let Err(err) = sd_notify::notify(false, states)
    {
        tracing::warn!(error = %err, "cannot notify systemd");
    }
}

/// Pings the systemd watchdog at half its interval while the runtime is alive.
fn spawn_watchdog(shutdown: CancellationToken) {
    let mut usec = 0;
    if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
        return;
    }
    let period = Duration::from_micros(usec / 2);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(period) => notify_systemd(&[sd_notify::NotifyState::Watchdog]),
                _ = shutdown.cancelled() => return,
            }
        }
    });
}

async fn wait_for_signal(shutdown: &CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
        let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler installs");
        tokio::select! {
            _ = term.recv() => tracing::info!(signal = "SIGTERM", "stopping"),
            _ = int.recv() => tracing::info!(signal = "SIGINT", "stopping"),
            _ = shutdown.cancelled() => {}
        }
    }
    #[cfg(not(unix))]
    {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!(signal = "ctrl-c", "stopping"),
            _ = shutdown.cancelled() => {}
        }
    }
}
