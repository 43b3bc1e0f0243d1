//! `heroku-autoscale tune`: its flags, the search run on every core, and what it prints.

use std::fmt::Write;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use heroku_autoscale::settings::Loaded;
use heroku_autoscale::simulate::report::model_line;
use heroku_autoscale::simulate::tune::{self, Candidate, Figures, Knobs};
use heroku_autoscale::simulate::{run_policies, PolicyName};

use crate::simulate_command::{run_every_policy, ModelArgs};
use crate::{report_stdout_refusals, say};

#[derive(Args)]
pub struct TuneArgs {
    #[command(flatten)]
    pub model: ModelArgs,

    /// The most requests, in %, that may be slower than the SLO or fail.
    #[arg(long, value_name = "PCT", default_value = "1", allow_negative_numbers = true,
          value_parser = percent)]
    max_violation_pct: f64,

    /// How many of the best settings to print.
    #[arg(long, value_name = "N", default_value = "5", allow_negative_numbers = true,
          value_parser = top)]
    top: usize,
}

/// Runs the search and prints the best settings found.
pub fn tune(loaded: &Loaded, args: &TuneArgs) -> ExitCode {
    let started = Instant::now();
    // Every policy once with the user's settings: the yardstick, and the errors `simulate`
    // would give, before any search.
    let (trace, model, baseline) = match run_every_policy(loaded, &args.model) {
        Ok(run) => run,
        Err(code) => return code,
    };
    let settings = &loaded.settings;
    let yours = Knobs::of(settings);
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    // The knobs are the web's: a candidate's job queues would be simulated for nothing.
    let web_traffic = trace.without_jobs();
    let ranked = tune::search(yours, args.max_violation_pct, threads, |knobs| {
        run_policies(
            &web_traffic,
            &model,
            &knobs.apply(settings),
            &[PolicyName::Autoscaler],
        )
        .map(|result| Figures::of(result.figures(PolicyName::Autoscaler)))
        // The baseline ran with the same bounds and model, so this cannot fail; were it to,
        // the candidate is simply the worst.
        .unwrap_or(Figures {
            violation_pct: 100.0,
            p95_ms: f64::INFINITY,
            dyno_hours: f64::INFINITY,
            scale_calls: u64::MAX,
        })
    });

    let mut out = String::new();
    let hours = trace.duration_seconds() / 3600.0;
    let _ = writeln!(out, "tune:     {} ({hours:.2} h)", trace.name);
    let _ = writeln!(
        out,
        "model:    {}",
        model_line(&model, baseline.start_dynos)
    );
    let _ = writeln!(
        out,
        "goal:     the fewest dyno-hours with at most {} % of requests slower than the SLO or \
         failed",
        args.max_violation_pct
    );
    let _ = writeln!(
        out,
        "searched: {} settings{} in {:.1} s on {threads} thread(s)\n",
        ranked.len(),
        if ranked.len() >= tune::MAX_SIMULATIONS {
            " (the most it tries)"
        } else {
            ""
        },
        started.elapsed().as_secs_f64()
    );
    let _ = writeln!(out, "with your settings:");
    let _ = writeln!(
        out,
        "{:<11} {:>7} {:>7} {:>8} {:>6}",
        "policy", "slow%", "p95ms", "dyno-h", "calls"
    );
    for name in [PolicyName::Autoscaler, PolicyName::Seed, PolicyName::Oracle] {
        let figures = Figures::of(baseline.figures(name));
        let _ = writeln!(out, "{:<11} {}", name.label(), figure_columns(&figures));
    }
    let _ = writeln!(
        out,
        "\nbest found (* your settings; a row with the same figures as one above is left out):"
    );
    let _ = writeln!(out, "{}", header());
    // Knobs that change nothing on this traffic give the same figures: one row for them.
    let mut shown: Vec<&Candidate> = Vec::new();
    for candidate in &ranked {
        if shown.len() == args.top {
            break;
        }
        if !shown.iter().any(|other| other.figures == candidate.figures) {
            shown.push(candidate);
        }
    }
    for (place, candidate) in shown.into_iter().enumerate() {
        let _ = writeln!(out, "{}", candidate_row(place + 1, candidate, &yours));
    }
    let _ = write!(
        out,
        "\n{}",
        advice(&ranked[0], &yours, args.max_violation_pct, model.slo_ms)
    );
    say(out.trim_end());
    if report_stdout_refusals() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn figure_columns(figures: &Figures) -> String {
    format!(
        "{:>7.2} {:>7.0} {:>8.2} {:>6}",
        figures.violation_pct, figures.p95_ms, figures.dyno_hours, figures.scale_calls
    )
}

/// Short column names for the knobs, in [`tune::knob_names`] order.
const KNOB_COLUMNS: [&str; 9] = [
    "interval", "fails", "passes", "max-ms", "min-ms", "incr", "prop", "backoff", "boot-s",
];

fn header() -> String {
    let knobs: Vec<String> = KNOB_COLUMNS
        .iter()
        .map(|name| format!("{name:>8}"))
        .collect();
    format!(
        "{:<3} {:>7} {:>7} {:>8} {:>6} {}",
        "#",
        "slow%",
        "p95ms",
        "dyno-h",
        "calls",
        knobs.join(" ")
    )
}

fn candidate_row(place: usize, candidate: &Candidate, yours: &Knobs) -> String {
    let mark = if candidate.knobs == *yours { "*" } else { "" };
    let knobs: Vec<String> = tune::knob_values(&candidate.knobs)
        .iter()
        .map(|value| format!("{value:>8}"))
        .collect();
    format!(
        "{:<3} {} {}",
        format!("{place}{mark}"),
        figure_columns(&candidate.figures),
        knobs.join(" ")
    )
}

/// What to do with the best: the `config:set` line, or why there is none.
fn advice(best: &Candidate, yours: &Knobs, max_violation_pct: f64, slo_ms: f64) -> String {
    let mut out = String::new();
    if best.figures.violation_pct > max_violation_pct {
        let _ = writeln!(
            out,
            "No settings tried keep slow or failed requests at or below {max_violation_pct} %; \
             the first comes closest. More dynos allowed (AUTOSCALE_MAX_DYNOS), a faster boot or \
             a larger --max-violation-pct may be what this traffic needs."
        );
    }
    let vars = best.knobs.config_vars(yours);
    if vars.is_empty() {
        let _ = writeln!(out, "Your settings are the best found: nothing to change.");
    } else {
        // The SLO stays what the search judged by, whatever max response time is applied.
        let _ = writeln!(
            out,
            "To apply the first (check it first on other traffic and seeds, with \
             `heroku-autoscale simulate --slo-ms {slo_ms}` and these variables set):\n  \
             heroku config:set --app my-autoscaler {}",
            vars.join(" ")
        );
    }
    out
}

fn percent(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(pct) if (0.0..=100.0).contains(&pct) => Ok(pct),
        _ => Err(format!(
            "\"{text}\" is not a share of requests: give a percentage from 0 to 100, like 1 or 0.5"
        )),
    }
}

fn top(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=50).contains(&n) => Ok(n),
        _ => Err(format!(
            "\"{text}\" is not how many to print: give a whole number from 1 to 50, like 5"
        )),
    }
}
