//! The heatmap engine: settings and prompts, the single-instance lock, the
//! SQLite job queue, inference backends, the runner, grading, aggregation
//! into heatmaps, the output watcher and the IPC server.

pub mod aggregate;
pub mod analysis;
pub mod backend;
pub mod config;
pub mod grade;
pub mod ipc;
pub mod layout;
pub mod lock;
pub mod ops;
pub mod plot;
pub mod prompts;
pub mod runner;
pub mod store;
pub mod watch;
