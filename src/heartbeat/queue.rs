//! One reading of the job-queue document: GET it, read the body up to the document's cap.
//! Every way it can fail is a short text with the URL's secret part masked.

use std::time::Duration;

use futures_util::StreamExt;
use url::Url;

use crate::queue::document::MAX_DOCUMENT_BYTES;
use crate::secret::{printable, scrubbed};
use crate::settings::QueueUrl;

/// GETs the document at `url`, giving up after `timeout`. A redirect is not followed: the
/// document's URL is the app's own, and a redirect there (to a login page, say) is an answer
/// to fix, not one to read.
pub async fn read(client: awc::Client, url: Url, timeout: Duration) -> Result<Vec<u8>, String> {
    let secret = QueueUrl::secret_part(url.path()).to_string();
    let result = match actix_rt::time::timeout(timeout, get(&client, &url)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {} s", timeout.as_secs_f64())),
    };
    result.map_err(|error| {
        let masked = if secret.is_empty() {
            error
        } else {
            scrubbed(&error, &secret)
        };
        printable(&masked)
    })
}

async fn get(client: &awc::Client, url: &Url) -> Result<Vec<u8>, String> {
    let mut response = client
        .get(url.as_str())
        .send()
        .await
        .map_err(|error| error.to_string())?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("the app answered HTTP {}", status.as_u16()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.next().await {
        body.extend_from_slice(&chunk.map_err(|error| format!("reading the body: {error}"))?);
        if body.len() > MAX_DOCUMENT_BYTES {
            return Err(format!(
                "the document is larger than {} KiB",
                MAX_DOCUMENT_BYTES / 1024
            ));
        }
    }
    Ok(body)
}
