//! Grading answers: exact match, whole-word match and an LLM judge.
