//! The `heroku-autoscale` command: `run` the worker, or `check` its settings (and, with
//! `--online`, the API access, the heartbeat URL and the SMTP login).
//!
//! Output never panics: the Rust runtime ignores SIGPIPE, so a closed pipe is an EPIPE error
//! rather than a silent death mid-scale, and every line goes through a writer that drops what
//! stdout or stderr refuses (`println!` and `eprintln!` would panic on it).

use std::fmt::Display;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use heroku_autoscale::online_check::check_online;
use heroku_autoscale::settings::{self, Loaded, Mode, SettingsSource};
use heroku_autoscale::simulate::chart::render_svg;
use heroku_autoscale::simulate::report::{self, Report};
use heroku_autoscale::simulate::trace::Trace;
use heroku_autoscale::simulate::{self, scenarios, Model};
use heroku_autoscale::supervision::fault_injection::{
    parse_panic_schedules, INJECT_PANICS_VARIABLE,
};
use heroku_autoscale::{logger, stdout_loss, write_stdout_line, Autoscaler, WorkerError};
use slog::warn;

/// Exit code for settings that cannot be used (clap uses 2 for bad arguments as well).
const EXIT_BAD_SETTINGS: u8 = 2;

#[derive(Parser)]
#[command(
    name = "heroku-autoscale",
    version,
    about = "Scales a Heroku app's web dynos from the response time of a heartbeat URL.",
    after_help = "Settings come from AUTOSCALE_* environment variables, optionally layered over a \
                  TOML file.\nSee docs/settings.md. Example:\n  \
                  AUTOSCALE_HEROKU_APP_NAME=acme-shop AUTOSCALE_HEROKU_API_KEY=... heroku-autoscale run"
)]
struct Cli {
    /// A TOML settings file; environment variables override it. Also AUTOSCALE_CONFIG.
    #[arg(long, short, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the autoscaler until SIGTERM, SIGINT or SIGHUP (what a Procfile line runs; SIGHUP is
    /// ignored under nohup).
    #[command(after_help = "Examples:\n  \
        Procfile line:            autoscaleworker: heroku-autoscale run\n  \
        Watch it decide, no scaling:\n    \
        heroku-autoscale run --dry-run\n  \
        Against an app on this machine, no Heroku at all:\n    \
        AUTOSCALE_HEARTBEAT_URL=http://localhost:8000/heroku-autoscale/heartbeat/v1 \\\n      \
        heroku-autoscale run --local-formation 2\n\n\
        Exit codes: 0 stopped by SIGTERM/SIGINT/SIGHUP, 2 settings refused, 1 actors failed \
        more than 10 times in a minute.")]
    Run(RunArgs),
    /// Validate the settings and print the effective values (secrets masked).
    #[command(after_help = "Examples:\n  \
        heroku-autoscale check\n  \
        heroku-autoscale --config settings/example.toml check\n  \
        heroku-autoscale check --online     # also reads the app, probes the heartbeat once,\n\
        \x20                                     # logs in to the SMTP server (sends no mail)\n\n\
        Exit codes: 0 all good, 2 settings refused (one line per problem), 1 an online check \
        failed.")]
    Check(CheckArgs),
    /// Try the settings on a traffic curve: a model of the app's dynos, the worker's real
    /// decision code on a virtual clock, compared with the seed, oracle and fixed-max policies.
    #[command(after_help = "Examples:\n  \
        heroku-autoscale simulate --scenario spike --svg spike.svg\n  \
        heroku-autoscale simulate --scenario list\n  \
        AUTOSCALE_MAX_DYNOS=20 heroku-autoscale simulate --trace traffic.csv --json out.json\n\n\
        A trace is a CSV file: a header `seconds,requests_per_second` (optionally `,service_ms`),\n\
        then rows from seconds 0, the rate linear between rows. See docs/simulation.md.\n\n\
        Exit codes: 0 done, 2 bad settings, flags or trace, 1 an output file could not be \
        written.")]
    Simulate(SimulateArgs),
}

#[derive(Args)]
struct RunArgs {
    /// Decide as usual but send no scale call: reads the real formation and logs
    /// `would scale web from=2 to=3 ...` instead.
    #[arg(long, conflicts_with = "local_formation")]
    dry_run: bool,

    /// Talk to no Heroku API at all: scale an in-memory formation that starts at N dynos. The
    /// app name and API key may be left out; AUTOSCALE_HEARTBEAT_URL must be absolute.
    #[arg(long, value_name = "N")]
    local_formation: Option<u32>,
}

