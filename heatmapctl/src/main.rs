//! heatmapctl, the command-line client of heatmapd.

// The commands that use these modules follow in the next change.
#![allow(dead_code)]

mod cli;
mod exit;
mod parse;

use clap::Parser;

fn main() {
    let _cli = cli::Cli::parse();
}
