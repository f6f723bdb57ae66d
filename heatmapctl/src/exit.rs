//! Exit codes, and the error type that carries one out of a command.

use std::path::Path;

use heatmap_proto::ErrorKind;
use heatmap_proto::socket::ClientError;

/// The command did what was requested.
pub const SUCCESS: u8 = 0;
/// A request failed, or a waited-for job ended failed or cancelled.
pub const FAILED: u8 = 1;
/// The command line is invalid (clap exits with this code itself).
pub const USAGE: u8 = 2;
/// heatmapd is not running or its socket cannot be reached.
pub const NOT_RUNNING: u8 = 3;
/// heatmapd speaks another protocol version.
pub const VERSION_MISMATCH: u8 = 4;
/// The user pressed Ctrl-C while following a job (128 + SIGINT, as shells report it).
pub const INTERRUPTED: u8 = 130;

/// An error with the exit code it maps to.
///
/// Its message is printed after `heatmapctl: ` on stderr. An empty message
/// prints nothing, for failures that the command has already reported.
#[derive(Debug)]
pub struct Failure {
    /// Exit status of the process.
    pub code: u8,
    /// Message naming what failed and what to do next.
    pub message: String,
}

impl Failure {
    /// Creates a failure with exit code [`FAILED`].
    pub fn failed(message: impl Into<String>) -> Failure {
        Failure {
            code: FAILED,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// Maps the category of an error response to an exit code.
pub fn code_for_kind(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::VersionMismatch => VERSION_MISMATCH,
        ErrorKind::InvalidRequest
        | ErrorKind::NotFound
        | ErrorKind::Backend
        | ErrorKind::Internal => FAILED,
    }
}

/// Turns an error response of the daemon into a failure.
pub fn from_response(kind: ErrorKind, message: &str) -> Failure {
    Failure {
        code: code_for_kind(kind),
        message: message.to_string(),
    }
}

/// Turns a failed connection attempt into a failure with a hint on how to start the daemon.
pub fn from_connect(socket: &Path, error: ClientError) -> Failure {
    match error {
        ClientError::Connect { source, .. } => {
            let reason = match source.kind() {
                std::io::ErrorKind::NotFound => format!("no socket at {}", socket.display()),
                std::io::ErrorKind::ConnectionRefused => {
                    format!("nothing accepts connections at {}", socket.display())
                }
                _ => format!("cannot connect to {}: {source}", socket.display()),
            };
            Failure {
                code: NOT_RUNNING,
                message: format!(
                    "heatmapd is not running ({reason}); start it with: heatmapd --root DIR \
                     (or systemctl --user start heatmapd)"
                ),
            }
        }
        ClientError::VersionMismatch(message) => Failure {
            code: VERSION_MISMATCH,
            message,
        },
        other => Failure::failed(format!(
            "handshake with heatmapd at {} failed: {other}",
            socket.display()
        )),
    }
}

/// Returns the exit code for an error returned by a command.
pub fn code_for_error(error: &anyhow::Error) -> u8 {
    match error.downcast_ref::<Failure>() {
        Some(failure) => failure.code,
        None => FAILED,
    }
}

/// Tells whether an error comes from writing to a closed pipe, as with `heatmapctl list | head -1`.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn error_kinds_map_to_codes() {
        assert_eq!(code_for_kind(ErrorKind::NotFound), FAILED);
        assert_eq!(code_for_kind(ErrorKind::InvalidRequest), FAILED);
        assert_eq!(code_for_kind(ErrorKind::Backend), FAILED);
        assert_eq!(code_for_kind(ErrorKind::Internal), FAILED);
        assert_eq!(code_for_kind(ErrorKind::VersionMismatch), VERSION_MISMATCH);
    }

    #[test]
    fn response_failure_keeps_message() {
        let failure = from_response(ErrorKind::NotFound, "job 9 not found");
        assert_eq!(failure.code, FAILED);
        assert_eq!(failure.message, "job 9 not found");
    }

    #[test]
    fn missing_socket_is_not_running() {
        let path = Path::new("/nonexistent/heatmapd.sock");
        let error = ClientError::Connect {
            path: path.to_path_buf(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        let failure = from_connect(path, error);
        assert_eq!(failure.code, NOT_RUNNING);
        assert!(
            failure
                .message
                .contains("no socket at /nonexistent/heatmapd.sock"),
            "{failure}"
        );
        assert!(failure.message.contains("heatmapd --root DIR"), "{failure}");
        assert!(
            failure.message.contains("systemctl --user start heatmapd"),
            "{failure}"
        );
    }

    #[test]
    fn refused_socket_is_not_running() {
        let path = Path::new("/tmp/stale.sock");
        let error = ClientError::Connect {
            path: path.to_path_buf(),
            source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        };
        let failure = from_connect(path, error);
        assert_eq!(failure.code, NOT_RUNNING);
        assert!(
            failure.message.contains("nothing accepts connections"),
            "{failure}"
        );
    }

    #[test]
    fn version_mismatch_code() {
        let error =
            ClientError::VersionMismatch("client speaks version 1, daemon speaks version 2".into());
        let failure = from_connect(Path::new("/x"), error);
        assert_eq!(failure.code, VERSION_MISMATCH);
        assert!(failure.message.contains("daemon speaks version 2"));
    }

    #[test]
    fn code_survives_context() {
        let error = anyhow::Error::new(Failure {
            code: NOT_RUNNING,
            message: "down".into(),
        });
        let error = error.context("while listing jobs");
        assert_eq!(code_for_error(&error), NOT_RUNNING);
    }

    #[test]
    fn plain_error_code_is_failed() {
        let error = anyhow::anyhow!("something else");
        assert_eq!(code_for_error(&error), FAILED);
    }

    #[test]
    fn broken_pipe_detected_under_context() {
        let io = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        let error = Err::<(), _>(io)
            .context("failed to write output")
            .unwrap_err();
        assert!(is_broken_pipe(&error));
        assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
    }
}