#[derive(Args)]
struct CheckArgs {
    /// Also read the app and its formation from the API once (read-only), probe the heartbeat
    /// URL once and, when notices are emailed, log in to the SMTP server without sending mail,
    /// to show that the key, app name, URL and mail login are right.
    #[arg(long)]
    online: bool,
}

#[derive(Args)]
struct SimulateArgs {
    /// Traffic from a CSV file: `seconds,requests_per_second[,service_ms]`.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "scenario",
        required_unless_present = "scenario"
    )]
    trace: Option<PathBuf>,

    /// A built-in traffic curve: daily, spike, ramp, slow-db, noisy, night; `list` describes
    /// them.
    #[arg(long, value_name = "NAME")]
    scenario: Option<String>,

    /// Mean service time of a request, where the trace gives none.
    #[arg(long, value_name = "MS", default_value = "100", value_parser = positive_ms, allow_negative_numbers = true)]
    service_ms: f64,

    /// Requests one dyno serves at once.
    #[arg(long, value_name = "N", default_value = "4", value_parser = clap::value_parser!(u32).range(1..=1000))]
    concurrency: u32,

    /// Seconds from the scale call to the dyno serving.
    #[arg(long, value_name = "SECONDS", default_value = "45", value_parser = boot_seconds, allow_negative_numbers = true)]
    boot_seconds: f64,

    /// A request slower than this counts as a violation [default: the max response time].
    #[arg(long, value_name = "MS", value_parser = positive_ms, allow_negative_numbers = true)]
    slo_ms: Option<f64>,

    /// Dynos at the start [default: the demand at time 0, within the bounds].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=10_000))]
    start_dynos: Option<u32>,

    /// Seeds the random arrivals, service times and routing: the same seed, the same result.
    #[arg(long, value_name = "N", default_value = "1")]
    seed: u64,

    /// Also write every figure as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,

    /// Also draw the chart (traffic, latency, dynos) as SVG to FILE.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

impl SimulateArgs {
    fn lists_scenarios(&self) -> bool {
        self.scenario.as_deref() == Some("list")
    }

    fn trace(&self) -> Result<Trace, String> {
        match (&self.trace, &self.scenario) {
            (Some(path), _) => Trace::read_file(path).map_err(|error| error.to_string()),
            (None, Some(name)) => scenarios::find(name)
                .map(|scenario| scenario.trace())
                .ok_or_else(|| scenarios::unknown_scenario_message(name)),
            (None, None) => Err("give --trace FILE or --scenario NAME".into()),
        }
    }

    fn model(&self, settings: &settings::Settings) -> Model {
        Model {
            service_ms: self.service_ms,
            concurrency: self.concurrency,
            boot_seconds: self.boot_seconds,
            slo_ms: self
                .slo_ms
                .unwrap_or(settings.max_response_time.as_secs_f64() * 1000.0),
            start_dynos: self.start_dynos,
            seed: self.seed,
        }
    }
}

/// Milliseconds above 0 and at most an hour.
fn positive_ms(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(ms) if ms > 0.0 && ms <= 3_600_000.0 => Ok(ms),
        _ => Err(format!(
            "\"{text}\" is not a time in milliseconds: give a number above 0 and at most \
             3600000, like 100 or 12.5"
        )),
    }
}

/// Seconds from 0 to an hour.
fn boot_seconds(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(seconds) if (0.0..=3600.0).contains(&seconds) => Ok(seconds),
        _ => Err(format!(
            "\"{text}\" is not a boot time: give seconds from 0 to 3600, like 45 or 20.5"
        )),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(&cli.command, Command::Simulate(args) if args.lists_scenarios()) {
        say(scenarios::list().trim_end());
        return ExitCode::SUCCESS;
    }
    let mut source = SettingsSource::from_process(cli.config);
    source.mode = match &cli.command {
        Command::Run(args) if args.local_formation.is_some() => Mode::LocalFormation,
        Command::Simulate(_) => Mode::Simulation,
        _ => Mode::Heroku,
    };
    let loaded = match settings::load(&source) {
        Ok(loaded) => loaded,
        Err(error) => {
            for problem in &error.problems {
                say_on_stderr(format_args!("error: {problem}"));
            }
            say_on_stderr("heroku-autoscale: settings refused; see docs/settings.md");
            return ExitCode::from(EXIT_BAD_SETTINGS);
        }
    };
    match cli.command {
        Command::Check(args) => check(&loaded, args.online),
        Command::Run(args) => run(loaded, args),
        Command::Simulate(args) => simulate(&loaded, args),
    }
}

