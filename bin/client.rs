//! The client: N requests, one OS thread each, behind a concurrency limit, a
//! rate limit and a retry policy, with a timeline on stderr and a report on
//! stdout; or, with `compare`, several strategies side by side.

#[path = "common.rs"]
mod common;
#[path = "progress.rs"]
mod progress;

use clap::{Args, Parser, Subcommand, ValueEnum};
use common::{exit_with, init_logging, parse_or_exit, parsed, positive_count, whole_number, USAGE};
use concurrent_http_client::{
    builtin_strategies, compare, is_idempotent, load_strategies, parse_duration, parse_method, run,
    select_strategies, write_events, write_timeline, Backoff, BudgetConfig, Cancel, CompareConfig,
    CompareTable, Compared, HttpConfig, HttpTarget, Jitter, Limits, Observer, RateTicker,
    RetryConfig, RetryOn, RetryPolicy, RunConfig, RunRecord, Summary, TimelineOptions,
};
use log::{debug, warn};
use std::io::Write;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Exit status after Ctrl-C, as shells report a SIGINT.
const INTERRUPTED: i32 = 130;

/// Sends N requests, one OS thread each, within the limits you set, and
/// prints what happened.
///
/// Every request's timeline goes to stderr (RUST_LOG=debug for more, warn or
/// --quiet for less); the report goes to stdout. `client compare` runs
/// several strategies one after another and prints one table. Exit status:
/// 0 when every request got a 2xx, 1 when any failed, 2 on bad usage, 130
/// after Ctrl-C (which stops new attempts, cuts backoff short and still
/// prints the report).
#[derive(Debug, Parser)]
// A flag given twice takes its last value, so `make client ARGS=--url=...` works.
#[command(
    name = "client",
    version,
    args_override_self = true,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run named strategies one after another against the same target and
    /// print one table: strategy, succeeded/N, attempts, rejected attempts,
    /// elapsed, ideal, ratio, and p50/p99 latency from the intended start.
    /// Exits 0 when every strategy ran, whatever they lost.
    Compare(CompareArgs),
}

#[derive(Debug, Args)]
struct LoadArgs {
    /// How many requests to send (per strategy, with compare).
    #[arg(
        short = 'n',
        long,
        default_value = "10",
        value_parser = positive_count,
        allow_negative_numbers = true,
        value_name = "N"
    )]
    num_requests: NonZeroUsize,

    /// Seed for the backoff jitter, to replay a run [default: random].
    #[arg(long, allow_negative_numbers = true, value_name = "SEED")]
    seed: Option<u64>,

    /// No per-request timeline on stderr (a progress bar instead, when
    /// stderr is a terminal).
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct TargetArgs {
    /// The URL to request.
    #[arg(long, default_value = "http://127.0.0.1:8081/", value_name = "URL")]
    url: String,

    /// The longest one attempt may take, from connecting to the last body byte.
    #[arg(long, default_value = "10s", value_parser = parse_duration, allow_hyphen_values = true, value_name = "DURATION")]
    timeout: Duration,

    /// The longest connecting may take (within --timeout).
    #[arg(long, default_value = "5s", value_parser = parse_duration, allow_hyphen_values = true, value_name = "DURATION")]
    connect_timeout: Duration,

    /// Reuse connections between requests. Off by default, so every attempt
    /// opens a connection and a connection-rate limit counts each one.
    #[arg(long)]
    keep_alive: bool,

    /// The HTTP method. Only idempotent ones (GET, HEAD, PUT, DELETE,
    /// OPTIONS, TRACE) are retried, unless --retry-non-idempotent.
    #[arg(long, default_value = "GET", value_parser = |m: &str| parse_method(m).map_err(|e| e.to_string()), value_name = "METHOD")]
    method: ureq::http::Method,

    /// A body to send with every request.
    #[arg(long, value_name = "TEXT")]
    body: Option<String>,
}

