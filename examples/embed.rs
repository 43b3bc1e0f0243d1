//! Embedding heroku-autoscale in another Rust program: the worker runs on a thread of its own,
//! and the host restarts it, with backoff, whenever it stops by itself.
//!
//! Against a Heroku app (the same settings as the command-line worker):
//!
//! ```text
//! AUTOSCALE_HEROKU_APP_NAME=acme-shop AUTOSCALE_HEROKU_API_KEY=... cargo run --example embed
//! ```
//!
//! Without Heroku: an in-memory formation that starts at 2 dynos, probing an app on this machine
//! (for instance `cargo run --example heartbeat_endpoint` in another terminal):
//!
//! ```text
//! AUTOSCALE_HEARTBEAT_URL=http://127.0.0.1:8000/heroku-autoscale/heartbeat/v1 \
//! AUTOSCALE_HEARTBEAT_INTERVAL_IN_SECONDS=2 \
//!   cargo run --example embed -- --local-formation 2
//! ```
//!
//! To watch a restart, make the judge actor fail faster than the worker's restart limit allows
//! (the same test hook as the binary's): `HEROKU_AUTOSCALE_INJECT_PANICS=judge:0.2`. The worker's
//! own supervisor restarts the judge with growing pauses, gives up at the 11th failure within a
//! minute (about 27 s in), and this program starts a fresh worker 1 s later.
//!
//! Ctrl-C stops the worker cleanly and ends the program.

use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use heroku_autoscale::settings::{self, SettingsSource};
use heroku_autoscale::supervision::fault_injection::{
    parse_panic_schedules, INJECT_PANICS_VARIABLE,
};
use heroku_autoscale::{Autoscaler, Settings, WorkerError, WorkerHandle};

/// The first wait before a restart; it doubles after each failure, up to `LONGEST_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const LONGEST_BACKOFF: Duration = Duration::from_secs(300);
/// A worker that ran this long before stopping was healthy: the next restart waits
/// `FIRST_BACKOFF` again instead of the doubled wait.
const HEALTHY_RUN: Duration = Duration::from_secs(600);
/// How often the host looks at whether the worker is still running.
const POLL: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    let local_formation = match local_formation_argument() {
        Ok(quantity) => quantity,
        Err(message) => {
            eprintln!("embed: {message}");
            return ExitCode::from(2);
        }
    };

    // Settings are validated once: if they are wrong, no restart can help.
    let mut source = SettingsSource::from_process(None);
    if local_formation.is_some() {
        source.mode = settings::Mode::LocalFormation;
    }
    let loaded = match settings::load(&source) {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("embed: settings refused:\n{error}");
            return ExitCode::from(2);
        }
    };
    for warning in &loaded.warnings {
        eprintln!("embed: warning: {warning}");
    }

    let stop_requested = stop_on_ctrl_c();
    let mut backoff = FIRST_BACKOFF;
    loop {
        let started = Instant::now();
        match start_worker(&loaded.settings, local_formation) {
            Ok(handle) => match watch(handle, &stop_requested) {
                Watched::StopRequested(result) => {
                    println!("embed: worker stopped on request: {result:?}");
                    return ExitCode::SUCCESS;
                }
                Watched::StoppedByItself(result) => {
                    eprintln!("embed: worker stopped by itself: {result:?}");
                }
            },
            Err(error) => eprintln!("embed: worker could not start: {error}"),
        }

        if started.elapsed() >= HEALTHY_RUN {
            backoff = FIRST_BACKOFF;
        }
        eprintln!("embed: restarting the worker in {} s", backoff.as_secs());
        // Wait out the backoff, unless a stop is requested meanwhile.
        if !matches!(
            stop_requested.recv_timeout(backoff),
            Err(RecvTimeoutError::Timeout)
        ) {
            return ExitCode::SUCCESS;
        }
        backoff = (backoff * 2).min(LONGEST_BACKOFF);
    }
}

/// `--local-formation N` (or nothing) from the command line.
fn local_formation_argument() -> Result<Option<u32>, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Ok(None),
        [flag, quantity] if flag == "--local-formation" => quantity
            .parse()
            .map(Some)
            .map_err(|_| format!("--local-formation needs a whole number, not {quantity:?}")),
        _ => Err("usage: embed [--local-formation N]".into()),
    }
}

/// A new worker on its own thread, built from the same settings each time.
fn start_worker(
    settings: &Settings,
    local_formation: Option<u32>,
) -> Result<WorkerHandle, WorkerError> {
    let mut autoscaler = Autoscaler::new(settings.clone());
    if let Some(quantity) = local_formation {
        autoscaler = autoscaler.with_local_formation(quantity);
    }
    if let Ok(text) = std::env::var(INJECT_PANICS_VARIABLE) {
        match parse_panic_schedules(&text) {
            Ok(schedules) => autoscaler = autoscaler.with_injected_panics(schedules),
            Err(message) => eprintln!("embed: {INJECT_PANICS_VARIABLE} ignored: {message}"),
        }
    }
    autoscaler.spawn()
}

enum Watched {
    StopRequested(Result<(), WorkerError>),
    StoppedByItself(Result<(), WorkerError>),
}

/// Waits until the worker stops by itself or a stop is requested (then stops it and waits).
fn watch(handle: WorkerHandle, stop_requested: &Receiver<()>) -> Watched {
    loop {
        match stop_requested.recv_timeout(POLL) {
            Err(RecvTimeoutError::Timeout) if handle.is_finished() => {
                return Watched::StoppedByItself(handle.join());
            }
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                handle.stop();
                return Watched::StopRequested(handle.join());
            }
        }
    }
}

/// A channel that receives a message on Ctrl-C (SIGINT). The worker's thread installs no signal
/// handler of its own: the host decides what a signal means.
fn stop_on_ctrl_c() -> Receiver<()> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let waited = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|runtime| runtime.block_on(tokio::signal::ctrl_c()));
        match waited {
            Ok(Ok(())) => {
                let _ = sender.send(());
            }
            // Without a handler, Ctrl-C ends the process the default way; keep the sender
            // alive so the host does not read its loss as a stop request.
            _ => loop {
                std::thread::park();
            },
        }
    });
    receiver
}
