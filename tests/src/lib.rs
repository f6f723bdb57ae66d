//! Test support for heatmap: a scripted fake inference server that the
//! engine's unit tests and the end-to-end tests point their clients at.

pub mod fake;

pub use fake::{FakeConfig, FakeReply, FakeRequest, FakeServer};