/// `check`'s result is its exit code, whether or not its lines could be written.
fn check(loaded: &Loaded, online: bool) -> ExitCode {
    let code = check_and_print(loaded, online);
    // A reader that went away (`check | head`) chose to; any other refusal is worth a line.
    if let Some(loss) = stdout_loss().filter(|loss| !loss.broken_pipe) {
        say_on_stderr(format_args!(
            "heroku-autoscale: {} lines could not be written to standard output ({})",
            loss.lines, loss.first_error
        ));
    }
    code
}

fn check_and_print(loaded: &Loaded, online: bool) -> ExitCode {
    for warning in &loaded.warnings {
        say(format_args!("warning: {warning}"));
    }
    let values = loaded.settings.effective_values();
    let width = values
        .iter()
        .map(|(setting, _)| setting.env_name().len())
        .max()
        .unwrap_or(0);
    for (setting, value) in values {
        say(format_args!("{:width$}  {value}", setting.env_name()));
    }
    say("settings are valid");
    if !online {
        return ExitCode::SUCCESS;
    }
    heroku_autoscale::install_crypto_provider();
    let system = actix_rt::System::new();
    let lines = system.block_on(check_online(&loaded.settings));
    for line in &lines {
        say(line);
    }
    if lines.iter().all(|line| line.ok) {
        say("online checks passed");
        ExitCode::SUCCESS
    } else {
        say("online checks failed");
        ExitCode::FAILURE
    }
}

fn run(loaded: Loaded, args: RunArgs) -> ExitCode {
    let log = logger(loaded.settings.log_level);
    for warning in &loaded.warnings {
        warn!(log, "{warning}");
    }
    let injected_panics = match std::env::var(INJECT_PANICS_VARIABLE) {
        Ok(text) => match parse_panic_schedules(&text) {
            Ok(schedules) => schedules,
            Err(error) => {
                say_on_stderr(format_args!("error: {error}"));
                return ExitCode::from(EXIT_BAD_SETTINGS);
            }
        },
        Err(_) => Vec::new(),
    };
    let mut autoscaler = Autoscaler::new(loaded.settings)
        .with_logger(log)
        .with_dry_run(args.dry_run)
        .with_injected_panics(injected_panics);
    if let Some(quantity) = args.local_formation {
        autoscaler = autoscaler.with_local_formation(quantity);
    }
    let code = match autoscaler.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(WorkerError::Supervision(code)) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(error) => {
            say_on_stderr(format_args!("error: {error}"));
            ExitCode::FAILURE
        }
    };
    // The log said it all, unless it went nowhere: then this is the last word, on stderr.
    if let Some(loss) = stdout_loss() {
        say_on_stderr(format_args!(
            "heroku-autoscale: stopped; {} log lines could not be written to standard output ({})",
            loss.lines, loss.first_error
        ));
    }
    code
}

fn simulate(loaded: &Loaded, args: SimulateArgs) -> ExitCode {
    for warning in &loaded.warnings {
        say_on_stderr(format_args!("warning: {warning}"));
    }
    let trace = match args.trace() {
        Ok(trace) => trace,
        Err(error) => {
            say_on_stderr(format_args!("error: {error}"));
            return ExitCode::from(EXIT_BAD_SETTINGS);
        }
    };
    let settings = &loaded.settings;
    let model = args.model(settings);
    let result = match simulate::run(&trace, &model, settings) {
        Ok(result) => result,
        Err(error) => {
            say_on_stderr(format_args!("error: {error}"));
            return ExitCode::from(EXIT_BAD_SETTINGS);
        }
    };
    say(report::table(&trace, &model, settings, &result).trim_end());
    let mut code = ExitCode::SUCCESS;
    if let Some(path) = &args.json {
        let json = Report::new(&trace, &model, settings, &result).to_json();
        code = write_output(path, json.as_bytes(), "--json").unwrap_or(code);
    }
    if let Some(path) = &args.svg {
        match render_svg(&report::chart(&trace, &model, settings, &result)) {
            Ok(svg) => code = write_output(path, svg.as_bytes(), "--svg").unwrap_or(code),
            Err(error) => {
                say_on_stderr(format_args!("error: --svg {}: {error}", path.display()));
                code = ExitCode::FAILURE;
            }
        }
    }
    code
}

/// Writes an output file and says so; on failure, the exit code that reports it.
fn write_output(path: &std::path::Path, bytes: &[u8], flag: &str) -> Option<ExitCode> {
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

/// One line on standard output; one it refuses is dropped and counted.
fn say(line: impl Display) {
    write_stdout_line(format!("{line}\n").as_bytes());
}

/// One line on standard error, dropped if refused: there is nowhere left to report it.
fn say_on_stderr(line: impl Display) {
    let _ = std::io::stderr().write_all(format!("{line}\n").as_bytes());
}
