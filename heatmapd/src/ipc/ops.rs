//! Requests on the workspace that are not jobs: settings, stats, purge,
//! show, pull and the temperature canary.

use heatmap_proto::frame::FrameError;
use heatmap_proto::{BackendKind, ErrorKind, Event, PurgeSpec, Response};
use tokio::io::AsyncWrite;
use tokio_util::sync::CancellationToken;

use super::{Server, send};
use crate::backend::{BackendError, Client};
use crate::config::{Settings, SettingsError};
use crate::ops;
use crate::runner::ApiError;

/// Highest temperature the canary accepts, as for jobs.
const MAX_CANARY_TEMPERATURE: f64 = 100.0;

fn error(err: ApiError) -> Response {
    Response::Error {
        kind: err.kind,
        message: err.message,
    }
}

fn settings_error(err: SettingsError) -> Response {
    let kind = match err {
        SettingsError::Io { .. } => ErrorKind::Internal,
        SettingsError::Json { .. } | SettingsError::Invalid { .. } => ErrorKind::InvalidRequest,
    };
    Response::Error {
        kind,
        message: err.to_string(),
    }
}

fn panicked(what: &str, err: tokio::task::JoinError) -> Response {
    tracing::error!(error = %err, "{what} panicked");
    Response::Error {
        kind: ErrorKind::Internal,
        message: format!("{what} panicked: {err}; see the heatmapd log"),
    }
}

/// Shows `settings.json`.
pub(super) fn get_settings(server: &Server) -> Response {
    match ops::settings::view(server.runner.workspace()) {
        Ok(view) => Response::Settings(view),
        Err(err) => {
            tracing::warn!(error = %err, "cannot show settings");
            settings_error(err)
        }
    }
}

/// Validates and writes settings.
pub(super) fn set_settings(server: &Server, pairs: Vec<(String, String)>) -> Response {
    let keys: Vec<&str> = pairs.iter().map(|(key, _)| key.as_str()).collect();
    match ops::settings::set(server.runner.workspace(), &pairs) {
        Ok(view) => {
            tracing::info!(keys = ?keys, "settings changed");
            Response::Settings(view)
        }
        Err(err) => {
            tracing::warn!(keys = ?keys, error = %err, "settings change rejected");
            settings_error(err)
        }
    }
}

/// Counts files, grades and timings.
pub(super) async fn stats(server: &Server) -> Response {
    let output = server.runner.workspace().output();
    let store = server.runner.store().clone();
    match tokio::task::spawn_blocking(move || ops::stats::report(&output, &store)).await {
        Ok(Ok(report)) => Response::Stats(report),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "stats failed");
            Response::Error {
                kind: ErrorKind::Internal,
                message: err.to_string(),
            }
        }
        Err(err) => panicked("stats", err),
    }
}

/// Lists or removes files under `output/`.
pub(super) async fn purge(server: &Server, spec: PurgeSpec) -> Response {
    let workspace = server.runner.workspace().clone();
    let store = server.runner.store().clone();
    let logged = spec.clone();
    let work = move || -> Result<heatmap_proto::PurgeReport, ApiError> {
        let plan = ops::purge::plan(&workspace.output(), &spec)?;
        ops::purge::check_jobs(&plan, &spec, &store.jobs()?)?;
        ops::purge::execute(&plan, &workspace.root, spec.dry_run)
    };
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(report)) => {
            if !report.dry_run {
                tracing::info!(
                    models = ?logged.models, sessions = ?logged.sessions, grades = logged.grades, all = logged.all,
                    summaries = logged.summaries, files = report.files, folders = report.folders, bytes = report.bytes,
                    "purged"
                );
            }
            Response::Purged(report)
        }
        Ok(Err(err)) => {
            tracing::warn!(models = ?logged.models, sessions = ?logged.sessions, error = %err, "purge rejected");
            error(err)
        }
        Err(err) => panicked("purge", err),
    }
}

/// Reads a heatmap CSV into a table.
pub(super) async fn show(server: &Server, id: String) -> Response {
    let output = server.runner.workspace().output();
    let logged = id.clone();
    match tokio::task::spawn_blocking(move || ops::show::show(&output, &id)).await {
        Ok(Ok(view)) => Response::Heatmap(view),
        Ok(Err(err)) => {
            tracing::warn!(heatmap = %logged, error = %err, "show failed");
            error(err)
        }
        Err(err) => panicked("show", err),
    }
}

