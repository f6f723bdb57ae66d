//! Workspace operations that are not jobs: settings, statistics, purging
//! `output/`, showing heatmaps, the temperature canary and the memory check
//! of Crunch Mode.

pub mod canary;
pub mod memory;
pub mod purge;
pub mod settings;
pub mod show;
pub mod stats;
