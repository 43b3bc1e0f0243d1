//! One heartbeat request: GET the URL, following redirects, read the body up to a cap, time it
//! all.

use std::borrow::Cow;
use std::time::Duration;

use awc::http::{header, StatusCode};
use futures_util::StreamExt;
use url::Url;

use crate::judge::{ProbeOutcome, Sample};
use crate::secret::{printable, redacted, redacted_value};

/// The probe reads at most this much of the body: enough to time a real response, never a
/// memory risk when an endpoint streams without end.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The most redirects one heartbeat follows, as many as awc and browsers allow.
pub const MAX_REDIRECTS: usize = 10;

/// An HTTP client for heartbeats (rustls, keep-alive). Build it on the thread that uses it:
/// awc clients are not `Send`. It follows no redirects itself: [`probe`] does, so that a loop or
/// a redirect to another scheme is reported as such, where awc would answer with the last 302
/// or a connection error that names neither.
pub fn client() -> awc::Client {
    awc::Client::builder()
        .add_default_header((header::USER_AGENT, crate::USER_AGENT))
        .disable_redirects()
        .disable_timeout()
        .finish()
}

/// Sends one heartbeat. Gives up waiting at `deadline` (the max response time): the sample is
/// then `TimedOut`, which is slow, and nothing waits for a late answer.
pub async fn probe(client: awc::Client, url: Url, deadline: Duration) -> Sample {
    let started = actix_rt::time::Instant::now();
    let outcome = match actix_rt::time::timeout(deadline, follow(&client, url)).await {
        Ok(Ok(status)) => ProbeOutcome::Status(status),
        // The text may quote the app (a Location header): no control characters in the log.
        Ok(Err(error)) => ProbeOutcome::Failed(printable(&error)),
        Err(_) => ProbeOutcome::TimedOut,
    };
    Sample {
        latency: started.elapsed(),
        outcome,
    }
}

/// GETs `url` and follows redirects (301, 302, 303, 307 and 308 with a `Location`, as awc
/// would) to an answer; returns its status.
async fn follow(client: &awc::Client, url: Url) -> Result<u16, String> {
    let mut visited = vec![url];
    loop {
        let current = visited.last().expect("visited starts with the URL");
        let (status, location) = get(client, current).await?;
        let Some(location) = location.filter(|_| is_redirect(status)) else {
            return Ok(status);
        };
        let next = redirect_target(current, &location)?;
        if visited.contains(&next) {
            return Err(format!(
                "redirect loop: {} redirects back to {}",
                redacted(current),
                redacted(&next)
            ));
        }
        if visited.len() > MAX_REDIRECTS {
            return Err(format!(
                "too many redirects (more than {MAX_REDIRECTS}), the last to {}",
                redacted(&next)
            ));
        }
        visited.push(next);
    }
}

/// One GET: the status and the `Location` header, the body read up to the cap (it is part of
/// the response time, and a connection is only reused once its body has been read).
async fn get(client: &awc::Client, url: &Url) -> Result<(u16, Option<String>), String> {
    let (url, authorization) = without_credentials(url);
    let mut request = client.get(url.as_str());
    if let Some(authorization) = authorization {
        request = request.insert_header((header::AUTHORIZATION, authorization));
    }
    let mut response = request.send().await.map_err(|error| error.to_string())?;
    let mut read = 0;
    while let Some(chunk) = response.next().await {
        read += chunk
            .map_err(|error| format!("reading the body: {error}"))?
            .len();
        if read >= MAX_BODY_BYTES {
            break;
        }
    }
    let location = response
        .headers()
        .get(header::LOCATION)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    Ok((response.status().as_u16(), location))
}

/// `url` without its user and password, and the HTTP basic auth header they make (decoded from
/// the URL's percent-encoding), as curl sends them: awc would send neither. A user alone is sent
/// with an empty password. Only for the URL that carries them: [`redirect_target`] carries them
/// on to the same scheme, host and port only.
fn without_credentials(url: &Url) -> (Cow<'_, Url>, Option<String>) {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    if url.username().is_empty() && url.password().is_none() {
        return (Cow::Borrowed(url), None);
    }
    let decoded = |part: &str| percent_encoding::percent_decode_str(part).collect::<Vec<u8>>();
    let mut pair = decoded(url.username());
    pair.push(b':');
    pair.extend(decoded(url.password().unwrap_or_default()));
    let mut bare = url.clone();
    // Both only fail for URLs that cannot carry credentials, which these do.
    let _ = bare.set_username("");
    let _ = bare.set_password(None);
    (
        Cow::Owned(bare),
        Some(format!("Basic {}", STANDARD.encode(pair))),
    )
}

