//! The SQLite job queue.
