//! Single-instance lock on the PID file.
