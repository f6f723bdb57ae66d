//! The connection to heatmapd, behind a trait so that commands can run against a test double.

use std::path::Path;

use anyhow::Context;
use heatmap_proto::socket::{ClientError, Connection, request_name};
use heatmap_proto::{FrameError, Request, Response};

use crate::exit::{self, Failure};
use crate::output::Output;

/// A connection to heatmapd after the handshake.
pub trait Transport {
    /// Sends one request.
    fn send(&mut self, request: &Request) -> impl Future<Output = Result<(), ClientError>>;

    /// Receives one response.
    fn recv(&mut self) -> impl Future<Output = Result<Response, ClientError>>;
}

impl Transport for Connection {
    async fn send(&mut self, request: &Request) -> Result<(), ClientError> {
        Connection::send(self, request).await
    }

    async fn recv(&mut self) -> Result<Response, ClientError> {
        Connection::recv(self).await
    }
}

/// Connects to heatmapd at `socket` and performs the handshake.
///
/// A missing or refused socket gives exit code 3 with a hint on how to start
/// the daemon, and a protocol version mismatch gives exit code 4.
pub async fn connect(socket: &Path) -> Result<Connection, Failure> {
    Connection::connect(socket)
        .await
        .map_err(|error| exit::from_connect(socket, error))
}

/// Sends `request` and returns the response.
///
/// With `--json` the response is printed first. An error response becomes a
/// [`Failure`] with the exit code of its kind.
pub async fn call<T: Transport>(
    connection: &mut T,
    output: &mut Output<'_>,
    request: Request,
) -> anyhow::Result<Response> {
    let name = request_name(&request);
    connection
        .send(&request)
        .await
        .with_context(|| format!("failed to send the {name} request to heatmapd"))?;
    let response = connection
        .recv()
        .await
        .map_err(|error| receive_error(name, error))?;
    if output.json {
        output.print_json(&response)?;
    }
    if let Response::Error { kind, message } = &response {
        return Err(exit::from_response(*kind, message).into());
    }
    Ok(response)
}

/// Describes a failure to read the response to the request named `name`.
pub fn receive_error(name: &str, error: ClientError) -> anyhow::Error {
    match error {
        ClientError::Frame(FrameError::Closed) => anyhow::anyhow!(
            "heatmapd closed the connection before answering the {name} request; \
             check its log, e.g. with journalctl --user -u heatmapd"
        ),
        other => anyhow::Error::new(other)
            .context(format!("failed to read the response to the {name} request")),
    }
}

/// Builds the error for a response of the wrong kind.
pub fn unexpected(request: &str, response: &Response) -> anyhow::Error {
    anyhow::anyhow!(
        "heatmapd sent an unexpected {} response to the {request} request; \
         heatmapctl and heatmapd may come from different releases",
        response_name(response)
    )
}

/// Returns the variant name of a response, for error messages.
pub fn response_name(response: &Response) -> &'static str {
    match response {
        Response::Hello { .. } => "Hello",
        Response::Error { .. } => "Error",
        Response::Ok => "Ok",
        Response::Status(_) => "Status",
        Response::Submitted(_) => "Submitted",
        Response::Jobs(_) => "Jobs",
        Response::Job(_) => "Job",
        Response::Event(_) => "Event",
        Response::JobEnded { .. } => "JobEnded",
        Response::Evaluated(_) => "Evaluated",
        Response::Canary(_) => "Canary",
        Response::Settings(_) => "Settings",
        Response::Stats(_) => "Stats",
        Response::Purged(_) => "Purged",
        Response::Heatmap(_) => "Heatmap",
        Response::Aggregated(_) => "Aggregated",
        Response::Derived(_) => "Derived",
        Response::Models(_) => "Models",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::NOT_RUNNING;

    #[tokio::test]
    async fn missing_socket_gives_exit_code_3() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("heatmapd.sock");
        let Err(failure) = connect(&socket).await else {
            panic!("connected to a missing socket")
        };
        assert_eq!(failure.code, NOT_RUNNING);
        let expected = format!(
            "heatmapd is not running (no socket at {})",
            socket.display()
        );
        assert!(failure.message.starts_with(&expected), "{failure}");
        assert!(failure.message.contains("heatmapd --root DIR"), "{failure}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn stale_socket_gives_exit_code_3() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("heatmapd.sock");
        // A bound listener that is dropped leaves its socket file behind, as a crashed daemon does.
        drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
        let Err(failure) = connect(&socket).await else {
            panic!("connected to a stale socket")
        };
        assert_eq!(failure.code, NOT_RUNNING);
        assert!(
            failure.message.contains("nothing accepts connections"),
            "{failure}"
        );
    }
}
