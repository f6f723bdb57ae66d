//! Asking an evaluator model to judge answers.
