//! `heroku-autoscale trace` as a user runs it: the real binary reading a router log, from a
//! file or standard input, and its trace read back by `simulate`.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const BINARY: &str = env!("CARGO_BIN_EXE_heroku-autoscale");

/// Requests per minute of the generated log, from 10:00; minutes 1 and 7 are quiet.
const PER_MINUTE: [usize; 10] = [12, 0, 30, 45, 7, 60, 3, 0, 18, 24];

/// Runs the binary with `stdin` on its standard input.
fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BINARY)
        .args(args)
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    child
        .stdin
        .take()
        .expect("a stdin pipe")
        .write_all(stdin.as_bytes())
        .expect("the log is written");
    child.wait_with_output().expect("the binary ends")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A router log as Heroku writes it: requests spread over each minute, from three dynos and
/// out of order, every tenth one failed by the router, odd paths, a few lines through a log
/// drain, and lines that are not the router's. Each minute's answered requests take
/// (minute + 1) × 10 ms, so their mean is known exactly.
fn generated_log() -> String {
    let mut rng = fastrand::Rng::with_seed(7);
    let mut lines = Vec::new();
    let mut served = 0;
    for (minute, &count) in PER_MINUTE.iter().enumerate() {
        for index in 0..count {
            served += 1;
            let micros = rng.u64(0..60_000_000);
            let stamp = format!(
                "2026-11-29T10:{minute:02}:{:02}.{:06}+00:00",
                micros / 1_000_000,
                micros % 1_000_000
            );
            let dyno = index % 3 + 1;
            let path = r#""/search?q=a b \"quoted\" service=1ms""#;
            let message = if served % 10 == 0 {
                let code = if served % 20 == 0 { "H13" } else { "H12" };
                format!(
                    "at=error code={code} desc=\"Request timeout\" method=GET path={path} \
                     host=acme-shop.herokuapp.com request_id=r{served} fwd=\"203.0.113.7\" \
                     dyno=web.{dyno} connect=1ms service=30000ms status=503 bytes=0 \
                     protocol=https"
                )
            } else {
                format!(
                    "at=info method=GET path={path} host=acme-shop.herokuapp.com \
                     request_id=r{served} fwd=\"203.0.113.7\" dyno=web.{dyno} connect=1ms \
                     service={}ms status=200 bytes=1548 protocol=https",
                    (minute + 1) * 10
                )
            };
            lines.push(if served % 7 == 0 {
                format!("<158>1 {stamp} host heroku router - {message}")
            } else {
                format!("{stamp} heroku[router]: {message}")
            });
        }
    }
    lines.push("2026-11-29T10:03:00.000000+00:00 app[web.1]: GET /search 200".into());
    lines.push("2026-11-29T10:04:00.000000+00:00 heroku[web.2]: State changed to up".into());
    rng.shuffle(&mut lines);
    lines.join("\n") + "\n"
}

/// The CSV's rows: seconds, rate, and the service time if given.
fn rows(csv: &str) -> Vec<(f64, f64, Option<f64>)> {
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("seconds,requests_per_second,service_ms"));
    lines
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            (
                fields[0].parse().expect("seconds"),
                fields[1].parse().expect("a rate"),
                fields.get(2).and_then(|ms| ms.parse().ok()),
            )
        })
        .collect()
}

#[test]
fn a_router_log_becomes_a_trace_with_the_rates_and_service_times_it_holds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("router.log");
    std::fs::write(&log, generated_log()).expect("log written");
    let output = run(&["trace", &log.display().to_string()], "");
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let rows = rows(&stdout);
    assert_eq!(rows.len(), PER_MINUTE.len() + 1, "{stdout}");
    for (minute, (&count, row)) in PER_MINUTE.iter().zip(&rows).enumerate() {
        let rate = (count as f64 / 60.0 * 1e6).round() / 1e6;
        assert_eq!(row.0, minute as f64 * 60.0);
        assert_eq!(row.1, rate, "minute {minute}: {stdout}");
        // A minute with answered requests has their mean; a quiet one leaves it empty.
        let expected = (count > 0).then_some((minute as f64 + 1.0) * 10.0);
        assert_eq!(row.2, expected, "minute {minute}: {stdout}");
    }
    // The last row closes the last minute.
    assert_eq!(rows.last().map(|row| row.0), Some(600.0));
    let failed = PER_MINUTE.iter().sum::<usize>() / 10;
    for expected in [
        format!("trace: {} requests", PER_MINUTE.iter().sum::<usize>()),
        "from 2026-11-29T10:00:00Z to 2026-11-29T10:10:00Z, 10 buckets of 60 s".to_string(),
        format!("{failed} failed by Heroku (H12 "),
        "skipped 2 lines that are not the router's".to_string(),
    ] {
        assert!(stderr.contains(&expected), "{expected:?} in {stderr}");
    }
}

#[test]
fn standard_input_and_out_give_a_file_simulate_reads() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("traffic.csv");
    let out_arg = out.display().to_string();
    let output = run(
        &["trace", "--bucket-seconds", "120", "--out", &out_arg],
        &generated_log(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains(&format!("wrote {out_arg}")));
    let csv = std::fs::read_to_string(&out).expect("trace written");
    let rows = rows(&csv);
    // Two-minute buckets: 12 + 0 requests in the first.
    assert_eq!(rows[0], (0.0, 0.1, Some(10.0)));
    assert_eq!(rows.len(), 6);
    let simulated = run(&["simulate", "--trace", &out_arg], "");
    assert_eq!(
        simulated.status.code(),
        Some(0),
        "{}",
        text(&simulated.stderr)
    );
    assert!(text(&simulated.stdout).contains("autoscaler"));
}

#[test]
fn a_log_without_router_lines_or_a_bad_flag_is_refused() {
    let output = run(&["trace"], "2026-11-29T10:00:00+00:00 app[web.1]: hello\n");
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("error: standard input: no router request in 1 line: give"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
    let output = run(&["trace", "--bucket-seconds", "0"], "");
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("is not a bucket length"));
    let output = run(&["trace", "/nonexistent/router.log"], "");
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("/nonexistent/router.log: cannot read the log"));
}
