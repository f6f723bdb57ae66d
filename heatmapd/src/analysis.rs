//! Derivative, percent change and trend lines of heatmap rows.
