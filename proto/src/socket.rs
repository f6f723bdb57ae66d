//! Where the daemon listens, and a client connection that speaks the protocol.
//!
//! On Unix the endpoint is a socket file in a per-user runtime folder (mode
//! 0700); on Windows it is the named pipe `heatmapd-<user>`.
//! `HEATMAPD_SOCKET` overrides the default.

use std::path::PathBuf;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::PROTOCOL_VERSION;
use crate::frame::{FrameError, read_frame, write_frame};
use crate::messages::{ErrorKind, Request, Response};

/// Environment variable that overrides the socket path.
pub const SOCKET_ENV: &str = "HEATMAPD_SOCKET";

/// Returns the per-user runtime folder: `$XDG_RUNTIME_DIR/heatmapd` on Linux
/// when set, else `<tmp>/heatmapd-<uid>`.
pub fn runtime_dir() -> PathBuf {
    #[cfg(target_os = "linux")]
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("heatmapd");
    }
    std::env::temp_dir().join(format!("heatmapd-{}", user_tag()))
}

/// Returns the socket path (Unix) or pipe name (Windows) to use when none is given.
pub fn default_socket() -> PathBuf {
    if let Some(path) = std::env::var_os(SOCKET_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    #[cfg(windows)]
    {
        PathBuf::from(format!("heatmapd-{}", user_tag()))
    }
    #[cfg(not(windows))]
    {
        runtime_dir().join("heatmapd.sock")
    }
}

/// Returns the current user's id on Unix, or user name on Windows.
pub fn user_tag() -> String {
    #[cfg(unix)]
    {
        // SAFETY: getuid has no preconditions and cannot fail.
        unsafe { libc::getuid() }.to_string()
    }
    #[cfg(not(unix))]
    {
        std::env::var("USERNAME").unwrap_or_else(|_| "user".to_string())
    }
}

type Reader = Box<dyn AsyncRead + Unpin + Send>;
type Writer = Box<dyn AsyncWrite + Unpin + Send>;

/// Errors of a client connection.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens at the endpoint.
    #[error("cannot connect to heatmapd at {path}: {source}")]
    Connect {
        /// The endpoint tried.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The daemon speaks another protocol version.
    #[error("{0}")]
    VersionMismatch(String),
    /// The daemon answered with something unexpected.
    #[error("unexpected response from heatmapd: {0}")]
    Unexpected(String),
    /// Framing failed.
    #[error(transparent)]
    Frame(#[from] FrameError),
}

/// A client connection after a successful handshake.
pub struct Connection {
    reader: Reader,
    writer: Writer,
    /// Version the daemon reported.
    pub daemon_version: String,
}

impl Connection {
    /// Connects to the daemon at `path` and performs the handshake.
    pub async fn connect(path: &std::path::Path) -> Result<Connection, ClientError> {
        let (reader, writer) = open(path).await.map_err(|source| ClientError::Connect {
            path: path.to_path_buf(),
            source,
        })?;
        let mut connection = Connection {
            reader,
            writer,
            daemon_version: String::new(),
        };
        connection
            .send(&Request::Hello {
                protocol_version: PROTOCOL_VERSION,
            })
            .await?;
        match connection.recv().await? {
            Response::Hello {
                protocol_version,
                daemon_version,
            } if protocol_version == PROTOCOL_VERSION => {
                connection.daemon_version = daemon_version;
                Ok(connection)
            }
            Response::Hello {
                protocol_version,
                daemon_version,
            } => Err(ClientError::VersionMismatch(version_mismatch_message(
                PROTOCOL_VERSION,
                protocol_version,
                &daemon_version,
            ))),
            Response::Error {
                kind: ErrorKind::VersionMismatch,
                message,
            } => Err(ClientError::VersionMismatch(message)),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Sends one request.
    pub async fn send(&mut self, request: &Request) -> Result<(), ClientError> {
        write_frame(&mut self.writer, request).await?;
        Ok(())
    }

    /// Receives one response.
    pub async fn recv(&mut self) -> Result<Response, ClientError> {
        Ok(read_frame(&mut self.reader).await?)
    }

    /// Sends a request and returns the first response.
    pub async fn call(&mut self, request: &Request) -> Result<Response, ClientError> {
        self.send(request).await?;
        self.recv().await
    }
}

/// Builds the message for a handshake between different protocol versions.
pub fn version_mismatch_message(client: u32, daemon: u32, daemon_version: &str) -> String {
    let daemon_version = if daemon_version.is_empty() {
        String::new()
    } else {
        format!(" (heatmapd {daemon_version})")
    };
    format!(
        "protocol version mismatch: client speaks version {client}, daemon speaks version {daemon}{daemon_version}; \
         run heatmapctl and heatmapd from the same release, or restart heatmapd after upgrading"
    )
}

/// Checks the first request of a connection on the daemon side.
///
/// Returns the response to send: `Hello` when the versions match, or an
/// error naming both versions (the connection should be closed after it).
// Both sides are the same enum, so boxing the error would only add an allocation.
#[allow(clippy::result_large_err)]
pub fn answer_hello(request: &Request, daemon_version: &str) -> Result<Response, Response> {
    match request {
        Request::Hello { protocol_version } if *protocol_version == PROTOCOL_VERSION => {
            Ok(Response::Hello {
                protocol_version: PROTOCOL_VERSION,
                daemon_version: daemon_version.to_string(),
            })
        }
        Request::Hello { protocol_version } => Err(Response::Error {
            kind: ErrorKind::VersionMismatch,
            message: version_mismatch_message(*protocol_version, PROTOCOL_VERSION, daemon_version),
        }),
        other => Err(Response::Error {
            kind: ErrorKind::InvalidRequest,
            message: format!(
                "expected Hello as the first request, got {}",
                request_name(other)
            ),
        }),
    }
}

/// Returns the variant name of a request, for logs and errors.
pub fn request_name(request: &Request) -> &'static str {
    match request {
        Request::Hello { .. } => "Hello",
        Request::Status => "Status",
        Request::Submit { .. } => "Submit",
        Request::List => "List",
        Request::Job { .. } => "Job",
        Request::Follow { .. } => "Follow",
        Request::Cancel { .. } => "Cancel",
        Request::Pause { .. } => "Pause",
        Request::Resume { .. } => "Resume",
        Request::Aggregate { .. } => "Aggregate",
        Request::Derive { .. } => "Derive",
        Request::Models { .. } => "Models",
        Request::Shutdown => "Shutdown",
        Request::Evaluate(_) => "Evaluate",
        Request::Canary { .. } => "Canary",
        Request::GetSettings => "GetSettings",
        Request::SetSettings { .. } => "SetSettings",
        Request::Pull { .. } => "Pull",
        Request::Stats => "Stats",
        Request::Purge(_) => "Purge",
        Request::Show { .. } => "Show",
    }
}

#[cfg(unix)]
async fn open(path: &std::path::Path) -> std::io::Result<(Reader, Writer)> {
    let stream = tokio::net::UnixStream::connect(path).await?;
    let (reader, writer) = stream.into_split();
    Ok((Box::new(reader), Box::new(writer)))
}

#[cfg(windows)]
async fn open(path: &std::path::Path) -> std::io::Result<(Reader, Writer)> {
    use interprocess::local_socket::tokio::{Stream, prelude::*};
    use interprocess::local_socket::{GenericNamespaced, ToNsName};
    let name = path
        .to_string_lossy()
        .into_owned()
        .to_ns_name::<GenericNamespaced>()?;
    let stream = Stream::connect(name).await?;
    let (reader, writer) = stream.split();
    Ok((Box::new(reader), Box::new(writer)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_hello_accepted() {
        let response = answer_hello(
            &Request::Hello {
                protocol_version: PROTOCOL_VERSION,
            },
            "0.1.0",
        )
        .unwrap();
        assert_eq!(
            response,
            Response::Hello {
                protocol_version: PROTOCOL_VERSION,
                daemon_version: "0.1.0".into()
            }
        );
    }

    #[test]
    fn version_mismatch_names_both_versions() {
        let other = PROTOCOL_VERSION + 6;
        let Err(Response::Error { kind, message }) = answer_hello(
            &Request::Hello {
                protocol_version: other,
            },
            "0.1.0",
        ) else {
            panic!("mismatch accepted");
        };
        assert_eq!(kind, ErrorKind::VersionMismatch);
        assert!(
            message.contains(&format!("client speaks version {other}")),
            "{message}"
        );
        assert!(
            message.contains(&format!("daemon speaks version {PROTOCOL_VERSION}")),
            "{message}"
        );
    }

    #[test]
    fn request_before_hello_rejected() {
        let Err(Response::Error { kind, message }) = answer_hello(&Request::Status, "0.1.0") else {
            panic!("accepted");
        };
        assert_eq!(kind, ErrorKind::InvalidRequest);
        assert!(message.contains("Status"));
    }

    #[test]
    fn socket_env_overrides_default() {
        // Runs in its own process only for this variable; other tests do not read it.
        // SAFETY: no other thread of this test binary reads or writes HEATMAPD_SOCKET.
        unsafe { std::env::set_var(SOCKET_ENV, "/tmp/custom.sock") };
        assert_eq!(default_socket(), PathBuf::from("/tmp/custom.sock"));
        unsafe { std::env::remove_var(SOCKET_ENV) };
    }
}
