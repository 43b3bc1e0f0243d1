//! Heroku router log lines turned into a traffic trace for `simulate` and `tune`: requests per
//! second and mean service time per time bucket.
//!
//! A router line, as `heroku logs --source heroku --dyno router` prints it:
//! `2026-11-29T10:00:00.123456+00:00 heroku[router]: at=info method=GET path="/" ... dyno=web.1
//! connect=1ms service=23ms status=200 bytes=1548 protocol=https`; through a log drain (syslog,
//! RFC 5424) the same message follows `<158>1 2026-11-29T10:00:00.123456+00:00 host heroku
//! router - `. Requests Heroku failed (`at=error code=H12 ...`) count in the rate, not in the
//! service time: an H12's `service=30000ms` is the router giving up, not the app's work.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::simulate::metrics::round;
use crate::simulate::trace::{
    Trace, TraceError, TracePoint, MAX_DURATION_SECONDS, MAX_SERVICE_MS, MIN_SERVICE_MS,
};

/// One request the router logged.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterRequest {
    /// When the router logged it.
    pub at: DateTime<Utc>,
    /// The app's service time in ms, for a request the app answered (`at=info`).
    pub service_ms: Option<f64>,
    /// Heroku's error code (`H12`, `H13`, ...) for a request the router failed.
    pub error: Option<String>,
}

/// What one line of a log is.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// A router request.
    Request(RouterRequest),
    /// A router line that cannot be read, and why.
    Unreadable(String),
    /// Not a router line (an app's line, a dyno's state change, a blank line).
    Other,
}

/// Reads one line of `heroku logs` output or of a log drain's file.
pub fn parse_line(line: &str) -> Line {
    let Some((header, message)) = split_router_line(line) else {
        return Line::Other;
    };
    let Some(at) = header.split_whitespace().find_map(timestamp) else {
        return Line::Unreadable("no timestamp before the router's message".into());
    };
    let fields = key_values(message);
    let field = |key: &str| {
        fields
            .iter()
            .find_map(|(k, v)| (*k == key).then_some(v.as_str()))
    };
    match field("at") {
        Some("info") => match field("service").map(milliseconds) {
            Some(Some(service_ms)) => Line::Request(RouterRequest {
                at,
                service_ms: Some(service_ms),
                error: None,
            }),
            _ => Line::Unreadable("an at=info line without a service=NNms time".into()),
        },
        // H27 and H28 (the client hung up) are warnings: requests that came all the same.
        Some("error" | "warning") => match field("code") {
            Some(code) if !code.is_empty() => Line::Request(RouterRequest {
                at,
                service_ms: None,
                error: Some(code.to_string()),
            }),
            _ => Line::Unreadable("an at=error line without a code=".into()),
        },
        _ => Line::Unreadable("no at=info or at=error".into()),
    }
}

/// The part before the router's message and the message, for a router line.
fn split_router_line(line: &str) -> Option<(&str, &str)> {
    ["heroku[router]: ", " heroku router - "]
        .iter()
        .find_map(|marker| {
            line.find(marker)
                .map(|at| (&line[..at], &line[at + marker.len()..]))
        })
}

/// An RFC 3339 timestamp, as Heroku writes them (`2026-11-29T10:00:00.123456+00:00`).
fn timestamp(token: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(token)
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

/// `23ms` in ms.
fn milliseconds(text: &str) -> Option<f64> {
    text.strip_suffix("ms")?
        .parse::<f64>()
        .ok()
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
}

/// The `key=value` pairs of a router message. A value in double quotes may hold spaces and
/// `\"`; a key without `=` is skipped.
fn key_values(message: &str) -> Vec<(&str, String)> {
    let mut pairs = Vec::new();
    let mut rest = message.trim_start();
    while !rest.is_empty() {
        let key_end = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let key = &rest[..key_end];
        rest = &rest[key_end..];
        let Some(after_equals) = rest.strip_prefix('=') else {
            rest = rest.trim_start();
            continue;
        };
        let (value, after) = match after_equals.strip_prefix('"') {
            Some(quoted) => quoted_value(quoted),
            None => {
                let end = after_equals
                    .find(char::is_whitespace)
                    .unwrap_or(after_equals.len());
                (after_equals[..end].to_string(), &after_equals[end..])
            }
        };
        pairs.push((key, value));
        rest = after.trim_start();
    }
    pairs
}

/// A value after its opening quote: up to the closing quote, `\"` and `\\` unescaped; the rest
/// of the line after it.
fn quoted_value(text: &str) -> (String, &str) {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((index, c)) = chars.next() {
        match c {
            '"' => return (value, &text[index + 1..]),
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    value.push(escaped);
                }
            }
            c => value.push(c),
        }
    }
    // No closing quote: the value runs to the end of the line.
    (value, "")
}

