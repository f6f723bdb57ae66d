//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use heatmap_proto::{BackendKind, GradeMode, JobId, PromptMode, QuestionRange};

use crate::parse::{
    Temperatures, parse_grade, parse_question_range, parse_stop, parse_temperatures,
};

/// Control heatmapd, the daemon that benchmarks language models across sampling temperatures.
#[derive(Debug, Parser)]
#[command(name = "heatmapctl", version)]
pub struct Cli {
    /// Socket of heatmapd [default: $XDG_RUNTIME_DIR/heatmapd/heatmapd.sock,
    /// else <tmp>/heatmapd-<uid>/heatmapd.sock]
    #[arg(long, global = true, env = "HEATMAPD_SOCKET", value_name = "PATH")]
    pub socket: Option<PathBuf>,

    /// Print responses as JSON, one object per line, instead of text
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// A subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Queue a job: every prompt for every model at every temperature
    Submit(SubmitArgs),
    /// List jobs, newest first
    List,
    /// Show the daemon's status, or one job's progress and failures
    Status {
        /// Job id; without it, shows the daemon's status
        job: Option<JobId>,
    },
    /// Show a job's progress until it ends (Ctrl-C stops following, not the job)
    Follow {
        /// Job id
        job: JobId,
    },
    /// Cancel a job, aborting requests in flight; answers already saved are kept
    Cancel {
        /// Job id
        job: JobId,
    },
    /// Stop handing out new items of a job until it is resumed
    Pause {
        /// Job id
        job: JobId,
    },
    /// Continue a paused or cancelled job
    Resume {
        /// Job id
        job: JobId,
    },
    /// Aggregate grades into a heatmap CSV snapshot
    Aggregate {
        /// Session folder to cover (`MODEL_DIR/SESSION` or `SESSION`); repeat for more.
        /// Without it, all of output/ is covered
        #[arg(long = "session", value_name = "S")]
        sessions: Vec<String>,
    },
    /// Write the derivative, percent change and trend files of registered heatmaps
    Derive {
        /// Heatmap ids, as listed in csv_index.json
        #[arg(
            required_unless_present = "all",
            conflicts_with = "all",
            value_name = "ID"
        )]
        ids: Vec<String>,
        /// Derive every registered heatmap
        #[arg(long)]
        all: bool,
    },
    /// List the models a server offers
    Models {
        /// Base URL of the server [default: OLLAMA_HOST, else http://127.0.0.1:11434]
        #[arg(long, value_name = "URL")]
        url: Option<String>,

        /// API of the server [default: ollama without --url, openai with --url]
        #[arg(long, value_enum)]
        backend: Option<BackendArg>,
    },
    /// Grade saved answers with an evaluator model (LLM judge)
    Evaluate(crate::cmd::evaluate::EvaluateArgs),
    /// Show settings.json with the temperature axis and prompt range it gives, or change it with `set`
    Settings(crate::cmd::settings::SettingsArgs),
    /// Show storage used under output/, file counts, grades by outcome and timing per model
    Stats,
    /// Remove answers, grades or folders under output/, after listing them and asking
    Purge(crate::cmd::purge::PurgeArgs),
    /// Draw a heatmap: an id from csv_index.json, or `live`
    Show {
        /// Heatmap id, or `live` for the watcher's heatmap_live.csv
        id: String,
    },
    /// Download a model through Ollama, with a progress bar per layer
    Pull {
        /// Model name, e.g. gemma3:1b
        name: String,
        /// Base URL of the Ollama server [default: OLLAMA_HOST, else http://127.0.0.1:11434]
        #[arg(long, value_name = "URL")]
        url: Option<String>,
    },
    /// Check that a server honours temperature: 5 answers at 0 must agree, 5 at a high temperature must not
    Canary(crate::cmd::canary::CanaryArgs),
    /// Stop heatmapd cleanly; unfinished items resume at its next start
    Shutdown,
}

/// Options of `submit`.
#[derive(Debug, Clone, Args)]
pub struct SubmitArgs {
    /// Model to benchmark, as the server names it; repeat for more
    #[arg(long = "model", short = 'm', required = true, value_name = "M")]
    pub models: Vec<String>,

    /// Base URL of a server; repeat to spread the work across servers.
    /// [default: OLLAMA_HOST, else http://127.0.0.1:11434]
    #[arg(long = "url", value_name = "URL")]
    pub urls: Vec<String>,

    /// API of the servers [default: ollama without --url, openai with --url]
    #[arg(long, value_enum)]
    pub backend: Option<BackendArg>,

    /// Comma-separated temperatures, e.g. 0,0.5,1 [default: the axis in settings.json]
    #[arg(long, value_name = "LIST", value_parser = parse_temperatures)]
    pub temps: Option<Temperatures>,

