//! Workspace settings (`settings.json`) and the temperature axis.