/// Requests counted per time bucket, in any order of arrival.
#[derive(Debug, Clone)]
pub struct Buckets {
    seconds: u32,
    buckets: BTreeMap<i64, Bucket>,
    /// Requests Heroku failed, by error code.
    pub errors: BTreeMap<String, u64>,
    /// Lines that were not router lines.
    pub other_lines: u64,
    /// Router lines that could not be read, and the first reason.
    pub unreadable: (u64, Option<String>),
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    requests: u64,
    served: u64,
    service_ms: f64,
}

impl Buckets {
    /// Empty buckets of `seconds` each (1 or more).
    pub fn new(seconds: u32) -> Self {
        Buckets {
            seconds: seconds.max(1),
            buckets: BTreeMap::new(),
            errors: BTreeMap::new(),
            other_lines: 0,
            unreadable: (0, None),
        }
    }

    /// Counts one line of a log.
    pub fn add_line(&mut self, line: &str) {
        match parse_line(line) {
            Line::Request(request) => self.add(&request),
            Line::Unreadable(why) => {
                self.unreadable.0 += 1;
                self.unreadable.1.get_or_insert(why);
            }
            Line::Other => self.other_lines += 1,
        }
    }

    /// Counts one request.
    pub fn add(&mut self, request: &RouterRequest) {
        let index = request
            .at
            .timestamp_millis()
            .div_euclid(i64::from(self.seconds) * 1000);
        let bucket = self.buckets.entry(index).or_default();
        bucket.requests += 1;
        if let Some(service_ms) = request.service_ms {
            bucket.served += 1;
            bucket.service_ms += service_ms;
        }
        if let Some(code) = &request.error {
            *self.errors.entry(code.clone()).or_default() += 1;
        }
    }

    /// Requests counted.
    pub fn requests(&self) -> u64 {
        self.buckets.values().map(|bucket| bucket.requests).sum()
    }

    /// The start of the first bucket and the end of the last, if any request was counted.
    pub fn span(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let start = |index: i64| {
            DateTime::from_timestamp_millis(index * i64::from(self.seconds) * 1000)
                .unwrap_or_default()
        };
        let first = *self.buckets.keys().next()?;
        let last = *self.buckets.keys().next_back()?;
        Some((start(first), start(last + 1)))
    }

    /// How many buckets' mean service time was below, and above, what a trace takes, and so
    /// written as the nearest it takes.
    pub fn clamped_service_times(&self) -> (usize, usize) {
        let means: Vec<f64> = self
            .buckets
            .values()
            .filter(|bucket| bucket.served > 0)
            .map(|bucket| round(bucket.service_ms / bucket.served as f64, 1))
            .collect();
        let below = means.iter().filter(|&&ms| ms < MIN_SERVICE_MS).count();
        let above = means.iter().filter(|&&ms| ms > MAX_SERVICE_MS).count();
        (below, above)
    }

