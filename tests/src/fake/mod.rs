//! A scripted fake inference server that serves Ollama's API and the
//! OpenAI-compatible API at once on a loopback port, for deterministic and
//! fault-injection tests.
//!
//! The server runs on its own thread with its own tokio runtime, so it works
//! the same from `#[tokio::test]` functions and from plain tests that start
//! the real binaries as child processes.
//!
//! ```
//! use heatmap_tests::fake::{FakeConfig, FakeReply, FakeServer};
//!
//! let server = FakeServer::start_blocking(FakeConfig::new(["tiny"], |request| {
//!     if request.attempt == 1 {
//!         FakeReply::status(503).retry_after(1)
//!     } else {
//!         FakeReply::text("Paris")
//!     }
//! }));
//! println!("point the client at {}", server.url());
//! assert_eq!(server.requests().len(), 0);
//! server.shutdown();
//! ```

mod handlers;
mod render;
mod reply;
mod state;

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub use reply::{Api, FakeReply, FakeRequest, Script, WRONG_ANSWER, answer_key};
pub use state::RecordedRequest;

use axum::serve::ListenerExt;
use state::State;

/// How long shutdown waits for open responses to finish before it drops them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Settings of a fake server.
#[derive(Clone)]
pub struct FakeConfig {
    /// Models the server lists and accepts. A request for any other model
    /// gets a 404 "model not found" response in the API's format.
    pub models: Vec<String>,
    /// Delay before every reply's first byte, on top of the reply's own.
    pub delay: Duration,
    /// Loopback port to listen on, or 0 for a free one.
    pub port: u16,
    /// Script that picks the reply to each generation request.
    pub script: Script,
}

impl FakeConfig {
    /// Creates settings with the given models and script, no delay and a free port.
    pub fn new<M, F>(models: impl IntoIterator<Item = M>, script: F) -> FakeConfig
    where
        M: Into<String>,
        F: Fn(&FakeRequest) -> FakeReply + Send + Sync + 'static,
    {
        FakeConfig {
            models: models.into_iter().map(Into::into).collect(),
            delay: Duration::ZERO,
            port: 0,
            script: Arc::new(script),
        }
    }

    /// Sets the delay before every reply's first byte.
    pub fn delay(mut self, delay: Duration) -> FakeConfig {
        self.delay = delay;
        self
    }

    /// Sets the loopback port to listen on.
    pub fn port(mut self, port: u16) -> FakeConfig {
        self.port = port;
        self
    }
}

/// A running fake server. It stops when dropped or shut down.
pub struct FakeServer {
    addr: SocketAddr,
    url: String,
    state: Arc<State>,
    thread: Option<JoinHandle<()>>,
}

impl FakeServer {
    /// Starts a server and returns once it is listening.
    ///
    /// # Panics
    ///
    /// Panics when the port cannot be bound or the runtime cannot start.
    pub async fn start(config: FakeConfig) -> FakeServer {
        FakeServer::start_blocking(config)
    }

    /// Starts a server from code that is not async, and returns once it is
    /// listening.
    ///
    /// # Panics
    ///
    /// Panics when the port cannot be bound or the runtime cannot start.
    pub fn start_blocking(config: FakeConfig) -> FakeServer {
        let port = config.port;
        FakeServer::try_start(config).unwrap_or_else(|error| {
            panic!("failed to start the fake server on port {port}: {error}")
        })
    }

    /// Starts a server, returning the error when the port cannot be bound or
    /// the runtime cannot start.
    pub fn try_start(config: FakeConfig) -> io::Result<FakeServer> {
        // Binding here, before the thread starts, means the port accepts
        // connections as soon as this returns.
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, config.port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fake-server")
            .enable_all()
            .build()?;

        let state = Arc::new(State::new(config.models, config.script, config.delay));
        let app = handlers::router(Arc::clone(&state));
        let shutdown = state.shutdown.clone();
        let thread = std::thread::Builder::new()
            .name("fake-server".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(error) => panic!("fake server cannot use its listener: {error}"),
                    };
                    // Without TCP_NODELAY, each streamed chunk after the first
                    // waits for the client's delayed ACK, about 40 ms on Linux.
                    let listener = listener.tap_io(|stream| {
                        let _ = stream.set_nodelay(true);
                    });
                    let signal = shutdown.clone().cancelled_owned();
                    let serve = axum::serve(listener, app).with_graceful_shutdown(signal);
                    let deadline = async {
                        shutdown.cancelled().await;
                        tokio::time::sleep(SHUTDOWN_GRACE).await;
                    };
                    tokio::select! {
                        result = serve => {
                            if let Err(error) = result {
                                eprintln!("fake server stopped with an error: {error}");
                            }
                        }
                        () = deadline => {}
                    }
                });
                runtime.shutdown_timeout(Duration::from_millis(100));
            })?;

        Ok(FakeServer {
            addr,
            url: format!("http://{addr}"),
            state,
            thread: Some(thread),
        })
    }

    /// Returns the base URL, for example `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Returns the listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server and waits for its thread to end. Open streams end
    /// with an error.
    pub fn shutdown(self) {
        drop(self);
    }

    /// Returns every generation request received so far, in order of arrival.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests()
    }

    /// Returns the number of generation requests received per model.
    pub fn requests_per_model(&self) -> BTreeMap<String, u64> {
        self.state.requests_per_model()
    }

    /// Returns the number of generation requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.state.in_flight()
    }

    /// Returns the number of requests in flight now per model, leaving out
    /// models with none.
    pub fn in_flight_per_model(&self) -> BTreeMap<String, usize> {
        self.state.in_flight_per_model()
    }

    /// Returns the maximum number of generation requests that were in flight
    /// at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight()
    }

    /// Returns, per model, the maximum number of its requests that were in
    /// flight at the same time.
    pub fn max_in_flight_per_model(&self) -> BTreeMap<String, usize> {
        self.state.max_in_flight_per_model()
    }

    /// Returns the maximum number of distinct models that had requests in
    /// flight at the same time.
    pub fn max_models_in_flight(&self) -> usize {
        self.state.max_models_in_flight()
    }

    /// Returns the pairs of models, each sorted by name, that had requests in
    /// flight at the same time.
    pub fn models_in_flight_together(&self) -> BTreeSet<(String, String)> {
        self.state.models_in_flight_together()
    }

    /// Changes the delay before every reply's first byte, for requests that
    /// arrive from now on.
    pub fn set_delay(&self, delay: Duration) {
        self.state.set_delay(delay);
    }

    /// Replaces the list of models the server lists and accepts.
    pub fn set_models<M: Into<String>>(&self, models: impl IntoIterator<Item = M>) {
        self.state
            .set_models(models.into_iter().map(Into::into).collect());
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.state.shutdown.cancel();
        if let Some(thread) = self.thread.take() {
            // A panic on the server thread was already printed, and the
            // test notices it through its failed requests.
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for FakeServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeServer")
            .field("url", &self.url)
            .finish()
    }
}
