//! `heroku-autoscale simulate`: its flags, and printing and writing what the run found.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{ArgGroup, Args};
use heroku_autoscale::settings::{Loaded, Settings};
use heroku_autoscale::simulate::chart::{render_svg, ChartData};
use heroku_autoscale::simulate::report::{self, Report};
use heroku_autoscale::simulate::trace::{Trace, MAX_SERVICE_MS, MIN_SERVICE_MS};
use heroku_autoscale::simulate::{self, scenarios, Model, RunResult, SimulateError};

use crate::{report_stdout_refusals, say, say_on_stderr, EXIT_BAD_SETTINGS};

#[derive(Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub model: ModelArgs,

    /// Also write every figure as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,

    /// Also draw the chart (traffic, latency, dynos) as SVG to FILE.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

/// The traffic and the model of the app: what `simulate` and `tune` share.
#[derive(Args)]
#[command(group(ArgGroup::new("traffic").required(true).args(["trace", "scenario"])))]
pub struct ModelArgs {
    /// Traffic from a CSV file: `seconds,requests_per_second[,service_ms]`.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,

    /// A built-in traffic curve: daily, spike, ramp, slow-db, noisy, night; `list` describes
    /// them (and runs nothing).
    #[arg(long, value_name = "NAME")]
    scenario: Option<String>,

    /// Mean service time of a request, where the trace gives none.
    #[arg(long, value_name = "MS", default_value = "100", allow_negative_numbers = true,
          value_parser = service_ms)]
    service_ms: f64,

    /// Requests one dyno serves at once.
    #[arg(long, value_name = "N", default_value = "4", allow_negative_numbers = true,
          value_parser = concurrency)]
    concurrency: u32,

    /// Seconds from the scale call to the dyno serving.
    #[arg(long, value_name = "SECONDS", default_value = "45", allow_negative_numbers = true,
          value_parser = boot_seconds)]
    boot_seconds: f64,

    /// A request slower than this counts as a violation, at most 30000 (the router's H12)
    /// [default: the max response time, at most 30000].
    #[arg(long, value_name = "MS", allow_negative_numbers = true, value_parser = slo_ms)]
    slo_ms: Option<f64>,

    /// Dynos at the start, for the worker (which corrects a count outside the bounds at once,
    /// as in production) [default: the demand at time 0, within the bounds].
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = start_dynos)]
    start_dynos: Option<u32>,

    /// Seeds the random arrivals, service times and routing: the same seed, the same result.
    #[arg(long, value_name = "N", default_value = "1", allow_negative_numbers = true,
          value_parser = seed)]
    seed: u64,

    /// Mean time one job takes, for a trace with job columns.
    #[arg(long, value_name = "SECONDS", default_value = "10", allow_negative_numbers = true,
          value_parser = job_seconds)]
    job_seconds: f64,

    /// Jobs one worker dyno works at once (Sidekiq's concurrency, Celery's worker processes).
    #[arg(long, value_name = "N", default_value = "5", allow_negative_numbers = true,
          value_parser = job_concurrency)]
    job_concurrency: u32,
}

impl ModelArgs {
    /// `--scenario list`: print the scenarios and run nothing.
    pub fn lists_scenarios(&self) -> bool {
        self.scenario.as_deref() == Some("list")
    }

    /// The trace asked for, or the error to print.
    pub fn trace(&self) -> Result<Trace, String> {
        match (&self.trace, &self.scenario) {
            (Some(path), _) => Trace::read_file(path).map_err(|error| error.to_string()),
            (None, Some(name)) => scenarios::find(name)
                .map(|scenario| scenario.trace())
                .ok_or_else(|| scenarios::unknown_scenario_message(name)),
            (None, None) => Err("give --trace FILE or --scenario NAME".into()),
        }
    }

    /// The model, its SLO from the settings unless `--slo-ms` gives one.
    pub fn model(&self, settings: &Settings) -> Model {
        Model {
            service_ms: self.service_ms,
            concurrency: self.concurrency,
            boot_seconds: self.boot_seconds,
            slo_ms: self.slo_ms.unwrap_or_else(|| {
                let max_response_ms = settings.max_response_time.as_secs_f64() * 1000.0;
                max_response_ms.min(ROUTER_TIMEOUT_MS)
            }),
            start_dynos: self.start_dynos,
            seed: self.seed,
            job_seconds: self.job_seconds,
            job_concurrency: self.job_concurrency,
        }
    }
}

