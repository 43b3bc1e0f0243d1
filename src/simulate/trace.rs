//! Traffic traces: `seconds,requests_per_second[,service_ms][,NAME_jobs_per_second...]` rows,
//! linear between rows. A `NAME_jobs_per_second` column is the rate jobs join the queue of the
//! worker process type NAME.

use std::fmt;

/// One row of a trace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TracePoint {
    /// Seconds from the start of the run; the first row is at 0, later rows strictly later.
    pub seconds: f64,
    /// The arrival rate at this instant; the rate is linear between rows.
    pub requests_per_second: f64,
    /// The mean service time from this row on; `None` keeps the one before (at first: the
    /// model's `--service-ms`).
    pub service_ms: Option<f64>,
}

/// A validated trace: at least two rows, the first at 0, times strictly increasing, rates and
/// service times finite and not negative (service times above 0).
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// Where it came from, for titles and errors: a file path or `scenario NAME`.
    pub name: String,
    points: Vec<TracePoint>,
    jobs: Vec<JobStream>,
}

/// The jobs of one worker process type: their rate at the trace's times, linear between them.
#[derive(Debug, Clone, PartialEq)]
pub struct JobStream {
    /// The process type whose queue they join.
    pub process: String,
    /// Jobs per second in `requests_per_second` (so the request stream's code draws them); no
    /// service times: a job's mean time is the model's.
    points: Vec<TracePoint>,
}

impl JobStream {
    /// The rows, jobs per second as `requests_per_second`.
    pub fn points(&self) -> &[TracePoint] {
        &self.points
    }
}

/// Why a trace was refused: where (`line` is 1-based in the file; `None` for the whole file)
/// and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceError {
    /// The file (or scenario) name.
    pub source: String,
    /// The line, when one line is at fault.
    pub line: Option<usize>,
    /// What is wrong and what would be valid.
    pub message: String,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{} line {line}: {}", self.source, self.message),
            None => write!(f, "{}: {}", self.source, self.message),
        }
    }
}

impl std::error::Error for TraceError {}

/// The longest trace accepted: 31 days. A simulation of a longer one would run for hours.
pub const MAX_DURATION_SECONDS: f64 = 2_678_400.0;

/// The highest rate accepted. Every request is an event of the simulation, so a higher rate
/// over a long trace would run for hours.
pub const MAX_REQUESTS_PER_SECOND: f64 = 100_000.0;

/// The longest mean service time, in ms: the router fails a request at 30 s, and an SLO within
/// that can be met only by service times up to about a third of it.
pub const MAX_SERVICE_MS: f64 = 10_000.0;

/// The closest two rows may be, in seconds: the rate between them must stay a number.
pub const MIN_ROW_GAP_SECONDS: f64 = 0.001;

/// The shortest mean service time, in ms (a microsecond): shorter ones round to nothing.
pub const MIN_SERVICE_MS: f64 = 0.001;

const HEADER: &str = "seconds,requests_per_second";
const HEADER_WITH_SERVICE: &str = "seconds,requests_per_second,service_ms";
const JOBS_SUFFIX: &str = "_jobs_per_second";

/// The columns a header declares.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Columns {
    service: bool,
    /// The process type of each jobs column, in order.
    jobs: Vec<String>,
}

impl Columns {
    fn count(&self) -> usize {
        2 + usize::from(self.service) + self.jobs.len()
    }

    fn header(&self) -> String {
        let mut header = String::from(if self.service {
            HEADER_WITH_SERVICE
        } else {
            HEADER
        });
        for process in &self.jobs {
            header.push_str(&format!(",{process}{JOBS_SUFFIX}"));
        }
        header
    }
}

impl Trace {
    /// A trace from rows built in code (the scenarios, tests). The same rules as a file; an
    /// error has no line and names the row by its place, counted from 1.
    pub fn from_points(
        name: impl Into<String>,
        points: Vec<TracePoint>,
    ) -> Result<Trace, TraceError> {
        let name = name.into();
        let whole = |message| TraceError {
            source: name.clone(),
            line: None,
            message,
        };
        let mut previous: Option<&TracePoint> = None;
        for (index, point) in points.iter().enumerate() {
            check_point(previous, point)
                .map_err(|message| whole(format!("row {}: {message}", index + 1)))?;
            previous = Some(point);
        }
        check_row_count(&points, "no rows").map_err(whole)?;
        Ok(Trace {
            name,
            points,
            jobs: Vec::new(),
        })
    }