#[derive(Debug, Args)]
struct ExpectArgs {
    /// The target's rate limit, requests a second, for the ideal run time
    /// and the elapsed/ideal ratio in the report.
    #[arg(long, value_parser = parse_rate, allow_negative_numbers = true, value_name = "RATE")]
    expect_rate: Option<f64>,

    /// The target's capacity, requests at once, for the ideal.
    #[arg(long, value_parser = positive_count, allow_negative_numbers = true, value_name = "C")]
    expect_concurrency: Option<NonZeroUsize>,

    /// How long one request takes at the server, for the ideal.
    #[arg(long, value_parser = parse_duration, allow_hyphen_values = true, value_name = "DURATION")]
    expect_duration: Option<Duration>,
}

impl ExpectArgs {
    /// The limits, when any was given.
    fn limits(&self) -> Option<Limits> {
        (self.expect_rate.is_some()
            || self.expect_concurrency.is_some()
            || self.expect_duration.is_some())
        .then(|| Limits {
            rate: self.expect_rate,
            concurrency: self.expect_concurrency,
            duration: self.expect_duration.unwrap_or_default(),
        })
    }
}

#[derive(Debug, Args)]
struct PolicyArgs {
    /// At most this many requests in flight at once, retries included
    /// [default: unlimited].
    #[arg(long, value_parser = positive_count, allow_negative_numbers = true, value_name = "C")]
    max_concurrency: Option<NonZeroUsize>,

    /// At most this many attempts started per second, evenly spaced 1/RATE
    /// apart; retries wait for a slot too. Decimals allowed (2.9)
    /// [default: unlimited].
    #[arg(long, value_parser = parse_rate, allow_negative_numbers = true, value_name = "RATE")]
    rate: Option<f64>,

    /// Retry failed attempts (those --retry-on names), sleeping a growing,
    /// jittered backoff in between.
    #[arg(long)]
    retry: bool,

    /// With --retry, at most this many retries per request (so K+1 attempts).
    #[arg(long, requires = "retry", default_value = "3", value_parser = whole_number, allow_negative_numbers = true, value_name = "K")]
    max_retries: u32,

    /// With --retry, which outcomes to retry: classes (refused, reset,
    /// timeout, timeout_connect, timeout_response, dns, other), statuses
    /// (503) and families (5xx), comma-separated.
    #[arg(long, requires = "retry", default_value = "refused,reset,timeout,429,502,503,504", value_parser = parsed::<RetryOn>, value_name = "LIST")]
    retry_on: RetryOn,

    /// With --retry, how the backoff grows: constant, linear or exponential.
    #[arg(long, requires = "retry", default_value = "linear", value_parser = parsed::<Backoff>, value_name = "KIND")]
    backoff: Backoff,

    /// With --backoff exponential, the growth per retry.
    #[arg(long, requires = "retry", default_value = "2", value_parser = parse_factor, allow_negative_numbers = true, value_name = "F")]
    backoff_factor: f64,

    /// With --retry, how much of each backoff is random: none, full, equal
    /// or decorrelated (as in "Exponential Backoff And Jitter").
    #[arg(long, requires = "retry", default_value = "equal", value_parser = parsed::<Jitter>, value_name = "KIND")]
    jitter: Jitter,

    /// With --retry, the base backoff: the first wait, and the step or
    /// starting point it grows from.
    #[arg(long, requires = "retry", default_value = "1s", value_parser = parse_duration, allow_hyphen_values = true, value_name = "DURATION")]
    retry_wait_min: Duration,

    /// With --retry, the longest backoff.
    #[arg(long, requires = "retry", default_value = "3s", value_parser = parse_duration, allow_hyphen_values = true, value_name = "DURATION")]
    retry_wait_max: Duration,

    /// With --retry, the longest one request may take, attempts and backoff
    /// together: no retry starts that would end past it [default: none].
    #[arg(long, requires = "retry", value_parser = parse_positive_duration, allow_hyphen_values = true, value_name = "DURATION")]
    max_elapsed: Option<Duration>,

