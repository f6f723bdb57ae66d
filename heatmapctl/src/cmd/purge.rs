//! `heatmapctl purge`: lists what would be removed under `output/`, asks,
//! then removes it.

use std::io::BufRead;

use clap::{ArgGroup, Args};
use heatmap_proto::{PurgeReport, PurgeSpec, Request, Response};

use crate::client::{self, Transport};
use crate::exit::Failure;
use crate::output::Output;
use crate::render;

/// Options of `purge`.
#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("scope").required(true).multiple(true).args(["models", "grades", "all", "summaries"])))]
pub struct PurgeArgs {
    /// Model whose folder is removed: its real name (as in session.json) or its folder name; repeat for more
    #[arg(long = "model", value_name = "M", conflicts_with = "all")]
    pub models: Vec<String>,

    /// With --model: remove only this session folder (YYYYmmdd_HHMMSS); repeat for more
    #[arg(long = "session", value_name = "S", requires = "models")]
    pub sessions: Vec<String>,

    /// Remove grade files (*_eval.json) only, keeping answers; with --model, only that model's
    #[arg(long)]
    pub grades: bool,

    /// Remove everything under output/ except Summaries/, specifics/ and graphs/
    #[arg(long)]
    pub all: bool,

    /// Also remove Summaries/, specifics/ and graphs/ (alone: only those)
    #[arg(long)]
    pub summaries: bool,

    /// Remove without asking
    #[arg(long, short = 'y')]
    pub yes: bool,
}

impl PurgeArgs {
    /// Builds the spec of the dry run.
    pub fn spec(&self) -> PurgeSpec {
        PurgeSpec {
            models: self.models.clone(),
            sessions: self.sessions.clone(),
            grades: self.grades,
            all: self.all,
            summaries: self.summaries,
            dry_run: true,
        }
    }
}

/// Confirmation mode after the dry run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    /// `--yes`: remove without asking.
    Yes,
    /// Ask on the terminal.
    Ask,
    /// No terminal and no `--yes`: reject.
    NoTerminal,
}

impl Confirm {
    /// Picks the mode from `--yes` and whether stdin is a terminal.
    pub fn choose(yes: bool, stdin_is_terminal: bool) -> Confirm {
        match (yes, stdin_is_terminal) {
            (true, _) => Confirm::Yes,
            (false, true) => Confirm::Ask,
            (false, false) => Confirm::NoTerminal,
        }
    }
}

/// Sends a dry run, shows it, confirms, then purges.
///
/// `answer` reads the user's reply when `confirm` is [`Confirm::Ask`].
pub async fn run<T: Transport>(
    connection: &mut T,
    output: &mut Output<'_>,
    mut spec: PurgeSpec,
    confirm: Confirm,
    answer: &mut dyn BufRead,
) -> anyhow::Result<()> {
    spec.dry_run = true;
    let response = client::call(connection, output, Request::Purge(spec.clone())).await?;
    let Response::Purged(planned) = &response else {
        return Err(client::unexpected("Purge", &response));
    };
    if planned.files == 0 && planned.folders == 0 {
        if !output.json {
            output.line("nothing to remove")?;
        }
        return Ok(());
    }
    if !output.json {
        output.line(describe(planned))?;
    }
    match confirm {
        Confirm::Yes => {}
        Confirm::NoTerminal => {
            return Err(Failure::failed(
                "purge needs confirmation but stdin is not a terminal; pass --yes to remove without asking",
            )
            .into());
        }
        Confirm::Ask => {
            write!(output.err, "remove these? [y/N] ")?;
            output.err.flush()?;
            let mut reply = String::new();
            answer.read_line(&mut reply)?;
            if !matches!(reply.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
                output.line("nothing removed")?;
                return Ok(());
            }
        }
    }
    spec.dry_run = false;
    let response = client::call(connection, output, Request::Purge(spec)).await?;
    let Response::Purged(removed) = &response else {
        return Err(client::unexpected("Purge", &response));
    };
    if output.json {
        return Ok(());
    }
    output.line(describe(removed))
}

