//! Running the worker: inside an existing actix system, on the current thread until a signal,
//! or on a thread of its own with a handle to stop it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use actix_rt::System;
use slog::{info, warn, Logger};

use crate::actors::messages::PrepareToStop;
use crate::actors::{self, Actors, ApiBackend, ApiRecipients, WallClock, Wiring};
use crate::control::CallInFlight;
use crate::logging::logger;
use crate::settings::Settings;
use crate::standby::{self, Role};
use crate::supervision::SupervisionPolicy;

/// Why a worker stopped other than by request.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// Actors failed faster than the restart limit allows.
    #[error("the worker gave up after too many actor failures (exit code {0})")]
    Supervision(i32),
    /// The worker's thread or runtime could not be started.
    #[error("the worker could not start: {0}")]
    Start(#[from] std::io::Error),
    /// The worker's thread panicked outside any actor.
    #[error("the worker thread panicked")]
    Panicked,
}

/// Builds and runs the autoscaler.
pub struct Autoscaler {
    settings: Arc<Settings>,
    wiring: Wiring,
    dyno: Option<String>,
}

impl Autoscaler {
    /// An autoscaler for `settings`, logging to standard output at the configured level.
    pub fn new(settings: Settings) -> Self {
        let log = logger(settings.log_level);
        Autoscaler {
            settings: Arc::new(settings),
            wiring: Wiring::new(log),
            dyno: None,
        }
    }

    /// The dyno this runs on (Heroku's `DYNO`, e.g. `autoscaleworker.1`): [`Autoscaler::run`]
    /// stands by on any but the first of its process type (see [`crate::standby`]).
    pub fn with_dyno(mut self, dyno: Option<String>) -> Self {
        self.dyno = dyno;
        self
    }

    /// Logs to `log` instead of standard output.
    pub fn with_logger(mut self, log: Logger) -> Self {
        self.wiring.log = log;
        self
    }

    /// Sends API requests to another actor instead of the real Heroku API (tests, local runs).
    pub fn with_api(mut self, api: ApiRecipients) -> Self {
        self.wiring.api = ApiBackend::Custom(api);
        self
    }

    /// Scales an in-memory formation that starts at `quantity` dynos instead of the Heroku
    /// app: no API calls, no key needed (`run --local-formation N`).
    pub fn with_local_formation(mut self, quantity: u32) -> Self {
        self.wiring.api = ApiBackend::Local(quantity);
        self
    }

