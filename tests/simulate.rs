//! `heroku-autoscale simulate` as a user runs it: the real binary, no app, no key, no network.

mod support;

use std::path::Path;
use std::time::Duration;

use support::{Stream, WorkerProcess};

const LONG_ENOUGH: Duration = Duration::from_secs(120);

fn simulate(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut all = vec!["simulate"];
    all.extend_from_slice(args);
    let (status, output) = WorkerProcess::run_to_end(&all, env, LONG_ENOUGH);
    (status.code(), output)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("temp file written");
    path.display().to_string()
}

#[test]
fn a_scenario_runs_with_no_app_or_key_and_compares_the_four_policies() {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("night.json");
    let json_arg = json.display().to_string();
    let (code, output) = simulate(&["--scenario", "night", "--json", &json_arg], &[]);
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("simulate: scenario night"), "{output}");
    for policy in ["autoscaler", "seed", "oracle", "fixed-max"] {
        assert!(
            output.lines().any(|line| line.starts_with(policy)),
            "no row for {policy}:\n{output}"
        );
    }
    let document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("JSON written"))
            .expect("valid JSON");
    assert_eq!(document["trace"]["name"], "scenario night");
    assert_eq!(document["model"]["concurrency"], 4);
    // The default SLO is the max response time setting.
    assert_eq!(document["model"]["slo_ms"], 1000.0);
    let fixed_max = &document["policies"]["fixed-max"];
    // The default max is 3 dynos, for the 8 hours.
    assert_eq!(fixed_max["dyno_hours"], 24.0);
    assert_eq!(fixed_max["max_dynos"], 3);
}

#[test]
fn settings_come_from_the_environment_as_for_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let trace = write(
        dir.path(),
        "flat.csv",
        "seconds,requests_per_second\n0,10\n600,10\n",
    );
    let json = dir.path().join("out.json");
    let json_arg = json.display().to_string();
    let env = [("AUTOSCALE_MAX_DYNOS", "7"), ("AUTOSCALE_MIN_DYNOS", "2")];
    let (code, output) = simulate(&["--trace", &trace, "--json", &json_arg], &env);
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("dynos 2–7"), "{output}");
    let document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("written")).expect("JSON");
    assert_eq!(document["settings"]["max_dynos"], 7);
    assert_eq!(document["policies"]["fixed-max"]["max_dynos"], 7);
    // The demand (1 dyno) is below the min: every policy holds 2, the bound.
    assert_eq!(document["model"]["start_dynos"], 2);
}

#[test]
fn scenario_list_describes_every_scenario() {
    let (code, output) = simulate(&["--scenario", "list"], &[]);
    assert_eq!(code, Some(0), "{output}");
    for name in ["daily", "spike", "ramp", "slow-db", "noisy", "night"] {
        assert!(
            output.lines().any(|line| line.starts_with(name)),
            "{name} missing:\n{output}"
        );
    }
}

#[test]
fn a_bad_trace_is_refused_with_its_line_and_what_is_wrong() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases = [
        (
            "seconds,requests_per_second\n0,10\n60,-3\n",
            "line 3",
            "negative",
        ),
        (
            "seconds,requests_per_second\n0,10\n60,ten\n",
            "line 3",
            "not a number",
        ),
        (
            "seconds,requests_per_second\n0,10\n60,10\n60,20\n",
            "line 4",
            "increase",
        ),
        ("0,10\n60,10\n", "line 1", "header"),
        ("", "bad.csv", "empty"),
        ("seconds,requests_per_second\n", "bad.csv", "no rows"),
    ];
    for (text, line, what) in cases {
        let trace = write(dir.path(), "bad.csv", text);
        let (code, output) = simulate(&["--trace", &trace], &[]);
        assert_eq!(code, Some(2), "{text:?}: {output}");
        assert!(
            output.contains(line) && output.contains(what),
            "{text:?}: expected {line:?} and {what:?} in:\n{output}"
        );
    }
    let missing = dir.path().join("missing.csv").display().to_string();
    let (code, output) = simulate(&["--trace", &missing], &[]);
    assert_eq!(code, Some(2), "{output}");
    assert!(output.contains("missing.csv"), "{output}");
}