fn is_redirect(status: u16) -> bool {
    [
        StatusCode::MOVED_PERMANENTLY,
        StatusCode::FOUND,
        StatusCode::SEE_OTHER,
        StatusCode::TEMPORARY_REDIRECT,
        StatusCode::PERMANENT_REDIRECT,
    ]
    .iter()
    .any(|redirect| redirect.as_u16() == status)
}

/// Where a `Location` (absolute, or relative to `current`) leads, if the probe can go there.
/// With `current`'s user and password when it has the same scheme, host and port (written
/// relative or absolute, as Rails and others always write it) and none of its own, as curl
/// does: never to another host or port, nor from https to http.
fn redirect_target(current: &Url, location: &str) -> Result<Url, String> {
    let mut next = current.join(location).map_err(|error| {
        let shown = printable(&redacted_value(location));
        format!("redirect to an invalid location \"{shown}\" ({error})")
    })?;
    match next.scheme() {
        "http" | "https" => {}
        other => {
            return Err(format!(
                "redirect to unsupported scheme {other} ({})",
                redacted(&next)
            ))
        }
    }
    let own = !next.username().is_empty() || next.password().is_some();
    if !own && next.origin() == current.origin() {
        // Both only fail for URLs that cannot carry credentials; http(s) ones can.
        let _ = next.set_username(current.username());
        let _ = next.set_password(current.password());
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_targets_are_joined_and_limited_to_http() {
        let current = Url::parse("https://u:pw@app.example.com/a/b").unwrap();
        let target = |location| redirect_target(&current, location);
        assert_eq!(
            target("/c").unwrap().as_str(),
            "https://u:pw@app.example.com/c"
        );
        assert_eq!(
            target("http://other.example/").unwrap().as_str(),
            "http://other.example/"
        );
        assert_eq!(
            target("ftp://u:secret@files.example/x").unwrap_err(),
            "redirect to unsupported scheme ftp (ftp://u:********@files.example/x)"
        );
        let invalid = target("http://[bad\u{1b}").unwrap_err();
        assert!(
            invalid.starts_with("redirect to an invalid location \"http://[bad\\u{1b}\""),
            "{invalid}"
        );
        assert!(is_redirect(308) && !is_redirect(304) && !is_redirect(200));
    }

    #[test]
    fn credentials_go_on_only_to_the_same_scheme_host_and_port() {
        let current = Url::parse("https://u:pw@app.example.com/hb").unwrap();
        let target = |location| redirect_target(&current, location).unwrap().to_string();
        for (location, next) in [
            ("/hb/", "https://u:pw@app.example.com/hb/"),
            (
                "https://app.example.com/hb/",
                "https://u:pw@app.example.com/hb/",
            ),
            (
                "HTTPS://App.Example.COM:443/x",
                "https://u:pw@app.example.com/x",
            ),
            ("//app.example.com/y", "https://u:pw@app.example.com/y"),
            // Its own user and password, or none at all elsewhere.
            (
                "https://v:w@app.example.com/z",
                "https://v:w@app.example.com/z",
            ),
            ("https://v@app.example.com/z", "https://v@app.example.com/z"),
            ("http://app.example.com/hb/", "http://app.example.com/hb/"),
            (
                "https://app.example.com:8443/hb/",
                "https://app.example.com:8443/hb/",
            ),
            ("https://www.example.com/hb/", "https://www.example.com/hb/"),
            ("//example.com/hb/", "https://example.com/hb/"),
        ] {
            assert_eq!(target(location), next, "{location}");
        }
        // From a URL without credentials, none are made up.
        let bare = Url::parse("https://app.example.com/hb").unwrap();
        assert_eq!(
            redirect_target(&bare, "https://app.example.com/hb/")
                .unwrap()
                .as_str(),
            "https://app.example.com/hb/"
        );
    }

    #[test]
    fn credentials_leave_the_url_for_a_basic_auth_header() {
        let split = |text: &str| {
            let url = Url::parse(text).unwrap();
            let (bare, header) = without_credentials(&url);
            (bare.to_string(), header)
        };
        // base64("Aladdin:open sesame"), RFC 7617's example, here percent-encoded in the URL.
        assert_eq!(
            split("https://Aladdin:open%20sesame@app.example.com/hb?x=1"),
            (
                "https://app.example.com/hb?x=1".to_string(),
                Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==".to_string())
            )
        );
        assert_eq!(
            split("https://TOKEN@app.example.com/").1.as_deref(),
            Some("Basic VE9LRU46")
        );
        assert_eq!(
            split("https://:pw@app.example.com/").1.as_deref(),
            Some("Basic OnB3")
        );
        assert_eq!(
            split("https://app.example.com/hb"),
            ("https://app.example.com/hb".to_string(), None)
        );
    }
}
