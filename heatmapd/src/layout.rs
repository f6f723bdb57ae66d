//! Names and paths of answer files, and atomic file writes.