    /// Decides as usual but sends no scale call; logs `would scale ...` instead (`run
    /// --dry-run`). The formation is still read from the API.
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.wiring.dry_run = dry_run;
        self
    }

    /// Changes how restarts are paced and limited.
    pub fn with_supervision(mut self, policy: SupervisionPolicy) -> Self {
        self.wiring.policy = policy;
        self
    }

    /// Changes how failed emails are retried (tests use short waits).
    pub fn with_email_retry(mut self, retry: crate::backoff::Backoff) -> Self {
        self.wiring.email_retry = retry;
        self
    }

    /// Makes actors panic at a fixed period: the test hook behind
    /// `HEROKU_AUTOSCALE_INJECT_PANICS` (see [`crate::supervision::fault_injection`]).
    pub fn with_injected_panics(
        mut self,
        schedules: Vec<crate::supervision::fault_injection::PanicSchedule>,
    ) -> Self {
        self.wiring.injected_panics = schedules;
        self
    }

    /// Bounds each SMTP exchange to `timeout` instead of [`crate::actors::SMTP_TIMEOUT`].
    pub fn with_smtp_timeout(mut self, timeout: Duration) -> Self {
        self.wiring.smtp_timeout = timeout;
        self
    }

    /// Gives up each Heroku API request after `timeout` instead of
    /// [`crate::heroku::API_TIMEOUT`] (tests of a hung API use a short one).
    pub fn with_api_timeout(mut self, timeout: Duration) -> Self {
        self.wiring.api_timeout = timeout;
        self
    }

    /// Reads schedules against another clock (tests).
    pub fn with_clock(mut self, clock: WallClock) -> Self {
        self.wiring.clock = clock;
        self
    }

    /// Starts the actors in the actix system that is running on this thread.
    pub fn start(self) -> Actors {
        install_crypto_provider();
        let log = &self.wiring.log;
        info!(
            log,
            "starting heroku-autoscale version={} app={} process={} interval_s={} \
             max_response_ms={} min_response_ms={} url={}",
            env!("CARGO_PKG_VERSION"),
            self.settings.heroku_app_name,
            self.settings.process_type,
            self.settings.heartbeat_interval.as_secs_f64(),
            self.settings.max_response_time.as_millis(),
            self.settings.min_response_time.as_millis(),
            self.settings.heartbeat_url
        );
        actors::start(self.settings, self.wiring)
    }

    /// Runs on this thread until SIGTERM, SIGINT or SIGHUP (then `Ok`; SIGHUP is ignored under
    /// nohup, i.e. when the process started with it ignored), or until supervision gives up.
    pub fn run(self) -> Result<(), WorkerError> {
        let role = standby::role(self.dyno.as_deref(), self.settings.single_active_worker);
        let system = System::new();
        let log = self.wiring.log.clone();
        system.block_on(async move {
            // Handlers go in before the actors start: a SIGTERM that arrives while they start
            // still gets the orderly stop (exit 0) rather than the default action (exit 143).
            let signals = StopSignals::install();
            let note = match role {
                Role::Standby { dyno } => {
                    actix_rt::spawn(stand_by(log, signals, dyno));
                    return;
                }
                Role::Active { note } => note,
            };
            let actors = self.start();
            if let Some(note) = note {
                info!(log, "{note}");
            }
            if signals.hangup_ignored() {
                info!(
                    log,
                    "SIGHUP is ignored (started under nohup): stop with SIGTERM or SIGINT"
                );
            }
            actix_rt::spawn(stop_on_signal(log, signals, actors));
        });
        exit_code_to_result(system.run_with_code()?)
    }

    /// Runs on a new thread with its own actix system; the handle stops it and waits for it.
    /// The host program keeps its own signal handling.
    pub fn spawn(self) -> Result<WorkerHandle, WorkerError> {
        let (sender, receiver) = mpsc::channel();
        let log = self.wiring.log.clone();
        let thread = std::thread::Builder::new()
            .name("heroku-autoscale".into())
            .spawn(move || {
                let system = System::new();
                let actors = system.block_on(async move { self.start() });
                // The receiver only disappears if spawn() itself failed, nothing to do then.
                let _ = sender.send((System::current(), actors));
                exit_code_to_result(system.run_with_code()?)
            })?;
        let (system, actors) = receiver.recv().map_err(|_| WorkerError::Panicked)?;
        Ok(WorkerHandle {
            system,
            actors,
            log,
            stop_asked: AtomicBool::new(false),
            thread: Mutex::new(Some(thread)),
        })
    }
}

/// A worker running on its own thread.
pub struct WorkerHandle {
    system: System,
    actors: Actors,
    log: Logger,
    stop_asked: AtomicBool,
    thread: Mutex<Option<JoinHandle<Result<(), WorkerError>>>>,
}

impl WorkerHandle {
    /// Asks the worker to stop; returns at once (use [`WorkerHandle::join`] to wait). Like a
    /// SIGTERM to the worker process: no new scale call starts, and one in flight gets up to
    /// 3 s to be answered so that its outcome is logged.
    pub fn stop(&self) {
        // A second call would only run a second stop beside the first.
        if self.stop_asked.swap(true, Ordering::SeqCst) {
            return;
        }
        let stop = stop_gracefully(self.log.clone(), "stop request", self.actors.clone());
        // False when the worker's system has ended already: nothing left to stop.
        let _ = self.system.arbiter().spawn(stop);
    }

    /// Whether the worker's thread has ended (stopped, or gave up after too many failures).
    pub fn is_finished(&self) -> bool {
        self.thread
            .lock()
            .map(|thread| thread.as_ref().is_none_or(JoinHandle::is_finished))
            .unwrap_or(true)
    }

