//! Scheduling work items onto backends.
