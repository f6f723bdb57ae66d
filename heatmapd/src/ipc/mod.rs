//! The local socket server that answers heatmapctl.
