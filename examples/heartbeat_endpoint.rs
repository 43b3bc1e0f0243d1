//! A heartbeat endpoint in actix-web, the kind heroku-autoscale probes.
//!
//! ```text
//! cargo run --example heartbeat_endpoint
//! curl -i http://127.0.0.1:8000/heroku-autoscale/heartbeat/v1
//! ```
//!
//! It listens on `$PORT` (all interfaces, as on Heroku) or on 127.0.0.1:8000. The heartbeat
//! does a little of the work real requests do — here a read and a write on a shared cache; in
//! your app, one small database query and one cache round trip — so it slows down when the app
//! is overloaded, and answers `503` when a dependency is down (the worker counts any non-2xx as
//! slow).
//!
//! To watch the worker decide without any real load, give the heartbeat an artificial delay and
//! change it while both run (see README, "Try it on your laptop"):
//!
//! ```text
//! curl -X PUT http://127.0.0.1:8000/simulated-latency/1500   # every heartbeat slow
//! curl -X PUT http://127.0.0.1:8000/simulated-latency/0      # fast again
//! ```
//!
//! The delay is a demonstration aid: leave that route out of a real app.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{get, put, web, App, HttpResponse, HttpServer, Responder};

/// What the handlers share: a stand-in for the app's cache, and the demonstration delay.
struct AppState {
    cache: Mutex<HashMap<&'static str, u64>>,
    simulated_latency_ms: AtomicU64,
}

/// The path heroku-autoscale requests by default, joined to the app's web URL.
#[get("/heroku-autoscale/heartbeat/v1")]
async fn heartbeat(state: web::Data<AppState>) -> impl Responder {
    // Exercise what slows down under load. A real app would run e.g. `SELECT 1` on its pool
    // (waiting for a free connection is exactly the slowness to detect) and a cache get/set.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let cache_ok = match state.cache.lock() {
        Ok(mut cache) => {
            cache.insert("heartbeat", now);
            cache.get("heartbeat") == Some(&now)
        }
        Err(_) => false,
    };

    let delay = state.simulated_latency_ms.load(Ordering::Relaxed);
    if delay > 0 {
        // An async sleep: it slows this answer without blocking the server's other requests.
        actix_web::rt::time::sleep(Duration::from_millis(delay)).await;
    }

    // Never cached by a CDN or proxy: every heartbeat must reach the dynos.
    let no_store = CacheControl(vec![CacheDirective::NoStore]);
    if cache_ok {
        HttpResponse::Ok().insert_header(no_store).body("ok")
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header(no_store)
            .body("cache unavailable")
    }
}

/// Demonstration only: sets the delay added to each heartbeat, in milliseconds.
#[put("/simulated-latency/{ms}")]
async fn set_simulated_latency(state: web::Data<AppState>, ms: web::Path<u64>) -> impl Responder {
    let ms = ms.into_inner();
    state.simulated_latency_ms.store(ms, Ordering::Relaxed);
    println!("heartbeat delay is now {ms} ms");
    HttpResponse::Ok().body(format!("heartbeat delay is now {ms} ms\n"))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    // Heroku says which port to listen on; locally stay on the loopback interface.
    let address = match std::env::var("PORT") {
        Ok(port) if !port.is_empty() => format!("0.0.0.0:{port}"),
        _ => "127.0.0.1:8000".to_string(),
    };
    let start_delay = std::env::var("SIMULATED_LATENCY_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(0);
    let state = web::Data::new(AppState {
        cache: Mutex::new(HashMap::new()),
        simulated_latency_ms: AtomicU64::new(start_delay),
    });
    println!(
        "heartbeat at http://{address}/heroku-autoscale/heartbeat/v1 (delay {start_delay} ms)"
    );
    HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .service(heartbeat)
            .service(set_simulated_latency)
    })
    .bind(address)?
    .run()
    .await
}