    /// The trace: a row at the start of each bucket from the first to the last (quiet ones at
    /// 0), its rate the bucket's requests per second and its service time the bucket's mean
    /// (left empty for a bucket with no answered request), and a last row where the last bucket
    /// ends. Rates are rounded to 0.000001 requests/s and service times to 0.1 ms. A log
    /// spanning more than a trace may last is refused before any row is made.
    pub fn to_trace(&self, name: &str) -> Result<Trace, TraceError> {
        let first = self.buckets.keys().next().copied().unwrap_or(0);
        let last = self.buckets.keys().next_back().copied().unwrap_or(first);
        let seconds = f64::from(self.seconds);
        let span = (last - first + 1) as f64 * seconds;
        if span > MAX_DURATION_SECONDS {
            return Err(TraceError {
                source: name.to_string(),
                line: None,
                message: format!(
                    "its requests span {:.1} days: a trace lasts at most 31 days; give a shorter \
                     log (or a log drain's lines for the days wanted)",
                    span / 86_400.0
                ),
            });
        }
        let rate = |bucket: &Bucket| round(bucket.requests as f64 / seconds, 6);
        let mut rows: Vec<TracePoint> = (first..=last)
            .map(|index| {
                let bucket = self.buckets.get(&index).copied().unwrap_or_default();
                let service_ms = (bucket.served > 0).then(|| {
                    round(bucket.service_ms / bucket.served as f64, 1)
                        .clamp(MIN_SERVICE_MS, MAX_SERVICE_MS)
                });
                TracePoint {
                    seconds: (index - first) as f64 * seconds,
                    requests_per_second: rate(&bucket),
                    service_ms,
                }
            })
            .collect();
        let end = TracePoint {
            seconds: (last - first + 1) as f64 * seconds,
            requests_per_second: rows.last().map_or(0.0, |row| row.requests_per_second),
            service_ms: None,
        };
        rows.push(end);
        Trace::from_points(name, rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "2026-11-29T10:00:00.123456+00:00 heroku[router]: at=info method=GET \
        path=\"/search?q=a\" host=acme-shop.herokuapp.com \
        request_id=8601b555-6a83-4c12-8269-97c8e32cdb22 fwd=\"203.0.113.7\" dyno=web.1 \
        connect=1ms service=23ms status=200 bytes=1548 protocol=https";

    fn at(text: &str) -> DateTime<Utc> {
        timestamp(text).unwrap()
    }

    #[test]
    fn a_router_line_as_heroku_logs_prints_it() {
        assert_eq!(
            parse_line(INFO),
            Line::Request(RouterRequest {
                at: at("2026-11-29T10:00:00.123456+00:00"),
                service_ms: Some(23.0),
                error: None,
            })
        );
    }

    #[test]
    fn an_error_line_counts_its_code_and_no_service_time() {
        let line = "2026-11-29T10:00:01.000000+00:00 heroku[router]: at=error code=H12 \
                    desc=\"Request timeout\" method=GET path=\"/\" host=acme-shop.herokuapp.com \
                    request_id=1 fwd=\"203.0.113.7\" dyno=web.2 connect=1ms service=30000ms \
                    status=503 bytes=0 protocol=https";
        assert_eq!(
            parse_line(line),
            Line::Request(RouterRequest {
                at: at("2026-11-29T10:00:01Z"),
                service_ms: None,
                error: Some("H12".into()),
            })
        );
        // H14 has no dyno and no service time at all.
        let h14 = "2026-11-29T10:00:02+00:00 heroku[router]: at=error code=H14 desc=\"No web \
                   processes running\" method=GET path=\"/\" host=a request_id=2 fwd=\"1.2.3.4\" \
                   dyno= connect= service= status=503 bytes= protocol=https";
        assert!(matches!(parse_line(h14), Line::Request(r) if r.error.as_deref() == Some("H14")));
        // The client hung up (H27): a warning, but a request that came all the same.
        let h27 = "2026-11-29T10:00:03+00:00 heroku[router]: sock=client at=warning code=H27 \
                   desc=\"Client Request Interrupted\" method=POST path=\"/upload\" dyno=web.1 \
                   connect=0ms service=480ms status=499 bytes=";
        assert!(matches!(parse_line(h27), Line::Request(r) if r.error.as_deref() == Some("H27")));
    }

    #[test]
    fn a_log_drain_line_is_read_after_its_syslog_header() {
        let line = "<158>1 2026-11-29T10:00:00.5+00:00 host heroku router - at=info method=POST \
                    path=\"/\" host=a request_id=3 fwd=\"1.2.3.4\" dyno=web.3 connect=0ms \
                    service=150ms status=201 bytes=10 protocol=https";
        assert_eq!(
            parse_line(line),
            Line::Request(RouterRequest {
                at: at("2026-11-29T10:00:00.5Z"),
                service_ms: Some(150.0),
                error: None,
            })
        );
    }

    #[test]
    fn paths_with_spaces_quotes_and_equals_signs_do_not_confuse_the_fields() {
        let line = "2026-11-29T10:00:00+00:00 heroku[router]: at=info method=GET \
                    path=\"/a b/\\\"c\\\"?x=service=9ms status=500\" host=a request_id=4 \
                    fwd=\"1.2.3.4\" dyno=web.1 connect=1ms service=42ms status=200 bytes=1";
        let fields = key_values(line.split("heroku[router]: ").nth(1).unwrap());
        assert!(fields.contains(&("path", "/a b/\"c\"?x=service=9ms status=500".to_string())));
        assert!(matches!(parse_line(line), Line::Request(r) if r.service_ms == Some(42.0)));
    }

    #[test]
    fn other_lines_and_broken_router_lines_are_told_apart() {
        for other in [
            "",
            "2026-11-29T10:00:00+00:00 app[web.1]: GET / 200",
            "2026-11-29T10:00:00+00:00 heroku[web.1]: State changed from starting to up",
        ] {
            assert_eq!(parse_line(other), Line::Other, "{other}");
        }
        for broken in [
            "yesterday heroku[router]: at=info service=3ms",
            "2026-11-29T10:00:00+00:00 heroku[router]: at=info service=fast",
            "2026-11-29T10:00:00+00:00 heroku[router]: at=error desc=\"x\"",
            "2026-11-29T10:00:00+00:00 heroku[router]: at=debug service=3ms",
        ] {
            assert!(
                matches!(parse_line(broken), Line::Unreadable(_)),
                "{broken}"
            );
        }
    }

    /// A router line at `second` past 10:00 served in `service` ms, or failed with `error`.
    fn line(second: u32, service: Option<u32>, error: Option<&str>) -> String {
        let at = format!(
            "2026-11-29T10:{:02}:{:02}.000000+00:00",
            second / 60,
            second % 60
        );
        match error {
            Some(code) => format!(
                "{at} heroku[router]: at=error code={code} desc=\"x\" method=GET path=\"/\" \
                 dyno=web.1 connect=1ms service=30000ms status=503 bytes=0"
            ),
            None => format!(
                "{at} heroku[router]: at=info method=GET path=\"/\" dyno=web.2 connect=1ms \
                 service={}ms status=200 bytes=1",
                service.unwrap_or(10)
            ),
        }
    }

    #[test]
    fn buckets_give_each_minute_its_rate_and_mean_service_in_any_line_order() {
        let mut buckets = Buckets::new(60);
        // Minute 2 first (another dyno's lines), then minute 0; minute 1 is quiet.
        for text in [
            line(125, Some(300), None),
            line(130, None, Some("H12")),
            line(5, Some(10), None),
            line(59, Some(30), None),
            line(0, Some(20), None),
            "2026-11-29T10:00:30+00:00 app[web.1]: hello".to_string(),
        ] {
            buckets.add_line(&text);
        }
        assert_eq!(buckets.requests(), 5);
        assert_eq!(buckets.other_lines, 1);
        assert_eq!(buckets.errors, BTreeMap::from([("H12".to_string(), 1)]));
        let (start, end) = buckets.span().unwrap();
        assert_eq!(
            (start, end),
            (at("2026-11-29T10:00:00Z"), at("2026-11-29T10:03:00Z"))
        );
        let trace = buckets.to_trace("router.log").unwrap();
        let rows: Vec<(f64, f64, Option<f64>)> = trace
            .points()
            .iter()
            .map(|p| (p.seconds, p.requests_per_second, p.service_ms))
            .collect();
        assert_eq!(
            rows,
            [
                (0.0, 0.05, Some(20.0)),
                (60.0, 0.0, None),
                // The H12 counts in the rate, not in the mean service.
                (120.0, round(2.0 / 60.0, 6), Some(300.0)),
                (180.0, round(2.0 / 60.0, 6), None),
            ]
        );
    }

    #[test]
    fn a_mean_service_beyond_what_a_trace_takes_is_clamped_and_counted() {
        let mut buckets = Buckets::new(10);
        buckets.add_line(&line(0, Some(25_000), None));
        // A bucket of 0 ms answers (redirects, health checks) is written as the least.
        buckets.add_line(&line(30, Some(0), None));
        assert_eq!(buckets.clamped_service_times(), (1, 1));
        let trace = buckets.to_trace("t").unwrap();
        assert_eq!(trace.points()[0].service_ms, Some(MAX_SERVICE_MS));
        assert_eq!(trace.points()[3].service_ms, Some(MIN_SERVICE_MS));
    }

    #[test]
    fn a_log_spanning_more_than_31_days_is_refused_before_any_row_is_made() {
        let mut buckets = Buckets::new(1);
        buckets.add_line(&line(0, Some(10), None));
        buckets.add_line(&line(0, Some(10), None).replace("2026-11-29", "2036-11-29"));
        let error = buckets.to_trace("router.log").unwrap_err();
        assert!(
            error.message.starts_with("its requests span 3653.0 days"),
            "{error}"
        );
        // An hour's bucket keeps a trickle: one request an hour is not rounded to 0.
        let mut buckets = Buckets::new(3600);
        buckets.add_line(&line(0, Some(10), None));
        let trace = buckets.to_trace("t").unwrap();
        assert_eq!(
            trace.points()[0].requests_per_second,
            round(1.0 / 3600.0, 6)
        );
    }
}
