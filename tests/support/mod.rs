//! Test support shared by the integration tests: real HTTP servers on 127.0.0.1 standing in for
//! the Heroku Platform API and for the user's app, and a helper that runs the real binary; plus,
//! for actor-level tests, an in-memory mock of the API actor and a log capture.
//!
//! Every `tests/*.rs` file that needs it says `mod support;`. Each such file is its own crate and
//! uses only part of this module, hence the `dead_code` allowance.
//!
//! The fakes run on their own thread with their own actix `System`, so they work the same from a
//! plain `#[test]` and from an `#[actix_rt::test]`, and a test that blocks (or pauses tokio time)
//! never stalls them. They bind port 0 on loopback only.
#![allow(dead_code)]

pub mod fake_app;
pub mod fake_heroku;
pub mod log_capture;
pub mod mock_api;
pub mod raw_tcp;
pub mod smtp_sink;
pub mod worker_process;

// Each test file uses only some of these.
#[allow(unused_imports)]
pub use fake_app::FakeApp;
#[allow(unused_imports)]
pub use fake_heroku::{Failure, FakeHeroku, RecordedRequest};
#[allow(unused_imports)]
pub use smtp_sink::SmtpSink;
#[allow(unused_imports)]
pub use worker_process::{StdoutTo, Stream, WorkerProcess};

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::web::ServiceConfig;
use actix_web::{App, HttpServer};

/// A fake app and a fake Heroku API for `app_name` (process type `web`, `quantity` dynos) whose
/// web URL is the fake app, so a relative heartbeat path reaches it.
pub fn fake_app_and_api(app_name: &str, key: &str, quantity: u32) -> (FakeApp, FakeHeroku) {
    let app = FakeApp::start();
    let api = FakeHeroku::start(app_name, "web", key, quantity, &format!("{}/", app.url()));
    (app, api)
}

/// The worker's environment for binary tests against `app` and `api`: a beat every 0.3 s (slow
/// above 250 ms, fast below 60 ms), two beats in a row to scale either way, 1 to 3 dynos, logging
/// at `level`.
pub fn worker_env(
    app: &FakeApp,
    api: &FakeHeroku,
    key: &str,
    level: &str,
) -> Vec<(String, String)> {
    [
        ("AUTOSCALE_HEROKU_APP_NAME", api.app_name()),
        ("AUTOSCALE_HEROKU_API_KEY", key.to_string()),
        ("AUTOSCALE_HEROKU_API_URL", api.url()),
        ("AUTOSCALE_HEARTBEAT_URL", app.heartbeat_url()),
        ("AUTOSCALE_HEARTBEAT_INTERVAL_IN_SECONDS", "0.3".into()),
        ("AUTOSCALE_MAX_RESPONSE_TIME_IN_MS", "250".into()),
        ("AUTOSCALE_MIN_RESPONSE_TIME_IN_MS", "60".into()),
        ("AUTOSCALE_NUMBER_OF_FAILS_TO_SCALE_UP_AFTER", "2".into()),
        ("AUTOSCALE_NUMBER_OF_PASSES_TO_SCALE_DOWN_AFTER", "2".into()),
        ("AUTOSCALE_MIN_DYNOS", "1".into()),
        ("AUTOSCALE_MAX_DYNOS", "3".into()),
        ("AUTOSCALE_LOG_LEVEL", level.into()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value))
    .collect()
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes; returns whether it held.
///
/// Blocks the calling thread: fine in a plain `#[test]`. In an `#[actix_rt::test]` that runs the
/// worker in-process, use [`wait_until_async`] instead so the test's own runtime keeps running.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Like [`wait_until`], but sleeps with tokio's timer so the test's runtime goes on meanwhile.
///
/// The timeout is measured on tokio's clock: under `tokio::time::pause()` it is virtual time.
pub async fn wait_until_async(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An actix-web server on 127.0.0.1:0, running on a thread of its own with its own `System`.
/// Dropping it stops the server at once (in-flight requests, even hung ones, are dropped) and
/// joins the thread.
pub(crate) struct BackgroundServer {
    url: String,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl BackgroundServer {
    /// Starts the server whose routes `configure` sets up; returns once it is listening.
    /// `name` shows in panic messages and the thread name.
    pub(crate) fn start<F>(name: &str, workers: usize, configure: F) -> BackgroundServer
    where
        F: Fn(&mut ServiceConfig) + Send + Clone + 'static,
    {
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread_name = name.to_string();
        let thread = std::thread::Builder::new()
            .name(thread_name.clone())
            .spawn(move || serve(thread_name, workers, configure, ready_tx))
            .unwrap_or_else(|e| panic!("{name}: could not spawn its thread: {e}"));
        let (url, handle) = match ready_rx.recv() {
            Ok(Ok(ready)) => ready,
            Ok(Err(e)) => panic!("{name} failed to bind 127.0.0.1: {e}"),
            Err(_) => panic!("{name}: its thread ended before the server was listening"),
        };
        BackgroundServer {
            url,
            handle,
            thread: Some(thread),
        }
    }

    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:40123`.
    pub(crate) fn url(&self) -> String {
        self.url.clone()
    }
}

type Ready = Result<(String, ServerHandle), std::io::Error>;

/// The server thread's body: bind, report the address, serve until stopped.
fn serve<F>(name: String, workers: usize, configure: F, ready: mpsc::Sender<Ready>)
where
    F: Fn(&mut ServiceConfig) + Send + Clone + 'static,
{
    actix_rt::System::new().block_on(async move {
        let bound = HttpServer::new(move || App::new().configure(configure.clone()))
            .workers(workers)
            // The test process's own Ctrl-C must not be swallowed by a fake.
            .disable_signals()
            .shutdown_timeout(0)
            // A client that closes its side has given up (a timeout, say): drop its request
            // then, rather than finish it, so "in flight" and "applied" mean what the client saw.
            .h1_allow_half_closed(false)
            .bind(("127.0.0.1", 0));
        let server = match bound {
            Ok(server) => server,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let addr = server.addrs()[0];
        let running = server.run();
        let _ = ready.send(Ok((format!("http://{addr}"), running.handle())));
        if let Err(e) = running.await {
            eprintln!("[{name}] server ended with an error: {e}");
        }
    });
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        // The stop command is sent when `stop` is called; its future only reports completion,
        // which the join below waits for anyway.
        drop(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