#[test]
fn bad_flags_are_refused_naming_the_flag_and_what_is_valid() {
    let cases: [(&[&str], &str); 12] = [
        (&["--scenario", "dayly"], "did you mean daily"),
        (
            &["--scenario", "spike", "--concurrency", "0"],
            "whole number from 1 to 1000",
        ),
        (
            &["--scenario", "spike", "--service-ms", "fast"],
            "give milliseconds from 0.001 to 10000",
        ),
        (
            &["--scenario", "spike", "--boot-seconds", "-5"],
            "from 0 to 3600",
        ),
        (
            &["--scenario", "spike", "--slo-ms", "0"],
            "above 0 and at most 30000",
        ),
        (&["--scenario", "spike", "--slo-ms", "100"], "out of reach"),
        (
            &["--scenario", "spike", "--start-dynos", "-1"],
            "whole number from 0 to 10000",
        ),
        (
            &["--scenario", "spike", "--seed", "x"],
            "'x' for '--seed <N>': \"x\" is not a whole number",
        ),
        (
            &["--scenario", "spike", "--concurrency", "1.5"],
            "whole number from 1 to 1000",
        ),
        (&[], "<--trace <FILE>|--scenario <NAME>>"),
        (
            &["--scenario", "spike", "--service-ms", "1e-320"],
            "give milliseconds from 0.001",
        ),
        (
            &["--scenario", "spike", "--slo-ms", "60000"],
            "the router fails a request at 30 s",
        ),
    ];
    for (args, expected) in cases {
        let (code, output) = simulate(args, &[]);
        assert_eq!(code, Some(2), "{args:?}: {output}");
        assert!(
            output.contains(expected),
            "{args:?}: no {expected:?} in:\n{output}"
        );
    }
    let (code, output) = simulate(&["--scenario", "spike", "--trace", "x.csv"], &[]);
    assert_eq!(code, Some(2), "{output}");
}

#[test]
fn bad_settings_are_refused_as_run_refuses_them() {
    let (code, output) = simulate(&["--scenario", "night"], &[("AUTOSCALE_MAX_DYNOS", "lots")]);
    assert_eq!(code, Some(2), "{output}");
    assert!(output.contains("AUTOSCALE_MAX_DYNOS=\"lots\""), "{output}");
}

/// Runs `simulate` to its end: the exit code, stdout's lines and stderr's lines.
fn simulate_apart(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, Vec<String>, Vec<String>) {
    let mut all = vec!["simulate"];
    all.extend_from_slice(args);
    let mut worker = WorkerProcess::spawn(&all, env);
    let status = worker.wait_exit(LONG_ENOUGH).expect("simulate ends");
    let stdout = worker.stream_lines(Stream::Stdout);
    let stderr = worker.stream_lines(Stream::Stderr);
    (status.code(), stdout, stderr)
}

#[test]
fn an_output_file_that_cannot_be_written_fails_the_run_after_the_table() {
    let dir = tempfile::tempdir().expect("temp dir");
    let a_directory = dir.path().display().to_string();
    for (flag, path) in [
        ("--json", "/nonexistent-dir/out.json"),
        ("--svg", "/nonexistent-dir/out.svg"),
        ("--json", a_directory.as_str()),
    ] {
        let (code, stdout, stderr) = simulate_apart(&["--scenario", "night", flag, path], &[]);
        assert_eq!(code, Some(1), "{flag} {path}: {stderr:?}");
        assert!(
            stdout.iter().any(|line| line.starts_with("oracle")),
            "the table still goes to stdout: {stdout:?}"
        );
        let said = stderr.join("\n");
        assert!(
            said.contains(&format!("error: {flag} {path}: cannot write the file")),
            "{said}"
        );
    }
}

