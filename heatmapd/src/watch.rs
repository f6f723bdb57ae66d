//! Watching `output/` and refreshing the live heatmap.
