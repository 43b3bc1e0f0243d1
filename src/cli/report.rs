//! `heroku-autoscale report`: the worker's own log in, a summary and a chart of what it did out.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use heroku_autoscale::log_report::Record;

use crate::simulate_command::{read_log, write_svg};
use crate::{report_stdout_refusals, say, say_on_stderr, EXIT_BAD_SETTINGS};

#[derive(Args)]
pub struct ReportArgs {
    /// The worker's log: `heroku logs -a APP --dyno autoscaleworker` output, a log drain's
    /// file, or the worker's own output; `-` or nothing reads standard input.
    #[arg(value_name = "FILE")]
    input: Option<PathBuf>,

    /// Also draw the chart (heartbeat latencies and limits, dynos per process type, scale
    /// calls, notices, gaps) as SVG to FILE.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

/// Reads the log and prints what the worker did.
pub fn report(args: &ReportArgs) -> ExitCode {
    let now = chrono::Utc::now();
    let mut record = Record::default();
    let name = match read_log(args.input.as_deref(), |line| record.add_line(line, now)) {
        Ok(name) => name,
        Err(code) => return code,
    };
    let shown_name = args
        .input
        .as_ref()
        .and_then(|path| path.file_name())
        .map_or(name.clone(), |file| file.to_string_lossy().into_owned());
    let Some(chart) = record.chart(&format!("{shown_name}: what the worker did")) else {
        say_on_stderr(format_args!(
            "error: {name}: none of its {} lines is the worker's log: give `heroku logs -a APP \
             --dyno autoscaleworker` output (or a log drain's file, or the worker's own output), \
             whose lines read `... INFO scaled web from=2 to=3 reason=slow_streak`",
            record.skipped
        ));
        return ExitCode::from(EXIT_BAD_SETTINGS);
    };
    say(record.summary());
    let mut code = ExitCode::SUCCESS;
    if let Some(path) = &args.svg {
        code = write_svg(path, &chart).unwrap_or(code);
    }
    if report_stdout_refusals() {
        code = ExitCode::FAILURE;
    }
    code
}