#[test]
fn secrets_in_the_settings_appear_in_no_output() {
    let secrets = ["sim-api-key-5c1e", "smtp-pass-77d2", "heartbeat-pass-31aa"];
    let env = [
        ("AUTOSCALE_HEROKU_APP_NAME", "acme-shop"),
        ("AUTOSCALE_HEROKU_API_KEY", secrets[0]),
        ("AUTOSCALE_ADMINS", "ops@example.com"),
        (
            "AUTOSCALE_SMTP_URL",
            "smtp://mailer:smtp-pass-77d2@smtp.example.com:587",
        ),
        (
            "AUTOSCALE_HEARTBEAT_URL",
            "https://probe:heartbeat-pass-31aa@acme.example.com/heroku-autoscale/heartbeat/v1",
        ),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    let (json, svg) = (dir.path().join("out.json"), dir.path().join("out.svg"));
    let (json_arg, svg_arg) = (json.display().to_string(), svg.display().to_string());
    let (code, output) = simulate(
        &[
            "--scenario",
            "night",
            "--json",
            &json_arg,
            "--svg",
            &svg_arg,
        ],
        &env,
    );
    assert_eq!(code, Some(0), "{output}");
    let files = [
        std::fs::read_to_string(&json).expect("JSON written"),
        std::fs::read_to_string(&svg).expect("SVG written"),
    ];
    for secret in secrets {
        assert!(!output.contains(secret), "{secret} printed:\n{output}");
        for file in &files {
            assert!(!file.contains(secret), "{secret} written to a file");
        }
    }
}

#[test]
fn svg_draws_the_chart_with_the_settings_in_its_title() {
    let dir = tempfile::tempdir().expect("temp dir");
    let svg = dir.path().join("night.svg");
    let svg_arg = svg.display().to_string();
    let (code, output) = simulate(
        &["--scenario", "night", "--svg", &svg_arg],
        &[("AUTOSCALE_MAX_DYNOS", "4")],
    );
    assert_eq!(code, Some(0), "{output}");
    let text = std::fs::read_to_string(&svg).expect("SVG written");
    assert!(text.trim_start().starts_with("<svg"), "{}", &text[..200]);
    assert!(text.trim_end().ends_with("</svg>"));
    for expected in ["scenario night", "dynos 1–4", "fixed-max", "oracle"] {
        assert!(text.contains(expected), "no {expected:?} in the SVG");
    }
}

#[test]
fn the_trace_in_docs_simulation_md_is_valid() {
    let docs = include_str!("../docs/simulation.md");
    let csv = docs
        .split("```csv\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/simulation.md has a csv example");
    let dir = tempfile::tempdir().expect("temp dir");
    let trace = write(dir.path(), "example.csv", csv);
    let (code, output) = simulate(&["--trace", &trace], &[]);
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("(4.00 h)"), "{output}");
}

fn tune(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut all = vec!["tune"];
    all.extend_from_slice(args);
    let (status, output) = WorkerProcess::run_to_end(&all, env, LONG_ENOUGH);
    (status.code(), output)
}