/// `--scenario list`.
pub fn list_scenarios() -> ExitCode {
    say(scenarios::list().trim_end());
    if report_stdout_refusals() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The trace, the model and a run of every policy, or the exit code after saying why not.
pub fn run_every_policy(
    loaded: &Loaded,
    args: &ModelArgs,
) -> Result<(Trace, Model, RunResult), ExitCode> {
    for warning in &loaded.warnings {
        say_on_stderr(format_args!("warning: {warning}"));
    }
    let refused = |error: &dyn std::fmt::Display| {
        say_on_stderr(format_args!("error: {error}"));
        ExitCode::from(EXIT_BAD_SETTINGS)
    };
    let trace = args.trace().map_err(|error| refused(&error))?;
    let model = args.model(&loaded.settings);
    match simulate::run(&trace, &model, &loaded.settings) {
        Ok(result) => Ok((trace, model, result)),
        Err(error) => {
            let code = refused(&error);
            if matches!(error, SimulateError::SloOutOfReach { .. }) && args.slo_ms.is_none() {
                say_on_stderr(
                    "hint: the SLO is the max response time setting \
                     (AUTOSCALE_MAX_RESPONSE_TIME_IN_MS), at most 30000 ms, unless --slo-ms \
                     gives another",
                );
            }
            Err(code)
        }
    }
}

/// Runs the simulation: the table on stdout, then the files asked for.
pub fn simulate(loaded: &Loaded, args: &SimulateArgs) -> ExitCode {
    let (trace, model, result) = match run_every_policy(loaded, &args.model) {
        Ok(run) => run,
        Err(code) => return code,
    };
    let settings = &loaded.settings;
    say(report::table(&trace, &model, settings, &result).trim_end());
    let mut code = ExitCode::SUCCESS;
    if let Some(path) = &args.json {
        let json = Report::new(&trace, &model, settings, &result).to_json();
        code = write_output(path, json.as_bytes(), "--json").unwrap_or(code);
    }
    if let Some(path) = &args.svg {
        let chart = report::chart(&trace, &model, settings, &result);
        code = write_svg(path, &chart).unwrap_or(code);
    }
    if report_stdout_refusals() {
        code = ExitCode::FAILURE;
    }
    code
}

/// Draws `chart` into the `--svg` file and says so; on failure, the exit code that reports it.
pub fn write_svg(path: &Path, chart: &ChartData) -> Option<ExitCode> {
    match render_svg(chart) {
        Ok(svg) => write_output(path, svg.as_bytes(), "--svg"),
        Err(error) => {
            say_on_stderr(format_args!("error: --svg {}: {error}", path.display()));
            Some(ExitCode::FAILURE)
        }
    }
}

/// Every line of the log at `input` (standard input for none or `-`), each passed to `each`
/// with any line end trimmed; a line that is not UTF-8 is still read, since only ASCII fields
/// matter. The source's name for messages, or the exit code after saying why it cannot be read.
pub fn read_log(input: Option<&Path>, mut each: impl FnMut(&str)) -> Result<String, ExitCode> {
    let (name, reader): (String, Box<dyn Read>) = match input {
        Some(path) if path.as_os_str() != "-" => match std::fs::File::open(path) {
            Ok(file) => (path.display().to_string(), Box::new(file)),
            Err(error) => {
                say_on_stderr(format_args!(
                    "error: {}: cannot read the log: {error}",
                    path.display()
                ));
                return Err(ExitCode::from(EXIT_BAD_SETTINGS));
            }
        },
        _ => ("standard input".to_string(), Box::new(std::io::stdin())),
    };
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => return Ok(name),
            Ok(_) => each(String::from_utf8_lossy(&line).trim_end()),
            Err(error) => {
                say_on_stderr(format_args!("error: {name}: reading failed: {error}"));
                return Err(ExitCode::from(EXIT_BAD_SETTINGS));
            }
        }
    }
}

/// Writes an output file and says so; on failure, the exit code that reports it.
pub fn write_output(path: &Path, bytes: &[u8], flag: &str) -> Option<ExitCode> {
    match std::fs::write(path, bytes) {
        Ok(()) => {
            say(format_args!("wrote {}", path.display()));
            None
        }
        Err(error) => {
            say_on_stderr(format_args!(
                "error: {flag} {}: cannot write the file: {error}",
                path.display()
            ));
            Some(ExitCode::FAILURE)
        }
    }
}

/// The router answers H12 at 30 s: no request takes longer, so no SLO needs to.
const ROUTER_TIMEOUT_MS: f64 = 30_000.0;

fn service_ms(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(ms) if (MIN_SERVICE_MS..=MAX_SERVICE_MS).contains(&ms) => Ok(ms),
        _ => Err(format!(
            "\"{text}\" is not a mean service time: give milliseconds from {MIN_SERVICE_MS} to \
             {MAX_SERVICE_MS}, like 100 or 12.5"
        )),
    }
}

fn slo_ms(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(ms) if ms > 0.0 && ms <= ROUTER_TIMEOUT_MS => Ok(ms),
        _ => Err(format!(
            "\"{text}\" is not an SLO: give milliseconds above 0 and at most {ROUTER_TIMEOUT_MS} \
             (the router fails a request at 30 s), like 1000"
        )),
    }
}

/// Seconds from 0 to an hour.
fn boot_seconds(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        // + 0.0 turns -0 into 0.
        Ok(seconds) if (0.0..=3600.0).contains(&seconds) => Ok(seconds + 0.0),
        _ => Err(format!(
            "\"{text}\" is not a boot time: give seconds from 0 to 3600, like 45 or 20.5"
        )),
    }
}

/// From a millisecond to an hour.
fn job_seconds(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(seconds) if (0.001..=3600.0).contains(&seconds) => Ok(seconds),
        _ => Err(format!(
            "\"{text}\" is not a mean job time: give seconds from 0.001 to 3600, like 10 or 0.5"
        )),
    }
}

fn job_concurrency(text: &str) -> Result<u32, String> {
    whole_number(text, 1, 1000, "jobs at once, like 5").map(|n| n as u32)
}

fn concurrency(text: &str) -> Result<u32, String> {
    whole_number(text, 1, 1000, "requests at once, like 4").map(|n| n as u32)
}

fn start_dynos(text: &str) -> Result<u32, String> {
    whole_number(text, 0, 10_000, "dynos, like 2").map(|n| n as u32)
}

fn seed(text: &str) -> Result<u64, String> {
    whole_number(text, 0, u64::MAX, "like 1 or 42")
}

fn whole_number(text: &str, low: u64, high: u64, example: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(number) if (low..=high).contains(&number) => Ok(number),
        _ => Err(format!(
            "\"{text}\" is not a whole number from {low} to {high}: give one, {example}"
        )),
    }
}
