//! `heroku-autoscale report`: the worker's own log in, a summary and a chart of what it did out.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use heroku_autoscale::log_report::Record;
use heroku_autoscale::simulate::chart::render_svg;

use crate::simulate_command::write_output;
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
    let (name, reader): (String, Box<dyn Read>) = match &args.input {
        Some(path) if path.as_os_str() != "-" => match std::fs::File::open(path) {
            Ok(file) => (path.display().to_string(), Box::new(file)),
            Err(error) => {
                say_on_stderr(format_args!(
                    "error: {}: cannot read the log: {error}",
                    path.display()
                ));
                return ExitCode::from(EXIT_BAD_SETTINGS);
            }
        },
        _ => ("standard input".to_string(), Box::new(std::io::stdin())),
    };
    let now = chrono::Utc::now();
    let mut record = Record::default();
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => record.add_line(String::from_utf8_lossy(&line).trim_end(), now),
            Err(error) => {
                say_on_stderr(format_args!("error: {name}: reading failed: {error}"));
                return ExitCode::from(EXIT_BAD_SETTINGS);
            }
        }
    }
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
        match render_svg(&chart) {
            Ok(svg) => code = write_output(path, svg.as_bytes(), "--svg").unwrap_or(code),
            Err(error) => {
                say_on_stderr(format_args!("error: --svg {}: {error}", path.display()));
                code = ExitCode::FAILURE;
            }
        }
    }
    if report_stdout_refusals() {
        code = ExitCode::FAILURE;
    }
    code
}