/// Renders counts, size and up to 50 paths of a report.
pub fn describe(report: &PurgeReport) -> String {
    let verb = if report.dry_run {
        "would remove"
    } else {
        "removed"
    };
    let mut lines = vec![format!(
        "{verb} {} files and {} folders, {}",
        report.files,
        report.folders,
        render::size(Some(report.bytes))
    )];
    lines.extend(report.paths.iter().map(|path| format!("  {path}")));
    let entries = report.files + report.folders;
    if entries > report.paths.len() as u64 {
        lines.push(format!(
            "  ... and {} more",
            entries - report.paths.len() as u64
        ));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Capture, Scripted};

    fn spec() -> PurgeSpec {
        PurgeSpec {
            models: vec!["tiny".into()],
            sessions: vec![],
            grades: false,
            all: false,
            summaries: false,
            dry_run: false,
        }
    }

    fn report(dry_run: bool) -> PurgeReport {
        PurgeReport {
            dry_run,
            files: 2,
            folders: 1,
            bytes: 30,
            paths: vec!["output/tiny/a.txt".into(), "output/tiny/b.txt".into()],
        }
    }

    #[test]
    fn confirm_modes() {
        assert_eq!(Confirm::choose(true, false), Confirm::Yes);
        assert_eq!(Confirm::choose(false, true), Confirm::Ask);
        assert_eq!(Confirm::choose(false, false), Confirm::NoTerminal);
    }

    #[test]
    fn description_counts_unlisted_paths() {
        assert_eq!(
            describe(&report(true)),
            "would remove 2 files and 1 folders, 30 B\n  output/tiny/a.txt\n  output/tiny/b.txt\n  ... and 1 more"
        );
    }

    #[tokio::test]
    async fn yes_sends_dry_run_then_purge() {
        let mut connection = Scripted::new(vec![
            Response::Purged(report(true)),
            Response::Purged(report(false)),
        ]);
        let mut capture = Capture::default();
        run(
            &mut connection,
            &mut capture.output(false),
            spec(),
            Confirm::Yes,
            &mut &b""[..],
        )
        .await
        .unwrap();
        let dry = PurgeSpec {
            dry_run: true,
            ..spec()
        };
        assert_eq!(
            connection.sent,
            vec![Request::Purge(dry), Request::Purge(spec())]
        );
        assert!(
            capture
                .out()
                .contains("\nremoved 2 files and 1 folders, 30 B\n"),
            "{}",
            capture.out()
        );
    }

    #[tokio::test]
    async fn no_terminal_rejects_after_dry_run() {
        let mut connection = Scripted::new(vec![Response::Purged(report(true))]);
        let mut capture = Capture::default();
        let error = run(
            &mut connection,
            &mut capture.output(false),
            spec(),
            Confirm::NoTerminal,
            &mut &b""[..],
        )
        .await
        .unwrap_err();
        assert!(error.to_string().contains("pass --yes"), "{error}");
        assert_eq!(connection.sent.len(), 1);
    }

    #[tokio::test]
    async fn answer_no_removes_nothing() {
        let mut connection = Scripted::new(vec![Response::Purged(report(true))]);
        let mut capture = Capture::default();
        run(
            &mut connection,
            &mut capture.output(false),
            spec(),
            Confirm::Ask,
            &mut &b"n\n"[..],
        )
        .await
        .unwrap();
        assert_eq!(connection.sent.len(), 1);
        assert!(
            capture.out().ends_with("nothing removed\n"),
            "{}",
            capture.out()
        );
        assert_eq!(capture.err(), "remove these? [y/N] ");
    }

    #[tokio::test]
    async fn answer_yes_removes() {
        let mut connection = Scripted::new(vec![
            Response::Purged(report(true)),
            Response::Purged(report(false)),
        ]);
        let mut capture = Capture::default();
        run(
            &mut connection,
            &mut capture.output(false),
            spec(),
            Confirm::Ask,
            &mut &b"y\n"[..],
        )
        .await
        .unwrap();
        assert_eq!(connection.sent.len(), 2);
    }
}
