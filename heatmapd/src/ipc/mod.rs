//! The local socket server that answers heatmapctl.
//!
//! Each connection starts with the Hello handshake, then carries one request
//! at a time. A malformed or oversized frame closes that connection with a
//! logged warning and harms nothing else.

mod evaluate;
mod handlers;
mod listener;
mod ops;

use std::sync::Arc;
use std::time::Instant;

use heatmap_proto::frame::FrameError;
use heatmap_proto::socket::{answer_hello, request_name};
use heatmap_proto::{Request, Response, read_frame, write_frame};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

use crate::runner::Runner;
pub use listener::{Listener, bind};

/// What every connection handler shares.
pub struct Server {
    /// The scheduler and job operations.
    pub runner: Runner,
    /// Cancelled to stop the daemon.
    pub shutdown: CancellationToken,
    /// Daemon start time.
    pub started: Instant,
    /// Whether the output watcher runs; set once its first scan is done.
    pub watching: Arc<std::sync::atomic::AtomicBool>,
}

/// Accepts connections until shutdown.
pub async fn serve(listener: Listener, server: Arc<Server>) {
    let mut next_id: u64 = 0;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = server.shutdown.cancelled() => break,
        };
        match accepted {
            Ok((reader, writer)) => {
                next_id += 1;
                let server = server.clone();
                let conn = next_id;
                tokio::spawn(async move {
                    handle_connection(server, conn, reader, writer).await;
                });
            }
            Err(err) => {
                tracing::warn!(error = %err, "rejected a connection");
            }
        }
    }
    tracing::info!("ipc server stopped");
}

async fn handle_connection<R, W>(server: Arc<Server>, conn: u64, mut reader: R, mut writer: W)
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
{
    let first: Request = match read_frame(&mut reader).await {
        Ok(request) => request,
        Err(FrameError::Closed) => return,
        Err(err) => {
            tracing::warn!(conn, error = %err, "closing connection: bad first frame");
            return;
        }
    };
    match answer_hello(&first, env!("CARGO_PKG_VERSION")) {
        Ok(hello) => {
            if write_frame(&mut writer, &hello).await.is_err() {
                return;
            }
        }
        Err(error) => {
            tracing::warn!(conn, request = request_name(&first), "handshake rejected");
            let _ = write_frame(&mut writer, &error).await;
            return;
        }
    }
    loop {
        let request: Request = match read_frame(&mut reader).await {
            Ok(request) => request,
            Err(FrameError::Closed) => return,
            Err(err) => {
                tracing::warn!(conn, error = %err, "closing connection: malformed frame");
                return;
            }
        };
        tracing::debug!(conn, request = request_name(&request), "request");
        let result = handlers::handle(&server, request, &mut writer).await;
        if let Err(err) = result {
            tracing::debug!(conn, error = %err, "connection ended while answering");
            return;
        }
    }
}

/// Sends one response; a failure means the client went away.
pub(crate) async fn send<W: AsyncWrite + Unpin>(
    writer: &mut W,
    response: &Response,
) -> Result<(), FrameError> {
    write_frame(writer, response).await
}