    /// Waits for the worker's thread to end and says how it ended.
    pub fn join(self) -> Result<(), WorkerError> {
        let thread = self.thread.lock().ok().and_then(|mut thread| thread.take());
        match thread {
            Some(thread) => thread.join().map_err(|_| WorkerError::Panicked)?,
            None => Ok(()),
        }
    }
}

fn exit_code_to_result(code: i32) -> Result<(), WorkerError> {
    match code {
        0 => Ok(()),
        code => Err(WorkerError::Supervision(code)),
    }
}

/// awc enables no rustls crypto provider by itself; install ring once. If the host program
/// installed one already, that one stays. [`Autoscaler::start`] calls it; call it yourself
/// before using [`crate::heroku::HerokuClient`] or [`crate::heartbeat::probe`] directly.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// How long a stop waits for an API call in flight (a scale, usually) to be answered. Heroku
/// sends SIGKILL 30 s after SIGTERM; a few seconds keep the stop prompt.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// Another dyno is the active worker: no actors, no requests; a stop signal ends the wait.
async fn stand_by(log: Logger, signals: StopSignals, dyno: String) {
    let first = dyno
        .rsplit_once('.')
        .map_or(dyno.as_str(), |(name, _)| name);
    info!(
        log,
        "standing by: {dyno} is not the first dyno of its process type, {first}.1 scales the \
         app (AUTOSCALE_SINGLE_ACTIVE_WORKER); no heartbeats, no API calls"
    );
    let signal = signals.recv().await;
    info!(log, "stopping on {signal} (stood by)");
    System::current().stop();
}

/// Stops the system on SIGTERM (what Heroku sends, 30 s before SIGKILL), SIGINT (Ctrl-C) or
/// SIGHUP. A scale call in flight gets [`STOP_GRACE`] to be answered, so that its outcome is
/// logged rather than left unknown.
async fn stop_on_signal(log: Logger, signals: StopSignals, actors: Actors) {
    let signal = signals.recv().await;
    stop_gracefully(log, signal, actors).await;
}

