//! One function per request: apply it and write the response(s).

use heatmap_proto::frame::FrameError;
use heatmap_proto::{DaemonStatus, ErrorKind, JobId, Request, Response};
use tokio::io::AsyncWrite;
use tokio::sync::broadcast::error::RecvError;

use super::{Server, send};
use crate::runner::{ApiError, Following, Update};

fn error(err: ApiError) -> Response {
    Response::Error {
        kind: err.kind,
        message: err.message,
    }
}

/// Applies one request and writes its response, or a stream ended by a final response.
pub async fn handle<W: AsyncWrite + Unpin + Send>(
    server: &Server,
    request: Request,
    writer: &mut W,
) -> Result<(), FrameError> {
    let runner = &server.runner;
    let response = match request {
        Request::Hello { .. } => Response::Error {
            kind: ErrorKind::InvalidRequest,
            message: "Hello was already sent on this connection".into(),
        },
        Request::Status => status(server),
        Request::Submit { spec, wait } => match runner.submit(spec).await {
            Ok(summary) => {
                let id = summary.id;
                send(writer, &Response::Submitted(summary)).await?;
                if !wait {
                    return Ok(());
                }
                return follow(server, id, writer).await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "submit rejected");
                error(err)
            }
        },
        Request::List => runner.list().map(Response::Jobs).unwrap_or_else(error),
        Request::Job { id } => runner.detail(id).map(Response::Job).unwrap_or_else(error),
        Request::Follow { id } => return follow(server, id, writer).await,
        Request::Cancel { id } => runner
            .cancel(id)
            .map(|_| Response::Ok)
            .unwrap_or_else(error),
        Request::Pause { id } => runner.pause(id).map(|_| Response::Ok).unwrap_or_else(error),
        Request::Resume { id } => runner
            .resume(id)
            .map(|_| Response::Ok)
            .unwrap_or_else(error),
        Request::Aggregate { sessions } => aggregate(server, sessions).await,
        Request::Derive { ids, all } => derive(server, ids, all).await,
        Request::Models { backend, url } => runner
            .models(backend, &url)
            .await
            .map(Response::Models)
            .unwrap_or_else(error),
        Request::Evaluate(spec) => return super::evaluate::evaluate(server, spec, writer).await,
        Request::Canary {
            backend,
            url,
            model,
            high_temperature,
        } => super::ops::canary(server, backend, url, model, high_temperature).await,
        Request::GetSettings => super::ops::get_settings(server),
        Request::SetSettings { pairs } => super::ops::set_settings(server, pairs),
        Request::Pull { url, model } => return super::ops::pull(server, url, model, writer).await,
        Request::Stats => super::ops::stats(server).await,
        Request::Purge(spec) => super::ops::purge(server, spec).await,
        Request::Show { id } => super::ops::show(server, id).await,
        Request::Shutdown => {
            tracing::info!("shutdown requested by a client");
            server.shutdown.cancel();
            Response::Ok
        }
    };
    send(writer, &response).await
}

fn status(server: &Server) -> Response {
    let (active_jobs, total_jobs) = match server.runner.job_counts() {
        Ok(counts) => counts,
        Err(err) => return error(err),
    };
    Response::Status(DaemonStatus {
        version: env!("CARGO_PKG_VERSION").to_string(),
        pid: std::process::id(),
        root: server.runner.workspace().root.display().to_string(),
        uptime_secs: server.started.elapsed().as_secs(),
        active_jobs,
        total_jobs,
        watching: server.watching.load(std::sync::atomic::Ordering::Relaxed),
    })
}

async fn follow<W: AsyncWrite + Unpin + Send>(
    server: &Server,
    id: JobId,
    writer: &mut W,
) -> Result<(), FrameError> {
    let mut receiver = match server.runner.follow(id) {
        Ok(Following::Live(receiver)) => receiver,
        Ok(Following::Ended(summary, heatmap)) => {
            let response = Response::JobEnded {
                summary: *summary,
                heatmap: heatmap.map(|h| *h),
            };
            return send(writer, &response).await;
        }
        Err(err) => return send(writer, &error(err)).await,
    };
    loop {
        let update = tokio::select! {
            update = receiver.recv() => update,
            _ = server.shutdown.cancelled() => {
                let message = "heatmapd is shutting down; the job resumes when it starts again".to_string();
                return send(writer, &Response::Error { kind: ErrorKind::Internal, message }).await;
            }
        };
        match update {
            Ok(Update::Event(event)) => send(writer, &Response::Event(event)).await?,
            Ok(Update::Ended { summary, heatmap }) => {
                return send(
                    writer,
                    &Response::JobEnded {
                        summary: *summary,
                        heatmap: heatmap.map(|h| *h),
                    },
                )
                .await;
            }
            Err(RecvError::Lagged(skipped)) => {
                tracing::debug!(job = id, skipped, "follower fell behind; skipped events");
            }
            Err(RecvError::Closed) => {
                // The job ended between updates; report its final state.
                return match server.runner.follow(id) {
                    Ok(Following::Ended(summary, heatmap)) => {
                        let response = Response::JobEnded {
                            summary: *summary,
                            heatmap: heatmap.map(|h| *h),
                        };
                        send(writer, &response).await
                    }
                    Ok(Following::Live(new_receiver)) => {
                        receiver = new_receiver;
                        continue;
                    }
                    Err(err) => send(writer, &error(err)).await,
                };
            }
        }
    }
}

async fn aggregate(server: &Server, sessions: Vec<String>) -> Response {
    let output = server.runner.workspace().output();
    let scope = if sessions.is_empty() {
        crate::aggregate::Scope::All
    } else {
        crate::aggregate::Scope::Sessions(sessions)
    };
    match tokio::task::spawn_blocking(move || crate::aggregate::snapshot(&output, &scope)).await {
        Ok(Ok(report)) => {
            tracing::info!(heatmap = %report.heatmap_csv, graded = report.graded, "aggregated");
            Response::Aggregated(report)
        }
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "aggregation failed");
            Response::Error {
                kind: ErrorKind::InvalidRequest,
                message: err.to_string(),
            }
        }
        Err(err) => Response::Error {
            kind: ErrorKind::Internal,
            message: format!("aggregation panicked: {err}"),
        },
    }
}

async fn derive(server: &Server, ids: Vec<String>, all: bool) -> Response {
    let output = server.runner.workspace().output();
    match tokio::task::spawn_blocking(move || crate::analysis::derive(&output, &ids, all)).await {
        Ok(Ok(reports)) => Response::Derived(reports),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "derive failed");
            let kind = match err {
                crate::analysis::AnalysisError::UnknownId { .. }
                | crate::analysis::AnalysisError::NoSnapshots { .. } => ErrorKind::NotFound,
                _ => ErrorKind::InvalidRequest,
            };
            Response::Error {
                kind,
                message: err.to_string(),
            }
        }
        Err(err) => Response::Error {
            kind: ErrorKind::Internal,
            message: format!("derive panicked: {err}"),
        },
    }
}