    /// The trace with jobs for `process` at `rates` jobs per second, one per row. The same
    /// rules as a file's column.
    pub fn with_jobs(mut self, process: &str, rates: &[f64]) -> Result<Trace, TraceError> {
        let whole = |message| TraceError {
            source: self.name.clone(),
            line: None,
            message,
        };
        let column = format!("{process}{JOBS_SUFFIX}");
        let taken: Vec<String> = self.jobs.iter().map(|s| s.process.clone()).collect();
        jobs_column_process(&column, &taken).map_err(whole)?;
        if rates.len() != self.points.len() {
            return Err(whole(format!(
                "{column} has {} rates for {} rows: give one per row",
                rates.len(),
                self.points.len()
            )));
        }
        for (index, &rate) in rates.iter().enumerate() {
            check_finite(&column, rate)
                .and_then(|()| check_rate(&column, &rate.to_string(), rate))
                .map_err(|message| whole(format!("row {}: {message}", index + 1)))?;
        }
        let points = self
            .points
            .iter()
            .zip(rates)
            .map(|(point, &rate)| job_point(point.seconds, rate))
            .collect();
        self.jobs.push(JobStream {
            process: process.to_string(),
            points,
        });
        Ok(self)
    }

    /// Reads a `--trace` file: the header `seconds,requests_per_second` (or with
    /// `,service_ms`), then one row per line. Blank lines and `#` comments are skipped; a
    /// UTF-8 byte order mark and CRLF line ends are fine. An error names the file's line.
    pub fn parse_csv(name: &str, text: &str) -> Result<Trace, TraceError> {
        let at = |line, message| TraceError {
            source: name.to_string(),
            line,
            message,
        };
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = meaningful_lines(text);
        let (header_line, header) = lines.next().ok_or_else(|| {
            at(
                None,
                format!(
                    "the file is empty: it needs the header \"{HEADER}\" and at least two \
                     rows, the first at seconds 0"
                ),
            )
        })?;
        let columns = parse_header(header).map_err(|message| at(Some(header_line), message))?;
        let mut points: Vec<TracePoint> = Vec::new();
        let mut jobs: Vec<JobStream> = columns
            .jobs
            .iter()
            .map(|process| JobStream {
                process: process.clone(),
                points: Vec::new(),
            })
            .collect();
        for (line, row) in lines {
            let (point, rates) = parse_row(row, &columns)
                .and_then(|row| check_time(points.last(), row.0.seconds).map(|()| row))
                .map_err(|message| at(Some(line), message))?;
            for (stream, rate) in jobs.iter_mut().zip(rates) {
                stream.points.push(job_point(point.seconds, rate));
            }
            points.push(point);
        }
        check_row_count(&points, "no rows after the header")
            .map_err(|message| at(None, message))?;
        Ok(Trace {
            name: name.to_string(),
            points,
            jobs,
        })
    }

    /// [`Trace::parse_csv`] of a file, named by its path.
    pub fn read_file(path: &std::path::Path) -> Result<Trace, TraceError> {
        let name = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Trace::parse_csv(&name, &text),
            Err(error) => Err(TraceError {
                source: name,
                line: None,
                message: format!("cannot read the trace: {error}"),
            }),
        }
    }

    /// The rows, as given.
    pub fn points(&self) -> &[TracePoint] {
        &self.points
    }

    /// The same traffic without its jobs (for runs that look at the web only).
    pub fn without_jobs(&self) -> Trace {
        Trace {
            name: self.name.clone(),
            points: self.points.clone(),
            jobs: Vec::new(),
        }
    }

    /// The job streams, one per worker process type the trace gives jobs for.
    pub fn jobs(&self) -> &[JobStream] {
        &self.jobs
    }

    /// The run ends at the last row.
    pub fn duration_seconds(&self) -> f64 {
        self.points.last().map_or(0.0, |last| last.seconds)
    }

    /// The arrival rate at `seconds`, linear between rows; 0 before the start and after the end.
    pub fn rate_at(&self, seconds: f64) -> f64 {
        rate_at(&self.points, seconds)
    }

    /// The mean service time at `seconds`: that of the last row at or before it that gives
    /// one, else `default_ms` (the model's `--service-ms`).
    pub fn service_ms_at(&self, seconds: f64, default_ms: f64) -> f64 {
        let after = self
            .points
            .partition_point(|point| point.seconds <= seconds);
        self.points[..after]
            .iter()
            .rev()
            .find_map(|point| point.service_ms)
            .unwrap_or(default_ms)
    }

    /// The trace as a file [`Trace::parse_csv`] reads back to the same rows. The `service_ms`
    /// column is written only when a row gives one.
    pub fn to_csv(&self) -> String {
        let with_service = self.points.iter().any(|point| point.service_ms.is_some());
        let columns = Columns {
            service: with_service,
            jobs: self
                .jobs
                .iter()
                .map(|stream| stream.process.clone())
                .collect(),
        };
        let mut csv = columns.header();
        csv.push('\n');
        for (row, point) in self.points.iter().enumerate() {
            // f64's Display is the shortest text that parses back to the same number.
            csv.push_str(&format!("{},{}", point.seconds, point.requests_per_second));
            if with_service {
                csv.push(',');
                if let Some(service_ms) = point.service_ms {
                    csv.push_str(&service_ms.to_string());
                }
            }
            for stream in &self.jobs {
                csv.push_str(&format!(",{}", stream.points[row].requests_per_second));
            }
            csv.push('\n');
        }
        csv
    }
}