/// The slow % and dyno-hours of a `tune` row (`1`, `2*`, ...; [`TUNE`]'s columns) or a
/// `simulate` policy row ([`SIMULATE`]'s).
fn slow_and_dyno_hours(
    output: &str,
    first_column: &str,
    columns: (usize, usize),
) -> (String, String) {
    let line = output
        .lines()
        .find(|line| line.split_whitespace().next() == Some(first_column))
        .unwrap_or_else(|| panic!("no row {first_column}:\n{output}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    (words[columns.0].to_string(), words[columns.1].to_string())
}

const TUNE: (usize, usize) = (1, 3);
const SIMULATE: (usize, usize) = (2, 7);

#[test]
fn tune_finds_settings_that_simulate_confirms() {
    let dir = tempfile::tempdir().expect("temp dir");
    // 20 min quiet, 10 min at six times the load, 10 min quiet.
    let trace = write(
        dir.path(),
        "step.csv",
        "seconds,requests_per_second\n0,20\n1199,20\n1200,120\n1799,120\n1800,20\n2400,20\n",
    );
    let env = [("AUTOSCALE_MAX_DYNOS", "10")];
    let (code, output) = tune(&["--trace", &trace, "--top", "3"], &env);
    assert_eq!(code, Some(0), "{output}");
    assert!(
        output.contains("goal:     the fewest dyno-hours with at most 1 %"),
        "{output}"
    );
    let rows = output
        .lines()
        .skip_while(|line| !line.starts_with("best found"))
        .filter(|line| line.starts_with(|c: char| c.is_ascii_digit()))
        .count();
    assert!((1..=3).contains(&rows), "{output}");

    // The row marked as the user's settings is what `simulate` gives for them.
    let yours = output
        .lines()
        .find_map(|line| {
            line.split_whitespace()
                .next()
                .filter(|first| first.ends_with('*'))
        })
        .map(str::to_string);
    let (_, plain) = simulate(&["--trace", &trace], &env);
    if let Some(mark) = yours {
        assert_eq!(
            slow_and_dyno_hours(&output, &mark, TUNE),
            slow_and_dyno_hours(&plain, "autoscaler", SIMULATE),
            "{output}\n{plain}"
        );
    }
    let (baseline_slow, _) = slow_and_dyno_hours(&output, "autoscaler", TUNE);
    assert_eq!(
        baseline_slow,
        slow_and_dyno_hours(&plain, "autoscaler", SIMULATE).0
    );

    // The best row's settings, applied as the `config:set` line says, give its figures.
    let vars: Vec<(String, String)> = output
        .lines()
        .find(|line| line.trim_start().starts_with("heroku config:set"))
        .map(|line| {
            line.split_whitespace()
                .filter_map(|word| word.split_once('='))
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        !vars.is_empty() || output.contains("Your settings are the best found"),
        "{output}"
    );
    let mut tuned_env: Vec<(&str, &str)> = env.to_vec();
    tuned_env.extend(
        vars.iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
    );
    // The SLO tune judged by, whatever max response time it found.
    let slo = output
        .split("simulate --slo-ms ")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap_or("1000")
        .to_string();
    let (code, tuned) = simulate(&["--trace", &trace, "--slo-ms", &slo], &tuned_env);
    assert_eq!(code, Some(0), "{tuned}");
    let best_mark = output
        .lines()
        .skip_while(|line| !line.starts_with("best found"))
        .find_map(|line| {
            line.split_whitespace()
                .next()
                .filter(|first| first.starts_with('1'))
        })
        .expect("a first row")
        .to_string();
    assert_eq!(
        slow_and_dyno_hours(&output, &best_mark, TUNE),
        slow_and_dyno_hours(&tuned, "autoscaler", SIMULATE),
        "{output}\n{tuned}"
    );
}

#[test]
fn tune_refuses_a_budget_that_is_not_a_percentage() {
    let (code, output) = tune(&["--scenario", "night", "--max-violation-pct", "150"], &[]);
    assert_eq!(code, Some(2), "{output}");
    assert!(output.contains("--max-violation-pct"), "{output}");
    assert!(output.contains("from 0 to 100"), "{output}");
}

#[test]
fn jobs_burst_scales_the_worker_type_and_reports_its_waits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("jobs.json");
    let json_arg = json.display().to_string();
    let processes = [(
        "AUTOSCALE_PROCESSES",
        "worker: max_dynos=10 jobs_per_dyno=10",
    )];
    let (code, output) = simulate(
        &["--scenario", "jobs-burst", "--json", &json_arg],
        &processes,
    );
    assert_eq!(code, Some(0), "{output}");
    assert!(
        output.contains("worker: jobs_per_dyno 10 · jobs of 10 s on average, 5 at once per dyno"),
        "{output}"
    );
    let document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("JSON written"))
            .expect("valid JSON");
    let worker = &document["processes"]["worker"];
    let autoscaler = &worker["autoscaler"];
    // The same jobs for every policy; the autoscaler within the max and cheaper than it.
    assert!(
        autoscaler["jobs"].as_u64().expect("a count") > 5000,
        "{worker}"
    );
    assert_eq!(autoscaler["jobs"], worker["fixed-max"]["jobs"]);
    let count = |field: &str| autoscaler[field].as_u64().expect("a count");
    assert!(count("max_dynos") <= 10, "{worker}");
    assert!(count("scale_ups") >= 2, "{worker}");
    let dyno_hours = |policy: &str| worker[policy]["dyno_hours"].as_f64().expect("a figure");
    assert!(
        dyno_hours("autoscaler") < dyno_hours("fixed-max") / 2.0,
        "{worker}"
    );

    // The job model's flags are read and checked.
    let (code, output) = simulate(
        &[
            "--scenario",
            "jobs-burst",
            "--job-seconds",
            "2",
            "--job-concurrency",
            "10",
            "--json",
            &json_arg,
        ],
        &processes,
    );
    assert_eq!(code, Some(0), "{output}");
    assert!(
        output.contains("jobs of 2 s on average, 10 at once per dyno"),
        "{output}"
    );
    for (flag, value, says) in [
        ("--job-seconds", "0", "is not a mean job time"),
        (
            "--job-concurrency",
            "0",
            "is not a whole number from 1 to 1000",
        ),
    ] {
        let (code, output) = simulate(&["--scenario", "jobs-burst", flag, value], &processes);
        assert_eq!(code, Some(2), "{output}");
        assert!(output.contains(says), "{flag}: {output}");
    }
}

#[test]
fn jobs_for_a_process_type_the_settings_lack_are_refused_naming_the_setting() {
    let (code, output) = simulate(&["--scenario", "jobs-burst"], &[]);
    assert_eq!(code, Some(2), "{output}");
    assert!(
        output.contains(
            "the trace gives jobs for the process type worker, which the settings do not \
             configure (they configure none): add it to AUTOSCALE_PROCESSES"
        ),
        "{output}"
    );
}
