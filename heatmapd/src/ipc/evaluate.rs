//! The Evaluate request: grades saved answers with an evaluator model and
//! streams `Event::Count` frames until the final `Response::Evaluated`.

use heatmap_proto::frame::FrameError;
use heatmap_proto::{ErrorKind, EvaluateSpec, Event, Response};
use tokio::io::AsyncWrite;
use tokio::sync::watch;

use super::{Server, send};
use crate::backend::{BackendError, RetryPolicy};
use crate::grade::evaluate::{self, Count, EvaluateError};

/// Label of the `Event::Count` frames of an evaluation.
pub const COUNT_LABEL: &str = "graded";

/// Runs an evaluation and writes its progress and report.
///
/// A client that goes away cancels the evaluation; grades written by then are kept.
pub async fn evaluate<W: AsyncWrite + Unpin + Send>(
    server: &Server,
    spec: EvaluateSpec,
    writer: &mut W,
) -> Result<(), FrameError> {
    let judge = spec.judge.clone();
    let cancel = server.shutdown.child_token();
    // Dropping the guard, as an early return on a failed send does, stops the evaluation.
    let _stop_on_return = cancel.clone().drop_guard();
    let (progress, mut counts) = watch::channel(Count::default());
    let runner = &server.runner;
    let task = tokio::spawn(evaluate::evaluate(
        runner.workspace().clone(),
        runner.store().clone(),
        spec,
        RetryPolicy::default(),
        cancel.clone(),
        progress,
    ));

    let mut sent = Count::default();
    while counts.changed().await.is_ok() {
        let count = *counts.borrow_and_update();
        if count != sent {
            send(writer, &count_event(count)).await?;
            sent = count;
        }
    }
    let last = *counts.borrow();
    if last != sent {
        send(writer, &count_event(last)).await?;
    }

    let response = match task.await {
        Ok(Ok(report)) => Response::Evaluated(report),
        Ok(Err(err)) => {
            tracing::warn!(judge = %judge, error = %err, "evaluation failed");
            Response::Error {
                kind: error_kind(&err),
                message: err.to_string(),
            }
        }
        Err(err) => {
            tracing::error!(judge = %judge, error = %err, "evaluation panicked");
            Response::Error {
                kind: ErrorKind::Internal,
                message: format!("the evaluation panicked: {err}; see the daemon log"),
            }
        }
    };
    send(writer, &response).await
}

fn count_event(count: Count) -> Response {
    Response::Event(Event::Count {
        label: COUNT_LABEL.into(),
        done: count.done,
        total: count.total,
    })
}

fn error_kind(err: &EvaluateError) -> ErrorKind {
    match err {
        EvaluateError::Invalid(_) => ErrorKind::InvalidRequest,
        EvaluateError::NotFound(_) => ErrorKind::NotFound,
        EvaluateError::Backend(
            BackendError::ModelNotFound { .. } | BackendError::InvalidUrl { .. },
        ) => ErrorKind::InvalidRequest,
        EvaluateError::Backend(_) => ErrorKind::Backend,
        EvaluateError::Store(_) | EvaluateError::Io { .. } | EvaluateError::Cancelled => {
            ErrorKind::Internal
        }
    }
}