/// The rate of `points` at `seconds`, linear between rows; 0 before the start and after the end.
pub fn rate_at(points: &[TracePoint], seconds: f64) -> f64 {
    let after = points.partition_point(|point| point.seconds <= seconds);
    if after == 0 {
        return 0.0;
    }
    let before = &points[after - 1];
    match points.get(after) {
        Some(next) => {
            let fraction = (seconds - before.seconds) / (next.seconds - before.seconds);
            before.requests_per_second
                + fraction * (next.requests_per_second - before.requests_per_second)
        }
        None if seconds == before.seconds => before.requests_per_second,
        None => 0.0,
    }
}

/// The lines that carry something, with their 1-based numbers in the file: blank lines and
/// `#` comments are skipped, but still counted, so errors point at the right line.
fn meaningful_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line))
        .filter(|(_, line)| {
            let line = line.trim();
            !line.is_empty() && !line.starts_with('#')
        })
}

/// The columns the header declares: `seconds,requests_per_second`, then `service_ms` if
/// given, then a `NAME_jobs_per_second` column per worker process type.
fn parse_header(line: &str) -> Result<Columns, String> {
    let fields: Vec<&str> = line.split(',').map(str::trim).collect();
    let refused = || {
        // A file that starts straight with numbers has lost its header: say so.
        let hint = if fields[0].parse::<f64>().is_ok() {
            ": the first line that is not blank or a comment is the header"
        } else {
            ""
        };
        format!(
            "the header must be \"{HEADER}\" or \"{HEADER_WITH_SERVICE}\", either followed by \
             a NAME{JOBS_SUFFIX} column for each worker process type with jobs, not \"{}\"{hint}",
            line.trim()
        )
    };
    let ["seconds", "requests_per_second", rest @ ..] = fields.as_slice() else {
        return Err(refused());
    };
    let service = rest.first() == Some(&"service_ms");
    let mut jobs: Vec<String> = Vec::new();
    for &column in &rest[usize::from(service)..] {
        if !column.ends_with(JOBS_SUFFIX) {
            return Err(refused());
        }
        let process = jobs_column_process(column, &jobs)?;
        jobs.push(process.to_string());
    }
    Ok(Columns { service, jobs })
}

/// The worker process type a jobs column names (not web, whose traffic is the requests), if
/// none of the columns before (`taken`) named it.
fn jobs_column_process<'c>(column: &'c str, taken: &[String]) -> Result<&'c str, String> {
    let process = column.strip_suffix(JOBS_SUFFIX).unwrap_or(column);
    if !crate::settings::processes::is_process_name(process) || process == "web" {
        return Err(format!(
            "column \"{column}\": \"{process}\" is not a worker process type's name: a jobs \
             column is NAME{JOBS_SUFFIX}, NAME as in the Procfile (a letter, then letters, \
             digits, _ or -; not web), like worker{JOBS_SUFFIX}"
        ));
    }
    if taken.iter().any(|name| name == process) {
        return Err(format!(
            "column \"{column}\" is given twice: one column per process type"
        ));
    }
    Ok(process)
}

/// One data row and its job rates, its numbers checked on their own (the order of times is
/// checked by the caller, which knows the row before). Messages quote the text as written.
fn parse_row(line: &str, columns: &Columns) -> Result<(TracePoint, Vec<f64>), String> {
    let fields: Vec<&str> = line.split(',').map(str::trim).collect();
    if fields.len() != columns.count() {
        return Err(wrong_field_count(fields.len(), columns));
    }
    let seconds = parse_number("seconds", fields[0])?;
    let requests_per_second = parse_number("requests_per_second", fields[1])?;
    check_rate("requests_per_second", fields[1], requests_per_second)?;
    let service_ms = match (columns.service, fields.get(2).copied()) {
        // An empty service field keeps the service time of the rows before.
        (false, _) | (true, None | Some("")) => None,
        (true, Some(text)) => {
            let service_ms = parse_number("service_ms", text)?;
            check_service_ms(text, service_ms)?;
            Some(service_ms)
        }
    };
    let first_job = 2 + usize::from(columns.service);
    let rates = columns
        .jobs
        .iter()
        .zip(&fields[first_job..])
        .map(|(process, text)| {
            let column = format!("{process}{JOBS_SUFFIX}");
            let rate = parse_number(&column, text)?;
            check_rate(&column, text, rate).map(|()| rate)
        })
        .collect::<Result<_, String>>()?;
    let point = TracePoint {
        seconds,
        requests_per_second,
        service_ms,
    };
    Ok((point, rates))
}