    /// With --retry, the longest Retry-After wait to honour; a server asking
    /// for more fails the request at once.
    #[arg(long, requires = "retry", default_value = "30s", value_parser = parse_duration, allow_hyphen_values = true, value_name = "DURATION")]
    max_retry_after: Duration,

    /// With --retry, a run-wide retry budget: over any 10 s, retries at most
    /// this share of first attempts (20% or 0.2) plus --retry-budget-floor a
    /// second [default: no budget].
    #[arg(long, requires = "retry", value_parser = parse_share, allow_negative_numbers = true, value_name = "SHARE")]
    retry_budget: Option<f64>,

    /// With --retry-budget, retries allowed per second whatever the traffic.
    #[arg(long, requires = "retry", default_value = "1", value_parser = parse_floor, allow_negative_numbers = true, value_name = "PER_SECOND")]
    retry_budget_floor: f64,

    /// Retry POST and PATCH too, accepting that the server may act twice.
    #[arg(long, requires = "retry")]
    retry_non_idempotent: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ReportFormat {
    /// Lines for people.
    Text,
    /// One JSON document (see docs/report.schema.json).
    Json,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    load: LoadArgs,
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    expect: ExpectArgs,

    /// The report on stdout: text for people, json for scripts.
    #[arg(long, default_value = "text", value_name = "FORMAT")]
    report: ReportFormat,

    /// Write every attempt to FILE: JSON lines, or CSV if FILE ends in .csv.
    #[arg(long, value_name = "FILE")]
    events: Option<PathBuf>,

    /// Draw the run as an SVG picture: a row per request, a bar per attempt.
    #[arg(long, value_name = "FILE.svg")]
    timeline: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct CompareArgs {
    #[command(flatten)]
    load: LoadArgs,
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    expect: ExpectArgs,

    /// A TOML file of `[[strategy]]` tables to compare instead of the six
    /// built in (unlimited, concurrency-limited, rate-limited,
    /// retry-no-jitter, retry-full-jitter, rate-limited-retry).
    #[arg(long, value_name = "FILE")]
    strategies: Option<PathBuf>,

    /// Only these strategies, in this order (comma-separated names).
    #[arg(long, value_name = "NAMES")]
    only: Option<String>,

    /// Write one timeline per strategy into DIR, as NAME.svg.
    #[arg(long, value_name = "DIR")]
    timeline_dir: Option<PathBuf>,

    /// The wait between strategies, so the target's rate window forgets the
    /// previous run.
    #[arg(long, default_value = "2s", value_parser = parse_duration, allow_hyphen_values = true, value_name = "DURATION")]
    pause: Duration,

    /// The table on stdout as text, or every run's report as a JSON array.
    #[arg(long, default_value = "text", value_name = "FORMAT")]
    report: ReportFormat,
}

fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a number"))?;
    RateTicker::period_of(rate).map_err(|err| err.to_string())?;
    Ok(rate)
}

fn parse_factor(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(factor) if factor.is_finite() && factor >= 1.0 => Ok(factor),
        _ => Err(format!("'{text}' is not a number of at least 1")),
    }
}

fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    match parse_duration(text) {
        Ok(duration) if duration.is_zero() => Err("must be above zero".into()),
        Ok(duration) => Ok(duration),
        Err(err) => Err(err.to_string()),
    }
}

/// `20%` or `0.2`.
fn parse_share(text: &str) -> Result<f64, String> {
    let trimmed = text.trim();
    let share = match trimmed.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().map(|p| p / 100.0),
        None => trimmed.parse::<f64>(),
    };
    match share {
        Ok(share) if (0.0..=1.0).contains(&share) => Ok(share),
        _ => Err(format!(
            "'{text}' is not a share from 0% to 100% (such as 20% or 0.2)"
        )),
    }
}

