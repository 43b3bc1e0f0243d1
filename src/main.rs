//! The `heroku-autoscale` command: `run` the worker, or `check` its settings.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use heroku_autoscale::settings::{self, Loaded, SettingsSource};
use heroku_autoscale::{logger, Autoscaler, WorkerError};
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
    /// Run the autoscaler until SIGTERM or SIGINT (what a Procfile line runs).
    #[command(after_help = "Example Procfile line:\n  autoscaleworker: heroku-autoscale run")]
    Run,
    /// Validate the settings and print the effective values (secrets masked).
    #[command(after_help = "Exits 0 when the settings are valid, 2 with one line per problem.")]
    Check,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let source = SettingsSource::from_process(cli.config);
    let loaded = match settings::load(&source) {
        Ok(loaded) => loaded,
        Err(error) => {
            for problem in &error.problems {
                eprintln!("error: {problem}");
            }
            eprintln!("heroku-autoscale: settings refused; see docs/settings.md");
            return ExitCode::from(EXIT_BAD_SETTINGS);
        }
    };
    match cli.command {
        Command::Check => check(&loaded),
        Command::Run => run(loaded),
    }
}

fn check(loaded: &Loaded) -> ExitCode {
    for warning in &loaded.warnings {
        println!("warning: {warning}");
    }
    let values = loaded.settings.effective_values();
    let width = values
        .iter()
        .map(|(setting, _)| setting.env_name().len())
        .max()
        .unwrap_or(0);
    for (setting, value) in values {
        println!("{:width$}  {value}", setting.env_name());
    }
    println!("settings are valid");
    ExitCode::SUCCESS
}

fn run(loaded: Loaded) -> ExitCode {
    let log = logger(loaded.settings.log_level);
    for warning in &loaded.warnings {
        warn!(log, "{warning}");
    }
    match Autoscaler::new(loaded.settings).with_logger(log).run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(WorkerError::Supervision(code)) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