fn job_point(seconds: f64, jobs_per_second: f64) -> TracePoint {
    TracePoint {
        seconds,
        requests_per_second: jobs_per_second,
        service_ms: None,
    }
}

fn wrong_field_count(found: usize, columns: &Columns) -> String {
    let plural = if found == 1 { "" } else { "s" };
    let keep = if columns.service {
        " (leave service_ms empty to keep the previous one)"
    } else {
        ""
    };
    format!(
        "{found} field{plural} where the header has {}: a row is \"{}\", as the header \
         says{keep}",
        columns.count(),
        columns.header()
    )
}

/// A finite number: Rust reads `NaN` and `inf`, but neither means anything in a trace.
fn parse_number(column: &str, text: &str) -> Result<f64, String> {
    if text.is_empty() {
        return Err(format!("{column} is empty: every row needs a number there"));
    }
    match text.parse::<f64>() {
        Ok(number) if number.is_finite() => Ok(number),
        Ok(_) => Err(format!("{column} \"{text}\" is not a finite number")),
        Err(_) => Err(format!("{column} \"{text}\" is not a number")),
    }
}

/// Every rule for one row built in code: the same as a file's, with the numbers shown as
/// Rust prints them.
fn check_point(previous: Option<&TracePoint>, point: &TracePoint) -> Result<(), String> {
    check_finite("seconds", point.seconds)?;
    check_finite("requests_per_second", point.requests_per_second)?;
    check_rate(
        "requests_per_second",
        &point.requests_per_second.to_string(),
        point.requests_per_second,
    )?;
    if let Some(service_ms) = point.service_ms {
        check_finite("service_ms", service_ms)?;
        check_service_ms(&service_ms.to_string(), service_ms)?;
    }
    check_time(previous, point.seconds)
}

fn check_finite(column: &str, number: f64) -> Result<(), String> {
    if number.is_finite() {
        Ok(())
    } else {
        Err(format!("{column} {number} is not a finite number"))
    }
}

/// A rate of requests or of jobs, in `column`.
fn check_rate(column: &str, text: &str, rate: f64) -> Result<(), String> {
    let (what, each) = if column.ends_with(JOBS_SUFFIX) {
        ("jobs", "job")
    } else {
        ("requests", "request")
    };
    if rate < 0.0 {
        return Err(format!(
            "{column} \"{text}\" is negative: rates are {what} per second, 0 or more"
        ));
    }
    if rate > MAX_REQUESTS_PER_SECOND {
        return Err(format!(
            "{column} \"{text}\" is above {MAX_REQUESTS_PER_SECOND}: every {each} is \
             simulated, so a simulation of it would run for hours"
        ));
    }
    Ok(())
}

fn check_service_ms(text: &str, service_ms: f64) -> Result<(), String> {
    if service_ms < MIN_SERVICE_MS {
        Err(format!(
            "service_ms \"{text}\" is below {MIN_SERVICE_MS}: a mean service time is a positive \
             number of milliseconds (leave the field empty to keep the previous one)"
        ))
    } else if service_ms > MAX_SERVICE_MS {
        Err(format!(
            "service_ms \"{text}\" is above {MAX_SERVICE_MS}: a mean service time is at most 10 \
             seconds, in milliseconds (the router fails a request at 30 s)"
        ))
    } else {
        Ok(())
    }
}

/// The first row is at 0, each later one strictly after the one before, none past the cap.
fn check_time(previous: Option<&TracePoint>, seconds: f64) -> Result<(), String> {
    match previous {
        None if seconds != 0.0 => {
            return Err(format!(
                "seconds {seconds} on the first row: a trace starts at seconds 0"
            ))
        }
        Some(previous) if seconds <= previous.seconds => {
            return Err(format!(
                "seconds {seconds} is not after the previous row's {}: times must strictly \
                 increase",
                previous.seconds
            ))
        }
        Some(previous) if seconds - previous.seconds < MIN_ROW_GAP_SECONDS => {
            return Err(format!(
                "seconds {seconds} is less than {MIN_ROW_GAP_SECONDS} s after the previous row's \
                 {}: rows must be at least a millisecond apart",
                previous.seconds
            ))
        }
        _ => {}
    }
    if seconds > MAX_DURATION_SECONDS {
        return Err(format!(
            "seconds {seconds} is past 31 days ({MAX_DURATION_SECONDS}): a simulation of a \
             longer trace would run for hours"
        ));
    }
    Ok(())
}