fn parse_floor(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(floor) if floor.is_finite() && floor >= 0.0 => Ok(floor),
        _ => Err(format!("'{text}' is not a number of 0 or more")),
    }
}

fn retry_config(policy: &PolicyArgs, method: &ureq::http::Method) -> Option<RetryConfig> {
    if !policy.retry {
        return None;
    }
    if !is_idempotent(method) && !policy.retry_non_idempotent {
        warn!(
            "{method} is not idempotent, so failed attempts are not retried (add --retry-non-idempotent to retry anyway)"
        );
        return None;
    }
    let backoff = match policy.backoff {
        Backoff::Exponential { .. } => Backoff::Exponential {
            factor: policy.backoff_factor,
        },
        other => other,
    };
    let backoff_policy = RetryPolicy::new(
        policy.max_retries,
        policy.retry_wait_min,
        policy.retry_wait_max,
        backoff,
        policy.jitter,
    )
    .unwrap_or_else(|err| exit_with(USAGE, err));
    Some(RetryConfig {
        policy: backoff_policy,
        retry_on: policy.retry_on.clone(),
        max_elapsed: policy.max_elapsed,
        max_retry_after: policy.max_retry_after,
        budget: policy.retry_budget.map(|ratio| BudgetConfig {
            min_per_second: policy.retry_budget_floor,
            ..BudgetConfig::with_ratio(ratio)
        }),
    })
}

fn http_target(target: &TargetArgs) -> HttpTarget {
    HttpTarget::new(&HttpConfig {
        url: target.url.clone(),
        timeout: target.timeout,
        connect_timeout: target.connect_timeout,
        keep_alive: target.keep_alive,
        method: target.method.clone(),
        body: target.body.clone().map(String::into_bytes),
    })
    .unwrap_or_else(|err| exit_with(USAGE, err))
}

/// Creates `path` now, so an unwritable output is bad usage before the run
/// rather than a lost result after it.
fn check_writable(flag: &str, path: &Path) {
    if let Err(err) = std::fs::File::create(path) {
        exit_with(USAGE, format!("{flag} {}: {err}", path.display()));
    }
}

/// A cancel that Ctrl-C fires. The first Ctrl-C stops the run and says what
/// happens next; a second one quits at once, without a report.
fn cancel_on_ctrl_c() -> Cancel {
    let (stopper, cancel) = Cancel::new();
    let stopper = Mutex::new(stopper);
    let presses = std::sync::atomic::AtomicUsize::new(0);
    ctrlc::set_handler(move || {
        if presses.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            say("client: stopping: no new attempts; those in flight end within --timeout (Ctrl-C again to quit at once)");
            if let Ok(mut stopper) = stopper.lock() {
                stopper.stop();
            }
        } else {
            say("client: quitting without a report");
            std::process::exit(INTERRUPTED);
        }
    })
    .unwrap_or_else(|err| exit_with(1, format!("cannot catch Ctrl-C: {err}")));
    cancel
}

/// Writes `text` and a newline to stdout; `Err` for anything but a reader
/// that went away (`| head`), which is not an error.
fn print_out(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => Err(err),
        _ => Ok(()),
    }
}

/// A line on stderr that cannot panic, whatever stderr is.
fn say(text: impl std::fmt::Display) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

fn main() {
    let cli: Cli = parse_or_exit();
    match cli.command {
        Some(Command::Compare(args)) => run_compare(args),
        None => run_once(cli.run),
    }
}

