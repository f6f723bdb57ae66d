//! `heatmapctl cancel`, `pause`, `resume` and `shutdown`: one request, one confirmation line.

use heatmap_proto::{JobId, Request, Response};

use crate::client::{self, Transport};
use crate::output::Output;

/// A request that changes a job's state or stops the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Cancel a job.
    Cancel(JobId),
    /// Pause a job.
    Pause(JobId),
    /// Resume a job.
    Resume(JobId),
    /// Stop the daemon.
    Shutdown,
}

impl Control {
    fn request(self) -> Request {
        match self {
            Control::Cancel(id) => Request::Cancel { id },
            Control::Pause(id) => Request::Pause { id },
            Control::Resume(id) => Request::Resume { id },
            Control::Shutdown => Request::Shutdown,
        }
    }

    fn confirmation(self) -> String {
        match self {
            Control::Cancel(id) => format!("cancelled job {id}; answers already saved are kept"),
            Control::Pause(id) => format!("paused job {id}; items in flight still finish"),
            Control::Resume(id) => format!("resumed job {id}"),
            Control::Shutdown => "heatmapd is shutting down".to_string(),
        }
    }
}

/// Sends the request and confirms it in one line.
pub async fn run<T: Transport>(
    connection: &mut T,
    output: &mut Output<'_>,
    control: Control,
) -> anyhow::Result<()> {
    let request = control.request();
    let name = heatmap_proto::socket::request_name(&request);
    let response = client::call(connection, output, request).await?;
    // A daemon may reply with the job's new summary instead of a bare Ok.
    if !matches!(
        response,
        Response::Ok | Response::Job(_) | Response::Submitted(_)
    ) {
        return Err(client::unexpected(name, &response));
    }
    if output.json {
        return Ok(());
    }
    output.line(control.confirmation())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::{FAILED, code_for_error};
    use crate::testing::{Capture, Scripted};
    use heatmap_proto::ErrorKind;

    #[tokio::test]
    async fn cancel_confirms() {
        let mut connection = Scripted::new(vec![Response::Ok]);
        let mut capture = Capture::default();
        let result = run(
            &mut connection,
            &mut capture.output(false),
            Control::Cancel(4),
        )
        .await;
        let out = capture.out();
        result.unwrap();
        assert_eq!(out, "cancelled job 4; answers already saved are kept\n");
        assert_eq!(connection.sent, vec![Request::Cancel { id: 4 }]);
    }

    #[tokio::test]
    async fn not_found_exits_1_with_message() {
        let error = Response::Error {
            kind: ErrorKind::NotFound,
            message: "job 9 not found".into(),
        };
        let mut connection = Scripted::new(vec![error]);
        let mut capture = Capture::default();
        let result = run(
            &mut connection,
            &mut capture.output(false),
            Control::Pause(9),
        )
        .await;
        let out = capture.out();
        let error = result.unwrap_err();
        assert_eq!(code_for_error(&error), FAILED);
        assert_eq!(error.to_string(), "job 9 not found");
        assert_eq!(out, "");
    }

    #[tokio::test]
    async fn shutdown_json() {
        let mut connection = Scripted::new(vec![Response::Ok]);
        let mut capture = Capture::default();
        let result = run(
            &mut connection,
            &mut capture.output(true),
            Control::Shutdown,
        )
        .await;
        let out = capture.out();
        result.unwrap();
        assert_eq!(out, "\"Ok\"\n");
        assert_eq!(connection.sent, vec![Request::Shutdown]);
    }
}
