//! One heartbeat request: GET the URL, read the body up to a cap, time it all.

use std::time::Duration;

use futures_util::StreamExt;
use url::Url;

use crate::judge::{ProbeOutcome, Sample};

/// The probe reads at most this much of the body: enough to time a real response, never a
/// memory risk when an endpoint streams without end.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// An HTTP client for heartbeats (redirects followed, rustls, keep-alive). Build it on the
/// thread that uses it: awc clients are not `Send`.
pub fn client() -> awc::Client {
    awc::Client::builder()
        .add_default_header((awc::http::header::USER_AGENT, crate::USER_AGENT))
        .disable_timeout()
        .finish()
}

/// Sends one heartbeat. Gives up waiting at `deadline` (the max response time): the sample is
/// then `TimedOut`, which is slow, and nothing waits for a late answer.
pub async fn probe(client: awc::Client, url: Url, deadline: Duration) -> Sample {
    let started = actix_rt::time::Instant::now();
    let exchange = async {
        let mut response = client
            .get(url.as_str())
            .send()
            .await
            .map_err(|error| error.to_string())?;
        let mut read = 0;
        while let Some(chunk) = response.next().await {
            read += chunk
                .map_err(|error| format!("reading the body: {error}"))?
                .len();
            if read >= MAX_BODY_BYTES {
                break;
            }
        }
        Ok::<u16, String>(response.status().as_u16())
    };
    let outcome = match actix_rt::time::timeout(deadline, exchange).await {
        Ok(Ok(status)) => ProbeOutcome::Status(status),
        Ok(Err(error)) => ProbeOutcome::Failed(error),
        Err(_) => ProbeOutcome::TimedOut,
    };
    Sample {
        latency: started.elapsed(),
        outcome,
    }
}
