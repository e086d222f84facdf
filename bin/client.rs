//! The client: N requests, one OS thread each, behind a concurrency limit, a
//! rate limit and a retry policy, with a timeline on stderr and a summary on
//! stdout.

#[path = "common.rs"]
mod common;

use clap::Parser;
use common::{exit_with, init_logging, parse_or_exit, positive_count, whole_number, USAGE};
use concurrent_http_client::{
    parse_duration, run, Backoff, HttpConfig, HttpTarget, Jitter, RateTicker, RetryPolicy,
    RunConfig, Summary,
};
use log::debug;
use std::num::NonZeroUsize;
use std::time::Duration;

/// Sends N requests at once, one OS thread each, and prints what happened.
///
/// Every request's timeline goes to stderr (RUST_LOG=debug for more, warn for
/// less); the summary goes to stdout. Exit status: 0 when every request got a
/// 2xx, 1 when any failed, 2 on bad usage.
#[derive(Debug, Parser)]
#[command(name = "client", version)]
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

    /// Retry attempts that fail with a reset, refused connection, timeout,
    /// 429, 502, 503 or 504, sleeping a growing, jittered backoff in between.
    #[arg(long)]
    retry: bool,

    /// With --retry, at most this many retries per request (so K+1 attempts).
    #[arg(
        long,
        default_value = "3",
        value_parser = whole_number,
        allow_negative_numbers = true,
        value_name = "K"
    )]
    max_retries: u32,

    /// With --retry, the first backoff and the step it grows by each retry.
    #[arg(long, default_value = "1s", value_parser = parse_duration, allow_hyphen_values = true, value_name = "DURATION")]
    retry_wait_min: Duration,

    /// With --retry, the longest backoff.
    #[arg(long, default_value = "3s", value_parser = parse_duration, allow_hyphen_values = true, value_name = "DURATION")]
    retry_wait_max: Duration,

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

    /// The URL to GET.
    #[arg(long, default_value = "http://127.0.0.1:8081/", value_name = "URL")]
    url: String,

    /// Seed for the backoff jitter, to replay a run [default: random].
    #[arg(long, value_name = "SEED")]
    seed: Option<u64>,
}

fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a number"))?;
    RateTicker::period_of(rate).map_err(|err| err.to_string())?;
    Ok(rate)
}

fn main() {
    let cli: Cli = parse_or_exit();
    init_logging();

    let target = HttpTarget::new(&HttpConfig {
        url: cli.url.clone(),
        timeout: cli.timeout,
        connect_timeout: cli.connect_timeout,
        keep_alive: cli.keep_alive,
    })
    .unwrap_or_else(|err| exit_with(USAGE, err));
    let retry = cli.retry.then(|| {
        RetryPolicy::new(
            cli.max_retries,
            cli.retry_wait_min,
            cli.retry_wait_max,
            Backoff::Linear,
            Jitter::Equal,
        )
        .unwrap_or_else(|err| exit_with(USAGE, err))
    });
    let seed = cli.seed.unwrap_or_else(|| fastrand::u64(..));
    debug!("jitter seed {seed}");
    let config = RunConfig {
        num_requests: cli.num_requests,
        max_concurrency: cli.max_concurrency,
        rate: cli.rate,
        retry,
        seed,
        ..RunConfig::default()
    };

    let record = run(&config, &target).unwrap_or_else(|err| exit_with(USAGE, err));
    let summary = Summary::of(&record);
    println!("{summary}");
    std::process::exit(if summary.all_succeeded() { 0 } else { 1 });
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
