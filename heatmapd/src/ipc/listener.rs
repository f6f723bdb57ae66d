//! Binding the daemon's endpoint: a 0600 Unix socket whose peers must be our
//! own user, or an owner-only named pipe on Windows.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncRead, AsyncWrite};

type Reader = Box<dyn AsyncRead + Unpin + Send>;
type Writer = Box<dyn AsyncWrite + Unpin + Send>;

/// A bound endpoint.
pub struct Listener {
    #[cfg(unix)]
    inner: tokio::net::UnixListener,
    #[cfg(windows)]
    inner: interprocess::local_socket::tokio::Listener,
    path: PathBuf,
}

/// Binds the endpoint at `path`. The caller must hold the PID lock, so a
/// socket file found there is a leftover of a crashed daemon and is removed.
#[cfg(unix)]
pub fn bind(path: &Path) -> std::io::Result<Listener> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            tracing::info!(path = %path.display(), "removing a stale socket left by a previous daemon");
            std::fs::remove_file(path)?;
        }
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!(
                    "{} exists and is not a socket; remove it or choose another --socket",
                    path.display()
                ),
            ));
        }
        Err(_) => {}
    }
    let inner = tokio::net::UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(Listener {
        inner,
        path: path.to_path_buf(),
    })
}

/// Binds the named pipe `path` (a pipe name, not a file).
#[cfg(windows)]
pub fn bind(path: &Path) -> std::io::Result<Listener> {
    use interprocess::local_socket::{GenericNamespaced, ListenerOptions, ToNsName};
    let name = path
        .to_string_lossy()
        .into_owned()
        .to_ns_name::<GenericNamespaced>()?;
    let inner = ListenerOptions::new().name(name).create_tokio()?;
    Ok(Listener {
        inner,
        path: path.to_path_buf(),
    })
}

impl Listener {
    /// Accepts one connection from our own user.
    #[cfg(unix)]
    pub async fn accept(&self) -> std::io::Result<(Reader, Writer)> {
        let (stream, _) = self.inner.accept().await?;
        let peer = stream.peer_cred()?;
        // SAFETY: getuid has no preconditions and cannot fail.
        let own = unsafe { libc::getuid() };
        if peer.uid() != own {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!("peer uid {} is not the daemon's uid {own}", peer.uid()),
            ));
        }
        let (reader, writer) = stream.into_split();
        Ok((Box::new(reader), Box::new(writer)))
    }

    /// Accepts one connection.
    #[cfg(windows)]
    pub async fn accept(&self) -> std::io::Result<(Reader, Writer)> {
        use interprocess::local_socket::tokio::prelude::*;
        let stream = self.inner.accept().await?;
        let (reader, writer) = stream.split();
        Ok((Box::new(reader), Box::new(writer)))
    }

    /// The endpoint path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