/// Stops the system once no scale call is in flight, or after [`STOP_GRACE`]; `signal` names
/// what asked for the stop in the log lines. A formation read is not waited for: abandoning it
/// changes nothing.
async fn stop_gracefully(log: Logger, signal: &'static str, actors: Actors) {
    let deadline = actix_rt::time::Instant::now() + STOP_GRACE;
    let mut waited = false;
    // The worker process types start no new batch; one in flight is not waited for.
    if let Some(workers) = &actors.workers {
        workers.do_send(PrepareToStop);
    }
    loop {
        // A dead controller has nothing to wait for; one that does not answer by the deadline
        // (held back while it restarts, say) is not waited for either.
        let left = deadline.saturating_duration_since(actix_rt::time::Instant::now());
        let asked = actix_rt::time::timeout(left, actors.controller.send(PrepareToStop));
        let in_flight = match asked.await {
            Ok(answer) => answer.unwrap_or(None),
            Err(_) => {
                warn!(
                    log,
                    "stopping on {signal}: the controller did not answer within {} s",
                    STOP_GRACE.as_secs()
                );
                break;
            }
        };
        match in_flight {
            None => {
                info!(log, "stopping on {signal}");
                break;
            }
            Some(CallInFlight::Read) => {
                info!(
                    log,
                    "stopping on {signal}; the formation read in flight is abandoned (no scale \
                     was in flight)"
                );
                break;
            }
            Some(CallInFlight::Scale) => {}
        }
        if actix_rt::time::Instant::now() >= deadline {
            warn!(
                log,
                "stopping on {signal} with an API call still unanswered after {} s; a scale \
                 may or may not have been applied: the next start reads the formation afresh",
                STOP_GRACE.as_secs()
            );
            break;
        }
        if !waited {
            info!(log, "{signal}: waiting for the API call in flight");
            waited = true;
        }
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    System::current().stop();
}

/// The signals that stop the worker, listened to from the moment [`StopSignals::install`] runs:
/// SIGTERM (Heroku), SIGINT (Ctrl-C) and SIGHUP. Heroku never sends SIGHUP to a dyno; a closing
/// terminal does, and its default action would end the worker without a line, so it stops the
/// worker the same orderly way. Unless the worker was started with SIGHUP ignored (`nohup`):
/// installing a handler would undo that, so SIGHUP is then left ignored.
#[cfg(unix)]
struct StopSignals {
    // Empty when no handler could be installed: the platform's SIGKILL still ends us.
    streams: Vec<(&'static str, tokio::signal::unix::Signal)>,
    /// SIGHUP was ignored when the worker started, and is left so.
    hangup_ignored: bool,
}

#[cfg(unix)]
impl StopSignals {
    fn install() -> Self {
        use tokio::signal::unix::{signal, SignalKind};
        let kinds = [
            ("SIGTERM", SignalKind::terminate()),
            ("SIGINT", SignalKind::interrupt()),
            ("SIGHUP", SignalKind::hangup()),
        ];
        // Read before any handler goes in: once one does, the signal no longer shows as ignored.
        let hangup_ignored = proc_status_ignores(SIGHUP_NUMBER);
        let streams = kinds
            .into_iter()
            .filter(|(name, _)| !(*name == "SIGHUP" && hangup_ignored))
            .filter_map(|(name, kind)| Some((name, signal(kind).ok()?)))
            .collect();
        StopSignals {
            streams,
            hangup_ignored,
        }
    }

    /// Whether SIGHUP is left ignored, as the worker found it (`nohup`).
    fn hangup_ignored(&self) -> bool {
        self.hangup_ignored
    }

    /// Waits for one of the signals and names the one that came.
    async fn recv(mut self) -> &'static str {
        if self.streams.is_empty() {
            return std::future::pending().await;
        }
        let arrivals = self.streams.iter_mut().map(|(name, stream)| {
            Box::pin(async move {
                stream.recv().await;
                *name
            })
        });
        futures_util::future::select_all(arrivals).await.0
    }
}

/// SIGHUP's number (1 on every Unix).
#[cfg(unix)]
const SIGHUP_NUMBER: u32 = 1;

/// Whether this process ignores signal `number`, from the `SigIgn:` mask in `/proc/self/status`
/// (Linux; bit `number - 1`). False where the file is missing or unreadable: the signal is then
/// listened to as on any other system.
#[cfg(unix)]
fn proc_status_ignores(number: u32) -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| sig_ign_has(&status, number))
}

/// Whether the `SigIgn:` line of a `/proc/PID/status` text has signal `number`'s bit set.
#[cfg(unix)]
fn sig_ign_has(status: &str, number: u32) -> bool {
    let mask = status
        .lines()
        .find_map(|line| line.strip_prefix("SigIgn:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok());
    match (mask, number.checked_sub(1)) {
        (Some(mask), Some(bit)) if bit < 64 => mask & (1 << bit) != 0,
        _ => false,
    }
}

#[cfg(not(unix))]
struct StopSignals;

#[cfg(not(unix))]
impl StopSignals {
    fn install() -> Self {
        StopSignals
    }

    fn hangup_ignored(&self) -> bool {
        false
    }

    async fn recv(self) -> &'static str {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn the_sig_ign_mask_says_which_signals_are_ignored() {
        let status = |mask: &str| {
            format!(
                "Name:\theroku-autoscale\nSigBlk:\t0000000000000001\nSigIgn:\t{mask}\nSigCgt:\t0\n"
            )
        };
        assert!(sig_ign_has(&status("0000000000000001"), SIGHUP_NUMBER));
        assert!(sig_ign_has(&status("0000000000001001"), SIGHUP_NUMBER));
        assert!(!sig_ign_has(&status("0000000000001000"), SIGHUP_NUMBER));
        assert!(sig_ign_has(&status("0000000000001000"), 13));
        assert!(!sig_ign_has(&status("8000000000000000"), 0));
        // SigBlk's bit does not count, nor does a missing or broken line.
        assert!(!sig_ign_has("SigBlk:\t0000000000000001\n", SIGHUP_NUMBER));
        assert!(!sig_ign_has(&status("zz"), SIGHUP_NUMBER));
        assert!(!sig_ign_has("", SIGHUP_NUMBER));
    }
}
