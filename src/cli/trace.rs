//! `heroku-autoscale trace`: Heroku router log lines in, a trace CSV for `simulate --trace` out.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use heroku_autoscale::router_log::Buckets;
use heroku_autoscale::simulate::trace::{MAX_SERVICE_MS, MIN_SERVICE_MS};

use crate::simulate_command::{read_log, write_output};
use crate::{report_stdout_refusals, say, say_on_stderr, EXIT_BAD_SETTINGS};

#[derive(Args)]
pub struct TraceArgs {
    /// The router log: `heroku logs --source heroku --dyno router` output or a log drain's
    /// file; `-` or nothing reads standard input.
    #[arg(value_name = "FILE")]
    input: Option<PathBuf>,

    /// Seconds each row of the trace covers.
    #[arg(long, value_name = "SECONDS", default_value = "60", allow_negative_numbers = true,
          value_parser = bucket_seconds)]
    bucket_seconds: u32,

    /// Write the trace to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Reads the log, writes the trace and says on standard error what it read.
pub fn trace(args: &TraceArgs) -> ExitCode {
    let mut buckets = Buckets::new(args.bucket_seconds);
    let name = match read_log(args.input.as_deref(), |line| buckets.add_line(line)) {
        Ok(name) => name,
        Err(code) => return code,
    };
    let Some((start, end)) = buckets.span() else {
        let unreadable = match &buckets.unreadable {
            (count @ 1.., Some(why)) => {
                format!(
                    "; {} of the router's could not be read ({why})",
                    lines(*count)
                )
            }
            _ => String::new(),
        };
        say_on_stderr(format_args!(
            "error: {name}: no router request in {}{unreadable}: give the output of `heroku logs \
             --source heroku --dyno router` (or a log drain's file), whose lines read \
             `... heroku[router]: at=info method=GET path=\"/\" ... service=23ms status=200 ...`",
            lines(buckets.other_lines + buckets.unreadable.0)
        ));
        return ExitCode::from(EXIT_BAD_SETTINGS);
    };
    let trace = match buckets.to_trace(&name) {
        Ok(trace) => trace,
        Err(error) => {
            say_on_stderr(format_args!("error: {name}: {}", error.message));
            return ExitCode::from(EXIT_BAD_SETTINGS);
        }
    };
    say_on_stderr(summary(&buckets, start, end, args.bucket_seconds));
    let csv = trace.to_csv();
    let mut code = ExitCode::SUCCESS;
    match &args.out {
        Some(path) => code = write_output(path, csv.as_bytes(), "--out").unwrap_or(code),
        None => say(csv.trim_end()),
    }
    if report_stdout_refusals() {
        code = ExitCode::FAILURE;
    }
    code
}

/// What was read, for standard error (standard output carries the trace).
fn summary(
    buckets: &Buckets,
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
    bucket_seconds: u32,
) -> String {
    let buckets_count = (end - start).num_seconds() / i64::from(bucket_seconds);
    let mut text = format!(
        "trace: {} requests from {} to {}, {buckets_count} buckets of {bucket_seconds} s",
        buckets.requests(),
        start.format("%Y-%m-%dT%H:%M:%SZ"),
        end.format("%Y-%m-%dT%H:%M:%SZ"),
    );
    let failed: u64 = buckets.errors.values().sum();
    if failed > 0 {
        let codes: Vec<String> = buckets
            .errors
            .iter()
            .map(|(code, count)| format!("{code} {count}"))
            .collect();
        text.push_str(&format!(
            "; {failed} failed by Heroku ({}), counted in the rate",
            codes.join(", ")
        ));
    }
    if buckets.other_lines > 0 {
        text.push_str(&format!(
            "; skipped {} that {} not the router's",
            lines(buckets.other_lines),
            if buckets.other_lines == 1 {
                "is"
            } else {
                "are"
            }
        ));
    }
    if let (count @ 1.., Some(why)) = &buckets.unreadable {
        text.push_str(&format!(
            "; skipped {} of the router's that could not be read (the first: {why})",
            lines(*count)
        ));
    }
    let (below, above) = buckets.clamped_service_times();
    if below > 0 {
        text.push_str(&format!(
            "; {below} rows' mean service time was under {MIN_SERVICE_MS} ms and is written as \
             {MIN_SERVICE_MS}"
        ));
    }
    if above > 0 {
        text.push_str(&format!(
            "; {above} rows' mean service time was over {MAX_SERVICE_MS} ms and is written as \
             {MAX_SERVICE_MS}"
        ));
    }
    text
}

fn lines(count: u64) -> String {
    if count == 1 {
        "1 line".to_string()
    } else {
        format!("{count} lines")
    }
}

/// From a second to an hour.
fn bucket_seconds(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(seconds) if (1..=3600).contains(&seconds) => Ok(seconds),
        _ => Err(format!(
            "\"{text}\" is not a bucket length: give whole seconds from 1 to 3600, like 60"
        )),
    }
}