fn run_once(args: RunArgs) {
    init_logging(args.load.quiet);
    let target = http_target(&args.target);
    if let Some(path) = &args.timeline {
        let svg = path
            .extension()
            .is_some_and(|extension| extension.eq_ignore_ascii_case("svg"));
        if !svg {
            exit_with(
                USAGE,
                format!(
                    "--timeline {}: the picture is SVG; name the file .svg",
                    path.display()
                ),
            );
        }
    }
    for (flag, path) in [("--events", &args.events), ("--timeline", &args.timeline)] {
        if let Some(path) = path {
            check_writable(flag, path);
        }
    }
    let retry = retry_config(&args.policy, &args.target.method);
    let seed = args.load.seed.unwrap_or_else(|| fastrand::u64(..));
    debug!("jitter seed {seed}");
    let cancel = cancel_on_ctrl_c();
    let progress = progress::Progress::for_run(args.load.num_requests.get());
    let config = RunConfig {
        num_requests: args.load.num_requests,
        max_concurrency: args.policy.max_concurrency,
        rate: args.policy.rate,
        retry,
        seed,
        cancel: cancel.clone(),
        observer: progress
            .as_ref()
            .map(|p| Observer(Arc::clone(p) as Arc<dyn concurrent_http_client::RunObserver>)),
        ..RunConfig::default()
    };
    let record = run(&config, &target).unwrap_or_else(|err| exit_with(USAGE, err));
    if let Some(progress) = progress {
        progress.finish();
    }
    let summary = Summary::of(&record, args.expect.limits());
    let mut status = if summary.all_succeeded() { 0 } else { 1 };
    let mut lost = Vec::new();
    let report = match args.report {
        ReportFormat::Text => summary.to_string(),
        ReportFormat::Json => summary.to_json().to_string(),
    };
    if let Err(err) = print_out(&report) {
        lost.push(format!("could not print the report: {err}"));
    }
    if let Some(path) = &args.events {
        if let Err(err) = write_events(&record, path) {
            lost.push(format!("could not write the events: {err}"));
        }
    }
    if let Some(path) = &args.timeline {
        let options = TimelineOptions {
            title: timeline_title(&args, &summary),
            rate: args.policy.rate.or(args.expect.expect_rate),
        };
        if let Err(err) = write_timeline(&record, &options, path) {
            lost.push(format!("could not write the timeline: {err}"));
        }
    }
    if !lost.is_empty() {
        // Whatever failed, the summary survives on stderr.
        for line in &lost {
            say(format!("client: {line}"));
        }
        say(&summary);
        status = status.max(1);
    }
    if cancel.is_cancelled() {
        status = INTERRUPTED;
    }
    std::process::exit(status);
}

fn timeline_title(args: &RunArgs, summary: &Summary) -> String {
    let mut flags = Vec::new();
    if let Some(concurrency) = args.policy.max_concurrency {
        flags.push(format!("--max-concurrency {concurrency}"));
    }
    if let Some(rate) = args.policy.rate {
        flags.push(format!("--rate {rate}"));
    }
    if args.policy.retry {
        flags.push("--retry".into());
    }
    title(&flags.join(" "), summary, &args.load)
}

fn title(flags: &str, summary: &Summary, load: &LoadArgs) -> String {
    let flags = if flags.is_empty() {
        String::new()
    } else {
        format!(" {flags}")
    };
    format!(
        "client -n {}{flags}: {}/{} succeeded, {} attempts, {}",
        load.num_requests,
        summary.succeeded,
        summary.requests,
        summary.attempts,
        concurrent_http_client::format_duration(summary.elapsed)
    )
}

