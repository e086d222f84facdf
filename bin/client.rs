//! The client: N requests, one OS thread each, behind a concurrency limit, a
//! rate limit and a retry policy, with a timeline on stderr and a summary on
//! stdout.

#[path = "common.rs"]
mod common;

use clap::Parser;
use common::{exit_with, init_logging, parse_or_exit, positive_count, whole_number, USAGE};
use concurrent_http_client::{
    is_idempotent, parse_duration, parse_method, run, write_events, Backoff, BudgetConfig, Cancel,
    HttpConfig, HttpTarget, Jitter, RateTicker, RetryConfig, RetryOn, RetryPolicy, RunConfig,
    Summary,
};
use log::{debug, warn};
use std::io::Write;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// Exit status after Ctrl-C, as shells report a SIGINT.
const INTERRUPTED: i32 = 130;

/// Sends N requests, one OS thread each, within the limits you set, and
/// prints what happened.
///
/// Every request's timeline goes to stderr (RUST_LOG=debug for more, warn for
/// less); the summary goes to stdout. Exit status: 0 when every request got a
/// 2xx, 1 when any failed, 2 on bad usage, 130 after Ctrl-C (which stops new
/// attempts, cuts backoff short and still prints the summary).
#[derive(Debug, Parser)]
// A flag given twice takes its last value, so `make client ARGS=--url=...` works.
#[command(name = "client", version, args_override_self = true)]
struct Cli {
    /// How many requests to send.
    #[arg(
        short = 'n',
        long,
        default_value = "10",
        value_parser = positive_count,
        allow_negative_numbers = true,
        value_name = "N"
    )]
    num_requests: NonZeroUsize,

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
    #[arg(long, default_value = "3", value_parser = whole_number, allow_negative_numbers = true, value_name = "K")]
    max_retries: u32,

    /// With --retry, which outcomes to retry: classes (refused, reset,
    /// timeout, timeout_connect, timeout_response, dns, other), statuses
    /// (503) and families (5xx), comma-separated.
    #[arg(long, default_value = "refused,reset,timeout,429,502,503,504", value_parser = parse_retry_on, value_name = "LIST")]
    retry_on: RetryOn,

    /// With --retry, how the backoff grows: constant, linear or exponential.
    #[arg(long, default_value = "linear", value_parser = parse_backoff, value_name = "KIND")]
    backoff: Backoff,

    /// With --backoff exponential, the growth per retry.
    #[arg(long, default_value = "2", value_parser = parse_factor, allow_negative_numbers = true, value_name = "F")]
    backoff_factor: f64,

    /// With --retry, how much of each backoff is random: none, full, equal
    /// or decorrelated (as in "Exponential Backoff And Jitter").
    #[arg(long, default_value = "equal", value_parser = parse_jitter, value_name = "KIND")]
    jitter: Jitter,

    /// With --retry, the base backoff: the first wait, and the step or
    /// starting point it grows from.
    #[arg(long, default_value = "1s", value_parser = parse_duration, allow_hyphen_values = true, value_name = "DURATION")]
    retry_wait_min: Duration,

    /// With --retry, the longest backoff.
    #[arg(long, default_value = "3s", value_parser = parse_duration, allow_hyphen_values = true, value_name = "DURATION")]
    retry_wait_max: Duration,

    /// With --retry, the longest one request may take, attempts and backoff
    /// together: no retry starts that would end past it [default: none].
    #[arg(long, value_parser = parse_positive_duration, allow_hyphen_values = true, value_name = "DURATION")]
    max_elapsed: Option<Duration>,

    /// With --retry, the longest Retry-After wait to honour; a server asking
    /// for more fails the request at once.
    #[arg(long, default_value = "30s", value_parser = parse_duration, allow_hyphen_values = true, value_name = "DURATION")]
    max_retry_after: Duration,

    /// With --retry, a run-wide retry budget: over any 10 s, retries at most
    /// this share of first attempts (20% or 0.2) plus --retry-budget-floor a
    /// second [default: no budget].
    #[arg(long, value_parser = parse_share, allow_negative_numbers = true, value_name = "SHARE")]
    retry_budget: Option<f64>,

    /// With --retry-budget, retries allowed per second whatever the traffic.
    #[arg(long, default_value = "1", value_parser = parse_floor, allow_negative_numbers = true, value_name = "PER_SECOND")]
    retry_budget_floor: f64,

    /// The HTTP method. Only idempotent ones (GET, HEAD, PUT, DELETE,
    /// OPTIONS, TRACE) are retried, unless --retry-non-idempotent.
    #[arg(long, default_value = "GET", value_parser = |m: &str| parse_method(m).map_err(|e| e.to_string()), value_name = "METHOD")]
    method: ureq::http::Method,

    /// A body to send with every request.
    #[arg(long, value_name = "TEXT")]
    body: Option<String>,

    /// Retry POST and PATCH too, accepting that the server may act twice.
    #[arg(long)]
    retry_non_idempotent: bool,

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

    /// The URL to request.
    #[arg(long, default_value = "http://127.0.0.1:8081/", value_name = "URL")]
    url: String,

    /// Seed for the backoff jitter, to replay a run [default: random].
    #[arg(long, allow_negative_numbers = true, value_name = "SEED")]
    seed: Option<u64>,

    /// Write every attempt to FILE: JSON lines, or CSV if FILE ends in .csv.
    #[arg(long, value_name = "FILE")]
    events: Option<PathBuf>,
}

fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a number"))?;
    RateTicker::period_of(rate).map_err(|err| err.to_string())?;
    Ok(rate)
}

fn parse_retry_on(text: &str) -> Result<RetryOn, String> {
    text.parse()
        .map_err(|err: concurrent_http_client::RetryOnError| err.to_string())
}

fn parse_backoff(text: &str) -> Result<Backoff, String> {
    text.parse()
        .map_err(|err: concurrent_http_client::BackoffError| err.to_string())
}

fn parse_jitter(text: &str) -> Result<Jitter, String> {
    text.parse()
        .map_err(|err: concurrent_http_client::BackoffError| err.to_string())
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

fn retry_config(cli: &Cli) -> Option<RetryConfig> {
    if !cli.retry {
        return None;
    }
    if !is_idempotent(&cli.method) && !cli.retry_non_idempotent {
        warn!(
            "{} is not idempotent, so failed attempts are not retried (add --retry-non-idempotent to retry anyway)",
            cli.method
        );
        return None;
    }
    let backoff = match cli.backoff {
        Backoff::Exponential { .. } => Backoff::Exponential {
            factor: cli.backoff_factor,
        },
        other => other,
    };
    let policy = RetryPolicy::new(
        cli.max_retries,
        cli.retry_wait_min,
        cli.retry_wait_max,
        backoff,
        cli.jitter,
    )
    .unwrap_or_else(|err| exit_with(USAGE, err));
    Some(RetryConfig {
        policy,
        retry_on: cli.retry_on.clone(),
        max_elapsed: cli.max_elapsed,
        max_retry_after: cli.max_retry_after,
        budget: cli.retry_budget.map(|ratio| BudgetConfig {
            min_per_second: cli.retry_budget_floor,
            ..BudgetConfig::with_ratio(ratio)
        }),
    })
}

/// Prints the summary on stdout. A reader that went away (`| head`) is not
/// an error; any other failure to print is said on stderr.
fn print_summary(summary: &Summary) {
    let mut stdout = std::io::stdout().lock();
    let printed = writeln!(stdout, "{summary}").and_then(|()| stdout.flush());
    if let Err(err) = printed {
        if err.kind() != std::io::ErrorKind::BrokenPipe {
            let _ = writeln!(
                std::io::stderr(),
                "client: could not print the summary: {err}"
            );
        }
    }
}

fn main() {
    let cli: Cli = parse_or_exit();
    init_logging();

    let target = HttpTarget::new(&HttpConfig {
        url: cli.url.clone(),
        timeout: cli.timeout,
        connect_timeout: cli.connect_timeout,
        keep_alive: cli.keep_alive,
        method: cli.method.clone(),
        body: cli.body.clone().map(String::into_bytes),
    })
    .unwrap_or_else(|err| exit_with(USAGE, err));
    if let Some(path) = &cli.events {
        // Find out now, not after the run, that the file cannot be written.
        if let Err(err) = std::fs::File::create(path) {
            exit_with(USAGE, format!("--events {}: {err}", path.display()));
        }
    }
    let retry = retry_config(&cli);
    let seed = cli.seed.unwrap_or_else(|| fastrand::u64(..));
    debug!("jitter seed {seed}");

    let (stopper, cancel) = Cancel::new();
    let stopper = Mutex::new(stopper);
    ctrlc::set_handler(move || {
        if let Ok(mut stopper) = stopper.lock() {
            stopper.stop();
        }
    })
    .unwrap_or_else(|err| exit_with(1, format!("cannot catch Ctrl-C: {err}")));

    let config = RunConfig {
        num_requests: cli.num_requests,
        max_concurrency: cli.max_concurrency,
        rate: cli.rate,
        retry,
        seed,
        cancel: cancel.clone(),
        ..RunConfig::default()
    };
    let record = run(&config, &target).unwrap_or_else(|err| exit_with(USAGE, err));
    let summary = Summary::of(&record);
    let mut status = if summary.all_succeeded() { 0 } else { 1 };
    print_summary(&summary);
    if let Some(path) = &cli.events {
        if let Err(err) = write_events(&record, path) {
            // The summary is out already; say what was lost.
            let _ = writeln!(
                std::io::stderr(),
                "client: could not write the events: {err}"
            );
            status = status.max(1);
        }
    }
    if cancel.is_cancelled() {
        status = INTERRUPTED;
    }
    std::process::exit(status);
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