    /// Prompts to use, counting from 1 and inclusive: START..END, or START.. to the last one
    /// [default: question_range in settings.json]
    #[arg(long, value_name = "START..END", value_parser = parse_question_range)]
    pub questions: Option<QuestionRange>,

    /// Samples per model, temperature and prompt
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub repeats: u32,

    /// Base sampling seed; repeat k uses seed + k
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Maximum number of tokens generated per answer
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tokens: Option<u32>,

    /// Requests in flight per server URL [default: 1, or one per model with --crunch]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub parallel: Option<u32>,

    /// Crunch Mode: run one lane per model in parallel
    #[arg(long)]
    pub crunch: bool,

    /// Send each prompt as a chat message, or complete the template as raw text (for base models)
    #[arg(long, value_enum, default_value_t = ModeArg::Chat)]
    pub mode: ModeArg,

    /// File with a prompt template; {prompt} marks where the prompt goes
    #[arg(long, value_name = "FILE")]
    pub template: Option<PathBuf>,

    /// Stop sequence; repeat for more. \n, \t and \\ are read as newline, tab and backslash
    #[arg(long = "stop", value_name = "STR", value_parser = parse_stop)]
    pub stops: Vec<String>,

    /// How answers are graded: none, exact, contains or judge:MODEL
    #[arg(long, default_value = "exact", value_name = "MODE", value_parser = parse_grade)]
    pub grade: GradeMode,

    /// Thinking models: true or false sets Ollama's `think` switch (other servers ignore it)
    /// [default: the server's default]
    #[arg(long, value_name = "BOOL")]
    pub think: Option<bool>,

    /// Run a temperature canary per model first, and reject the job when a server ignores temperature
    #[arg(long)]
    pub canary: bool,

    /// Skip the Crunch Mode check that the models fit in 80% of system memory
    #[arg(long)]
    pub force: bool,

    /// Show progress until the job ends, then print its heatmap
    #[arg(long)]
    pub wait: bool,
}

/// `--backend` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// Ollama's native API
    Ollama,
    /// An OpenAI-compatible API (llama.cpp server, vLLM, LM Studio)
    Openai,
}

impl From<BackendArg> for BackendKind {
    fn from(arg: BackendArg) -> BackendKind {
        match arg {
            BackendArg::Ollama => BackendKind::Ollama,
            BackendArg::Openai => BackendKind::OpenAi,
        }
    }
}

/// `--mode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// A chat request with the prompt as the user message
    Chat,
    /// A raw completion, for base models
    Completion,
}

impl From<ModeArg> for PromptMode {
    fn from(arg: ModeArg) -> PromptMode {
        match arg {
            ModeArg::Chat => PromptMode::Chat,
            ModeArg::Completion => PromptMode::Completion,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn submit_defaults() {
        let cli = Cli::try_parse_from(["heatmapctl", "submit", "--model", "m"]).unwrap();
        let Command::Submit(args) = cli.command else {
            panic!("not submit")
        };
        assert_eq!(args.repeats, 1);
        assert_eq!(args.parallel, None);
        assert_eq!(args.grade, GradeMode::Exact);
        assert_eq!(args.mode, ModeArg::Chat);
        assert!(!args.wait);
    }

    #[test]
    fn global_flags_after_subcommand() {
        let cli =
            Cli::try_parse_from(["heatmapctl", "list", "--json", "--socket", "/tmp/s"]).unwrap();
        assert!(cli.json);
        assert_eq!(cli.socket, Some(PathBuf::from("/tmp/s")));
    }

    #[test]
    fn usage_errors() {
        let cases: [&[&str]; 6] = [
            &["heatmapctl", "submit"],
            &["heatmapctl", "submit", "-m", "m", "--temps", "0,-1"],
            &["heatmapctl", "submit", "-m", "m", "--repeats", "0"],
            &["heatmapctl", "submit", "-m", "m", "--grade", "judge"],
            &["heatmapctl", "derive"],
            &["heatmapctl", "derive", "abc", "--all"],
        ];
        for args in cases {
            let error = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(error.exit_code(), crate::exit::USAGE as i32, "{args:?}");
        }
    }

    #[test]
    fn temps_error_names_value() {
        let error =
            Cli::try_parse_from(["heatmapctl", "submit", "-m", "m", "--temps", "0,0.7,0.7"])
                .unwrap_err()
                .to_string();
        assert!(error.contains("temperature 0.7 is listed twice"), "{error}");
    }

    #[test]
    fn stop_and_model_repeat() {
        let cli = Cli::try_parse_from([
            "heatmapctl",
            "submit",
            "-m",
            "a",
            "--model",
            "b",
            "--stop",
            r"\n",
            "--stop",
            "Q:",
        ])
        .unwrap();
        let Command::Submit(args) = cli.command else {
            panic!("not submit")
        };
        assert_eq!(args.models, vec!["a", "b"]);
        assert_eq!(args.stops, vec!["\n", "Q:"]);
    }
}