fn run_compare(args: CompareArgs) {
    // Six runs of per-request lines would bury the table: quiet unless asked.
    init_logging(std::env::var_os("RUST_LOG").is_none() || args.load.quiet);
    let target = http_target(&args.target);
    let limits = args.expect.limits();
    let strategies = match &args.strategies {
        Some(path) => load_strategies(path).unwrap_or_else(|err| exit_with(USAGE, err)),
        None => builtin_strategies(limits.as_ref()),
    };
    let strategies = match &args.only {
        Some(only) => {
            select_strategies(strategies, only).unwrap_or_else(|err| exit_with(USAGE, err))
        }
        None => strategies,
    };
    if let Some(dir) = &args.timeline_dir {
        if let Err(err) = std::fs::create_dir_all(dir) {
            let reason = if dir.exists() && !dir.is_dir() {
                "not a folder".to_owned()
            } else {
                err.to_string()
            };
            exit_with(USAGE, format!("--timeline-dir {}: {reason}", dir.display()));
        }
        check_writable(
            "--timeline-dir",
            &dir.join(format!("{}.svg", strategies[0].name)),
        );
    }
    let config = CompareConfig {
        strategies,
        num_requests: args.load.num_requests,
        seed: args.load.seed.unwrap_or_else(|| fastrand::u64(..)),
        limits,
        pause: args.pause,
        cancel: cancel_on_ctrl_c(),
    };
    let count = config.strategies.len();
    let mut lost = Vec::new();
    let mut index = 0;
    say(format!(
        "comparing {count} {}, {} requests each, against {}",
        if count == 1 { "strategy" } else { "strategies" },
        config.num_requests,
        args.target.url
    ));
    // One progress bar per strategy, when stderr is a terminal.
    let progress: std::cell::RefCell<Option<Arc<progress::Progress>>> = Default::default();
    let starting = |_: &concurrent_http_client::Strategy| {
        let bar = progress::Progress::for_run(config.num_requests.get());
        let observer = bar
            .as_ref()
            .map(|bar| Observer(Arc::clone(bar) as Arc<dyn concurrent_http_client::RunObserver>));
        *progress.borrow_mut() = bar;
        observer
    };
    let results = compare(&config, &target, starting, |compared| {
        if let Some(bar) = progress.borrow_mut().take() {
            bar.finish();
        }
        index += 1;
        say(format!(
            "[{index}/{count}] {}: {}/{} succeeded, {} attempts, {}  ({})",
            compared.strategy.name,
            compared.summary.succeeded,
            compared.summary.requests,
            compared.summary.attempts,
            concurrent_http_client::format_duration(compared.summary.elapsed),
            compared.strategy.describe()
        ));
        if let Some(dir) = &args.timeline_dir {
            if let Err(err) = timeline_for(compared, &compared.record, dir, &args.load) {
                lost.push(err);
            }
        }
    })
    .unwrap_or_else(|err| exit_with(USAGE, err));
    let table = CompareTable(&results).to_string();
    let report = match args.report {
        ReportFormat::Text => table.trim_end().to_owned(),
        ReportFormat::Json => serde_json::Value::Array(
            results
                .iter()
                .map(|compared| {
                    serde_json::json!({
                        "strategy": compared.strategy.name,
                        "flags": compared.strategy.describe(),
                        "report": compared.summary.to_json(),
                    })
                })
                .collect(),
        )
        .to_string(),
    };
    if let Err(err) = print_out(&report) {
        lost.push(format!("could not print the report: {err}"));
    }
    // Strategies that lose requests are results, not errors: a comparison
    // that ran to the end succeeded.
    let mut status = 0;
    if !lost.is_empty() {
        for line in &lost {
            say(format!("client: {line}"));
        }
        say(table.trim_end());
        status = status.max(1);
    }
    if config.cancel.is_cancelled() {
        say(format!(
            "client: stopped after {} of {count} strategies; rows marked (stopped) are partial",
            results.len()
        ));
        status = INTERRUPTED;
    }
    std::process::exit(status);
}

fn timeline_for(
    compared: &Compared,
    record: &RunRecord,
    dir: &Path,
    load: &LoadArgs,
) -> Result<(), String> {
    let path = dir.join(format!("{}.svg", compared.strategy.name));
    let options = TimelineOptions {
        title: format!(
            "{}: {}",
            compared.strategy.name,
            title(&compared.strategy.flags(), &compared.summary, load)
        ),
        rate: compared
            .strategy
            .rate
            .or(compared.summary.score.and_then(|score| score.limits.rate)),
    };
    write_timeline(record, &options, &path)
        .map_err(|err| format!("could not write the timeline: {err}"))
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn the_flags_are_consistent() {
        Cli::command().debug_assert();
    }
}
