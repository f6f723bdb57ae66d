//! Grading answers: exact match, whole-word match and an LLM judge, and the
//! grade files (`<answer stem>_eval.json`) they write.

pub mod evaluate;
pub mod judge;
pub mod matching;
pub mod record;
pub mod thinking;
pub mod verdict;

pub use record::GradeRecord;
