//! Subcommands: turning parsed arguments into requests, and running them on a connection.

pub mod aggregate;
pub mod canary;
pub mod control;
pub mod evaluate;
pub mod follow;
pub mod list;
pub mod models;
pub mod pull;
pub mod purge;
pub mod settings;
pub mod show;
pub mod stats;
pub mod status;
pub mod submit;

use std::path::Path;

use heatmap_proto::{BackendKind, EvaluateSpec, JobId, JobSpec};

use crate::cli::Command;
use crate::client::Transport;
use crate::exit::Failure;
use crate::output::Output;
use control::Control;

/// A command with every local input resolved, ready to send.
///
/// Building it reads files and environment variables before any connection
/// is made, so mistakes in them fail fast even when heatmapd is down.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Queue a job, and follow it with `wait`.
    Submit {
        /// The job.
        spec: JobSpec,
        /// Follow the job to its end.
        wait: bool,
    },
    /// List jobs.
    List,
    /// Daemon status, or one job's detail.
    Status(Option<JobId>),
    /// Follow a job.
    Follow(JobId),
    /// Cancel, pause or resume a job, or stop the daemon.
    Control(Control),
    /// Aggregate session folders (all of them when empty).
    Aggregate(Vec<String>),
    /// Derive registered heatmaps.
    Derive {
        /// Heatmap ids.
        ids: Vec<String>,
        /// Every registered heatmap.
        all: bool,
    },
    /// Grade saved answers with an evaluator model.
    Evaluate(EvaluateSpec),
    /// Show settings, or change them with the given pairs.
    Settings(Option<Vec<(String, String)>>),
    /// Workspace statistics.
    Stats,
    /// Purge files under `output/` after a dry run.
    Purge {
        /// What to remove (the dry run flag is set by the command).
        spec: heatmap_proto::PurgeSpec,
        /// Confirmation mode after the dry run.
        confirm: purge::Confirm,
    },
    /// Draw a heatmap.
    Show {
        /// Heatmap id or `live`.
        id: String,
        /// Cell colours.
        colour: show::Colour,
    },
    /// Pull a model through Ollama.
    Pull {
        /// Ollama base URL.
        url: String,
        /// Model name.
        model: String,
    },
    /// Temperature canary of one model.
    Canary {
        /// API kind.
        backend: BackendKind,
        /// Base URL.
        url: String,
        /// Model.
        model: String,
        /// High temperature, or the settings' top.
        high_temperature: Option<f64>,
    },
    /// List a server's models.
    Models {
        /// API kind.
        backend: BackendKind,
        /// Base URL.
        url: String,
    },
}

impl Action {
    /// Resolves a parsed command. Returns the action and warnings for the user.
    pub fn from_command(
        command: Command,
        ollama_host: Option<&str>,
    ) -> Result<(Action, Vec<String>), Failure> {
        let action = match command {
            Command::Submit(args) => {
                let (spec, warnings) = submit::build_spec(&args, ollama_host)?;
                return Ok((
                    Action::Submit {
                        spec,
                        wait: args.wait,
                    },
                    warnings,
                ));
            }
            Command::List => Action::List,
            Command::Status { job } => Action::Status(job),
            Command::Follow { job } => Action::Follow(job),
            Command::Cancel { job } => Action::Control(Control::Cancel(job)),
            Command::Pause { job } => Action::Control(Control::Pause(job)),
            Command::Resume { job } => Action::Control(Control::Resume(job)),
            Command::Shutdown => Action::Control(Control::Shutdown),
            Command::Aggregate { sessions } => Action::Aggregate(sessions),
            Command::Derive { ids, all } => Action::Derive { ids, all },
            Command::Evaluate(args) => Action::Evaluate(evaluate::build_spec(&args, ollama_host)?),
            Command::Settings(args) => match args.action {
                Some(settings::SettingsAction::Set { words }) => {
                    Action::Settings(Some(settings::pair_up(&words)?))
                }
                None => Action::Settings(None),
            },
            Command::Stats => Action::Stats,
            Command::Purge(args) => {
                use std::io::IsTerminal;
                let confirm = purge::Confirm::choose(args.yes, std::io::stdin().is_terminal());
                Action::Purge {
                    spec: args.spec(),
                    confirm,
                }
            }
            Command::Show { id } => {
                use std::io::IsTerminal;
                let colour = show::Colour::choose(
                    std::io::stdout().is_terminal(),
                    std::env::var("NO_COLOR").ok().as_deref(),
                    std::env::var("COLORTERM").ok().as_deref(),
                );
                Action::Show { id, colour }
            }
            Command::Pull { name, url } => {
                let urls: Vec<String> = url.into_iter().collect();
                let (_, mut urls) =
                    submit::resolve_server(&urls, Some(BackendKind::Ollama), ollama_host)?;
                Action::Pull {
                    url: urls.remove(0),
                    model: name,
                }
            }
            Command::Canary(args) => {
                let urls: Vec<String> = args.url.into_iter().collect();
                let (backend, mut urls) =
                    submit::resolve_server(&urls, args.backend.map(Into::into), ollama_host)?;
                Action::Canary {
                    backend,
                    url: urls.remove(0),
                    model: args.model,
                    high_temperature: args.high_temperature,
                }
            }
            Command::Models { url, backend } => {
                let urls: Vec<String> = url.into_iter().collect();
                let (backend, mut urls) =
                    submit::resolve_server(&urls, backend.map(Into::into), ollama_host)?;
                Action::Models {
                    backend,
                    url: urls.remove(0),
                }
            }
        };
        Ok((action, Vec::new()))
    }

    /// Runs the action on an open connection.
    ///
    /// `interrupt` stops following a job when it completes; other actions ignore it.
    pub async fn run<T: Transport>(
        self,
        connection: &mut T,
        output: &mut Output<'_>,
        socket: &Path,
        interrupt: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        match self {
            Action::Submit { spec, wait } => {
                submit::run(connection, output, spec, wait, interrupt).await
            }
            Action::List => list::run(connection, output).await,
            Action::Status(job) => status::run(connection, output, job, socket).await,
            Action::Follow(job) => follow::run(connection, output, job, interrupt).await,
            Action::Control(control) => control::run(connection, output, control).await,
            Action::Aggregate(sessions) => aggregate::aggregate(connection, output, sessions).await,
            Action::Derive { ids, all } => aggregate::derive(connection, output, ids, all).await,
            Action::Models { backend, url } => models::run(connection, output, backend, url).await,
            Action::Settings(pairs) => settings::run(connection, output, pairs).await,
            Action::Stats => stats::run(connection, output).await,
            Action::Purge { spec, confirm } => {
                let mut stdin = std::io::stdin().lock();
                purge::run(connection, output, spec, confirm, &mut stdin).await
            }
            Action::Show { id, colour } => show::run(connection, output, id, colour).await,
            Action::Pull { url, model } => pull::run(connection, output, url, model).await,
            Action::Canary {
                backend,
                url,
                model,
                high_temperature,
            } => canary::run(connection, output, backend, url, model, high_temperature).await,
            Action::Evaluate(spec) => evaluate::run(connection, output, spec).await,
        }
    }
}