/// At least two rows: the run ends at the last one, so one row is a run of no length.
/// `none` says what zero rows is called where the rows came from.
fn check_row_count(points: &[TracePoint], none: &str) -> Result<(), String> {
    const NEEDED: &str = "a trace needs at least two rows, the first at seconds 0";
    match points {
        [] => Err(format!("{none}: {NEEDED}")),
        [_] => Err(format!(
            "only one row: {NEEDED} (the run ends at the last row)"
        )),
        // Rates per hour and the chart's time axis need a run of some length.
        [.., last] if last.seconds < 1.0 => Err(format!(
            "the last row is at seconds {}: a trace must last at least 1 second",
            last.seconds
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(seconds: f64, requests_per_second: f64, service_ms: Option<f64>) -> TracePoint {
        TracePoint {
            seconds,
            requests_per_second,
            service_ms,
        }
    }

    /// The error a file gives, as the user reads it.
    fn refusal(text: &str) -> String {
        Trace::parse_csv("trace.csv", text)
            .expect_err("the trace is refused")
            .to_string()
    }

    #[test]
    fn a_plain_file_is_read_row_by_row() {
        let trace =
            Trace::parse_csv("trace.csv", "seconds,requests_per_second\n0,10\n60,20\n").unwrap();
        assert_eq!(trace.name, "trace.csv");
        assert_eq!(
            trace.points(),
            [point(0.0, 10.0, None), point(60.0, 20.0, None)]
        );
        assert_eq!(trace.duration_seconds(), 60.0);
    }

    #[test]
    fn bom_crlf_spaces_blank_lines_and_comments_are_fine() {
        let text = "\u{feff}# made by hand\r\n seconds , requests_per_second , service_ms \r\n\
                    \r\n0, 10 ,100\r\n  # the peak\r\n60 ,20,\r\n";
        let trace = Trace::parse_csv("trace.csv", text).unwrap();
        assert_eq!(
            trace.points(),
            [point(0.0, 10.0, Some(100.0)), point(60.0, 20.0, None)]
        );
    }

    #[test]
    fn an_empty_file_is_refused_as_a_whole() {
        assert_eq!(
            refusal("\n# nothing yet\n\n"),
            "trace.csv: the file is empty: it needs the header \
             \"seconds,requests_per_second\" and at least two rows, the first at seconds 0"
        );
    }

    #[test]
    fn a_wrong_header_is_refused_at_its_line() {
        assert_eq!(
            refusal("# comment\n\ntime,rps\n0,1\n"),
            "trace.csv line 3: the header must be \"seconds,requests_per_second\" or \
             \"seconds,requests_per_second,service_ms\", either followed by a \
             NAME_jobs_per_second column for each worker process type with jobs, not \"time,rps\""
        );
    }

    #[test]
    fn a_missing_header_says_the_first_line_is_the_header() {
        let message = refusal("0,10\n60,20\n");
        assert!(
            message.starts_with("trace.csv line 1: the header must be"),
            "{message}"
        );
        assert!(
            message.ends_with(
                "not \"0,10\": the first line that is not blank or a comment is the header"
            ),
            "{message}"
        );
    }

    #[test]
    fn a_header_alone_has_no_rows() {
        assert_eq!(
            refusal("seconds,requests_per_second\n"),
            "trace.csv: no rows after the header: a trace needs at least two rows, the first \
             at seconds 0"
        );
    }

    #[test]
    fn rows_closer_than_a_millisecond_are_refused() {
        assert_eq!(
            refusal("seconds,requests_per_second\n0,0\n0.0001,1000\n10,1000\n"),
            "trace.csv line 3: seconds 0.0001 is less than 0.001 s after the previous row's 0: \
             rows must be at least a millisecond apart"
        );
    }

    #[test]
    fn a_trace_shorter_than_a_second_is_refused() {
        assert_eq!(
            refusal("seconds,requests_per_second\n0,1\n0.5,1\n"),
            "trace.csv: the last row is at seconds 0.5: a trace must last at least 1 second"
        );
    }

    #[test]
    fn one_row_is_a_run_of_no_length() {
        assert_eq!(
            refusal("seconds,requests_per_second\n0,10\n"),
            "trace.csv: only one row: a trace needs at least two rows, the first at seconds 0 \
             (the run ends at the last row)"
        );
    }

    #[test]
    fn a_non_number_is_refused_at_its_line() {
        assert_eq!(
            refusal("seconds,requests_per_second\n0,10\n\nabc,10\n"),
            "trace.csv line 4: seconds \"abc\" is not a number"
        );
        assert_eq!(
            refusal("seconds,requests_per_second\n0,ten\n"),
            "trace.csv line 2: requests_per_second \"ten\" is not a number"
        );
        assert_eq!(
            refusal("seconds,requests_per_second\n0,\n"),
            "trace.csv line 2: requests_per_second is empty: every row needs a number there"
        );
    }

    #[test]
    fn nan_and_infinity_are_refused() {
        assert_eq!(
            refusal("seconds,requests_per_second\n0,NaN\n"),
            "trace.csv line 2: requests_per_second \"NaN\" is not a finite number"
        );
        assert_eq!(
            refusal("seconds,requests_per_second\n0,1\ninf,1\n"),
            "trace.csv line 3: seconds \"inf\" is not a finite number"
        );
    }

    #[test]
    fn a_negative_rate_is_refused() {
        assert_eq!(
            refusal("seconds,requests_per_second\n0,1\n60,2\n120,-3\n"),
            "trace.csv line 4: requests_per_second \"-3\" is negative: rates are requests per \
             second, 0 or more"
        );
    }

    #[test]
    fn a_rate_above_the_cap_is_refused() {
        let message = refusal("seconds,requests_per_second\n0,1\n60,200000\n");
        assert!(
            message.starts_with("trace.csv line 3: requests_per_second \"200000\" is above 100000"),
            "{message}"
        );
        assert!(
            Trace::parse_csv("t", "seconds,requests_per_second\n0,100000\n1,0\n").is_ok(),
            "the cap itself is allowed"
        );
    }

    #[test]
    fn times_must_start_at_zero_and_strictly_increase() {
        assert_eq!(
            refusal("seconds,requests_per_second\n5,1\n60,1\n"),
            "trace.csv line 2: seconds 5 on the first row: a trace starts at seconds 0"
        );
        assert_eq!(
            refusal("seconds,requests_per_second\n0,1\n60,1\n# same\n120,1\n120,2\n"),
            "trace.csv line 6: seconds 120 is not after the previous row's 120: times must \
             strictly increase"
        );
    }

    #[test]
    fn a_trace_longer_than_31_days_is_refused() {
        assert_eq!(
            refusal("seconds,requests_per_second\n0,1\n2678401,1\n"),
            "trace.csv line 3: seconds 2678401 is past 31 days (2678400): a simulation of a \
             longer trace would run for hours"
        );
        assert!(Trace::parse_csv("t", "seconds,requests_per_second\n0,1\n2678400,1\n").is_ok());
    }

    #[test]
    fn a_service_time_must_be_above_zero() {
        assert_eq!(
            refusal("seconds,requests_per_second,service_ms\n0,1,100\n60,1,0\n"),
            "trace.csv line 3: service_ms \"0\" is below 0.001: a mean service time is a \
             positive number of milliseconds (leave the field empty to keep the previous one)"
        );
        assert_eq!(
            refusal("seconds,requests_per_second,service_ms\n0,1,100\n60,1,9000000\n"),
            "trace.csv line 3: service_ms \"9000000\" is above 10000: a mean service time is at \
             most 10 seconds, in milliseconds (the router fails a request at 30 s)"
        );
    }

    #[test]
    fn a_row_with_the_wrong_number_of_fields_is_refused() {
        assert_eq!(
            refusal("seconds,requests_per_second\n0,1\n60,1,100\n"),
            "trace.csv line 3: 3 fields where the header has 2: a row is \
             \"seconds,requests_per_second\", as the header says"
        );
        assert_eq!(
            refusal("seconds,requests_per_second,service_ms\n0,1,100\n60\n"),
            "trace.csv line 3: 1 field where the header has 3: a row is \
             \"seconds,requests_per_second,service_ms\", as the header says (leave service_ms \
             empty to keep the previous one)"
        );
    }

    #[test]
    fn from_points_names_the_row_without_a_line() {
        let error = Trace::from_points(
            "scenario broken",
            vec![point(0.0, 1.0, None), point(60.0, -3.0, None)],
        )
        .unwrap_err();
        assert_eq!(error.line, None);
        assert_eq!(
            error.to_string(),
            "scenario broken: row 2: requests_per_second \"-3\" is negative: rates are \
             requests per second, 0 or more"
        );
        let error =
            Trace::from_points("t", vec![point(0.0, 1.0, None), point(f64::NAN, 1.0, None)])
                .unwrap_err();
        assert_eq!(error.message, "row 2: seconds NaN is not a finite number");
        let error = Trace::from_points("t", vec![]).unwrap_err();
        assert_eq!(
            error.message,
            "no rows: a trace needs at least two rows, the first at seconds 0"
        );
        let error = Trace::from_points(
            "t",
            vec![point(0.0, 1.0, Some(-1.0)), point(1.0, 1.0, None)],
        )
        .unwrap_err();
        assert!(error
            .message
            .starts_with("row 1: service_ms \"-1\" is below 0.001"));
    }

    #[test]
    fn an_unreadable_file_names_the_os_error() {
        let path = std::path::Path::new("/nonexistent/trace.csv");
        let error = Trace::read_file(path).unwrap_err();
        assert_eq!(error.source, "/nonexistent/trace.csv");
        assert_eq!(error.line, None);
        assert!(
            error.message.starts_with("cannot read the trace: "),
            "{error}"
        );
    }

    #[test]
    fn read_file_parses_the_file_and_names_it_by_path() {
        let path = std::env::temp_dir().join(format!("trace-{}.csv", std::process::id()));
        std::fs::write(&path, "seconds,requests_per_second\n0,1\n10,bad\n").unwrap();
        let error = Trace::read_file(&path).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(error.source, path.display().to_string());
        assert_eq!(error.line, Some(3));
    }

    #[test]
    fn the_rate_is_linear_between_rows_and_zero_outside() {
        let trace = Trace::from_points(
            "t",
            vec![
                point(0.0, 10.0, None),
                point(100.0, 30.0, None),
                point(200.0, 30.0, None),
            ],
        )
        .unwrap();
        assert_eq!(trace.rate_at(0.0), 10.0);
        assert_eq!(trace.rate_at(25.0), 15.0);
        assert_eq!(trace.rate_at(100.0), 30.0);
        assert_eq!(trace.rate_at(150.0), 30.0);
        assert_eq!(
            trace.rate_at(200.0),
            30.0,
            "the last row itself is in the run"
        );
        assert_eq!(trace.rate_at(200.5), 0.0);
        assert_eq!(trace.rate_at(-1.0), 0.0);
    }

    #[test]
    fn a_service_time_holds_until_a_row_gives_another() {
        let trace = Trace::from_points(
            "t",
            vec![
                point(0.0, 1.0, None),
                point(10.0, 1.0, Some(200.0)),
                point(20.0, 1.0, None),
                point(30.0, 1.0, Some(50.0)),
                point(40.0, 1.0, None),
            ],
        )
        .unwrap();
        assert_eq!(
            trace.service_ms_at(5.0, 100.0),
            100.0,
            "the default before any"
        );
        assert_eq!(
            trace.service_ms_at(10.0, 100.0),
            200.0,
            "from its own row on"
        );
        assert_eq!(trace.service_ms_at(25.0, 100.0), 200.0);
        assert_eq!(
            trace.service_ms_at(29.9, 100.0),
            200.0,
            "a step, not linear"
        );
        assert_eq!(trace.service_ms_at(35.0, 100.0), 50.0);
        assert_eq!(trace.service_ms_at(40.0, 100.0), 50.0);
    }

    #[test]
    fn to_csv_round_trips_through_parse_csv() {
        let with_service = Trace::from_points(
            "t",
            vec![
                point(0.0, 0.1, Some(100.0)),
                point(0.5, 1.0 / 3.0, None),
                point(86_400.0, 12_345.678, Some(250.5)),
            ],
        )
        .unwrap();
        let without_service =
            Trace::from_points("t", vec![point(0.0, 5.0, None), point(60.0, 0.0, None)]).unwrap();
        for trace in [with_service, without_service] {
            let csv = trace.to_csv();
            assert_eq!(Trace::parse_csv("t", &csv).unwrap(), trace, "{csv}");
        }
    }

    #[test]
    fn jobs_columns_give_each_worker_process_type_its_rate() {
        let text = "seconds,requests_per_second,service_ms,worker_jobs_per_second,\
                    urgent-mail_jobs_per_second\n0,10,,0.5,0\n60,20,150,2,1\n";
        let trace = Trace::parse_csv("trace.csv", text).unwrap();
        assert_eq!(
            trace.points(),
            [point(0.0, 10.0, None), point(60.0, 20.0, Some(150.0))]
        );
        let streams: Vec<(&str, Vec<TracePoint>)> = trace
            .jobs()
            .iter()
            .map(|stream| (stream.process.as_str(), stream.points().to_vec()))
            .collect();
        assert_eq!(
            streams,
            [
                (
                    "worker",
                    vec![point(0.0, 0.5, None), point(60.0, 2.0, None)]
                ),
                (
                    "urgent-mail",
                    vec![point(0.0, 0.0, None), point(60.0, 1.0, None)]
                ),
            ]
        );
        assert_eq!(rate_at(trace.jobs()[0].points(), 30.0), 1.25);
        // Without service times too; and the file written reads back the same.
        let text = "seconds,requests_per_second,worker_jobs_per_second\n0,10,3\n60,20,0\n";
        let trace = Trace::parse_csv("trace.csv", text).unwrap();
        assert_eq!(trace.to_csv(), text);
        assert_eq!(trace.jobs()[0].points()[0], point(0.0, 3.0, None));
    }

    #[test]
    fn bad_jobs_columns_and_rates_are_refused() {
        assert_eq!(
            refusal("seconds,requests_per_second,web_jobs_per_second\n0,1,1\n60,1,1\n"),
            "trace.csv line 1: column \"web_jobs_per_second\": \"web\" is not a worker process \
             type's name: a jobs column is NAME_jobs_per_second, NAME as in the Procfile (a \
             letter, then letters, digits, _ or -; not web), like worker_jobs_per_second"
        );
        assert!(
            refusal("seconds,requests_per_second,1x_jobs_per_second\n0,1,1\n60,1,1\n")
                .contains("\"1x\" is not a worker process type's name")
        );
        assert_eq!(
            refusal(
                "seconds,requests_per_second,worker_jobs_per_second,worker_jobs_per_second\n\
                 0,1,1,1\n"
            ),
            "trace.csv line 1: column \"worker_jobs_per_second\" is given twice: one column \
             per process type"
        );
        // A column after the jobs that is not one, or service_ms out of place.
        for header in [
            "seconds,requests_per_second,worker_jobs_per_second,service_ms",
            "seconds,requests_per_second,jobs",
        ] {
            assert!(
                refusal(&format!("{header}\n0,1,1,1\n")).contains("the header must be"),
                "{header}"
            );
        }
        assert_eq!(
            refusal("seconds,requests_per_second,worker_jobs_per_second\n0,1,-2\n60,1,1\n"),
            "trace.csv line 2: worker_jobs_per_second \"-2\" is negative: rates are jobs per \
             second, 0 or more"
        );
        assert_eq!(
            refusal("seconds,requests_per_second,worker_jobs_per_second\n0,1,\n60,1,1\n"),
            "trace.csv line 2: worker_jobs_per_second is empty: every row needs a number there"
        );
        assert_eq!(
            refusal("seconds,requests_per_second,worker_jobs_per_second\n0,1\n"),
            "trace.csv line 2: 2 fields where the header has 3: a row is \
             \"seconds,requests_per_second,worker_jobs_per_second\", as the header says"
        );
    }

    #[test]
    fn with_jobs_checks_the_rates_as_a_file_would() {
        let trace = || Trace::from_points("t", vec![point(0.0, 5.0, None), point(60.0, 0.0, None)]);
        let error = trace().unwrap().with_jobs("worker", &[1.0]).unwrap_err();
        assert_eq!(
            error.message,
            "worker_jobs_per_second has 1 rates for 2 rows: give one per row"
        );
        let error = trace()
            .unwrap()
            .with_jobs("worker", &[1.0, f64::NAN])
            .unwrap_err();
        assert_eq!(
            error.message,
            "row 2: worker_jobs_per_second NaN is not a finite number"
        );
        let error = trace()
            .and_then(|t| t.with_jobs("worker", &[1.0, 1.0]))
            .and_then(|t| t.with_jobs("worker", &[1.0, 1.0]))
            .unwrap_err();
        assert!(error.message.contains("given twice"), "{error}");
        let trace = trace()
            .and_then(|t| t.with_jobs("worker", &[1.0, 2.0]))
            .unwrap();
        assert_eq!(Trace::parse_csv("t", &trace.to_csv()).unwrap(), trace);
    }

    #[test]
    fn to_csv_writes_service_ms_only_when_a_row_gives_one() {
        let trace =
            Trace::from_points("t", vec![point(0.0, 5.0, None), point(60.0, 0.0, None)]).unwrap();
        assert_eq!(trace.to_csv(), "seconds,requests_per_second\n0,5\n60,0\n");
        let trace = Trace::from_points(
            "t",
            vec![point(0.0, 5.0, None), point(60.0, 0.0, Some(100.0))],
        )
        .unwrap();
        assert_eq!(
            trace.to_csv(),
            "seconds,requests_per_second,service_ms\n0,5,\n60,0,100\n"
        );
    }
}