/// Runs the temperature canary for one model.
pub(super) async fn canary(
    server: &Server,
    backend: BackendKind,
    url: String,
    model: String,
    high_temperature: Option<f64>,
) -> Response {
    let high = match high_temperature {
        Some(high) => high,
        None => match Settings::load(&server.runner.workspace().settings()) {
            Ok(settings) => settings.temperatures().last().copied().unwrap_or(0.0),
            Err(err) => {
                tracing::warn!(model = %model, error = %err, "canary: cannot read settings");
                return settings_error(err);
            }
        },
    };
    if !high.is_finite() || high <= 0.0 || high > MAX_CANARY_TEMPERATURE {
        let message = format!(
            "invalid high temperature {high} for the canary: it must be above 0 and at most {MAX_CANARY_TEMPERATURE}; \
             pass --high T or raise temp_max in settings.json"
        );
        tracing::warn!(model = %model, high, "canary rejected");
        return Response::Error {
            kind: ErrorKind::InvalidRequest,
            message,
        };
    }
    let client = match Client::new(backend, &url) {
        Ok(client) => client,
        Err(err) => {
            tracing::warn!(model = %model, url = %url, error = %err, "canary rejected");
            return Response::Error {
                kind: ErrorKind::InvalidRequest,
                message: err.to_string(),
            };
        }
    };
    let cancel = server.shutdown.child_token();
    match ops::canary::run(&client, &model, high, &cancel).await {
        Ok(report) => {
            tracing::info!(model = %model, url = %url, honours = report.honours_temperature, "temperature canary");
            Response::Canary(report)
        }
        Err(err) => {
            tracing::warn!(model = %model, url = %url, error = %err, "temperature canary failed");
            Response::Error {
                kind: backend_kind(&err),
                message: err.to_string(),
            }
        }
    }
}

/// Pulls a model through Ollama, streaming its progress as [`Event::Pull`].
pub(super) async fn pull<W: AsyncWrite + Unpin + Send>(
    server: &Server,
    url: String,
    model: String,
    writer: &mut W,
) -> Result<(), FrameError> {
    let client = match Client::new(BackendKind::Ollama, &url) {
        Ok(client) => client,
        Err(err) => {
            tracing::warn!(model = %model, url = %url, error = %err, "pull rejected");
            let message = err.to_string();
            return send(
                writer,
                &Response::Error {
                    kind: ErrorKind::InvalidRequest,
                    message,
                },
            )
            .await;
        }
    };
    tracing::info!(model = %model, url = %url, "pull started");
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let pulling = async {
        let result = client
            .pull(&model, |progress| {
                let _ = sender.send(progress.clone());
            })
            .await;
        drop(sender);
        result
    };
    tokio::pin!(pulling);
    let shutdown: &CancellationToken = &server.shutdown;
    let result = loop {
        tokio::select! {
            Some(progress) = receiver.recv() => send(writer, &pull_event(progress)).await?,
            result = &mut pulling => break result,
            _ = shutdown.cancelled() => {
                let message = "heatmapd is shutting down; run the pull again".to_string();
                return send(writer, &Response::Error { kind: ErrorKind::Internal, message }).await;
            }
        }
    };
    while let Ok(progress) = receiver.try_recv() {
        send(writer, &pull_event(progress)).await?;
    }
    match result {
        Ok(()) => {
            tracing::info!(model = %model, url = %url, "pull finished");
            send(writer, &Response::Ok).await
        }
        Err(err) => {
            tracing::warn!(model = %model, url = %url, error = %err, "pull failed");
            send(
                writer,
                &Response::Error {
                    kind: backend_kind(&err),
                    message: err.to_string(),
                },
            )
            .await
        }
    }
}

fn pull_event(progress: crate::backend::PullProgress) -> Response {
    Response::Event(Event::Pull {
        status: progress.status,
        completed: progress.completed,
        total: progress.total,
    })
}

fn backend_kind(err: &BackendError) -> ErrorKind {
    match err {
        BackendError::InvalidUrl { .. } | BackendError::ModelNotFound { .. } => {
            ErrorKind::InvalidRequest
        }
        _ => ErrorKind::Backend,
    }
}
