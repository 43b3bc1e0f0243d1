//! The `heroku-autoscale` command: `run` the worker, `check` its settings (and, with
//! `--online`, the API access, the heartbeat URL and the SMTP login), `simulate` or `tune` them
//! on a traffic curve, or make a curve (`trace`) from the app's router log.
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
use heroku_autoscale::supervision::fault_injection::{
    parse_panic_schedules, INJECT_PANICS_VARIABLE,
};
use heroku_autoscale::{logger, stdout_loss, write_stdout_line, Autoscaler, WorkerError};
use slog::warn;

// Beside main.rs rather than in the library: it is the command line's part of `simulate`.
#[path = "cli/report.rs"]
mod report_command;
#[path = "cli/simulate.rs"]
mod simulate_command;
#[path = "cli/trace.rs"]
mod trace_command;
#[path = "cli/tune.rs"]
mod tune_command;

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
    Simulate(simulate_command::SimulateArgs),
    /// Search the settings that shape scaling (interval, fails, passes, max and min response
    /// time, increment, the boot wait, proportional steps, scale-down backoff) for the fewest
    /// dyno-hours that keep slow or failed requests within a budget, on a traffic curve.
    #[command(after_help = "Examples:\n  \
        AUTOSCALE_MAX_DYNOS=20 heroku-autoscale tune --scenario daily\n  \
        heroku-autoscale tune --trace traffic.csv --max-violation-pct 0.5 --top 10\n\n\
        It starts from your settings and prints the best few found, with their figures and the\n\
        `heroku config:set` line that applies the best. See docs/tuning.md.\n\n\
        Exit codes: 0 done, 2 bad settings, flags or trace.")]
    Tune(tune_command::TuneArgs),
    /// Turn Heroku router log lines into a trace for `simulate --trace` and `tune --trace`:
    /// requests per second and mean service time per bucket of time.
    #[command(after_help = "Examples:\n  \
        heroku logs --source heroku --dyno router -n 1500 -a acme-shop | heroku-autoscale trace > traffic.csv\n  \
        heroku-autoscale trace drain.log --bucket-seconds 300 --out traffic.csv\n  \
        heroku-autoscale simulate --trace traffic.csv\n\n\
        Requests Heroku failed (H12, H13, ...) count in the rate; other lines are skipped and\n\
        counted. The summary goes to standard error. See docs/operations.md.\n\n\
        Exit codes: 0 done, 2 no router lines or a bad flag, 1 the trace could not be written.")]
    Trace(trace_command::TraceArgs),
    /// Read the worker's log and say what it did: a summary, and with --svg the chart of its
    /// heartbeats, dynos, scale calls, notices and gaps.
    #[command(after_help = "Examples:\n  \
        heroku logs -n 1500 -a acme-shop --dyno autoscaleworker | heroku-autoscale report --svg last-hours.svg\n  \
        heroku-autoscale report worker.log\n\n\
        Heartbeats come from the metrics lines (AUTOSCALE_LOG_METRICS, on by default). Lines it\n\
        cannot read are counted and skipped. See docs/operations.md.\n\n\
        Exit codes: 0 done, 2 no line of the worker's log or a bad flag, 1 the chart could not be \
        written.")]
    Report(report_command::ReportArgs),
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let lists_scenarios = match &cli.command {
        Command::Simulate(args) => args.model.lists_scenarios(),
        Command::Tune(args) => args.model.lists_scenarios(),
        _ => false,
    };
    if lists_scenarios {
        return simulate_command::list_scenarios();
    }
    // Reading a log needs no settings.
    match &cli.command {
        Command::Trace(args) => return trace_command::trace(args),
        Command::Report(args) => return report_command::report(args),
        _ => {}
    }
    let mut source = SettingsSource::from_process(cli.config);
    source.mode = match &cli.command {
        Command::Run(args) if args.local_formation.is_some() => Mode::LocalFormation,
        Command::Simulate(_) | Command::Tune(_) => Mode::Simulation,
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
        Command::Simulate(args) => simulate_command::simulate(&loaded, &args),
        Command::Tune(args) => tune_command::tune(&loaded, &args),
        // Returned above, before the settings: reading a log needs none.
        Command::Trace(args) => trace_command::trace(&args),
        Command::Report(args) => report_command::report(&args),
    }
}

/// `check`'s result is its exit code, whether or not its lines could be written.
fn check(loaded: &Loaded, online: bool) -> ExitCode {
    let code = check_and_print(loaded, online);
    report_stdout_refusals();
    code
}

/// Says on stderr how many lines stdout refused, unless its reader went away (`check | head`
/// chose to read no more); true if it said so.
fn report_stdout_refusals() -> bool {
    let Some(loss) = stdout_loss().filter(|loss| !loss.broken_pipe) else {
        return false;
    };
    let lines = if loss.lines == 1 { "line" } else { "lines" };
    say_on_stderr(format_args!(
        "heroku-autoscale: {} {lines} could not be written to standard output ({})",
        loss.lines, loss.first_error
    ));
    true
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
        .with_dyno(std::env::var("DYNO").ok())
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

/// One line on standard output; one it refuses is dropped and counted.
fn say(line: impl Display) {
    write_stdout_line(format!("{line}\n").as_bytes());
}

/// One line on standard error, dropped if refused: there is nowhere left to report it.
fn say_on_stderr(line: impl Display) {
    let _ = std::io::stderr().write_all(format!("{line}\n").as_bytes());
}
