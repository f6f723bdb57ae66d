//! Reading `prompts.csv`.
