//! Scanning grade files and writing heatmap summaries.
